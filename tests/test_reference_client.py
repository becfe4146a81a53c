"""Smoke test of examples/clients/reference_client.py without the harness: a real sandbox, the client
as a real subprocess with the contract's environment, real signed webhooks and Rankr events."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.testing import SandboxClient, SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "examples" / "clients" / "reference_client.py"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(probe: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Poll until `probe()` returns something truthy; return it (fail with the last value)."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = probe()
    assert value, f"gave up after {timeout} s"
    return value


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--webhook-retry-interval", "0.2", "--rate-limit", "default"]) as sb:
        yield sb


class Client:
    """The reference client as a real subprocess; `start` again after `kill` reuses its state dir."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.url = f"http://127.0.0.1:{env['CLIENT_PORT']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, str(CLIENT)], env={**os.environ, **self.env}, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(healthy, timeout=30, every=0.05)

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        return self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
def setup(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[dict[str, Any]]:
    control = sandbox.client()
    location = control.new_location(orders=12)
    location_id = location["locationId"]
    view = next(loc for loc in control.locations() if loc["locationId"] == location_id)
    keys = control.control("GET", "/keys")
    app = control.control("GET", "/apps")[0]
    env = {
        "GHL_API_BASE_URL": sandbox.url, "GHL_ACCESS_TOKEN": view["tokens"][0]["token"],
        "GHL_LOCATION_ID": location_id, "GHL_API_VERSION": "2021-07-28", "GHL_APP_ID": app["appId"],
        "GHL_WEBHOOK_PUBLIC_KEY": keys["ed25519PublicKey"], "GHL_WEBHOOK_RSA_PUBLIC_KEY": keys["rsaPublicKey"],
        "RANKR_API_BASE_URL": sandbox.url + "/rankr", "RANKR_API_KEY": view["rankr"]["apiKey"],
        "RANKR_WEBHOOK_SECRET": view["rankr"]["webhookSecret"], "CLIENT_PORT": str(free_port()),
        "CLIENT_STATE_DIR": str(tmp_path / "state"), "CLIENT_RECONCILE_INTERVAL": "1",
    }
    client = Client(env, tmp_path / "client.log")
    client.start()
    rankr = httpx.Client(base_url=sandbox.url + "/rankr",
                         headers={"Authorization": f"Bearer {view['rankr']['apiKey']}"})
    try:
        yield {"control": control, "location_id": location_id, "url": client.url, "rankr": rankr, "client": client,
               "token_id": view["tokens"][0]["tokenId"]}
    finally:
        if client.proc is not None and client.proc.poll() is None:
            try:
                client.signal(signal.SIGTERM)
            except subprocess.TimeoutExpired:
                client.signal(signal.SIGKILL)
        control.control("DELETE", "/faults")
        rankr.close()
        control.close()


def rankr_list(rankr: httpx.Client, collection: str) -> list[dict[str, Any]]:
    r = rankr.get(f"/v1/{collection}")
    r.raise_for_status()
    return r.json()["data"]


def ghl_state(control: SandboxClient, location_id: str) -> dict[str, Any]:
    return control.control("GET", f"/locations/{location_id}/state")


def in_sync(control: SandboxClient, rankr: httpx.Client, location_id: str) -> bool:
    state = ghl_state(control, location_id)
    orders = {o["orderId"]: o for o in rankr_list(rankr, "orders")}
    txns = {t["transactionId"]: t for t in rankr_list(rankr, "transactions")}
    subs = {s["subscriptionId"]: s for s in rankr_list(rankr, "subscriptions")}
    return (all(o["_id"] in orders and all(orders[o["_id"]][f] == o[f] for f in
                                           ("status", "fulfillmentStatus", "amount", "currency", "contactId"))
                for o in state["orders"])
            and all(t["_id"] in txns and txns[t["_id"]]["orderId"] == t["entityId"]
                    and all(txns[t["_id"]][f] == t[f] for f in ("status", "amount", "amountRefunded", "currency"))
                    for t in state["transactions"])
            and all(s["_id"] in subs and all(subs[s["_id"]][f] == s[f] for f in ("status", "amount", "currency"))
                    for s in state["subscriptions"]))


def test_reference_client_syncs_webhooks_and_fulfils_once(setup: dict[str, Any]) -> None:
    control, location_id, rankr = setup["control"], setup["location_id"], setup["rankr"]
    control.control("POST", "/webhooks/targets", json={"url": setup["url"] + "/webhooks/ghl", "locationId": location_id})
    created = control.control("POST", "/simulate/order.create", json={"locationId": location_id})
    order_id = next(r["id"] for r in created["resources"] if r["type"] == "order")
    control.control("POST", "/simulate/order.pay", json={"locationId": location_id, "orderId": order_id})
    settled = control.http.get("/_sandbox/wait", params={"for": "deliveries-settled", "timeout": "30"})
    assert settled.status_code == 200, settled.text

    # Every webhook was acknowledged with a 2xx, and each is in Rankr events once.
    deliveries = control.control("GET", "/webhooks/deliveries", params={"locationId": location_id})["deliveries"]
    assert deliveries and all(d["status"] == "delivered" for d in deliveries), (
        [(d["event"], d["status"], [(a["status"], a["error"]) for a in d["attempts"]]) for d in deliveries],
        setup["client"].log())
    events = rankr_list(rankr, "events")
    assert sorted(e["eventId"] for e in events) == sorted({d["webhookId"] for d in deliveries})
    by_id = {e["eventId"]: e for e in events}
    for d in deliveries:
        assert by_id[d["webhookId"]]["eventType"] == d["event"]
        assert by_id[d["webhookId"]]["orderId"] == order_id
        assert by_id[d["webhookId"]]["source"] == "ghl"

    # All 12 + 1 orders (and their transactions and subscriptions) reach Rankr with GHL's values.
    eventually(lambda: in_sync(control, rankr, location_id), timeout=30)
    assert len(rankr_list(rankr, "orders")) == 13
    paid = rankr.get(f"/v1/orders/{order_id}").json()
    assert paid["status"] == next(o for o in ghl_state(control, location_id)["orders"] if o["_id"] == order_id)["status"]

    # A Rankr fulfillment.requested, sent twice with the same eventId: exactly one GHL fulfillment.
    order = next(o for o in ghl_state(control, location_id)["orders"] if o["_id"] == order_id)
    before = {f["_id"] for f in ghl_state(control, location_id)["fulfillments"]}
    request = {"locationId": location_id, "url": setup["url"] + "/webhooks/rankr", "orderId": order_id,
               "eventId": "evt_smoke_1", "items": order["items"],
               "trackings": [{"trackingNumber": "1Z999", "shippingCarrier": "UPS", "trackingUrl": "https://t.example/1"}]}
    for _ in range(2):
        answer = control.control("POST", "/rankr/events", json=request)
        assert answer["status"] == 200, answer
    made = [f for f in ghl_state(control, location_id)["fulfillments"] if f["_id"] not in before]
    assert len(made) == 1 and made[0]["orderId"] == order_id, made
    assert sorted((i["priceId"], i["qty"]) for i in made[0]["items"]) == sorted(
        (i["priceId"], i["qty"]) for i in order["items"])

    # A forged Rankr event is refused and does nothing.
    forged = control.control("POST", "/rankr/events", json={**request, "eventId": "evt_smoke_2", "forge": "bad-signature"})
    assert forged["status"] == 401, forged
    assert len([f for f in ghl_state(control, location_id)["fulfillments"] if f["_id"] not in before]) == 1

    # Hygiene: every GHL call of the client was well formed, and none went over the rate limit.
    journal = control.journal(locationId=location_id, path="/payments", limit=10_000)
    mine = [e for e in journal if e.get("tokenId") == setup["token_id"]]
    assert mine, "the client made no GHL calls"
    assert all(e["hasVersion"] and e["hasBearer"] for e in mine)
    assert not [e for e in mine if 400 <= e["status"] < 500], [e for e in mine if e["status"] >= 400][:5]

    # SIGTERM: a clean, quick exit.
    assert setup["client"].signal(signal.SIGTERM) == 0, setup["client"].log()


def test_fulfillment_exactly_once_across_lost_answer_and_crash(setup: dict[str, Any]) -> None:
    """The POST's answer is lost (GHL stored it, then dropped the connection), the client is killed
    with SIGKILL and restarted, and Rankr sends the same event again: still exactly one fulfillment.
    A second, distinct event for the rest of the order makes the second one."""
    control, location_id, client = setup["control"], setup["location_id"], setup["client"]
    seeded = ghl_state(control, location_id)["orders"]
    price_id = seeded[0]["items"][0]["priceId"]
    created = control.control("POST", "/simulate/order.create",
                              json={"locationId": location_id, "items": [{"priceId": price_id, "qty": 2}]})
    order_id = next(r["id"] for r in created["resources"] if r["type"] == "order")
    control.control("POST", "/simulate/order.pay", json={"locationId": location_id, "orderId": order_id})
    control.control("POST", "/faults", json={"match": {"method": "POST", "path": "/payments/orders/{orderId}/fulfillments"},
                                             "effect": {"commitThenDrop": True}, "times": 1})

    def made() -> list[dict[str, Any]]:
        return [f for f in ghl_state(control, location_id)["fulfillments"] if f["orderId"] == order_id]

    request = {"locationId": location_id, "url": client.url + "/webhooks/rankr", "orderId": order_id,
               "eventId": "evt_partial_1", "items": [{"priceId": price_id, "qty": 1}]}
    first = control.control("POST", "/rankr/events", json=request)
    assert first["status"] == 200, (first, client.log())
    assert len(made()) == 1

    client.signal(signal.SIGKILL)
    client.start()
    again = control.control("POST", "/rankr/events", json=request)
    assert again["status"] == 200, again
    assert len(made()) == 1, made()

    rest = control.control("POST", "/rankr/events", json={**request, "eventId": "evt_partial_2"})
    assert rest["status"] == 200, rest
    assert len(made()) == 2
    order = next(o for o in ghl_state(control, location_id)["orders"] if o["_id"] == order_id)
    assert order["fulfillmentStatus"] == "fulfilled"
    # Nothing the client sent GHL was refused (the dropped POST is the injected fault).
    journal = control.journal(locationId=location_id, path="/payments", limit=10_000)
    refused = [e for e in journal if e.get("tokenId") == setup["token_id"] and 400 <= e["status"] < 500]
    assert not refused, refused


def test_the_client_loads_no_command_line_tools() -> None:
    """httpx imports its CLI (click, rich) when they are installed, as beside the sandbox; the client
    keeps it out of its start-up (a quarter of it), and httpx still works without it."""
    probe = ("import runpy, sys; runpy.run_path(sys.argv[1]);"
             "import httpx; print(sorted(m for m in ('click', 'rich', 'httpx._main') if sys.modules.get(m)),"
             " callable(httpx.Client))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHL_", "RANKR_", "CLIENT_"))}
    done = subprocess.run([sys.executable, "-c", probe, str(CLIENT)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"]
