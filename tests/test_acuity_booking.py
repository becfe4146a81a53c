"""The fake Acuity's writes through real HTTP against a `ghl-sandbox serve` subprocess: the API's
POST/PUT appointments, cancel and reschedule (Acuity's envelope and codes), and the simulated actions
`acuity.*` of the control plane with their effects as the API and `/_sandbox/acuity/state` show them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server.testing import SandboxProcess


class Sandbox:
    def __init__(self, proc: SandboxProcess) -> None:
        self.http = httpx.Client(base_url=proc.url, timeout=30)
        self.url = proc.url
        self.ok("PUT", "/_sandbox/acuity/ratelimit", json={"enabled": False})
        self.locations = self.ok("GET", "/_sandbox/locations")

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def sim(self, action: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("POST", f"/_sandbox/simulate/{action}", json=body)
        return result

    def state(self, index: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("GET", "/_sandbox/acuity/state",
                                         params={"locationId": self.locations[index]["locationId"]})
        return result

    def api(self, index: int = 0) -> httpx.Client:
        acct = self.locations[index]["acuity"]
        return httpx.Client(base_url=self.url + "/acuity/api/v1", auth=(str(acct["userId"]), acct["apiKey"]),
                            timeout=30)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with SandboxProcess(["--orders", "0", "--rate-limit", "off"]) as proc:
        yield Sandbox(proc)


@pytest.fixture(scope="module")
def api(sb: Sandbox) -> Iterator[httpx.Client]:
    with sb.api() as client:
        yield client


def minor(text: str) -> int:
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int(cents)


def paid_type(api: httpx.Client) -> dict[str, Any]:
    types = api.get("/appointment-types").json()
    return next(t for t in types if t["type"] == "service" and t["price"] != "0.00" and t["active"] in (True, "true"))


def open_slots(api: httpx.Client, type_id: int, calendar_id: int | None = None, after: str = "") -> list[dict[str, Any]]:
    """The open slots of the first day from a week on that has some."""
    from datetime import date, timedelta

    day = date.today() + timedelta(days=7)
    for _ in range(21):
        params: dict[str, Any] = {"date": day.isoformat(), "appointmentTypeID": type_id}
        if calendar_id is not None:
            params["calendarID"] = calendar_id
        times: list[dict[str, Any]] = api.get("/availability/times", params=params).json()
        if len(times) >= 4:
            return times
        day += timedelta(days=1)
    raise AssertionError("no open slots in three weeks")


def error_of(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body == {"status_code": status, "message": body["message"], "error": code}
    return body


def test_datetimes_are_read_as_acuity_documents_them() -> None:
    from mock_server.acuity.booking import parse_datetime

    new_york = parse_datetime("2026-12-02T08:00:00-0500", "UTC")
    assert new_york == parse_datetime("2026-12-02T08:00:00-05:00", "UTC") == parse_datetime("2026-12-02 13:00", "UTC")
    assert new_york == parse_datetime("2026-12-02T08:00", "America/New_York")  # no offset: the calendar's zone
    assert parse_datetime("2026-12-02T13:00:00Z", "Asia/Tokyo") == new_york
    for bad in ("tomorrow", "2026-02-30T08:00", "2026-12-02T25:00", "9999-12-31T23:30:00-1400", ""):
        assert parse_datetime(bad, "UTC") is None, bad


# ---- POST /appointments ----------------------------------------------------------------------------


def test_client_booking_takes_only_free_slots_and_admin_can_double_book(api: httpx.Client) -> None:
    atype = paid_type(api)
    calendar_id = atype["calendarIDs"][0]
    slots = open_slots(api, atype["id"], calendar_id)
    person = {"firstName": "Dana", "lastName": "Fox", "email": "dana.fox@example.com", "phone": "5550100"}
    body = {"datetime": slots[0]["time"], "appointmentTypeID": atype["id"], "calendarID": calendar_id, **person}
    created = api.post("/appointments", json=body)
    assert created.status_code == 200, created.text
    appt = created.json()
    assert appt["datetime"] == slots[0]["time"] and appt["calendarID"] == calendar_id
    assert appt["price"] == atype["price"] and appt["paid"] == "no" and appt["amountPaid"] == "0.00"
    assert appt["canceled"] is False and appt["scheduledBy"] is None and "status_code" not in appt
    assert api.get(f"/appointments/{appt['id']}").json() == appt
    # The slot is gone from /availability/times on that calendar, and a second client booking is refused.
    left = api.get("/availability/times", params={"date": slots[0]["time"][:10], "appointmentTypeID": atype["id"],
                                                  "calendarID": calendar_id}).json()
    assert slots[0]["time"] not in [s["time"] for s in left]
    error_of(api.post("/appointments", json={**body, "email": "other@example.com"}), 400, "not_available")
    # As admin the same slot books again (no availability check), and needs calendarID.
    error_of(api.post("/appointments?admin=true", json={k: v for k, v in body.items() if k != "calendarID"}),
             400, "required_calendar")
    double = api.post("/appointments?admin=true&noEmail=true", json={**body, "notes": "squeezed in"})
    assert double.status_code == 200, double.text
    assert double.json()["datetime"] == appt["datetime"] and double.json()["calendarID"] == calendar_id
    assert double.json()["notes"] == "squeezed in" and double.json()["id"] != appt["id"]
    # Notes are only taken from an admin.
    other = api.post("/appointments", json={**body, "datetime": slots[2]["time"], "notes": "ignored"})
    assert other.status_code == 200 and other.json()["notes"] == ""


def test_client_booking_without_a_calendar_picks_a_free_one_until_none_is(api: httpx.Client) -> None:
    atype = paid_type(api)
    slots = open_slots(api, atype["id"])
    slot = slots[-1]
    body = {"datetime": slot["time"], "appointmentTypeID": atype["id"], "firstName": "Lee", "lastName": "Park",
            "email": "lee.park@example.com"}
    booked = []
    for _ in range(slot["slotsAvailable"]):
        r = api.post("/appointments", json=body)
        assert r.status_code == 200, r.text
        booked.append(r.json()["calendarID"])
    assert len(set(booked)) == len(booked)
    error_of(api.post("/appointments", json=body), 400, "no_available_calendar")


def test_booking_refusals_in_acuitys_envelope(api: httpx.Client) -> None:
    atype = paid_type(api)
    slot = open_slots(api, atype["id"])[1]["time"]
    person = {"firstName": "Ana", "lastName": "Bell", "email": "ana@example.com"}
    error_of(api.post("/appointments", content=b"{not json"), 400, "bad_request")
    error_of(api.post("/appointments", json={"appointmentTypeID": atype["id"], **person}), 400, "required_datetime")
    error_of(api.post("/appointments", json={"datetime": slot, **person}), 400, "required_appointment_type_id")
    error_of(api.post("/appointments", json={"datetime": "next blursday", "appointmentTypeID": atype["id"], **person}),
             400, "invalid_datetime")
    error_of(api.post("/appointments", json={"datetime": slot, "appointmentTypeID": atype["id"], **person,
                                             "certificate": "NOSUCHCODE"}), 400, "invalid_certificate")
    error_of(api.post("/appointments", json={"datetime": slot, "appointmentTypeID": atype["id"],
                                             "firstName": "Ana", "lastName": "Bell"}), 400, "invalid_email")
    error_of(api.post("/appointments", json={"datetime": "9999-12-31T23:30:00-1400", "appointmentTypeID": atype["id"],
                                             **person}), 400, "invalid_datetime")
    error_of(api.post("/appointments", json={"datetime": slot, "appointmentTypeID": atype["id"], **person,
                                             "firstName": {"a": 1}}), 400, "invalid_first_name")
    # In the past: not available.
    error_of(api.post("/appointments", json={"datetime": "2020-01-06T10:00:00-0500", "appointmentTypeID": atype["id"],
                                             **person}), 400, "no_available_calendar")


def test_certificate_from_a_package_order_pays_a_booking(sb: Sandbox, api: httpx.Client) -> None:
    result = sb.sim("acuity.order", kind="package", email="pack@example.com")
    cert = next(r["data"] for r in result["resources"] if r["type"] == "certificate")
    type_id = cert["appointmentTypeIDs"][0]
    before = cert["remainingCounts"][str(type_id)]
    slot = open_slots(api, type_id)[0]["time"]
    r = api.post("/appointments", json={"datetime": slot, "appointmentTypeID": type_id, "firstName": "Pat",
                                        "lastName": "Kim", "email": "pack@example.com",
                                        "certificate": cert["certificate"]})
    assert r.status_code == 200, r.text
    assert r.json()["certificate"] == cert["certificate"] and r.json()["paid"] == "yes"
    after = next(c for c in api.get("/certificates").json() if c["id"] == cert["id"])
    assert after["remainingCounts"][str(type_id)] == before - 1


# ---- PUT /appointments/:id, cancel, reschedule -------------------------------------------------------


def test_update_whitelist_invalid_name_and_admin_only_fields(sb: Sandbox, api: httpx.Client) -> None:
    appt = sb.sim("acuity.schedule")["resources"][0]["data"]
    path = f"/appointments/{appt['id']}"
    error_of(api.put(path, json={"firstName": ""}), 400, "invalid_name")
    error_of(api.put(path, json={"lastName": None}), 400, "invalid_name")
    r = api.put(path, json={"email": "new@example.com", "phone": "5550199", "notes": "client note", "price": "1.00",
                            "datetime": "2030-01-01T09:00:00-0500"})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["email"] == "new@example.com" and updated["phone"] == "5550199"
    assert updated["notes"] == appt["notes"] and updated["price"] == appt["price"]  # not whitelisted / not admin
    assert updated["datetime"] == appt["datetime"]
    assert api.put(f"{path}?admin=true", json={"notes": "admin note"}).json()["notes"] == "admin note"
    error_of(api.put(path, content=b"[1,2"), 400, "bad_request")
    error_of(api.put(path, json={"email": ["x"]}), 400, "invalid_email")
    error_of(api.put("/appointments/99999999", json={"firstName": "X"}), 404, "not_found")


def test_cancel_with_and_without_a_body_is_permanent(sb: Sandbox, api: httpx.Client) -> None:
    first = sb.sim("acuity.schedule")["resources"][0]["data"]
    second = sb.sim("acuity.schedule")["resources"][0]["data"]
    # No body at all (as some clients send it).
    r = api.put(f"/appointments/{first['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["canceled"] is True and r.json()["noShow"] is False
    # An empty JSON body as the PHP SDK sends it, then a body with a note.
    assert api.put(f"/appointments/{second['id']}/cancel", content=b"[]",
                   headers={"content-type": "application/json"}).json()["canceled"] is True
    # noShow is an admin's: ignored from a client, taken from an admin, even after the cancel.
    assert api.put(f"/appointments/{first['id']}/cancel", json={"noShow": True}).json()["noShow"] is False
    again = api.put(f"/appointments/{first['id']}/cancel?admin=true", json={"noShow": True, "cancelNote": "late"})
    assert again.status_code == 200 and again.json()["canceled"] is True and again.json()["noShow"] is True
    # Canceled appointments leave the default list and show with canceled=true.
    listed = api.get("/appointments", params={"canceled": "true", "max": 1000}).json()
    assert first["id"] in [a["id"] for a in listed]
    assert first["id"] not in [a["id"] for a in api.get("/appointments", params={"max": 1000}).json()]
    # Permanent: it cannot be moved any more.
    error_of(api.put(f"/appointments/{first['id']}/reschedule", json={"datetime": first["datetime"]}), 400,
             "appointment_canceled")


def test_reschedule_into_a_free_slot_keeps_payments(sb: Sandbox, api: httpx.Client) -> None:
    booked = sb.sim("acuity.schedule", pay="full")
    appt = booked["resources"][0]["data"]
    payments_before = api.get(f"/appointments/{appt['id']}/payments").json()
    assert len(payments_before) == 1 and minor(payments_before[0]["amount"]) == minor(appt["price"])
    path = f"/appointments/{appt['id']}/reschedule"
    error_of(api.put(path, json={}), 400, "required_datetime")
    error_of(api.put(path, content=b""), 400, "bad_request")
    slots = open_slots(api, appt["appointmentTypeID"], appt["calendarID"])
    moved = api.put(path, json={"datetime": slots[3]["time"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["datetime"] == slots[3]["time"] and moved.json()["id"] == appt["id"]
    assert moved.json()["amountPaid"] == appt["amountPaid"] and moved.json()["paid"] == "yes"
    assert api.get(f"/appointments/{appt['id']}/payments").json() == payments_before
    # Into a taken slot: refused for a client, done by an admin.
    other = api.post("/appointments", json={"datetime": slots[0]["time"], "appointmentTypeID": appt["appointmentTypeID"],
                                            "calendarID": appt["calendarID"], "firstName": "Sam", "lastName": "Lo",
                                            "email": "sam@example.com"})
    assert other.status_code == 200, other.text
    error_of(api.put(path, json={"datetime": slots[0]["time"]}), 400, "not_available")
    assert api.put(f"{path}?admin=true", json={"datetime": slots[0]["time"]}).json()["datetime"] == slots[0]["time"]


def test_another_accounts_appointment_is_forbidden(sb: Sandbox, api: httpx.Client) -> None:
    theirs = sb.sim("acuity.schedule", locationId=sb.locations[1]["locationId"])["resources"][0]["id"]
    error_of(api.put(f"/appointments/{theirs}", json={"firstName": "X"}), 403, "forbidden")
    error_of(api.put(f"/appointments/{theirs}/cancel"), 403, "forbidden")
    with sb.api(1) as owner:
        assert owner.get(f"/appointments/{theirs}").json()["canceled"] is False


# ---- simulated actions -------------------------------------------------------------------------------


def test_schedule_with_deposit_then_tip(sb: Sandbox, api: httpx.Client) -> None:
    result = sb.sim("acuity.schedule", pay="deposit", processor="square", email="deposit@example.com")
    assert [w["event"] for w in result["webhooks"]] == ["appointment.scheduled", "appointment.changed"]
    appt = result["resources"][0]["data"]
    assert appt["paid"] == "no" and 0 < minor(appt["amountPaid"]) < minor(appt["price"])
    [payment] = api.get(f"/appointments/{appt['id']}/payments").json()
    assert payment["processor"] == "square" and payment["amount"] == appt["amountPaid"]
    tipped = sb.sim("acuity.pay", appointmentId=appt["id"], kind="tip", amount=7.5)
    assert [w["event"] for w in tipped["webhooks"]] == ["appointment.changed"]
    fetched = api.get(f"/appointments/{appt['id']}").json()
    assert fetched["paid"] == "yes" and minor(fetched["amountPaid"]) == minor(fetched["price"]) + 750
    assert len(api.get(f"/appointments/{appt['id']}/payments").json()) == 2
    # Nothing left to pay: 409.
    r = sb.http.post("/_sandbox/simulate/acuity.pay", json={"appointmentId": appt["id"]})
    assert r.status_code == 409, r.text


def test_refund_is_invisible_in_the_api_but_in_the_processor_ledger(sb: Sandbox, api: httpx.Client) -> None:
    appt = sb.sim("acuity.schedule", pay="full")["resources"][0]["data"]
    before = api.get(f"/appointments/{appt['id']}").json()
    payments = api.get(f"/appointments/{appt['id']}/payments").json()
    refund = sb.sim("acuity.refund", appointmentId=appt["id"], amount=10)
    assert refund["webhooks"] == []
    [res] = refund["resources"]
    assert res["type"] == "refund" and res["data"]["kind"] == "refund" and res["data"]["amount"] == "10.00"
    assert res["data"]["transactionID"] == payments[0]["transactionID"]
    assert api.get(f"/appointments/{appt['id']}").json() == before
    assert api.get(f"/appointments/{appt['id']}/payments").json() == payments
    ledger = [e for e in sb.state()["processor"] if e["appointmentID"] == appt["id"]]
    assert [(e["kind"], e["amount"]) for e in ledger] == [("charge", appt["amountPaid"]), ("refund", "10.00")]
    # More than is left to refund: 409.
    r = sb.http.post("/_sandbox/simulate/acuity.refund", json={"appointmentId": appt["id"], "amount": 100000})
    assert r.status_code == 409, r.text


def test_order_completes_with_its_certificate(sb: Sandbox, api: httpx.Client) -> None:
    result = sb.sim("acuity.order", kind="gift", firstName="Gia", lastName="Ng", email="gia@example.com")
    assert [w["event"] for w in result["webhooks"]] == ["order.completed"]
    order = next(r for r in result["resources"] if r["type"] == "order")
    cert = next(r for r in result["resources"] if r["type"] == "certificate")
    fetched = api.get(f"/orders/{order['id']}").json()
    assert fetched["status"] == "paid" and fetched["email"] == "gia@example.com" and fetched == order["data"]
    assert cert["data"]["orderID"] == order["id"]
    state = sb.state()
    assert order["id"] in [o["id"] for o in state["orders"]]
    assert [e["amount"] for e in state["processor"] if e["orderID"] == order["id"]] == [fetched["total"]]


def test_schedule_from_a_ghl_contact_and_at_a_given_time(sb: Sandbox, api: httpx.Client) -> None:
    contact_id, contact = next(iter(_contacts(sb, sb.locations[0]["locationId"]).items()))
    atype = paid_type(api)
    slot = open_slots(api, atype["id"])[2]["time"]
    appt = sb.sim("acuity.schedule", contactId=contact_id, appointmentTypeID=atype["id"],
                  datetime=slot)["resources"][0]["data"]
    assert appt["email"] == contact["email"] and appt["datetime"] == slot
    r = sb.http.post("/_sandbox/simulate/acuity.schedule", json={"contactId": "nope"})
    assert r.status_code == 404, r.text


def _contacts(sb: Sandbox, location_id: str) -> dict[str, dict[str, Any]]:
    """The location's GHL contacts, as the whole-state export holds them."""
    rows = sb.ok("GET", "/_sandbox/state")["tables"]["contacts"]
    return {r["id"]: r for r in rows if r["location_id"] == location_id}


