"""What reports read, from each service's own queries (the one module of the package that reads the store):
GHL's orders, transactions and subscriptions, Acuity's appointment payments, store orders and processor
ledger, Rankr's records and write history, the outbox's events, deliveries and attempts, and Rankr's
providers and assignments. Everything comes back as the typed facts of
`model.py`; nothing here computes a report."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from mock_server.acuity import queries as acuity_queries
from mock_server.acuity import tables as acuity_tables
from mock_server.acuity.world import AcuityWorld
from mock_server.clock import parse_iso
from mock_server.ghl import queries as ghl_queries
from mock_server.rankr import routing
from mock_server.rankr.service import RECORDS, RankrService
from mock_server.reports.model import (
    Assignment,
    Copy,
    DeliveryFact,
    DestinationRecord,
    DestinationWrite,
    Payment,
    PaymentStatus,
    Provider,
    Refund,
    SourceEvent,
    SourceRecord,
    Subscription,
    TargetFact,
)
from mock_server.webhooks import queries as webhook_queries
from mock_server.webhooks.models import Event
from mock_server.webhooks.queries import DeliveryFilter

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

GHL_STATUS: dict[str, PaymentStatus] = {"succeeded": "succeeded", "refunded": "succeeded", "failed": "failed",
                                        "pending": "pending"}
ACUITY_PAID_ORDERS = ("paid", "delivered")  # a store order that took money (the harness's rule)
ORDER_FIELDS = ("status", "fulfillmentStatus", "amount", "currency", "contactId")
TRANSACTION_FIELDS = ("orderId", "status", "amount", "amountRefunded", "currency")
SUBSCRIPTION_FIELDS = ("status", "amount", "currency")
PAYMENT_FIELDS = ("amount", "currency")
COLLECTIONS = ("orders", "transactions", "subscriptions", "payments")
ACCEPTED_WRITES = ("created", "updated", "unchanged")


def payment_key(source: str, kind: str, source_id: str) -> str:
    return f"{source}|{kind}|{source_id}"


def _part(sb: Runtime, kind: type[Any]) -> Any | None:
    try:
        return sb.part(kind)
    except (KeyError, LookupError):
        return None


class Sources:
    """One location's facts, read once per report request (each property on first use)."""

    def __init__(self, sb: Runtime, location_id: str) -> None:
        self.sb = sb
        self.store = sb.store
        self.location_id = location_id

    def now(self) -> float:
        return self.sb.clock.now()

    # ---- GHL ----------------------------------------------------------------------------------

    @cached_property
    def _ghl(self) -> ghl_queries.LocationRecords:
        return ghl_queries.location_state(self.store, self.location_id)

    # ---- Acuity -------------------------------------------------------------------------------

    @cached_property
    def _acuity_currency(self) -> str:
        world = _part(self.sb, AcuityWorld)
        account = world.account(self.location_id) if world is not None else None
        return account.currency if account is not None else "USD"

    def _has_acuity(self) -> bool:
        return _part(self.sb, AcuityWorld) is not None

    # ---- payments and refunds -------------------------------------------------------------------

    @cached_property
    def payments(self) -> list[Payment]:
        out = [Payment("ghl", "subscription" if t.entity_type == "subscription" or t.subscription_id else "order",
                       t.id, t.created_at, t.currency, t.amount_minor, GHL_STATUS.get(t.status, "pending"),
                       t.amount_refunded_minor)
               for t in self._ghl.transactions]
        if self._has_acuity():
            currency = self._acuity_currency
            refunded: dict[str, int] = {}
            for e in acuity_queries.processor_entries(self.store, self.location_id):
                if e.kind == "refund":
                    refunded[e.transaction_id] = refunded.get(e.transaction_id, 0) + e.amount_minor
            out += [Payment("acuity", "appointment", p.id, p.created, currency, p.amount_minor, "succeeded",
                            refunded.get(p.id, 0))
                    for p in acuity_queries.payments_of_location(self.store, self.location_id)]
            out += [Payment("acuity", "store-order", str(o.id), o.time, currency, o.total_minor, "succeeded",
                            refunded.get(o.transaction_id, 0) if o.transaction_id else 0)
                    for o in acuity_queries.orders(self.store, self.location_id) if o.status in ACUITY_PAID_ORDERS]
        return out

    @cached_property
    def refunds(self) -> list[Refund]:
        # GHL keeps no refund record: a refund is the transaction's amountRefunded, dated at its last update.
        out = [Refund("ghl", "subscription" if t.entity_type == "subscription" or t.subscription_id else "order",
                      t.id, t.updated_at, t.currency, t.amount_refunded_minor)
               for t in self._ghl.transactions if t.amount_refunded_minor > 0]
        if self._has_acuity():
            currency = self._acuity_currency
            out += [Refund("acuity", "appointment" if e.appointment_id is not None else "store-order",
                           e.transaction_id, e.created, currency, e.amount_minor)
                    for e in acuity_queries.processor_entries(self.store, self.location_id) if e.kind == "refund"]
        return out

    @cached_property
    def subscriptions(self) -> list[Subscription]:
        # A canceled subscription without its cancellation time ended at its last update.
        return [Subscription(s.id, s.currency, s.amount_minor, s.interval, s.interval_count, s.created_at,
                             s.canceled_at if s.canceled_at is not None or s.status != "canceled" else s.updated_at,
                             s.status)
                for s in self._ghl.subscriptions]

    # ---- sync: the sources and their copies -----------------------------------------------------

    @cached_property
    def source_records(self) -> list[SourceRecord]:
        g = self._ghl
        money = frozenset({"amount", "amountRefunded"})
        out = [SourceRecord("orders", o.id, o.created_at, o.currency,
                            {"status": o.status, "fulfillmentStatus": o.fulfillment_status, "amount": o.amount_minor,
                             "currency": o.currency, "contactId": o.contact_id}, money, f"GHL order {o.id}")
               for o in g.orders]
        out += [SourceRecord("transactions", t.id, t.created_at, t.currency,
                             {"orderId": t.order_id, "status": t.status, "amount": t.amount_minor,
                              "amountRefunded": t.amount_refunded_minor, "currency": t.currency}, money,
                             f"GHL transaction {t.id}")
                for t in g.transactions]
        out += [SourceRecord("subscriptions", s.id, s.created_at, s.currency,
                             {"status": s.status, "amount": s.amount_minor, "currency": s.currency}, money,
                             f"GHL subscription {s.id}")
                for s in g.subscriptions]
        out += [SourceRecord("payments", payment_key("ghl", "transaction", t.id), t.created_at, t.currency,
                             {"amount": t.amount_minor, "currency": t.currency}, money, f"GHL transaction {t.id}")
                for t in g.transactions]
        if self._has_acuity():
            currency = self._acuity_currency
            out += [SourceRecord("payments", payment_key("acuity", "appointment", p.id), p.created, currency,
                                 {"amount": p.amount_minor, "currency": currency}, money,
                                 f"Acuity payment {p.id} of appointment {p.appointment_id}")
                    for p in acuity_queries.payments_of_location(self.store, self.location_id)]
            out += [SourceRecord("payments", payment_key("acuity", "order", str(o.id)), o.time, currency,
                                 {"amount": o.total_minor, "currency": currency}, money, f"Acuity order {o.id}")
                    for o in acuity_queries.orders(self.store, self.location_id) if o.status in ACUITY_PAID_ORDERS]
        return out

    @cached_property
    def _rankr(self) -> RankrService | None:
        return _part(self.sb, RankrService)

    @cached_property
    def destination_records(self) -> list[DestinationRecord]:
        rankr = self._rankr
        if rankr is None:
            return []
        out: list[DestinationRecord] = []
        for collection in COLLECTIONS:
            id_field = RECORDS[collection][0]
            for view in rankr.list(self.location_id, collection)[0]:
                body = {k: v for k, v in view.items() if k not in ("createdAt", "storedAt", "version")}
                out.append(DestinationRecord(collection, str(body.get(id_field, "")), body,
                                             parse_iso(str(view["createdAt"]))))
        return out

    @cached_property
    def destination_writes(self) -> list[DestinationWrite]:
        rankr = self._rankr
        if rankr is None:
            return []
        return [DestinationWrite(w.collection, w.record_id, w.at) for w in rankr.writes(self.location_id)
                if w.method == "PUT" and w.record_id is not None and w.outcome in ACCEPTED_WRITES]

    @cached_property
    def source_events(self) -> list[SourceEvent]:
        out = []
        for e in webhook_queries.events_of_location(self.store, self.location_id):
            copies = _copies(e)
            if copies:
                out.append(SourceEvent(e.id, e.type, self.sb.service_name(e.service), e.resource_kind,
                                       e.resource_id, e.created_at, copies))
        return out

    # ---- webhook deliveries ---------------------------------------------------------------------

    @cached_property
    def targets(self) -> list[TargetFact]:
        return [TargetFact(t.id, t.url, self.sb.service_name(t.service)) for t in self.sb.webhooks.targets()]

    @cached_property
    def deliveries(self) -> list[DeliveryFact]:
        found = webhook_queries.deliveries(self.store, DeliveryFilter(location_id=self.location_id))
        events = self.store.table(Event).get_many(sorted({d.event_id for d in found}))
        latencies: dict[str, list[float]] = {}
        for a in webhook_queries.attempts_of(self.store, [d.id for d in found]):
            latencies.setdefault(a.delivery_id, []).append(a.latency_ms)
        out = []
        for d in found:
            event = events.get(d.event_id)
            out.append(DeliveryFact(d.id, d.target_id, d.event_type, event.created_at if event else 0.0, d.status,
                                    d.attempts, tuple(latencies.get(d.id, ())), bool(d.duplicate_of)))
        return out

    # ---- routing (Rankr providers and assignments) ----------------------------------------------

    @cached_property
    def providers(self) -> list[Provider]:
        rankr = self._rankr
        if rankr is None:
            return []
        now = self.now()
        return [Provider(p.provider_id, p.name, p.daily_capacity, routing.available_now(p, now), p.timezone)
                for p in rankr.routing.providers(self.location_id)]

    @cached_property
    def assignments(self) -> list[Assignment]:
        """The orders assigned now, each on its provider's day (a moved order counts for its new provider)."""
        rankr = self._rankr
        if rankr is None:
            return []
        zones = {p.provider_id: p.timezone for p in rankr.routing.providers(self.location_id)}
        return [Assignment(a.order_id, a.provider_id, a.assigned_at,
                           routing.day_of(a.assigned_at, zones.get(a.provider_id, "UTC")))
                for a in rankr.routing.assignments(self.location_id)]


def _copies(e: Event) -> tuple[Copy, ...]:
    """The destination records that copy what a source event changed (none: the event is not synced)."""
    rid = e.resource_id
    if e.resource_kind == "orders":
        return (Copy("orders", (("orderId", rid),)),)
    if e.resource_kind == "transactions":
        return (Copy("transactions", (("transactionId", rid),)),
                Copy("payments", (("source", "ghl"), ("sourceKind", "transaction"), ("sourceId", rid))))
    if e.resource_kind == "subscriptions":
        return (Copy("subscriptions", (("subscriptionId", rid),)),)
    if e.resource_kind == acuity_tables.APPOINTMENTS.kind:
        return (Copy("payments", (("source", "acuity"), ("sourceKind", "appointment"), ("parentId", rid))),)
    if e.resource_kind == acuity_tables.ORDERS.kind:
        return (Copy("payments", (("source", "acuity"), ("sourceKind", "order"), ("sourceId", rid))),)
    return ()
