"""Thin Starlette handlers of the fake Acuity API: parse the query, ask `queries`, answer with `views`.
Routing, rate limiting and authentication happen once in `urls.dispatch`; a handler gets a `Call`.
Errors are Acuity's own envelope `{"status_code", "message", "error"}` (fact sheet §1.4)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mock_server import jsjson
from mock_server.acuity import queries, views
from mock_server.acuity.models import (
    AcuityAccount,
    Appointment,
    AppointmentType,
    Calendar,
    Certificate,
    Form,
    OAuthGrant,
    OAuthToken,
    Order,
    Product,
)
from mock_server.acuity.world import AcuityWorld, acuity
from mock_server.http.context import runtime_of
from mock_server.locations import Location

JSON = "application/json"
T = TypeVar("T")
SCOPE = "api-v1"
# Webhook source ranges (`GET /meta`): documentation ranges, the sandbox sends from loopback.
HOOK_RANGES = ("127.0.0.1/32", "192.0.2.0/24")


class AcuityError(Exception):
    """Answered as `{"status_code", "message", "error"}` with that status."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}

    def response(self) -> Response:
        return json({"status_code": self.status, "message": self.message, "error": self.error}, self.status,
                    self.headers)


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(jsjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def unauthorized() -> AcuityError:
    return AcuityError(401, "unauthorized", "Unauthorized", {"WWW-Authenticate": 'Basic realm="Acuity Scheduling"'})


def forbidden() -> AcuityError:
    return AcuityError(403, "forbidden", "Forbidden")


def not_found(hint: str | None = None) -> AcuityError:
    return AcuityError(404, "not_found", f"Not Found. Did you mean `{hint}`?" if hint else "Not Found")


def bad_request(message: str = "Expected a JSON object.", error: str = "bad_request") -> AcuityError:
    return AcuityError(400, error, message)


async def parse_json_body(request: Request, allow_empty: bool = False) -> dict[str, Any]:
    """The JSON object the request carries (`{}` for an empty body when `allow_empty`, as `/cancel`
    takes); otherwise 400 `bad_request` "Expected a JSON object."."""
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return {}
        raise bad_request()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request() from None
    if not isinstance(data, dict):
        if allow_empty and data == []:  # the PHP SDK sends `[]` for "no data"
            return {}
        raise bad_request()
    return data


@dataclass
class Call:
    """One authenticated API call: the request, the world, the caller's account, the path's numbers."""

    request: Request
    world: AcuityWorld
    account: AcuityAccount
    params: dict[str, int] = field(default_factory=dict)

    @property
    def location_id(self) -> str:
        return self.account.location_id

    @property
    def query(self) -> Any:
        return self.request.query_params

    def owned(self, record_type: type[T], record_id: int) -> T:
        """The caller's record: 404 when no account has it, 403 when another account does."""
        record = queries.by_id(self.world.store, record_type, record_id)
        if record is None:
            raise not_found()
        if getattr(record, "location_id", None) != self.location_id:
            raise forbidden()
        return record


def world_of(request: Request) -> AcuityWorld:
    return acuity(runtime_of(request))


# ---- query parsing ----------------------------------------------------------------------------------

TRUE = ("true", "1", "yes", "on")


def flag(call: Call, name: str) -> bool:
    return (call.query.get(name) or "").strip().lower() in TRUE


def integer(call: Call, name: str, minimum: int = 0) -> int | None:
    raw = call.query.get(name)
    if raw is None or raw == "":
        return None
    raw = raw.strip()
    if not re.fullmatch(r"-?\d{1,12}", raw) or int(raw) < minimum:
        raise bad_request(f"Invalid value for {name}: expected an integer"
                          + (f" of at least {minimum}." if minimum else "."), "invalid_parameter")
    return int(raw)


DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def instant(raw: str, tz: str, name: str, end_of_day: bool) -> float:
    """A `minDate`/`maxDate` value (strtotime-like: a date, or a date and time with or without an offset),
    read in the account's zone. A bare date as `maxDate` covers that whole day."""
    text = raw.strip()
    try:
        if DATE_ONLY.fullmatch(text):
            day = date.fromisoformat(text)
            if end_of_day:
                day += timedelta(days=1)
            return datetime(day.year, day.month, day.day, tzinfo=views.zone(tz)).timestamp()
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%B %d, %Y")
        except ValueError:
            raise bad_request(f"Invalid date for {name}: {raw!r}.", "invalid_parameter") from None
        if end_of_day:
            parsed += timedelta(days=1)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=views.zone(tz))
    return parsed.timestamp() + (0.001 if end_of_day and not DATE_ONLY.fullmatch(text) else 0.0)


