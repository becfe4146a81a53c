"""Issue 13 §3, the values the real API shows: funnel/store source ids shared by their orders,
connected accounts that agree between list and by-id, provider-shaped records (PayPal, Authorize.net,
NMI), fields omitted rather than sent as "", user ids for `canceledBy`/`createdBy`, and trackings
answered with only the fields given. Real HTTP against the `ghl_sandbox` server."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import jsonschema_rs
from api_support import (
    ORDERS,
    SHORT_ID,
    SUBSCRIPTIONS,
    TRANSACTIONS,
    UUID,
    assert_ghl_error,
    everything,
    get,
    listing,
    ok,
)
from receiver import Receiver
from sim_support import new_order, one, simulate

from mock_server.testing import SandboxClient

PAYPAL_SUB = re.compile(r"^I-[A-Z0-9]{12}$")
PAYPAL_PLAN = re.compile(r"^P-[A-Z0-9]{24}$")
DIGITS = re.compile(r"^[1-9][0-9]+$")
PAYPAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PAGED = ("funnel", "website")
OMITTED_WHEN_EMPTY = ("subscriptionId", "couponCode", "createdBy", "canceledBy", "canceledAt",
                      "paymentProviderConnectedAccount")


def by_id(sb: SandboxClient, loc: dict[str, Any], path: str, record_id: str) -> dict[str, Any]:
    return ok(get(sb, loc, f"{path}/{record_id}"))


def assert_no_empty_ids(row: dict[str, Any]) -> None:
    for key in OMITTED_WHEN_EMPTY:
        assert row.get(key, "absent") not in ("", None), (key, row["_id"])


# ---- sourceId / entitySourceId: the funnel or store ------------------------------------------------


def test_orders_of_one_funnel_share_its_20_character_source_id(ghl_sandbox: SandboxClient,
                                                              loc: dict[str, Any]) -> None:
    orders = everything(ghl_sandbox, loc, ORDERS)
    per_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in orders:
        assert SHORT_ID.match(row["sourceId"]), row["sourceId"]
        per_source[row["sourceId"]].append(row)
    # A handful of funnels and stores, each with many orders (not one id per order).
    assert 5 <= len(per_source) <= 20 and len(per_source) < len(orders) // 5
    funnels = {sid: rows for sid, rows in per_source.items() if rows[0]["sourceType"] == "funnel"}
    assert len(funnels) >= 2
    for rows in per_source.values():
        kinds = {(r["sourceType"], r["sourceName"]) for r in rows}
        assert len(kinds) == 1, kinds  # one funnel: one type, one name
        for r in rows:
            if r["sourceType"] in PAGED:
                meta = r["sourceMeta"]
                assert set(meta) == {"domain", "pageId", "pageUrl", "stepId"}, meta
                assert SHORT_ID.match(meta["pageId"]) and UUID.match(meta["stepId"])
                assert meta["pageUrl"].endswith(meta["pageId"]) and meta["domain"].endswith(".example.com")
            else:
                assert r["sourceMeta"] == {}
        # A step (page) of a funnel has one kind (subType) and always the same page.
        steps: dict[str, set[str]] = defaultdict(set)
        for r in rows:
            steps[r["sourceSubType"]].add(r["sourceMeta"].get("pageId", ""))
        assert all(len(pages) == 1 for pages in steps.values()), steps
        if rows[0]["sourceType"] in PAGED:
            assert len({next(iter(p)) for p in steps.values()}) == len(steps)  # each step its own page


def test_filtering_by_source_id_returns_the_funnels_orders_with_an_exact_total(ghl_sandbox: SandboxClient,
                                                                               loc: dict[str, Any]) -> None:
    orders = everything(ghl_sandbox, loc, ORDERS)
    counts = Counter(r["sourceId"] for r in orders)
    source_id, count = counts.most_common(1)[0]
    assert count >= 10
    rows = everything(ghl_sandbox, loc, ORDERS, sourceId=source_id)
    assert [r["_id"] for r in rows] == [r["_id"] for r in orders if r["sourceId"] == source_id]
    page, total = listing(ghl_sandbox, loc, ORDERS, sourceId=source_id, limit=3, offset=2)
    assert total == count and len(page) == 3 and {r["sourceId"] for r in page} == {source_id}
    # Every other funnel too: the filter's total is that funnel's order count.
    for other, n in counts.items():
        assert listing(ghl_sandbox, loc, ORDERS, sourceId=other, limit=1)[1] == n
    full = by_id(ghl_sandbox, loc, ORDERS, rows[0]["_id"])
    assert full["source"]["id"] == source_id and full["source"]["name"] == rows[0]["sourceName"]


def test_transactions_and_subscriptions_carry_their_orders_source(ghl_sandbox: SandboxClient,
                                                                  loc: dict[str, Any]) -> None:
    orders = {r["_id"]: r for r in everything(ghl_sandbox, loc, ORDERS)}
    subs = everything(ghl_sandbox, loc, SUBSCRIPTIONS)
    sub_orders = {s["_id"]: s["entityId"] for s in subs}
    for t in everything(ghl_sandbox, loc, TRANSACTIONS):
        order_id = t["entityId"] if t["entityType"] == "order" else sub_orders[t["entityId"]]
        assert t["entitySourceId"] == orders[order_id]["sourceId"]
        assert t["entitySourceMeta"] == orders[order_id]["sourceMeta"]
    for s in subs:
        assert s["entitySourceId"] == orders[s["entityId"]]["sourceId"] and SHORT_ID.match(s["entitySourceId"])
    full = by_id(ghl_sandbox, loc, SUBSCRIPTIONS, subs[0]["_id"])
    assert full["entitySource"]["id"] == subs[0]["entitySourceId"]


def test_simulated_orders_land_in_the_locations_funnels(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    before = Counter(r["sourceId"] for r in everything(ghl_sandbox, loc, ORDERS))
    # By default: the location's first funnel with a one-step order form, a seeded one.
    first = by_id(ghl_sandbox, loc, ORDERS, new_order(ghl_sandbox, locationId=loc["id"]))
    assert first["source"]["type"] == "funnel" and first["source"]["id"] in before
    # Named: that funnel's upsell step; the filter then counts one more order.
    funnel = next(r for r in everything(ghl_sandbox, loc, ORDERS) if r["sourceType"] == "funnel")
    fid = funnel["sourceId"]
    placed = one(simulate(ghl_sandbox, "order.create", locationId=loc["id"], sourceId=fid, sourceSubType="upsell"),
                 "order")
    assert placed["source"]["id"] == fid and placed["source"]["subType"] == "upsell"
    assert SHORT_ID.match(placed["source"]["meta"]["pageId"])
    expected = before[fid] + (2 if first["source"]["id"] == fid else 1)
    assert listing(ghl_sandbox, loc, ORDERS, sourceId=fid, limit=1)[1] == expected
    # A page kind the funnel lacks is added to it (the same funnel id, a page of its own).
    extra = one(simulate(ghl_sandbox, "order.create", locationId=loc["id"], sourceId=fid,
                         sourceSubType="card_payment"), "order")
    assert extra["source"]["id"] == fid and extra["source"]["subType"] == "card_payment"
    assert extra["source"]["meta"]["pageId"] != placed["source"]["meta"]["pageId"]
    assert extra["source"]["meta"]["domain"] == placed["source"]["meta"]["domain"]
    # A kind the seed has no source of gets one of its own, kept for the next order of that kind.
    a = by_id(ghl_sandbox, loc, ORDERS, new_order(ghl_sandbox, locationId=loc["id"], sourceType="survey",
                                                 sourceSubType="email_campaign"))
    b = by_id(ghl_sandbox, loc, ORDERS, new_order(ghl_sandbox, locationId=loc["id"], sourceType="survey",
                                                 sourceSubType="email_campaign"))
    assert a["source"]["id"] == b["source"]["id"] and SHORT_ID.match(a["source"]["id"])
    assert a["source"]["id"] not in before and a["source"]["meta"] == {}
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.create", json={"locationId": loc["id"], "sourceId": "x" * 20})
    assert r.status_code == 404, r.text
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.create",
                              json={"locationId": loc["id"], "sourceId": fid, "sourceType": "invoice"})
    assert r.status_code == 409, r.text


# ---- connected accounts and provider shapes ---------------------------------------------------------


def test_list_connected_account_is_the_by_id_connected_account_id(ghl_sandbox: SandboxClient,
                                                                  loc: dict[str, Any]) -> None:
    page, _ = listing(ghl_sandbox, loc, TRANSACTIONS, limit=40)
    for row in page:
        full = by_id(ghl_sandbox, loc, TRANSACTIONS, row["_id"])
        assert row["paymentProviderConnectedAccount"] == full["paymentProvider"]["connectedAccount"]["_id"]
        assert row["paymentProviderType"] == full["paymentProvider"]["type"]
    page, _ = listing(ghl_sandbox, loc, SUBSCRIPTIONS, limit=20)
    for row in page:
        full = by_id(ghl_sandbox, loc, SUBSCRIPTIONS, row["_id"])
        assert row["paymentProviderConnectedAccount"] == full["paymentProvider"]["connectedAccount"]["_id"]
    # One merchant account per provider and location.
    accounts: dict[str, set[str]] = defaultdict(set)
    for row in everything(ghl_sandbox, loc, TRANSACTIONS):
        accounts[row["paymentProviderType"]].add(row["paymentProviderConnectedAccount"])
    assert set(accounts) >= {"stripe", "paypal", "authorize-net", "nmi"}
    assert all(len(a) == 1 for a in accounts.values()), accounts
    assert len({next(iter(a)) for a in accounts.values()}) == len(accounts)


def test_paypal_transactions_have_paypals_account_and_no_card(ghl_sandbox: SandboxClient,
                                                             loc: dict[str, Any]) -> None:
    rows = everything(ghl_sandbox, loc, TRANSACTIONS)
    paypal = [r for r in rows if r["paymentProviderType"] == "paypal"]
    assert paypal
    for row in paypal:
        assert "card" not in row["paymentMethod"] and set(row["paymentMethod"]) == {"paypal"}
        assert row["paymentMethod"]["paypal"]["email"] == row["contactEmail"]
        snap = row["chargeSnapshot"]
        assert snap["id"] == row["chargeId"] and re.match(r"^[A-Z0-9]{17}$", row["chargeId"])
        assert snap["status"] in ("COMPLETED", "DECLINED", "PENDING", "REFUNDED", "PARTIALLY_REFUNDED")
        assert snap["amount"] == {"currency_code": row["currency"], "value": f"{row['amount']:.2f}"}
    full = by_id(ghl_sandbox, loc, TRANSACTIONS, paypal[0]["_id"])
    account = full["paymentProvider"]["connectedAccount"]
    assert set(account) == {"_id", "merchantClientId"} and len(account["merchantClientId"]) == 80
    assert "card" not in full["paymentMethod"]
    for row in rows:
        if row["paymentProviderType"] in ("stripe", "authorize-net", "nmi"):
            assert set(row["paymentMethod"]) == {"card"}
        if row["paymentProviderType"] == "stripe":
            assert row["chargeId"].startswith("ch_") and row["chargeSnapshot"]["object"] == "charge"
        elif row["paymentProviderType"] == "authorize-net":
            assert DIGITS.match(row["chargeId"]) and row["chargeSnapshot"]["transId"] == row["chargeId"]
            assert row["chargeSnapshot"]["payment"]["creditCard"]["cardNumber"].endswith(
                row["paymentMethod"]["card"]["last4"])
        elif row["paymentProviderType"] == "nmi":
            assert DIGITS.match(row["chargeId"]) and row["chargeSnapshot"]["transactionid"] == row["chargeId"]


def test_subscriptions_are_shaped_by_their_provider(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    subs = everything(ghl_sandbox, loc, SUBSCRIPTIONS)
    by_provider: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in subs:
        by_provider[s["paymentProviderType"]].append(s)
    assert by_provider["paypal"] and by_provider["stripe"]
    assert by_provider["authorize-net"] or by_provider["nmi"]
    for s in by_provider["paypal"]:
        snap = s["subscriptionSnapshot"]
        assert PAYPAL_SUB.match(s["subscriptionId"]) and snap["id"] == s["subscriptionId"]
        assert {"status", "id", "plan_id", "start_time", "quantity", "status_update_time"} <= set(snap)
        assert "object" not in snap and PAYPAL_PLAN.match(snap["plan_id"]) and snap["quantity"] == 1
        assert PAYPAL_TIME.match(snap["start_time"]) and PAYPAL_TIME.match(snap["status_update_time"])
        assert snap["status"] == {"active": "ACTIVE", "trialing": "ACTIVE", "canceled": "CANCELLED",
                                  "past_due": "SUSPENDED", "unpaid": "SUSPENDED",
                                  "incomplete": "APPROVAL_PENDING"}[s["status"]]
        full = by_id(ghl_sandbox, loc, SUBSCRIPTIONS, s["_id"])
        assert set(full["paymentProvider"]["connectedAccount"]) == {"_id", "merchantClientId"}
    for s in by_provider["authorize-net"]:
        snap = s["subscriptionSnapshot"]
        assert DIGITS.match(s["subscriptionId"]) and snap["id"] == s["subscriptionId"]
        assert snap["status"] in ("active", "suspended", "canceled") and "object" not in snap
        schedule = snap["paymentSchedule"]
        assert schedule["interval"]["unit"] in ("days", "months") and schedule["interval"]["length"] >= 1
        assert re.match(r"^\d{4}-\d\d-\d\d$", schedule["startDate"]) and schedule["totalOccurrences"] >= 1
    for s in by_provider["nmi"]:
        snap = s["subscriptionSnapshot"]
        assert DIGITS.match(s["subscriptionId"]) and snap["subscription_id"] == s["subscriptionId"]
        assert "object" not in snap and DIGITS.match(snap["plan"]["plan_id"])
    for s in by_provider["stripe"]:
        assert s["subscriptionId"].startswith("sub_") and s["subscriptionSnapshot"]["object"] == "subscription"
    # A renewal goes through its subscription's provider, under its subscription id.
    provider_of = {s["subscriptionId"]: s["paymentProviderType"] for s in subs}
    renewals = [t for t in everything(ghl_sandbox, loc, TRANSACTIONS) if "subscriptionId" in t]
    assert renewals
    for t in renewals:
        assert t["paymentProviderType"] == provider_of[t["subscriptionId"]], t["_id"]


# ---- omitted fields, user ids ---------------------------------------------------------------------


def test_fields_without_a_value_are_omitted_not_empty(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    orders = everything(ghl_sandbox, loc, ORDERS)
    txns = everything(ghl_sandbox, loc, TRANSACTIONS)
    subs = everything(ghl_sandbox, loc, SUBSCRIPTIONS)
    for row in [*orders, *txns, *subs]:
        assert_no_empty_ids(row)
    with_coupon = [o for o in orders if "couponCode" in o]
    assert with_coupon and len(with_coupon) < len(orders)
    plain = next(o for o in orders if "couponCode" not in o)
    full = by_id(ghl_sandbox, loc, ORDERS, plain["_id"])
    assert "coupon" not in full and "couponCode" not in full
    one_off = next(t for t in txns if "subscriptionId" not in t)
    full_txn = by_id(ghl_sandbox, loc, TRANSACTIONS, one_off["_id"])
    assert "subscriptionId" not in full_txn and "createdBy" not in full_txn
    assert any("subscriptionId" in t for t in txns)
    # Orders customers placed have no createdBy; staff-made ones (manual, invoice ...) name the user.
    customer = next(o for o in orders if o["sourceType"] == "funnel")
    assert "createdBy" not in customer and "createdBy" not in by_id(ghl_sandbox, loc, ORDERS, customer["_id"])
    staff = [o for o in orders if o["sourceType"] in ("manual", "invoice", "text2Pay", "point_of_sale")]
    assert staff and all(SHORT_ID.match(o["createdBy"]) for o in staff)
    for s in subs:
        full_sub = by_id(ghl_sandbox, loc, SUBSCRIPTIONS, s["_id"])
        assert_no_empty_ids(full_sub)
        assert "createdBy" not in full_sub
        if s["status"] != "canceled":
            assert "canceledAt" not in full_sub and "canceledBy" not in full_sub


def test_canceled_by_is_a_user_id(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    subs = everything(ghl_sandbox, loc, SUBSCRIPTIONS)
    users: set[str] = set()
    for s in (s for s in subs if s["status"] == "canceled"):
        full = by_id(ghl_sandbox, loc, SUBSCRIPTIONS, s["_id"])
        assert SHORT_ID.match(full["canceledBy"]) and full["canceledBy"] not in ("customer", "sandbox")
        users.add(full["canceledBy"])
    assert users and len(users) <= 2  # the location's users
    active = next(s for s in subs if s["status"] == "active")
    cancelled = one(simulate(ghl_sandbox, "subscription.cancel", locationId=loc["id"], subscriptionId=active["_id"]),
                    "subscription")
    assert SHORT_ID.match(cancelled["canceledBy"]) and cancelled["canceledBy"] in users | {cancelled["canceledBy"]}
    again = by_id(ghl_sandbox, loc, SUBSCRIPTIONS, active["_id"])
    assert again["canceledBy"] == cancelled["canceledBy"] and again["canceledAt"]


def test_a_recorded_payment_names_the_user_who_recorded_it(ghl_sandbox: SandboxClient,
                                                          loc: dict[str, Any]) -> None:
    order_id = new_order(ghl_sandbox, locationId=loc["id"])
    r = ghl_sandbox.api("POST", f"{ORDERS}/{order_id}/record-payment", loc["token"],
                        json={"altId": loc["id"], "altType": "location", "mode": "cash"})
    assert ok(r) == {"success": True}
    (txn,) = everything(ghl_sandbox, loc, TRANSACTIONS, entityId=order_id)
    assert SHORT_ID.match(txn["createdBy"]) and "subscriptionId" not in txn
    assert "paymentProviderConnectedAccount" not in txn
    full = by_id(ghl_sandbox, loc, TRANSACTIONS, txn["_id"])
    assert full["createdBy"] == txn["createdBy"] and full["paymentProvider"] == {"type": "manual"}


# ---- trackings ------------------------------------------------------------------------------------


def test_trackings_are_answered_with_only_the_fields_given(ghl_sandbox: SandboxClient,
                                                          loc: dict[str, Any]) -> None:
    order_id = new_order(ghl_sandbox, locationId=loc["id"], qty=3)
    full = by_id(ghl_sandbox, loc, ORDERS, order_id)
    price_id = full["items"][0]["price"]["_id"]
    body = {"altId": loc["id"], "altType": "location", "notifyCustomer": False,
            "trackings": [{}, {"trackingNumber": "1Z999"}], "items": [{"priceId": price_id, "qty": 1}]}
    created = ok(ghl_sandbox.api("POST", f"{ORDERS}/{order_id}/fulfillments", loc["token"], json=body))["data"]
    assert created["trackings"] == [{}, {"trackingNumber": "1Z999"}]
    listed = ok(get(ghl_sandbox, loc, f"{ORDERS}/{order_id}/fulfillments"))["data"]
    assert listed[0]["trackings"] == [{}, {"trackingNumber": "1Z999"}]
    # The simulator's order.fulfill keeps them as given too.
    result = simulate(ghl_sandbox, "order.fulfill", locationId=loc["id"], orderId=order_id,
                      items=[{"priceId": price_id, "qty": 1}], trackings=[{}, {"shippingCarrier": "UPS"}])
    assert one(result, "fulfillment")["trackings"] == [{}, {"shippingCarrier": "UPS"}]
    assert_ghl_error(ghl_sandbox.api("POST", f"{ORDERS}/{order_id}/fulfillments", loc["token"],
                                     json={**body, "trackings": [{"trackingNumber": 5}]}), 422)


def test_order_webhooks_carry_the_funnel_and_match_the_schema(ghl_sandbox: SandboxClient,
                                                              loc: dict[str, Any]) -> None:
    """OrderCreate of a funnel order and of an invoice order (no pages: `source.meta` is `{}`), both
    valid against contracts/webhooks/OrderCreate.schema.json, `source.id` the list's `sourceId`."""
    schema = json.loads((Path(__file__).resolve().parent.parent / "contracts" / "webhooks" /
                         "OrderCreate.schema.json").read_text())
    validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    orders = everything(ghl_sandbox, loc, ORDERS)
    picked = [next(o for o in orders if o["sourceType"] == kind) for kind in ("funnel", "invoice")]
    with Receiver() as rx:
        for o in picked:
            r = ghl_sandbox.http.post("/_sandbox/webhooks/forge", json={"url": rx.url, "orderId": o["_id"],
                                                                         "kind": "valid", "event": "OrderCreate"})
            assert r.status_code == 200, r.text
        bodies = rx.bodies()
    assert [b["_id"] for b in bodies] == [o["_id"] for o in picked]
    for body, o in zip(bodies, picked, strict=True):
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, errors
        assert body["source"]["id"] == o["sourceId"] and body["source"]["meta"] == o["sourceMeta"]
    assert bodies[1]["source"]["meta"] == {} and set(bodies[0]["source"]["meta"]) == {"domain", "pageId", "pageUrl",
                                                                                     "stepId"}
