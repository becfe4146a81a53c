"""Acuity's simulated actions (`POST /_sandbox/simulate/acuity.*`, design §3.3): what a client or an admin
does in Acuity's own screens (book, move, cancel, charge), a refund at the processor, a store order.
The control plane (`control.simulate`) checks bodies against contracts/sandbox-control.openapi.yaml; the
answer is the shared envelope `{action, resources, webhooks}`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from mock_server.acuity import booking_slots, queries, views
from mock_server.acuity.actions import ACTIONS
from mock_server.acuity.booking import BookingError, NewAppointment, Person, parse_datetime
from mock_server.acuity.models import (
    Appointment,
    AppointmentPayment,
    Calendar,
    Certificate,
    Order,
    ProcessorEntry,
)
from mock_server.errors import Conflict, Invalid, NotFound
from mock_server.ghl.models import Contact
from mock_server.locations import Location
from mock_server.webhooks import queries as webhook_queries
from mock_server.webhooks.models import Event
from mock_server.webhooks.queries import DeliveryFilter

if TYPE_CHECKING:
    from mock_server.acuity.world import AcuityWorld
    from mock_server.runtime import Runtime

DEFAULT_PEOPLE = (("Avery", "Quinn"), ("Jordan", "Ellis"), ("Morgan", "Reyes"), ("Riley", "Chen"), ("Casey", "Novak"),
                  ("Taylor", "Brooks"), ("Jamie", "Ortiz"), ("Drew", "Patel"))
DAY = 86400.0


@dataclass
class Outcome:
    action: str
    location_id: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _world(sb: Runtime) -> AcuityWorld:
    from mock_server.acuity.world import acuity

    return acuity(sb)


def minor(amount: Any) -> int | None:
    """Major units as JSON wrote them, rounded half-up to cents."""
    if amount is None:
        return None
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _location(sb: Runtime, data: dict[str, Any]) -> str:
    location_id = data.get("locationId")
    if location_id is None:
        return sb.first_location_id()
    if sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    return str(location_id)


def _appointment(world: AcuityWorld, data: dict[str, Any]) -> Appointment:
    if data.get("locationId") is not None and world.store.table(Location).get(data["locationId"]) is None:
        raise NotFound(f"Location {data['locationId']} not found")
    return world.booking.appointment(data.get("locationId"), int(data["appointmentId"]))


def _person(sb: Runtime, world: AcuityWorld, location_id: str, data: dict[str, Any]) -> Person:
    contact_id = data.get("contactId")
    base = Person()
    if contact_id is not None:
        contact = sb.store.table(Contact).get(contact_id)
        if contact is None or contact.location_id != location_id:
            raise NotFound(f"Contact {contact_id} not found in location {location_id}")
        base = Person(contact.first_name, contact.last_name, contact.email, contact.phone)
    else:
        n = (queries.count_of_location(world.store, Appointment, location_id)
             + queries.count_of_location(world.store, Order, location_id))
        first, last = DEFAULT_PEOPLE[n % len(DEFAULT_PEOPLE)]
        base = Person(first, last, f"{first}.{last}.{n}@example.com".lower(), "")
    return Person(first_name=data.get("firstName") or base.first_name, last_name=data.get("lastName") or base.last_name,
                  email=data.get("email") or base.email, phone=data.get("phone") or base.phone)


def _resource(world: AcuityWorld, record: Any) -> dict[str, Any]:
    if isinstance(record, Appointment):
        return {"type": "appointment", "id": record.id, "data": world.appointment_view(record)}
    if isinstance(record, AppointmentPayment):
        appt = world.booking.appointment(None, record.appointment_id)
        return {"type": "payment", "id": record.id, "data": views.payment_view(record, appt.calendar_timezone)}
    if isinstance(record, Order):
        return {"type": "order", "id": record.id, "data": world.order_view(record)}
    if isinstance(record, Certificate):
        return {"type": "certificate", "id": record.id, "data": world.certificate_view(record)}
    assert isinstance(record, ProcessorEntry)
    return {"type": "refund", "id": record.id, "data": world.processor_view(record)}


# ---- the actions -------------------------------------------------------------------------------------


def _schedule(sb: Runtime, world: AcuityWorld, data: dict[str, Any], none_before: float = 0.0) -> list[Any]:
    location_id = _location(sb, data)
    types = world.booking.types(location_id)
    if data.get("appointmentTypeID") is not None:
        appt_type = next((t for t in types if t.id == data["appointmentTypeID"]), None)
        if appt_type is None:
            raise NotFound(f"Appointment type {data['appointmentTypeID']} not found in location {location_id}")
    else:  # a paid one-to-one service, so that `pay` has something to charge
        paid = [t for t in types if t.type == "service" and t.price_minor > 0 and t.active and not t.private]
        appt_type = (paid or types or [None])[0]  # type: ignore[list-item]
        if appt_type is None:
            raise NotFound(f"Location {location_id} has no appointment types")
    calendars = [c for c in queries.of_location(world.store, Calendar, location_id) if c.id in appt_type.calendar_ids]
    if data.get("calendarID") is not None:
        calendars = [c for c in calendars if c.id == data["calendarID"]]
        if not calendars:
            raise NotFound(f"Calendar {data['calendarID']} not found or not offering type {appt_type.id}")
    if data.get("datetime") is not None:
        tz = calendars[0].timezone if calendars else "UTC"
        start = parse_datetime(str(data["datetime"]), tz)
        if start is None:
            raise Invalid("datetime must be an ISO-8601 date-time, e.g. 2026-10-05T10:00:00-0400")
    else:
        found = booking_slots.next_free(world.store, world.clock, appt_type, calendars, world.clock.now() + DAY,
                                        none_before=none_before)
        if found is None:
            raise Conflict(f"No free slot for type {appt_type.id} in the next 60 days")
        start = found[0]
        calendars = [found[1]]
    pay = data.get("pay") or "none"
    req = NewAppointment(start=start, appointment_type_id=appt_type.id, person=_person(sb, world, location_id, data),
                         calendar_id=data.get("calendarID"), certificate=data.get("certificate"))
    appt = world.booking.create(location_id, req, admin=False, pay=pay, processor=data.get("processor") or "stripe")
    payments = queries.payments_of(world.store, appt.id)
    return [appt, *payments]


def _reschedule(sb: Runtime, world: AcuityWorld, data: dict[str, Any]) -> list[Any]:
    appt = _appointment(world, data)
    if data.get("datetime") is not None:
        start = parse_datetime(str(data["datetime"]), appt.calendar_timezone)
        if start is None:
            raise Invalid("datetime must be an ISO-8601 date-time, e.g. 2026-10-05T10:00:00-0400")
    else:
        start = appt.start + DAY
    # As the admin moves it in Acuity's calendar: no availability rules (a double booking is possible).
    return [world.booking.reschedule(None, appt.id, start, admin=True)]


def _cancel(sb: Runtime, world: AcuityWorld, data: dict[str, Any]) -> list[Any]:
    appt = _appointment(world, data)
    if appt.canceled and data.get("noShow") is None:
        raise Conflict(f"Appointment {appt.id} is already canceled (cancellation is permanent)")
    return [world.booking.cancel(None, appt.id, no_show=data.get("noShow"))]


def _pay(sb: Runtime, world: AcuityWorld, data: dict[str, Any]) -> list[Any]:
    appt = _appointment(world, data)
    appt, payment = world.booking.pay(None, appt.id, data.get("kind") or "full", minor(data.get("amount")),
                                      data.get("processor") or "stripe")
    return [appt, payment]


def _refund(sb: Runtime, world: AcuityWorld, data: dict[str, Any]) -> list[Any]:
    appt = _appointment(world, data)
    return [world.booking.refund(None, appt.id, minor(data.get("amount")))]


def _order(sb: Runtime, world: AcuityWorld, data: dict[str, Any]) -> list[Any]:
    location_id = _location(sb, data)
    order, cert = world.booking.order(location_id, data.get("kind") or "package", data.get("productID"),
                                      _person(sb, world, location_id, data))
    return [order, cert]


def _schedule_many(sb: Runtime, world: AcuityWorld, data: dict[str, Any]) -> list[Any]:
    """`count` bookings in a row (a burst), each as its own `acuity.schedule` would make it, in one store
    transaction: the first refusal undoes them all."""
    count = int(data.get("count") or 1)
    if count > 1 and data.get("datetime") is not None:
        raise Invalid(f"count {count} needs no datetime: one slot cannot be booked {count} times")
    records: list[Any] = []
    taken = 0.0  # no start before the last booking's is free any more: the next search begins there
    with world.store.transaction():
        for _ in range(count):
            booked = _schedule(sb, world, data, none_before=taken)
            records += booked
            taken = booked[0].start if data.get("datetime") is None else 0.0
    return records


RUNNERS = {"acuity.schedule": _schedule_many, "acuity.reschedule": _reschedule, "acuity.cancel": _cancel,
           "acuity.pay": _pay, "acuity.refund": _refund, "acuity.order": _order}


def result_view(sb: Runtime, world: AcuityWorld, action: str, records: list[Any], events: list[Event]) -> dict[str, Any]:
    webhooks = []
    for event in events:
        deliveries = webhook_queries.deliveries(sb.store, DeliveryFilter(event_id=event.id))
        webhooks.append({"eventId": event.id, "event": event.type, "resourceId": event.resource_id,
                         "extension": event.extension,
                         "deliveries": [{"id": d.id, "webhookId": d.webhook_id, "targetId": d.target_id,
                                         "status": d.status, "chaos": d.chaos} for d in deliveries]})
    return {"action": action, "resources": [_resource(world, r) for r in records], "webhooks": webhooks}


def run(sb: Runtime, action: str, data: dict[str, Any]) -> dict[str, Any]:
    """Run one action on a body the contract's schema admitted; the answer's view. Unknown records 404; a
    change Acuity would refuse (a canceled appointment moved or paid, a taken slot) 409."""
    if action not in RUNNERS:
        raise NotFound(f"Unknown action {action}; known: {', '.join(ACTIONS)}")
    world = _world(sb)
    try:
        with world.events.collect() as events:
            records = RUNNERS[action](sb, world, data)
    except BookingError as exc:
        if exc.status == 422:
            raise Invalid(exc.message) from None
        raise Conflict(f"{exc.code}: {exc.message}") from None
    sb.webhooks.wake()
    view = result_view(sb, world, action, records, events)
    location_id = records[0].location_id if records else _location(sb, data)
    sb.bus.publish_action(view, location_id)  # the dashboard's live feed
    return view
