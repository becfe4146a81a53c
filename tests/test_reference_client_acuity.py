"""The reference client's Acuity support (examples/clients/reference_client.py) and its four broken Acuity
variants: the pure parts in process (signature, date windows, merging), then the client as a real
subprocess against a real sandbox with its fake Acuity (real signed webhooks, real Rankr records)."""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_reference_client import Client, eventually, free_port

from mock_server.testing import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "examples" / "clients"
sys.path.insert(0, str(CLIENTS))

rc = importlib.import_module("reference_client")

GENUINE = b"action=scheduled&id=54321&calendarID=27238&appointmentTypeID=1"
GENUINE_SIG = "N2vF6ucyA+NCDiiwsdXBpIxFok9pGGS4/gMB2ComFwA="  # the fact sheet's test vector, key abc123
ORDER = b"action=order.completed&id=1234"
ORDER_SIG = "4/Sn094sk1yY2+j0oRpZDHbotS0i32CizLwxS17CqXM="


def variant(name: str) -> type:
    module = importlib.import_module(name)
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, rc.ReferenceClient) and c is not rc.ReferenceClient]
    assert len(classes) == 1, classes
    return classes[0]


def make(tmp_path: Path, cls: type | None = None, api_key: str = "abc123") -> Any:
    """A client object (no server, no thread): its methods on their own."""
    config = rc.Config(
        ghl_base="http://127.0.0.1:9", ghl_token="t", location_id="loc", api_version="2021-07-28", app_id="app",
        ed25519_pem="", rsa_pem="", rankr_base="http://127.0.0.1:9/rankr", rankr_key="k", rankr_secret="s",
        port=0, state_dir=str(tmp_path / "state"), reconcile_interval=1.0,
        acuity_base="http://127.0.0.1:9/acuity/api/v1", acuity_user_id="12345678", acuity_api_key=api_key)
    return (cls or rc.ReferenceClient)(config)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    c = make(tmp_path)
    yield c
    c.state.close()


# ---- signatures -----------------------------------------------------------------------------------


def test_signature_matches_the_fact_sheet_vectors() -> None:
    assert rc.acuity_signature("abc123", GENUINE) == GENUINE_SIG
    assert rc.acuity_signature("abc123", ORDER) == ORDER_SIG
    assert rc.acuity_signature("abc124", GENUINE) != GENUINE_SIG


def test_verification_is_over_the_raw_bytes(client: Any) -> None:
    assert client.verify_acuity_signature(GENUINE, {"x-acuity-signature": GENUINE_SIG})
    assert client.verify_acuity_signature(ORDER, {"x-acuity-signature": ORDER_SIG})
    # The same form, re-encoded (other field order, percent-encoded): not what was signed.
    assert not client.verify_acuity_signature(b"id=54321&action=scheduled&calendarID=27238&appointmentTypeID=1",
                                              {"x-acuity-signature": GENUINE_SIG})
    assert not client.verify_acuity_signature(b"id=1234&action=order.completed", {"x-acuity-signature": ORDER_SIG})
    assert not client.verify_acuity_signature(b"action=order%2Ecompleted&id=1234", {"x-acuity-signature": ORDER_SIG})
    assert not client.verify_acuity_signature(GENUINE, {"x-acuity-signature": ORDER_SIG})
    assert not client.verify_acuity_signature(GENUINE, {})
    assert not client.verify_acuity_signature(GENUINE, {"x-acuity-signature": "not base64 at all"})


def test_handler_refuses_forged_and_bad_bodies_before_any_call(client: Any) -> None:
    # 401 for a bad signature, 400 for a signed body without a numeric id: no Acuity or Rankr call made.
    assert client.handle_acuity_webhook(GENUINE, {"x-acuity-signature": ORDER_SIG}) == 401
    assert client.handle_acuity_webhook(GENUINE, {}) == 401
    body = b"action=scheduled&id=abc"
    assert client.handle_acuity_webhook(body, {"x-acuity-signature": rc.acuity_signature("abc123", body)}) == 400
    body = b"action=something.else&id=7"
    assert client.handle_acuity_webhook(body, {"x-acuity-signature": rc.acuity_signature("abc123", body)}) == 200
    assert client.acuity_calls == 0


