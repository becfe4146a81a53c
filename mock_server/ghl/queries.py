"""Read queries over the GHL service's records, owned here so that HTTP handlers never build store conditions."""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.ghl.models import Contact, Fulfillment, Order, Subscription, Transaction
from mock_server.store import Condition, Store


@dataclass(frozen=True)
class LocationRecords:
    """Every payments record of one location: orders, transactions and subscriptions newest first (as the
    API lists them), fulfillments oldest first."""

    orders: list[Order]
    transactions: list[Transaction]
    subscriptions: list[Subscription]
    fulfillments: list[Fulfillment]


def location_state(store: Store, location_id: str) -> LocationRecords:
    where = [Condition("location_id", "=", location_id)]
    orders, _ = store.table(Order).page(where, None, 0)
    transactions, _ = store.table(Transaction).page(where, None, 0)
    subscriptions, _ = store.table(Subscription).page(where, None, 0)
    return LocationRecords(orders, transactions, subscriptions, store.table(Fulfillment).all(where))


def contacts(store: Store, location_id: str) -> list[Contact]:
    return store.table(Contact).all([Condition("location_id", "=", location_id)], order="created_at")


def of_contacts(store: Store, location_id: str, contact_ids: list[str]) -> LocationRecords:
    """The payments records of these contacts in one location, in `location_state`'s orders."""
    if not contact_ids:
        return LocationRecords([], [], [], [])
    where = [Condition("location_id", "=", location_id), Condition("contact_id", "IN", contact_ids)]
    orders, _ = store.table(Order).page(where, None, 0)
    transactions, _ = store.table(Transaction).page(where, None, 0)
    subscriptions, _ = store.table(Subscription).page(where, None, 0)
    return LocationRecords(orders, transactions, subscriptions, [])
