"""BROKEN on purpose: acknowledges `OrderStatusUpdate` webhooks with 200 before recording anything,
meaning to process them later, and never does. Reconciliation still brings Rankr's orders in sync, so
only `no_lost_events` shows it: an acknowledged webhook is never retried by GHL, so it is lost.
Everything else is the reference client."""

from __future__ import annotations

import json
from typing import Any

from reference_client import ReferenceClient, main


class AcksWithoutRecording(ReferenceClient):
    def handle_ghl_webhook(self, raw: bytes, headers: Any) -> int:
        if self.verify_ghl_signature(raw, headers):
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
            if isinstance(payload, dict) and payload.get("type") == "OrderStatusUpdate":
                return 200  # the bug: acknowledged first, "processed later", never recorded
        return super().handle_ghl_webhook(raw, headers)


if __name__ == "__main__":
    main(AcksWithoutRecording)
