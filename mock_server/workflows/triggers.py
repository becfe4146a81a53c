"""Triggers: which signals each workflow trigger listens to, the filters it offers, and how one signal
becomes the firings it causes.

A `Firing` carries three views of one occurrence: `facts` (what filters test, in the filters'
vocabulary: `paymentStatus: "failed"`), `context` (the merge tree templates render from: `payment.*`,
`contact.*`, ...) and `objects` (the trigger object at the root of the standard Webhook body). Merge
values are strings in the API's own vocabulary (`payment.payment_status` is the transaction status,
`succeeded`/`failed`); money renders in major units with the currency's decimals (`49.90`).

Signals carry GHL record snapshots (`dataclasses.asdict` of `ghl.models` records, or of
`workflows.models.Invoice`). `Lookup` is what the service answers from the store at fire time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from mock_server.clock import iso_ms
from mock_server.ghl.models import Contact, Price, Product
from mock_server.ghl.money import exponent
from mock_server.locations import Location
from mock_server.signals import Signal
from mock_server.workflows.merge import INBOUND
from mock_server.workflows.models import Trigger, Workflow

OrderSubmitted = Literal["order", "product"]

IS = ("is", "is_not")
NUMERIC = ("gt", "lt", "eq")
EMPTY = ("empty", "not_empty")


@dataclass(frozen=True)
class FilterSpec:
    field: str
    operators: tuple[str, ...] = IS
    values: tuple[str, ...] | None = None  # the vocabulary; None: any non-empty string (an id, a name)
    numeric: bool = False  # a number (gt/lt/eq); refund amounts are in major units


@dataclass(frozen=True)
class TriggerSpec:
    type: str
    signals: tuple[str, ...]  # the signal names it listens to
    filters: dict[str, FilterSpec]
    event_type: str  # the webhook event type of its deliveries
    namespace: str  # its merge namespace and the root object of the standard Webhook body ("" none)


def _filters(*specs: FilterSpec) -> dict[str, FilterSpec]:
    return {s.field: s for s in specs}


PAYMENT_SOURCES = ("calendar", "external", "form", "funnel", "invoice", "manual_payment", "memberships", "website",
                   "survey")
ORDER_SOURCES = ("external", "form", "membership", "order_form", "payment_link", "store", "survey")
REFUND_SOURCES = ("calendar", "communities", "external", "form", "funnel", "invoice", "manual", "membership",
                  "payment_link", "website")
SUBSCRIPTION_STATUSES = ("active", "canceled", "expired", "failed", "incomplete", "overdue", "scheduled", "trial",
                         "unpaid")

TRIGGERS: dict[str, TriggerSpec] = {
    "payment_received": TriggerSpec("payment_received", ("payment.received",), _filters(
        FilterSpec("paymentSource", values=PAYMENT_SOURCES), FilterSpec("subSource"),
        FilterSpec("transactionType", values=("customer_present", "customer_not_present")),
        FilterSpec("product"), FilterSpec("price"), FilterSpec("paymentStatus", values=("success", "failed"))),
        "WorkflowPaymentReceived", "payment"),
    "order_submitted": TriggerSpec("order_submitted", ("order.submitted",), _filters(
        FilterSpec("product"), FilterSpec("price"), FilterSpec("orderSource", values=ORDER_SOURCES),
        FilterSpec("subSource"), FilterSpec("funnel"), FilterSpec("page"),
        FilterSpec("submissionType", values=("primary", "bump", "upsell")),
        FilterSpec("paymentMode", values=("stripe", "paypal"))),
        "WorkflowOrderSubmitted", "order"),
    "order_form_submission": TriggerSpec("order_form_submission", ("order.form_submitted",), _filters(
        FilterSpec("funnel"), FilterSpec("page"), FilterSpec("product"),
        FilterSpec("submissionType", values=("bump", "opt_in", "sale", "upsell"))),
        "WorkflowOrderFormSubmission", "order"),
    "invoice": TriggerSpec("invoice", ("invoice.updated",), _filters(
        FilterSpec("invoiceStatus", values=("paid", "partially_paid", "sent", "void")), FilterSpec("hasTag")),
        "WorkflowInvoice", "invoice"),
    "subscription": TriggerSpec("subscription", ("subscription.changed",), _filters(
        FilterSpec("product", operators=(*IS, *EMPTY)), FilterSpec("status", values=SUBSCRIPTION_STATUSES)),
        "WorkflowSubscription", "subscription"),
    "refund": TriggerSpec("refund", ("refund.issued",), _filters(
        FilterSpec("status", values=("successful", "failed")), FilterSpec("amount", operators=NUMERIC, numeric=True),
        FilterSpec("source", values=REFUND_SOURCES), FilterSpec("type", values=("full", "partial"))),
        "WorkflowRefund", "refund"),
    "inbound_webhook": TriggerSpec("inbound_webhook", (), {}, "WorkflowInboundWebhook", ""),
}
SIGNAL_TRIGGERS: dict[str, str] = {name: spec.type for spec in TRIGGERS.values() for name in spec.signals}


@dataclass(frozen=True)
class Firing:
    trigger_type: str
    location_id: str
    facts: dict[str, Any]
    context: dict[str, Any]
    objects: dict[str, Any]
    source: str = ""  # the signal name, or "inbound"
    contact_id: str = ""


class Lookup(Protocol):
    """What firings read beyond the signal, answered by the service from the store."""

    def contact(self, location_id: str, contact_id: str) -> Contact | None: ...

    def location(self, location_id: str) -> Location | None: ...

    def custom_values(self, location_id: str) -> Mapping[str, str]: ...

    def products(self, ids: Collection[str]) -> Mapping[str, Product]: ...

    def prices(self, ids: Collection[str]) -> Mapping[str, Price]: ...

    def now(self) -> float: ...


# ---- vocabularies: GHL source types -> the filters' values ------------------------------------------

def payment_source(source_type: str) -> str:
    return {"funnel": "funnel", "website": "website", "invoice": "invoice", "text2pay": "invoice",
            "calendar": "calendar", "membership": "memberships", "communities": "memberships",
            "manual": "manual_payment", "point_of_sale": "manual_payment", "external": "external", "form": "form",
            "survey": "survey", "payment_link": "website"}.get(source_type.lower(), source_type.lower())


def order_source(source_type: str, sub_type: str) -> str:
    kind = source_type.lower()
    if kind == "funnel" or (kind == "website" and "order_form" in sub_type):
        return "order_form"
    return {"website": "store", "membership": "membership", "communities": "membership"}.get(kind, kind)


def refund_source(source_type: str) -> str:
    return {"text2pay": "invoice", "point_of_sale": "manual"}.get(source_type.lower(), source_type.lower())


def subscription_status(status: str) -> str:
    return {"trialing": "trial", "past_due": "overdue", "incomplete_expired": "expired"}.get(status, status)


# ---- merge values ---------------------------------------------------------------------------------

SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "MXN": "$", "SGD": "$", "EUR": "€", "GBP": "£",
           "JPY": "¥", "INR": "₹", "BRL": "R$", "ZAR": "R", "CHF": "CHF"}


def amount_text(minor: int, currency: str) -> str:
    """Minor units as major units with the currency's decimals: 4990 USD -> "49.90", 500 JPY -> "500"."""
    places = exponent(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f}"