def test_no_acuity_configured_means_no_acuity_route(tmp_path: Path) -> None:
    c = make(tmp_path)
    c.acuity_enabled = False
    try:
        assert c.handle_acuity_webhook(GENUINE, {"x-acuity-signature": GENUINE_SIG}) == 404
    finally:
        c.state.close()


def test_reencoded_signature_variant_refuses_genuine_and_accepts_a_reencoding(tmp_path: Path) -> None:
    c = make(tmp_path, variant("broken_acuity_reencoded_signature"))
    try:
        assert not c.verify_acuity_signature(GENUINE, {"x-acuity-signature": GENUINE_SIG})  # genuine refused
        assert c.verify_acuity_signature(b"id=1234&action=order%2Ecompleted", {"x-acuity-signature": ORDER_SIG})
    finally:
        c.state.close()


def test_action_styles_and_values() -> None:
    assert [rc.acuity_action(a) for a in ("scheduled", "appointment.scheduled", "appointment.changed",
                                          "order.completed", None)] == [
        "scheduled", "scheduled", "changed", "order.completed", ""]
    assert rc.money_minor("10.00") == 1000 and rc.money_minor("0.00") == 0 and rc.money_minor("12.5") == 1250
    assert rc.money_minor(None) == 0 and rc.money_minor("junk") == 0
    assert rc.acuity_iso("2020-04-21T13:00:00-0400") == "2020-04-21T13:00:00-04:00"
    assert rc.acuity_order_time("2014-09-23 14:22", "America/New_York") == "2014-09-23T14:22:00-04:00"


# ---- date windows ---------------------------------------------------------------------------------


def test_reconcile_range_covers_today_and_the_seed() -> None:
    start, end = rc.reconcile_range(date(2026, 11, 29))
    assert start == date(2026, 4, 1) and end == date(2027, 5, 29)
    start, end = rc.reconcile_range(date(2030, 1, 15))
    assert start == date(2026, 4, 1) and end == date(2030, 7, 15)


def test_windows_are_contiguous_and_split_in_two() -> None:
    start, end = date(2026, 4, 1), date(2027, 5, 29)
    windows = rc.date_windows(start, end)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in zip(windows, windows[1:], strict=False))
    assert all(lo <= hi and (hi - lo).days < rc.ACUITY_WINDOW_DAYS for lo, hi in windows)
    lo, hi = date(2026, 5, 1), date(2026, 5, 10)
    halves = rc.split_window(lo, hi)
    assert halves == [(lo, date(2026, 5, 5)), (date(2026, 5, 6), hi)]
    assert rc.split_window(lo, lo) == []


class FakeWindows:
    """`list_appointment_window` over a list of (id, day), with Acuity's silent `max` truncation."""

    def __init__(self, days: list[date]) -> None:
        self.days = days
        self.calls: list[tuple[date | None, date | None, int]] = []

    def window(self, lo: date, hi: date, limit: int) -> list[dict[str, Any]]:
        self.calls.append((lo, hi, limit))
        hits = [{"id": i, "day": d} for i, d in enumerate(self.days) if lo <= d <= hi]
        return sorted(hits, key=lambda a: a["day"], reverse=True)[:limit]


def test_full_windows_are_split_until_nothing_is_cut(client: Any) -> None:
    # 250 appointments in one week, 120 of them on one day, and a few spread over the year.
    busy = date(2026, 10, 5)
    days = [busy] * 120 + [busy + timedelta(days=i % 7) for i in range(130)] + [date(2026, 4, 2), date(2027, 5, 28)]
    fake = FakeWindows(days)
    client.list_appointment_window = fake.window
    found = client.acuity_appointments(date(2026, 4, 1), date(2027, 5, 29))
    assert sorted(a["id"] for a in found) == list(range(len(days)))
    assert any(lo == hi == busy and limit > rc.ACUITY_MAX for lo, hi, limit in fake.calls)  # one day: bigger max
    assert all(limit == rc.ACUITY_MAX for lo, hi, limit in fake.calls if lo != hi)  # windows: split, not enlarged


