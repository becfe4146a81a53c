"""Rankr on the dashboard (mock_server.panels): what the destination holds for a person, as the client
wrote it: customers whose emails, Acuity emails or GHL contact ids are the person's, payments by
`customerEmail`, and orders by `contactId`. Matching is the panel's (normalised emails), not the client's:
a customer that merged two people shows under each of them."""

from __future__ import annotations

from typing import Any

from mock_server.panels import Column, Table, Who, normalise_email

SERVICE = "rankr"

CUSTOMER_COLUMNS = (
    Column("customerId", "customer", "id"), Column("name", "name"), Column("emailsText", "emails"),
    Column("ghlContactIdsText", "GHL contacts"), Column("lifetimeValue", "lifetime value", "money"),
    Column("version", "version", "num"), Column("storedAt", "stored", "time"))
PAYMENT_COLUMNS = (
    Column("paymentKey", "payment", "id"), Column("paidAt", "paid at", "time"), Column("source", "source", "pill"),
    Column("sourceKind", "kind"), Column("sourceId", "source id", "id"), Column("parentId", "of", "id"),
    Column("customerEmail", "email"), Column("amount", "amount", "money"), Column("status", "status", "pill"),
    Column("version", "version", "num"))
ORDER_COLUMNS = (
    Column("orderId", "order", "id"), Column("updatedAt", "updated", "time"), Column("contactId", "contact", "id"),
    Column("amount", "amount", "money"), Column("status", "status", "pill"),
    Column("fulfillmentStatus", "fulfilment", "pill"), Column("version", "version", "num"))


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _is_theirs(customer: dict[str, Any], who: Who) -> bool:
    emails = [*_strings(customer.get("emails")), *_strings(customer.get("acuityEmails"))]
    return (any(normalise_email(e) in who.emails for e in emails)
            or any(c in who.contact_ids for c in _strings(customer.get("ghlContactIds"))))


def customer(records: dict[str, list[dict[str, Any]]], who: Who) -> list[Table]:
    """`records`: the location's Rankr records by collection (`customers`, `payments`, `orders`)."""
    customers = [{**c, "name": f"{c.get('firstName', '')} {c.get('lastName', '')}".strip(),
                  "emailsText": ", ".join(_strings(c.get("emails"))),
                  "ghlContactIdsText": ", ".join(_strings(c.get("ghlContactIds")))}
                 for c in records.get("customers", []) if _is_theirs(c, who)]
    payments = [p for p in records.get("payments", []) if who.has_email(str(p.get("customerEmail", "")))]
    orders = [o for o in records.get("orders", []) if str(o.get("contactId", "")) in who.contact_ids]
    return [
        Table(SERVICE, "customers", "Customers", CUSTOMER_COLUMNS, customers, id_key="customerId"),
        Table(SERVICE, "payments", "Payments", PAYMENT_COLUMNS, payments, id_key="paymentKey",
              status_fields=("source",)),
        Table(SERVICE, "orders", "Orders", ORDER_COLUMNS, orders, id_key="orderId", status_fields=("status",)),
    ]


PROVIDER_COLUMNS = (
    Column("providerId", "provider", "id"), Column("name", "name"), Column("areasText", "service areas"),
    Column("timezone", "timezone"), Column("windowsText", "availability"), Column("availableText", "available", "pill"),
    Column("availableNowText", "available now", "pill"), Column("dailyCapacity", "capacity / day", "num"),
    Column("assignedToday", "assigned today", "num"), Column("remainingToday", "left today", "num"))
ASSIGNMENT_COLUMNS = (
    Column("orderId", "order", "id"), Column("providerId", "provider", "id"), Column("assignedAt", "assigned", "time"),
    Column("day", "counts on"), Column("previousProviderId", "moved from", "id"))


def _area_text(area: dict[str, Any]) -> str:
    prefixes = "".join(f" {p}*" for p in _strings(area.get("postalCodePrefixes")))
    return "/".join(str(x) for x in (area.get("country"), area.get("state")) if x) + prefixes


def _window_text(window: dict[str, Any]) -> str:
    return f"{','.join(_strings(window.get('days')))} {window.get('from', '')}-{window.get('to', '')}"


def routing_tables(providers: list[dict[str, Any]], assignments: list[dict[str, Any]]) -> list[Table]:
    """The State tabs: providers as `GET /rankr/v1/providers` shows them now, and the current assignments."""
    rows = [{**p, "areasText": "; ".join(_area_text(a) for a in p.get("serviceAreas", [])) or "(none)",
             "windowsText": "; ".join(_window_text(w) for w in p.get("availability", [])) or "always",
             "availableText": "on" if p.get("available") else "off",
             "availableNowText": "yes" if p.get("availableNow") else "no"} for p in providers]
    return [
        Table(SERVICE, "providers", "Providers", PROVIDER_COLUMNS, rows, id_key="providerId",
              status_fields=("availableText", "availableNowText")),
        Table(SERVICE, "assignments", "Assignments", ASSIGNMENT_COLUMNS, list(assignments), id_key="orderId",
              status_fields=("providerId",)),
    ]
