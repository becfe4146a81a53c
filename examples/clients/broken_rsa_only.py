"""BROKEN on purpose: verifies only the legacy RSA `x-wh-signature` (with GHL_WEBHOOK_RSA_PUBLIC_KEY) and
refuses, 401, every delivery without it. GHL retired that header in 2026: deliveries now carry only the
Ed25519 `x-ghl-signature`, so this client refuses every genuine webhook (it passed against a sandbox that
still sent both; it does with `--legacy-wh-signature`). It still syncs by polling, so Rankr ends up right;
`accepts_genuine_webhooks` catches it. Everything else is the reference client."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from reference_client import ReferenceClient, main


class RsaOnly(ReferenceClient):
    def verify_ghl_signature(self, raw: bytes, headers: Any) -> bool:
        # The bug: x-ghl-signature is never looked at; no x-wh-signature, no webhook.
        signature = headers.get("x-wh-signature")
        if not signature or self.rsa_key is None:
            return False
        try:
            self.rsa_key.verify(base64.b64decode(signature, validate=True), raw, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True


if __name__ == "__main__":
    main(RsaOnly)
