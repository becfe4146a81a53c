"""GET /payments/transactions and /payments/transactions/{transactionId}."""

from __future__ import annotations

from collections import Counter
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
    second_location,
)

from mock_server.testing import SandboxClient

# TxnResponseSchema of the reference (§2.7); `mergedFromContactId` is optional and not sent.
TXN_LIST_KEYS = {
    "_id", "altId", "altType", "contactId", "contactName", "contactEmail", "currency", "amount", "status",
    "liveMode", "entityType", "entityId", "entitySourceType", "entitySourceSubType", "entitySourceName",
    "entitySourceId", "entitySourceMeta", "chargeId", "chargeSnapshot", "paymentProviderType",
    "paymentProviderConnectedAccount", "ipAddress", "createdAt", "updatedAt", "amountRefunded", "paymentMethod",
    "fulfilledAt",
}
# Only when there is one (omitted, not ""): the provider subscription of a subscription payment, the
# user who made the transaction (a recorded manual payment; none is seeded).
TXN_OPTIONAL_KEYS = {"subscriptionId", "createdBy"}


def declined(row: dict[str, Any]) -> bool:
    """The provider's own record of the charge says it was declined."""
    snap = row["chargeSnapshot"]
    return {"stripe": lambda: bool(snap["failure_code"]), "paypal": lambda: snap["status"] == "DECLINED",
            "authorize-net": lambda: snap["responseCode"] == "2",
            "nmi": lambda: snap["response"] == "2"}[row["paymentProviderType"]]()


def charged_minor(row: dict[str, Any]) -> int:
    """The amount in the provider's charge object, in cents."""
    snap = row["chargeSnapshot"]
    provider = row["paymentProviderType"]
    if provider == "stripe":
        return int(snap["amount"])
    value = {"paypal": lambda: snap["amount"]["value"], "authorize-net": lambda: snap["settleAmount"],
             "nmi": lambda: snap["amount"]}[provider]()
    return round(float(value) * 100)


