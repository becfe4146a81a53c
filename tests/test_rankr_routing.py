"""Routing on the fake Rankr (design i12 §3), over real HTTP against a sandbox subprocess of this module:
providers set on the control plane and listed by the API, capacity per provider-timezone day and
availability windows on a moved sandbox clock, idempotent assignments, the 409s, moves and deletes that
free capacity, concurrent PUTs that never over-book, provider events that flip the provider and are signed,
and order.create with the order form's address.

The module owns its server (the tests move its clock forward by days); each test works in a location of
its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from receiver import Receiver

from mock_server.testing import SandboxClient, SandboxProcess

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--rate-limit", "off", "--seed", "7", "--orders", "5", "--webhook-timeout", "2"]) as proc:
        yield proc


@pytest.fixture
def sb(server: SandboxProcess) -> Iterator[SandboxClient]:
    client = server.client()
    try:
        yield client
    finally:
        client.close()


class Account:
    """One location's Rankr account: the API with its key, the control plane for its truth."""

    def __init__(self, sb: SandboxClient, location: dict[str, Any]) -> None:
        self.sb = sb
        self.location_id = location["locationId"]
        self.key = location["rankr"]["apiKey"]
        self.secret = location["rankr"]["webhookSecret"]

    def api(self, method: str, path: str, key: str | None = "", **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key or self.key}"
        return self.sb.http.request(method, "/rankr/v1" + path, headers=headers, **kwargs)

    def assign(self, order_id: str, provider_id: str) -> httpx.Response:
        return self.api("PUT", f"/assignments/{order_id}", json={"providerId": provider_id})

    def providers(self) -> dict[str, dict[str, Any]]:
        r = self.api("GET", "/providers")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["data"])
        return {p["providerId"]: p for p in body["data"]}

    def set_providers(self, providers: list[dict[str, Any]]) -> httpx.Response:
        return self.sb.http.put("/_sandbox/rankr/providers", params={"locationId": self.location_id},
                                json={"providers": providers})

    def truth(self) -> dict[str, dict[str, Any]]:
        r = self.sb.http.get("/_sandbox/rankr/providers", params={"locationId": self.location_id})
        assert r.status_code == 200, r.text
        return {p["providerId"]: p for p in r.json()["data"]}

    def records(self) -> dict[str, Any]:
        r = self.sb.http.get("/_sandbox/rankr/records/assignments", params={"locationId": self.location_id})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
def acct(sb: SandboxClient) -> Account:
    return Account(sb, sb.new_location(orders=0))


def provider(pid: str, capacity: int = 3, **more: Any) -> dict[str, Any]:
    return {"providerId": pid, "dailyCapacity": capacity, **more}


def rankr_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == code and body["message"] and "statusCode" not in body
    return body


def ghl_422(r: httpx.Response, *messages: str) -> list[str]:
    assert r.status_code == 422, r.text
    found: list[str] = r.json()["message"]
    for m in messages:
        assert m in found, found
    return found


def sandbox_now(sb: SandboxClient) -> datetime:
    return datetime.fromisoformat(sb.clock()["now"].replace("Z", "+00:00"))


def to_next_utc_midnight(sb: SandboxClient, plus_minutes: int = 1) -> datetime:
    """Freeze the clock and move it to the next UTC midnight plus a few minutes; that instant."""
    sb.set_clock(freeze=True)
    now = sandbox_now(sb)
    target = datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1, minutes=plus_minutes)
    sb.set_clock(advance=(target - now).total_seconds())
    got = sandbox_now(sb)
    assert abs((got - target).total_seconds()) < 0.01, (got, target)
    return target


# ---- providers: setup, listing, validation, auth ------------------------------------------------------


