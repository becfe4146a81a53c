"""The fake Acuity API's writes (fact sheet §2.4-2.7, §3.2): `POST /appointments`, `PUT /appointments/:id`,
`/cancel`, `/reschedule`, and the dynamic webhooks `POST/GET/DELETE /webhooks`. Thin: parse the body,
call the booking domain or the webhook registry, answer 200 with the resource in Acuity's shape. Rows of
`WRITE_TABLE` join `urls.ACUITY_TABLE`; routing, the rate limit and authentication happen there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from mock_server.acuity import views
from mock_server.acuity.booking import BookingError, Forbidden, NewAppointment, Person, parse_datetime
from mock_server.acuity.models import Appointment, AppointmentType, Calendar
from mock_server.acuity.responses import (
    AcuityError,
    Call,
    bad_request,
    flag,
    forbidden,
    json,
    not_found,
    parse_json_body,
)
from mock_server.acuity.webhooks import EVENT_TYPES, WebhookLimit, dynamic_view
from mock_server.control.webhooks import receiver_url
from mock_server.errors import Invalid, NotFound

Handler = Callable[[Call], Awaitable[Response]]


def _domain(exc: Exception) -> AcuityError:
    """A refusal of the booking domain, in Acuity's envelope."""
    if isinstance(exc, BookingError):
        return AcuityError(exc.status, exc.code, exc.message)
    if isinstance(exc, Forbidden):
        return forbidden()
    if isinstance(exc, NotFound):
        return not_found()
    return bad_request(str(exc), "invalid_request")