def all_txns(sb: SandboxClient, loc: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    return everything(sb, loc, TRANSACTIONS, **params)


def assert_filter(sb: SandboxClient, loc: dict[str, Any], expected: list[dict[str, Any]], **params: Any) -> None:
    assert ids(all_txns(sb, loc, **params)) == ids(expected), params
    assert listing(sb, loc, TRANSACTIONS, **params)[1] == len(expected)


def test_seeded_transactions_are_realistic(ghl_sandbox: SandboxClient, loc: dict) -> None:
    rows = all_txns(ghl_sandbox, loc)
    assert 270 <= len(rows) <= 360
    statuses = Counter(r["status"] for r in rows)
    assert statuses["succeeded"] > 200
    assert statuses["failed"] >= 10 and statuses["refunded"] >= 5 and statuses["pending"] >= 1
    # Full refunds are `refunded`; partial refunds stay `succeeded` with an amountRefunded.
    assert all(r["amountRefunded"] == r["amount"] for r in rows if r["status"] == "refunded")
    assert any(0 < r["amountRefunded"] < r["amount"] for r in rows if r["status"] == "succeeded")
    assert all(r["amountRefunded"] == 0 for r in rows if r["status"] in ("failed", "pending"))
    assert all(declined(r) for r in rows if r["status"] == "failed")
    assert not any(declined(r) for r in rows if r["status"] != "failed")
    assert {r["entityType"] for r in rows} == {"order", "subscription"}
    assert len({r["paymentProviderType"] for r in rows}) >= 3
    assert sum(1 for r in rows if "subscriptionId" in r) >= 40


def test_every_transaction_belongs_to_an_order_or_subscription(ghl_sandbox: SandboxClient, loc: dict) -> None:
    orders = {r["_id"]: r for r in everything(ghl_sandbox, loc, ORDERS)}
    subs = {r["_id"]: r for r in everything(ghl_sandbox, loc, SUBSCRIPTIONS)}
    by_provider_id = {s["subscriptionId"]: s for s in subs.values()}
    for t in all_txns(ghl_sandbox, loc):
        if t["entityType"] == "order":
            parent = orders[t["entityId"]]
            assert parent["contactId"] == t["contactId"] and parent["liveMode"] == t["liveMode"]
            assert t["entitySourceType"] == parent["sourceType"] and t["entitySourceId"] == parent["sourceId"]
            assert t["createdAt"] >= parent["createdAt"]
        else:
            sub = subs[t["entityId"]]
            assert t["subscriptionId"] == sub["subscriptionId"] and t["amount"] == sub["amount"]
        if "subscriptionId" in t:
            assert by_provider_id[t["subscriptionId"]]["contactId"] == t["contactId"]


# ---- paging ---------------------------------------------------------------------------------------


def test_default_page_is_ten_newest_first(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    rows, total = listing(ghl_sandbox, loc, TRANSACTIONS)
    assert len(rows) == 10 and total == len(everyone)
    assert ids(rows) == ids(everyone)[:10]
    assert_newest_first(everyone)


def test_paging_walks_every_transaction_once(ghl_sandbox: SandboxClient, loc: dict) -> None:
    expected = ids(all_txns(ghl_sandbox, loc))
    n = len(expected)
    for size in (3, 10, 50, n - 1, n, n + 1):
        walked = page_through(ghl_sandbox, loc, TRANSACTIONS, size)
        assert walked == expected and len(set(walked)) == len(walked)


def test_lenient_numbers(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = ids(all_txns(ghl_sandbox, loc))
    rows, _ = listing(ghl_sandbox, loc, TRANSACTIONS, limit="20.0", offset="3")
    assert ids(rows) == everyone[3:23]


# ---- filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "live"), [("live", True), ("test", False)])
def test_payment_mode_filter(ghl_sandbox: SandboxClient, loc: dict, mode: str, live: bool) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    expected = [r for r in everyone if r["liveMode"] is live]
    assert expected
    assert_filter(ghl_sandbox, loc, expected, paymentMode=mode)


def test_date_filters(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    days = sorted({r["createdAt"][:10] for r in everyone})
    lo, hi = days[len(days) // 3], days[2 * len(days) // 3]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if lo <= r["createdAt"][:10] <= hi], startAt=lo, endAt=hi)
    busiest = Counter(r["createdAt"][:10] for r in everyone).most_common(1)[0][0]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["createdAt"][:10] == busiest],
                  startAt=busiest, endAt=busiest)
    pivot = everyone[40]["createdAt"]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["createdAt"] >= pivot], startAt=pivot)


def test_entity_source_type_and_sub_type_filters(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    types = Counter(r["entitySourceType"] for r in everyone)
    assert len(types) >= 5
    for source_type in types:
        assert_filter(ghl_sandbox, loc, [r for r in everyone if r["entitySourceType"] == source_type],
                      entitySourceType=source_type)
    for sub_type in {r["entitySourceSubType"] for r in everyone}:
        assert_filter(ghl_sandbox, loc, [r for r in everyone if r["entitySourceSubType"] == sub_type],
                      entitySourceSubType=sub_type)
    expected = [r for r in everyone if r["entitySourceType"] == "funnel"
                and r["entitySourceSubType"] == "two_step_order_form"]
    assert expected
    assert_filter(ghl_sandbox, loc, expected, entitySourceType="funnel", entitySourceSubType="two_step_order_form")
    assert all_txns(ghl_sandbox, loc, entitySourceType="website", entitySourceSubType="upsell") == []


def test_search_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    last = Counter(r["contactName"].split()[-1] for r in everyone).most_common(1)[0][0]
    term = last.lower()
    expected = [r for r in everyone if term in r["contactName"].lower() or term in r["contactEmail"].lower()
                or term in r["entitySourceName"].lower()]
    assert expected
    assert_filter(ghl_sandbox, loc, expected, search=last)
    # The contact's email finds the same contact's transactions.
    email = expected[0]["contactEmail"]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["contactEmail"] == email], search=email.upper())
    assert ids(all_txns(ghl_sandbox, loc, search=everyone[5]["_id"])) == [everyone[5]["_id"]]