def test_no_providers_by_default_and_the_set_is_listed_as_put(acct: Account) -> None:
    assert acct.providers() == {}
    areas = [{"country": "US", "state": "CA", "postalCodePrefixes": ["94", "950"]}, {"country": "CA"}]
    windows = [{"days": ["sun", "mon"], "from": "08:00", "to": "18:00"}]
    r = acct.set_providers([provider("sf-1", 3, name="SF Movers", serviceAreas=areas, availability=windows,
                                     timezone="America/Los_Angeles"),
                            provider("anywhere", 0, available=False)])
    assert r.status_code == 200, r.text
    listed = acct.providers()
    assert list(listed) == ["sf-1", "anywhere"]  # in the order given
    sf = listed["sf-1"]
    assert sf["name"] == "SF Movers" and sf["timezone"] == "America/Los_Angeles" and sf["dailyCapacity"] == 3
    assert sf["serviceAreas"] == [{"country": "US", "state": "CA", "postalCodePrefixes": ["94", "950"]},
                                  {"country": "CA", "postalCodePrefixes": []}]
    assert sf["availability"] == [{"days": ["mon", "sun"], "from": "08:00", "to": "18:00"}]  # week order
    assert sf["available"] is True and sf["assignedToday"] == 0 and sf["remainingToday"] == 3
    other = listed["anywhere"]
    assert other["name"] == "anywhere" and other["timezone"] == "UTC" and other["availability"] == []
    assert other["available"] is False and other["availableNow"] is False and other["remainingToday"] == 0
    # A second PUT replaces the whole set.
    assert acct.set_providers([provider("solo", 1)]).status_code == 200
    assert list(acct.providers()) == ["solo"]


def test_the_provider_set_is_validated_naming_the_field(acct: Account, sb: SandboxClient) -> None:
    acct.set_providers([provider("keep", 1)])
    ghl_422(acct.set_providers([{"providerId": "a"}]), "providers.0.dailyCapacity should not be empty")
    ghl_422(acct.set_providers([provider("a", 1.5)]), "providers.0.dailyCapacity must be an integer from 0 to 100000")
    ghl_422(acct.set_providers([provider("a", 1, serviceAreas=[{"country": "usa"}])]),
            "providers.0.serviceAreas.0.country must be a two-letter country code such as US")
    ghl_422(acct.set_providers([provider("a", 1, availability=[{"days": ["someday"], "from": "8", "to": "18:00"}])]),
            "providers.0.availability.0.days.0 must be one of the following values: mon, tue, wed, thu, fri, sat, sun",
            "providers.0.availability.0.from must be a time HH:MM from 00:00 to 23:59")
    ghl_422(acct.set_providers([provider("a", 1, capacity_typo=2)]), )
    ghl_422(acct.set_providers([provider("a", 1, timezone="Mars/Olympus"), provider("a", 2)]),
            "providers.0.timezone must be an IANA time zone such as America/New_York or UTC",
            "providers.1.providerId a is already used by providers.0")
    ghl_422(acct.set_providers([provider("a", 1, availability=[{"days": ["mon"], "from": "18:00", "to": "08:00"}])]),
            "providers.0.availability.0.to must be later than from (18:00)")
    r = sb.http.put("/_sandbox/rankr/providers", json={"providers": []})
    ghl_422(r, "locationId is required")
    r = sb.http.put("/_sandbox/rankr/providers", params={"locationId": "nope"}, json={"providers": []})
    assert r.status_code == 404 and r.json()["statusCode"] == 404
    assert list(acct.providers()) == ["keep"]  # refusals changed nothing


