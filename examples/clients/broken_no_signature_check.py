"""BROKEN on purpose: accepts GHL webhooks without verifying `x-ghl-signature` / `x-wh-signature`,
so forged, tampered and unsigned webhooks reach Rankr. Everything else is the reference client."""

from __future__ import annotations

from typing import Any

from reference_client import ReferenceClient, main


class NoSignatureCheck(ReferenceClient):
    def verify_ghl_signature(self, raw: bytes, headers: Any) -> bool:
        return True  # the bug: trusts whoever posts to /webhooks/ghl


if __name__ == "__main__":
    main(NoSignatureCheck)
