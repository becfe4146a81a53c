"""Store queries of the fake Acuity (the only module of the package that builds `Condition`s).
HTTP-free: handlers and the world call these with plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from mock_server.acuity.models import (
    Appointment,
    AppointmentPayment,
    AppointmentType,
    Calendar,
    Certificate,
    Client,
    Form,
    OAuthGrant,
    OAuthToken,
    Order,
    ProcessorEntry,
    Product,
)
from mock_server.ghl.models import Contact
from mock_server.store import Condition, Store

T = TypeVar("T")


class HasId(Protocol):
    id: int

ID_TYPES: tuple[type, ...] = (Appointment, AppointmentType, Calendar, Certificate, Client, Form, Order, Product)


def _loc(location_id: str) -> list[Condition]:
    return [Condition("location_id", "=", location_id)]


def of_location(store: Store, record_type: type[T], location_id: str, order: str = "num") -> list[T]:
    return store.table(record_type).all(_loc(location_id), order=order)


def by_id(store: Store, record_type: type[T], record_id: int | str) -> T | None:
    """A record by id, whichever account it belongs to (the caller checks the owner)."""
    return store.table(record_type).get(str(record_id))


def next_id(store: Store, record_type: type[HasId]) -> int:
    """A fresh integer id for a record type: above every id any account holds."""
    rows = store.table(record_type).all(order="num DESC", limit=1)
    return max((int(r.id) for r in rows), default=1000) + 1


@dataclass
class AppointmentFilter:
    """`GET /appointments` query (fact sheet §2.1), parsed."""

    min_start: float | None = None
    max_start: float | None = None  # exclusive
    calendar_id: int | None = None
    appointment_type_id: int | None = None
    canceled: str = "active"  # active | canceled | all
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    fields: dict[int, str] = field(default_factory=dict)
    ascending: bool = False
    max: int = 100


def appointments(store: Store, location_id: str, f: AppointmentFilter) -> list[Appointment]:
    where = _loc(location_id)
    if f.min_start is not None:
        where.append(Condition("start", ">=", f.min_start))
    if f.max_start is not None:
        where.append(Condition("start", "<", f.max_start))
    if f.calendar_id is not None:
        where.append(Condition("calendar_id", "=", f.calendar_id))
    if f.appointment_type_id is not None:
        where.append(Condition("appointment_type_id", "=", f.appointment_type_id))
    if f.canceled == "active":
        where.append(Condition("canceled", "=", 0))
    elif f.canceled == "canceled":
        where.append(Condition("canceled", "=", 1))
    found = store.table(Appointment).all(where, order="start")
    found.sort(key=lambda a: (a.start, a.id), reverse=not f.ascending)  # ties by id, mirrored by direction
    out: list[Appointment] = []
    for a in found:
        if f.first_name is not None and a.first_name != f.first_name:
            continue
        if f.last_name is not None and a.last_name != f.last_name:
            continue
        if f.email is not None and a.email.lower() != f.email.lower():
            continue
        if f.phone is not None and a.phone != f.phone:
            continue
        if f.fields and not all(_field_value(a, fid) == value for fid, value in f.fields.items()):
            continue
        out.append(a)
        if len(out) >= f.max:
            break
    return out


def _field_value(a: Appointment, field_id: int) -> str | None:
    for form in a.forms:
        for v in form.get("values", []):
            if v.get("fieldID") == field_id:
                return str(v.get("value", ""))
    return None


def appointments_between(store: Store, location_id: str, calendar_ids: Sequence[int], start: float,
                         end: float) -> list[Appointment]:
    """Non-canceled appointments on these calendars starting in [start - 1 day, end) (overlap is checked by
    the caller: no appointment lasts a day)."""
    return store.table(Appointment).all(
        [*_loc(location_id), Condition("canceled", "=", 0), Condition("calendar_id", "IN", list(calendar_ids)),
         Condition("start", ">=", start - 86400), Condition("start", "<", end)], order="start")


def count_of_location(store: Store, record_type: type[HasId], location_id: str) -> int:
    return store.table(record_type).count(_loc(location_id))


def all_appointments(store: Store, location_id: str) -> list[Appointment]:
    return store.table(Appointment).all(_loc(location_id), order="start")


def payments_of(store: Store, appointment_id: int) -> list[AppointmentPayment]:
    return store.table(AppointmentPayment).all([Condition("appointment_id", "=", appointment_id)], order="seq")


def payments_of_location(store: Store, location_id: str) -> list[AppointmentPayment]:
    return store.table(AppointmentPayment).all(_loc(location_id), order="seq")


def processor_entries(store: Store, location_id: str) -> list[ProcessorEntry]:
    return store.table(ProcessorEntry).all(_loc(location_id), order="seq")


def orders(store: Store, location_id: str) -> list[Order]:
    """Most recent first."""
    return store.table(Order).all(_loc(location_id), order="time DESC")


def clients(store: Store, location_id: str) -> list[Client]:
    return of_location(store, Client, location_id)


def ghl_contacts(store: Store, location_id: str) -> list[Contact]:
    """The location's GHL contacts (the seed makes Acuity clients that overlap them)."""
    return store.table(Contact).all(_loc(location_id))


def grant(store: Store, code: str) -> OAuthGrant | None:
    return store.table(OAuthGrant).get(code)


def token(store: Store, secret: str) -> OAuthToken | None:
    return store.table(OAuthToken).get(secret)