def test_rankr_auth_and_error_shape_on_the_routing_endpoints(acct: Account) -> None:
    rankr_error(acct.api("GET", "/providers", key=None), 401, "unauthorized")
    rankr_error(acct.api("GET", "/assignments", key="rk_wrong"), 401, "unauthorized")
    rankr_error(acct.api("PUT", "/assignments/o1", key=None, json={"providerId": "p"}), 401, "unauthorized")
    rankr_error(acct.api("POST", "/providers", json={}), 405, "method_not_allowed")
    r = rankr_error(acct.api("POST", "/assignments/o1", json={}), 405, "method_not_allowed")
    assert r and acct.api("POST", "/assignments/o1", json={}).headers["allow"] == "DELETE, GET, PUT"
    rankr_error(acct.api("GET", "/providers/p1"), 404, "not_found")
    rankr_error(acct.api("GET", "/assignments/o1"), 404, "not_found")
    rankr_error(acct.api("DELETE", "/assignments/o1"), 404, "not_found")
    rankr_error(acct.assign("o1", "ghost"), 404, "not_found")
    bad = rankr_error(acct.api("PUT", "/assignments/o1", json={"providerId": 5}), 422, "validation_failed")
    assert bad["fields"] == [{"field": "providerId", "issue": "must be a non-empty string"}]
    bad = rankr_error(acct.api("PUT", "/assignments/o1", json=["p"]), 422, "validation_failed")
    assert bad["fields"][0]["field"] == "(body)"
    rankr_error(acct.api("PUT", "/assignments/o1", content=b"{nope", headers={"content-type": "application/json"}),
                400, "invalid_json")


def test_accounts_are_isolated_and_a_location_reset_clears_routing(acct: Account, sb: SandboxClient) -> None:
    other = Account(sb, sb.new_location(orders=0))
    acct.set_providers([provider("p1", 2)])
    assert acct.assign("o1", "p1").status_code == 201
    assert other.providers() == {}
    rankr_error(other.assign("o1", "p1"), 404, "not_found")
    assert other.api("GET", "/assignments").json() == {"data": [], "total": 0}
    r = sb.http.post(f"/_sandbox/locations/{acct.location_id}/reset")
    assert r.status_code == 200, r.text
    assert acct.providers() == {}
    assert acct.api("GET", "/assignments").json()["total"] == 0
    assert acct.records()["history"] == []


def test_a_world_reset_leaves_no_providers(sb: SandboxClient) -> None:
    first = Account(sb, sb.location(0))
    first.set_providers([provider("p1", 2)])
    assert first.assign("o1", "p1").status_code == 201
    sb.reset()
    first = Account(sb, sb.location(0))
    assert first.providers() == {} and first.records() == {"locationId": first.location_id, "data": [], "total": 0,
                                                             "history": []}


# ---- assignments: idempotent PUT, moves, deletes, capacity --------------------------------------------


def test_assignment_is_idempotent_and_moves_and_deletes_free_capacity(acct: Account) -> None:
    acct.set_providers([provider("a", 2), provider("b", 1)])
    first = acct.assign("o1", "a")
    assert first.status_code == 201
    body = first.json()
    assert body["orderId"] == "o1" and body["providerId"] == "a" and body["previousProviderId"] is None
    again = acct.assign("o1", "a")  # the same provider again: nothing changes, counts once
    assert again.status_code == 200 and again.json() == body
    assert acct.providers()["a"]["assignedToday"] == 1
    assert acct.api("GET", "/assignments/o1").json() == body
    assert acct.assign("o2", "a").status_code == 201
    rankr_error(acct.assign("o3", "a"), 409, "provider_full")
    moved = acct.assign("o2", "b")  # a move frees a's capacity
    assert moved.status_code == 200
    assert moved.json()["providerId"] == "b" and moved.json()["previousProviderId"] == "a"
    listed = acct.providers()
    assert (listed["a"]["assignedToday"], listed["a"]["remainingToday"]) == (1, 1)
    assert (listed["b"]["assignedToday"], listed["b"]["remainingToday"]) == (1, 0)
    assert acct.assign("o3", "a").status_code == 201
    rankr_error(acct.assign("o1", "b"), 409, "provider_full")  # a refused move leaves o1 where it was
    assert acct.api("GET", "/assignments/o1").json()["providerId"] == "a"
    assert acct.api("DELETE", "/assignments/o3").status_code == 204  # a delete frees it too
    rankr_error(acct.api("GET", "/assignments/o3"), 404, "not_found")
    assert acct.providers()["a"]["remainingToday"] == 1
    listing = acct.api("GET", "/assignments").json()
    assert [(x["orderId"], x["providerId"]) for x in listing["data"]] == [("o1", "a"), ("o2", "b")]
    assert acct.api("GET", "/assignments", params={"providerId": "b"}).json()["total"] == 1
    assert acct.api("GET", "/assignments", params={"limit": 1, "offset": 1}).json()["data"][0]["orderId"] == "o2"
    history = [(h["orderId"], h["action"], h["providerId"], h["previousProviderId"], h["reason"])
               for h in acct.records()["history"]]
    assert history == [
        ("o1", "assigned", "a", None, None), ("o1", "unchanged", "a", None, None),
        ("o2", "assigned", "a", None, None), ("o3", "refused", "a", None, "provider_full"),
        ("o2", "moved", "b", "a", None), ("o3", "assigned", "a", None, None),
        ("o1", "refused", "b", "a", "provider_full"), ("o3", "deleted", None, "a", None)]
    truth = acct.truth()
    today = truth["a"]["today"]
    assert truth["a"]["assignmentsByDay"] == {today: 1} and truth["b"]["assignmentsByDay"] == {today: 1}