def amount_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def _iso(ts: Any) -> str:
    return iso_ms(float(ts)) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else ""


def full_address(c: Mapping[str, Any]) -> str:
    region = " ".join(p for p in (str(c.get("state") or ""), str(c.get("postal_code") or "")) if p)
    return ", ".join(p for p in (str(c.get("address1") or ""), str(c.get("city") or ""), region,
                                 str(c.get("country") or "")) if p)


def contact_context(c: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `contact.*` merge tree of a contact record or an order's contact snapshot (`{}`: none)."""
    if not c:
        return {}
    first, last = str(c.get("first_name") or ""), str(c.get("last_name") or "")
    phone = str(c.get("phone") or "")
    return {
        "id": str(c.get("id") or ""), "name": " ".join(p for p in (first, last) if p), "first_name": first,
        "last_name": last, "email": str(c.get("email") or ""), "phone": phone,
        "phone_raw": "".join(ch for ch in phone if ch.isdigit()), "company_name": str(c.get("company_name") or ""),
        "full_address": full_address(c), "address1": str(c.get("address1") or ""), "city": str(c.get("city") or ""),
        "state": str(c.get("state") or ""), "postal_code": str(c.get("postal_code") or ""),
        "country": str(c.get("country") or ""), "timezone": str(c.get("timezone") or ""),
        "date_of_birth": str(c.get("date_of_birth") or ""), "source": str(c.get("source") or ""),
        "website": str(c.get("website") or ""), "tags": ",".join(str(t) for t in c.get("tags") or ()),
        "tag_list": [str(t) for t in c.get("tags") or ()], "date_created": _iso(c.get("date_added")),
        "attributionSource": {}, "lastAttributionSource": {},
    }


def customer_context(contact: Mapping[str, Any]) -> dict[str, str]:
    """`payment.customer.*` / `order.customer.*` from a `contact_context`."""
    return {"id": contact.get("id", ""), "first_name": contact.get("first_name", ""),
            "last_name": contact.get("last_name", ""), "name": contact.get("name", ""),
            "email": contact.get("email", ""), "phone": contact.get("phone", ""),
            "address": contact.get("full_address", ""), "city": contact.get("city", ""),
            "state": contact.get("state", ""), "country": contact.get("country", ""),
            "postal_code": contact.get("postal_code", "")}


def location_context(location: Location | None, location_id: str) -> dict[str, str]:
    if location is None:
        return {"id": location_id, "name": "", "address": "", "city": "", "state": "", "country": "",
                "postal_code": "", "full_address": ""}
    parts = {k: str(getattr(location, k, "") or "") for k in ("address", "city", "state", "country", "postal_code")}
    return {"id": location.id, "name": location.name, **parts,
            "full_address": full_address({**parts, "address1": parts["address"]})}


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except Exception:  # an unknown zone or no tz database: UTC
        return timezone.utc


def right_now(now: float, zone: str = "UTC") -> dict[str, str]:
    """`right_now.*` on the sandbox clock, in the location's timezone."""
    at = datetime.fromtimestamp(now, tz=_zone(zone))
    return {"date": at.strftime("%Y-%m-%d"), "time": at.strftime("%H:%M:%S"), "year": f"{at.year:04d}",
            "month": f"{at.month:02d}", "day": f"{at.day:02d}", "iso": at.isoformat(timespec="seconds")}


# ---- firings --------------------------------------------------------------------------------------


@dataclass
class _Base:
    """What every firing of one signal shares: the location, the contact, the always-there merge groups."""

    location_id: str
    contact: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)

    def firing(self, trigger_type: str, source: str, facts: dict[str, Any], obj: dict[str, Any]) -> Firing:
        namespace = TRIGGERS[trigger_type].namespace
        context = {**self.context, namespace: obj} if namespace else dict(self.context)
        return Firing(trigger_type, self.location_id, facts, context, {namespace: obj} if namespace else {},
                      source, str(self.contact.get("id", "")))


