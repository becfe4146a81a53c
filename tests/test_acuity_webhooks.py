"""Acuity webhooks end to end: a real `ghl-sandbox serve` subprocess delivers to real local receivers
(tests/receiver.py). Covers the wire format (form-encoded, ids only, `X-Acuity-Signature` = base64
HMAC-SHA256 of the exact received bytes keyed with the account's API key), both action styles, the
`changed` duplicates, static vs dynamic webhooks (and the 25-webhook limit), the retry modes, delivery
chaos on an Acuity target, and the separation from GHL's webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from receiver import Receiver

from mock_server.acuity.webhooks import signature
from mock_server.testing import SandboxProcess

STATIC_ALL = ("scheduled", "rescheduled", "canceled", "changed", "order.completed")


def test_signature_matches_the_fact_sheet_vectors() -> None:
    assert signature("abc123", b"action=scheduled&id=54321&calendarID=27238&appointmentTypeID=1") == \
        "N2vF6ucyA+NCDiiwsdXBpIxFok9pGGS4/gMB2ComFwA="
    assert signature("abc123", b"action=order.completed&id=1234") == "4/Sn094sk1yY2+j0oRpZDHbotS0i32CizLwxS17CqXM="
    assert signature("abc124", b"action=order.completed&id=1234") != "4/Sn094sk1yY2+j0oRpZDHbotS0i32CizLwxS17CqXM="


def hmac_b64(key: str, body: bytes) -> str:
    """Computed here independently of the sandbox's code."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


