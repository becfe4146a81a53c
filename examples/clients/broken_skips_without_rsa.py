"""BROKEN on purpose: checks the legacy RSA `x-wh-signature` when it is there and skips verification when it
is missing, a common migration slip ("no header, nothing to check"). Since GHL retired that header in 2026 no
delivery carries it, so the check never runs: forged posts (another key's `x-ghl-signature`), tampered
bodies and unsigned posts are all accepted. `rejects_forged_webhooks` catches it. Everything else is the
reference client."""

from __future__ import annotations

from typing import Any

from broken_rsa_only import RsaOnly
from reference_client import main


class SkipsWithoutRsa(RsaOnly):
    def verify_ghl_signature(self, raw: bytes, headers: Any) -> bool:
        if not headers.get("x-wh-signature"):
            return True  # the bug: a missing signature is taken for nothing to verify
        return super().verify_ghl_signature(raw, headers)


if __name__ == "__main__":
    main(SkipsWithoutRsa)