def appointment_filter(call: Call) -> queries.AppointmentFilter:
    q = call.query
    tz = call.account.timezone
    f = queries.AppointmentFilter()
    f.max = integer(call, "max", 1) or 100
    if q.get("minDate"):
        f.min_start = instant(q["minDate"], tz, "minDate", end_of_day=False)
    if q.get("maxDate"):
        f.max_start = instant(q["maxDate"], tz, "maxDate", end_of_day=True)
    f.calendar_id = integer(call, "calendarID")
    f.appointment_type_id = integer(call, "appointmentTypeID")
    if flag(call, "showall"):
        f.canceled = "all"
    elif flag(call, "canceled"):
        f.canceled = "canceled"
    for name in ("firstName", "lastName", "email", "phone"):
        value = q.get(name)
        if value is not None and value != "":
            setattr(f, {"firstName": "first_name", "lastName": "last_name"}.get(name, name), value)
    for key, value in q.multi_items():
        if key.startswith("field:"):
            fid = key[len("field:"):]
            if not fid.isdigit():
                raise bad_request(f"Invalid form field filter {key!r}.", "invalid_parameter")
            f.fields[int(fid)] = value
    direction = (q.get("direction") or "DESC").strip().upper()
    if direction not in ("ASC", "DESC"):
        raise bad_request("direction must be ASC or DESC.", "invalid_parameter")
    f.ascending = direction == "ASC"
    return f


# ---- appointments -----------------------------------------------------------------------------------


async def list_appointments(call: Call) -> Response:
    found = queries.appointments(call.world.store, call.location_id, appointment_filter(call))
    exclude = flag(call, "excludeForms")
    return json([views.appointment_view(a, call.account, exclude) for a in found])


async def get_appointment(call: Call) -> Response:
    appt = call.owned(Appointment, call.params["id"])
    return json(views.appointment_view(appt, call.account))  # pastFormAnswers: accepted, nothing older to add


async def appointment_payments(call: Call) -> Response:
    appt = call.owned(Appointment, call.params["id"])
    return json(call.world.payments_view(appt))


# ---- account resources -------------------------------------------------------------------------------


async def list_clients(call: Call) -> Response:
    search = (call.query.get("search") or "").strip().lower()
    found = queries.clients(call.world.store, call.location_id)
    if search:
        found = [c for c in found if search in c.first_name.lower() or search in c.last_name.lower()
                 or search in f"{c.first_name} {c.last_name}".lower() or (c.phone and search in c.phone.lower())]
    found.sort(key=lambda c: (c.last_name.lower(), c.first_name.lower(), c.id))
    return json([views.client_view(c) for c in found])


async def list_appointment_types(call: Call) -> Response:
    types = queries.of_location(call.world.store, AppointmentType, call.location_id)
    if not flag(call, "includeDeleted"):
        types = [t for t in types if not t.deleted]
    return json([views.appointment_type_view(t) for t in types])


async def list_calendars(call: Call) -> Response:
    return json([views.calendar_view(c) for c in queries.of_location(call.world.store, Calendar, call.location_id)])


async def list_orders(call: Call) -> Response:
    found = queries.orders(call.world.store, call.location_id)
    limit = integer(call, "max", 1)
    if limit is not None:
        found = found[:limit]
    return json([views.order_view(o, call.account.timezone) for o in found])


async def get_order(call: Call) -> Response:
    return json(views.order_view(call.owned(Order, call.params["id"]), call.account.timezone))


async def list_certificates(call: Call) -> Response:
    certs = queries.of_location(call.world.store, Certificate, call.location_id)
    product_id, order_id = integer(call, "productID"), integer(call, "orderID")
    type_id = integer(call, "appointmentTypeID")
    email = (call.query.get("email") or "").strip().lower()
    certs = [c for c in certs if (product_id is None or c.product_id == product_id)
             and (order_id is None or c.order_id == order_id)
             and (type_id is None or type_id in c.appointment_type_ids)
             and (not email or c.email.lower() == email)]
    return json([call.world.certificate_view(c) for c in certs])


