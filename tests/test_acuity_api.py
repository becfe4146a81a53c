"""The fake Acuity Scheduling API under /acuity (read side), over real HTTP against a running sandbox:
accounts and auth (Basic, OAuth2, 401/403), the error envelope, 404 hints, 405, `.json` suffixes, every
`GET /appointments` filter, the documented shapes, availability, the seed (determinism, overlap with
the GHL contacts, every payment state) and the per-IP rate limit."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from mock_server.testing import SandboxClient

OFFSET_DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")  # colon-less offset
HUMAN_DATE = re.compile(r"^(January|February|March|April|May|June|July|August|September|October|November|December)"
                        r" [1-9]\d?, \d{4}$")
HUMAN_TIME = re.compile(r"^(1[0-2]|[1-9]):[0-5]\d(am|pm)$")
MONEY = re.compile(r"^\d+\.\d\d$")
ORDER_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")
ENVELOPE = {"status_code", "message", "error"}


def cents(text: str) -> int:
    assert MONEY.match(text), text
    whole, frac = text.split(".")
    return int(whole) * 100 + int(frac)


class Acuity:
    """One Acuity account of the sandbox, as a client configured with its user id and API key sees it."""

    def __init__(self, sb: SandboxClient, index: int = 0) -> None:
        self.sb = sb
        self.location = sb.location(index)
        self.location_id = self.location["locationId"]
        self.facts = self.location["acuity"]
        self.base = sb.url + self.facts["baseUrl"]
        self.auth = (str(self.facts["userId"]), self.facts["apiKey"])

    def call(self, method: str, path: str, auth: Any = "", **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.base + path, auth=self.auth if auth == "" else auth, timeout=30, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        r = self.call("GET", path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def state(self) -> dict[str, Any]:
        return self.sb.control("GET", "/acuity/state", params={"locationId": self.location_id})


def set_limit(sb: SandboxClient, **body: Any) -> dict[str, Any]:
    return sb.control("PUT", "/acuity/ratelimit", json=body)


@pytest.fixture
def acuity(ghl_sandbox: SandboxClient) -> Iterator[Acuity]:
    """The first location's account, with the rate limit off (the rate-limit tests switch it on)."""
    set_limit(ghl_sandbox, enabled=False)
    yield Acuity(ghl_sandbox)


