"""BROKEN on purpose: fire and forget. No periodic reconciliation (seeded records, dropped webhooks,
transactions and subscriptions are never synced), no retries, and a webhook is acknowledged with 200
even when writing to Rankr failed, so GHL never redelivers it: the event is lost."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from reference_client import ReferenceClient, main


class NoRetryNoReconcile(ReferenceClient):
    def start_background(self) -> list[threading.Thread]:
        return []  # no reconciliation loop

    def sync_failed_status(self, exc: Exception) -> int:
        return 200  # acknowledges what it did not do

    def ghl(self, *args: Any, **kwargs: Any) -> httpx.Response:
        return super().ghl(*args, **{**kwargs, "attempts": 1})

    def rankr(self, *args: Any, **kwargs: Any) -> httpx.Response:
        return super().rankr(*args, **{**kwargs, "attempts": 1})


if __name__ == "__main__":
    main(NoRetryNoReconcile)
