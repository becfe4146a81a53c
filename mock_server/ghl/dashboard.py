"""GHL on the dashboard (mock_server.panels): its state tables, its contacts in a customer search, and a
person's orders, transactions and subscriptions. Rows are the API's list shapes (what the control plane's
`GET /_sandbox/locations/{locationId}/state` shows), so a row and the API agree field for field."""

from __future__ import annotations

from typing import Any

from mock_server.clock import iso_ms
from mock_server.ghl import queries
from mock_server.ghl.queries import LocationRecords
from mock_server.ghl.responses import shapes
from mock_server.panels import Column, PersonMatch, Query, Table, Who
from mock_server.store import Store

SERVICE = "ghl"
RESOURCE = "/_sandbox/locations/{locationId}/resources/%s/{id}"

ORDER_COLUMNS = (
    Column("_id", "order", "id"), Column("createdAt", "created", "time"), Column("contactName", "contact"),
    Column("amount", "amount", "money"), Column("status", "status", "pill"), Column("paymentStatus", "payment", "pill"),
    Column("fulfillmentStatus", "fulfilment", "pill"), Column("sourceName", "source"))
TRANSACTION_COLUMNS = (
    Column("_id", "transaction", "id"), Column("createdAt", "created", "time"), Column("contactName", "contact"),
    Column("amount", "amount", "money"), Column("amountRefunded", "refunded", "money"),
    Column("status", "status", "pill"), Column("entityId", "order", "id"), Column("paymentProviderType", "provider"))
SUBSCRIPTION_COLUMNS = (
    Column("_id", "subscription", "id"), Column("createdAt", "created", "time"), Column("contactName", "contact"),
    Column("amount", "amount", "money"), Column("status", "status", "pill"),
    Column("paymentsCollectedCount", "payments", "num"), Column("entityId", "order", "id"))
FULFILLMENT_COLUMNS = (
    Column("_id", "fulfillment", "id"), Column("createdAt", "created", "time"), Column("orderId", "order", "id"),
    Column("itemsText", "items"))
CONTACT_COLUMNS = (
    Column("id", "contact", "id"), Column("name", "name"), Column("email", "email"), Column("phone", "phone"),
    Column("dateAdded", "added", "time"))


def _short(value: str) -> str:
    return value if len(value) <= 12 else f"{value[:6]}…{value[-4:]}"


def state_rows(records: LocationRecords) -> dict[str, list[dict[str, Any]]]:
    """The rows of `GET /_sandbox/locations/{locationId}/state` (orders with their items)."""
    return {
        "orders": [{**shapes.order_list_item(o),
                    "items": [{"priceId": i["price_id"], "qty": i["qty"]} for i in o.items]} for o in records.orders],
        "transactions": [shapes.transaction_list_item(t) for t in records.transactions],
        "subscriptions": [shapes.subscription_list_item(s, with_count=True) for s in records.subscriptions],
        "fulfillments": [{"_id": f.id, "orderId": f.order_id, "createdAt": iso_ms(f.created_at),
                          "items": [{"priceId": i["price_id"], "qty": i["qty"]} for i in f.items]}
                         for f in records.fulfillments],
    }


def _tables(rows: dict[str, list[dict[str, Any]]], titles: dict[str, str]) -> list[Table]:
    for f in rows.get("fulfillments", []):
        f["itemsText"] = ", ".join(f"{_short(i['priceId'])}×{i['qty']}" for i in f["items"])
    specs = {
        "orders": (ORDER_COLUMNS, ("status", "paymentStatus", "fulfillmentStatus")),
        "transactions": (TRANSACTION_COLUMNS, ("status",)),
        "subscriptions": (SUBSCRIPTION_COLUMNS, ("status",)),
        "fulfillments": (FULFILLMENT_COLUMNS, ()),
    }
    return [Table(SERVICE, kind, titles[kind], specs[kind][0], rows[kind], id_key="_id", status_fields=specs[kind][1],
                  resource_path=RESOURCE % kind) for kind in titles]


def tables(store: Store, location_id: str) -> list[Table]:
    rows = state_rows(queries.location_state(store, location_id))
    return _tables(rows, {"orders": "Orders", "transactions": "Transactions", "subscriptions": "Subscriptions",
                          "fulfillments": "Fulfillments"})


def people(store: Store, location_id: str, query: Query) -> list[PersonMatch]:
    return [PersonMatch(SERVICE, c.email, c.first_name, c.last_name, c.phone, c.id)
            for c in queries.contacts(store, location_id) if query.matches(c.first_name, c.last_name, c.email)]


def customer(store: Store, location_id: str, who: Who) -> list[Table]:
    """The contacts (by id or email), their orders, their transactions (GHL's payments), subscriptions."""
    contacts = [c for c in queries.contacts(store, location_id) if c.id in who.contact_ids or who.has_email(c.email)]
    ids = sorted({c.id for c in contacts} | set(who.contact_ids))
    rows = state_rows(queries.of_contacts(store, location_id, ids))
    del rows["fulfillments"]
    contact_rows = [{"id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "firstName": c.first_name,
                     "lastName": c.last_name, "dateAdded": iso_ms(c.date_added)} for c in contacts]
    return [Table(SERVICE, "contacts", "Contacts", CONTACT_COLUMNS, contact_rows),
            *_tables(rows, {"orders": "Orders", "transactions": "Payments (transactions)",
                            "subscriptions": "Subscriptions"})]
