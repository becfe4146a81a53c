"""Acuity on the dashboard (mock_server.panels), built from the account's whole truth as
`GET /_sandbox/acuity/state` shows it (`AcuityWorld.state_view`): appointments (canceled too), payments
(every appointment payment and every paid store order, keyed as the client contract suggests:
`acuity:<transactionID>`, `acuity-order:<orderId>`), the processor's ledger (refunds Acuity never shows),
and, for a customer search, its clients and appointments' people."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from mock_server.panels import Column, PersonMatch, Query, Table, Who

SERVICE = "acuity"

APPOINTMENT_COLUMNS = (
    Column("id", "appointment", "id"), Column("datetime", "starts", "time"), Column("client", "client"),
    Column("email", "email"), Column("type", "type"), Column("calendar", "calendar"),
    Column("price", "price", "money"), Column("amountPaid", "paid", "money"), Column("payment", "payment", "pill"),
    Column("status", "status", "pill"))
PAYMENT_COLUMNS = (
    Column("paymentKey", "payment", "id"), Column("created", "created", "time"), Column("sourceKind", "kind"),
    Column("parentId", "of", "id"), Column("client", "client"), Column("email", "email"),
    Column("processor", "processor"), Column("amount", "amount", "money"))
PROCESSOR_COLUMNS = (
    Column("entry", "#", "num"), Column("created", "created", "time"), Column("transactionID", "transaction", "id"),
    Column("kind", "kind", "pill"), Column("processor", "processor"), Column("amount", "amount", "money"),
    Column("appointmentID", "appointment", "id"), Column("orderID", "order", "id"))
ORDER_COLUMNS = (
    Column("id", "order", "id"), Column("time", "time", "time"), Column("client", "client"), Column("email", "email"),
    Column("title", "title"), Column("total", "total", "money"), Column("status", "status", "pill"))
CLIENT_COLUMNS = (
    Column("client", "name"), Column("email", "email"), Column("phone", "phone"), Column("notes", "notes"))


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _client(row: dict[str, Any]) -> str:
    return f"{row.get('firstName', '')} {row.get('lastName', '')}".strip()


def _appointment_row(a: dict[str, Any], currency: str) -> dict[str, Any]:
    status = ("no-show" if a.get("noShow") else "canceled") if a.get("canceled") else "scheduled"
    if a.get("paid") == "yes":
        payment = "paid"
    elif _amount(a.get("amountPaid")) > 0:
        payment = "deposit"
    elif a.get("certificate"):
        payment = "certificate"
    else:
        payment = "unpaid"
    return {**a, "client": _client(a), "status": status, "payment": payment, "currency": currency}


def _payment_rows(state: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    rows = [{**p, "paymentKey": f"acuity:{p['transactionID']}", "sourceKind": "appointment", "parentId": a["id"],
             "client": _client(a), "email": a.get("email", ""), "currency": currency}
            for a in state.get("appointments", []) for p in a.get("payments", [])]
    rows += [{"paymentKey": f"acuity-order:{o['id']}", "created": o.get("time", ""), "sourceKind": "order",
              "parentId": o["id"], "client": _client(o), "email": o.get("email", ""), "processor": "",
              "amount": o.get("total", ""), "currency": currency, "order": o}
             for o in state.get("orders", []) if o.get("status") == "paid"]
    rows.sort(key=lambda r: str(r.get("created", "")), reverse=True)
    return rows


def _currency(state: dict[str, Any]) -> str:
    return str((state.get("account") or {}).get("currency", ""))


def _appointments(state: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    rows = [_appointment_row(a, currency) for a in state.get("appointments", [])]
    rows.sort(key=lambda r: str(r.get("datetime", "")), reverse=True)
    return rows


def tables(state: dict[str, Any]) -> list[Table]:
    currency = _currency(state)
    ledger = [{**e, "entry": n, "currency": currency} for n, e in enumerate(state.get("processor", []), 1)]
    ledger.reverse()
    return [
        Table(SERVICE, "appointments", "Appointments", APPOINTMENT_COLUMNS, _appointments(state, currency),
              status_fields=("status", "payment")),
        Table(SERVICE, "payments", "Payments", PAYMENT_COLUMNS, _payment_rows(state, currency), id_key="paymentKey",
              status_fields=("sourceKind",)),
        Table(SERVICE, "processor", "Processor ledger", PROCESSOR_COLUMNS, ledger, id_key="entry",
              status_fields=("kind",)),
    ]


def people(state: dict[str, Any], query: Query) -> list[PersonMatch]:
    """Clients and appointments' people (an appointment's name and email are its own) that match."""
    seen: set[tuple[str, str, str]] = set()
    found: list[PersonMatch] = []
    for row in [*state.get("clients", []), *state.get("appointments", []), *state.get("orders", [])]:
        first, last, email = str(row.get("firstName", "")), str(row.get("lastName", "")), str(row.get("email", ""))
        if (first, last, email) in seen or not query.matches(first, last, email):
            continue
        seen.add((first, last, email))
        found.append(PersonMatch(SERVICE, email, first, last, str(row.get("phone", ""))))
    return found


def customer(state: dict[str, Any], who: Who) -> list[Table]:
    """The people's client records, appointments (canceled too), payments and store orders."""
    currency = _currency(state)
    mine = {**state, "appointments": [a for a in state.get("appointments", []) if who.has_email(a.get("email"))],
            "orders": [o for o in state.get("orders", []) if who.has_email(o.get("email"))]}
    clients = [{**c, "client": _client(c)} for c in state.get("clients", []) if who.has_email(c.get("email"))]
    orders = [{**o, "client": _client(o), "currency": currency} for o in mine["orders"]]
    return [
        Table(SERVICE, "clients", "Clients", CLIENT_COLUMNS, clients, id_key="email"),
        Table(SERVICE, "appointments", "Appointments", APPOINTMENT_COLUMNS, _appointments(mine, currency),
              status_fields=("status", "payment")),
        Table(SERVICE, "payments", "Payments", PAYMENT_COLUMNS, _payment_rows(mine, currency), id_key="paymentKey",
              status_fields=("sourceKind",)),
        Table(SERVICE, "orders", "Store orders", ORDER_COLUMNS, orders),
    ]