def test_no_date_windows_variant_misses_what_is_beyond_max(tmp_path: Path) -> None:
    c = make(tmp_path, variant("broken_acuity_no_date_windows"))
    try:
        days = [date(2026, 4, 1) + timedelta(days=i) for i in range(150)]
        seen: list[dict[str, Any]] = []

        def acuity(path: str, params: dict[str, Any] | None = None, **_: Any) -> Any:
            seen.append({"path": path, **(params or {})})
            limit = int((params or {}).get("max", 100))
            return [{"id": i} for i in range(len(days))][::-1][:limit]

        c.acuity = acuity
        found = c.acuity_appointments(date(2026, 4, 1), date(2027, 5, 29))
        assert len(found) == 100 and "minDate" not in seen[0] and len(seen) == 1
    finally:
        c.state.close()


# ---- payments and customers -----------------------------------------------------------------------


def test_payment_records(client: Any) -> None:
    appointment = {"id": 54321, "email": " Jane.Doe@X.com ", "firstName": "Jane", "lastName": "Doe",
                   "amountPaid": "30.00"}
    payment = {"transactionID": "pi_1", "created": "2026-10-02T09:27:51-0400", "processor": "stripe",
               "amount": "30.00"}
    key, body = client.acuity_payment(appointment, payment, "USD", "scheduled")
    assert key == "acuity:pi_1" and client.acuity_payment(appointment, payment, "USD", "changed")[0] == key
    assert body == {"paymentKey": "acuity:pi_1", "source": "acuity", "sourceKind": "appointment", "sourceId": "pi_1",
                    "parentId": "54321", "amount": 30.0, "currency": "USD", "status": "paid",
                    "customerEmail": "jane.doe@x.com", "paidAt": "2026-10-02T09:27:51-04:00"}
    key, body = client.acuity_order_payment({"id": 77, "total": "55.00", "status": "paid", "time": "2026-10-02 14:22",
                                             "email": "A@b.co"}, "USD", "America/New_York")
    assert key == "acuity-order:77" and body["sourceKind"] == "order" and body["sourceId"] == body["parentId"] == "77"
    assert body["amount"] == 55.0 and body["paidAt"] == "2026-10-02T14:22:00-04:00" and body["customerEmail"] == "a@b.co"
    key, body = client.ghl_payment({"_id": "t1", "entityId": "o1", "amount": 12.5, "currency": "USD",
                                    "status": "succeeded", "contactEmail": "Jane.Doe@x.com", "createdAt": "2026-10-01"})
    assert key == "ghl:t1" and body["sourceKind"] == "transaction" and body["parentId"] == "o1"
    assert body["customerEmail"] == "jane.doe@x.com" and body["amount"] == 12.5


def test_changed_twice_variant_keys_by_webhook(tmp_path: Path) -> None:
    c = make(tmp_path, variant("broken_acuity_changed_twice"))
    try:
        appointment, payment = {"id": 1, "email": "a@b.co"}, {"transactionID": "pi_1", "amount": "1.00"}
        keys = {c.acuity_payment(appointment, payment, "USD", action)[0] for action in ("scheduled", "changed")}
        assert len(keys) == 2
    finally:
        c.state.close()


def seed_people(c: Any) -> None:
    """A GHL contact and Acuity clients: the same person in other letter case, the same person under a
    second email, and a different person with the same name."""
    c.note_person("ghl_contact", "c1", "Jane.Doe@X.com", "Jane", "Doe")
    c.note_person("payment", "ghl:t1", "jane.doe@x.com", "Jane", "Doe", value=1000, currency="USD")
    c.note_person("acuity_client", "jane.doe@x.com ", "jane.doe@x.com ", "Jane", "Doe")
    c.note_person("payment", "acuity:pi_1", "jane.doe@x.com ", "Jane", "Doe", value=2550, currency="USD")
    c.note_person("acuity_client", "jane.work@y.com", "jane.work@y.com", "Jane", "Doe")  # same person, 2nd email
    c.note_person("acuity_client", "other.jane@z.com", "other.jane@z.com", "Jane", "Doe")  # another Jane Doe
    c.note_person("ghl_contact", "c2", "", "No", "Email")