def assert_error(r: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == ENVELOPE, body
    assert body["status_code"] == status and body["error"] == code
    if message is not None:
        assert body["message"] == message
    return body


# ---- accounts and auth ---------------------------------------------------------------------------


def test_every_location_lists_an_acuity_account(acuity: Acuity) -> None:
    locations = acuity.sb.locations()
    facts = [loc["acuity"] for loc in locations]
    assert len(locations) >= 2
    for f in facts:
        assert re.fullmatch(r"\d{8}", str(f["userId"])) and isinstance(f["userId"], int)
        assert re.fullmatch(r"[0-9a-f]{32}", f["apiKey"])
        assert f["baseUrl"] == "/acuity/api/v1" and f["currency"] == "USD"
        assert f["oauthClientId"] and f["oauthClientSecret"]
        ZoneInfo(f["timezone"])
    assert facts[0]["timezone"] == "America/New_York"
    assert len({f["apiKey"] for f in facts}) == len(facts) and len({f["userId"] for f in facts}) == len(facts)


def test_basic_auth_accepts_the_key_and_refuses_anything_else(acuity: Acuity) -> None:
    me = acuity.get("/me")
    assert me["id"] == acuity.facts["userId"] and me["currency"] == "USD"
    assert me["timezone"] == acuity.facts["timezone"]
    user = str(acuity.facts["userId"])
    for auth in ((user, "0" * 32), ("12345678", acuity.facts["apiKey"]), None):
        assert_error(acuity.call("GET", "/appointments", auth=auth), 401, "unauthorized", "Unauthorized")
    r = acuity.call("GET", "/me", auth=None, headers={"Authorization": "Bearer not-a-token"})
    assert_error(r, 401, "unauthorized")
    r = acuity.call("GET", "/me", auth=None, headers={"Authorization": "Basic %%%"})
    assert_error(r, 401, "unauthorized")


def test_another_accounts_records_are_forbidden_and_missing_ones_not_found(acuity: Acuity) -> None:
    other = Acuity(acuity.sb, 1)
    mine = acuity.get("/appointments", max=1)[0]
    assert acuity.get(f"/appointments/{mine['id']}")["id"] == mine["id"]
    assert_error(other.call("GET", f"/appointments/{mine['id']}"), 403, "forbidden", "Forbidden")
    assert_error(other.call("GET", f"/appointments/{mine['id']}/payments"), 403, "forbidden")
    order = acuity.get("/orders")[0]
    assert_error(other.call("GET", f"/orders/{order['id']}"), 403, "forbidden")
    assert_error(acuity.call("GET", "/appointments/999999999"), 404, "not_found", "Not Found")
    assert_error(acuity.call("GET", "/orders/999999999"), 404, "not_found", "Not Found")
    # Each account lists only its own.
    assert not {a["id"] for a in acuity.get("/appointments", showall="true", max=1000)} & \
        {a["id"] for a in other.get("/appointments", showall="true", max=1000)}


def test_oauth2_code_flow_end_to_end(acuity: Acuity) -> None:
    f = acuity.facts
    root = acuity.sb.url + "/acuity/oauth2"
    redirect = "https://client.example.com/callback"
    r = httpx.get(root + "/authorize", params={"response_type": "code", "scope": "api-v1", "client_id": f["oauthClientId"],
                                                "redirect_uri": redirect, "state": "xyz"})
    assert r.status_code == 302, r.text
    target = urlsplit(r.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == redirect
    query = parse_qs(target.query)
    assert query["state"] == ["xyz"] and query["code"][0]
    code = query["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
            "client_id": f["oauthClientId"], "client_secret": f["oauthClientSecret"]}
    bad = httpx.post(root + "/token", data={**form, "client_secret": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    r = httpx.post(root + "/token", data=form)
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["token_type"] == "Bearer" and token["access_token"]
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    me = acuity.call("GET", "/me", auth=None, headers=bearer)
    assert me.status_code == 200 and me.json()["id"] == f["userId"]
    assert acuity.call("GET", "/appointments", auth=None, headers=bearer, params={"max": 3}).status_code == 200
    # A code is good once.
    again = httpx.post(root + "/token", data=form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Bad requests: an unknown client is refused outright, a wrong scope goes back to the client.
    r = httpx.get(root + "/authorize", params={"response_type": "code", "scope": "api-v1", "client_id": "nope",
                                                "redirect_uri": redirect})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    r = httpx.get(root + "/authorize", params={"response_type": "code", "scope": "api", "client_id": f["oauthClientId"],
                                                "redirect_uri": redirect})
    assert r.status_code == 302 and parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["invalid_scope"]
    r = httpx.post(root + "/token", data={**form, "grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


# ---- routing -------------------------------------------------------------------------------------


def test_unknown_routes_404_with_a_hint_wrong_verbs_405(acuity: Acuity) -> None:
    body = assert_error(acuity.call("GET", "/appointments/abc"), 404, "not_found")
    assert body["message"] == "Not Found. Did you mean `/appointments/{id:number}`?"
    body = assert_error(acuity.call("GET", "/appointment/123"), 404, "not_found")
    assert body["message"] == "Not Found. Did you mean `/appointments/{id:number}`?"
    body = assert_error(acuity.call("GET", "/calendar"), 404, "not_found")
    assert body["message"] == "Not Found. Did you mean `/calendars`?"
    assert_error(acuity.call("GET", "/zzzzqqqq/xxxxx/yyyy"), 404, "not_found", "Not Found")
    r = acuity.call("DELETE", "/calendars")
    assert_error(r, 405, "method_not_allowed", "Method Not Allowed")
    assert "GET" in r.headers["allow"]
    assert_error(acuity.call("PATCH", "/me.json"), 405, "method_not_allowed")
    # Unknown routes answer the same without credentials.
    assert_error(acuity.call("GET", "/nothing-here", auth=None), 404, "not_found")


def test_every_path_also_answers_with_a_json_suffix(acuity: Acuity) -> None:
    appt = acuity.get("/appointments", max=1)[0]
    type_id = acuity.get("/appointment-types")[1]["id"]
    paths = ["/appointments", f"/appointments/{appt['id']}", f"/appointments/{appt['id']}/payments", "/clients",
             "/appointment-types", "/calendars", "/orders", "/certificates", "/products", "/forms", "/me", "/meta"]
    for path in paths:
        assert acuity.get(path + ".json") == acuity.get(path), path
    dates = acuity.get("/availability/dates.json", month="2027-01", appointmentTypeID=type_id)
    assert dates == acuity.get("/availability/dates", month="2027-01", appointmentTypeID=type_id)


def test_meta_needs_no_credentials(acuity: Acuity) -> None:
    r = acuity.call("GET", "/meta", auth=None)
    assert r.status_code == 200 and isinstance(r.json()["hooks"], list)


# ---- GET /appointments ----------------------------------------------------------------------------


def test_max_defaults_to_100_newest_first_without_paging(acuity: Acuity) -> None:
    everything = acuity.state()["appointments"]
    active = [a for a in everything if not a["canceled"]]
    assert len(active) > 100  # the default world has more than one page
    listed = acuity.get("/appointments")
    assert len(listed) == 100
    starts = [datetime.fromisoformat(a["datetime"]) for a in listed]
    assert starts == sorted(starts, reverse=True)
    newest = sorted(active, key=lambda a: (datetime.fromisoformat(a["datetime"]), a["id"]), reverse=True)[:100]
    assert [a["id"] for a in listed] == [a["id"] for a in newest]
    assert len(acuity.get("/appointments", max=7)) == 7
    assert len(acuity.get("/appointments", max=1000)) == len(active)
    # No paging parameter moves the window.
    assert acuity.get("/appointments", page=2) == listed
    assert_error(acuity.call("GET", "/appointments", params={"max": "lots"}), 400, "invalid_parameter")


def test_direction_asc_sorts_oldest_first(acuity: Acuity) -> None:
    asc = acuity.get("/appointments", direction="ASC", max=1000)
    starts = [datetime.fromisoformat(a["datetime"]) for a in asc]
    assert starts == sorted(starts)
    assert [a["id"] for a in acuity.get("/appointments", direction="DESC", max=1000)] == [a["id"] for a in asc][::-1]
    assert_error(acuity.call("GET", "/appointments", params={"direction": "sideways"}), 400, "invalid_parameter")


def test_canceled_lists_only_canceled_and_showall_both(acuity: Acuity) -> None:
    active = acuity.get("/appointments", max=1000)
    canceled = acuity.get("/appointments", canceled="true", max=1000)
    both = acuity.get("/appointments", showall="true", max=1000)
    assert active and canceled
    assert not any(a["canceled"] for a in active) and all(a["canceled"] for a in canceled)
    assert all("noShow" in a for a in canceled) and not any("noShow" in a for a in active)
    assert any(a["noShow"] for a in canceled) and not all(a["noShow"] for a in canceled)
    assert sorted(a["id"] for a in both) == sorted(a["id"] for a in active + canceled)
    assert len(acuity.get("/appointments", canceled="false", max=1000)) == len(active)


def test_min_and_max_date_windows_partition_the_appointments(acuity: Acuity) -> None:
    tz = ZoneInfo(acuity.facts["timezone"])
    everything = acuity.get("/appointments", showall="true", max=1000)
    day = datetime(2026, 10, 1).date()
    month_before = [a for a in everything
                    if day - timedelta(days=30) <= datetime.fromisoformat(a["datetime"]).astimezone(tz).date() <= day]
    window = acuity.get("/appointments", showall="true", max=1000, minDate=str(day - timedelta(days=30)),
                        maxDate=str(day))
    assert sorted(a["id"] for a in window) == sorted(a["id"] for a in month_before) and window
    # Adjacent windows split the whole range with no gap and no overlap.
    parts: list[int] = []
    start = datetime(2026, 1, 1).date()
    while start < datetime(2027, 6, 1).date():
        end = start + timedelta(days=13)
        parts += [a["id"] for a in acuity.get("/appointments", showall="true", max=1000, minDate=str(start),
                                               maxDate=str(end))]
        start = end + timedelta(days=1)
    assert sorted(parts) == sorted(a["id"] for a in everything)
    assert_error(acuity.call("GET", "/appointments", params={"minDate": "not a date"}), 400, "invalid_parameter")


def test_calendar_and_type_filters(acuity: Acuity) -> None:
    everything = acuity.get("/appointments", max=1000)
    cal = Counter(a["calendarID"] for a in everything).most_common(1)[0][0]
    typ = Counter(a["appointmentTypeID"] for a in everything).most_common(1)[0][0]
    by_cal = acuity.get("/appointments", calendarID=cal, max=1000)
    by_type = acuity.get("/appointments", appointmentTypeID=typ, max=1000)
    assert by_cal and {a["calendarID"] for a in by_cal} == {cal}
    assert len(by_cal) == sum(a["calendarID"] == cal for a in everything)
    assert by_type and {a["appointmentTypeID"] for a in by_type} == {typ}
    assert len(by_type) == sum(a["appointmentTypeID"] == typ for a in everything)


def test_client_field_filters_are_exact_email_ignores_case(acuity: Acuity) -> None:
    everything = acuity.get("/appointments", showall="true", max=1000)
    a = next(x for x in everything if x["phone"])
    same_person = [x["id"] for x in everything if x["email"].lower() == a["email"].lower()]
    for params in ({"email": a["email"]}, {"email": a["email"].upper()}):
        assert sorted(x["id"] for x in acuity.get("/appointments", showall="true", max=1000, **params)) == \
            sorted(same_person)
    assert acuity.get("/appointments", showall="true", max=1000, email=a["email"][:-1]) == []
    by_name = acuity.get("/appointments", showall="true", max=1000, firstName=a["firstName"], lastName=a["lastName"])
    assert a["id"] in [x["id"] for x in by_name]
    assert all(x["firstName"] == a["firstName"] and x["lastName"] == a["lastName"] for x in by_name)
    prefix = acuity.get("/appointments", showall="true", max=1000, firstName=a["firstName"][:-1])
    assert a["id"] not in [x["id"] for x in prefix]  # exact, not a prefix match
    assert [x["id"] for x in acuity.get("/appointments", showall="true", max=1000,
                                        firstName=a["firstName"].upper())] == [] or a["firstName"].isupper()
    by_phone = acuity.get("/appointments", showall="true", max=1000, phone=a["phone"])
    assert a["id"] in [x["id"] for x in by_phone] and all(x["phone"] == a["phone"] for x in by_phone)
    # A `+` sent raw in the query string is a space: it matches nothing (send it as %2B).
    raw = acuity.call("GET", "/appointments?showall=true&phone=" + a["phone"])
    assert raw.status_code == 200 and raw.json() == []
    # A case-variant Acuity email is found by the lower-case GHL address.
    mixed = next(x for x in everything if x["email"] != x["email"].lower())
    found = acuity.get("/appointments", showall="true", max=1000, email=mixed["email"].lower())
    assert mixed["id"] in [x["id"] for x in found]


def test_form_field_filter_and_exclude_forms(acuity: Acuity) -> None:
    everything = acuity.get("/appointments", showall="true", max=1000)
    value = next(v for a in everything for f in a["forms"] for v in f["values"] if v["value"] == "no")
    found = acuity.get("/appointments", showall="true", max=1000, **{f"field:{value['fieldID']}": "no"})
    expected = [a["id"] for a in everything
                if any(v["fieldID"] == value["fieldID"] and v["value"] == "no" for f in a["forms"] for v in f["values"])]
    assert found and sorted(a["id"] for a in found) == sorted(expected)
    assert len(found) < len(everything)
    lean = acuity.get("/appointments", excludeForms="true", max=5)
    assert all("forms" not in a for a in lean) and all("forms" in a for a in acuity.get("/appointments", max=5))


def test_get_one_appointment_accepts_past_form_answers(acuity: Acuity) -> None:
    appt = acuity.get("/appointments", max=1)[0]
    assert acuity.get(f"/appointments/{appt['id']}", pastFormAnswers="true") == appt
    canceled = acuity.get("/appointments", canceled="true", max=1)[0]
    assert acuity.get(f"/appointments/{canceled['id']}")["canceled"] is True


# ---- shapes --------------------------------------------------------------------------------------


def test_appointment_shapes_are_acuitys(acuity: Acuity) -> None:
    for a in acuity.get("/appointments", showall="true", max=1000):
        assert isinstance(a["id"], int) and isinstance(a["calendarID"], int) and isinstance(a["appointmentTypeID"], int)
        assert OFFSET_DT.match(a["datetime"]) and OFFSET_DT.match(a["datetimeCreated"])
        assert HUMAN_DATE.match(a["date"]) and HUMAN_DATE.match(a["dateCreated"])
        assert HUMAN_TIME.match(a["time"]) and HUMAN_TIME.match(a["endTime"])
        for key in ("price", "priceSold", "amountPaid"):
            assert MONEY.match(a[key]), a[key]
        assert a["paid"] in ("yes", "no")
        assert isinstance(a["duration"], str) and a["duration"].isdigit()
        start = datetime.fromisoformat(a["datetime"])
        assert a["date"] == f"{start:%B} {start.day}, {start.year}"
        end = start + timedelta(minutes=int(a["duration"]))
        assert a["endTime"] == f"{end.hour % 12 or 12}:{end.minute:02d}{'am' if end.hour < 12 else 'pm'}"
        assert a["calendarTimezone"] and isinstance(a["canceled"], bool)
        assert a["classID"] is None or isinstance(a["classID"], int)
        assert "status_code" not in a
    for t in acuity.get("/appointment-types"):
        assert isinstance(t["duration"], int) and MONEY.match(t["price"]) and isinstance(t["calendarIDs"], list)
    for o in acuity.get("/orders"):
        assert ORDER_TIME.match(o["time"]) and MONEY.match(o["total"]) and o["status"] == "paid"
    for p in acuity.get("/products"):
        assert MONEY.match(p["price"])


def test_payments_add_up_and_every_payment_state_is_seeded(acuity: Acuity) -> None:
    state = acuity.state()
    appts = state["appointments"]
    for a in appts:
        listed = acuity.get(f"/appointments/{a['id']}/payments") if a is appts[0] else a["payments"]
        assert sum(cents(p["amount"]) for p in listed) == cents(a["amountPaid"])
        for p in listed:
            assert OFFSET_DT.match(p["created"]) and isinstance(p["transactionID"], str) and p["transactionID"]
    first = appts[0]
    assert acuity.get(f"/appointments/{first['id']}/payments") == first["payments"]
    price, paid = (lambda a: cents(a["price"])), (lambda a: cents(a["amountPaid"]))
    assert any(a["paid"] == "yes" and paid(a) == price(a) > 0 for a in appts)  # paid in full
    assert any(a["paid"] == "no" and 0 < paid(a) < price(a) for a in appts)  # deposit only
    assert any(paid(a) > price(a) for a in appts)  # tip
    assert any(a["paid"] == "no" and paid(a) == 0 and price(a) > 0 for a in appts)  # unpaid
    assert any(a["certificate"] and a["paid"] == "yes" and paid(a) == 0 for a in appts)  # by certificate
    assert any(a["price"] == "0.00" for a in appts)  # free consult
    assert any(a["canceled"] and not a["noShow"] for a in appts) and any(a["noShow"] for a in appts)
    processors = {p["processor"] for a in appts for p in a["payments"]}
    assert {"stripe", "square", "paypal"} <= processors
    assert processors & {"authorizenet", "braintree", "paypal_pro"}  # legacy keys on a handful
    # Refunds live only in the processor's ledger: the refunded appointment still shows its payment.
    refunds = [e for e in state["processor"] if e["kind"] == "refund"]
    assert refunds
    for e in refunds:
        appt = next(a for a in appts if a["id"] == e["appointmentID"])
        assert e["transactionID"] in [p["transactionID"] for p in appt["payments"]]
    charges = {e["transactionID"] for e in state["processor"] if e["kind"] == "charge"}
    assert {p["transactionID"] for a in appts for p in a["payments"]} <= charges
    # The seed: 200 appointments in the default world, 6 months before to 4 months after 2026-10-01.
    assert len(appts) == 200
    starts = [datetime.fromisoformat(a["datetime"]) for a in appts]
    assert min(starts) >= datetime(2026, 3, 25, tzinfo=ZoneInfo("UTC"))
    assert max(starts) <= datetime(2027, 2, 5, tzinfo=ZoneInfo("UTC"))


def test_catalog_endpoints(acuity: Acuity) -> None:
    types = acuity.get("/appointment-types")
    assert 4 <= len(types) <= 6
    assert any(t["type"] == "class" for t in types) and any(t["price"] == "0.00" for t in types)
    with_deleted = acuity.get("/appointment-types", includeDeleted="true")
    assert len(with_deleted) == len(types) + 1
    calendars = acuity.get("/calendars")
    assert 2 <= len(calendars) <= 3 and all(c["timezone"] == acuity.facts["timezone"] for c in calendars)
    forms = acuity.get("/forms")
    assert 1 <= len(forms) <= 2 and all(f["fields"] for f in forms)
    products = acuity.get("/products")
    assert 2 <= len(products) <= 3 and {"appointments", "product"} <= {p["type"] for p in products}
    orders = acuity.get("/orders")
    times = [o["time"] for o in orders]
    assert times == sorted(times, reverse=True)
    assert acuity.get("/orders", max=2) == orders[:2]
    assert acuity.get(f"/orders/{orders[0]['id']}") == orders[0]
    certs = acuity.get("/certificates")
    assert certs and {c["orderID"] for c in certs} <= {o["id"] for o in orders}
    one = certs[0]
    assert acuity.get("/certificates", orderID=one["orderID"]) == [one]
    assert one in acuity.get("/certificates", email=one["email"].upper())
    assert all(c["productID"] == one["productID"] for c in acuity.get("/certificates", productID=one["productID"]))


def test_clients_search(acuity: Acuity) -> None:
    clients = acuity.get("/clients")
    assert clients and set(clients[0]) == {"firstName", "lastName", "email", "phone", "notes"}
    who = clients[3]
    found = acuity.get("/clients", search=who["lastName"].lower())
    assert who in found and all(who["lastName"].lower() in (c["firstName"] + " " + c["lastName"]).lower()
                                or who["lastName"].lower() in c["phone"] for c in found)
    assert acuity.get("/clients", search="zzzqqqxxx") == []


# ---- availability ------------------------------------------------------------------------------------


def test_availability_skips_booked_slots_and_converts_time_zones(acuity: Acuity) -> None:
    now = datetime.fromisoformat(acuity.sb.clock()["now"].replace("Z", "+00:00"))
    types = {t["id"]: t for t in acuity.get("/appointment-types")}
    future = [a for a in acuity.get("/appointments", max=1000)
              if datetime.fromisoformat(a["datetime"]) > now + timedelta(days=1) and types[a["appointmentTypeID"]]["type"] == "service"]
    assert future, "the seed has future appointments"
    a = future[-1]
    start = datetime.fromisoformat(a["datetime"])
    day = start.date().isoformat()
    params = {"date": day, "appointmentTypeID": a["appointmentTypeID"], "calendarID": a["calendarID"]}
    times = acuity.get("/availability/times", **params)
    assert all(OFFSET_DT.match(t["time"]) and t["slotsAvailable"] >= 1 for t in times)
    starts = [datetime.fromisoformat(t["time"]) for t in times]
    booked_end = start + timedelta(minutes=int(a["duration"]))
    length = timedelta(minutes=types[a["appointmentTypeID"]]["duration"])
    assert all(not (s < booked_end and start < s + length) for s in starts)  # nothing overlaps the booking
    # Ignoring the booking frees its slot.
    freed = acuity.get("/availability/times", **params, **{"ignoreAppointmentIDs[]": a["id"]})
    assert a["datetime"] in [t["time"] for t in freed]
    # Converted to another zone: the same instants.
    london = acuity.get("/availability/times", **{**params, "date": day}, timezone="Europe/London")
    assert all(t["time"].endswith(("+0000", "+0100")) for t in london)
    same_day = [datetime.fromisoformat(t["time"]) for t in london]
    assert set(same_day) & set(starts) or not starts
    # The dates of that month include that day exactly when it has a slot.
    month = acuity.get("/availability/dates", month=day[:7], appointmentTypeID=a["appointmentTypeID"],
                       calendarID=a["calendarID"])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", d["date"]) and d["date"].startswith(day[:7]) for d in month)
    assert (day in [d["date"] for d in month]) == bool(times)
    assert_error(acuity.call("GET", "/availability/times", params={"date": day}), 400, "required_appointment_type_id")
    assert_error(acuity.call("GET", "/availability/dates", params={"month": "13-2026",
                                                                    "appointmentTypeID": a["appointmentTypeID"]}),
                 400, "invalid_month")


# ---- the seed ----------------------------------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data(acuity: Acuity) -> None:
    seed = acuity.sb.health()["seed"]
    first = acuity.state()
    acuity.sb.reset(seed=7)  # seeded afresh (the reset snapshot holds the other seed)
    seven = Acuity(acuity.sb).state()
    assert seven["appointments"] != first["appointments"] and seven["account"] != first["account"]
    acuity.sb.reset(seed=seed)
    assert Acuity(acuity.sb).state() == first
    acuity.sb.reset(seed=7)
    assert Acuity(acuity.sb).state() == seven


def test_clients_overlap_the_ghl_contacts_in_every_way(acuity: Acuity) -> None:
    contacts = [c for c in acuity.sb.control("GET", "/state")["tables"]["contacts"]
                if c["location_id"] == acuity.location_id]
    by_email = {c["email"]: c for c in contacts}
    by_lower = {c["email"].lower(): c for c in contacts}
    names = {(c["first_name"], c["last_name"]): c for c in contacts}
    phones = {c["phone"] for c in contacts}
    clients = acuity.get("/clients")
    same_email = [c for c in clients if c["email"] in by_email]
    case_email = [c for c in clients if c["email"] not in by_email and c["email"].lower() in by_lower]
    second_email = [c for c in clients if c["email"].lower() not in by_lower
                    and (c["firstName"], c["lastName"]) in names
                    and names[(c["firstName"], c["lastName"])]["phone"] == c["phone"]]
    same_name = [c for c in clients if c["email"].lower() not in by_lower and (c["firstName"], c["lastName"]) in names
                 and c["phone"] not in phones]
    for group in (same_email, case_email, second_email, same_name):
        assert len(group) >= 2, group
    for c in case_email:
        ghl = by_lower[c["email"].lower()]
        assert (c["firstName"], c["lastName"]) == (ghl["first_name"], ghl["last_name"])
    assert [c for c in clients if (c["firstName"], c["lastName"]) not in names]  # Acuity-only people
    # Every such client has booked: their appointments carry the same contact fields.
    booked = {(a["firstName"], a["lastName"], a["email"]) for a in acuity.get("/appointments", showall="true", max=1000)}
    for c in same_email[:2] + case_email[:2] + second_email[:2] + same_name[:2]:
        assert (c["firstName"], c["lastName"], c["email"]) in booked


def test_new_and_reset_locations_get_their_acuity_data(acuity: Acuity) -> None:
    created = acuity.sb.new_location(name="Acuity Test Studio", orders=52)
    loc = next(x for x in acuity.sb.locations() if x["locationId"] == created["locationId"])
    fresh = Acuity.__new__(Acuity)
    fresh.sb, fresh.location, fresh.location_id, fresh.facts = acuity.sb, loc, loc["locationId"], loc["acuity"]
    fresh.base, fresh.auth = acuity.sb.url + loc["acuity"]["baseUrl"], (str(loc["acuity"]["userId"]), loc["acuity"]["apiKey"])
    state = fresh.state()
    assert len(state["appointments"]) == round(200 * 52 / 260)
    assert fresh.get("/me")["id"] == loc["acuity"]["userId"]
    acuity.sb.control("POST", f"/locations/{fresh.location_id}/reset")
    assert fresh.state() == state


def test_state_route_needs_a_known_location(acuity: Acuity) -> None:
    r = acuity.sb.request("GET", "/acuity/state", params={"locationId": "nope"})
    assert r.status_code == 404
    default = acuity.sb.control("GET", "/acuity/state")
    assert default["account"]["locationId"] == acuity.location_id
    assert default["account"]["apiKey"] == acuity.facts["apiKey"]


# ---- rate limit ----------------------------------------------------------------------------------


def _burst(acuity: Acuity, n: int) -> list[httpx.Response]:
    with httpx.Client(auth=acuity.auth, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: client.get(acuity.base + "/me"), range(n)))


def test_rate_limit_answers_429_under_a_burst_and_can_be_switched_off(acuity: Acuity) -> None:
    assert set_limit(acuity.sb, enabled=True) == {"enabled": True, "perSecond": 10, "concurrent": 20, "edge403": False}
    answers = _burst(acuity, 40)
    codes = Counter(r.status_code for r in answers)
    assert codes[200] >= 10 and codes[429] >= 10, codes
    assert codes[200] <= 20, codes  # at most 10 per second get through (the burst may span two seconds)
    limited = next(r for r in answers if r.status_code == 429)
    assert limited.json() == {"status_code": 429, "message": "Rate limit reached. Limit 10req/s and 20 concurrent "
                              "connections.", "error": "too_many_requests"}
    time.sleep(1.1)
    assert acuity.call("GET", "/me").status_code == 200  # the window moved on
    set_limit(acuity.sb, enabled=False)
    assert acuity.sb.control("GET", "/acuity/ratelimit")["enabled"] is False
    assert {r.status_code for r in _burst(acuity, 40)} == {200}


def test_rate_limit_edge_403_and_settings(acuity: Acuity) -> None:
    set_limit(acuity.sb, enabled=True, perSecond=3, edge403=True)
    answers = _burst(acuity, 30)
    codes = Counter(r.status_code for r in answers)
    assert codes[403] >= 1 and codes[429] >= 1, codes
    html = next(r for r in answers if r.status_code == 403)
    assert html.text.rstrip().endswith("</html>") and html.headers["content-type"].startswith("text/html")
    for bad in ({"perSecond": 0}, {"enabled": "yes"}, {"burst": 5}, {}):
        r = acuity.sb.request("PUT", "/acuity/ratelimit", json=bad)
        assert r.status_code == 422, r.text
    assert acuity.sb.control("GET", "/acuity/ratelimit")["perSecond"] == 3


def test_a_reset_puts_the_rate_limit_back_on(ghl_sandbox: SandboxClient) -> None:
    set_limit(ghl_sandbox, enabled=False)
    ghl_sandbox.reset()
    assert ghl_sandbox.control("GET", "/acuity/ratelimit")["enabled"] is True


def test_the_serve_flag_sets_the_limit_a_reset_comes_back_to() -> None:
    from mock_server.testing import SandboxProcess

    with SandboxProcess(["--orders", "0", "--acuity-rate-limit", "off"]) as proc:
        client = proc.client()
        assert client.control("GET", "/acuity/ratelimit")["enabled"] is False
        set_limit(client, enabled=True)
        client.reset()
        assert client.control("GET", "/acuity/ratelimit")["enabled"] is False
    with SandboxProcess(["--orders", "0"], env={"GHL_SANDBOX_ACUITY_RATE_LIMIT": "edge403"}) as proc:
        assert proc.client().control("GET", "/acuity/ratelimit") == {"enabled": True, "perSecond": 10,
                                                                   "concurrent": 20, "edge403": True}


# ---- the contract ------------------------------------------------------------------------------------

CONTRACT = Path(__file__).resolve().parent.parent / "contracts" / "acuity.openapi.yaml"


def _contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT.read_text())


def test_the_contract_documents_every_served_path() -> None:
    from mock_server.acuity.urls import ACUITY_TABLE, PUBLIC

    doc = _contract()
    documented = {(method.upper(), path.replace("{id}", "{id:number}")) for path, item in doc["paths"].items()
                  for method in item if method in ("get", "post", "put", "delete") and not path.startswith("/oauth2")}
    served = {(m, p) for m, p, _ in ACUITY_TABLE} | {("GET", p) for p in PUBLIC}
    assert documented == served


def test_every_get_answer_matches_the_contract(acuity: Acuity) -> None:
    doc = _contract()
    appt = acuity.get("/appointments", max=1)[0]
    order = acuity.get("/orders")[0]
    type_id = acuity.get("/appointment-types")[1]["id"]
    ids = {"/appointments/{id}": appt["id"], "/appointments/{id}/payments": appt["id"], "/orders/{id}": order["id"]}
    params: dict[str, dict[str, Any]] = {
        "/availability/dates": {"month": "2027-01", "appointmentTypeID": type_id},
        "/availability/times": {"date": "2027-01-12", "appointmentTypeID": type_id},
        "/appointments": {"showall": "true", "max": 1000},
    }
    checked = 0
    for path, item in doc["paths"].items():
        if "get" not in item or path.startswith("/oauth2"):
            continue
        pointer = "/".join(("#/paths", path.replace("~", "~0").replace("/", "~1"), "get/responses/200/content",
                            "application~1json/schema"))
        validator = Draft202012Validator({**doc, "$ref": pointer})
        body = acuity.get(path.replace("{id}", str(ids.get(path, 0))), **params.get(path, {}))
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, (path, errors[:5])
        checked += 1
    assert checked >= 15
    # The schemas bite: a boolean `paid` or a colon in the offset is refused.
    one = Draft202012Validator({**doc, "$ref": "#/components/schemas/Appointment"})
    assert list(one.iter_errors({**appt, "paid": True}))
    assert list(one.iter_errors({**appt, "datetime": appt["datetime"][:-2] + ":" + appt["datetime"][-2:]}))
    times = acuity.get("/availability/times", date="2027-01-12", appointmentTypeID=type_id)
    assert times, "a weekday in January 2027 has open slots"


def test_acuity_calls_are_journaled_with_their_account(acuity: Acuity) -> None:
    acuity.sb.clear_journal()
    acuity.get("/appointments", max=1)
    acuity.call("GET", "/me", auth=None)
    entries = acuity.sb.journal(path="/acuity")
    assert [(e["path"], e["status"]) for e in entries] == [("/acuity/api/v1/appointments", 200),
                                                            ("/acuity/api/v1/me", 401)]
    assert entries[0]["locationId"] == acuity.location_id and entries[1]["locationId"] is None


def test_the_rate_limiter_counts_concurrent_requests() -> None:
    from mock_server.acuity.ratelimit import AcuityRateLimiter, RateLimitConfig

    limiter = AcuityRateLimiter()
    limiter.configure(RateLimitConfig(per_second=1000, concurrent=20))
    assert [limiter.acquire("1.2.3.4") for _ in range(20)] == [None] * 20
    assert limiter.acquire("1.2.3.4") == "429"  # 20 still open
    assert limiter.acquire("5.6.7.8") is None  # per IP
    limiter.release("1.2.3.4")
    assert limiter.acquire("1.2.3.4") is None
    limiter.configure(RateLimitConfig(per_second=2, concurrent=20))
    assert [limiter.acquire("9.9.9.9") for _ in range(3)] == [None, None, "429"]


def test_reads_are_never_stale_after_the_data_changes(acuity: Acuity) -> None:
    appt = acuity.get("/appointments", max=1)[0]
    assert acuity.get(f"/appointments/{appt['id']}")["notes"] == appt["notes"]  # read (and cacheable) once
    doc = acuity.sb.control("GET", "/state")
    row = next(r for r in doc["tables"]["acuity_appointments"] if r["id"] == appt["id"])
    row["notes"], row["amount_paid_minor"] = "Changed behind the API's back", row["amount_paid_minor"] + 1234
    acuity.sb.control("PUT", "/state", json=doc)
    fresh = acuity.get(f"/appointments/{appt['id']}")
    assert fresh["notes"] == "Changed behind the API's back"
    assert cents(fresh["amountPaid"]) == cents(appt["amountPaid"]) + 1234
    assert acuity.get("/appointments", max=1)[0]["notes"] == "Changed behind the API's back"
