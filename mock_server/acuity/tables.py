"""The fake Acuity's tables. Every record belongs to one location (an Acuity account); `num` is the
integer id as a sortable column (the store's key column is text)."""

from __future__ import annotations

from typing import Any

from mock_server.acuity import models as ac
from mock_server.store import Column, TableSpec, by_location, column


def _num(record: Any) -> int:
    return int(record.id)


LOC = column("location_id", "TEXT", by_location)
NUM = column("num", "INTEGER", _num)


def _spec(kind: str, record_type: type[Any], *extra: Column, indexes: tuple[str, ...] = ()) -> TableSpec[Any]:
    return TableSpec(kind, record_type, (LOC, *extra), ("location_id", *indexes), location_scoped=True)


CALENDARS = _spec("acuity_calendars", ac.Calendar, NUM)
APPOINTMENT_TYPES = _spec("acuity_appointment_types", ac.AppointmentType, NUM)
FORMS = _spec("acuity_forms", ac.Form, NUM)
PRODUCTS = _spec("acuity_products", ac.Product, NUM)
CLIENTS = _spec("acuity_clients", ac.Client, NUM)
APPOINTMENTS = _spec(
    "acuity_appointments", ac.Appointment, NUM,
    column("start", "REAL", lambda a: a.start), column("canceled", "INTEGER", lambda a: int(a.canceled)),
    column("calendar_id", "INTEGER", lambda a: a.calendar_id),
    column("appointment_type_id", "INTEGER", lambda a: a.appointment_type_id),
    indexes=("location_id, start",))
PAYMENTS = _spec("acuity_payments", ac.AppointmentPayment,
                 column("appointment_id", "INTEGER", lambda p: p.appointment_id), column("seq", "INTEGER", lambda p: p.seq),
                 indexes=("appointment_id",))
ORDERS = _spec("acuity_orders", ac.Order, NUM, column("time", "REAL", lambda o: o.time))
CERTIFICATES = _spec("acuity_certificates", ac.Certificate, NUM)
PROCESSOR = _spec("acuity_processor", ac.ProcessorEntry, column("seq", "INTEGER", lambda e: e.seq))
GRANTS = _spec("acuity_oauth_grants", ac.OAuthGrant)
TOKENS = _spec("acuity_oauth_tokens", ac.OAuthToken)

TABLES: tuple[TableSpec[Any], ...] = (CALENDARS, APPOINTMENT_TYPES, FORMS, PRODUCTS, CLIENTS, APPOINTMENTS, PAYMENTS,
                                      ORDERS, CERTIFICATES, PROCESSOR, GRANTS, TOKENS)
# Kinds whose writes change what the Acuity API answers.
VISIBLE_KINDS = frozenset(t.kind for t in TABLES if t not in (PROCESSOR, GRANTS, TOKENS))