def _base(location_id: str, contact_id: str, records: Mapping[str, Any], snapshot: Mapping[str, Any] | None,
          lookup: Lookup) -> _Base:
    """The contact as the store has it now (at fire time), else as the signal gave it, else the
    record's own snapshot."""
    found = lookup.contact(location_id, contact_id) if contact_id else None
    raw = dataclasses.asdict(found) if found is not None else records.get("contact") or snapshot
    contact = contact_context(raw)
    location = lookup.location(location_id)
    context: dict[str, Any] = {
        "contact": contact, "location": location_context(location, location_id),
        "custom_values": dict(lookup.custom_values(location_id)),
        "right_now": right_now(lookup.now(), location.timezone if location is not None else "UTC"),
        "workflow": {"id": "", "name": ""},
    }
    return _Base(location_id, contact, context)


def _product_names(product_ids: list[str], fallback: list[str], lookup: Lookup) -> str:
    products = lookup.products(product_ids) if product_ids else {}
    names = [products[p].name if p in products else fallback[i] if i < len(fallback) else ""
             for i, p in enumerate(product_ids)]
    return ", ".join(n for n in names if n)


def _payment(signal: Signal, lookup: Lookup) -> list[Firing]:
    txn = signal.records["transaction"]
    order = signal.records.get("order") or {}
    sub = signal.records.get("subscription") or {}
    renewal = txn.get("entity_type") == "subscription"
    items = order.get("items") or []
    if renewal and sub:
        product_ids, price_ids, names = [sub["product_id"]], [sub["price_id"]], []
    else:
        product_ids = [i["product_id"] for i in items]
        price_ids = [i["price_id"] for i in items]
        names = [str(i.get("name", "")) for i in items]
    source = txn.get("source") or order.get("source") or {}
    currency = str(txn.get("currency") or order.get("currency") or "USD")
    failed = txn.get("status") == "failed"
    facts = {"paymentSource": payment_source(str(source.get("type", ""))), "subSource": str(source.get("sub_type", "")),
             "transactionType": "customer_not_present" if renewal else "customer_present",
             "product": product_ids, "price": price_ids, "paymentStatus": "failed" if failed else "success"}
    base = _base(signal.location_id, str(txn.get("contact_id") or ""), signal.records,
                 txn.get("contact_snapshot") or order.get("contact_snapshot"), lookup)
    total = int(txn["amount_minor"])
    whole_order = not renewal and bool(order) and total == int(order.get("amount_minor", -1))
    card = (txn.get("payment_method") or {}).get("card") or {}
    payment = {
        "source": str(source.get("type", "")), "currency_symbol": SYMBOLS.get(currency.upper(), currency.upper()),
        "currency_code": currency.upper(), "customer": customer_context(base.contact),
        "invoice": {"name": "", "number": "", "issue_date": "", "due_date": "", "url": "", "recorded_by": ""},
        "sub_total_amount": amount_text(int(order["subtotal_minor"]) if whole_order else total, currency),
        "discount_amount": amount_text(int(order.get("discount_minor", 0)) if whole_order else 0, currency),
        "coupon_code": str(order.get("coupon_code", "")),
        "tax_amount": amount_text(int(order.get("tax_minor", 0)) if whole_order else 0, currency),
        "total_amount": amount_text(total, currency), "created_on": _iso(txn.get("created_at")),
        "transaction_id": str(txn["id"]), "payment_status": str(txn.get("status", "")),
        "gateway": str(txn.get("provider_type", "")), "method": "card" if card else "",
        "card": {"last4": str(card.get("last4", "")), "brand": str(card.get("brand", ""))},
        "order_id": "" if renewal else str(order.get("id") or txn.get("order_id") or ""),
        "subscription_id": str(txn.get("subscription_id") or ""),
        "product_name": _product_names(product_ids, names, lookup),
    }
    return [base.firing("payment_received", signal.name, facts, payment)]


