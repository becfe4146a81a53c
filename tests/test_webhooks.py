"""Webhooks out, end to end: real server subprocesses (`ghl-sandbox serve`) deliver signed webhooks to
real local HTTP receivers (tests/receiver.py). Covers signing (checked with the official Python SDK's
own verification code), payloads, the `ghl` and `exponential` retry policies, delivery chaos, seeded
determinism, durability across `kill -9`, the control plane and the sandbox clock."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from highlevel.logging import Logger
from highlevel.webhook.webhook_manager import WebhookManager
from receiver import CLOSE, Receiver, Reply

from mock_server.clock import parse_iso
from mock_server.testing import SandboxProcess

# Top-level keys of the `example` payloads in GHL's webhook docs for OrderCreate and OrderStatusUpdate
# (docs/webhook events/*.md in GoHighLevel/highlevel-api-docs; identical for both events). Checked
# against the reference copies below when they are around.
REFERENCE = Path("/work/shared/reference/webhook-events")
GHL_ORDER_EXAMPLE_KEYS = frozenset({
    "type", "locationId", "_id", "altId", "altType", "status", "taxSummary", "fulfillmentStatus", "contactId",
    "currency", "amount", "liveMode", "amountSummary", "source", "createdAt", "updatedAt", "contactSnapshot",
    "items"})
ENVELOPE = ("type", "locationId", "appId", "versionId", "timestamp", "webhookId")
ORDER_EVENTS = {"OrderCreate", "OrderStatusUpdate"}
FAST = ("--webhook-retry-interval", "0.2")


class Sandbox:
    """One running server and a client for its control plane."""

    def __init__(self, proc: SandboxProcess) -> None:
        self.proc = proc
        self.http = httpx.Client(base_url=proc.url + "/_sandbox", timeout=30)

    def req(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.req(method, path, **kwargs)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json()

    def sim(self, action: str, **body: Any) -> dict[str, Any]:
        """Run a simulated change; the answer is its acknowledgement (committed, webhooks queued)."""
        return self.ok("POST", f"/simulate/{action}", json=body)

    def new_order(self) -> str:
        return self.sim("order.create")["resources"][0]["id"]

    def wait(self, timeout: float = 15.0) -> httpx.Response:
        return self.req("GET", "/wait", params={"for": "deliveries-settled", "timeout": timeout})

    def settle(self, timeout: float = 15.0) -> None:
        r = self.wait(timeout)
        assert r.status_code == 200, r.text

    def deliveries(self, **params: Any) -> dict[str, Any]:
        return self.ok("GET", "/webhooks/deliveries", params=params)

    def add_target(self, url: str, **body: Any) -> dict[str, Any]:
        return self.ok("POST", "/webhooks/targets", json={"url": url, **body})

    def close(self) -> None:
        self.http.close()


@contextmanager
def sandbox(*args: str, rx: Receiver | None = None, seed: int = 42) -> Iterator[Sandbox]:
    argv = ["--orders", "0", "--rate-limit", "off", "--seed", str(seed), *args]
    if rx is not None:
        argv += ["--webhook-url", rx.url]
    with SandboxProcess(argv) as proc:
        sb = Sandbox(proc)
        try:
            yield sb
        finally:
            sb.close()


@contextmanager
def shared_server(*args: str) -> Iterator[SandboxProcess]:
    with SandboxProcess(["--orders", "0", "--rate-limit", "off", *args]) as proc:
        yield proc


def fresh(proc: SandboxProcess) -> Iterator[Sandbox]:
    """A server shared by several tests, back to its seeded state with no webhook targets."""
    sb = Sandbox(proc)
    try:
        for target in sb.ok("GET", "/webhooks/targets"):
            sb.ok("DELETE", f"/webhooks/targets/{target['id']}")
        sb.settle()
        sb.ok("POST", "/reset")
        yield sb
    finally:
        sb.close()


@pytest.fixture(scope="module")
def fast_server() -> Iterator[SandboxProcess]:
    with shared_server(*FAST) as proc:
        yield proc


@pytest.fixture(scope="module")
def slow_server() -> Iterator[SandboxProcess]:
    with shared_server("--webhook-retry-interval", "3600") as proc:
        yield proc


@pytest.fixture
def sb(fast_server: SandboxProcess) -> Iterator[Sandbox]:
    """Default `ghl` policy with 0.2 s retry intervals."""
    yield from fresh(fast_server)


@pytest.fixture
def slow_sb(slow_server: SandboxProcess) -> Iterator[Sandbox]:
    """Default `ghl` policy with one-hour retry intervals (on the sandbox clock)."""
    yield from fresh(slow_server)


def poll(check: Any, timeout: float = 15.0) -> Any:
    """`check()` once it returns something truthy (AssertionError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not true within {timeout} s"
            return result
        time.sleep(0.05)


def order_of(answer: dict[str, Any]) -> dict[str, Any]:
    return next(r["data"] for r in answer["resources"] if r["type"] == "order")


def statuses(order: dict[str, Any]) -> tuple[str, str, str]:
    return order["status"], order["paymentStatus"], order["fulfillmentStatus"]


def by_webhook_id(rx: Receiver) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for body in rx.bodies():
        out.setdefault(body["webhookId"], []).append(body)
    return out


def sdk_webhook_manager() -> WebhookManager:
    # The SDK builds it as WebhookManager(logger, session_storage, oauth_service); verification uses
    # only the logger.
    return WebhookManager(Logger("none"), None, None)


def flip_one_byte(body: bytes) -> bytes:
    """The same body with one byte changed (still valid UTF-8, so only the signature can catch it)."""
    at = body.index(b'"_id":"') + len(b'"_id":"')
    out = bytearray(body)
    out[at] = ord("0") if out[at] != ord("0") else ord("1")
    assert bytes(out) != body
    return bytes(out)


# ---- 1. signatures ------------------------------------------------------------------------------


def test_signatures_verify_with_official_sdk_on_raw_body(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default deliveries carry only `x-ghl-signature` (Ed25519), as GHL signs them since it retired
    the RSA `x-wh-signature` in 2026; the RSA key is still served (legacy)."""
    sdk = sdk_webhook_manager()
    with Receiver() as rx:
        sb.add_target(rx.url)
        keys = sb.ok("GET", "/keys")
        assert keys["ed25519PublicKey"].startswith("-----BEGIN PUBLIC KEY-----")
        assert keys["rsaPublicKey"].startswith("-----BEGIN PUBLIC KEY-----")
        assert keys["signatures"] == {"x-ghl-signature": True, "x-wh-signature": False}
        sb.new_order()
        sb.settle()
        [req] = rx.wait_for(1)
        assert "x-wh-signature" not in req.headers
        raw = req.body.decode()
        ghl_sig = req.headers["x-ghl-signature"]
        assert len(base64.b64decode(ghl_sig)) == 64
        assert sdk.verify_ed25519_signature(raw, ghl_sig, keys["ed25519PublicKey"]) is True
        # One byte of the body changed: the signature no longer verifies.
        assert sdk.verify_ed25519_signature(flip_one_byte(req.body).decode(), ghl_sig, keys["ed25519PublicKey"]) is False

        # The SDK's own webhook middleware accepts the delivery as is (appId check, then Ed25519).
        app = sb.ok("GET", "/apps")[0]
        monkeypatch.setenv("CLIENT_ID", app["clientId"])
        middleware = sdk.subscribe()

        def run(headers: dict[str, str], body: bytes) -> SimpleNamespace:
            request = SimpleNamespace(body=body, headers=headers, method="POST", url="/webhooks",
                                      state=SimpleNamespace())
            asyncio.run(middleware(request))
            return request.state

        monkeypatch.setenv("WEBHOOK_SIGNATURE_PUBLIC_KEY", keys["ed25519PublicKey"])
        monkeypatch.setenv("WEBHOOK_PUBLIC_KEY", keys["rsaPublicKey"])
        state = run(req.headers, req.body)
        assert (state.signature_type, state.is_signature_valid) == ("ed25519", True)
        assert run(req.headers, flip_one_byte(req.body)).is_signature_valid is False
        # A client configured with the RSA key only (not migrated) has nothing to verify: the SDK skips.
        monkeypatch.delenv("WEBHOOK_SIGNATURE_PUBLIC_KEY")
        state = run(req.headers, req.body)
        assert (state.skipped_signature_verification, state.is_signature_valid) == (True, False)

        # --legacy-wh-signature adds the RSA header: both verify, and the SDK's RSA fallback takes it.
        with Receiver() as legacy_rx, sandbox(*FAST, "--legacy-wh-signature", rx=legacy_rx) as legacy:
            keys = legacy.ok("GET", "/keys")
            assert keys["signatures"] == {"x-ghl-signature": True, "x-wh-signature": True}
            legacy.new_order()
            legacy.settle()
            [req] = legacy_rx.wait_for(1)
            raw = req.body.decode()
            ghl_sig, wh_sig = req.headers["x-ghl-signature"], req.headers["x-wh-signature"]
            assert sdk.verify_ed25519_signature(raw, ghl_sig, keys["ed25519PublicKey"]) is True
            assert sdk.verify_signature(raw, wh_sig, keys["rsaPublicKey"]) is True
            tampered = flip_one_byte(req.body).decode()
            assert sdk.verify_ed25519_signature(tampered, ghl_sig, keys["ed25519PublicKey"]) is False
            assert sdk.verify_signature(tampered, wh_sig, keys["rsaPublicKey"]) is False
            # A key of the other kind does not verify it either.
            assert sdk.verify_signature(raw, wh_sig, keys["ed25519PublicKey"]) is False
            monkeypatch.setenv("WEBHOOK_PUBLIC_KEY", keys["rsaPublicKey"])
            state = run(req.headers, req.body)
            assert (state.signature_type, state.is_signature_valid) == ("rsa", True)
            assert run(req.headers, flip_one_byte(req.body)).is_signature_valid is False

    with Receiver() as rx, sandbox(*FAST, "--no-ghl-signature", "--legacy-wh-signature", rx=rx) as only_wh:
        keys = only_wh.ok("GET", "/keys")
        assert keys["signatures"] == {"x-ghl-signature": False, "x-wh-signature": True}
        only_wh.new_order()
        only_wh.settle()
        [req] = rx.wait_for(1)
        assert "x-ghl-signature" not in req.headers
        assert sdk.verify_signature(req.body.decode(), req.headers["x-wh-signature"], keys["rsaPublicKey"])


def test_forged_webhooks_carry_the_signature_headers_deliveries_carry(sb: Sandbox) -> None:
    """`POST /_sandbox/webhooks/forge kind=forged` signs with another key the headers genuine deliveries
    carry: `x-ghl-signature` only by default (so a receiver that skips verification when the RSA header is
    missing is caught), both with `--legacy-wh-signature`; neither verifies with the sandbox's keys."""
    sdk = sdk_webhook_manager()

    def forged(box: Sandbox, rx: Receiver) -> tuple[Any, dict[str, Any]]:
        order_id = box.new_order()
        answer = box.ok("POST", "/webhooks/forge", json={"url": rx.url, "orderId": order_id, "kind": "forged"})
        [req] = [r for r in rx.wait_for(1) if json.loads(r.body)["webhookId"] == answer["webhookId"]]
        return req, box.ok("GET", "/keys")

    with Receiver() as rx:
        req, keys = forged(sb, rx)
        assert {h for h in req.headers if h.endswith("-signature")} == {"x-ghl-signature"}
        assert sdk.verify_ed25519_signature(req.body.decode(), req.headers["x-ghl-signature"],
                                            keys["ed25519PublicKey"]) is False
    with Receiver() as rx, sandbox(*FAST, "--legacy-wh-signature") as legacy:
        req, keys = forged(legacy, rx)
        assert {h for h in req.headers if h.endswith("-signature")} == {"x-ghl-signature", "x-wh-signature"}
        raw = req.body.decode()
        assert sdk.verify_ed25519_signature(raw, req.headers["x-ghl-signature"], keys["ed25519PublicKey"]) is False
        assert sdk.verify_signature(raw, req.headers["x-wh-signature"], keys["rsaPublicKey"]) is False


def signatures_with(*args: str, env: dict[str, str] | None = None) -> dict[str, bool]:
    with SandboxProcess(["--orders", "0", "--rate-limit", "off", *args], env=env) as proc:
        return dict(httpx.get(proc.url + "/_sandbox/keys", timeout=30).json()["signatures"])


def test_legacy_signature_flag_env_and_the_old_option_names() -> None:
    """`GHL_SANDBOX_LEGACY_WH_SIGNATURE` is the flag's variable; the old `--wh-signature` is an alias of
    `--legacy-wh-signature`, `--no-wh-signature` the default (it overrides the variable); `--no-ghl-signature`
    alone sends unsigned deliveries, as before."""
    both = {"x-ghl-signature": True, "x-wh-signature": True}
    ed25519_only = {"x-ghl-signature": True, "x-wh-signature": False}
    env_on = {"GHL_SANDBOX_LEGACY_WH_SIGNATURE": "1"}
    assert signatures_with(env={"GHL_SANDBOX_LEGACY_WH_SIGNATURE": ""}) == ed25519_only
    assert signatures_with(env=env_on) == both
    assert signatures_with("--wh-signature") == both
    assert signatures_with("--no-wh-signature") == ed25519_only
    assert signatures_with("--no-wh-signature", env=env_on) == ed25519_only
    assert signatures_with("--no-ghl-signature") == {"x-ghl-signature": False, "x-wh-signature": False}
    clash = subprocess.run([sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--legacy-wh-signature",
                            "--no-wh-signature"], capture_output=True, text=True, timeout=60)
    assert clash.returncode == 2 and "--no-wh-signature contradicts --legacy-wh-signature" in clash.stderr, clash


# ---- 2. payloads --------------------------------------------------------------------------------


def test_payload_envelope_and_order_events(sb: Sandbox) -> None:
    for event in ORDER_EVENTS:
        if (REFERENCE / f"{event}.json").exists():
            example = json.loads((REFERENCE / f"{event}.json").read_text())["example"]
            assert set(example) == GHL_ORDER_EXAMPLE_KEYS, event
    with Receiver() as rx:
        sb.add_target(rx.url)
        app = sb.ok("GET", "/apps")[0]
        location_id = sb.ok("GET", "/locations")[0]["locationId"]

        answers = []
        created = sb.sim("order.create")
        first = order_of(created)["_id"]
        answers.append(created)
        for action in ("order.pay", "order.fulfill", "order.refund"):
            answers.append(sb.sim(action, orderId=first))
        answers.append(sb.sim("order.create"))
        second = order_of(answers[-1])["_id"]
        answers.append(sb.sim("order.cancel", orderId=second))
        sb.settle()

        # Each acknowledgement names the one webhook it caused.
        expected = [("OrderCreate", first)] + [("OrderStatusUpdate", first)] * 3 + [
            ("OrderCreate", second), ("OrderStatusUpdate", second)]
        assert [(w["event"], w["resourceId"]) for a in answers for w in a["webhooks"]] == expected
        bodies = rx.bodies()
        assert [(b["type"], b["_id"]) for b in bodies] == expected

        for body, answer in zip(bodies, answers, strict=True):
            # Every top-level key of GHL's example payload, plus the envelope.
            assert GHL_ORDER_EXAMPLE_KEYS | set(ENVELOPE) <= set(body), GHL_ORDER_EXAMPLE_KEYS - set(body)
            assert body["locationId"] == location_id
            assert body["appId"] == app["appId"] == app["clientId"].split("-")[0]
            assert body["versionId"] == app["versionId"]
            assert str(uuid.UUID(body["webhookId"])) == body["webhookId"]
            assert abs(parse_iso(body["timestamp"]) - time.time()) < 30
            assert "data" not in body  # resource fields are at the top level
            # The payload is the order right after that change.
            assert statuses(body) == statuses(order_of(answer))
            assert body["updatedAt"] == order_of(answer)["updatedAt"]
        assert len({b["webhookId"] for b in bodies}) == len(bodies)
        # Every OrderStatusUpdate carries a changed status, payment status or fulfilment status.
        last: dict[str, tuple[str, str, str]] = {}
        for body in bodies:
            if body["type"] == "OrderStatusUpdate":
                assert statuses(body) != last[body["_id"]]
            last[body["_id"]] = statuses(body)
        assert statuses(bodies[-1])[0] == "cancelled"

        # No transaction or subscription webhooks by default (GHL has none).
        rx.clear()
        sub = sb.sim("subscription.create")
        assert {w["event"] for w in sub["webhooks"]} <= ORDER_EVENTS
        sb.sim("subscription.renew", subscriptionId=next(r["id"] for r in sub["resources"]
                                                         if r["type"] == "subscription"))
        sb.settle()
        assert {b["type"] for b in rx.bodies()} <= ORDER_EVENTS

        # `timestamp` is the real time of the attempt; resource times follow the sandbox clock.
        rx.clear()
        month = 86400 * 30
        sb.ok("POST", "/clock", json={"advance": month})
        later = sb.sim("order.create")
        sb.settle()
        [body] = rx.bodies()
        assert body["type"] == "OrderCreate" and body["_id"] == order_of(later)["_id"]
        assert abs(parse_iso(body["timestamp"]) - time.time()) < 5
        assert abs(parse_iso(body["updatedAt"]) - (time.time() + month)) < 60

    with Receiver() as rx, sandbox(*FAST, "--extension-events", rx=rx) as ext:
        order_id = ext.new_order()
        paid = ext.sim("order.pay", orderId=order_id)
        txn_id = next(r["id"] for r in paid["resources"] if r["type"] == "transaction")
        sub = ext.sim("subscription.create")
        sub_id = next(r["id"] for r in sub["resources"] if r["type"] == "subscription")
        ext.settle()
        seen = [(b["type"], b["_id"]) for b in rx.bodies()]
        assert ("SandboxTransactionCreate", txn_id) in seen
        assert ("SandboxSubscriptionCreate", sub_id) in seen
        assert ("OrderStatusUpdate", order_id) in seen
        for body in rx.bodies():
            assert set(ENVELOPE) <= set(body)


# ---- 3. the `ghl` retry policy ------------------------------------------------------------------


def test_ghl_policy_retries_only_429(sb: Sandbox) -> None:
    with Receiver() as rx:
        sb.add_target(rx.url)
        # 429, 429, then 200: three attempts, delivered, one webhookId.
        rx.script(429, 429)
        order_id = sb.new_order()
        sb.settle()
        reqs = rx.requests
        assert len(reqs) == 3
        assert len({r.json["webhookId"] for r in reqs}) == 1
        assert {r.json["_id"] for r in reqs} == {order_id}
        [delivery] = sb.deliveries()["deliveries"]
        assert delivery["status"] == "delivered" and delivery["attemptCount"] == 3
        assert [(a["status"], a["outcome"]) for a in delivery["attempts"]] == [
            (429, "retry"), (429, "retry"), (200, "delivered")]

        # A 500 is final: exactly one attempt, failed.
        rx.clear()
        rx.default = 500
        sb.new_order()
        sb.settle()
        time.sleep(0.6)  # three retry intervals: nothing more comes
        assert len(rx.requests) == 1
        failed = sb.deliveries(status="failed")["deliveries"]
        assert len(failed) == 1 and failed[0]["attemptCount"] == 1 and failed[0]["lastStatus"] == 500

        # So is a connection closed without an answer.
        rx.clear()
        rx.default = CLOSE
        sb.new_order()
        sb.settle()
        time.sleep(0.4)
        assert len(rx.requests) == 1
        assert len(sb.deliveries(status="failed")["deliveries"]) == 2

    with Receiver(default=429) as rx, sandbox(*FAST, "--webhook-max-retries", "2", rx=rx) as two:
        two.new_order()
        two.settle()
        time.sleep(0.4)
        assert len(rx.requests) == 1 + 2
        assert len({r.json["webhookId"] for r in rx.requests}) == 1
        [delivery] = two.deliveries()["deliveries"]
        assert delivery["status"] == "failed" and delivery["attemptCount"] == 3
        assert [a["outcome"] for a in delivery["attempts"]] == ["retry", "retry", "failed"]


# ---- 4. the `exponential` retry policy ----------------------------------------------------------


def test_exponential_policy_retries_5xx_429_timeouts_and_refused_connections() -> None:
    args = (*FAST, "--webhook-policy", "exponential", "--webhook-timeout", "0.5")
    with Receiver() as rx, sandbox(*args, rx=rx) as sb:
        for first_answer in (500, 503, 429, Reply(200, delay=1.5), CLOSE):
            rx.clear()
            rx.script(first_answer)
            sb.new_order()
            sb.settle()
            reqs = rx.wait_for(2)
            assert len(reqs) == 2, first_answer
            assert reqs[0].json["webhookId"] == reqs[1].json["webhookId"]
        outcomes = [d["status"] for d in sb.deliveries()["deliveries"]]
        assert outcomes == ["delivered"] * 5

        # The receiver is down while a change is made, and comes back: delivered once it is back.
        rx.clear()
        rx.down()
        answer = sb.sim("order.create")
        order_id = order_of(answer)["_id"]
        webhook_id = answer["webhooks"][0]["deliveries"][0]["webhookId"]
        [pending] = poll(lambda: [d for d in sb.deliveries(webhookId=webhook_id)["deliveries"]
                                  if d["attemptCount"] >= 2])  # refused, retried, refused again
        assert pending["status"] in ("queued", "in_flight")
        assert sb.wait(0.1).status_code == 408
        assert all(a["status"] is None and a["error"] for a in pending["attempts"])
        rx.up()
        sb.settle()
        [req] = rx.requests
        assert req.json["_id"] == order_id and req.json["webhookId"] == pending["webhookId"]
        assert sb.deliveries(webhookId=pending["webhookId"])["deliveries"][0]["status"] == "delivered"


# ---- 5. delivery chaos --------------------------------------------------------------------------


def test_delivery_chaos_duplicate_drop_delay(sb: Sandbox) -> None:
    with Receiver() as rx:
        target = sb.add_target(rx.url, chaos={"duplicate": 1.0, "duplicateCount": 2})
        first, second = sb.new_order(), sb.new_order()
        sb.settle()
        groups = by_webhook_id(rx)
        assert len(groups) == 2 and all(len(copies) == 3 for copies in groups.values())
        assert sorted({c["_id"] for c in copies}.pop() for copies in groups.values()) == sorted([first, second])
        deliveries = sb.deliveries()["deliveries"]
        assert len(deliveries) == 6 and {d["status"] for d in deliveries} == {"delivered"}
        assert sum(1 for d in deliveries if d["duplicateOf"]) == 4

        rx.clear()
        sb.ok("PUT", f"/webhooks/targets/{target['id']}/chaos", json={"drop": 1.0})
        dropped = [sb.sim("order.create")["webhooks"][0]["deliveries"][0] for _ in range(3)]
        assert {d["status"] for d in dropped} == {"dropped"}
        sb.settle()
        time.sleep(0.3)
        assert rx.requests == []
        assert len(sb.deliveries(status="dropped")["deliveries"]) == 3

        sb.ok("PUT", f"/webhooks/targets/{target['id']}/chaos", json={"delayMs": 1200})
        before = time.time()
        [held] = sb.sim("order.create")["webhooks"][0]["deliveries"]
        assert held["status"] == "queued" and "delayed 1200 ms" in held["chaos"]
        sb.settle()
        [req] = rx.requests
        assert req.at - before >= 1.2

        # Clearing the chaos: back to prompt, single deliveries.
        rx.clear()
        sb.ok("PUT", f"/webhooks/targets/{target['id']}/chaos", json={})
        sb.new_order()
        sb.settle()
        assert len(rx.requests) == 1

        # A reorder window set on a target that already had deliveries starts with the next event:
        # the next 4 changes are one shuffled window, released as soon as it is complete.
        rx.clear()
        sb.ok("PUT", f"/webhooks/targets/{target['id']}/chaos", json={"reorderWindow": 4, "reorderHoldMs": 60_000})
        created = [sb.new_order() for _ in range(4)]
        sb.settle(30)  # well before the 60 s hold: the window was complete
        assert sorted(b["_id"] for b in rx.bodies()) == sorted(created)
        notes = [d["chaos"] for d in sb.deliveries(status="delivered")["deliveries"][-4:]]
        assert len(set(notes)) == 1 and "reorder batch" in notes[0]


@functools.cache
def seeded_run(seed: int, copy: int = 0) -> dict[str, Any]:
    """One fresh server with `--seed seed`, the same steps every time (copy 1 has a slower receiver: how
    fast webhooks go out must change neither ids nor chaos decisions nor the delivery order):

    1. a target with `{reorderWindow: 4}` and 4 quick changes: created ids and ids in arrival order;
    2. that target removed, global chaos (drop, duplicate, reorder) and a plain target, 9 changes:
       the arrivals in order as (event type, order id, copies received), and the delivery statuses.
    """
    out: dict[str, Any] = {}
    with Receiver(default=Reply(200, delay=0.05 * copy)) as rx, sandbox(*FAST, seed=seed) as sb:
        # (the hold only releases an incomplete window; 10 s keeps a slow machine from shuffling less)
        target = sb.add_target(rx.url, chaos={"reorderWindow": 4, "reorderHoldMs": 10_000})
        out["created"] = [sb.new_order() for _ in range(4)]
        sb.settle()
        out["arrived"] = [b["_id"] for b in rx.bodies()]
        sb.ok("DELETE", f"/webhooks/targets/{target['id']}")
        rx.clear()

        sb.ok("PUT", "/webhooks/chaos", json={"drop": 0.3, "duplicate": 0.3, "duplicateCount": 1,
                                              "reorderWindow": 3, "reorderHoldMs": 10_000})
        plain = sb.add_target(rx.url)
        orders = [sb.new_order() for _ in range(6)]
        for order_id in orders[:3]:  # 9 events: three complete windows
            sb.sim("order.pay", orderId=order_id)
        sb.settle()
        copies = Counter(b["webhookId"] for b in rx.bodies())
        sequence, seen = [], set()
        for body in rx.bodies():
            if body["webhookId"] not in seen:
                seen.add(body["webhookId"])
                sequence.append((body["type"], body["_id"], copies[body["webhookId"]]))
        out["sequence"] = sequence
        # The same with each order id replaced by its creation index (comparable across seeds).
        out["shape"] = [(kind, orders.index(order_id), n) for kind, order_id, n in sequence]
        out["statuses"] = [d["status"] for d in sb.deliveries(targetId=plain["id"])["deliveries"]]
    return out


def test_reorder_is_a_seeded_permutation() -> None:
    run, again = seeded_run(7), seeded_run(7, copy=1)  # two fresh servers with the same seed
    assert sorted(run["arrived"]) == sorted(run["created"])
    assert run["arrived"] != run["created"]  # with this seed the window really is shuffled
    assert (again["created"], again["arrived"]) == (run["created"], run["arrived"])


def test_same_seed_same_delivery_order_and_chaos_different_seed_differs() -> None:
    run, again = seeded_run(7), seeded_run(7, copy=1)
    assert (again["sequence"], again["statuses"]) == (run["sequence"], run["statuses"])
    # The chaos really did something with this seed: drops, duplicates and an out-of-order arrival.
    assert "dropped" in run["statuses"]
    assert any(n == 2 for _, _, n in run["sequence"])
    fanout = [i if kind == "OrderCreate" else 6 + i for kind, i, _ in run["shape"]]
    assert fanout != sorted(fanout)
    # Another seed makes other chaos decisions (compared by shape: its ids differ anyway).
    other = seeded_run(8)
    assert (other["shape"], other["statuses"]) != (run["shape"], run["statuses"])


# ---- 6. durability across kill -9 ---------------------------------------------------------------


def test_every_acknowledged_change_is_delivered_after_kill_9(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    rx = Receiver().up()
    rx.down()  # the receiver is down while the changes are made
    # Enough retries that none runs out however long the burst takes.
    args = ("--state", state, "--webhook-policy", "exponential", "--webhook-retry-interval", "0.2",
            "--webhook-max-retries", "20", "--webhook-url", rx.url, "--orders", "0", "--rate-limit", "off")
    expected: set[tuple[str, ...]] = set()  # (type, _id, status, paymentStatus, fulfillmentStatus)
    proc = SandboxProcess(args).start()
    try:
        sb = Sandbox(proc)
        keys = sb.ok("GET", "/keys")
        for _ in range(10):
            created = sb.sim("order.create")
            order_id = order_of(created)["_id"]
            answers = [created, sb.sim("order.pay", orderId=order_id), sb.sim("order.fulfill", orderId=order_id)]
            for answer in answers:
                [hook] = answer["webhooks"]
                assert hook["deliveries"], "every change queues a delivery"
                expected.add((hook["event"], hook["resourceId"], *statuses(order_of(answer))))
        proc.kill()  # right after the last acknowledgement
        sb.close()
    finally:
        proc.kill()
    assert len(expected) == 30  # every change is told apart by its statuses
    rx.up()
    try:
        with SandboxProcess(args) as proc2:
            sb2 = Sandbox(proc2)
            try:
                sb2.settle(60)
                assert len(sb2.ok("GET", "/webhooks/targets")) == 1  # not registered twice
                assert sb2.ok("GET", "/keys") == keys  # the signing keys are kept with the state
                counts = sb2.deliveries()["counts"]
            finally:
                sb2.close()
        arrived = {(b["type"], b["_id"], *statuses(b)) for b in rx.bodies()}
        assert expected <= arrived, expected - arrived
        assert counts["delivered"] == 30 and counts["failed"] == 0
    finally:
        rx.down()


# ---- 7. the control plane -----------------------------------------------------------------------


def test_control_plane_deliveries_redeliver_wait_targets(slow_sb: Sandbox) -> None:
    sb = slow_sb
    with Receiver() as rx, Receiver() as other:
        first_target = sb.add_target(rx.url)
        [target1] = sb.ok("GET", "/webhooks/targets")
        assert target1 == first_target
        assert target1["url"] == rx.url and target1["events"] is None

        rx.script(CLOSE)
        sb.new_order()
        sb.new_order()
        assert sb.wait(10).json()["settled"] is True
        listing = sb.deliveries()
        assert [d["status"] for d in listing["deliveries"]] == ["failed", "delivered"]
        assert len(listing["attempts"]) == 2
        for attempt in listing["attempts"]:
            parse_iso(attempt["time"])
            assert attempt["targetId"] == target1["id"] and attempt["url"] == rx.url
            assert attempt["event"] == "OrderCreate"
            assert attempt["webhookId"] in {d["webhookId"] for d in listing["deliveries"]}
            assert isinstance(attempt["latencyMs"], (int, float)) and attempt["latencyMs"] >= 0
            assert "error" in attempt and "status" in attempt
        failed, delivered = listing["attempts"]
        assert failed["status"] is None and failed["error"] and failed["outcome"] == "failed"
        assert delivered["status"] == 200 and delivered["error"] is None
        assert listing["counts"]["delivered"] == 1 and listing["counts"]["failed"] == 1

        # Redeliver the failed one: the same webhookId is sent again.
        original = listing["deliveries"][0]
        again = sb.ok("POST", f"/webhooks/deliveries/{original['id']}/redeliver")
        assert again["webhookId"] == original["webhookId"] and again["duplicateOf"] == original["id"]
        sb.settle()
        assert [r.json["webhookId"] for r in rx.requests][-1] == original["webhookId"]
        assert sb.deliveries(webhookId=original["webhookId"])["deliveries"][-1]["status"] == "delivered"
        assert sb.req("POST", "/webhooks/deliveries/nope/redeliver").status_code == 404

        # wait: 408 while a retry is pending (the next attempt is an hour away on the sandbox clock).
        rx.script(429)
        seen = len(rx.requests)
        answer = sb.sim("order.create")
        rx.wait_for(seen + 1)
        webhook_id = answer["webhooks"][0]["deliveries"][0]["webhookId"]
        [retrying] = poll(lambda: [d for d in sb.deliveries(webhookId=webhook_id)["deliveries"]
                                   if d["attemptCount"] == 1])
        assert retrying["status"] == "queued"
        r = sb.wait(0.5)
        assert r.status_code == 408 and r.json()["settled"] is False
        assert retrying["attempts"][0]["outcome"] == "retry"

        # A second target with an events filter gets only those events.
        rx.clear()
        second = sb.add_target(other.url, events=["OrderStatusUpdate"])
        assert second["events"] == ["OrderStatusUpdate"]
        assert {t["id"] for t in sb.ok("GET", "/webhooks/targets")} == {target1["id"], second["id"]}
        order_id = sb.new_order()
        sb.sim("order.pay", orderId=order_id)
        other.wait_for(1)
        rx.wait_for(2)
        time.sleep(0.2)  # nothing more comes
        assert [b["type"] for b in other.bodies()] == ["OrderStatusUpdate"]
        assert [b["type"] for b in rx.bodies()] == ["OrderCreate", "OrderStatusUpdate"]

        # Deleting a target: gone from the list, its pending retries do not keep `wait` from settling.
        other.default = 429
        sb.new_order()
        sb.sim("order.pay", orderId=sb.new_order())
        time.sleep(0.3)
        assert sb.ok("DELETE", f"/webhooks/targets/{second['id']}")["deleted"] is True
        assert [t["id"] for t in sb.ok("GET", "/webhooks/targets")] == [target1["id"]]
        assert sb.req("DELETE", f"/webhooks/targets/{second['id']}").status_code == 404
        sb.ok("DELETE", f"/webhooks/targets/{target1['id']}")
        assert sb.wait(10).status_code == 200
        # Redelivering to a removed target cannot be sent: it fails instead of staying queued.
        orphan = sb.deliveries(targetId=second["id"])["deliveries"][0]
        sb.ok("POST", f"/webhooks/deliveries/{orphan['id']}/redeliver")
        assert sb.wait(10).status_code == 200
        redelivered = sb.deliveries(webhookId=orphan["webhookId"])["deliveries"][-1]
        assert redelivered["status"] == "failed" and redelivered["lastError"] == "target removed"

        # Bad input is a GHL-shaped 422, never a 500.
        bad = [
            ("POST", "/webhooks/targets", {"url": "ftp://example.com/hook"}),
            ("POST", "/webhooks/targets", {"url": "not a url"}),
            ("POST", "/webhooks/targets", {"url": "http://"}),
            ("POST", "/webhooks/targets", {"url": "http://exa mple.com/hook"}),
            ("POST", "/webhooks/targets", {"url": "http://127.0.0.1:99999/hook"}),
            ("POST", "/webhooks/targets", {"url": "http://xn--/hook"}),
            ("POST", "/webhooks/targets", {"url": 42}),
            ("POST", "/webhooks/targets", {}),
            ("POST", "/webhooks/targets", {"url": rx.url, "events": ["OrderPaid"]}),
            ("POST", "/webhooks/targets", {"url": rx.url, "events": "OrderCreate"}),
            ("POST", "/webhooks/targets", {"url": rx.url, "locationId": "nope"}),
            ("POST", "/webhooks/targets", {"url": rx.url, "chaos": {"explode": 1}}),
            ("POST", "/webhooks/targets", {"url": rx.url, "chaos": {"drop": 2}}),
            ("POST", "/webhooks/targets", {"url": rx.url, "chaos": {"duplicateCount": 1e300}}),
            ("POST", "/webhooks/targets", {"url": rx.url, "chaos": "lots"}),
            ("PUT", "/webhooks/chaos", {"reorder": 3}),
            ("PUT", "/webhooks/chaos", {"delayMs": -1}),
            ("PUT", "/webhooks/chaos", {"reorderWindow": 2.5}),
        ]
        for method, path, payload in bad:
            r = sb.req(method, path, json=payload)
            assert r.status_code == 422, (payload, r.status_code, r.text)
            err = r.json()
            assert err["statusCode"] == 422 and err["error"] == "Unprocessable Entity", err
            assert isinstance(err["message"], list) and err["message"], err
        target = sb.add_target(rx.url)
        r = sb.req("PUT", f"/webhooks/targets/{target['id']}/chaos", json={"nope": True})
        assert r.status_code == 422 and r.json()["statusCode"] == 422
        assert sb.req("PUT", "/webhooks/targets/nope/chaos", json={"drop": 0.5}).status_code == 404
        for params in ({"for": "nothing"}, {"timeout": "soon"}, {"timeout": "-1"}):
            r = sb.req("GET", "/wait", params=params)
            assert r.status_code == 422 and r.json()["statusCode"] == 422, params
        assert sb.ok("GET", "/health")["status"] == "ok"


def test_unsendable_cli_target_fails_instead_of_wedging_the_worker() -> None:
    # `--webhook-url` only checks the scheme; the worker must still turn what httpx cannot even send
    # (a port out of range, a malformed IDNA host) into failed attempts, so `wait` settles.
    with sandbox(*FAST, "--webhook-url", "http://127.0.0.1:99999/hook", "--webhook-url", "http://xn--/hook") as sb:
        sb.new_order()
        sb.settle()
        deliveries = sb.deliveries()["deliveries"]
        assert [(d["status"], d["attemptCount"]) for d in deliveries] == [("failed", 1), ("failed", 1)]
        # Each fails with httpx's error; a resolver that answers for `xn--` (a search domain, a proxy) gives
        # an HTTP status instead, which must then be a refusal: either way nothing is left queued.
        assert all(d["lastError"] or (d["lastStatus"] is not None and d["lastStatus"] >= 300) for d in deliveries)


# ---- 8. retries wait on the sandbox clock -------------------------------------------------------


def test_retry_waits_on_the_sandbox_clock(slow_sb: Sandbox) -> None:
    interval = 3600  # --webhook-retry-interval of the slow server
    sb = slow_sb
    with Receiver() as rx:
        sb.add_target(rx.url)
        rx.script(429)
        sb.new_order()
        rx.wait_for(1)
        [delivery] = poll(lambda: [d for d in sb.deliveries()["deliveries"] if d["attemptCount"] == 1])
        assert delivery["status"] == "queued"
        clock_now = parse_iso(sb.ok("GET", "/clock")["now"])
        due_in = parse_iso(delivery["nextAttemptAt"]) - clock_now
        assert interval - 5 <= due_in <= interval * 1.1 + 5  # interval plus up to 10 % jitter

        sb.ok("POST", "/clock", json={"advance": 1800})
        assert sb.wait(0.5).status_code == 408
        assert len(rx.requests) == 1  # real time passing is not enough

        sb.ok("POST", "/clock", json={"advance": 3700 - 1800})
        if due_in <= 3700 - 1:
            sb.settle()
        else:  # the jitter put it later than +3700 s: still waiting for the sandbox clock
            assert sb.wait(0.5).status_code == 408
            sb.ok("POST", "/clock", json={"advance": interval * 1.1 + 10 - 3700})
            sb.settle()
        reqs = rx.requests
        assert len(reqs) == 2 and reqs[0].json["webhookId"] == reqs[1].json["webhookId"]
        assert sb.deliveries()["deliveries"][0]["status"] == "delivered"