def test_capacity_counts_per_provider_timezone_day_on_the_sandbox_clock(acct: Account, sb: SandboxClient) -> None:
    try:
        midnight = to_next_utc_midnight(sb)  # 00:01 UTC on day D: 19:01 on D-1 at UTC-5
        day = midnight.date()
        acct.set_providers([provider("utc", 1), provider("west", 1, timezone="Etc/GMT+5")])
        assert acct.assign("o1", "utc").status_code == 201
        assert acct.assign("o2", "west").status_code == 201
        rankr_error(acct.assign("o3", "utc"), 409, "provider_full")
        rankr_error(acct.assign("o3", "west"), 409, "provider_full")
        truth = acct.truth()
        assert truth["utc"]["today"] == day.isoformat()
        assert truth["west"]["today"] == (day - timedelta(days=1)).isoformat()
        sb.set_clock(advance="5h")  # 05:01 UTC: a new day at UTC-5, still day D in UTC
        listed = acct.providers()
        assert (listed["west"]["assignedToday"], listed["west"]["remainingToday"]) == (0, 1)
        assert (listed["utc"]["assignedToday"], listed["utc"]["remainingToday"]) == (1, 0)
        assert acct.assign("o3", "west").status_code == 201
        rankr_error(acct.assign("o4", "utc"), 409, "provider_full")
        records = acct.records()
        assert {(a["orderId"], a["day"]) for a in records["data"]} == {
            ("o1", day.isoformat()), ("o2", (day - timedelta(days=1)).isoformat()), ("o3", day.isoformat())}
        assert acct.truth()["west"]["assignmentsByDay"] == {(day - timedelta(days=1)).isoformat(): 1,
                                                           day.isoformat(): 1}
        sb.set_clock(advance="1d")  # the next UTC day: the utc provider has room again
        assert acct.assign("o4", "utc").status_code == 201
    finally:
        sb.set_clock(freeze=False)


