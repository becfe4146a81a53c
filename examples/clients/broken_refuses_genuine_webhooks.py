"""BROKEN on purpose: its signature check refuses every genuine GHL webhook (it verifies against a
re-serialised body instead of the raw bytes, a common slip), answering 401. It still syncs by polling,
so Rankr ends up right and most checks pass; `accepts_genuine_webhooks` catches it. Everything else is
the reference client."""

from __future__ import annotations

import json
from typing import Any

from reference_client import ReferenceClient, main


class RefusesGenuineWebhooks(ReferenceClient):
    def verify_ghl_signature(self, raw: bytes, headers: Any) -> bool:
        # The bug: the signature covers the exact raw body, not Python's re-serialisation of it.
        reserialised = json.dumps(json.loads(raw)).encode()
        return super().verify_ghl_signature(reserialised, headers)


if __name__ == "__main__":
    main(RefusesGenuineWebhooks)
