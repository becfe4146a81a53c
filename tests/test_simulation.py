"""`POST /_sandbox/simulate/{action}`: every action changes state consistently, the public API shows
it, the answer lists the resources changed and the webhooks queued; invalid transitions are refused
with GHL-shaped 4xx; pending payments settle after N polls of the order or T seconds on the clock."""

from __future__ import annotations

import re
from typing import Any

import pytest
from api_support import OBJECT_ID, ORDERS, TRANSACTIONS, assert_ghl_error, everything, ok
from sim_support import (
    clock,
    epoch,
    events,
    new_order,
    one,
    order,
    order_statuses,
    resources,
    simulate,
    subscription,
    transaction,
    transactions_of,
    wait_for,
)

from mock_server.testing import SandboxClient

PERIOD_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


def two_prices(sb: SandboxClient) -> list[dict[str, Any]]:
    """Two distinct one-time prices of the first location's catalogue (a random order holds two)."""
    o = one(simulate(sb, "order.create"), "order")
    prices = {i["price"]["_id"]: i["price"] for i in o["items"]}
    assert len(prices) == 2
    return list(prices.values())


def fulfillments(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> list[dict[str, Any]]:
    r = sb.api("GET", f"{ORDERS}/{order_id}/fulfillments", loc["token"],
               params={"altId": loc["id"], "altType": "location"})
    return ok(r)["data"]


def post_fulfillment(sb: SandboxClient, loc: dict[str, Any], order_id: str, items: list[dict[str, Any]]) -> Any:
    return sb.api("POST", f"{ORDERS}/{order_id}/fulfillments", loc["token"],
                  json={"altId": loc["id"], "altType": "location", "trackings": [], "items": items,
                        "notifyCustomer": False})


def paid_order(sb: SandboxClient) -> tuple[str, dict[str, Any]]:
    oid = new_order(sb)
    result = simulate(sb, "order.pay", orderId=oid)
    return oid, one(result, "transaction")


# ---- orders ---------------------------------------------------------------------------------------


def test_order_create_builds_the_order_from_the_catalog_and_the_api_shows_it(ghl_sandbox: SandboxClient,
                                                                            loc: dict[str, Any]) -> None:
    p1, p2 = two_prices(ghl_sandbox)
    contact_id = order(ghl_sandbox, loc, new_order(ghl_sandbox))["contactId"]
    result = simulate(ghl_sandbox, "order.create", contactId=contact_id,
                      items=[{"priceId": p1["_id"], "qty": 2}, {"priceId": p2["_id"], "qty": 1}])
    created = one(result, "order")
    assert [r["type"] for r in result["resources"]] == ["order"]
    assert result["resources"][0]["id"] == created["_id"]
    assert events(result) == [("OrderCreate", created["_id"])]

    got = order(ghl_sandbox, loc, created["_id"])
    assert got == created
    assert OBJECT_ID.match(got["_id"])
    assert order_statuses(got) == ("pending", "unpaid", "unfulfilled")
    assert got["altId"] == loc["id"] and got["contactId"] == contact_id
    assert got["contactSnapshot"]["_id"] == contact_id
    assert [(i["price"]["_id"], i["qty"]) for i in got["items"]] == [(p1["_id"], 2), (p2["_id"], 1)]
    assert [i["name"] for i in got["items"]] == [p1["name"], p2["name"]]
    assert got["amount"] == pytest.approx(2 * p1["amount"] + p2["amount"])
    assert got["amountSummary"]["subtotal"] == got["amount"]
    assert transactions_of(ghl_sandbox, loc, created["_id"]) == []
    listed = everything(ghl_sandbox, loc, ORDERS, contactId=contact_id)
    assert created["_id"] in [o["_id"] for o in listed]


def test_pay_in_part_then_the_rest_moves_the_order_to_paid(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    total = order(ghl_sandbox, loc, oid)["amount"]

    first = simulate(ghl_sandbox, "order.pay", orderId=oid, amount=5)
    txn = one(first, "transaction")
    assert [r["type"] for r in first["resources"]] == ["transaction", "order"]
    assert (txn["amount"], txn["status"], txn["entityId"], txn["entityType"]) == (5, "succeeded", oid, "order")
    assert order_statuses(one(first, "order")) == ("pending", "partially_paid", "unfulfilled")
    assert events(first) == [("OrderStatusUpdate", oid)]
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("pending", "partially_paid", "unfulfilled")
    assert transaction(ghl_sandbox, loc, txn["_id"]) == txn

    rest = simulate(ghl_sandbox, "order.pay", orderId=oid)
    assert one(rest, "transaction")["amount"] == pytest.approx(total - 5)
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("completed", "paid", "unfulfilled")
    txns = transactions_of(ghl_sandbox, loc, oid)
    assert len(txns) == 2 and {t["status"] for t in txns} == {"succeeded"}
    assert sum(t["amount"] for t in txns) == pytest.approx(total)
    assert events(rest) == [("OrderStatusUpdate", oid)]


def test_fail_payment_records_a_failed_transaction_and_changes_no_status(ghl_sandbox: SandboxClient,
                                                                         loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    result = simulate(ghl_sandbox, "order.fail_payment", orderId=oid)
    failed = one(result, "transaction")
    assert failed["status"] == "failed" and failed["chargeSnapshot"]["paid"] is False
    assert events(result) == []  # no status changed: GHL sends no order webhook
    listed = transactions_of(ghl_sandbox, loc, oid)
    assert [(t["_id"], t["status"], t["amount"]) for t in listed] == [(failed["_id"], "failed", failed["amount"])]
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("pending", "unpaid", "unfulfilled")

    simulate(ghl_sandbox, "order.pay", orderId=oid, amount=3)
    simulate(ghl_sandbox, "order.fail_payment", orderId=oid, amount=4)
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("pending", "partially_paid", "unfulfilled")
    assert sorted(t["status"] for t in transactions_of(ghl_sandbox, loc, oid)) == ["failed", "failed", "succeeded"]


def test_refund_in_part_then_in_full(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    oid, paid = paid_order(ghl_sandbox)
    partial = simulate(ghl_sandbox, "order.refund", orderId=oid, amount=2.5)
    txn = one(partial, "transaction")
    assert (txn["_id"], txn["amountRefunded"], txn["status"]) == (paid["_id"], 2.5, "succeeded")
    assert transaction(ghl_sandbox, loc, paid["_id"])["amountRefunded"] == 2.5
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("completed", "paid", "unfulfilled")

    full = simulate(ghl_sandbox, "order.refund", orderId=oid)
    got = transaction(ghl_sandbox, loc, paid["_id"])
    assert (got["status"], got["amountRefunded"]) == ("refunded", paid["amount"])
    assert got["chargeSnapshot"]["refunded"] is True
    assert order_statuses(one(full, "order"))[:2] == ("refunded", "refunded")
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("refunded", "refunded", "unfulfilled")
    assert events(full) == [("OrderStatusUpdate", oid)]
    assert_ghl_error(ghl_sandbox.http.post("/_sandbox/simulate/order.refund", json={"orderId": oid}), 409)


def test_refund_of_one_transaction_leaves_the_others(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    first = one(simulate(ghl_sandbox, "order.pay", orderId=oid, amount=4), "transaction")
    second = one(simulate(ghl_sandbox, "order.pay", orderId=oid), "transaction")
    result = simulate(ghl_sandbox, "order.refund", orderId=oid, transactionId=first["_id"])
    assert [t["_id"] for t in resources(result, "transaction")] == [first["_id"]]
    assert transaction(ghl_sandbox, loc, first["_id"])["status"] == "refunded"
    assert transaction(ghl_sandbox, loc, second["_id"])["amountRefunded"] == 0
    assert order(ghl_sandbox, loc, oid)["paymentStatus"] == "paid"  # a partial refund keeps it paid


def test_fulfill_in_part_then_in_full(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    p1, p2 = two_prices(ghl_sandbox)
    oid = new_order(ghl_sandbox, items=[{"priceId": p1["_id"], "qty": 2}, {"priceId": p2["_id"], "qty": 1}])
    part = simulate(ghl_sandbox, "order.fulfill", orderId=oid, items=[{"priceId": p1["_id"], "qty": 1}],
                    trackings=[{"trackingNumber": "1Z1", "shippingCarrier": "UPS"}])
    assert [r["type"] for r in part["resources"]] == ["fulfillment", "order"]
    made = one(part, "fulfillment")
    assert [(i["_id"], i["qty"]) for i in made["items"]] == [(p1["_id"], 1)]
    assert made["trackings"][0]["trackingNumber"] == "1Z1"
    assert order(ghl_sandbox, loc, oid)["fulfillmentStatus"] == "partially_fulfilled"
    assert [f["_id"] for f in fulfillments(ghl_sandbox, loc, oid)] == [made["_id"]]
    assert events(part) == [("OrderStatusUpdate", oid)]

    rest = simulate(ghl_sandbox, "order.fulfill", orderId=oid)  # no items: whatever is left
    assert sorted((i["_id"], i["qty"]) for i in one(rest, "fulfillment")["items"]) == sorted(
        [(p1["_id"], 1), (p2["_id"], 1)])
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("pending", "unpaid", "fulfilled")
    assert len(fulfillments(ghl_sandbox, loc, oid)) == 2
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.fulfill", json={"orderId": oid})
    assert_ghl_error(r, 409, "Order is already fulfilled")


def test_fulfill_through_the_api_is_seen_by_the_simulator(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    p1, p2 = two_prices(ghl_sandbox)
    oid = new_order(ghl_sandbox, items=[{"priceId": p1["_id"], "qty": 2}, {"priceId": p2["_id"], "qty": 1}])
    ok(post_fulfillment(ghl_sandbox, loc, oid, [{"priceId": p1["_id"], "qty": 2}]))
    assert order(ghl_sandbox, loc, oid)["fulfillmentStatus"] == "partially_fulfilled"
    # More of p1 than was ordered: refused by the simulator and by the API alike.
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.fulfill",
                              json={"orderId": oid, "items": [{"priceId": p1["_id"], "qty": 1}]})
    assert_ghl_error(r, 409)
    assert 400 <= post_fulfillment(ghl_sandbox, loc, oid, [{"priceId": p1["_id"], "qty": 1}]).status_code < 500
    rest = simulate(ghl_sandbox, "order.fulfill", orderId=oid)
    assert [(i["_id"], i["qty"]) for i in one(rest, "fulfillment")["items"]] == [(p2["_id"], 1)]
    assert order(ghl_sandbox, loc, oid)["fulfillmentStatus"] == "fulfilled"


def test_cancel_cancels_and_refuses_what_a_cancelled_order_cannot_do(ghl_sandbox: SandboxClient,
                                                                     loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    result = simulate(ghl_sandbox, "order.cancel", orderId=oid)
    assert order_statuses(one(result, "order")) == ("cancelled", "unpaid", "unfulfilled")
    assert events(result) == [("OrderStatusUpdate", oid)]
    assert order(ghl_sandbox, loc, oid)["status"] == "cancelled"
    assert oid in [o["_id"] for o in everything(ghl_sandbox, loc, ORDERS, status="cancelled")]
    for action in ("order.cancel", "order.pay", "order.fulfill"):
        assert_ghl_error(ghl_sandbox.http.post(f"/_sandbox/simulate/{action}", json={"orderId": oid}), 409)
    assert order(ghl_sandbox, loc, oid)["status"] == "cancelled"


# ---- subscriptions --------------------------------------------------------------------------------


def new_subscription(sb: SandboxClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    result = simulate(sb, "subscription.create")
    return one(result, "subscription"), one(result, "order"), one(result, "transaction")


def test_subscription_create_pays_its_order(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    result = simulate(ghl_sandbox, "subscription.create")
    sub, o, txn = one(result, "subscription"), one(result, "order"), one(result, "transaction")
    assert [r["type"] for r in result["resources"]] == ["order", "subscription", "transaction"]
    assert events(result) == [("OrderCreate", o["_id"]), ("OrderStatusUpdate", o["_id"])]
    got = subscription(ghl_sandbox, loc, sub["_id"])
    assert got == sub
    assert got["status"] == "active" and got["entityId"] == o["_id"]
    assert got["subscriptionId"].startswith("sub_")
    assert got["recurringProduct"]["price"]["type"] == "recurring"
    assert order_statuses(order(ghl_sandbox, loc, o["_id"])) == ("completed", "paid", "unfulfilled")
    assert (txn["subscriptionId"], txn["entityId"], txn["status"]) == (got["subscriptionId"], o["_id"], "succeeded")
    assert txn["amount"] == got["amount"]
    listed = everything(ghl_sandbox, loc, TRANSACTIONS, subscriptionId=got["subscriptionId"])
    assert [t["_id"] for t in listed] == [txn["_id"]]


def test_subscription_renew_bills_again_and_moves_the_next_billing(ghl_sandbox: SandboxClient,
                                                                    loc: dict[str, Any]) -> None:
    sub, o, _ = new_subscription(ghl_sandbox)
    price = sub["recurringProduct"]["price"]["recurring"]
    period = PERIOD_DAYS[price["interval"]] * price["intervalCount"] * 86400
    before = epoch(sub["schedule"]["executeAt"])

    result = simulate(ghl_sandbox, "subscription.renew", subscriptionId=sub["_id"])
    renewal = one(result, "transaction")
    assert (renewal["entityType"], renewal["entityId"], renewal["status"]) == ("subscription", sub["_id"], "succeeded")
    assert renewal["subscriptionId"] == sub["subscriptionId"] and renewal["amount"] == sub["amount"]
    got = subscription(ghl_sandbox, loc, sub["_id"])
    assert got["status"] == "active"
    assert epoch(got["schedule"]["executeAt"]) == pytest.approx(before + period, abs=0.01)
    assert got["paymentsCollectedCount"] == sub["paymentsCollectedCount"] + 1
    assert events(result) == []  # GHL has no subscription webhook (extension events are off)
    listed = everything(ghl_sandbox, loc, TRANSACTIONS, subscriptionId=sub["subscriptionId"])
    assert sorted(t["entityType"] for t in listed) == ["order", "subscription"]
    assert transactions_of(ghl_sandbox, loc, sub["_id"])[0]["_id"] == renewal["_id"]
    assert order(ghl_sandbox, loc, o["_id"])["paymentStatus"] == "paid"


def test_subscription_fail_renewal_makes_it_past_due_until_a_renewal(ghl_sandbox: SandboxClient,
                                                                     loc: dict[str, Any]) -> None:
    sub, _, _ = new_subscription(ghl_sandbox)
    result = simulate(ghl_sandbox, "subscription.fail_renewal", subscriptionId=sub["_id"])
    failed = one(result, "transaction")
    assert (failed["status"], failed["entityType"]) == ("failed", "subscription")
    assert one(result, "subscription")["status"] == "past_due"
    assert subscription(ghl_sandbox, loc, sub["_id"])["status"] == "past_due"
    simulate(ghl_sandbox, "subscription.renew", subscriptionId=sub["_id"])
    assert subscription(ghl_sandbox, loc, sub["_id"])["status"] == "active"


def test_subscription_cancel_and_what_a_canceled_one_refuses(ghl_sandbox: SandboxClient,
                                                             loc: dict[str, Any]) -> None:
    sub, _, _ = new_subscription(ghl_sandbox)
    frozen = clock(ghl_sandbox, freeze=True)["now"]
    result = simulate(ghl_sandbox, "subscription.cancel", subscriptionId=sub["_id"])
    got = subscription(ghl_sandbox, loc, sub["_id"])
    assert got == one(result, "subscription")
    assert (got["status"], got["canceledAt"]) == ("canceled", frozen)
    assert re.match(r"^[A-Za-z0-9]{20}$", got["canceledBy"])  # a user of the location (its owner), not a word
    for action in ("subscription.renew", "subscription.fail_renewal", "subscription.cancel"):
        r = ghl_sandbox.http.post(f"/_sandbox/simulate/{action}", json={"subscriptionId": sub["_id"]})
        assert_ghl_error(r, 409)
    assert len(everything(ghl_sandbox, loc, TRANSACTIONS, subscriptionId=sub["subscriptionId"])) == 1


# ---- refusals -------------------------------------------------------------------------------------


def test_invalid_transitions_are_409(ghl_sandbox: SandboxClient) -> None:
    unpaid = new_order(ghl_sandbox)
    paid, _ = paid_order(ghl_sandbox)
    one_time = two_prices(ghl_sandbox)[0]["_id"]
    cases = [
        ("order.pay", {"orderId": paid}, "Order is already paid in full"),
        ("order.refund", {"orderId": unpaid}, "Order has no captured payment to refund"),
        ("order.pay", {"orderId": unpaid, "amount": 100_000}, None),
        ("order.refund", {"orderId": paid, "amount": 100_000}, None),
        ("order.fulfill", {"orderId": unpaid, "items": [{"priceId": one_time, "qty": 1000}]}, None),
        ("subscription.create", {"priceId": one_time}, None),
    ]
    for action, body, message in cases:
        r = ghl_sandbox.http.post(f"/_sandbox/simulate/{action}", json=body)
        assert_ghl_error(r, 409, message)
        assert r.json()["error"] == "Conflict"


@pytest.mark.parametrize(("action", "body", "status", "message"), [
    ("order.explode", {}, 404, None),
    ("order.pay", {"orderId": "0123456789abcdef01234567"}, 404, "Order 0123456789abcdef01234567 not found"),
    ("subscription.renew", {"subscriptionId": "0123456789abcdef01234567"}, 404, None),
    ("order.create", {"locationId": "NoSuchLocation000000"}, 404, None),
    ("order.create", {"contactId": "NoSuchContact0000000"}, 404, None),
    ("order.create", {"items": [{"priceId": "0123456789abcdef01234567", "qty": 1}]}, 404, None),
    ("order.pay", {}, 422, "orderId should not be empty"),
    ("subscription.cancel", {}, 422, "subscriptionId should not be empty"),
    ("order.pay", {"orderId": 5}, 422, "orderId must be a non-empty string"),
    ("order.pay", {"orderId": "x", "amount": "5"}, 422, "amount must be a number"),
    ("order.pay", {"orderId": "x", "amount": "nan"}, 422, "amount must be a number"),
    ("order.pay", {"orderId": "x", "amount": True}, 422, "amount must be a number"),
    ("order.pay", {"orderId": "x", "amount": -1}, 422, "amount must be a positive number"),
    ("order.pay", {"orderId": "x", "pending": 3}, 422, None),
    ("order.pay", {"orderId": "x", "pending": {}}, 422, None),
    ("order.pay", {"orderId": "x", "pending": {"polls": 1.5}}, 422, "pending.polls must be a positive integer"),
    ("order.pay", {"orderId": "x", "pending": {"polls": "3"}}, 422, None),
    ("order.pay", {"orderId": "x", "pending": {"seconds": -5}}, 422, "pending.seconds must be a positive number"),
    ("order.pay", {"orderId": "x", "pending": {"polls": 1, "outcome": "maybe"}}, 422, None),
    ("order.pay", {"orderId": "x", "pending": {"pols": 1}}, 422, None),
    ("order.create", {"items": []}, 422, None),
    ("order.create", {"items": "abc"}, 422, None),
    ("order.create", {"items": [{"priceId": 1}]}, 422, None),
    ("order.create", {"items": [{"priceId": "p", "qty": 0}]}, 422, None),
    ("order.create", {"liveMode": "yes"}, 422, "liveMode must be a boolean"),
    ("order.fulfill", {"orderId": "x", "notifyCustomer": "yes"}, 422, "notifyCustomer must be a boolean"),
    ("order.fulfill", {"orderId": "x", "trackings": "1Z"}, 422, None),
])
def test_bad_requests_are_ghl_shaped_4xx(ghl_sandbox: SandboxClient, action: str, body: dict[str, Any],
                                         status: int, message: str | None) -> None:
    r = ghl_sandbox.http.post(f"/_sandbox/simulate/{action}", json=body)
    assert_ghl_error(r, status, message)


def test_malformed_bodies_are_400(ghl_sandbox: SandboxClient) -> None:
    for raw in (b"{", b"[1, 2]", b'"order"', b'{"amount": NaN}'):
        r = ghl_sandbox.http.post("/_sandbox/simulate/order.create", content=raw,
                                  headers={"content-type": "application/json"})
        assert_ghl_error(r, 400)


def test_the_answer_lists_the_webhooks_queued_for_each_target(ghl_sandbox: SandboxClient) -> None:
    # Nothing listens on port 9: deliveries fail later, but the answer shows them as queued.
    target = ghl_sandbox.control("POST", "/webhooks/targets", json={"url": "http://127.0.0.1:9/hook"})
    try:
        oid = new_order(ghl_sandbox)
        result = simulate(ghl_sandbox, "order.pay", orderId=oid)
        [hook] = result["webhooks"]
        assert (hook["event"], hook["resourceId"], hook["extension"]) == ("OrderStatusUpdate", oid, False)
        [delivery] = hook["deliveries"]
        assert (delivery["targetId"], delivery["status"]) == (target["id"], "queued")
        assert delivery["webhookId"]
    finally:
        ghl_sandbox.control("DELETE", f"/webhooks/targets/{target['id']}")


# ---- pending payments -----------------------------------------------------------------------------


def test_pending_payment_settles_at_the_nth_poll_of_the_order(ghl_sandbox: SandboxClient,
                                                              loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    result = simulate(ghl_sandbox, "order.pay", orderId=oid, pending={"polls": 3})
    txn = one(result, "transaction")
    assert txn["status"] == "pending" and one(result, "order")["paymentStatus"] == "unpaid"
    assert events(result) == []
    for _ in range(2):
        assert order_statuses(order(ghl_sandbox, loc, oid)) == ("pending", "unpaid", "unfulfilled")
        assert transaction(ghl_sandbox, loc, txn["_id"])["status"] == "pending"  # not a poll of the order
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("completed", "paid", "unfulfilled")
    assert transaction(ghl_sandbox, loc, txn["_id"])["status"] == "succeeded"
    assert order(ghl_sandbox, loc, oid)["paymentStatus"] == "paid"


def test_pending_payment_with_outcome_failed_fails_instead(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    txn = one(simulate(ghl_sandbox, "order.pay", orderId=oid, pending={"polls": 2, "outcome": "failed"}),
              "transaction")
    assert order(ghl_sandbox, loc, oid)["paymentStatus"] == "unpaid"
    assert transaction(ghl_sandbox, loc, txn["_id"])["status"] == "pending"
    assert order(ghl_sandbox, loc, oid)["paymentStatus"] == "unpaid"
    got = transaction(ghl_sandbox, loc, txn["_id"])
    assert got["status"] == "failed" and got["chargeSnapshot"]["failure_code"] == "card_declined"
    # The failed attempt no longer holds the balance: the order can be paid again.
    simulate(ghl_sandbox, "order.pay", orderId=oid)
    assert order(ghl_sandbox, loc, oid)["paymentStatus"] == "paid"


def test_pending_payment_settles_when_the_clock_passes_its_time(ghl_sandbox: SandboxClient,
                                                                loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    txn = one(simulate(ghl_sandbox, "order.pay", orderId=oid, pending={"seconds": 3600}), "transaction")
    assert order(ghl_sandbox, loc, oid)["paymentStatus"] == "unpaid"
    clock(ghl_sandbox, advance=1800)
    assert transaction(ghl_sandbox, loc, txn["_id"])["status"] == "pending"
    clock(ghl_sandbox, advance=1900)
    wait_for(lambda: transaction(ghl_sandbox, loc, txn["_id"])["status"] == "succeeded")
    assert order_statuses(order(ghl_sandbox, loc, oid)) == ("completed", "paid", "unfulfilled")


def test_pending_payment_settles_on_the_clock_after_a_reset_that_undid_an_advance(
        ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    clock(ghl_sandbox, advance="10d")
    ghl_sandbox.reset()  # the clock goes back to real time; the scheduler must follow it
    oid = new_order(ghl_sandbox)
    txn = one(simulate(ghl_sandbox, "order.pay", orderId=oid, pending={"seconds": 60, "outcome": "failed"}),
              "transaction")
    clock(ghl_sandbox, advance=61)
    wait_for(lambda: transaction(ghl_sandbox, loc, txn["_id"])["status"] == "failed")
    assert order(ghl_sandbox, loc, oid)["paymentStatus"] == "unpaid"


def test_a_pending_payment_holds_the_balance(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox)
    total = order(ghl_sandbox, loc, oid)["amount"]
    simulate(ghl_sandbox, "order.pay", orderId=oid, amount=5, pending={"seconds": 60})
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.pay", json={"orderId": oid, "amount": total})
    assert_ghl_error(r, 409)  # paying the full amount now would overpay once the pending one settles
    rest = one(simulate(ghl_sandbox, "order.pay", orderId=oid), "transaction")
    assert rest["amount"] == pytest.approx(total - 5)
    assert_ghl_error(ghl_sandbox.http.post("/_sandbox/simulate/order.pay", json={"orderId": oid}), 409)
    clock(ghl_sandbox, advance=61)
    wait_for(lambda: order(ghl_sandbox, loc, oid)["paymentStatus"] == "paid")
    assert sum(t["amount"] for t in transactions_of(ghl_sandbox, loc, oid)) == pytest.approx(total)