def _order_object(order: Mapping[str, Any], base: _Base, txn: Mapping[str, Any] | None,
                  line: Mapping[str, Any] | None, lookup: Lookup) -> dict[str, Any]:
    currency = str(order.get("currency") or "USD")
    product: dict[str, str] = {"id": "", "name": "", "price_id": "", "quantity": ""}
    if line:
        names = _product_names([str(line["product_id"])], [str(line.get("name", ""))], lookup)
        product = {"id": str(line["product_id"]), "name": names, "price_id": str(line["price_id"]),
                   "quantity": as_quantity(line.get("qty", 1))}
    return {
        "id": str(order["id"]), "currency_symbol": SYMBOLS.get(currency.upper(), currency.upper()),
        "currency_code": currency.upper(), "cart_total": amount_text(int(order.get("subtotal_minor", 0)), currency),
        "total": amount_text(int(order.get("amount_minor", 0)), currency),
        "coupon_code": str(order.get("coupon_code", "")),
        "total_discount": amount_text(int(order.get("discount_minor", 0)), currency),
        "created_on": _iso(order.get("created_at")), "created_at": _iso(order.get("created_at")),
        "payment_gateway": str((txn or {}).get("provider_type", "")), "customer": customer_context(base.contact),
        "product": product,
    }


def as_quantity(qty: Any) -> str:
    return str(int(qty)) if isinstance(qty, float) and qty.is_integer() else str(qty)


def _order_facts(order: Mapping[str, Any]) -> dict[str, Any]:
    source = order.get("source") or {}
    return {"funnel": str(source.get("id", "")), "page": str((source.get("meta") or {}).get("page_id", "")),
            "subSource": str(source.get("sub_type", "")),
            "orderSource": order_source(str(source.get("type", "")), str(source.get("sub_type", "")))}


def _upsell(order: Mapping[str, Any]) -> bool:
    return "upsell" in str((order.get("source") or {}).get("sub_type", "")).lower()


def _order_form(signal: Signal, lookup: Lookup) -> list[Firing]:
    order = signal.records["order"]
    items = order.get("items") or []
    base = _base(signal.location_id, str(order.get("contact_id") or ""), signal.records,
                 order.get("contact_snapshot"), lookup)
    kind = "upsell" if _upsell(order) else "opt_in" if not items or not int(order.get("amount_minor", 0)) else "sale"
    facts = {**_order_facts(order), "product": [i["product_id"] for i in items], "submissionType": kind}
    facts = {k: facts[k] for k in ("funnel", "page", "product", "submissionType")}
    obj = _order_object(order, base, None, items[0] if items else None, lookup)
    return [base.firing("order_form_submission", signal.name, facts, obj)]


