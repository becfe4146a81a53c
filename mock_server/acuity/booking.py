"""The fake Acuity's writes, HTTP-free: book, edit, cancel, reschedule, take a payment, refund at the
processor, sell a package or gift certificate. Every change is one store transaction together with the
webhook events it fires (design §3.1):

    book        appointment.scheduled + appointment.changed
    reschedule  appointment.rescheduled + appointment.changed
    cancel      appointment.canceled + appointment.changed
    edit / pay  appointment.changed
    order       order.completed
    refund      nothing (the processor's ledger only: Acuity never shows refunds)

Refusals are `BookingError`s carrying Acuity's error code (`not_available`, `invalid_name`, ...); the API
renders them in Acuity's envelope, the control plane as a 409."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mock_server.acuity import booking_slots as slots
from mock_server.acuity import queries
from mock_server.acuity import tables as acuity_tables
from mock_server.acuity.models import (
    PROCESSORS,
    Appointment,
    AppointmentPayment,
    AppointmentType,
    Calendar,
    Certificate,
    Client,
    Form,
    Order,
    ProcessorEntry,
    Product,
)
from mock_server.acuity.views import zone
from mock_server.acuity.webhooks import CANCELED, CHANGED, ORDER_COMPLETED, RESCHEDULED, SCHEDULED
from mock_server.clock import SandboxClock
from mock_server.errors import Conflict, NotFound
from mock_server.ids import IdFactory
from mock_server.store import Store
from mock_server.webhooks.events import EventLog

APPOINTMENTS_KIND = acuity_tables.APPOINTMENTS.kind
ORDERS_KIND = acuity_tables.ORDERS.kind
PAY_KINDS = ("full", "deposit", "tip")
DEPOSIT_PERCENT = 30  # a deposit without an amount: 30 % of the price
TIP_PERCENT = 20  # a tip without an amount: 20 % of the price (Acuity allows up to 50 %)


class BookingError(Conflict):
    """Acuity refused the change: `code` is its `error` (fact sheet §1.4), `status` its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class Forbidden(NotFound):
    """The record exists but belongs to another account (Acuity: 403 `forbidden`)."""


@dataclass
class Person:
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""


@dataclass
class NewAppointment:
    """`POST /appointments` (fact sheet §2.4), parsed."""

    start: float
    appointment_type_id: int
    person: Person
    calendar_id: int | None = None
    timezone: str | None = None
    certificate: str | None = None
    notes: str = ""
    fields: list[dict[str, Any]] = field(default_factory=list)
    addon_ids: list[int] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    scheduled_by: str | None = None


LATEST = datetime(3000, 1, 1).timestamp()
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(text: str, tz: str) -> float | None:
    """An ISO-8601 date-time (`2026-10-01T09:00:00-0400`, with or without a colon in the offset, `Z`,
    or none: then in `tz`, as Acuity reads a bare time in the calendar's zone). None when unreadable."""
    found = _ISO.match(text.strip())
    if found is None:
        return None
    day, hour, minute, second, offset = found.groups()
    try:
        local = datetime.fromisoformat(f"{day}T{int(hour):02d}:{minute}:{second or '00'}")
    except ValueError:
        return None
    if offset is None:
        ts = local.replace(tzinfo=zone(tz)).timestamp()
    else:
        if offset == "Z":
            offset = "+00:00"
        elif ":" not in offset:
            offset = f"{offset[:3]}:{offset[3:]}"
        try:
            ts = datetime.fromisoformat(f"{local.isoformat()}{offset}").timestamp()
        except ValueError:
            return None
    # Years 1970 to 2999 only: every later rendering (end time, human date in any zone) stays printable.
    return ts if 0 <= ts < LATEST else None


