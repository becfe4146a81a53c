"""BROKEN on purpose: no deduplication at all. Every delivery of a GHL webhook is processed again, and
every delivery of a Rankr `fulfillment.requested` creates another GHL fulfillment."""

from __future__ import annotations

from typing import Any

from reference_client import ReferenceClient, main


class NoDedupe(ReferenceClient):
    def webhook_seen(self, webhook_id: str) -> bool:
        return False  # the bug: never looks at what it already handled

    def fulfillment_record(self, event_id: str) -> dict[str, Any] | None:
        return None  # ... nor at which Rankr events it already fulfilled


if __name__ == "__main__":
    main(NoDedupe)
