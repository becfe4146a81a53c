"""POST /payments/orders/{orderId}/record-payment and GET /payments/orders/{orderId}/notes: a manual
payment becomes a succeeded transaction on the order, the order's statuses follow (derived, never set),
OrderStatusUpdate reaches a real receiver, the note is listed; refusals are GHL-shaped and change nothing.
Driven over real HTTP, through both official SDKs, the simulate action and the `trigger` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import OBJECT_ID, ORDERS, assert_ghl_error, ok, second_location, token_of
from highlevel import HighLevel
from highlevel.error import GHLError
from receiver import Receiver
from sim_support import new_order, one, order, simulate, transactions_of
from test_node_sdk_webhooks import node_with_sdk  # noqa: F401  (the fixture)

from mock_server.testing import SandboxClient

NODE_SCRIPT = Path(__file__).parent / "node" / "record_payment.js"
SCRIPT = Path(sys.executable).with_name("ghl-sandbox")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "mock_server.cli"]
NOTE_KEYS = {"_id", "altId", "altType", "orderId", "type", "notes", "transactionId", "meta", "createdAt", "updatedAt"}


def record(sb: SandboxClient, loc: dict[str, Any], order_id: str, token: str | None = None,
           **body: Any) -> httpx.Response:
    payload = {"altId": loc["id"], "altType": "location", **body}
    return sb.api("POST", f"{ORDERS}/{order_id}/record-payment", token or loc["token"], json=payload)


def notes(sb: SandboxClient, loc: dict[str, Any], order_id: str, token: str | None = None) -> httpx.Response:
    return sb.api("GET", f"{ORDERS}/{order_id}/notes", token or loc["token"],
                  params={"altId": loc["id"], "altType": "location"})


def balance(o: dict[str, Any], txns: list[dict[str, Any]]) -> float:
    paid = sum(t["amount"] for t in txns if t["status"] in ("succeeded", "refunded"))
    return round(o["amount"] - paid, 2)


def statuses(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> tuple[str, str]:
    o = order(sb, loc, order_id)
    return o["status"], o["paymentStatus"]


def test_cash_in_full_pays_the_order_and_fires_order_status_update(ghl_sandbox: SandboxClient, loc: dict) -> None:
    with Receiver() as rx:
        target = ghl_sandbox.control("POST", "/webhooks/targets", json={"url": rx.url})
        oid = new_order(ghl_sandbox)
        before = order(ghl_sandbox, loc, oid)
        assert (before["status"], before["paymentStatus"]) == ("pending", "unpaid")
        r = record(ghl_sandbox, loc, oid, mode="cash", notes="Paid at the counter", meta={"till": 3})
        assert ok(r) == {"success": True}
        after = order(ghl_sandbox, loc, oid)
        assert (after["status"], after["paymentStatus"]) == ("completed", "paid")
        [txn] = transactions_of(ghl_sandbox, loc, oid)
        assert txn["status"] == "succeeded" and txn["amount"] == before["amount"]
        assert txn["paymentProviderType"] == "manual" and txn["paymentMethod"] == {"type": "cash"}
        assert txn["entityId"] == oid and txn["contactId"] == before["contactId"]
        listed = ok(notes(ghl_sandbox, loc, oid))
        assert listed["status"] is True
        [note] = listed["data"]
        assert set(note) == NOTE_KEYS and OBJECT_ID.match(note["_id"])
        assert (note["orderId"], note["type"], note["notes"], note["transactionId"], note["meta"]) == (
            oid, "payment", "Paid at the counter", txn["_id"], {"till": 3})
        # The webhook: OrderStatusUpdate for this order, completed and paid.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            updates = [b for b in rx.bodies() if b.get("type") == "OrderStatusUpdate"
                       and b.get("_id") == oid]
            if updates:
                break
            time.sleep(0.1)
        assert updates, [b.get("type") for b in rx.bodies()]
        assert updates[-1]["status"] == "completed"
        ghl_sandbox.control("DELETE", f"/webhooks/targets/{target['id']}")


def test_partial_card_then_cheque_moves_partially_paid_then_paid(ghl_sandbox: SandboxClient, loc: dict) -> None:
    oid = new_order(ghl_sandbox)
    total = order(ghl_sandbox, loc, oid)["amount"]
    part = round(total / 3, 2)
    ok(record(ghl_sandbox, loc, oid, mode="card", card={"type": "visa", "last4": "4242"}, amount=part,
              isPartialPayment=True, notes="deposit"))
    assert statuses(ghl_sandbox, loc, oid) == ("pending", "partially_paid")
    [card] = transactions_of(ghl_sandbox, loc, oid)
    assert card["amount"] == part
    assert card["paymentMethod"] == {"type": "card", "card": {"brand": "visa", "last4": "4242"}}
    # The rest, amount omitted: the balance due.
    ok(record(ghl_sandbox, loc, oid, mode="cheque", cheque={"number": "000123"}))
    assert statuses(ghl_sandbox, loc, oid) == ("completed", "paid")
    txns = transactions_of(ghl_sandbox, loc, oid)
    assert len(txns) == 2 and balance(order(ghl_sandbox, loc, oid), txns) == 0
    cheque = [t for t in txns if t["_id"] != card["_id"]][0]
    assert cheque["paymentMethod"] == {"type": "cheque", "cheque": {"number": "000123"}}
    # Only the payment that carried notes left one.
    assert [n["notes"] for n in ok(notes(ghl_sandbox, loc, oid))["data"]] == ["deposit"]


def test_refusals_are_ghl_shaped_and_change_nothing(ghl_sandbox: SandboxClient, loc: dict) -> None:
    oid = new_order(ghl_sandbox)
    total = order(ghl_sandbox, loc, oid)["amount"]
    # A partial amount without isPartialPayment.
    body = assert_ghl_error(record(ghl_sandbox, loc, oid, mode="cash", amount=round(total / 2, 2)), 400)
    assert "isPartialPayment" in body["message"]
    # Over-payment, with or without the flag.
    for flag in (True, False):
        body = assert_ghl_error(record(ghl_sandbox, loc, oid, mode="cash", amount=total + 1,
                                       isPartialPayment=flag), 400)
        assert "exceeds the balance due" in body["message"]
    # isPartialPayment without an amount.
    body = assert_ghl_error(record(ghl_sandbox, loc, oid, mode="cash", isPartialPayment=True), 400)
    assert "amount is required" in body["message"]
    assert transactions_of(ghl_sandbox, loc, oid) == []
    assert statuses(ghl_sandbox, loc, oid) == ("pending", "unpaid")
    # Paid in full: a second payment is refused.
    ok(record(ghl_sandbox, loc, oid, mode="bank_transfer"))
    body = assert_ghl_error(record(ghl_sandbox, loc, oid, mode="other"), 400)
    assert body["message"] == "Order is already paid in full"
    assert len(transactions_of(ghl_sandbox, loc, oid)) == 1
    # Refunded and cancelled orders.
    simulate(ghl_sandbox, "order.refund", orderId=oid)
    body = assert_ghl_error(record(ghl_sandbox, loc, oid, mode="cash"), 400)
    assert body["message"] == "Cannot record a payment on a refunded order"
    cancelled = new_order(ghl_sandbox)
    simulate(ghl_sandbox, "order.cancel", orderId=cancelled)
    body = assert_ghl_error(record(ghl_sandbox, loc, cancelled, mode="cash"), 400)
    assert body["message"] == "Cannot record a payment on a cancelled order"
    assert transactions_of(ghl_sandbox, loc, cancelled) == []
    # An unknown order: 404 "Order not found", as observed live.
    body = assert_ghl_error(record(ghl_sandbox, loc, "0123456789abcdef01234567", mode="cash"), 404)
    assert body["message"] == "Order not found"
    assert_ghl_error(notes(ghl_sandbox, loc, "0123456789abcdef01234567"), 400, "Order not found")


@pytest.mark.parametrize(("body", "message"), [
    ({}, "mode should not be empty"),
    ({"mode": "barter"}, "mode must be one of the following values: cash, card, cheque, bank_transfer, other"),
    ({"mode": "card"}, "card should not be empty when mode is card"),
    ({"mode": "card", "card": {"type": "amex", "last4": "1234"}},
     "card.type must be one of the following values: visa, mastercard, other"),
    ({"mode": "card", "card": {"type": "visa", "last4": "12a4"}}, "card.last4 must be 4 digits"),
    ({"mode": "card", "card": "visa"}, "card must be an object"),
    ({"mode": "cheque", "cheque": {}}, "cheque.number should not be empty"),
    ({"mode": "cash", "amount": -5, "isPartialPayment": True},
     "amount must be a positive number not greater than 1000000000"),
    ({"mode": "cash", "amount": "ten"}, "amount must be a number conforming to the specified constraints"),
    ({"mode": "cash", "isPartialPayment": "yes"}, "isPartialPayment must be a boolean value"),
    ({"mode": "cash", "meta": [1]}, "meta must be an object"),
    ({"mode": "cash", "notes": 5}, "notes must be a string"),
    ({"mode": "cash", "altType": "company"}, "altType must be one of the following values: location"),
])
def test_invalid_bodies_answer_422(ghl_sandbox: SandboxClient, loc: dict, body: dict, message: str) -> None:
    oid = new_order(ghl_sandbox)
    err = assert_ghl_error(record(ghl_sandbox, loc, oid, **body), 422)
    assert message in err["message"], err["message"]
    assert transactions_of(ghl_sandbox, loc, oid) == []


def test_scopes_and_locations(ghl_sandbox: SandboxClient, loc: dict) -> None:
    oid = new_order(ghl_sandbox)
    without = ghl_sandbox.token(loc["id"], scopes=["payments/orders.readonly", "payments/orders.write"])["token"]
    assert_ghl_error(record(ghl_sandbox, loc, oid, token=without, mode="cash"), 401)
    # Notes demand a location token and no scope.
    nothing = ghl_sandbox.token(loc["id"], scopes=[])["token"]
    assert ok(notes(ghl_sandbox, loc, oid, token=nothing)) == {"status": True, "data": []}
    only = ghl_sandbox.token(loc["id"], scopes=["payments/orders.collectPayment"])["token"]
    assert ok(record(ghl_sandbox, loc, oid, token=only, mode="cash")) == {"success": True}
    other = second_location(ghl_sandbox)
    foreign = {"id": other["id"], "token": loc["token"]}
    assert_ghl_error(record(ghl_sandbox, foreign, oid, mode="cash"), 403)
    # Another location's own token does not see this location's order.
    assert_ghl_error(record(ghl_sandbox, other, oid, mode="cash"), 404)
    assert_ghl_error(notes(ghl_sandbox, other, oid), 400)


def test_python_sdk(ghl_sandbox: SandboxClient, loc: dict) -> None:
    oid = new_order(ghl_sandbox)
    total = order(ghl_sandbox, loc, oid)["amount"]

    async def main() -> tuple[Any, Any, Any, GHLError]:
        ghl = HighLevel(log_level="none", private_integration_token=token_of(loc, "pit"))
        ghl.get_http_client().base_url = ghl_sandbox.url
        try:
            first = await ghl.payments.record_order_payment(oid, {
                "altId": loc["id"], "altType": "location", "mode": "cash", "amount": round(total / 4, 2),
                "isPartialPayment": True, "notes": "python: a quarter"})
            rest = await ghl.payments.record_order_payment(oid, {"altId": loc["id"], "altType": "location",
                                                                 "mode": "other"})
            listed = await ghl.payments.list_order_notes(loc["id"], "location", oid)
            try:
                await ghl.payments.record_order_payment(oid, {"altId": loc["id"], "altType": "location",
                                                              "mode": "cash"})
            except GHLError as exc:
                return first, rest, listed, exc
            raise AssertionError("a payment on a paid order was accepted")
        finally:
            await ghl.close()

    first, rest, listed, err = asyncio.run(main())
    assert first == {"success": True} and rest == {"success": True}
    assert [n["notes"] for n in listed["data"]] == ["python: a quarter"]
    assert err.status_code == 400 and "already paid in full" in str(err)
    assert statuses(ghl_sandbox, loc, oid) == ("completed", "paid")
    assert len(transactions_of(ghl_sandbox, loc, oid)) == 2


def test_npm_sdk(ghl_sandbox: SandboxClient, loc: dict, node_with_sdk: str) -> None:  # noqa: F811
    oid = new_order(ghl_sandbox)
    total = order(ghl_sandbox, loc, oid)["amount"]
    half = round(total / 2, 2)
    env = {**os.environ, "SANDBOX_URL": ghl_sandbox.url, "TOKEN": token_of(loc, "pit"), "LOCATION": loc["id"],
           "ORDER_ID": oid, "AMOUNT": str(half)}
    done = subprocess.run([node_with_sdk, str(NODE_SCRIPT)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=NODE_SCRIPT.parent)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["partial"] == {"ok": True, "data": {"success": True}}
    assert out["overpay"]["ok"] is False and out["overpay"]["name"] == "GHLValidationError"
    assert out["overpay"]["status"] == 400 and "exceeds the balance due" in out["overpay"]["body"]["message"]
    assert out["invalid"]["status"] == 422 and out["invalid"]["name"] == "GHLValidationError"
    assert out["rest"] == {"ok": True, "data": {"success": True}}
    assert out["missing"]["status"] == 404 and out["missing"]["name"] == "GHLNotFoundError"
    listed = out["notes"]["data"]["data"]
    assert [(n["notes"], n["meta"]) for n in listed] == [("npm: first half by card", {"by": "npm"}),
                                                       ("npm: the rest by cheque", {})]
    txns = sorted(transactions_of(ghl_sandbox, loc, oid), key=lambda t: t["createdAt"])
    assert [t["paymentMethod"]["type"] for t in txns] == ["card", "cheque"]
    assert txns[0]["amount"] == half
    assert statuses(ghl_sandbox, loc, oid) == ("completed", "paid")


def test_simulate_action_and_trigger_cli(ghl_sandbox: SandboxClient, loc: dict) -> None:
    oid = new_order(ghl_sandbox)
    total = order(ghl_sandbox, loc, oid)["amount"]
    third = round(total / 3, 2)
    result = simulate(ghl_sandbox, "order.record_payment", orderId=oid, mode="cheque",
                      cheque={"number": "77"}, amount=third, notes="simulated")
    txn = one(result, "transaction")
    assert txn["paymentMethod"] == {"type": "cheque", "cheque": {"number": "77"}} and txn["amount"] == third
    assert ("OrderStatusUpdate", oid) in [(w["event"], w["resourceId"]) for w in result["webhooks"]]
    assert statuses(ghl_sandbox, loc, oid) == ("pending", "partially_paid")
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.record_payment", json={"orderId": oid, "mode": "barter"})
    assert r.status_code == 422, r.text
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.record_payment", json={"orderId": oid, "amount": total})
    assert r.status_code == 409 and "exceeds the balance due" in r.text, r.text
    # The CLI: the rest by card, with a note.
    env = {k: v for k, v in os.environ.items() if k not in ("GHL_SANDBOX_URL", "GHL_SANDBOX_ADMIN_TOKEN")}
    done = subprocess.run([*COMMAND, "trigger", "order.record_payment", "--order", oid, "--mode", "card",
                           "--card-type", "mastercard", "--last4", "5555", "--notes", "cli", "--json",
                           "--url", ghl_sandbox.url], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["action"] == "order.record_payment"
    assert statuses(ghl_sandbox, loc, oid) == ("completed", "paid")
    assert [n["notes"] for n in ok(notes(ghl_sandbox, loc, oid))["data"]] == ["simulated", "cli"]
    done = subprocess.run([*COMMAND, "trigger", "order.record_payment", "--order", oid, "--url", ghl_sandbox.url],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode != 0 and "already paid in full" in done.stderr and "Traceback" not in done.stderr


def test_dashboard_records_a_manual_payment(ghl_sandbox: SandboxClient, loc: dict) -> None:
    from test_dashboard import _chromium_or_skip, open_dashboard

    sync_playwright = _chromium_or_skip()
    oid = new_order(ghl_sandbox)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser, page = open_dashboard(pw, ghl_sandbox.url + "/", errors, height=1000)
        try:
            page.click("nav[data-tabs=actions] button[data-tab=orders]")
            page.fill("[data-testid=order-id]", oid)
            page.select_option("[data-testid=record-mode]", "bank_transfer")
            page.fill("[data-testid=record-notes]", "wired from the dashboard")
            page.click("[data-testid=record-payment]")
            page.locator("[data-testid=action-result]", has_text="order.record_payment").wait_for()
        finally:
            browser.close()
    assert not errors, errors
    assert statuses(ghl_sandbox, loc, oid) == ("completed", "paid")
    [txn] = transactions_of(ghl_sandbox, loc, oid)
    assert txn["paymentMethod"] == {"type": "bank_transfer"}
    assert [n["notes"] for n in ok(notes(ghl_sandbox, loc, oid))["data"]] == ["wired from the dashboard"]