async def list_products(call: Call) -> Response:
    products = queries.of_location(call.world.store, Product, call.location_id)
    if not flag(call, "deleted"):
        products = [p for p in products if not p.deleted]
    return json([views.product_view(p) for p in products])


async def list_forms(call: Call) -> Response:
    return json([views.form_view(f) for f in queries.of_location(call.world.store, Form, call.location_id)])


async def me(call: Call) -> Response:
    location = call.world.store.table(Location).get(call.location_id)
    name = location.name if location else ""
    email = location.email if location else ""
    return json(views.me_view(call.account, name, email))


async def meta(request: Request) -> Response:
    """`GET /meta`: unauthenticated."""
    return json({"hooks": list(HOOK_RANGES)})


# ---- availability -----------------------------------------------------------------------------------

SLOT_STEP_MIN = 30


def _type_and_calendars(call: Call) -> tuple[AppointmentType, list[Calendar]]:
    type_id = integer(call, "appointmentTypeID")
    if type_id is None:
        raise bad_request("appointmentTypeID is required.", "required_appointment_type_id")
    atype = queries.by_id(call.world.store, AppointmentType, type_id)
    if atype is None or atype.deleted:
        raise bad_request(f"Appointment type {type_id} does not exist.", "invalid_appointment_type")
    if atype.location_id != call.location_id:
        raise forbidden()
    calendars = [c for c in queries.of_location(call.world.store, Calendar, call.location_id)
                 if c.id in atype.calendar_ids]
    calendar_id = integer(call, "calendarID")
    if calendar_id is not None:
        calendars = [c for c in calendars if c.id == calendar_id]
        if not calendars:
            raise bad_request(f"Calendar {calendar_id} does not offer appointment type {type_id}.",
                              "invalid_calendar")
    return atype, calendars


def _display_zone(call: Call, calendars: list[Calendar]) -> str:
    raw = call.query.get("timezone")
    if raw:
        if not views.is_zone(raw):
            raise bad_request(f"Invalid timezone {raw!r}.", "invalid_timezone")
        return raw
    return calendars[0].timezone if calendars else call.account.timezone


def _ignored(call: Call) -> set[int]:
    out: set[int] = set()
    for key, value in call.query.multi_items():
        if key in ("ignoreAppointmentIDs[]", "ignoreAppointmentIDs") and value.strip().isdigit():
            out.add(int(value))
    return out


def open_slots(call: Call, atype: AppointmentType, calendars: list[Calendar], start: float,
               end: float) -> list[tuple[float, int]]:
    """(slot start, free calendars) for slots starting in [start, end): inside each calendar's working
    hours, not overlapping a non-canceled appointment, not in the past of the sandbox clock."""
    if not calendars:
        return []
    now = call.world.clock.now()
    length = atype.duration * 60
    busy: dict[int, list[tuple[float, float]]] = {}
    ignored = _ignored(call)
    for a in queries.appointments_between(call.world.store, call.location_id, [c.id for c in calendars], start,
                                          end + length):
        if a.id not in ignored:
            busy.setdefault(a.calendar_id, []).append((a.start, a.start + a.duration * 60))
    free: dict[float, int] = {}
    for cal in calendars:
        tz = views.zone(cal.timezone)
        day = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end, tz).date() + timedelta(days=1)
        while day <= last:
            if day.weekday() in cal.work_days:
                opening = datetime(day.year, day.month, day.day, cal.work_start_hour, tzinfo=tz).timestamp()
                closing = datetime(day.year, day.month, day.day, cal.work_end_hour, tzinfo=tz).timestamp()
                t = opening
                while t + length <= closing:
                    if start <= t < end and t > now and not any(
                            b0 < t + length and t < b1 for b0, b1 in busy.get(cal.id, ())):
                        free[t] = free.get(t, 0) + 1
                    t += SLOT_STEP_MIN * 60
            day += timedelta(days=1)
    return sorted(free.items())


MONTH = re.compile(r"(\d{4})-(\d{1,2})(?:-\d{1,2})?")


