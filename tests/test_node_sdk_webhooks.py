"""GHL's official Node SDK accepts every webhook the sandbox sends, used as its docs show.

A real sandbox subprocess (`--extension-events`) delivers every event type to a real Node receiver
(tests/node/sdk_webhook_receiver.js): express, `app.use(express.json())`, then `@gohighlevel/api-client`
3.1.0's `ghl.webhooks.subscribe()` middleware. Without a raw body that middleware verifies the Ed25519
`x-ghl-signature` over `JSON.stringify(req.body)`, so it accepts our webhooks only when the bytes we signed
are exactly what JSON.stringify writes. By default deliveries carry `x-ghl-signature` only, as GHL sends
them since it retired `x-wh-signature` (the SDK treats that header as no longer sent); a second sandbox
with `--legacy-wh-signature` adds it, and the receiver checks it over JSON.stringify(req.body) too. The
receiver also checks that the raw bytes are a fixed point of JSON.stringify(JSON.parse(...)). A second
route keeps the raw body as 3.1.0's README does.

The npm packages are installed from tests/node/package-lock.json (`npm ci`) once, when missing."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_js_json import NO_REFERENCE, NODE_DIR, NodeStringify, node_tools

from mock_server.ghl.models import EXTENSION_EVENTS, ORDER_EVENTS
from mock_server.testing import DEFAULT_VERSION, SandboxProcess

SDK = "@gohighlevel/api-client"
SDK_VERSION = "3.1.0"
LOCK = NODE_DIR / "package-lock.json"
STAMP = NODE_DIR / "node_modules" / ".ghl-sandbox-lock.sha256"  # the lock file npm ci last installed
# The receiver's two routes: the docs' bare JSON parser, and 3.1.0's README that keeps req.rawBody.
ROUTES = {"plain": "/webhooks/ghl", "rawbody": "/rawbody/webhooks/ghl"}
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH")


@pytest.fixture(scope="session")
def node_with_sdk() -> str:
    """`node`, with tests/node/node_modules installed from the lock file (once, and again when it changed)."""
    tools = node_tools("node", "npm")
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    guard = Path(tempfile.gettempdir()) / f"ghl-sandbox-npm-{hashlib.sha256(bytes(NODE_DIR)).hexdigest()[:12]}.lock"
    with guard.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two sessions at once must not run npm ci into one folder
        if not (STAMP.exists() and STAMP.read_text() == digest):
            done = subprocess.run([tools["npm"], "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                                  capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                output = (done.stdout + done.stderr)[-3000:]
                if any(code in output for code in NETWORK_ERRORS):
                    pytest.skip(f"npm ci in tests/node could not reach the npm registry:\n{output}")
                pytest.fail(f"npm ci in tests/node failed:\n{output}")
            STAMP.write_text(digest)
    installed = json.loads((NODE_DIR / "node_modules" / SDK / "package.json").read_text())["version"]
    assert installed == SDK_VERSION, f"tests/node installed {SDK} {installed}, not {SDK_VERSION}"
    return tools["node"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    # --extension-events: transaction and subscription webhooks too, so every event type we can send is sent.
    with SandboxProcess(["--extension-events"]) as proc:
        yield proc


@pytest.fixture(scope="module")
def control(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url + "/_sandbox", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def legacy_control() -> Iterator[httpx.Client]:
    """A sandbox that also sends the retired RSA `x-wh-signature` (`--legacy-wh-signature`)."""
    with SandboxProcess(["--extension-events", "--legacy-wh-signature"]) as proc, \
            httpx.Client(base_url=proc.url + "/_sandbox", timeout=30) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, (response.request.url, response.status_code, response.text)
    return response.json()


class NodeReceiver:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def records(self) -> list[dict[str, Any]]:
        return ok(httpx.get(self.url + "/records", timeout=10))


def sandbox_app(control: httpx.Client) -> dict[str, Any]:
    """The sandbox's marketplace app: its clientId is `<appId>-<suffix>`, which the SDK's appId check needs."""
    found = ok(control.get("/apps"))[0]
    assert found["clientId"].split("-")[0] == found["appId"], found
    return found


@contextmanager
def node_receiver(node: str, control: httpx.Client, log: Path) -> Iterator[NodeReceiver]:
    """The Node receiver, configured with this sandbox's app and both its public keys."""
    keys, app = ok(control.get("/keys")), sandbox_app(control)
    env = {**os.environ, "PORT": "0", "CLIENT_ID": app["clientId"], "CLIENT_SECRET": app["clientSecret"],
           "WEBHOOK_SIGNATURE_PUBLIC_KEY": keys["ed25519PublicKey"], "WEBHOOK_PUBLIC_KEY": keys["rsaPublicKey"]}
    with log.open("wb") as out:
        proc = subprocess.Popen([node, str(NODE_DIR / "sdk_webhook_receiver.js")], cwd=NODE_DIR, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline and proc.poll() is None:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("RECEIVER_READY "):
                    url = line.split()[1]
            time.sleep(0.05)
        if not url:
            pytest.fail(f"the Node receiver did not start (exit {proc.poll()}):\n{log.read_text(errors='replace')}")
        yield NodeReceiver(proc, url, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture(scope="module")
def receiver(node_with_sdk: str, control: httpx.Client,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeReceiver]:
    with node_receiver(node_with_sdk, control, tmp_path_factory.mktemp("node-receiver") / "receiver.log") as rx:
        yield rx


def simulate(control: httpx.Client, action: str, **body: Any) -> dict[str, Any]:
    return ok(control.post(f"/simulate/{action}", json=body))


def resource(result: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(r for r in result["resources"] if r["type"] == kind)


def drive_every_action(control: httpx.Client) -> list[str]:
    """Every simulate action, so every event type is sent; answers the actions run."""
    done = []

    def run(action: str, **body: Any) -> dict[str, Any]:
        done.append(action)
        return simulate(control, action, **body)

    order = resource(run("order.create"), "order")
    run("order.pay", orderId=order["id"], amount=round(order["data"]["amount"] / 2, 2))  # in part
    run("order.pay", orderId=order["id"])  # the rest: paid in full
    run("order.fulfill", orderId=order["id"])
    run("order.refund", orderId=order["id"], amount=1)  # in part: the transaction is updated, not refunded
    other = resource(run("order.create", qty=2), "order")
    run("order.fail_payment", orderId=other["id"])
    run("order.cancel", orderId=other["id"])
    subscription = resource(run("subscription.create"), "subscription")
    run("subscription.renew", subscriptionId=subscription["id"])
    run("subscription.fail_renewal", subscriptionId=subscription["id"])
    run("subscription.cancel", subscriptionId=subscription["id"])
    return done


def every_webhook_reaches(control: httpx.Client, receiver: NodeReceiver) -> dict[str, list[dict[str, Any]]]:
    """Every event type, sent to both routes: the receiver's records per route, once each checked that every
    delivery arrived once, the SDK accepted it, its bytes are what JSON.stringify writes and the handler said 200."""
    httpx.delete(receiver.url + "/records", timeout=10)
    targets = {route: ok(control.post("/webhooks/targets", json={"url": receiver.url + path}))["id"]
               for route, path in ROUTES.items()}
    out = {}
    try:
        actions = drive_every_action(control)
        assert ok(control.get("/wait", params={"for": "deliveries-settled", "timeout": "60"}))["settled"]
        records = receiver.records()
        for route, target_id in targets.items():
            deliveries = ok(control.get("/webhooks/deliveries", params={"targetId": target_id}))["deliveries"]
            got = [r for r in records if r["route"] == route]
            assert len(deliveries) >= len(actions), (route, len(deliveries))
            # Each delivery reached the receiver once.
            assert Counter(r["webhookId"] for r in got) == Counter(d["webhookId"] for d in deliveries), route
            refused = [r for r in got if not r["sdkAccepted"]]
            assert refused == [], f"{route}: the SDK middleware refused {len(refused)} of {len(got)}: {refused[:3]}"
            not_js = [r for r in got if not r["stringifyIdentity"]]
            assert not_js == [], f"{route}: raw bodies that are not what JSON.stringify writes: {not_js[:3]}"
            assert {r["type"] for r in got} == {*ORDER_EVENTS, *EXTENSION_EVENTS}, route
            # And the handler answered 200, as it does when the SDK accepted the webhook (401 when not).
            assert [d for d in deliveries if d["lastStatus"] != 200] == [], route
            out[route] = got
    finally:
        for target_id in targets.values():
            control.delete(f"/webhooks/targets/{target_id}")
    return out


def test_sdk_middleware_accepts_every_webhook(control: httpx.Client, receiver: NodeReceiver) -> None:
    """The default: `x-ghl-signature` only, as GHL sends them now."""
    assert ok(control.get("/keys"))["signatures"] == {"x-ghl-signature": True, "x-wh-signature": False}
    for route, got in every_webhook_reaches(control, receiver).items():
        assert [r for r in got if r["signatureHeaders"] != ["x-ghl-signature"]] == [], route


def test_with_the_legacy_header_the_sdk_still_accepts_and_rsa_verifies(
        node_with_sdk: str, legacy_control: httpx.Client, tmp_path: Path) -> None:
    """`--legacy-wh-signature`: both headers; the SDK (Ed25519) accepts every delivery, and the RSA
    `x-wh-signature` verifies over JSON.stringify(req.body) for a client still checking it."""
    assert ok(legacy_control.get("/keys"))["signatures"] == {"x-ghl-signature": True, "x-wh-signature": True}
    with node_receiver(node_with_sdk, legacy_control, tmp_path / "receiver.log") as legacy_receiver:
        for route, got in every_webhook_reaches(legacy_control, legacy_receiver).items():
            assert [r for r in got if r["signatureHeaders"] != ["x-ghl-signature", "x-wh-signature"]] == [], route
            bad_rsa = [r for r in got if not r["legacyRsaOverStringify"]]
            assert bad_rsa == [], f"{route}: x-wh-signature does not verify over JSON.stringify(req.body): {bad_rsa[:3]}"


def test_api_answers_are_what_json_stringify_writes(sandbox: SandboxProcess, control: httpx.Client) -> None:
    """The API's answers too: a Node client that re-serializes them gets the same bytes."""
    location = ok(control.get("/locations"))[0]
    loc_id, token = location["locationId"], location["tokens"][0]["token"]
    simulate(control, "order.refund", orderId=resource(simulate(control, "subscription.create"), "order")["id"],
             amount=1)  # whole-number amounts among the answers
    auth = {"Authorization": f"Bearer {token}", "Version": DEFAULT_VERSION}
    with httpx.Client(base_url=sandbox.url, timeout=30) as api:
        orders = api.get("/payments/orders", params={"altId": loc_id, "altType": "location", "limit": 20}, headers=auth)
        first = ok(orders)["data"][0]["_id"]
        answers = {
            "orders": orders,
            "order": api.get(f"/payments/orders/{first}", params={"altId": loc_id, "altType": "location"}, headers=auth),
            "transactions": api.get("/payments/transactions", params={"altId": loc_id, "altType": "location"},
                                    headers=auth),
            "subscriptions": api.get("/payments/subscriptions", params={"altId": loc_id, "altType": "location"},
                                     headers=auth),
            "no token": api.get("/payments/orders", params={"altId": loc_id}),
            "bad limit": api.get("/payments/orders", params={"altId": loc_id, "limit": "x"}, headers=auth),
            "deliveries": control.get("/webhooks/deliveries"),
            "locations": control.get("/locations"),
        }
    assert [answers[k].status_code for k in ("orders", "order", "transactions", "subscriptions")] == [200] * 4
    assert answers["no token"].status_code == 401 and answers["bad limit"].status_code == 422
    checker = NodeStringify(node_tools("node")["node"])
    try:
        results = checker.check_many([(r.content, NO_REFERENCE) for r in answers.values()])
    finally:
        checker.close()
    for (name, response), result in zip(answers.items(), results, strict=True):
        assert result["error"] is None and result["identity"], (
            f"{name}: JSON.stringify(JSON.parse(body)) !== body for {response.content[:300]!r}")