def test_availability_windows_and_available_now_follow_the_clock_in_the_provider_timezone(
        acct: Account, sb: SandboxClient) -> None:
    try:
        midnight = to_next_utc_midnight(sb)  # 00:01 UTC = 09:01 in Tokyo, the same calendar day
        weekday = DAYS[midnight.weekday()]
        other_day = DAYS[(midnight.weekday() + 1) % 7]
        acct.set_providers([
            provider("tokyo", 5, timezone="Asia/Tokyo", availability=[{"days": [weekday], "from": "09:30", "to": "10:00"}]),
            provider("tomorrow", 5, timezone="Asia/Tokyo",
                     availability=[{"days": [other_day], "from": "00:00", "to": "24:00"}]),
            provider("always", 5)])
        now = acct.providers()
        assert [now[p]["availableNow"] for p in ("tokyo", "tomorrow", "always")] == [False, False, True]
        assert now["tokyo"]["available"] is True  # the switch is on; only the window is closed
        body = rankr_error(acct.assign("o1", "tokyo"), 409, "provider_unavailable")
        assert "window" in body["message"]
        rankr_error(acct.assign("o1", "tomorrow"), 409, "provider_unavailable")
        sb.set_clock(advance="30m")  # 09:31 Tokyo
        assert acct.providers()["tokyo"]["availableNow"] is True
        assert acct.assign("o1", "tokyo").status_code == 201
        sb.set_clock(advance="29m")  # 10:00 Tokyo: `to` is excluded
        assert acct.providers()["tokyo"]["availableNow"] is False
        rankr_error(acct.assign("o2", "tokyo"), 409, "provider_unavailable")
        assert acct.assign("o1", "tokyo").status_code == 200  # already there: unchanged, whatever the window
        sb.set_clock(advance="14h")  # 00:00 the next day in Tokyo
        listed = acct.providers()
        assert listed["tomorrow"]["availableNow"] is True and listed["tokyo"]["availableNow"] is False
        assert acct.assign("o2", "tomorrow").status_code == 201
    finally:
        sb.set_clock(freeze=False)


