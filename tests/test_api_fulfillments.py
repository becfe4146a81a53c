"""GET/POST /payments/orders/{orderId}/fulfillments: listing, creating, and the order's
fulfillmentStatus following what was fulfilled."""

from __future__ import annotations

from typing import Any

from api_support import (
    ISO_MS,
    OBJECT_ID,
    ORDERS,
    assert_ghl_error,
    everything,
    get,
    ok,
    second_location,
)

from mock_server.testing import SandboxClient

FULFILLMENT_KEYS = {"altId", "altType", "trackings", "_id", "items", "notifyCustomer", "createdAt", "updatedAt"}
TRACKING = {"trackingNumber": "1Z999AA10123456784", "shippingCarrier": "UPS",
            "trackingUrl": "https://track.example.com/ups/1Z999AA10123456784"}


def fulfillments(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> list[dict[str, Any]]:
    body = ok(get(sb, loc, f"{ORDERS}/{order_id}/fulfillments"))
    assert set(body) == {"status", "data"} and body["status"] is True
    return body["data"]


def order(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> dict[str, Any]:
    return ok(get(sb, loc, f"{ORDERS}/{order_id}"))


def post(sb: SandboxClient, loc: dict[str, Any], order_id: str, items: list[dict[str, Any]], *,
         token: str | None = None, path_suffix: str = "", **overrides: Any) -> Any:
    body = {"altId": loc["id"], "altType": "location", "trackings": [TRACKING], "items": items,
            "notifyCustomer": False, **overrides}
    return sb.api("POST", f"{ORDERS}/{order_id}/fulfillments{path_suffix}", token or loc["token"], json=body)


def unfulfilled_order(sb: SandboxClient, loc: dict[str, Any], min_units: int = 2) -> dict[str, Any]:
    """A paid, unfulfilled order with at least `min_units` units across its lines."""
    for row in everything(sb, loc, ORDERS, paymentStatus="paid"):
        if row["fulfillmentStatus"] != "unfulfilled":
            continue
        full = order(sb, loc, row["_id"])
        if sum(i["qty"] for i in full["items"]) >= min_units:
            return full
    raise AssertionError("no suitable order in the seeded data")


def assert_fulfillment_shape(f: dict[str, Any], loc: dict[str, Any], full_order: dict[str, Any]) -> None:
    assert set(f) == FULFILLMENT_KEYS
    assert OBJECT_ID.match(f["_id"]) and f["altId"] == loc["id"] and f["altType"] == "location"
    assert ISO_MS.match(f["createdAt"]) and ISO_MS.match(f["updatedAt"])
    lines = {i["price"]["_id"]: i for i in full_order["items"]}
    for item in f["items"]:
        assert set(item) == {"_id", "name", "product", "price", "qty"}
        line = lines[item["_id"]]  # `_id` is the price id
        assert item["name"] == line["name"]
        assert item["price"] == line["price"] and item["product"] == line["product"]
        assert {"_id", "name", "type", "currency", "amount"} <= set(item["price"])
        assert {"_id", "locationId", "name", "productType", "createdAt", "updatedAt"} <= set(item["product"])
        assert 0 < item["qty"] <= line["qty"]
    for t in f["trackings"]:
        assert set(t) == {"trackingNumber", "shippingCarrier", "trackingUrl"}


def test_seeded_fulfillments_list_with_full_products_and_prices(ghl_sandbox: SandboxClient, loc: dict) -> None:
    shipped = [r for r in everything(ghl_sandbox, loc, ORDERS) if r["fulfillmentStatus"] != "unfulfilled"]
    assert len(shipped) >= 20
    for row in shipped[:15]:
        data = fulfillments(ghl_sandbox, loc, row["_id"])
        assert data
        full = order(ghl_sandbox, loc, row["_id"])
        for f in data:
            assert_fulfillment_shape(f, loc, full)
            assert f["createdAt"] >= row["createdAt"]
            assert f["trackings"] and f["trackings"][0]["trackingUrl"].startswith("https://")


def test_unfulfilled_order_has_no_fulfillments(ghl_sandbox: SandboxClient, loc: dict) -> None:
    row = everything(ghl_sandbox, loc, ORDERS, paymentStatus="unpaid")[0]
    assert row["fulfillmentStatus"] == "unfulfilled"
    assert fulfillments(ghl_sandbox, loc, row["_id"]) == []


def test_partial_then_full_fulfilment_moves_the_order_status(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc)
    order_id = full["_id"]
    lines = full["items"]
    first = lines[0]
    # 1. One unit of the first line: partially fulfilled.
    r = post(ghl_sandbox, loc, order_id, [{"priceId": first["price"]["_id"], "qty": 1}], notifyCustomer=True)
    body = ok(r)
    assert body["status"] is True
    created = body["data"]
    assert_fulfillment_shape(created, loc, full)
    assert created["notifyCustomer"] is True and created["trackings"] == [TRACKING]
    assert created["items"][0]["qty"] == 1
    after = order(ghl_sandbox, loc, order_id)
    assert after["fulfillmentStatus"] == "partially_fulfilled"
    assert after["updatedAt"] > full["updatedAt"]
    assert after["paymentStatus"] == full["paymentStatus"] and after["status"] == full["status"]
    listed = fulfillments(ghl_sandbox, loc, order_id)
    assert listed == [created]
    row = [o for o in everything(ghl_sandbox, loc, ORDERS) if o["_id"] == order_id][0]
    assert row["fulfillmentStatus"] == "partially_fulfilled"
    # 2. Everything left: fulfilled.
    rest = [{"priceId": i["price"]["_id"], "qty": i["qty"] - (1 if i is first else 0)} for i in lines]
    rest = [i for i in rest if i["qty"] > 0]
    second = ok(post(ghl_sandbox, loc, order_id, rest, trackings=[]))["data"]
    assert second["trackings"] == [] and second["_id"] != created["_id"]
    assert order(ghl_sandbox, loc, order_id)["fulfillmentStatus"] == "fulfilled"
    assert [f["_id"] for f in fulfillments(ghl_sandbox, loc, order_id)] == [created["_id"], second["_id"]]
    # 3. Nothing is left to fulfil.
    r = post(ghl_sandbox, loc, order_id, [{"priceId": first["price"]["_id"], "qty": 1}])
    assert_ghl_error(r, 400)
    assert "left to fulfill" in r.json()["message"]


def test_fulfilment_filter_on_the_order_list_follows(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    items = [{"priceId": i["price"]["_id"], "qty": i["qty"]} for i in full["items"]]
    ok(post(ghl_sandbox, loc, full["_id"], items))
    row = [o for o in everything(ghl_sandbox, loc, ORDERS, contactId=full["contactId"]) if o["_id"] == full["_id"]]
    assert row[0]["fulfillmentStatus"] == "fulfilled"


def test_over_fulfilment_is_refused_and_changes_nothing(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    line = full["items"][0]
    r = post(ghl_sandbox, loc, full["_id"], [{"priceId": line["price"]["_id"], "qty": line["qty"] + 1}])
    body = assert_ghl_error(r, 400)
    assert body["error"] == "Bad Request" and line["price"]["_id"] in body["message"]
    # The same price twice in one request counts twice.
    r = post(ghl_sandbox, loc, full["_id"], [{"priceId": line["price"]["_id"], "qty": line["qty"]},
                                             {"priceId": line["price"]["_id"], "qty": 1}])
    assert_ghl_error(r, 400)
    assert fulfillments(ghl_sandbox, loc, full["_id"]) == []
    assert order(ghl_sandbox, loc, full["_id"]) == full


def test_unknown_price_is_refused(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    other_line = everything(ghl_sandbox, loc, ORDERS)
    foreign = None
    for row in other_line:
        for item in order(ghl_sandbox, loc, row["_id"])["items"]:
            if item["price"]["_id"] not in {i["price"]["_id"] for i in full["items"]}:
                foreign = item["price"]["_id"]
                break
        if foreign:
            break
    for price_id in ("f" * 24, foreign):
        r = post(ghl_sandbox, loc, full["_id"], [{"priceId": price_id, "qty": 1}])
        body = assert_ghl_error(r, 400)
        assert price_id in body["message"]
    assert fulfillments(ghl_sandbox, loc, full["_id"]) == []


def test_cancelled_order_cannot_be_fulfilled(ghl_sandbox: SandboxClient, loc: dict) -> None:
    cancelled = everything(ghl_sandbox, loc, ORDERS, status="cancelled")
    assert cancelled
    full = order(ghl_sandbox, loc, cancelled[0]["_id"])
    r = post(ghl_sandbox, loc, full["_id"], [{"priceId": full["items"][0]["price"]["_id"], "qty": 1}])
    assert_ghl_error(r, 400, "Cannot fulfill a cancelled order")


INVALID = [
    ([], {}, "items should not be empty"),
    (None, {}, "items must be an array"),
    ([{"priceId": "{price}", "qty": 0}], {}, "items.0.qty must be a positive number"),
    ([{"priceId": "{price}", "qty": -2}], {}, "items.0.qty must be a positive number"),
    ([{"priceId": "{price}", "qty": "1"}], {}, "items.0.qty must be a number conforming to the specified constraints"),
    ([{"priceId": "{price}", "qty": True}], {}, "items.0.qty must be a number conforming to the specified constraints"),
    ([{"priceId": "{price}", "qty": 0.5}], {}, "items.0.qty must be an integer number"),
    ([{"priceId": "", "qty": 1}], {}, "items.0.priceId should not be empty"),
    ([{"priceId": 12, "qty": 1}], {}, "items.0.priceId must be a string"),
    (["{price}"], {}, "items.0 must be an object"),
    ([{"priceId": "{price}", "qty": 1}], {"altType": "agency"}, "altType must be one of the following values: location"),
    ([{"priceId": "{price}", "qty": 1}], {"altId": None}, "altId should not be empty"),
    ([{"priceId": "{price}", "qty": 1}], {"notifyCustomer": "maybe"}, "notifyCustomer must be a boolean value"),
    ([{"priceId": "{price}", "qty": 1}], {"notifyCustomer": None}, "notifyCustomer should not be empty"),
    ([{"priceId": "{price}", "qty": 1}], {"trackings": None}, "trackings must be an array"),
    ([{"priceId": "{price}", "qty": 1}], {"trackings": [{"trackingNumber": 5}]},
     "trackings.0.trackingNumber must be a string"),
    ([{"priceId": "{price}", "qty": 1}], {"trackings": ["UPS"]}, "trackings.0 must be an object"),
]


def test_invalid_bodies_are_422(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    price = full["items"][0]["price"]["_id"]
    for items, overrides, message in INVALID:
        if isinstance(items, list):
            items = [({k: (price if v == "{price}" else v) for k, v in i.items()} if isinstance(i, dict)
                      else price) for i in items]
        assert_ghl_error(post(ghl_sandbox, loc, full["_id"], items, **overrides), 422, message)
    assert fulfillments(ghl_sandbox, loc, full["_id"]) == []
    assert order(ghl_sandbox, loc, full["_id"]) == full


def test_unknown_order(ghl_sandbox: SandboxClient, loc: dict) -> None:
    missing = "0" * 24
    assert_ghl_error(get(ghl_sandbox, loc, f"{ORDERS}/{missing}/fulfillments"), 400, "Order not found")
    assert_ghl_error(post(ghl_sandbox, loc, missing, [{"priceId": "a" * 24, "qty": 1}]), 400, "Order not found")


def test_list_needs_alt_id_and_alt_type(ghl_sandbox: SandboxClient, loc: dict) -> None:
    order_id = everything(ghl_sandbox, loc, ORDERS)[0]["_id"]
    r = ghl_sandbox.api("GET", f"{ORDERS}/{order_id}/fulfillments", loc["token"], params={"altId": loc["id"]})
    assert_ghl_error(r, 422, "altType should not be empty")
    r = ghl_sandbox.api("GET", f"{ORDERS}/{order_id}/fulfillments", loc["token"], params={"altType": "location"})
    assert_ghl_error(r, 422, "altId should not be empty")


def test_trailing_slash_post_and_get(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    line = full["items"][0]
    created = ok(post(ghl_sandbox, loc, full["_id"], [{"priceId": line["price"]["_id"], "qty": 1}], path_suffix="/"))
    plain = ok(get(ghl_sandbox, loc, f"{ORDERS}/{full['_id']}/fulfillments"))
    assert ok(get(ghl_sandbox, loc, f"{ORDERS}/{full['_id']}/fulfillments/")) == plain
    assert plain["data"] == [created["data"]]


def test_other_location_cannot_read_or_fulfil(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    other = second_location(ghl_sandbox)
    item = [{"priceId": full["items"][0]["price"]["_id"], "qty": 1}]
    # Its own altId: the order does not exist there.
    assert_ghl_error(get(ghl_sandbox, other, f"{ORDERS}/{full['_id']}/fulfillments"), 400, "Order not found")
    assert_ghl_error(post(ghl_sandbox, other, full["_id"], item), 400, "Order not found")
    # Our altId with its token: forbidden.
    r = ghl_sandbox.api("GET", f"{ORDERS}/{full['_id']}/fulfillments", other["token"],
                        params={"altId": loc["id"], "altType": "location"})
    assert_ghl_error(r, 403, "The token does not have access to this location.")
    assert_ghl_error(post(ghl_sandbox, loc, full["_id"], item, token=other["token"]), 403)
    assert fulfillments(ghl_sandbox, loc, full["_id"]) == []


def test_post_needs_the_write_scope(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    read_only = ghl_sandbox.token(loc["id"], scopes=["payments/orders.readonly"])["token"]
    item = [{"priceId": full["items"][0]["price"]["_id"], "qty": 1}]
    assert_ghl_error(post(ghl_sandbox, loc, full["_id"], item, token=read_only), 401,
                     "The token is not authorized for this scope.")
    # ... while reading works with it.
    r = ghl_sandbox.api("GET", f"{ORDERS}/{full['_id']}/fulfillments", read_only,
                        params={"altId": loc["id"], "altType": "location"})
    assert ok(r)["data"] == []
    write_only = ghl_sandbox.token(loc["id"], scopes=["payments/orders.write"])["token"]
    assert ok(post(ghl_sandbox, loc, full["_id"], item, token=write_only))["status"] is True


def test_pit_token_may_fulfil(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    pit = loc["view"]["tokens"][1]
    assert pit["tokenType"] == "pit"
    item = [{"priceId": full["items"][0]["price"]["_id"], "qty": 1}]
    assert ok(post(ghl_sandbox, loc, full["_id"], item, token=pit["token"]))["status"] is True


def test_garbage_bodies_are_400_or_422(ghl_sandbox: SandboxClient, loc: dict) -> None:
    full = unfulfilled_order(ghl_sandbox, loc, min_units=1)
    path = f"{ORDERS}/{full['_id']}/fulfillments"
    for raw in (b"{", b"[]", b'"x"', b"null", b"{\"items\": [[[[{}]]]], \"altId\": {\"$gt\": \"\"}}",
                b'{"altId": "\\u0000", "items": [{"priceId": "\\u0000", "qty": 1e308}]}', "{\"ü\": \"😀\"}".encode()):
        r = ghl_sandbox.api("POST", path, loc["token"], content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422), (raw, r.status_code, r.text)
        assert_ghl_error(r, r.status_code)
