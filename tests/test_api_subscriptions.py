"""GET /payments/subscriptions and /payments/subscriptions/{subscriptionId}."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from api_support import (
    ISO_MS,
    OBJECT_ID,
    ORDERS,
    SHORT_ID,
    SUBSCRIPTIONS,
    TRANSACTIONS,
    assert_ghl_error,
    assert_newest_first,
    everything,
    get,
    ids,
    is_number,
    listing,
    ok,
    page_through,
)

from mock_server.testing import SandboxClient

# SubscriptionResponseSchema of the reference (§2.9).
SUB_LIST_KEYS = {
    "_id", "altId", "altType", "contactId", "contactName", "contactEmail", "currency", "amount", "status",
    "liveMode", "entityType", "entityId", "entitySourceType", "entitySourceName", "entitySourceId",
    "entitySourceMeta", "subscriptionId", "subscriptionSnapshot", "paymentProviderType",
    "paymentProviderConnectedAccount", "ipAddress", "createdAt", "updatedAt",
}  # `createdBy` is left out: customers start subscriptions at checkout, no user creates them
# The provider's own subscription status (subscriptionSnapshot.status / ARB status) for each of ours.
PROVIDER_STATUS = {
    "paypal": {"active": "ACTIVE", "trialing": "ACTIVE", "past_due": "SUSPENDED", "unpaid": "SUSPENDED",
               "canceled": "CANCELLED", "incomplete": "APPROVAL_PENDING"},
    "authorize-net": {"active": "active", "trialing": "active", "past_due": "suspended", "unpaid": "suspended",
                      "canceled": "canceled", "incomplete": "suspended"},
}
PROVIDER_SUB_ID = {"stripe": r"^sub_[A-Za-z0-9]{14}$", "paypal": r"^I-[A-Z0-9]{12}$",
                   "authorize-net": r"^[1-9][0-9]{8}$", "nmi": r"^[1-9][0-9]{9}$"}


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def all_subs(sb: SandboxClient, loc: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    return everything(sb, loc, SUBSCRIPTIONS, **params)


def assert_filter(sb: SandboxClient, loc: dict[str, Any], expected: list[dict[str, Any]], **params: Any) -> None:
    assert ids(all_subs(sb, loc, **params)) == ids(expected), params
    assert listing(sb, loc, SUBSCRIPTIONS, **params)[1] == len(expected)


def test_seeded_subscriptions_are_realistic(ghl_sandbox: SandboxClient, loc: dict) -> None:
    rows = all_subs(ghl_sandbox, loc)
    assert len(rows) == 40
    states = Counter(r["status"] for r in rows)
    assert len(states) >= 4 and states["active"] > states["canceled"] > 0
    assert {"trialing", "past_due"} <= set(states)
    for r in rows:
        provider, snap = r["paymentProviderType"], r["subscriptionSnapshot"]
        assert re.match(PROVIDER_SUB_ID[provider], r["subscriptionId"]), r["subscriptionId"]
        if provider == "stripe":
            assert snap["status"] == r["status"]
        elif provider in PROVIDER_STATUS:
            assert snap["status"] == PROVIDER_STATUS[provider][r["status"]]
        else:
            assert "status" not in snap  # NMI's recurring object has no status of its own
    assert len({r["paymentProviderType"] for r in rows}) >= 3
    intervals = {ok(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{r['_id']}"))["schedule"]["rrule"]["intervalType"]
                 for r in rows}
    assert len(intervals) >= 2


def test_each_subscription_came_from_an_order_with_its_recurring_price(ghl_sandbox: SandboxClient, loc: dict) -> None:
    orders = {o["_id"]: o for o in everything(ghl_sandbox, loc, ORDERS)}
    for sub in all_subs(ghl_sandbox, loc):
        assert sub["entityType"] == "order"
        order = orders[sub["entityId"]]
        assert order["contactId"] == sub["contactId"] and order["createdAt"] == sub["createdAt"]
        assert order["recurringProducts"] == 1
        full = ok(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{sub['_id']}"))
        order_full = ok(get(ghl_sandbox, loc, f"{ORDERS}/{order['_id']}"))
        price = full["recurringProduct"]["price"]
        assert price["_id"] in {i["price"]["_id"] for i in order_full["items"]}
        assert price["type"] == "recurring" and price["amount"] == sub["amount"]


def test_payments_collected_count_matches_successful_charges(ghl_sandbox: SandboxClient, loc: dict) -> None:
    rows = all_subs(ghl_sandbox, loc, getPaymentsCollectedCount="true")
    assert all(set(r) == SUB_LIST_KEYS | {"paymentsCollectedCount"} for r in rows)
    counts = Counter()
    for sub in rows:
        charges = everything(ghl_sandbox, loc, TRANSACTIONS, subscriptionId=sub["subscriptionId"])
        assert charges and all(c["contactId"] == sub["contactId"] for c in charges)
        succeeded = sum(1 for c in charges if c["status"] == "succeeded")
        assert sub["paymentsCollectedCount"] == succeeded, sub["_id"]
        counts[succeeded] += 1
        if sub["status"] in ("past_due", "unpaid") and len(charges) > 1:
            assert charges[0]["status"] == "failed"  # the latest renewal failed
    assert len(counts) >= 2


def test_charges_stop_at_cancellation_and_the_next_one_is_ahead(ghl_sandbox: SandboxClient, loc: dict) -> None:
    for sub in all_subs(ghl_sandbox, loc):
        full = ok(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{sub['_id']}"))
        charges = everything(ghl_sandbox, loc, TRANSACTIONS, subscriptionId=sub["subscriptionId"])
        last = max(c["createdAt"] for c in charges)
        # Only Stripe's subscription object tells the current period's start.
        period_start = full["subscriptionSnapshot"].get("current_period_start", epoch(sub["createdAt"]))
        assert period_start >= epoch(sub["createdAt"]) - 1
        if sub["status"] == "canceled":
            assert last <= full["canceledAt"], sub["_id"]
            assert period_start <= epoch(full["canceledAt"])
            assert sub["updatedAt"] == full["canceledAt"]
        else:
            assert full["schedule"]["executeAt"] > last, sub["_id"]
            assert epoch(full["schedule"]["executeAt"]) > period_start


def test_payments_collected_count_only_when_asked(ghl_sandbox: SandboxClient, loc: dict) -> None:
    for params in ({}, {"getPaymentsCollectedCount": "false"}):
        rows, _ = listing(ghl_sandbox, loc, SUBSCRIPTIONS, **params)
        assert rows and all("paymentsCollectedCount" not in r for r in rows)
    rows, _ = listing(ghl_sandbox, loc, SUBSCRIPTIONS, getPaymentsCollectedCount="true")
    assert all(isinstance(r["paymentsCollectedCount"], int) for r in rows)
    assert_ghl_error(get(ghl_sandbox, loc, SUBSCRIPTIONS, getPaymentsCollectedCount="yes"), 422,
                     "getPaymentsCollectedCount must be a boolean value")


# ---- paging ---------------------------------------------------------------------------------------


def test_default_page_is_ten_newest_first(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_subs(ghl_sandbox, loc)
    rows, total = listing(ghl_sandbox, loc, SUBSCRIPTIONS)
    assert len(rows) == 10 and total == 40
    assert ids(rows) == ids(everyone)[:10]
    assert_newest_first(everyone)


def test_paging_walks_every_subscription_once(ghl_sandbox: SandboxClient, loc: dict) -> None:
    expected = ids(all_subs(ghl_sandbox, loc))
    n = len(expected)
    for size in (1, 3, 10, n - 1, n, n + 1):
        walked = page_through(ghl_sandbox, loc, SUBSCRIPTIONS, size)
        assert walked == expected and len(set(walked)) == 40


def test_lenient_numbers(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = ids(all_subs(ghl_sandbox, loc))
    rows, _ = listing(ghl_sandbox, loc, SUBSCRIPTIONS, limit="20.0", offset="30.0")
    assert ids(rows) == everyone[30:40]


# ---- filters --------------------------------------------------------------------------------------


def test_entity_id_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_subs(ghl_sandbox, loc)
    for sub in everyone[::7]:
        assert_filter(ghl_sandbox, loc, [sub], entityId=sub["entityId"])
    assert all_subs(ghl_sandbox, loc, entityId="0" * 24) == []


@pytest.mark.parametrize(("mode", "live"), [("live", True), ("test", False)])
def test_payment_mode_filter(ghl_sandbox: SandboxClient, loc: dict, mode: str, live: bool) -> None:
    everyone = all_subs(ghl_sandbox, loc)
    expected = [r for r in everyone if r["liveMode"] is live]
    assert expected
    assert_filter(ghl_sandbox, loc, expected, paymentMode=mode)


def test_date_filters(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_subs(ghl_sandbox, loc)
    days = sorted({r["createdAt"][:10] for r in everyone})
    lo, hi = days[10], days[25]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if lo <= r["createdAt"][:10] <= hi], startAt=lo, endAt=hi)
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["createdAt"][:10] <= hi], endAt=hi)
    day = everyone[3]["createdAt"][:10]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["createdAt"][:10] == day], startAt=day, endAt=day)


def test_entity_source_type_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_subs(ghl_sandbox, loc)
    for source_type in {r["entitySourceType"] for r in everyone}:
        assert_filter(ghl_sandbox, loc, [r for r in everyone if r["entitySourceType"] == source_type],
                      entitySourceType=source_type)
    assert all_subs(ghl_sandbox, loc, entitySourceType="invoice") == []


def test_search_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_subs(ghl_sandbox, loc)
    for sub in everyone[::9]:
        last = sub["contactName"].split()[-1]
        term = last.lower()
        expected = [r for r in everyone if term in r["contactName"].lower() or term in r["contactEmail"].lower()
                    or term in r["entitySourceName"].lower()]
        assert_filter(ghl_sandbox, loc, expected, search=last.upper())
    funnel = everyone[0]["entitySourceName"]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["entitySourceName"] == funnel], search=funnel)


def test_contact_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_subs(ghl_sandbox, loc)
    for contact, _ in Counter(r["contactId"] for r in everyone).most_common(3):
        assert_filter(ghl_sandbox, loc, [r for r in everyone if r["contactId"] == contact], contactId=contact)


def test_id_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_subs(ghl_sandbox, loc)
    for sub in (everyone[0], everyone[21], everyone[-1]):
        assert_filter(ghl_sandbox, loc, [sub], id=sub["_id"])
    assert all_subs(ghl_sandbox, loc, id=everyone[0]["subscriptionId"]) == []  # the provider id is not the _id
    # id and another filter must both hold.
    sub = everyone[0]
    other_mode = "test" if sub["liveMode"] else "live"
    assert all_subs(ghl_sandbox, loc, id=sub["_id"], paymentMode=other_mode) == []


# ---- shapes ---------------------------------------------------------------------------------------


def test_list_item_shape(ghl_sandbox: SandboxClient, loc: dict) -> None:
    for row in all_subs(ghl_sandbox, loc):
        assert set(row) == SUB_LIST_KEYS
        assert OBJECT_ID.match(row["_id"]) and OBJECT_ID.match(row["entityId"])
        assert row["altId"] == loc["id"] and row["altType"] == "location" and SHORT_ID.match(row["contactId"])
        assert ISO_MS.match(row["createdAt"]) and ISO_MS.match(row["updatedAt"])
        assert row["updatedAt"] >= row["createdAt"]
        assert is_number(row["amount"]) and row["amount"] > 0
        snap = row["subscriptionSnapshot"]
        provider = row["paymentProviderType"]
        if provider == "stripe":
            assert snap["id"] == row["subscriptionId"] and snap["plan"]["amount"] == round(row["amount"] * 100)
            assert ("canceled_at" in snap) is (row["status"] == "canceled")
        elif provider == "paypal":
            assert snap["id"] == row["subscriptionId"] and snap["quantity"] == 1
            assert ("billing_info" in snap) is (row["status"] != "canceled")
        elif provider == "authorize-net":
            assert snap["id"] == row["subscriptionId"] and snap["amount"] == row["amount"]
        else:
            assert snap["subscription_id"] == row["subscriptionId"]
            assert snap["plan"]["plan_amount"] == f"{row['amount']:.2f}"
            assert ("next_charge_date" in snap) is (row["status"] != "canceled")


def test_get_by_id_nests_and_agrees_with_the_list(ghl_sandbox: SandboxClient, loc: dict) -> None:
    for row in all_subs(ghl_sandbox, loc, getPaymentsCollectedCount="true"):
        full = ok(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{row['_id']}"))
        for key in ("_id", "altId", "altType", "contactId", "currency", "amount", "status", "liveMode", "entityType",
                    "entityId", "subscriptionId", "subscriptionSnapshot", "ipAddress", "createdAt", "updatedAt",
                    "paymentsCollectedCount"):
            assert full[key] == row[key], key
        for flat in ("entitySourceType", "paymentProviderType", "contactName"):
            assert flat not in full
        assert full["entitySource"]["type"] == row["entitySourceType"]
        assert full["entitySource"]["id"] == row["entitySourceId"]
        assert full["paymentProvider"]["type"] == row["paymentProviderType"]
        assert full["paymentProvider"]["connectedAccount"]["_id"] == row["paymentProviderConnectedAccount"]
        assert full["contactSnapshot"]["_id"] == row["contactId"]
        rrule = full["schedule"]["rrule"]
        assert rrule["intervalType"] in ("daily", "weekly", "monthly", "yearly")
        assert rrule["startDate"] == row["createdAt"][:10]
        product = full["recurringProduct"]["product"]
        assert product["_id"] == full["recurringProduct"]["price"]["product"]
        if row["status"] == "canceled":
            assert ISO_MS.match(full["canceledAt"]) and SHORT_ID.match(full["canceledBy"])  # a user id
            assert full["schedule"]["executeAt"] == ""
        else:
            assert "canceledAt" not in full and "canceledBy" not in full
            assert ISO_MS.match(full["schedule"]["executeAt"])


def test_unknown_subscription_is_not_found(ghl_sandbox: SandboxClient, loc: dict) -> None:
    assert_ghl_error(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{'0' * 24}"), 400, "Subscription not found")
    provider_id = listing(ghl_sandbox, loc, SUBSCRIPTIONS)[0][0]["subscriptionId"]
    assert_ghl_error(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{provider_id}"), 400, "Subscription not found")


def test_trailing_slash_answers_the_same(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sub_id = listing(ghl_sandbox, loc, SUBSCRIPTIONS)[0][0]["_id"]
    assert ok(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{sub_id}/")) == ok(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{sub_id}"))
    assert ok(get(ghl_sandbox, loc, SUBSCRIPTIONS + "/")) == ok(get(ghl_sandbox, loc, SUBSCRIPTIONS))