def test_concurrent_puts_never_over_book(acct: Account, server: SandboxProcess) -> None:
    acct.set_providers([provider("busy", 5), provider("spare", 3)])
    statuses: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(24)

    def put(order_id: str, provider_id: str) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            start.wait()
            r = http.put(f"/rankr/v1/assignments/{order_id}", json={"providerId": provider_id},
                         headers={"Authorization": f"Bearer {acct.key}"})
        with lock:
            statuses.append((order_id, r.status_code, r.json().get("error", "")))

    # 16 orders race for busy (5), 8 for spare (3), and some orders race for both at once.
    jobs = [(f"o{i}", "busy") for i in range(16)] + [(f"o{i}", "spare") for i in range(10, 18)]
    threads = [threading.Thread(target=put, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(statuses) == 24
    assert {code for _, code, _ in statuses} <= {200, 201, 409}
    assert all(err in ("provider_full", "") for _, code, err in statuses if code == 409)
    records = acct.records()
    per_provider = Counter(a["providerId"] for a in records["data"])
    assert per_provider["busy"] <= 5 and per_provider["spare"] <= 3
    assert per_provider["busy"] == 5  # 16 distinct orders tried: capacity reached exactly
    listed = acct.providers()
    assert listed["busy"]["assignedToday"] == per_provider["busy"]
    assert listed["spare"]["assignedToday"] == per_provider["spare"]
    assert len({a["orderId"] for a in records["data"]}) == len(records["data"])  # one assignment per order
    # Every success and refusal is in the history, once per request.
    assert len(records["history"]) == 24


# ---- provider events --------------------------------------------------------------------------------


def test_provider_events_flip_the_provider_and_are_signed(acct: Account, sb: SandboxClient) -> None:
    acct.set_providers([provider("p1", 3), provider("p2", 3)])
    assert acct.assign("o1", "p1").status_code == 201
    with Receiver() as rx:
        r = sb.http.post("/_sandbox/rankr/events", json={
            "url": rx.url + "/webhooks/rankr", "locationId": acct.location_id, "eventType": "provider.unavailable",
            "providerId": "p1", "eventId": "evt_gone"})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["status"] == 200 and result["eventId"] == "evt_gone" and result["providerId"] == "p1"
        got = rx.wait_for(1)[0]
        body = orjson.loads(got.body)
        assert set(body) == {"eventId", "eventType", "providerId", "occurredAt"}
        assert (body["eventId"], body["eventType"], body["providerId"]) == ("evt_gone", "provider.unavailable", "p1")
        expected = "sha256=" + hmac.new(acct.secret.encode(), got.body, hashlib.sha256).hexdigest()
        assert got.headers["x-rankr-signature"] == expected
        assert got.headers["x-rankr-event-id"] == "evt_gone"
        # The provider is off: listed so, refuses new orders; the order already there stays.
        p1 = acct.providers()["p1"]
        assert p1["available"] is False and p1["availableNow"] is False
        rankr_error(acct.assign("o2", "p1"), 409, "provider_unavailable")
        assert acct.api("GET", "/assignments/o1").json()["providerId"] == "p1"
        history = acct.truth()["p1"]["availabilityHistory"]
        assert [(h["available"], h["source"], h["eventId"]) for h in history] == [
            (True, "setup", None), (False, "event", "evt_gone")]
        assert history[1]["time"] == body["occurredAt"]
        # A forged event changes nothing (the real Rankr never sent it), and is sent unsigned.
        r = sb.http.post("/_sandbox/rankr/events", json={
            "url": rx.url, "locationId": acct.location_id, "eventType": "provider.available", "providerId": "p1",
            "forge": "no-signature"})
        assert r.status_code == 200
        assert "x-rankr-signature" not in rx.wait_for(2)[1].headers
        assert acct.providers()["p1"]["available"] is False
        # The genuine one switches it back on.
        r = sb.http.post("/_sandbox/rankr/events", json={
            "url": rx.url, "locationId": acct.location_id, "eventType": "provider.available", "providerId": "p1"})
        assert r.status_code == 200
        assert rx.wait_for(3)[2].json["eventType"] == "provider.available"
        assert acct.providers()["p1"]["availableNow"] is True
        assert acct.assign("o2", "p1").status_code == 201
    sends = sb.http.get("/_sandbox/rankr/events", params={"locationId": acct.location_id}).json()["data"]
    assert [(s["eventType"], s["providerId"], s["orderId"], s["items"]) for s in sends] == [
        ("provider.unavailable", "p1", None, []), ("provider.available", "p1", None, []),
        ("provider.available", "p1", None, [])]


def test_provider_event_requests_are_validated(acct: Account, sb: SandboxClient) -> None:
    acct.set_providers([provider("p1", 3)])
    nowhere = "http://127.0.0.1:9/hook"
    r = sb.http.post("/_sandbox/rankr/events", json={"url": nowhere, "locationId": acct.location_id,
                                                     "eventType": "provider.unavailable"})
    ghl_422(r, "providerId should not be empty")
    r = sb.http.post("/_sandbox/rankr/events", json={"url": nowhere, "locationId": acct.location_id,
                                                     "eventType": "provider.unavailable", "providerId": "p1",
                                                     "orderId": "o", "items": []})
    ghl_422(r, "orderId must be left out of a provider event", "items must be left out of a provider event")
    r = sb.http.post("/_sandbox/rankr/events", json={"url": nowhere, "locationId": acct.location_id,
                                                     "eventType": "provider.unavailable", "providerId": "ghost"})
    assert r.status_code == 404 and "ghost" in str(r.json()["message"])
    assert acct.providers()["p1"]["available"] is True
    assert sb.http.get("/_sandbox/rankr/events", params={"locationId": acct.location_id}).json()["total"] == 0


# ---- GHL: order.create with the order form's address ----------------------------------------------


def test_order_create_takes_the_order_form_address(sb: SandboxClient) -> None:
    location = sb.location(0)
    address = {"address1": "1 Market St", "city": "San Francisco", "state": "CA", "postalCode": "94105",
               "country": "US"}
    result = sb.simulate("order.create", locationId=location["locationId"], address=address)
    order = result["resources"][0]["data"]
    snap = order["contactSnapshot"]
    assert (snap["address1"], snap["city"], snap["state"], snap["postal_code"], snap["country"]) == (
        "1 Market St", "San Francisco", "CA", "94105", "US")
    token = location["tokens"][0]["token"]
    r = sb.api("GET", f"/payments/orders/{order['_id']}", token, params={"altId": location["locationId"],
                                                                          "altType": "location"})
    assert r.status_code == 200 and r.json()["contactSnapshot"]["postal_code"] == "94105"
    # Only the required fields: the others are empty, not the contact's.
    order2 = sb.simulate("order.create", address={"state": "NY", "postalCode": "10001", "country": "US"})
    snap2 = order2["resources"][0]["data"]["contactSnapshot"]
    assert (snap2["address1"], snap2["city"], snap2["state"]) == ("", "", "NY")
    # Without an address: the contact's own.
    plain = sb.simulate("order.create", contactId=snap["_id"])["resources"][0]["data"]["contactSnapshot"]
    assert plain["postal_code"] != "94105" or plain["city"] != "San Francisco"
    r = sb.http.post("/_sandbox/simulate/order.create", json={"address": {"state": "CA", "country": "USA"}})
    ghl_422(r, "address.postalCode should not be empty",
            "address.country must be a two-letter country code such as US")
    r = sb.http.post("/_sandbox/simulate/order.create", json={"address": {"state": "CA", "postalCode": "1",
                                                                          "country": "US", "zip": "2"}})
    ghl_422(r)


def test_trigger_order_create_takes_an_address_json(server: SandboxProcess) -> None:
    command = [sys.executable, "-m", "mock_server.cli", "trigger", "order.create", "--url", server.url]
    env = {k: v for k, v in os.environ.items() if k not in ("GHL_SANDBOX_URL", "GHL_SANDBOX_ADMIN_TOKEN")}
    address = {"city": "Austin", "state": "TX", "postalCode": "78701", "country": "US"}
    done = subprocess.run([*command, "--json", "--address-json", json.dumps(address)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    snap = json.loads(done.stdout)["resources"][0]["data"]["contactSnapshot"]
    assert (snap["city"], snap["state"], snap["postal_code"], snap["country"]) == ("Austin", "TX", "78701", "US")
    bad = subprocess.run([*command, "--address-json", "{state"], capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode != 0 and "--address-json" in bad.stderr and "Traceback" not in bad.stderr
    refused = subprocess.run([*command, "--address-json", '{"state": "TX"}'], capture_output=True, text=True,
                             timeout=60, env=env)
    assert refused.returncode != 0 and "address.postalCode should not be empty" in refused.stderr


def test_the_dashboard_state_tables_show_providers_and_assignments(acct: Account, sb: SandboxClient) -> None:
    acct.set_providers([provider("p1", 2, serviceAreas=[{"country": "US", "state": "CA", "postalCodePrefixes": ["94", "950"]},
                                                        {"country": "CA"}],
                                 availability=[{"days": list(DAYS), "from": "00:00", "to": "24:00"}]),
                        provider("p2", 1, available=False)])
    assert acct.assign("o1", "p1").status_code == 201
    answer = sb.control("GET", "/dashboard/tables", params={"locationId": acct.location_id})
    tables = {(t["service"], t["kind"]): t for t in answer["tables"]}
    providers, assignments = tables[("rankr", "providers")], tables[("rankr", "assignments")]
    rows = {r["providerId"]: r for r in providers["rows"]}
    assert providers["count"] == 2 and rows["p1"]["areasText"] == "US/CA 94* 950*; CA"
    assert rows["p1"]["windowsText"] == "mon,tue,wed,thu,fri,sat,sun 00:00-24:00"
    assert (rows["p1"]["assignedToday"], rows["p1"]["remainingToday"], rows["p1"]["availableNowText"]) == (1, 1, "yes")
    assert (rows["p2"]["availableText"], rows["p2"]["availableNowText"], rows["p2"]["windowsText"]) == ("off", "no",
                                                                                                     "always")
    assert [(r["orderId"], r["providerId"]) for r in assignments["rows"]] == [("o1", "p1")]
    for table in (providers, assignments):
        assert {c["key"] for c in table["columns"]} <= set().union(*(r.keys() for r in table["rows"]))