async def availability_dates(call: Call) -> Response:
    raw = (call.query.get("month") or "").strip()
    if not raw:
        raise bad_request("month is required.", "required_month")
    found = MONTH.fullmatch(raw)
    if found is None or not 1 <= int(found[2]) <= 12:
        raise bad_request(f"Invalid month {raw!r}: expected YYYY-MM.", "invalid_month")
    atype, calendars = _type_and_calendars(call)
    tz = _display_zone(call, calendars)
    year, month = int(found[1]), int(found[2])
    first = datetime(year, month, 1, tzinfo=views.zone(tz))
    after = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=views.zone(tz))
    days = sorted({views.local(t, tz).strftime("%Y-%m-%d")
                   for t, _ in open_slots(call, atype, calendars, first.timestamp(), after.timestamp())})
    return json([{"date": d} for d in days])


async def availability_times(call: Call) -> Response:
    raw = (call.query.get("date") or "").strip()
    if not raw:
        raise bad_request("date is required.", "required_date")
    try:
        day = date.fromisoformat(raw[:10])
    except ValueError:
        raise bad_request(f"Invalid date {raw!r}: expected YYYY-MM-DD.", "invalid_date") from None
    atype, calendars = _type_and_calendars(call)
    tz = _display_zone(call, calendars)
    first = datetime(day.year, day.month, day.day, tzinfo=views.zone(tz))
    slots = open_slots(call, atype, calendars, first.timestamp(), (first + timedelta(days=1)).timestamp())
    return json([{"time": views.iso(t, tz), "slotsAvailable": n} for t, n in slots])


# ---- OAuth2 ------------------------------------------------------------------------------------------


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json({"error": error, "error_description": description}, status)


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _redirect_ok(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


async def oauth_authorize(request: Request) -> Response:
    """The sandbox approves at once (no login screen): a valid request is redirected back with a code."""
    if request.method not in ("GET", "HEAD"):
        return AcuityError(405, "method_not_allowed", "Method Not Allowed", {"Allow": "GET"}).response()
    world = world_of(request)
    q = request.query_params
    client_id, redirect_uri, state = q.get("client_id", ""), q.get("redirect_uri", ""), q.get("state")
    account = world.account_by_client_id(client_id) if client_id else None
    if account is None:
        return oauth_error("invalid_client", "No client with the requested client_id was found.")
    if not _redirect_ok(redirect_uri):
        return oauth_error("invalid_uri", "A valid redirect_uri (http or https) is required.")
    extra = {"state": state} if state is not None else {}
    if q.get("response_type", "code") != "code":
        return RedirectResponse(_with_query(redirect_uri, {"error": "unsupported_response_type", **extra}), 302)
    if q.get("scope") != SCOPE:
        return RedirectResponse(_with_query(redirect_uri, {"error": "invalid_scope", **extra}), 302)
    code = secrets.token_hex(20)
    with world.store.transaction():
        world.store.table(OAuthGrant).put(OAuthGrant(id=code, location_id=account.location_id, client_id=client_id,
                                                     redirect_uri=redirect_uri, created=world.clock.now()))
    return RedirectResponse(_with_query(redirect_uri, {"code": code, **extra}), 302)


async def oauth_token(request: Request) -> Response:
    """`POST /oauth2/token`, form-encoded, client credentials in the body."""
    if request.method != "POST":
        return oauth_error("invalid_request", "The request method must be POST when requesting an access token",
                           405)
    world = world_of(request)
    raw = (await request.body()).decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    if form.get("grant_type") != "authorization_code":
        return oauth_error("unsupported_grant_type", "Grant type must be authorization_code.")
    account = world.account_by_client_id(form.get("client_id", ""))
    if account is None or not secrets.compare_digest(account.oauth_client_secret, form.get("client_secret", "")):
        return oauth_error("invalid_client", "The client credentials are invalid.", 401)
    grant = queries.grant(world.store, form.get("code", ""))
    if grant is None or grant.used or grant.client_id != account.oauth_client_id:
        return oauth_error("invalid_grant", "Authorization code doesn't exist or is invalid for the client.")
    if form.get("redirect_uri", "") != grant.redirect_uri:
        return oauth_error("redirect_uri_mismatch", "The redirect URI is missing or do not match.")
    token = OAuthToken(id=secrets.token_hex(20), location_id=grant.location_id, client_id=grant.client_id,
                       created=world.clock.now())
    with world.store.transaction():
        grant.used = True
        world.store.table(OAuthGrant).put(grant)
        world.store.table(OAuthToken).put(token)
    return json(views.token_view(token))
