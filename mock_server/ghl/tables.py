"""The GHL service's tables: the columns each kind of record is filtered and paged by.

The paging indexes end with the store's hidden `rev` (each row's version): a page of ids and versions is
then read from the index alone, and a record's document only when its kept rendering is stale."""

from __future__ import annotations

from typing import Any

from mock_server.ghl import models as m
from mock_server.store import TableSpec, by_created, by_location, column

APPS = TableSpec("apps", m.App, (column("client_id", "TEXT", lambda r: r.client_id),), ("client_id",))
TOKENS = TableSpec("tokens", m.Token,
                   (column("secret", "TEXT", lambda r: r.secret), column("location_id", "TEXT", by_location)),
                   ("secret", "location_id"), location_scoped=True)
GRANTS = TableSpec("grants", m.Grant, (column("location_id", "TEXT", by_location),), location_scoped=True)
CONTACTS = TableSpec("contacts", m.Contact,
                     (column("location_id", "TEXT", by_location), column("created_at", "REAL", lambda r: r.date_added)),
                     ("location_id, created_at",), location_scoped=True)
PRODUCTS = TableSpec("products", m.Product,
                     (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created)),
                     ("location_id, created_at",), location_scoped=True, read_mostly=True)
PRICES = TableSpec("prices", m.Price,
                   (column("location_id", "TEXT", by_location), column("product_id", "TEXT", lambda r: r.product_id),
                    column("created_at", "REAL", by_created)),
                   ("location_id, created_at", "product_id"), location_scoped=True, read_mostly=True)
FUNNELS = TableSpec("funnels", m.Funnel,
                    (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created)),
                    ("location_id, created_at",), location_scoped=True)
ORDERS = TableSpec(
    "orders", m.Order,
    (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created),
     column("status", "TEXT", lambda r: r.status), column("payment_status", "TEXT", lambda r: r.payment_status),
     column("live_mode", "INTEGER", lambda r: int(r.live_mode)), column("contact_id", "TEXT", lambda r: r.contact_id),
     column("source_id", "TEXT", lambda r: r.source.get("id", "")),
     column("product_ids", "TEXT", lambda r: " " + " ".join(r.product_ids) + " "),
     column("search_text", "TEXT", lambda r: m.search_text(r.contact_snapshot, r.id, *(i["name"] for i in r.items)))),
    ("location_id, created_at DESC, id DESC, rev", "contact_id"), location_scoped=True)
TRANSACTIONS = TableSpec(
    "transactions", m.Transaction,
    (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created),
     column("status", "TEXT", lambda r: r.status), column("live_mode", "INTEGER", lambda r: int(r.live_mode)),
     column("contact_id", "TEXT", lambda r: r.contact_id), column("entity_id", "TEXT", lambda r: r.order_id),
     column("entity_source_type", "TEXT", lambda r: r.source.get("type", "")),
     column("entity_source_sub_type", "TEXT", lambda r: r.source.get("sub_type", "")),
     column("subscription_id", "TEXT", lambda r: r.provider_subscription_id),
     column("settle_at", "REAL", lambda r: r.settle_at if r.status == "pending" else None),
     column("search_text", "TEXT", lambda r: m.search_text(r.contact_snapshot, r.id, r.source.get("name", "")))),
    # (entity_id, status): an order's payments, and whether one is pending, from the index alone.
    ("location_id, created_at DESC, id DESC, rev", "entity_id, status", "contact_id", "settle_at"), location_scoped=True)
SUBSCRIPTIONS = TableSpec(
    "subscriptions", m.Subscription,
    (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created),
     column("status", "TEXT", lambda r: r.status), column("live_mode", "INTEGER", lambda r: int(r.live_mode)),
     column("contact_id", "TEXT", lambda r: r.contact_id), column("entity_id", "TEXT", lambda r: r.order_id),
     column("entity_source_type", "TEXT", lambda r: r.source.get("type", "")),
     column("search_text", "TEXT", lambda r: m.search_text(r.contact_snapshot, r.id, r.source.get("name", ""))),
     column("next_billing_at", "REAL", lambda r: r.next_billing_at if r.status in ("active", "trialing") else None)),
    ("location_id, created_at DESC, id DESC, rev", "entity_id", "next_billing_at"), location_scoped=True)
FULFILLMENTS = TableSpec(
    "fulfillments", m.Fulfillment,
    (column("location_id", "TEXT", by_location), column("order_id", "TEXT", lambda r: r.order_id),
     column("created_at", "REAL", by_created)),
    ("order_id, created_at",), location_scoped=True)
ORDER_NOTES = TableSpec(
    "order_notes", m.OrderNote,
    (column("location_id", "TEXT", by_location), column("order_id", "TEXT", lambda r: r.order_id),
     column("created_at", "REAL", by_created)),
    ("order_id, created_at",), location_scoped=True)
PROVIDERS = TableSpec("providers", m.WhitelabelProvider,
                      (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created)),
                      ("location_id, created_at",), location_scoped=True)
COUPONS = TableSpec("coupons", m.Coupon,
                    (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created),
                     column("code_key", "TEXT", lambda r: r.code_key),
                     column("start_at", "REAL", lambda r: r.start_at),
                     column("end_at", "REAL", lambda r: m.COUPON_NO_END if r.end_at is None else r.end_at),
                     column("search_text", "TEXT", lambda r: f"{r.name} {r.code}".lower())),
                    ("location_id, created_at DESC, id DESC, rev", "location_id, code_key"), location_scoped=True)

# One custom payment provider per location (issue 13): reset with the location.
CUSTOM_PROVIDERS = TableSpec("custom_providers", m.CustomProvider,
                             (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created),
                              column("company_id", "TEXT", lambda r: r.company_id),
                              column("app_id", "TEXT", lambda r: r.marketplace_app_id)),
                             ("location_id", "company_id, app_id"), location_scoped=True)

TABLES: tuple[TableSpec[Any], ...] = (APPS, TOKENS, GRANTS, CONTACTS, PRODUCTS, PRICES, ORDERS, TRANSACTIONS,
                                      SUBSCRIPTIONS, FULFILLMENTS, PROVIDERS, ORDER_NOTES, COUPONS,
                                      CUSTOM_PROVIDERS, FUNNELS)
