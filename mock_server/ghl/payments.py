"""Reads and writes on orders, transactions, subscriptions, fulfillments and white-label providers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mock_server.clock import SandboxClock
from mock_server.ghl import factories, state
from mock_server.ghl.errors import InvalidOperation, NotFound
from mock_server.ghl.models import (
    Fulfillment,
    Order,
    Price,
    Product,
    Subscription,
    Transaction,
    WhitelabelProvider,
)
from mock_server.ids import IdFactory
from mock_server.store import Condition, Kept, Store, VersionedPage
from mock_server.webhooks.events import EventLog

DAY = 86400.0


@dataclass
class ListFilter:
    """Filters shared by the three list endpoints; None means 'not given'."""

    location_id: str
    status: str | None = None
    payment_status: str | None = None
    live_mode: bool | None = None
    start_at: float | None = None
    end_at: float | None = None
    search: str | None = None
    contact_id: str | None = None
    product_ids: list[str] = field(default_factory=list)
    source_id: str | None = None
    entity_id: str | None = None
    entity_source_type: str | None = None
    entity_source_sub_type: str | None = None
    provider_subscription_id: str | None = None
    record_id: str | None = None

    def conditions(self) -> list[Condition]:
        c = [Condition("location_id", "=", self.location_id)]
        simple = (
            ("status", self.status),
            ("payment_status", self.payment_status),
            ("contact_id", self.contact_id),
            ("source_id", self.source_id),
            ("entity_id", self.entity_id),
            ("entity_source_type", self.entity_source_type),
            ("entity_source_sub_type", self.entity_source_sub_type),
            ("subscription_id", self.provider_subscription_id),
            ("id", self.record_id),
        )
        c += [Condition(col, "=", v) for col, v in simple if v is not None]
        if self.live_mode is not None:
            c.append(Condition("live_mode", "=", int(self.live_mode)))
        if self.start_at is not None:
            c.append(Condition("created_at", ">=", self.start_at))
        if self.end_at is not None:
            c.append(Condition("created_at", "<=", self.end_at))
        if self.search:
            c.append(Condition("search_text", "INSTR", self.search.lower()))
        return c


Owned = TypeVar("Owned", Order, Transaction, Subscription)
Listed = TypeVar("Listed", Order, Transaction, Subscription)

CATALOG_KINDS = ("prices", "products")
CATALOGS_KEPT = 4096  # distinct sets of prices kept (`Payments.catalog`); past it they start over

UNIQUE_NAME = re.compile(r"^[a-z]([a-z-]*[a-z])?$")


class Payments:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory, events: EventLog | None = None) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self.events = events or EventLog(store, clock, ids)
        self._catalogs: dict[tuple[str, ...], tuple[tuple[int, ...], dict[str, Price], dict[str, Product]]] = {}

    # ---- reads --------------------------------------------------------------------------------

    def _owned(self, record_type: type[Owned], label: str, location_id: str, record_id: str) -> Owned:
        record = self.store.table(record_type).get(record_id)
        if record is None or record.location_id != location_id:
            raise NotFound(label, record_id)
        return record

    def order(self, location_id: str, order_id: str) -> Order:
        return self._owned(Order, "Order", location_id, order_id)

    def order_doc(self, location_id: str, order_id: str) -> bytes:
        """The stored document of the location's order (as `order`, but not decoded)."""
        found = self.store.table(Order).located_doc(order_id)
        if found is None or found[0] != location_id:
            raise NotFound("Order", order_id)
        return found[1]

    def transaction(self, location_id: str, transaction_id: str) -> Transaction:
        return self._owned(Transaction, "Transaction", location_id, transaction_id)

    def subscription(self, location_id: str, subscription_id: str) -> Subscription:
        return self._owned(Subscription, "Subscription", location_id, subscription_id)

    def _page(self, record_type: type[Listed], flt: ListFilter, limit: int | None,
              offset: int) -> tuple[list[Listed], int]:
        docs, total = self.page_docs(record_type, flt, limit, offset)
        table = self.store.table(record_type)
        return [table.decode(doc) for _, doc in docs], total

    def page_docs(self, record_type: type[Listed], flt: ListFilter, limit: int | None,
                  offset: int) -> tuple[list[tuple[str, bytes]], int]:
        """One page of a list, newest first, as each record's id and stored document (not decoded:
        the API renders from kept fragments where it can), and the total matching the filter."""
        table = self.store.table(record_type)
        conditions: list[Condition] = flt.conditions()
        if flt.product_ids:
            # `funnelProductIds` is a comma list: match orders that contain any of them.
            pattern_conditions = [Condition("product_ids", "INSTR", f" {pid} ") for pid in flt.product_ids]
            if len(pattern_conditions) == 1:
                conditions += pattern_conditions
            else:
                rows: dict[str, Listed] = {}
                for pc in pattern_conditions:
                    for r in table.all([*conditions, pc]):
                        rows[r.id] = r
                ordered = sorted(rows.values(), key=lambda r: (r.created_at, r.id), reverse=True)
                end = None if limit is None else offset + limit
                return [(r.id, table.doc(r)) for r in ordered[offset:end]], len(ordered)
        return table.page_docs(conditions, limit, offset)

    def page_versions(self, record_type: type[Listed], flt: ListFilter, limit: int | None, offset: int,
                      kept: Kept) -> VersionedPage:
        """As `page_docs`, as the store's versioned page (`Table.page_versions`): what `kept` has for each
        record's (id, version), the document only where it has nothing. A page the store cannot read that
        way (several `funnelProductIds`, no limit) comes from `page_docs`, asked of `kept` by document
        (version -1)."""
        if limit is not None and len(flt.product_ids) <= 1:
            conditions = flt.conditions() + [Condition("product_ids", "INSTR", f" {pid} ") for pid in flt.product_ids]
            return self.store.table(record_type).page_versions(conditions, limit, offset, kept)
        docs, total = self.page_docs(record_type, flt, limit, offset)
        return VersionedPage([(rid, -1) for rid, _ in docs], [kept.record(rid, doc) for rid, doc in docs],
                             dict(docs), total)

    def list_orders(self, flt: ListFilter, limit: int | None, offset: int) -> tuple[list[Order], int]:
        return self._page(Order, flt, limit, offset)

    def list_transactions(self, flt: ListFilter, limit: int | None, offset: int) -> tuple[list[Transaction], int]:
        return self._page(Transaction, flt, limit, offset)

    def list_subscriptions(self, flt: ListFilter, limit: int | None, offset: int) -> tuple[list[Subscription], int]:
        return self._page(Subscription, flt, limit, offset)

    def fulfillments(self, location_id: str, order_id: str) -> list[Fulfillment]:
        self.order(location_id, order_id)
        return self.store.table(Fulfillment).all([Condition("order_id", "=", order_id)])

    def transactions_of(self, order_id: str) -> list[Transaction]:
        return self.store.table(Transaction).all([Condition("entity_id", "=", order_id)])

    def catalog(self, price_ids: list[str]) -> tuple[dict[str, Price], dict[str, Product]]:
        """The prices named and their products, for rendering. Kept per set of prices until the next
        write of prices or products (every order shown asks again): shared, so read them, never change
        them."""
        wanted = tuple(dict.fromkeys(price_ids))
        stamp = self.store.written(CATALOG_KINDS)
        kept = self._catalogs.get(wanted)
        if kept is not None and kept[0] == stamp:
            return kept[1], kept[2]
        prices = self.store.table(Price).get_many(list(wanted))
        products = self.store.table(Product).get_many(list({p.product_id for p in prices.values()}))
        if len(self._catalogs) >= CATALOGS_KEPT:
            self._catalogs.clear()
        self._catalogs[wanted] = (stamp, prices, products)
        return prices, products

    def providers(self, location_id: str, limit: int | None, offset: int) -> list[WhitelabelProvider]:
        rows, _ = self.store.table(WhitelabelProvider).page([Condition("location_id", "=", location_id)], limit, offset)
        return rows

    # ---- writes -------------------------------------------------------------------------------

    def refresh_order(self, order: Order, transactions: Sequence[Transaction] | None = None,
                      fulfillments: Sequence[Fulfillment] | None = None) -> bool:
        """Recompute an order's derived statuses from its transactions and fulfillments and store it. A
        caller that holds either list as of now (read in its transaction, with what it wrote since)
        passes it, and it is not read again."""
        if fulfillments is None:
            fulfillments = self.store.table(Fulfillment).all([Condition("order_id", "=", order.id)])
        if transactions is None:
            transactions = self.transactions_of(order.id)
        changed = state.derive(order, transactions, fulfillments)
        if changed:
            order.updated_at = self.clock.now()
        self.store.table(Order).put(order)
        if changed:
            # GHL sends OrderStatusUpdate on every change of status, payment status or fulfilment status.
            self.events.record("OrderStatusUpdate", "orders", order)
        return changed

    def create_fulfillment(
        self,
        location_id: str,
        order_id: str,
        items: list[dict[str, Any]],
        trackings: list[dict[str, Any]],
        notify_customer: bool,
    ) -> Fulfillment:
        with self.store.transaction():
            return self.fulfill(self.order(location_id, order_id), items, trackings, notify_customer)

    def fulfill(self, order: Order, items: list[dict[str, Any]], trackings: list[dict[str, Any]],
                notify_customer: bool, before: Sequence[Fulfillment] | None = None) -> Fulfillment:
        """Fulfil `items` of the order (as read in the caller's transaction, with its fulfilments so far
        when the caller read them there too); the order is refreshed and stored in place."""
        with self.store.transaction():
            if order.cancelled:
                raise InvalidOperation("Cannot fulfill a cancelled order")
            wanted = state.ordered_quantities(order)
            if before is None:
                before = self.store.table(Fulfillment).all([Condition("order_id", "=", order.id)])
            done = state.fulfilled_quantities(before)
            requested: dict[str, float] = {}
            for item in items:
                requested[item["price_id"]] = requested.get(item["price_id"], 0) + item["qty"]
            for price_id, qty in requested.items():
                if price_id not in wanted:
                    raise InvalidOperation(f"Item with priceId {price_id} is not part of this order")
                remaining = wanted[price_id] - done.get(price_id, 0)
                if qty > remaining + 1e-9:
                    raise InvalidOperation(
                        f"Cannot fulfill {qty:g} of priceId {price_id}: only {remaining:g} left to fulfill"
                    )
            fulfillment = factories.fulfillment(self.ids, order,
                                                items=[{"price_id": k, "qty": v} for k, v in requested.items()],
                                                trackings=trackings, notify_customer=notify_customer,
                                                at=self.clock.now())
            self.store.table(Fulfillment).put(fulfillment)
            self.refresh_order(order, fulfillments=[*before, fulfillment])
        return fulfillment

    def create_provider(
        self,
        location_id: str,
        unique_name: str,
        title: str,
        provider: str,
        description: str,
        image_url: str,
    ) -> WhitelabelProvider:
        if not UNIQUE_NAME.match(unique_name):
            raise InvalidOperation("uniqueName must contain only lowercase letters and hyphens")
        with self.store.transaction():
            for existing in self.store.table(WhitelabelProvider).all([Condition("location_id", "=", location_id)]):
                if existing.unique_name == unique_name:
                    raise InvalidOperation(f"A provider with uniqueName {unique_name} already exists")
            now = self.clock.now()
            record = WhitelabelProvider(
                id=self.ids.object_id(),
                location_id=location_id,
                unique_name=unique_name,
                route=route_for(unique_name),
                title=title,
                provider=provider,
                description=description,
                image_url=image_url,
                created_at=now,
                updated_at=now,
            )
            self.store.table(WhitelabelProvider).put(record)
        return record


def route_for(unique_name: str) -> str:
    """The rule that turns a uniqueName into GHL's `route` is undocumented (its example pairs
    `easy-direct` with `epd`); we answer the uniqueName itself, a stable and unique route."""
    return unique_name
