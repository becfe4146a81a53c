"""Read queries over the outbox's deliveries, owned here so that HTTP handlers never build store conditions."""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.store import Condition, Store
from mock_server.webhooks.models import Attempt, Delivery, Event


@dataclass(frozen=True)
class DeliveryFilter:
    """Every field optional (None or empty: no filter); set fields combine with AND."""

    status: str | None = None
    target_id: str | None = None
    webhook_id: str | None = None
    location_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None


def deliveries(store: Store, flt: DeliveryFilter) -> list[Delivery]:
    """The deliveries matching `flt`, in queue order (`seq`)."""
    conditions = [Condition(column, "=", value) for column, value in (
        ("status", flt.status), ("target_id", flt.target_id), ("webhook_id", flt.webhook_id),
        ("location_id", flt.location_id), ("event_id", flt.event_id)) if value]
    found = store.table(Delivery).all(conditions, order="seq")
    if flt.event_type:  # no column for it: filtered here
        found = [d for d in found if d.event_type == flt.event_type]
    return found


def dropped_since(store: Store, since: float) -> list[Delivery]:
    """Deliveries that delivery chaos dropped, created at or after `since`, in queue order."""
    return store.table(Delivery).all([Condition("status", "=", "dropped"), Condition("created_at", ">=", since)],
                                     order="seq")


def events_of_location(store: Store, location_id: str) -> list[Event]:
    """Every event recorded for one location, oldest first (`seq`)."""
    return store.table(Event).all([Condition("location_id", "=", location_id)], order="seq")


def attempts_of(store: Store, delivery_ids: list[str]) -> list[Attempt]:
    """The attempts of these deliveries, in the order they were made."""
    if not delivery_ids:
        return []
    found = store.table(Attempt).all([Condition("delivery_id", "IN", delivery_ids)], order="created_at")
    return found