def _int(data: dict[str, Any], name: str, required: bool = False) -> int | None:
    """An integer field; a numeric string is taken as PHP would."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"The field {name} is required.", f"required_{_snake(name)}")
        return None
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise bad_request(f"The field {name} must be an integer.", f"invalid_{_snake(name)}")
    return int(value)


def _snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).strip("_")
    return out.replace("_i_d", "_id")


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise bad_request(f"The field {name} must be a string.", f"invalid_{_snake(name)}")
    return str(value)


def _start(data: dict[str, Any], tz: str) -> float:
    raw = data.get("datetime")
    if raw is None or raw == "":
        raise bad_request("The field datetime is required.", "required_datetime")
    start = parse_datetime(str(raw), tz) if isinstance(raw, str) else None
    if start is None:
        raise bad_request(f"The datetime {raw!r} could not be understood.", "invalid_datetime")
    return start


def _fields(data: dict[str, Any]) -> list[dict[str, Any]]:
    raw = data.get("fields")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(f, dict) and _is_int(f.get("id")) for f in raw):
        raise bad_request("The field fields must be an array of {id, value}.", "invalid_fields")
    return [{"id": int(f["id"]), "value": "" if f.get("value") is None else str(f.get("value"))} for f in raw]


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())


def _zone_for(call: Call, data: dict[str, Any]) -> str:
    """The zone a bare `datetime` is read in: the calendar's (the named one, else the type's first)."""
    store = call.world.store
    calendar_id = _int(data, "calendarID")
    if calendar_id is not None:
        calendar = store.table(Calendar).get(str(calendar_id))
        if calendar is not None:
            return calendar.timezone
    type_id = _int(data, "appointmentTypeID")
    atype = store.table(AppointmentType).get(str(type_id)) if type_id is not None else None
    if atype is not None and atype.calendar_ids:
        calendar = store.table(Calendar).get(str(atype.calendar_ids[0]))
        if calendar is not None:
            return calendar.timezone
    return call.account.timezone


async def create_appointment(call: Call) -> Response:
    """`POST /appointments[?admin=true][&noEmail=true]`. Client mode books only a free slot (the
    availability rule of `/availability/times`); admin mode skips it (double-booking is possible) and
    requires `calendarID`. `noEmail` is accepted (the sandbox sends no e-mail anyway)."""
    data = await parse_json_body(call.request)
    admin = flag(call, "admin")
    type_id = _int(data, "appointmentTypeID", required=True)
    assert type_id is not None
    timezone = _str(data, "timezone") or None
    if timezone is not None and not views.is_zone(timezone):
        raise bad_request(f"Invalid timezone {timezone!r}.", "invalid_timezone")
    labels = data.get("labels")
    req = NewAppointment(
        start=_start(data, _zone_for(call, data)), appointment_type_id=type_id,
        person=Person(_str(data, "firstName"), _str(data, "lastName"), _str(data, "email"), _str(data, "phone")),
        calendar_id=_int(data, "calendarID"), timezone=timezone, certificate=_str(data, "certificate") or None,
        notes=_str(data, "notes"), fields=_fields(data),
        addon_ids=[int(x) for x in data.get("addonIDs") or [] if _is_int(x)] if isinstance(data.get("addonIDs"), list) else [],
        labels=[x for x in labels if isinstance(x, dict)] if isinstance(labels, list) else [])
    try:
        appt = call.world.booking.create(call.location_id, req, admin)
    except (BookingError, NotFound, Invalid) as exc:
        raise _domain(exc) from None
    call.world.context.webhooks.wake()
    return json(call.world.appointment_view(appt))


async def update_appointment(call: Call) -> Response:
    """`PUT /appointments/:id`: firstName, lastName, email, phone, fields, labels, smsOptIn; `notes` and
    `certificate` with `admin=true`. Other fields are ignored."""
    appt = call.owned(Appointment, call.params["id"])
    data = await parse_json_body(call.request)
    changes: dict[str, Any] = {k: data[k] for k in ("firstName", "lastName", "email", "phone", "notes", "certificate", "fields",
                                    "labels") if k in data}
    for name in ("firstName", "lastName", "email", "phone", "notes", "certificate"):
        if changes.get(name) is not None:
            changes[name] = _str(data, name)
    if "fields" in changes:
        changes["fields"] = _fields(data)
    try:
        appt = call.world.booking.update(call.location_id, appt.id, changes, flag(call, "admin"))
    except (BookingError, NotFound, Invalid) as exc:
        raise _domain(exc) from None
    call.world.context.webhooks.wake()
    return json(call.world.appointment_view(appt))


async def cancel_appointment(call: Call) -> Response:
    """`PUT /appointments/:id/cancel` with or without a body: `cancelNote`; `noShow` with `admin=true`.
    Permanent: canceling a canceled appointment answers it as it is (only an admin's `noShow` changes)."""
    appt = call.owned(Appointment, call.params["id"])
    data = await parse_json_body(call.request, allow_empty=True)
    no_show = data.get("noShow")
    if no_show is not None and not isinstance(no_show, bool):
        raise bad_request("The field noShow must be a boolean.", "invalid_no_show")
    try:
        appt = call.world.booking.cancel(call.location_id, appt.id, _str(data, "cancelNote"),
                                         no_show if flag(call, "admin") else None)
    except (BookingError, NotFound, Invalid) as exc:
        raise _domain(exc) from None
    call.world.context.webhooks.wake()
    return json(call.world.appointment_view(appt))


async def reschedule_appointment(call: Call) -> Response:
    """`PUT /appointments/:id/reschedule` `{datetime, calendarID?}`: client mode only into a free slot
    (its own current time does not count as taken); admin mode anywhere."""
    appt = call.owned(Appointment, call.params["id"])
    data = await parse_json_body(call.request)
    calendar_id = _int(data, "calendarID")
    tz = appt.calendar_timezone
    if calendar_id is not None:
        calendar = call.world.store.table(Calendar).get(str(calendar_id))
        tz = calendar.timezone if calendar is not None else tz
    start = _start(data, tz)
    try:
        appt = call.world.booking.reschedule(call.location_id, appt.id, start, calendar_id, flag(call, "admin"))
    except (BookingError, NotFound, Invalid) as exc:
        raise _domain(exc) from None
    call.world.context.webhooks.wake()
    return json(call.world.appointment_view(appt))


# ---- dynamic webhooks -------------------------------------------------------------------------------


async def create_webhook(call: Call) -> Response:
    """`POST /webhooks {event, target}`: at most 25 per account (then 400). Acuity takes only ports 80 and
    443; the sandbox takes any http(s) URL (receivers run on loopback ports)."""
    data = await parse_json_body(call.request)
    event, target = data.get("event"), data.get("target")
    if not isinstance(event, str) or event not in EVENT_TYPES:
        raise bad_request(f"The event must be one of {', '.join(EVENT_TYPES)}.", "invalid_event")
    try:
        url = receiver_url(target)
    except Invalid:
        raise bad_request("The target must be an http:// or https:// URL.", "invalid_target") from None
    # Sandbox extension: which `action` names its deliveries carry (Acuity's own choice is unverified).
    style = data.get("actionStyle")
    if style is not None and style not in ("short", "full"):
        raise bad_request("The actionStyle must be short or full.", "invalid_action_style")
    try:
        hook = call.world.hooks.add_dynamic(call.location_id, event, url, style)
    except WebhookLimit as exc:
        raise bad_request(str(exc), "too_many_webhooks") from None
    return json(dynamic_view(hook))


async def list_webhooks(call: Call) -> Response:
    return json([dynamic_view(t) for t in call.world.hooks.dynamic(call.location_id)])


async def delete_webhook(call: Call) -> Response:
    """`DELETE /webhooks/:id`: 204 with no body (Acuity's answer is unverified)."""
    try:
        call.world.hooks.remove_dynamic(call.location_id, call.params["id"])
    except NotFound:
        raise not_found() from None
    return Response(status_code=204)


WRITE_TABLE: list[tuple[str, str, Handler]] = [
    ("POST", "/appointments", create_appointment),
    ("PUT", "/appointments/{id:number}", update_appointment),
    ("PUT", "/appointments/{id:number}/cancel", cancel_appointment),
    ("PUT", "/appointments/{id:number}/reschedule", reschedule_appointment),
    ("POST", "/webhooks", create_webhook),
    ("GET", "/webhooks", list_webhooks),
    ("DELETE", "/webhooks/{id:number}", delete_webhook),
]