def test_simulated_action_refusals(sb: Sandbox) -> None:
    def status(action: str, body: dict[str, Any]) -> int:
        return sb.http.post(f"/_sandbox/simulate/{action}", json=body).status_code

    appt_id = sb.sim("acuity.schedule")["resources"][0]["id"]
    assert status("acuity.cancel", {"appointmentId": appt_id}) == 200
    assert status("acuity.cancel", {"appointmentId": appt_id}) == 409  # permanent
    assert status("acuity.reschedule", {"appointmentId": appt_id}) == 409
    assert status("acuity.pay", {"appointmentId": appt_id}) == 409
    assert status("acuity.pay", {"appointmentId": 99999999}) == 404
    assert status("acuity.pay", {}) == 422
    assert status("acuity.pay", {"appointmentId": appt_id, "kind": "bribe"}) == 422
    assert status("acuity.schedule", {"locationId": "nowhere"}) == 404
    assert status("acuity.schedule", {"datetime": "whenever"}) == 422
    assert status("acuity.nothing", {}) == 404
    bad = sb.http.put("/_sandbox/acuity/webhooks/static", json={"urls": {"booked": "http://127.0.0.1:9/"}})
    assert bad.status_code == 422 and "booked" in bad.text


def test_write_answers_match_the_contract(sb: Sandbox, api: httpx.Client) -> None:
    from pathlib import Path

    import yaml
    from jsonschema import Draft202012Validator

    doc = yaml.safe_load((Path(__file__).resolve().parent.parent / "contracts" / "acuity.openapi.yaml").read_text())

    def problems(schema: str, body: Any) -> list[str]:
        validator = Draft202012Validator({**doc, "$ref": f"#/components/schemas/{schema}"})
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]

    atype = paid_type(api)
    slot = open_slots(api, atype["id"])[0]["time"]
    created = api.post("/appointments", json={"datetime": slot, "appointmentTypeID": atype["id"], "firstName": "Vi",
                                              "lastName": "Ro", "email": "vi@example.com"}).json()
    assert problems("Appointment", created) == []
    canceled = api.put(f"/appointments/{created['id']}/cancel").json()
    assert problems("Appointment", canceled) == [] and canceled["noShow"] is False
    hook = api.post("/webhooks", json={"event": "order.completed", "target": "http://127.0.0.1:9/x"}).json()
    assert problems("Webhook", hook) == []
    assert problems("Webhook", {**hook, "id": str(hook["id"])})  # the schema bites
    assert api.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert problems("Error", api.post("/appointments", json={}).json()) == []


def test_trigger_cli_runs_acuity_actions(sb: Sandbox, api: httpx.Client) -> None:
    import json
    import os
    import subprocess
    import sys

    def trigger(*args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("GHL_SANDBOX_URL", "GHL_SANDBOX_ADMIN_TOKEN")}
        done = subprocess.run([sys.executable, "-m", "mock_server.cli", "trigger", *args, "--url", sb.url],
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    data = json.loads(trigger("acuity.schedule", "--pay", "deposit", "--email", "cli@example.com", "--json"))
    appt = data["resources"][0]["data"]
    assert appt["email"] == "cli@example.com" and appt["paid"] == "no" and appt["amountPaid"] != "0.00"
    out = trigger("acuity.pay", "--appointment-id", str(appt["id"]), "--kind", "tip", "--amount", "5")
    assert "paid=yes" in out and "appointment.changed" in out
    out = trigger("acuity.cancel", "--appointment-id", str(appt["id"]), "--no-show")
    assert "canceled=True" in out and "appointment.canceled" in out
    assert api.get(f"/appointments/{appt['id']}").json()["noShow"] is True
    out = trigger("acuity.refund", "--appointment-id", str(appt["id"]))
    assert "no webhooks (Acuity sends none for this change)" in out