class Sandbox:
    def __init__(self, proc: SandboxProcess) -> None:
        self.proc = proc
        self.http = httpx.Client(base_url=proc.url, timeout=30)
        self.ok("PUT", "/_sandbox/acuity/ratelimit", json={"enabled": False})
        self.locations = self.ok("GET", "/_sandbox/locations")

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def account(self, index: int = 0) -> dict[str, Any]:
        return dict(self.locations[index]["acuity"], locationId=self.locations[index]["locationId"])

    def api(self, index: int = 0) -> httpx.Client:
        acct = self.account(index)
        return httpx.Client(base_url=self.proc.url + "/acuity/api/v1", auth=(str(acct["userId"]), acct["apiKey"]),
                            timeout=30)

    def sim(self, action: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("POST", f"/_sandbox/simulate/{action}", json=body)
        return result

    def static(self, urls: dict[str, str | None], style: str | None = None, index: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = {"locationId": self.locations[index]["locationId"], "urls": urls}
        if style:
            body["actionStyle"] = style
        result: dict[str, Any] = self.ok("PUT", "/_sandbox/acuity/webhooks/static", json=body)
        return result

    def settle(self) -> None:
        r = self.http.get("/_sandbox/wait", params={"for": "deliveries-settled", "timeout": 20})
        assert r.status_code == 200, r.text

    def reset_hooks(self) -> None:
        for t in self.ok("GET", "/_sandbox/webhooks/targets"):
            self.ok("DELETE", f"/_sandbox/webhooks/targets/{t['id']}")
        self.settle()

    def close(self) -> None:
        self.http.close()


@contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[Sandbox]:
    with SandboxProcess(["--orders", "0", "--rate-limit", "off", *args], env=env) as proc:
        sb = Sandbox(proc)
        try:
            yield sb
        finally:
            sb.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with running("--webhook-retry-interval", "0.1") as sb:
        yield sb


@pytest.fixture
def sb(server: Sandbox) -> Iterator[Sandbox]:
    server.reset_hooks()
    yield server
    server.reset_hooks()


def form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)


def actions(rx: Receiver) -> list[str]:
    return [dict(form(r.body))["action"] for r in rx.requests]


def test_static_delivery_is_form_encoded_ids_only_and_signed_with_the_account_key(sb: Sandbox) -> None:
    acct, other = sb.account(0), sb.account(1)
    with Receiver() as rx:
        view = sb.static({"scheduled": rx.url})
        assert view["urls"]["scheduled"] == rx.url and view["actionStyle"] == "short"
        assert set(view["urls"]) == set(STATIC_ALL) and view["urls"]["changed"] is None
        appt = sb.sim("acuity.schedule")["resources"][0]["data"]
        sb.settle()
        [req] = rx.wait_for(1)
        assert req.method == "POST"
        assert req.headers["content-type"] == "application/x-www-form-urlencoded"
        assert form(req.body) == [("action", "scheduled"), ("id", str(appt["id"])),
                                  ("calendarID", str(appt["calendarID"])),
                                  ("appointmentTypeID", str(appt["appointmentTypeID"]))]
        assert req.body == (f"action=scheduled&id={appt['id']}&calendarID={appt['calendarID']}"
                            f"&appointmentTypeID={appt['appointmentTypeID']}").encode()
        assert req.headers["x-acuity-signature"] == hmac_b64(acct["apiKey"], req.body)
        assert req.headers["x-acuity-signature"] != hmac_b64(other["apiKey"], req.body)
        # The receiver fetches the details by id, as Acuity intends.
        with sb.api() as api:
            fetched = api.get(f"/appointments/{dict(form(req.body))['id']}").json()
        assert fetched["email"] == appt["email"]


def test_changed_duplicates_every_specific_event(sb: Sandbox) -> None:
    with Receiver() as rx:
        sb.static(dict.fromkeys(STATIC_ALL, rx.url))
        appt_id = sb.sim("acuity.schedule")["resources"][0]["id"]
        sb.settle()
        assert sorted(actions(rx)) == ["changed", "scheduled"]
        rx.clear()
        sb.sim("acuity.reschedule", appointmentId=appt_id)
        sb.settle()
        assert sorted(actions(rx)) == ["changed", "rescheduled"]
        rx.clear()
        sb.sim("acuity.pay", appointmentId=appt_id)  # an edit: `changed` only
        sb.settle()
        assert actions(rx) == ["changed"]
        rx.clear()
        assert sb.sim("acuity.refund", appointmentId=appt_id)["webhooks"] == []  # the processor's, not Acuity's
        sb.sim("acuity.cancel", appointmentId=appt_id)
        sb.settle()
        assert sorted(actions(rx)) == ["canceled", "changed"]
        assert {dict(form(r.body))["id"] for r in rx.requests} == {str(appt_id)}
        rx.clear()
        order = sb.sim("acuity.order")
        sb.settle()
        [req] = rx.wait_for(1)
        assert req.body == f"action=order.completed&id={order['resources'][0]['id']}".encode()
        assert req.headers["x-acuity-signature"] == hmac_b64(sb.account()["apiKey"], req.body)


def test_full_action_style_for_static_webhooks(sb: Sandbox) -> None:
    with Receiver() as rx:
        assert sb.static({"scheduled": rx.url, "changed": rx.url, "order.completed": rx.url},
                         style="full")["actionStyle"] == "full"
        sb.sim("acuity.schedule")
        sb.sim("acuity.order")
        sb.settle()
        assert sorted(actions(rx)) == ["appointment.changed", "appointment.scheduled", "order.completed"]
        # Switching back applies to the URLs already set.
        sb.static({}, style="short")
        rx.clear()
        sb.sim("acuity.schedule")
        sb.settle()
        assert sorted(actions(rx)) == ["changed", "scheduled"]
        # A key set to null is cleared.
        assert sb.static({"changed": None})["urls"]["changed"] is None
        rx.clear()
        sb.sim("acuity.schedule")
        sb.settle()
        assert actions(rx) == ["scheduled"]


def test_dynamic_webhooks_api_full_style_and_delete(sb: Sandbox) -> None:
    with Receiver() as rx, sb.api() as api:
        created = api.post("/webhooks", json={"event": "appointment.scheduled", "target": rx.url})
        assert created.status_code == 200, created.text
        hook = created.json()
        assert hook["event"] == "appointment.scheduled" and hook["target"] == rx.url and hook["status"] == "active"
        assert isinstance(hook["id"], int)
        assert api.get("/webhooks").json() == [hook]
        # Another account does not see it.
        with sb.api(1) as other:
            assert other.get("/webhooks").json() == []
            assert other.delete(f"/webhooks/{hook['id']}").status_code == 404
        appt = sb.sim("acuity.schedule")["resources"][0]["data"]
        sb.settle()
        [req] = rx.wait_for(1)
        assert dict(form(req.body)) == {"action": "appointment.scheduled", "id": str(appt["id"]),
                                        "calendarID": str(appt["calendarID"]),
                                        "appointmentTypeID": str(appt["appointmentTypeID"])}
        assert req.headers["x-acuity-signature"] == hmac_b64(sb.account()["apiKey"], req.body)
        # A booking on another account does not reach it.
        sb.sim("acuity.schedule", locationId=sb.account(1)["locationId"])
        sb.settle()
        assert len(rx.requests) == 1
        deleted = api.delete(f"/webhooks/{hook['id']}")
        assert deleted.status_code == 204 and deleted.content == b""
        # The sandbox extension `actionStyle` picks the short names for one webhook; a bad one is a 400.
        assert api.post("/webhooks", json={"event": "appointment.canceled", "target": rx.url,
                                           "actionStyle": "loud"}).json()["error"] == "invalid_action_style"
        short = api.post("/webhooks", json={"event": "appointment.canceled", "target": rx.url,
                                            "actionStyle": "short"}).json()
        sb.sim("acuity.cancel", appointmentId=appt["id"])
        sb.settle()
        assert dict(form(rx.requests[-1].body))["action"] == "canceled"
        assert api.delete(f"/webhooks/{short['id']}").status_code == 204
        assert api.get("/webhooks").json() == []
        sb.sim("acuity.schedule")
        sb.settle()
        assert len(rx.requests) == 2  # nothing more once both were deleted
        bad = api.post("/webhooks", json={"event": "appointment.booked", "target": rx.url})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_event"
        bad = api.post("/webhooks", json={"event": "order.completed", "target": "ftp://example.com/x"})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_target"


def test_at_most_25_dynamic_webhooks_per_account(sb: Sandbox) -> None:
    with sb.api() as api, sb.api(1) as other:
        ids = []
        for n in range(25):
            r = api.post("/webhooks", json={"event": "appointment.changed", "target": f"http://127.0.0.1:9/h{n}"})
            assert r.status_code == 200, r.text
            ids.append(r.json()["id"])
        assert len(set(ids)) == 25
        refused = api.post("/webhooks", json={"event": "appointment.changed", "target": "http://127.0.0.1:9/h25"})
        assert refused.status_code == 400
        assert set(refused.json()) == {"status_code", "message", "error"} and refused.json()["status_code"] == 400
        assert len(api.get("/webhooks").json()) == 25
        # The limit is per account.
        assert other.post("/webhooks", json={"event": "order.completed", "target": "http://127.0.0.1:9/o"}).status_code == 200
        assert api.delete(f"/webhooks/{ids[0]}").status_code == 204
        again = api.post("/webhooks", json={"event": "appointment.changed", "target": "http://127.0.0.1:9/h26"})
        assert again.status_code == 200 and again.json()["id"] not in ids  # ids are never reused


def test_static_and_dynamic_side_by_side(sb: Sandbox) -> None:
    with Receiver() as static_rx, Receiver() as dynamic_rx, sb.api() as api:
        sb.static({"canceled": static_rx.url})
        assert api.post("/webhooks", json={"event": "appointment.canceled", "target": dynamic_rx.url}).status_code == 200
        appt_id = sb.sim("acuity.schedule")["resources"][0]["id"]
        sb.sim("acuity.cancel", appointmentId=appt_id, noShow=True)
        sb.settle()
        assert actions(static_rx) == ["canceled"] and actions(dynamic_rx) == ["appointment.canceled"]
        targets = {t["url"]: t for t in sb.ok("GET", "/_sandbox/webhooks/targets")}
        assert targets[static_rx.url]["service"] == targets[dynamic_rx.url]["service"] == "acuity"
        assert targets[static_rx.url]["options"]["kind"] == "static"
        assert targets[dynamic_rx.url]["options"]["kind"] == "dynamic"


def test_chaos_drop_works_on_an_acuity_target(sb: Sandbox) -> None:
    with Receiver() as rx:
        view = sb.static({"scheduled": rx.url, "changed": rx.url})
        sb.ok("PUT", f"/_sandbox/webhooks/targets/{view['targetIds']['changed']}/chaos", json={"drop": 1})
        result = sb.sim("acuity.schedule")
        sb.settle()
        assert actions(rx) == ["scheduled"]
        by_event = {w["event"]: w["deliveries"] for w in result["webhooks"]}
        assert [d["status"] for d in by_event["appointment.changed"]] == ["dropped"]
        assert [d["status"] for d in by_event["appointment.scheduled"]] in (["queued"], ["delivered"], ["in_flight"])


def test_ghl_and_acuity_targets_never_get_each_others_events(sb: Sandbox) -> None:
    with Receiver() as ghl_rx, Receiver() as acuity_rx:
        sb.ok("POST", "/_sandbox/webhooks/targets", json={"url": ghl_rx.url})  # every GHL event
        sb.static(dict.fromkeys(STATIC_ALL, acuity_rx.url))
        sb.sim("order.create")
        sb.sim("acuity.schedule")
        sb.sim("acuity.order")
        sb.settle()
        ghl_bodies = ghl_rx.bodies()
        assert ghl_bodies and {b["type"] for b in ghl_bodies} == {"OrderCreate"}
        assert all(r.headers["content-type"] == "application/json" and "x-acuity-signature" not in r.headers
                   for r in ghl_rx.requests)
        assert sorted(actions(acuity_rx)) == ["changed", "order.completed", "scheduled"]
        assert all("x-ghl-signature" not in r.headers for r in acuity_rx.requests)
        acuity_only = sb.ok("GET", "/_sandbox/webhooks/deliveries", params={"service": "acuity"})["deliveries"]
        ghl_only = sb.ok("GET", "/_sandbox/webhooks/deliveries", params={"service": "ghl"})["deliveries"]
        # (Deliveries of earlier tests' removed targets show no URL.)
        assert acuity_rx.url in {d["url"] for d in acuity_only} and ghl_rx.url not in {d["url"] for d in acuity_only}
        assert ghl_rx.url in {d["url"] for d in ghl_only} and acuity_rx.url not in {d["url"] for d in ghl_only}
        assert {d["service"] for d in acuity_only} == {"acuity"} and {d["service"] for d in ghl_only} == {"ghl"}


def test_retries_none_sends_once(sb: Sandbox) -> None:
    with Receiver(default=500) as rx:
        view = sb.static({"scheduled": rx.url})
        sb.sim("acuity.schedule")
        sb.settle()
        assert len(rx.requests) == 1
        [delivery] = sb.ok("GET", "/_sandbox/webhooks/deliveries",
                           params={"targetId": view["targetIds"]["scheduled"]})["deliveries"]
        assert delivery["status"] == "failed" and delivery["attemptCount"] == 1


def test_retries_exponential_retries_any_non_2xx_up_to_5_times() -> None:
    # Set through the environment variable (the CLI flag is the same option).
    with running("--webhook-retry-interval", "0.05", env={"GHL_SANDBOX_ACUITY_WEBHOOK_RETRIES": "exponential"}) as sb:
        with Receiver() as rx:
            rx.script(500, 404, 400)  # a 404 and a 400 are retried too (GHL's policies would not)
            view = sb.static({"scheduled": rx.url})
            sb.sim("acuity.schedule")
            rx.wait_for(4, timeout=20)
            sb.settle()
            assert [r.body for r in rx.requests] == [rx.requests[0].body] * 4
            [delivery] = sb.ok("GET", "/_sandbox/webhooks/deliveries",
                               params={"targetId": view["targetIds"]["scheduled"]})["deliveries"]
            assert delivery["status"] == "delivered" and delivery["attemptCount"] == 4
            assert [a["status"] for a in delivery["attempts"]] == [500, 404, 400, 200]
        with Receiver(default=503) as down:
            view = sb.static({"scheduled": down.url})
            sb.sim("acuity.schedule")
            down.wait_for(6, timeout=30)
            sb.settle()
            [delivery] = sb.ok("GET", "/_sandbox/webhooks/deliveries",
                               params={"targetId": view["targetIds"]["scheduled"]})["deliveries"]
            assert delivery["status"] == "failed" and delivery["attemptCount"] == 6  # 1 + 5 retries
            assert len(down.requests) == 6
