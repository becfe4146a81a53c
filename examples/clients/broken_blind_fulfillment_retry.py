"""BROKEN on purpose: when the answer to `POST /payments/orders/{id}/fulfillments` is lost (connection
dropped, 5xx), it retries the POST without first checking the order's fulfillments, so a fulfillment
GHL had already stored is created a second time (or the retry is refused as over-fulfilment)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from reference_client import ReferenceClient, main


class BlindFulfillmentRetry(ReferenceClient):
    def fulfillment_happened(self, record: dict[str, Any], wanted: Counter[str],
                             fulfillments: list[dict[str, Any]]) -> bool:
        return False  # the bug: assumes a failed POST did nothing


if __name__ == "__main__":
    main(BlindFulfillmentRetry)
