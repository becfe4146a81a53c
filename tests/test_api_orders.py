"""GET /payments/orders and /payments/orders/{orderId}: filters, paging, shapes, seeded data and the
consistency of an order's derived statuses with its transactions and fulfillments."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from api_support import (
    ISO_MS,
    OBJECT_ID,
    ORDERS,
    SHORT_ID,
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

# OrderResponseSchema of the reference (§2.3), plus `paymentStatus` (the filter's value, shown on items);
# `couponCode` and `createdBy` only when the order has them (omitted, not "").
ORDER_LIST_KEYS = {
    "_id", "altId", "altType", "contactId", "contactName", "contactEmail", "currency", "amount", "subtotal",
    "discount", "status", "liveMode", "totalProducts", "sourceType", "sourceName", "sourceId", "sourceMeta",
    "createdAt", "updatedAt", "sourceSubType", "fulfillmentStatus", "onetimeProducts",
    "recurringProducts", "paymentStatus",
}
ORDER_OPTIONAL_KEYS = {"couponCode", "createdBy"}
SOURCE_META_KEYS = {"domain", "pageId", "pageUrl", "stepId"}
SOURCE_TYPES = {"funnel", "website", "invoice", "calendar", "text2Pay", "document_contracts", "membership",
                "mobile_app", "communities", "point_of_sale", "manual", "form", "survey", "payment_link", "external"}
SOURCE_SUB_TYPES = {"one_step_order_form", "two_step_order_form", "upsell", "tap_to_pay", "card_payment", "store",
                    "contact_view", "email_campaign", "payments_dashboard", "shopify", "subscription_view",
                    "store_upsell", "woocommerce", "service", "meeting", "imported_csv", "qr_code", "saas_one_time",
                    "saas_subscription"}


def all_orders(sb: SandboxClient, loc: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    return everything(sb, loc, ORDERS, **params)


def detail(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> dict[str, Any]:
    return ok(get(sb, loc, f"{ORDERS}/{order_id}"))


def assert_filter(sb: SandboxClient, loc: dict[str, Any], expected: list[dict[str, Any]], **params: Any) -> None:
    """The filtered list equals the expected rows (same ids, same order) and totalCount agrees."""
    got = all_orders(sb, loc, **params)
    assert ids(got) == ids(expected), params
    _, total = listing(sb, loc, ORDERS, **params)
    assert total == len(expected)


# ---- seeded data ----------------------------------------------------------------------------------


def test_seeded_orders_are_realistic(ghl_sandbox: SandboxClient, loc: dict) -> None:
    rows = all_orders(ghl_sandbox, loc)
    assert len(rows) >= 250
    assert len(set(ids(rows))) == len(rows)
    assert set(Counter(r["paymentStatus"] for r in rows)) == {"paid", "unpaid", "refunded", "partially_paid"}
    assert {"completed", "pending", "refunded"} <= {r["status"] for r in rows}
    assert {r["fulfillmentStatus"] for r in rows} == {"unfulfilled", "partially_fulfilled", "fulfilled"}
    modes = Counter(r["liveMode"] for r in rows)
    assert modes[True] > modes[False] > 0
    assert len({r["sourceType"] for r in rows}) >= 8
    assert len({r["contactId"] for r in rows}) >= 50
    assert sum(1 for r in rows if r.get("couponCode")) > 0
    assert all(r["amount"] > 0 and r["currency"] == "USD" for r in rows)
    assert sum(1 for r in rows if r["recurringProducts"]) >= 30  # orders that started a subscription
    # Spread over months, not all created at once.
    assert len({r["createdAt"][:7] for r in rows}) >= 5


def test_payment_and_order_status_follow_the_order_transactions(ghl_sandbox: SandboxClient, loc: dict) -> None:
    orders = all_orders(ghl_sandbox, loc)
    for order in orders:
        txns = everything(ghl_sandbox, loc, TRANSACTIONS, entityId=order["_id"])
        assert all(t["entityId"] == order["_id"] and t["entityType"] == "order" for t in txns)
        captured = sum(t["amount"] for t in txns if t["status"] in ("succeeded", "refunded"))
        refunded = sum(t["amountRefunded"] for t in txns if t["status"] in ("succeeded", "refunded"))
        if captured < 0.005:
            expected = "unpaid"
        elif refunded >= captured - 0.005:
            expected = "refunded"
        elif captured >= order["amount"] - 0.005:
            expected = "paid"
        else:
            expected = "partially_paid"
        assert order["paymentStatus"] == expected, (order["_id"], txns)
        if order["status"] == "cancelled":
            assert expected == "unpaid" and not txns
        else:
            assert order["status"] == {"paid": "completed", "refunded": "refunded"}.get(expected, "pending")
        if txns:
            # The order is updated no earlier than its last payment.
            assert order["updatedAt"] >= max(t["createdAt"] for t in txns)


def test_fulfillment_status_follows_the_order_fulfillments(ghl_sandbox: SandboxClient, loc: dict) -> None:
    seen = Counter()
    for order in all_orders(ghl_sandbox, loc):
        full = detail(ghl_sandbox, loc, order["_id"])
        wanted: Counter[str] = Counter()
        for item in full["items"]:
            wanted[item["price"]["_id"]] += item["qty"]
        body = ok(get(ghl_sandbox, loc, f"{ORDERS}/{order['_id']}/fulfillments"))
        done: Counter[str] = Counter()
        for f in body["data"]:
            for item in f["items"]:
                done[item["_id"]] += item["qty"]
        assert set(done) <= set(wanted)
        assert all(done[p] <= wanted[p] for p in done)
        if not done:
            expected = "unfulfilled"
        elif all(done[p] >= q for p, q in wanted.items()):
            expected = "fulfilled"
        else:
            expected = "partially_fulfilled"
        assert order["fulfillmentStatus"] == full["fulfillmentStatus"] == expected, order["_id"]
        if body["data"]:
            # Only paid orders were shipped.
            assert order["paymentStatus"] == "paid"
        seen[expected] += 1
    assert seen["fulfilled"] > 0 and seen["partially_fulfilled"] > 0


# ---- paging ---------------------------------------------------------------------------------------


def test_default_page_is_ten_newest_first(ghl_sandbox: SandboxClient, loc: dict) -> None:
    rows, total = listing(ghl_sandbox, loc, ORDERS)
    everyone = all_orders(ghl_sandbox, loc)
    assert len(rows) == 10
    assert total == len(everyone)
    assert ids(rows) == ids(everyone)[:10]
    assert_newest_first(everyone)
    # offset defaults to 0
    assert ids(listing(ghl_sandbox, loc, ORDERS, offset=0)[0]) == ids(rows)


def test_paging_walks_every_order_once(ghl_sandbox: SandboxClient, loc: dict) -> None:
    expected = ids(all_orders(ghl_sandbox, loc))
    n = len(expected)
    for size in (1, 7, 25, 100, n - 1, n, n + 1, 1000):
        walked = page_through(ghl_sandbox, loc, ORDERS, size)
        assert walked == expected
        assert len(set(walked)) == len(walked)


def test_paging_a_filtered_list(ghl_sandbox: SandboxClient, loc: dict) -> None:
    expected = ids(all_orders(ghl_sandbox, loc, paymentStatus="paid", paymentMode="live"))
    assert page_through(ghl_sandbox, loc, ORDERS, 9, paymentStatus="paid", paymentMode="live") == expected


def test_lenient_numbers(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = ids(all_orders(ghl_sandbox, loc))
    rows, total = listing(ghl_sandbox, loc, ORDERS, limit="20.0", offset="10.0")
    assert ids(rows) == everyone[10:30]
    assert total == len(everyone)
    rows, _ = listing(ghl_sandbox, loc, ORDERS, limit=5.0)
    assert ids(rows) == everyone[:5]


def test_offset_past_the_end_is_an_empty_page(ghl_sandbox: SandboxClient, loc: dict) -> None:
    rows, total = listing(ghl_sandbox, loc, ORDERS, offset=10_000)
    assert rows == [] and total >= 250


# ---- filters --------------------------------------------------------------------------------------


def test_status_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    statuses = {r["status"] for r in everyone}
    assert len(statuses) >= 3
    for status in statuses:
        assert_filter(ghl_sandbox, loc, [r for r in everyone if r["status"] == status], status=status)
    assert all_orders(ghl_sandbox, loc, status="no-such-status") == []


@pytest.mark.parametrize("payment_status", ["paid", "unpaid", "refunded", "partially_paid"])
def test_payment_status_filter(ghl_sandbox: SandboxClient, loc: dict, payment_status: str) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    expected = [r for r in everyone if r["paymentStatus"] == payment_status]
    assert expected
    assert_filter(ghl_sandbox, loc, expected, paymentStatus=payment_status)


def test_payment_status_must_be_one_of_the_enum(ghl_sandbox: SandboxClient, loc: dict) -> None:
    r = get(ghl_sandbox, loc, ORDERS, paymentStatus="settled")
    assert_ghl_error(r, 422, "paymentStatus must be one of the following values: paid, unpaid, refunded, partially_paid")


@pytest.mark.parametrize(("mode", "live"), [("live", True), ("test", False)])
def test_payment_mode_filter(ghl_sandbox: SandboxClient, loc: dict, mode: str, live: bool) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    expected = [r for r in everyone if r["liveMode"] is live]
    assert expected
    assert_filter(ghl_sandbox, loc, expected, paymentMode=mode)


def test_unknown_payment_mode_matches_nothing(ghl_sandbox: SandboxClient, loc: dict) -> None:
    assert all_orders(ghl_sandbox, loc, paymentMode="sandbox") == []


def test_date_range_includes_the_whole_end_day(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    days = sorted({r["createdAt"][:10] for r in everyone})
    busiest = Counter(r["createdAt"][:10] for r in everyone).most_common(1)[0][0]
    # A single day: startAt = endAt = that day gives every order of the day, late ones included.
    one_day = [r for r in everyone if r["createdAt"][:10] == busiest]
    assert len(one_day) >= 2
    assert_filter(ghl_sandbox, loc, one_day, startAt=busiest, endAt=busiest)
    assert_filter(ghl_sandbox, loc, one_day, startAt=busiest.replace("-", ""), endAt=busiest.replace("-", ""))
    # A range, and each bound alone.
    lo, hi = days[len(days) // 4], days[len(days) // 2]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if lo <= r["createdAt"][:10] <= hi], startAt=lo, endAt=hi)
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["createdAt"][:10] >= hi], startAt=hi)
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["createdAt"][:10] <= lo], endAt=lo)


def test_date_filters_accept_full_timestamps(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    pivot = everyone[len(everyone) // 2]["createdAt"]
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["createdAt"] <= pivot], endAt=pivot)
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["createdAt"] >= pivot], startAt=pivot)


def test_bad_dates_are_refused(ghl_sandbox: SandboxClient, loc: dict) -> None:
    assert_ghl_error(get(ghl_sandbox, loc, ORDERS, startAt="2024-02-30"), 422,
                     "startAt must be a valid ISO 8601 date string")
    assert_ghl_error(get(ghl_sandbox, loc, ORDERS, endAt="yesterday"), 422, "endAt must be a valid ISO 8601 date string")


def test_search_matches_contact_name_email_and_id(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    # A contact's last name: every order of anyone with that name or email, case-insensitively.
    last = Counter(r["contactName"].split()[-1] for r in everyone).most_common(1)[0][0]
    term = last.lower()
    expected = [r for r in everyone if term in r["contactName"].lower() or term in r["contactEmail"].lower()]
    got = all_orders(ghl_sandbox, loc, search=last.upper())
    assert set(ids(expected)) <= set(ids(got))
    for extra in set(ids(got)) - set(ids(expected)):  # only through a product name
        assert any(term in i["name"].lower() for i in detail(ghl_sandbox, loc, extra)["items"])
    # An order id finds that order; an unknown word finds nothing.
    target = everyone[17]
    assert ids(all_orders(ghl_sandbox, loc, search=target["_id"])) == [target["_id"]]
    assert all_orders(ghl_sandbox, loc, search="zzqqxx-nobody") == []


def test_search_finds_orders_by_product_name(ghl_sandbox: SandboxClient, loc: dict) -> None:
    got = all_orders(ghl_sandbox, loc, search="foam roller")
    assert got
    for row in got:
        names = [i["name"].lower() for i in detail(ghl_sandbox, loc, row["_id"])["items"]]
        assert any("foam roller" in n for n in names) or "foam roller" in row["contactName"].lower()


def test_contact_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    contact, count = Counter(r["contactId"] for r in everyone).most_common(1)[0]
    assert count >= 2
    assert_filter(ghl_sandbox, loc, [r for r in everyone if r["contactId"] == contact], contactId=contact)
    assert all_orders(ghl_sandbox, loc, contactId="AAAAAAAAAAAAAAAAAAAA") == []


def test_funnel_product_ids_match_any_of_the_listed_products(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    products: dict[str, set[str]] = {}
    for row in everyone:
        products[row["_id"]] = {i["product"]["_id"] for i in detail(ghl_sandbox, loc, row["_id"])["items"]}
    popular = [p for p, _ in Counter(p for ps in products.values() for p in ps).most_common(3)]
    p1, p2, p3 = popular
    for wanted in ([p1], [p2], [p1, p2], [p1, p2, p3]):
        expected = [r for r in everyone if products[r["_id"]] & set(wanted)]
        assert_filter(ghl_sandbox, loc, expected, funnelProductIds=",".join(wanted))
    # Spaces around the commas and an unknown id are harmless; unknown alone matches nothing.
    expected = [r for r in everyone if products[r["_id"]] & {p1, p2}]
    assert_filter(ghl_sandbox, loc, expected, funnelProductIds=f" {p1} , {p2}, {'f' * 24}")
    assert all_orders(ghl_sandbox, loc, funnelProductIds="f" * 24) == []


def test_funnel_product_ids_page_like_any_list(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    some = {i["product"]["_id"] for r in everyone[:6] for i in detail(ghl_sandbox, loc, r["_id"])["items"]}
    joined = ",".join(sorted(some))
    expected = ids(all_orders(ghl_sandbox, loc, funnelProductIds=joined))
    assert len(expected) > 20
    assert page_through(ghl_sandbox, loc, ORDERS, 8, funnelProductIds=joined) == expected
    assert_newest_first(all_orders(ghl_sandbox, loc, funnelProductIds=joined))


def test_source_id_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    for row in (everyone[0], everyone[99], everyone[-1]):
        expected = [r for r in everyone if r["sourceId"] == row["sourceId"]]
        assert len(expected) > 1  # a funnel's id is shared by its orders
        assert_filter(ghl_sandbox, loc, expected, sourceId=row["sourceId"])
    assert all_orders(ghl_sandbox, loc, sourceId="0" * 24) == []


def test_location_id_filter(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    assert_filter(ghl_sandbox, loc, everyone, locationId=loc["id"])
    other = second_location(ghl_sandbox)
    assert_ghl_error(get(ghl_sandbox, loc, ORDERS, locationId=other["id"]), 403,
                     "The token does not have access to this location.")


def test_alt_type_is_accepted_but_not_required(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    assert ids(all_orders(ghl_sandbox, loc, altType="location")) == ids(everyone)
    assert_ghl_error(get(ghl_sandbox, loc, ORDERS, altType="company"), 422,
                     "altType must be one of the following values: location")


def test_filters_combine(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    day = everyone[len(everyone) // 2]["createdAt"][:10]
    expected = [r for r in everyone if r["paymentStatus"] == "paid" and r["liveMode"] and r["createdAt"][:10] >= day
                and r["status"] == "completed"]
    assert expected
    assert_filter(ghl_sandbox, loc, expected, paymentStatus="paid", paymentMode="live", startAt=day, status="completed")


# ---- shapes ---------------------------------------------------------------------------------------


def test_list_item_shape(ghl_sandbox: SandboxClient, loc: dict) -> None:
    for row in all_orders(ghl_sandbox, loc):
        assert ORDER_LIST_KEYS <= set(row) <= ORDER_LIST_KEYS | ORDER_OPTIONAL_KEYS
        assert all(row[k] for k in ORDER_OPTIONAL_KEYS & set(row))
        assert OBJECT_ID.match(row["_id"])
        assert row["altId"] == loc["id"] and SHORT_ID.match(row["altId"]) and row["altType"] == "location"
        assert SHORT_ID.match(row["contactId"])
        assert ISO_MS.match(row["createdAt"]) and ISO_MS.match(row["updatedAt"])
        assert row["updatedAt"] >= row["createdAt"]
        for key in ("amount", "subtotal", "discount", "totalProducts", "onetimeProducts", "recurringProducts"):
            assert is_number(row[key]), key
        assert row["amount"] == round(row["amount"], 2)  # major units, cents at most
        assert row["totalProducts"] == row["onetimeProducts"] + row["recurringProducts"] >= 1
        assert isinstance(row["liveMode"], bool)
        assert row["sourceType"] in SOURCE_TYPES and row["sourceSubType"] in SOURCE_SUB_TYPES
        assert SHORT_ID.match(row["sourceId"])  # the funnel or store: 20 characters, like a location id
        assert set(row["sourceMeta"]) == (SOURCE_META_KEYS if row["sourceType"] in ("funnel", "website") else set())
        assert row["contactName"].strip() and "@" in row["contactEmail"]


def test_get_by_id_nests_and_agrees_with_the_list(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = all_orders(ghl_sandbox, loc)
    for row in everyone[::13]:
        full = detail(ghl_sandbox, loc, row["_id"])
        for key in ("_id", "altId", "altType", "contactId", "currency", "amount", "status", "paymentStatus",
                    "liveMode", "createdAt", "updatedAt", "fulfillmentStatus"):
            assert full[key] == row[key], key
        assert full.get("createdBy", "absent") == row.get("createdBy", "absent")
        for flat in ("sourceType", "sourceName", "contactName", "contactEmail", "subtotal", "totalProducts"):
            assert flat not in full
        assert full["source"] == {"type": row["sourceType"], "subType": row["sourceSubType"], "id": row["sourceId"],
                                  "name": row["sourceName"], "meta": row["sourceMeta"]}
        snap = full["contactSnapshot"]
        assert snap["_id"] == row["contactId"] and snap["location_id"] == loc["id"]
        assert f"{snap['first_name']} {snap['last_name']}" == row["contactName"] and snap["email"] == row["contactEmail"]
        assert snap["full_name_lower_case"] == row["contactName"].lower()
        summary = full["amountSummary"]
        assert set(summary) == {"subtotal", "discount", "tax", "shipping"} and all(map(is_number, summary.values()))
        assert summary["subtotal"] == row["subtotal"] and summary["discount"] == row["discount"]
        assert round(summary["subtotal"] - summary["discount"] + summary["tax"] + summary["shipping"], 2) == row["amount"]
        assert len(full["items"]) == row["totalProducts"]
        assert round(sum(i["qty"] * i["price"]["amount"] for i in full["items"]), 2) == summary["subtotal"]
        recurring = sum(1 for i in full["items"] if i["price"]["type"] == "recurring")
        assert recurring == row["recurringProducts"]
        for item in full["items"]:
            assert OBJECT_ID.match(item["_id"]) and item["locationId"] == loc["id"] and item["qty"] >= 1
            price, product = item["price"], item["product"]
            assert {"_id", "name", "type", "currency", "amount"} <= set(price)
            assert {"_id", "locationId", "name", "productType", "createdAt", "updatedAt"} <= set(product)
            assert price["product"] == product["_id"] and OBJECT_ID.match(price["_id"])
            assert price["type"] in ("one_time", "recurring") and is_number(price["amount"])
            assert ISO_MS.match(price["createdAt"]) and ISO_MS.match(product["updatedAt"])
            if price["type"] == "recurring":
                assert price["recurring"]["interval"] in ("day", "week", "month", "year")
        assert full["markAsTest"] is (not row["liveMode"])
        if "couponCode" in row:
            assert full["coupon"]["code"] == row["couponCode"]
        else:
            assert "coupon" not in full


@pytest.mark.parametrize("suffix", ["", "/{id}"])
def test_trailing_slash_answers_the_same(ghl_sandbox: SandboxClient, loc: dict, suffix: str) -> None:
    order_id = listing(ghl_sandbox, loc, ORDERS)[0][0]["_id"]
    path = ORDERS + suffix.format(id=order_id)
    plain = get(ghl_sandbox, loc, path, altType="location")
    slashed = get(ghl_sandbox, loc, path + "/", altType="location")
    assert plain.status_code == slashed.status_code == 200
    assert not slashed.is_redirect and "location" not in slashed.headers
    assert plain.json() == slashed.json()


def test_other_location_sees_only_its_own_orders(ghl_sandbox: SandboxClient, loc: dict) -> None:
    other = second_location(ghl_sandbox)
    mine = set(ids(all_orders(ghl_sandbox, loc)))
    theirs = all_orders(ghl_sandbox, other)
    assert 0 < len(theirs) < len(mine)
    assert all(r["altId"] == other["id"] for r in theirs)
    assert not mine & set(ids(theirs))
