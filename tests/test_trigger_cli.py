"""The `ghl-sandbox trigger` and `ghl-sandbox clock` commands, run as real subprocesses against the
`ghl_sandbox` server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from api_support import TRANSACTIONS, everything
from sim_support import clock, epoch, new_order, one, order, simulate, transactions_of

from mock_server.testing import SandboxClient

SCRIPT = Path(sys.executable).with_name("ghl-sandbox")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "mock_server.cli"]
DAY = 86400


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GHL_SANDBOX_URL", "GHL_SANDBOX_ADMIN_TOKEN")}
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60, env=env)


def succeeds(*args: str) -> str:
    done = cli(*args)
    assert done.returncode == 0, f"{args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def fails(*args: str) -> str:
    """A refused command: non-zero exit, one clear line, no traceback."""
    done = cli(*args)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("Error: "), done.stderr
    return done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_trigger_order_create_prints_the_order_and_its_webhooks(ghl_sandbox: SandboxClient,
                                                                loc: dict[str, Any]) -> None:
    target = ghl_sandbox.control("POST", "/webhooks/targets", json={"url": "http://127.0.0.1:9/hook"})
    try:
        out = succeeds("trigger", "order.create", "--url", ghl_sandbox.url)
    finally:
        ghl_sandbox.control("DELETE", f"/webhooks/targets/{target['id']}")
    lines = out.splitlines()
    assert lines[0] == "order.create:"
    [order_line] = [line for line in lines if line.split()[0] == "order"]
    order_id = order_line.split()[1]
    assert "status=pending, paymentStatus=unpaid, fulfillmentStatus=unfulfilled" in order_line
    [hook] = [line for line in lines if line.split()[0] == "webhook"]
    assert f"OrderCreate for {order_id} -> {target['id']}:queued" in hook
    assert order(ghl_sandbox, loc, order_id)["status"] == "pending"  # it exists for the API


def test_trigger_order_pay_with_an_amount(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    out = succeeds("trigger", "order.pay", "--order", oid, "--amount", "5", "--url", ghl_sandbox.url)
    assert out.splitlines()[0] == "order.pay:"
    assert f"order        {oid}  status=pending, paymentStatus=partially_paid" in out
    assert f"webhook      OrderStatusUpdate for {oid} -> no target registered" in out
    [txn] = transactions_of(ghl_sandbox, loc, oid)
    assert (txn["amount"], txn["status"]) == (5, "succeeded")
    assert f"transaction  {txn['_id']}  status=succeeded" in out


def test_trigger_json_items_and_pending(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    price = one(simulate(ghl_sandbox, "order.create"), "order")["items"][0]["price"]
    data = json.loads(succeeds("trigger", "order.create", "--item", f"{price['_id']}:3", "--json",
                               "--url", ghl_sandbox.url))
    [created] = [r["data"] for r in data["resources"] if r["type"] == "order"]
    assert [(i["price"]["_id"], i["qty"]) for i in created["items"]] == [(price["_id"], 3)]
    out = succeeds("trigger", "order.pay", "--order", created["_id"], "--pending-polls", "2", "--url", ghl_sandbox.url)
    assert "status=pending" in out
    assert order(ghl_sandbox, loc, created["_id"])["paymentStatus"] == "unpaid"
    assert order(ghl_sandbox, loc, created["_id"])["paymentStatus"] == "paid"


def test_trigger_subscription_renew(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    sub = one(simulate(ghl_sandbox, "subscription.create"), "subscription")
    out = succeeds("trigger", "subscription.renew", "--subscription", sub["_id"], "--url", ghl_sandbox.url)
    assert f"subscription {sub['_id']}  status=active" in out
    assert "no webhooks (GHL sends none for this change)" in out
    renewals = everything(ghl_sandbox, loc, TRANSACTIONS, subscriptionId=sub["subscriptionId"])
    assert sorted(t["entityType"] for t in renewals) == ["order", "subscription"]


def test_trigger_unknown_order_is_a_clear_error(ghl_sandbox: SandboxClient) -> None:
    err = fails("trigger", "order.pay", "--order", "0123456789abcdef01234567", "--url", ghl_sandbox.url)
    assert "404" in err and "Order 0123456789abcdef01234567 not found" in err


@pytest.mark.parametrize(("args", "expected"), [
    (["order.pay"], "422: orderId should not be empty"),
    (["order.refund", "--order", "{order}"], "409: Order has no captured payment to refund"),
])
def test_trigger_refusals_are_clear(ghl_sandbox: SandboxClient, args: list[str], expected: str) -> None:
    oid = new_order(ghl_sandbox)
    err = fails("trigger", *(a.format(order=oid) for a in args), "--url", ghl_sandbox.url)
    assert expected in err


def test_unreachable_url_is_a_clear_error() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    assert f"cannot reach the sandbox at {closed}" in fails("trigger", "order.create", "--url", closed)
    assert "cannot reach the sandbox at http://[::1" in fails("clock", "show", "--url", "http://[::1")


def test_clock_advance_30d_moves_the_clock_by_30_days(ghl_sandbox: SandboxClient) -> None:
    before = clock(ghl_sandbox)
    out = succeeds("clock", "advance", "30d", "--url", ghl_sandbox.url)
    after = clock(ghl_sandbox)
    assert (before["offsetSeconds"], after["offsetSeconds"]) == (0, 30 * DAY)
    assert epoch(after["now"]) - epoch(before["now"]) == pytest.approx(30 * DAY, abs=5)
    assert "frozen=False" in out and f"offset={30 * DAY}s" in out  # the number as the JSON answer writes it
    assert epoch(out.split()[0]) == pytest.approx(epoch(after["now"]), abs=5)


def test_clock_freeze_show_unfreeze(ghl_sandbox: SandboxClient) -> None:
    out = succeeds("clock", "freeze", "--url", ghl_sandbox.url)
    frozen = clock(ghl_sandbox)
    assert frozen["frozen"] is True
    assert out.split()[0] == frozen["now"] and "frozen=True" in out
    shown = succeeds("clock", "show", "--url", ghl_sandbox.url)
    assert shown.split()[0] == frozen["now"] and "frozen=True" in shown and "offset=" in shown
    out = succeeds("clock", "unfreeze", "--url", ghl_sandbox.url)
    assert "frozen=False" in out
    assert clock(ghl_sandbox)["frozen"] is False


def test_clock_advance_refuses_garbage(ghl_sandbox: SandboxClient) -> None:
    before = clock(ghl_sandbox, freeze=True)["now"]
    err = fails("clock", "advance", "--url", ghl_sandbox.url, "--", "-1d")
    assert "422: advance must be a non-negative duration" in err
    assert clock(ghl_sandbox)["now"] == before


def test_trigger_order_create_with_a_coupon_code_and_a_source_id(ghl_sandbox: SandboxClient,
                                                                 loc: dict[str, Any]) -> None:
    """`--coupon-code` redeems a coupon of the location; `--source-id` places the order in that funnel."""
    source_id = next(o["sourceId"] for o in everything(ghl_sandbox, loc, "/payments/orders") if o["sourceType"] == "funnel")
    r = ghl_sandbox.api("POST", "/payments/coupon", loc["token"], json={
        "altId": loc["id"], "altType": "location", "name": "Cli", "code": "CLIFIVE", "discountType": "percentage",
        "discountValue": 5, "startDate": "2020-01-01T00:00:00.000Z"})
    assert r.status_code == 201, r.text
    out = succeeds("trigger", "order.create", "--coupon-code", "clifive", "--source-id", source_id, "--json",
                   "--url", ghl_sandbox.url)
    created = one(json.loads(out), "order")
    got = order(ghl_sandbox, loc, created["_id"])
    assert got["coupon"]["code"] == "CLIFIVE" and got["amountSummary"]["discount"] > 0
    assert got["source"]["id"] == source_id
    # an unknown code is refused in one line, and no order is made
    assert "couponCode" in fails("trigger", "order.create", "--coupon-code", "NOSUCH", "--url", ghl_sandbox.url)