def _order_submitted(signal: Signal, lookup: Lookup, per: OrderSubmitted) -> list[Firing]:
    order = signal.records["order"]
    txn = signal.records.get("transaction") or {}
    items = order.get("items") or []
    base = _base(signal.location_id, str(order.get("contact_id") or ""), signal.records,
                 order.get("contact_snapshot"), lookup)
    common = {**_order_facts(order), "paymentMode": "paypal" if txn.get("provider_type") == "paypal" else "stripe"}
    if per == "order" or not items:
        facts = {**common, "product": [i["product_id"] for i in items], "price": [i["price_id"] for i in items],
                 "submissionType": "upsell" if _upsell(order) else "primary"}
        return [base.firing("order_submitted", signal.name, facts,
                            _order_object(order, base, txn, items[0] if items else None, lookup))]
    firings = []
    for index, item in enumerate(items):
        kind = "upsell" if _upsell(order) else "primary" if index == 0 else "bump"
        facts = {**common, "product": [item["product_id"]], "price": [item["price_id"]], "submissionType": kind}
        firings.append(base.firing("order_submitted", signal.name, facts,
                                   _order_object(order, base, txn, item, lookup)))
    return firings


def _subscription(signal: Signal, lookup: Lookup) -> list[Firing]:
    sub = signal.records["subscription"]
    currency = str(sub.get("currency") or "USD")
    base = _base(signal.location_id, str(sub.get("contact_id") or ""), signal.records, sub.get("contact_snapshot"),
                 lookup)
    count = int(sub.get("interval_count") or 1)
    interval = str(sub.get("interval", ""))
    facts = {"product": str(sub.get("product_id") or ""), "status": subscription_status(str(sub.get("status", "")))}
    obj = {"id": str(sub["id"]), "status": str(sub.get("status", "")),
           "product_name": _product_names([str(sub["product_id"])], [], lookup) if sub.get("product_id") else "",
           "amount": amount_text(int(sub.get("amount_minor", 0)), currency), "currency_code": currency.upper(),
           "interval": interval if count == 1 else f"{count} {interval}s", "created_on": _iso(sub.get("created_at"))}
    return [base.firing("subscription", signal.name, facts, obj)]


def _refund(signal: Signal, lookup: Lookup) -> list[Firing]:
    txn = signal.records["transaction"]
    order = signal.records.get("order") or {}
    refund = signal.records.get("refund") or {}
    currency = str(txn.get("currency") or order.get("currency") or "USD")
    amount = int(refund.get("amount_minor", txn.get("amount_refunded_minor", 0)))
    if isinstance(refund.get("full"), bool):
        kind = "full" if refund["full"] else "partial"
    elif order:
        kind = "full" if order.get("payment_status") == "refunded" else "partial"
    else:
        kind = "full" if int(txn.get("amount_refunded_minor", 0)) >= int(txn.get("amount_minor", 0)) else "partial"
    failed = refund.get("status") == "failed"
    source = txn.get("source") or order.get("source") or {}
    base = _base(signal.location_id, str(txn.get("contact_id") or ""), signal.records,
                 txn.get("contact_snapshot") or order.get("contact_snapshot"), lookup)
    facts = {"status": "failed" if failed else "successful", "amount": amount_major(amount, currency),
             "source": refund_source(str(source.get("type", ""))), "type": kind}
    obj = {"amount": amount_text(amount, currency), "currency_code": currency.upper(),
           "status": "failed" if failed else "succeeded", "type": kind, "transaction_id": str(txn["id"]),
           "order_id": str(order.get("id") or txn.get("order_id") or ""),
           "created_on": _iso(refund.get("created_at", txn.get("updated_at")))}
    return [base.firing("refund", signal.name, facts, obj)]