def test_customers_merge_by_normalised_email_only(client: Any) -> None:
    seed_people(client)
    assert client.people.persons() == ["", "jane.doe@x.com", "jane.work@y.com", "other.jane@z.com"]
    jane = client.customer_body("jane.doe@x.com")
    assert jane["emails"] == ["jane.doe@x.com"] and jane["ghlContactIds"] == ["c1"]
    assert jane["acuityEmails"] == ["jane.doe@x.com "] and jane["lifetimeValue"] == 35.5
    assert jane["firstName"] == "Jane" and jane["currency"] == "USD" and jane["customerId"] == "jane.doe@x.com"
    assert client.customer_body("other.jane@z.com")["emails"] == ["other.jane@z.com"]
    assert client.customer_body("") is None
    # A row that moves (an appointment's email edited) leaves its old person.
    moved = client.note_person("payment", "acuity:pi_1", "other.jane@z.com", "Jane", "Doe", value=2550, currency="USD")
    assert moved == {"jane.doe@x.com", "other.jane@z.com"}
    assert client.customer_body("jane.doe@x.com")["lifetimeValue"] == 10.0
    assert client.note_person("payment", "acuity:pi_1", "other.jane@z.com", "Jane", "Doe", value=2550,
                              currency="USD") == set()


def test_merge_by_name_variant_merges_different_people(tmp_path: Path) -> None:
    c = make(tmp_path, variant("broken_acuity_merge_by_name"))
    try:
        seed_people(c)
        merged = c.customer_body("jane doe")
        assert merged["emails"] == ["jane.doe@x.com", "jane.work@y.com", "other.jane@z.com"]
    finally:
        c.state.close()


def test_people_survive_a_restart(tmp_path: Path) -> None:
    c = make(tmp_path)
    seed_people(c)
    c.state.close()
    again = make(tmp_path)
    try:
        assert again.customer_body("jane.doe@x.com")["lifetimeValue"] == 35.5
    finally:
        again.state.close()


# ---- the client as a real subprocess against the sandbox's fake Acuity ------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--rate-limit", "default"]) as sb:
        yield sb