class Booking:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory, events: EventLog) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self.events = events

    # ---- lookups --------------------------------------------------------------------------------

    def appointment(self, location_id: str | None, appointment_id: int) -> Appointment:
        """The appointment; `location_id` None: whichever account holds it."""
        found = queries.by_id(self.store, Appointment, appointment_id)
        if found is None:
            raise NotFound(f"Appointment {appointment_id} not found")
        if location_id is not None and found.location_id != location_id:
            raise Forbidden(f"Appointment {appointment_id} belongs to another account")
        return found

    def _type(self, location_id: str, type_id: int) -> AppointmentType:
        found = queries.by_id(self.store, AppointmentType, type_id)
        if found is None or found.deleted:
            raise BookingError("invalid_appointment_type", f"The appointment type {type_id} does not exist.")
        if found.location_id != location_id:
            raise BookingError("forbidden", "Forbidden", 403)
        return found

    def _calendar(self, location_id: str, calendar_id: int) -> Calendar:
        found = queries.by_id(self.store, Calendar, calendar_id)
        if found is None:
            raise BookingError("invalid_calendar", f"The calendar {calendar_id} does not exist.")
        if found.location_id != location_id:
            raise BookingError("forbidden", "Forbidden", 403)
        return found

    def types(self, location_id: str) -> list[AppointmentType]:
        return [t for t in queries.of_location(self.store, AppointmentType, location_id) if not t.deleted]

    # ---- seq counters (meta, so they go with a reset) -----------------------------------------

    def _seq(self, name: str) -> int:
        key = f"acuity_seq:{name}"
        value = int(self.store.get_meta(key) or 1_000_000) + 1
        self.store.set_meta(key, value)
        return value

    def transaction_id(self, processor: str) -> str:
        if processor == "stripe":
            return self.ids.provider_ref("pi_", 24)
        if processor == "square":
            return self.ids.provider_ref("", 26)
        return self.ids.provider_ref("", 17).upper()

    # ---- book ---------------------------------------------------------------------------------------

    def create(self, location_id: str, req: NewAppointment, admin: bool, pay: str = "none",
               processor: str = "stripe") -> Appointment:
        """Book; `pay` "full" or "deposit" charges at booking (the simulator's client paying online), in the
        same transaction and with no event beyond the booking's own."""
        appt_type = self._type(location_id, req.appointment_type_id)
        if not req.person.first_name.strip() or not req.person.last_name.strip():
            raise BookingError("invalid_name", "A first and last name are required.")
        if not admin and not req.person.email.strip():
            raise BookingError("invalid_email", "An email address is required.")
        if admin:
            if req.calendar_id is None:
                raise BookingError("required_calendar", "A calendarID is required when booking as an admin.")
            calendar = self._calendar(location_id, req.calendar_id)
        else:
            calendar = self._bookable_calendar(location_id, appt_type, req.calendar_id, req.start)
        with self.store.transaction():
            cert = self._redeem(location_id, req.certificate, appt_type, req.person.email) if req.certificate else None
            now = self.clock.now()
            appt = Appointment(
                id=queries.next_id(self.store, Appointment), location_id=location_id,
                first_name=req.person.first_name.strip(), last_name=req.person.last_name.strip(),
                email=req.person.email.strip(), phone=req.person.phone.strip(), start=req.start,
                duration=appt_type.duration, created_at=now, appointment_type_id=appt_type.id,
                type_name=appt_type.name, category=appt_type.category, calendar_id=calendar.id,
                calendar_name=calendar.name, price_minor=appt_type.price_minor, price_sold_minor=appt_type.price_minor,
                addon_ids=list(req.addon_ids), location=calendar.location,
                notes=req.notes if admin else "", timezone=req.timezone or calendar.timezone,
                calendar_timezone=calendar.timezone, labels=list(req.labels[:1]),
                forms=self._forms(location_id, appt_type, req.fields),
                scheduled_by=req.scheduled_by or (calendar.email.split(",")[0].strip() or None if admin else None),
                updated_at=now)
            if cert is not None:
                self._apply_certificate(appt, cert)
            elif appt.price_minor == 0:
                appt.paid = True
            elif pay in ("full", "deposit"):
                self._charge(appt, pay, None, processor)
            self._remember_client(location_id, req.person)
            self.store.table(Appointment).put(appt)
            self.events.record(SCHEDULED, APPOINTMENTS_KIND, appt)
            self.events.record(CHANGED, APPOINTMENTS_KIND, appt)
        return appt

    def _bookable_calendar(self, location_id: str, appt_type: AppointmentType, calendar_id: int | None,
                           start: float) -> Calendar:
        if calendar_id is not None:
            calendar = self._calendar(location_id, calendar_id)
            if calendar.id not in appt_type.calendar_ids or not slots.is_free(self.store, self.clock, appt_type,
                                                                               calendar, start):
                raise BookingError("not_available", "The time you have selected is not available.")
            return calendar
        candidates = [c for c in queries.of_location(self.store, Calendar, location_id) if c.id in appt_type.calendar_ids]
        for calendar in candidates:
            if slots.is_free(self.store, self.clock, appt_type, calendar, start):
                return calendar
        raise BookingError("no_available_calendar", "We could not find an available calendar.")

    def _forms(self, location_id: str, appt_type: AppointmentType, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not answers:
            return []
        values = {int(a["id"]): str(a.get("value", "")) for a in answers}
        out: list[dict[str, Any]] = []
        for form_id in appt_type.form_ids:
            form = queries.by_id(self.store, Form, form_id)
            if form is None or form.location_id != location_id:
                continue
            vals = [{"id": self._seq("form_value"), "fieldID": f["id"], "name": f["name"], "value": values[f["id"]]}
                    for f in form.fields if f["id"] in values]
            if vals:
                out.append({"id": form.id, "name": form.name, "values": vals})
        return out

    def _remember_client(self, location_id: str, person: Person) -> None:
        """Acuity keeps a client list keyed by name (+ phone); a new booker joins it."""
        for c in queries.clients(self.store, location_id):
            if (c.first_name, c.last_name) == (person.first_name.strip(), person.last_name.strip()) and (
                    c.email.lower() == person.email.strip().lower() or (person.phone and c.phone == person.phone)):
                return
        self.store.table(Client).put(Client(
            id=queries.next_id(self.store, Client), location_id=location_id, first_name=person.first_name.strip(),
            last_name=person.last_name.strip(), email=person.email.strip(), phone=person.phone.strip(),
            created_at=self.clock.now()))

    # ---- certificates -----------------------------------------------------------------------------

    def _redeem(self, location_id: str, code: str, appt_type: AppointmentType, email: str) -> Certificate:
        cert = next((c for c in queries.of_location(self.store, Certificate, location_id)
                     if c.certificate.upper() == code.strip().upper()), None)
        if cert is None:
            raise BookingError("invalid_certificate", f"The certificate {code} is not valid.")
        if cert.expiration and cert.expiration < self._today(location_id):
            raise BookingError("expired_certificate", f"The certificate {code} has expired.")
        if cert.appointment_type_ids and appt_type.id not in cert.appointment_type_ids:
            raise BookingError("invalid_certificate_type", f"The certificate {code} is not valid for this appointment type.")
        if cert.type == "appointments" and int(cert.remaining_counts.get(str(appt_type.id), 0)) <= 0:
            raise BookingError("certificate_uses", f"The certificate {code} has no uses left.")
        if cert.type == "minutes" and (cert.remaining_minutes or 0) < appt_type.duration:
            raise BookingError("certificate_uses", f"The certificate {code} has no minutes left.")
        if cert.type == "value" and (cert.remaining_value_minor or 0) <= 0:
            raise BookingError("certificate_uses", f"The certificate {code} has no value left.")
        return cert

    def _apply_certificate(self, appt: Appointment, cert: Certificate) -> None:
        appt.certificate = cert.certificate
        if cert.type == "appointments":
            key = str(appt.appointment_type_id)
            cert.remaining_counts = {**cert.remaining_counts, key: int(cert.remaining_counts.get(key, 0)) - 1}
            appt.paid = True
        elif cert.type == "minutes":
            cert.remaining_minutes = (cert.remaining_minutes or 0) - appt.duration
            appt.paid = True
        else:
            covered = min(cert.remaining_value_minor or 0, appt.price_minor)
            cert.remaining_value_minor = (cert.remaining_value_minor or 0) - covered
            appt.paid = covered >= appt.price_minor
        self.store.table(Certificate).put(cert)

    def _today(self, location_id: str) -> str:
        tz = next((c.timezone for c in queries.of_location(self.store, Calendar, location_id)), "UTC")
        return datetime.fromtimestamp(self.clock.now(), zone(tz)).date().isoformat()

    # ---- edit -------------------------------------------------------------------------------------

    def update(self, location_id: str, appointment_id: int, changes: dict[str, Any], admin: bool) -> Appointment:
        """`PUT /appointments/:id`: the whitelisted fields (fact sheet §2.5); others are ignored."""
        appt = self.appointment(location_id, appointment_id)
        for name, attr in (("firstName", "first_name"), ("lastName", "last_name")):
            if name in changes:
                value = str(changes[name] or "").strip()
                if not value:
                    raise BookingError("invalid_name", f'Can not clear the field "{name}".')
                setattr(appt, attr, value)
        if "email" in changes:
            value = str(changes["email"] or "").strip()
            if not value and not admin:
                raise BookingError("invalid_email", 'Can not clear the field "email".')
            appt.email = value
        if "phone" in changes:
            appt.phone = str(changes["phone"] or "").strip()
        if admin and "notes" in changes:
            appt.notes = str(changes["notes"] or "")
        if "labels" in changes and isinstance(changes["labels"], list):
            appt.labels = [dict(x) for x in changes["labels"][:1] if isinstance(x, dict)]
        with self.store.transaction():
            if admin and "certificate" in changes:
                code = changes["certificate"]
                if code:
                    cert = self._redeem(location_id, str(code), self._type(location_id, appt.appointment_type_id),
                                        appt.email)
                    self._apply_certificate(appt, cert)
                else:
                    appt.certificate = None
            if "fields" in changes and isinstance(changes["fields"], list):
                appt_type = queries.by_id(self.store, AppointmentType, appt.appointment_type_id)
                if appt_type is not None:
                    merged = self._forms(location_id, appt_type, changes["fields"])
                    if merged:
                        appt.forms = merged
            self._changed(appt)
        return appt

    def _changed(self, appt: Appointment, *first: str) -> None:
        appt.updated_at = self.clock.now()
        self.store.table(Appointment).put(appt)
        for event_type in first:
            self.events.record(event_type, APPOINTMENTS_KIND, appt)
        self.events.record(CHANGED, APPOINTMENTS_KIND, appt)

    # ---- cancel / reschedule ----------------------------------------------------------------------

    def cancel(self, location_id: str | None, appointment_id: int, cancel_note: str = "",
               no_show: bool | None = None) -> Appointment:
        """Permanent: a canceled appointment stays canceled. Canceling it again only sets `noShow`."""
        appt = self.appointment(location_id, appointment_id)
        with self.store.transaction():
            if appt.canceled:
                if no_show is not None and no_show != appt.no_show:
                    appt.no_show = no_show
                    self._changed(appt)
                return appt
            appt.canceled = True
            appt.canceled_at = self.clock.now()
            appt.no_show = bool(no_show)
            if cancel_note:
                appt.notes = f"{appt.notes}\n{cancel_note}".strip() if appt.notes else cancel_note
            self._changed(appt, CANCELED)
        return appt

    def reschedule(self, location_id: str | None, appointment_id: int, start: float,
                   calendar_id: int | None = None, admin: bool = False) -> Appointment:
        appt = self.appointment(location_id, appointment_id)
        if appt.canceled:
            raise BookingError("appointment_canceled", "A canceled appointment can not be rescheduled.")
        appt_type = queries.by_id(self.store, AppointmentType, appt.appointment_type_id)
        calendar = self._calendar(appt.location_id, calendar_id if calendar_id is not None else appt.calendar_id)
        if not admin and appt_type is not None and not slots.is_free(self.store, self.clock, appt_type, calendar, start,
                                                                     ignore=(appt.id,)):
            raise BookingError("not_available", "The time you have selected is not available.")
        with self.store.transaction():
            appt.rescheduled_from = appt.start
            appt.rescheduled_at = self.clock.now()
            appt.start = start
            appt.calendar_id, appt.calendar_name, appt.calendar_timezone = calendar.id, calendar.name, calendar.timezone
            self._changed(appt, RESCHEDULED)
        return appt

    # ---- money --------------------------------------------------------------------------------------

    def pay(self, location_id: str | None, appointment_id: int, kind: str = "full", amount_minor: int | None = None,
            processor: str = "stripe") -> tuple[Appointment, AppointmentPayment]:
        """A payment taken later (admin charge): a new transaction, `amountPaid` moves, `paid` is "yes" once
        it covers the price. `deposit` (default 30 % of the price) leaves `paid` "no"; `tip` pays the balance
        plus a tip (default 20 % of the price), so `amountPaid` ends above the price."""
        appt = self.appointment(location_id, appointment_id)
        if appt.canceled:
            raise BookingError("appointment_canceled", "A canceled appointment can not be paid.")
        with self.store.transaction():
            payment = self._charge(appt, kind, amount_minor, processor)
            self._changed(appt)
        return appt, payment

    def _charge(self, appt: Appointment, kind: str, amount_minor: int | None, processor: str) -> AppointmentPayment:
        if processor not in PROCESSORS:
            raise BookingError("invalid_processor", f"processor must be one of {', '.join(PROCESSORS)}", 422)
        balance = max(appt.price_minor - appt.amount_paid_minor, 0)
        if kind == "tip":
            tip = amount_minor if amount_minor is not None else max(appt.price_minor * TIP_PERCENT // 100, 100)
            amount = balance + tip
        elif kind == "deposit":
            amount = amount_minor if amount_minor is not None else appt.price_minor * DEPOSIT_PERCENT // 100
            if amount >= balance:
                raise BookingError("deposit_too_large", "A deposit must be less than the balance.")
        else:
            amount = amount_minor if amount_minor is not None else balance
        if amount <= 0:
            raise BookingError("nothing_to_pay", "Nothing to pay: the appointment is paid in full.")
        txn = self.transaction_id(processor)
        payment = AppointmentPayment(id=txn, location_id=appt.location_id, appointment_id=appt.id,
                                     created=self.clock.now(), processor=processor, amount_minor=amount,
                                     seq=self._seq("payment"))
        self.store.table(AppointmentPayment).put(payment)
        self._ledger("charge", appt.location_id, amount, processor, txn, txn, appointment_id=appt.id)
        appt.amount_paid_minor += amount
        appt.paid = appt.amount_paid_minor >= appt.price_minor
        return payment

    def refund(self, location_id: str | None, appointment_id: int,
               amount_minor: int | None = None) -> ProcessorEntry:
        """At the processor only (Acuity cannot refund, and shows nothing of it): a ledger entry, no event."""
        appt = self.appointment(location_id, appointment_id)
        entries = [e for e in queries.processor_entries(self.store, appt.location_id) if e.appointment_id == appt.id]
        charged = sum(e.amount_minor for e in entries if e.kind == "charge")
        refunded = sum(e.amount_minor for e in entries if e.kind == "refund")
        left = charged - refunded
        if left <= 0:
            raise BookingError("nothing_to_refund", "Nothing to refund: no charge left on this appointment.")
        amount = left if amount_minor is None else amount_minor
        if not 0 < amount <= left:
            raise BookingError("refund_too_large", f"A refund must be more than 0 and at most {left / 100:.2f}.")
        charge = next(e for e in reversed(entries) if e.kind == "charge")
        with self.store.transaction():
            return self._ledger("refund", appt.location_id, amount, charge.processor,
                                self.ids.provider_ref("re_", 24) if charge.processor == "stripe"
                                else self.transaction_id(charge.processor),
                                charge.transaction_id, appointment_id=appt.id)

    def _ledger(self, kind: str, location_id: str, amount: int, processor: str, entry_id: str, transaction_id: str,
                appointment_id: int | None = None, order_id: int | None = None) -> ProcessorEntry:
        entry = ProcessorEntry(id=entry_id, location_id=location_id, kind=kind, amount_minor=amount, processor=processor,
                               transaction_id=transaction_id, created=self.clock.now(), appointment_id=appointment_id,
                               order_id=order_id, seq=self._seq("ledger"))
        self.store.table(ProcessorEntry).put(entry)
        return entry

    # ---- store orders -------------------------------------------------------------------------------

    def order(self, location_id: str, kind: str, product_id: int | None, person: Person,
              processor: str = "stripe") -> tuple[Order, Certificate]:
        """A package or gift certificate bought in the store, paid in full: an order (status paid) and the
        certificate it issues; fires `order.completed`."""
        products = [p for p in queries.of_location(self.store, Product, location_id) if not p.deleted]
        if product_id is not None:
            product = next((p for p in products if p.id == product_id), None)
            if product is None:
                raise NotFound(f"Product {product_id} not found in this account")
        else:
            wanted = "gift" if kind == "gift" else "package"
            product = next((p for p in products if p.kind == wanted), None)
            if product is None:
                raise NotFound(f"This account sells no {wanted} product")
        with self.store.transaction():
            now = self.clock.now()
            txn = self.transaction_id(processor)
            order = Order(id=queries.next_id(self.store, Order), location_id=location_id, total_minor=product.price_minor,
                          status="paid", time=now, first_name=person.first_name, last_name=person.last_name,
                          email=person.email, phone=person.phone, title=product.name, product_ids=[product.id],
                          processor=processor, transaction_id=txn)
            self.store.table(Order).put(order)
            expiration = None
            if product.expires:
                expiration = (date.fromisoformat(self._today(location_id)) + timedelta(days=product.expires)).isoformat()
            gift = product.kind == "gift" or product.type == "product"
            cert = Certificate(
                id=queries.next_id(self.store, Certificate), location_id=location_id,
                certificate=self.ids.provider_ref("", 8).upper(), product_id=product.id, order_id=order.id,
                appointment_type_ids=list(product.appointment_type_ids), name=product.name, email=person.email,
                type="value" if gift else ("minutes" if product.type == "minutes" else "appointments"),
                remaining_counts={} if gift else dict(product.appointment_type_counts),
                remaining_minutes=product.minutes if product.type == "minutes" else None,
                remaining_value_minor=product.price_minor if gift else None, expiration=expiration)
            self.store.table(Certificate).put(cert)
            self._ledger("charge", location_id, product.price_minor, processor, txn, txn, order_id=order.id)
            self.events.record(ORDER_COMPLETED, ORDERS_KIND, order)
        return order, cert