def _invoice(signal: Signal, lookup: Lookup) -> list[Firing]:
    inv = signal.records["invoice"]
    currency = str(inv.get("currency") or "USD")
    base = _base(signal.location_id, str(inv.get("contact_id") or ""), signal.records, None, lookup)
    location = base.context["location"]
    sender = lookup.location(signal.location_id)
    contact = base.contact
    total = amount_text(int(inv.get("amount_minor", 0)), currency)
    facts = {"invoiceStatus": str(inv.get("status", "")), "hasTag": list(contact.get("tag_list", []))}
    obj = {
        "id": str(inv["id"]), "status": str(inv.get("status", "")), "currency_code": currency.upper(),
        "name": str(inv.get("name", "")), "number": str(inv.get("number", "")), "title": str(inv.get("name", "")),
        "issue_date": str(inv.get("issue_date", "")), "due_date": str(inv.get("due_date", "")),
        "sub_total": total, "discount_amount": amount_text(0, currency), "tax_amount": amount_text(0, currency),
        "total_amount": total, "url": "",
        "company": {"name": location["name"], "phone": sender.phone if sender else "", "address": location["address"],
                    "city": location["city"], "state": location["state"], "country": location["country"],
                    "website": "", "logo": ""},
        "customer": {"name": contact.get("name", ""), "first_name": contact.get("first_name", ""),
                     "last_name": contact.get("last_name", ""), "phone": contact.get("phone", ""),
                     "email": contact.get("email", ""), "company": contact.get("company_name", ""),
                     "address": contact.get("full_address", ""), "city": contact.get("city", ""),
                     "state": contact.get("state", ""), "postal_code": contact.get("postal_code", "")},
        "sender": {"name": location["name"], "email": sender.email if sender else ""},
        "card": {"brand": "", "last4": ""},
    }
    return [base.firing("invoice", signal.name, facts, obj)]


def firings(signal: Signal, lookup: Lookup, *, order_submitted: OrderSubmitted = "order") -> list[Firing]:
    """The firings one signal causes (none for a signal no trigger listens to). `order_submitted`:
    one Order Submitted firing per order, or one per product line."""
    trigger_type = SIGNAL_TRIGGERS.get(signal.name)
    if trigger_type == "payment_received":
        return _payment(signal, lookup)
    if trigger_type == "order_form_submission":
        return _order_form(signal, lookup)
    if trigger_type == "order_submitted":
        return _order_submitted(signal, lookup, order_submitted)
    if trigger_type == "subscription":
        return _subscription(signal, lookup)
    if trigger_type == "refund":
        return _refund(signal, lookup)
    if trigger_type == "invoice":
        return _invoice(signal, lookup)
    return []


def inbound_firing(location_id: str, *, body: Mapping[str, Any], query: Mapping[str, str],
                   headers: Mapping[str, str], contact: Contact | None, lookup: Lookup) -> Firing:
    """The firing of an Inbound Webhook request: `inboundWebhookRequest.{body,query,headers}` (header
    names lower-cased) and the contact the service found by the body's email/phone, if any."""
    base = _base(location_id, "", {"contact": dataclasses.asdict(contact)} if contact else {}, None, lookup)
    base.context[INBOUND] = {"body": dict(body), "query": dict(query),
                             "headers": {k.lower(): v for k, v in headers.items()}}
    return base.firing("inbound_webhook", "inbound", {}, {})


def for_workflow(firing: Firing, workflow: Workflow) -> Firing:
    """The firing as one workflow's run sees it (`workflow.id`, `workflow.name` filled)."""
    return dataclasses.replace(firing, context={**firing.context,
                                                "workflow": {"id": workflow.id, "name": workflow.name}})


# ---- filters --------------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def _test(operator: str, fact: Any, wanted: Any) -> bool:
    if operator == "empty":
        return _empty(fact)
    if operator == "not_empty":
        return not _empty(fact)
    if operator in NUMERIC:
        if _empty(fact):
            return False
        have, want = Decimal(str(fact)), Decimal(str(wanted))
        return have > want if operator == "gt" else have < want if operator == "lt" else have == want
    values = fact if isinstance(fact, (list, tuple)) else [fact]
    hit = any(str(v).lower() == str(wanted).lower() for v in values if v is not None)
    return hit if operator == "is" else not hit


def matches(trigger: Trigger, firing: Firing) -> bool:
    """Whether a workflow's trigger fires for a firing: same trigger type, and every filter holds (AND).
    A list fact (an order's products) `is` a value when it holds it, `is_not` when it does not."""
    if trigger.type != firing.trigger_type:
        return False
    return all(_test(f.operator, firing.facts.get(f.field), f.value) for f in trigger.filters)