@pytest.fixture
def live(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fresh location (12 GHL orders, its Acuity account seeded to scale), and the reference client
    started with the contract's environment plus ACUITY_*."""
    control = sandbox.client()
    location_id = control.new_location(orders=12)["locationId"]
    view = next(loc for loc in control.locations() if loc["locationId"] == location_id)
    keys, app, acuity = control.control("GET", "/keys"), control.control("GET", "/apps")[0], view["acuity"]
    env = {
        "GHL_API_BASE_URL": sandbox.url, "GHL_ACCESS_TOKEN": view["tokens"][0]["token"],
        "GHL_LOCATION_ID": location_id, "GHL_API_VERSION": "2021-07-28", "GHL_APP_ID": app["appId"],
        "GHL_WEBHOOK_PUBLIC_KEY": keys["ed25519PublicKey"], "GHL_WEBHOOK_RSA_PUBLIC_KEY": keys["rsaPublicKey"],
        "RANKR_API_BASE_URL": sandbox.url + "/rankr", "RANKR_API_KEY": view["rankr"]["apiKey"],
        "RANKR_WEBHOOK_SECRET": view["rankr"]["webhookSecret"], "CLIENT_PORT": str(free_port()),
        "CLIENT_STATE_DIR": str(tmp_path / "state"), "CLIENT_RECONCILE_INTERVAL": "1",
        "ACUITY_API_BASE_URL": sandbox.url + acuity["baseUrl"], "ACUITY_USER_ID": str(acuity["userId"]),
        "ACUITY_API_KEY": acuity["apiKey"],
    }
    client = Client(env, tmp_path / "client.log")
    client.start()
    rankr = httpx.Client(base_url=sandbox.url + "/rankr", headers={"Authorization": f"Bearer {view['rankr']['apiKey']}"})
    try:
        yield {"control": control, "location_id": location_id, "client": client, "rankr": rankr,
               "api_key": acuity["apiKey"], "hook": client.url + "/webhooks/acuity"}
    finally:
        if client.proc is not None and client.proc.poll() is None:
            try:
                client.signal(signal.SIGTERM)
            except subprocess.TimeoutExpired:
                client.signal(signal.SIGKILL)
        rankr.close()
        control.close()


def rankr_all(rankr: httpx.Client, collection: str) -> list[dict[str, Any]]:
    r = rankr.get(f"/v1/{collection}", params={"limit": 1000})
    r.raise_for_status()
    return r.json()["data"]


def acuity_state(live: dict[str, Any]) -> dict[str, Any]:
    return live["control"].control("GET", "/acuity/state", params={"locationId": live["location_id"]})


def simulate(live: dict[str, Any], action: str, **body: Any) -> dict[str, Any]:
    return live["control"].control("POST", f"/simulate/{action}", json={"locationId": live["location_id"], **body})


def settle(live: dict[str, Any]) -> list[dict[str, Any]]:
    control = live["control"]
    settled = control.http.get("/_sandbox/wait", params={"for": "deliveries-settled", "timeout": "30"})
    assert settled.status_code == 200, settled.text
    return control.control("GET", "/webhooks/deliveries",
                           params={"locationId": live["location_id"], "service": "acuity"})["deliveries"]


def expected_payments(live: dict[str, Any]) -> dict[tuple[str, str, str], tuple[float, str]]:
    """(source, sourceKind, sourceId) -> (amount, currency) of every payment of the location, both sources."""
    state, ghl = acuity_state(live), live["control"].control("GET", f"/locations/{live['location_id']}/state")
    currency = state["account"]["currency"]
    out = {("acuity", "appointment", p["transactionID"]): (float(p["amount"]), currency)
           for a in state["appointments"] for p in a.get("payments", [])}
    out |= {("acuity", "order", str(o["id"])): (float(o["total"]), currency)
            for o in state["orders"] if o["status"] == "paid"}
    out |= {("ghl", "transaction", t["_id"]): (float(t["amount"]), t["currency"]) for t in ghl["transactions"]}
    return out


def payments_reconciled(live: dict[str, Any]) -> bool:
    want = expected_payments(live)
    have: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
    for p in rankr_all(live["rankr"], "payments"):
        have.setdefault((p["source"], p["sourceKind"], p["sourceId"]), []).append((float(p["amount"]), p["currency"]))
    return set(have) == set(want) and all(have[k] == [want[k]] for k in want)


def test_signed_acuity_webhooks_reach_rankr_before_the_answer(live: dict[str, Any]) -> None:
    control, rankr, hook = live["control"], live["rankr"], live["hook"]
    control.control("PUT", "/acuity/webhooks/static", json={
        "locationId": live["location_id"], "actionStyle": "short",
        "urls": {e: hook for e in ("scheduled", "rescheduled", "canceled", "changed", "order.completed")}})
    made = simulate(live, "acuity.schedule", pay="full", email="  Someone.New@Example.COM ")
    appointment = next(r for r in made["resources"] if r["type"] == "appointment")["data"]
    payment = next(r for r in made["resources"] if r["type"] == "payment")["data"]
    deliveries = settle(live)
    assert {d["event"] for d in deliveries} >= {"appointment.scheduled", "appointment.changed"}, deliveries
    assert all(d["status"] == "delivered" for d in deliveries), (deliveries, live["client"].log())

    # Acknowledged only once Rankr had it: read right after the deliveries settled, no waiting.
    mine = [p for p in rankr_all(rankr, "payments") if p["sourceId"] == payment["transactionID"]]
    assert len(mine) == 1, mine  # `scheduled` and its duplicate `changed`: one payment
    expected = {
        "paymentKey": f"acuity:{payment['transactionID']}", "source": "acuity", "sourceKind": "appointment",
        "sourceId": payment["transactionID"], "parentId": str(appointment["id"]), "amount": float(payment["amount"]),
        "currency": acuity_state(live)["account"]["currency"], "status": "paid",
        "customerEmail": "someone.new@example.com"}
    assert {k: mine[0][k] for k in expected} == expected
    assert mine[0]["paidAt"] == rc.acuity_iso(payment["created"]) and mine[0]["paidAt"][-3] == ":"
    customer = rankr.get("/v1/customers/someone.new@example.com")
    assert customer.status_code == 200, customer.text
    assert customer.json()["emails"] == ["someone.new@example.com"]
    assert customer.json()["lifetimeValue"] == float(payment["amount"])

    # A reschedule fires `rescheduled` and `changed`: still one payment. A tip taken later: a second one.
    simulate(live, "acuity.reschedule", appointmentId=appointment["id"])
    tip = next(r for r in simulate(live, "acuity.pay", appointmentId=appointment["id"], kind="tip",
                                   amount=5)["resources"] if r["type"] == "payment")["data"]
    assert all(d["status"] == "delivered" for d in settle(live))
    ids = sorted(p["sourceId"] for p in rankr_all(rankr, "payments") if p["parentId"] == str(appointment["id"]))
    assert ids == sorted([payment["transactionID"], tip["transactionID"]])

    # A store order: `order.completed`, one payment of kind order.
    order = next(r for r in simulate(live, "acuity.order")["resources"] if r["type"] == "order")["data"]
    assert all(d["status"] == "delivered" for d in settle(live))
    got = rankr.get(f"/v1/payments/acuity-order:{order['id']}")
    assert got.status_code == 200 and got.json()["sourceKind"] == "order" and got.json()["amount"] == float(order["total"])

    # Forged (wrong key) and re-encoded (the same form in another field order, the genuine signature):
    # 401, nothing written (counted once polling has brought in the seeded records too: it runs beside).
    eventually(lambda: payments_reconciled(live), timeout=90, every=0.5)
    before = len(rankr_all(rankr, "payments"))
    body = f"action=scheduled&id={appointment['id']}&calendarID={appointment['calendarID']}" \
           f"&appointmentTypeID={appointment['appointmentTypeID']}".encode()
    forged = httpx.post(hook, content=body, headers={"X-Acuity-Signature": rc.acuity_signature("wrong", body)})
    assert forged.status_code == 401
    reordered = b"&".join(reversed(body.split(b"&")))
    signed = rc.acuity_signature(live["api_key"], body)
    assert httpx.post(hook, content=reordered, headers={"X-Acuity-Signature": signed}).status_code == 401
    assert httpx.post(hook, content=body, headers={"X-Acuity-Signature": signed}).status_code == 200
    assert len(rankr_all(rankr, "payments")) == before


def test_polling_alone_reconciles_payments_and_merges_customers_by_email(live: dict[str, Any]) -> None:
    # No Acuity webhook is configured at all: every payment (seeded, and one made now) comes by polling.
    # The one made now is booked by a GHL order's contact, so one person is surely on both sides
    # (whatever this location's seed overlaps).
    orders = live["control"].control("GET", f"/locations/{live['location_id']}/state")["orders"]
    buyer = next(o["contactId"] for o in orders if o.get("contactEmail"))
    simulate(live, "acuity.schedule", pay="deposit", contactId=buyer)
    eventually(lambda: payments_reconciled(live), timeout=90, every=1)

    state = acuity_state(live)
    ghl = live["control"].control("GET", f"/locations/{live['location_id']}/state")
    groups: dict[str, set[str]] = {}  # persons by normalised email: GHL contacts of orders, Acuity clients
    for o in ghl["orders"]:
        if o.get("contactEmail"):
            groups.setdefault(rc.normalise_email(o["contactEmail"]), set()).add(o["contactId"])
    for a in state["appointments"]:
        groups.setdefault(rc.normalise_email(a["email"]), set())

    def merged() -> bool:
        customers = rankr_all(live["rankr"], "customers")
        by_email = {e: c for c in customers for e in c["emails"]}
        return all(e in by_email for e in groups) and all(
            len({e for e in c["emails"] if e in groups}) <= 1 for c in customers)

    eventually(merged, timeout=30, every=1)
    customers = rankr_all(live["rankr"], "customers")
    assert all(c["customerId"] == c["emails"][0] and len(c["emails"]) == 1 for c in customers)
    # The same person in GHL and Acuity (the seed guarantees some): one customer with both sides.
    both = [c for c in customers if c["ghlContactIds"] and c["acuityEmails"]]
    assert both, customers[:3]
    assert all(set(c["ghlContactIds"]) == groups[c["customerId"]] for c in customers if c["customerId"] in groups)
    # Acuity's rate limit was never hit by the client (asked of the sandbox's journal: a port number in
    # the client's log may contain "429").
    calls = live["control"].journal(path="/acuity", locationId=live["location_id"], limit=10_000)
    assert calls and not [c for c in calls if c["status"] == 429], [c for c in calls if c["status"] == 429][:3]


def test_throttled_by_acuity_it_backs_off_and_still_syncs(live: dict[str, Any]) -> None:
    """Acuity limited to 3 requests/s with its edge's HTML 403 mixed in: the client is refused, waits
    after each refusal (every thread), and still gets every payment to Rankr."""
    control = live["control"]
    start = max([e["id"] for e in control.journal(path="/acuity", limit=10_000)], default=0)
    control.control("PUT", "/acuity/ratelimit", json={"enabled": True, "perSecond": 3, "concurrent": 20,
                                                      "edge403": True})
    try:
        control.control("PUT", "/acuity/webhooks/static", json={
            "locationId": live["location_id"], "actionStyle": "short",
            "urls": {e: live["hook"] for e in ("scheduled", "rescheduled", "canceled", "changed", "order.completed")}})
        for _ in range(5):
            simulate(live, "acuity.schedule", pay="full")
        deliveries = settle(live)
        # A genuine delivery is never refused (a 503 asks for a retry; polling repairs what is not retried).
        assert not [a for d in deliveries for a in d["attempts"] if 400 <= (a.get("status") or 0) < 500]
        eventually(lambda: payments_reconciled(live), timeout=90, every=1)
        calls = sorted((e for e in control.journal(path="/acuity", limit=10_000) if e["id"] > start),
                       key=lambda e: e["id"])
    finally:
        control.control("PUT", "/acuity/ratelimit", json={"enabled": True, "perSecond": 10, "concurrent": 20,
                                                          "edge403": False})
    at = [datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() for e in calls]
    refused = [i for i, e in enumerate(calls) if e["status"] in (429, 403)]
    assert refused and any(calls[i]["status"] == 403 for i in refused), "the limit was never reached"
    for i in refused:  # nothing new starts within 200 ms of a refusal (requests already in flight aside)
        assert not [t for t in at[i + 1:] if at[i] + 0.05 < t < at[i] + 0.2], (calls[i], calls[i + 1:i + 4])
    assert max(sum(1 for t in at if a <= t < a + 1.0) for a in at) <= rc.ACUITY_PER_SECOND


def test_rankr_failing_means_no_acknowledgement_and_polling_repairs_it(live: dict[str, Any]) -> None:
    control, rankr = live["control"], live["rankr"]
    eventually(lambda: payments_reconciled(live), timeout=60, every=1)  # the seed first
    control.control("PUT", "/acuity/webhooks/static", json={
        "locationId": live["location_id"], "actionStyle": "full",
        "urls": {e: live["hook"] for e in ("scheduled", "rescheduled", "canceled", "changed", "order.completed")}})
    control.fault({"method": "PUT", "path": "/rankr/v1/payments/{paymentKey}"}, {"status": 503})
    try:
        made = simulate(live, "acuity.schedule", pay="full")
        payment = next(r for r in made["resources"] if r["type"] == "payment")["data"]
        deliveries = settle(live)
        mine = [d for d in deliveries if d["status"] != "delivered"]
        assert mine and all(a["status"] == 503 for d in mine for a in d["attempts"]), deliveries
        assert rankr.get(f"/v1/payments/acuity:{payment['transactionID']}").status_code == 404
    finally:
        control.control("DELETE", "/faults")
    eventually(lambda: payments_reconciled(live), timeout=60, every=1)