def test_subscription_id_filter_takes_the_provider_id(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    provider_ids = Counter(r["subscriptionId"] for r in everyone if "subscriptionId" in r)
    assert len(provider_ids) == 40
    # In each provider's format: Stripe sub_…, PayPal I-…, Authorize.net and NMI numbers.
    assert all(p.startswith(("sub_", "I-")) or p.isdigit() for p in provider_ids)
    for provider_id, _ in provider_ids.most_common(5):
        expected = [r for r in everyone if r.get("subscriptionId") == provider_id]
        assert_filter(ghl_sandbox, loc, expected, subscriptionId=provider_id)
    # The GHL subscription _id is not the provider id.
    sub_id = everything(ghl_sandbox, loc, SUBSCRIPTIONS)[0]["_id"]
    assert all_txns(ghl_sandbox, loc, subscriptionId=sub_id) == []


def test_entity_id_filter_gives_an_order_its_transactions(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    by_entity = Counter(r["entityId"] for r in everyone)
    several = [e for e, n in by_entity.items() if n >= 2][:5]
    assert several
    for entity in several + [everyone[0]["entityId"]]:
        assert_filter(ghl_sandbox, loc, [r for r in everyone if r["entityId"] == entity], entityId=entity)
    # An order with no payment has none.
    unpaid = [o for o in everything(ghl_sandbox, loc, ORDERS, paymentStatus="unpaid") if o["_id"] not in by_entity]
    assert unpaid
    assert all_txns(ghl_sandbox, loc, entityId=unpaid[0]["_id"]) == []


def test_contact_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    for contact, _ in Counter(r["contactId"] for r in everyone).most_common(3):
        assert_filter(ghl_sandbox, loc, [r for r in everyone if r["contactId"] == contact], contactId=contact)


def test_location_id_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    assert_filter(ghl_sandbox, loc, everyone, locationId=loc["id"])
    other = second_location(ghl_sandbox)
    assert_ghl_error(get(ghl_sandbox, loc, TRANSACTIONS, locationId=other["id"]), 403)


def test_filters_combine(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_txns(ghl_sandbox, loc)
    contact = Counter(r["contactId"] for r in everyone).most_common(1)[0][0]
    expected = [r for r in everyone if r["contactId"] == contact and r["liveMode"]]
    assert expected
    assert_filter(ghl_sandbox, loc, expected, contactId=contact, paymentMode="live")


# ---- shapes ---------------------------------------------------------------------------------------


def test_list_item_shape(ghl_sandbox: SandboxClient, loc: dict) -> None:
    for row in all_txns(ghl_sandbox, loc):
        assert TXN_LIST_KEYS <= set(row) <= TXN_LIST_KEYS | TXN_OPTIONAL_KEYS
        assert all(row[k] for k in TXN_OPTIONAL_KEYS & set(row))
        assert OBJECT_ID.match(row["_id"]) and OBJECT_ID.match(row["entityId"])
        assert row["altId"] == loc["id"] and row["altType"] == "location" and SHORT_ID.match(row["contactId"])
        for key in ("createdAt", "updatedAt", "fulfilledAt"):
            assert ISO_MS.match(row[key]), key
        assert is_number(row["amount"]) and row["amount"] > 0 and is_number(row["amountRefunded"])
        assert row["status"] in ("succeeded", "failed", "pending", "refunded")
        assert charged_minor(row) == round(row["amount"] * 100)
        assert set(row["entitySourceMeta"]) == ({"domain", "pageId", "pageUrl", "stepId"}
                                                if row["entitySourceType"] in ("funnel", "website") else set())
        if row["paymentProviderType"] == "paypal":
            assert set(row["paymentMethod"]["paypal"]) == {"email", "payerId"}  # PayPal: no card
        else:
            assert set(row["paymentMethod"]["card"]) == {"brand", "last4"}
        assert OBJECT_ID.match(row["paymentProviderConnectedAccount"])


def test_get_by_id_nests_and_agrees_with_the_list(ghl_sandbox: SandboxClient, loc: dict) -> None:
    for row in all_txns(ghl_sandbox, loc)[::17]:
        full = ok(get(ghl_sandbox, loc, f"{TRANSACTIONS}/{row['_id']}"))
        for key in ("_id", "altId", "altType", "contactId", "currency", "amount", "status", "liveMode", "createdAt",
                    "updatedAt", "entityType", "entityId", "chargeId", "chargeSnapshot",
                    "ipAddress", "amountRefunded", "paymentMethod", "fulfilledAt"):
            assert full[key] == row[key], key
        for key in TXN_OPTIONAL_KEYS:
            assert full.get(key, "absent") == row.get(key, "absent"), key
        for flat in ("entitySourceType", "entitySourceName", "paymentProviderType", "contactName"):
            assert flat not in full
        assert full["entitySource"] == {"type": row["entitySourceType"], "subType": row["entitySourceSubType"],
                                        "id": row["entitySourceId"], "name": row["entitySourceName"],
                                        "meta": row["entitySourceMeta"]}
        assert full["paymentProvider"]["type"] == row["paymentProviderType"]
        account = full["paymentProvider"]["connectedAccount"]
        assert account["_id"] == row["paymentProviderConnectedAccount"]
        assert set(account) == {"_id", {"stripe": "accountId", "paypal": "merchantClientId", "nmi": "merchantId",
                                        "authorize-net": "apiLoginId"}[row["paymentProviderType"]]}
        assert full["contactSnapshot"]["_id"] == row["contactId"]
        assert full["markAsTest"] is (not row["liveMode"])
        assert OBJECT_ID.match(full["receiptId"]) and full["isParent"] is False


def test_get_by_id_also_answers_with_a_trailing_slash(ghl_sandbox: SandboxClient, loc: dict) -> None:
    txn_id = listing(ghl_sandbox, loc, TRANSACTIONS)[0][0]["_id"]
    plain = ok(get(ghl_sandbox, loc, f"{TRANSACTIONS}/{txn_id}"))
    assert ok(get(ghl_sandbox, loc, f"{TRANSACTIONS}/{txn_id}/")) == plain
    assert ok(get(ghl_sandbox, loc, TRANSACTIONS + "/")) == ok(get(ghl_sandbox, loc, TRANSACTIONS))


def test_unknown_transaction_is_not_found(ghl_sandbox: SandboxClient, loc: dict) -> None:
    assert_ghl_error(get(ghl_sandbox, loc, f"{TRANSACTIONS}/{'0' * 24}"), 400, "Transaction not found")
    order_id = listing(ghl_sandbox, loc, ORDERS)[0][0]["_id"]  # an id of another kind
    assert_ghl_error(get(ghl_sandbox, loc, f"{TRANSACTIONS}/{order_id}"), 400, "Transaction not found")
