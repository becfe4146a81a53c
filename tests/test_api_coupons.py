"""Coupons (`/payments/coupon`, `/payments/coupon/list`) over real HTTP and through both official SDKs:
create, read by id and by code, list (status, search, paging), update, delete; scopes and errors; the
status following the sandbox clock; redeeming a code on a simulated order (discount, coupon object) and
the usage count and limit that follow from the orders."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from api_support import ISO_MS, OBJECT_ID, UUID, assert_ghl_error, second_location, token_of
from highlevel import HighLevel
from highlevel.error import GHLError
from test_node_sdk_webhooks import node_with_sdk  # noqa: F401  (the session fixture that installs the SDK)

from mock_server.testing import SandboxClient

COUPON = "/payments/coupon"
LIST = "/payments/coupon/list"
NODE_SCRIPT = os.path.join(os.path.dirname(__file__), "node", "sdk_coupons.js")
DTO_REQUIRED = {"_id", "usageCount", "limitPerCustomer", "altId", "altType", "name", "code", "discountType",
                "discountValue", "status", "startDate", "applyToFuturePayments", "applyToFuturePaymentsConfig",
                "createdAt", "updatedAt"}


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sandbox_now(sb: SandboxClient) -> datetime:
    return datetime.fromisoformat(sb.clock()["now"].replace("Z", "+00:00"))


def body_for(loc: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out = {"altId": loc["id"], "altType": "location", "name": "Ten off", "code": "TENOFF",
           "discountType": "percentage", "discountValue": 10, "startDate": "2020-01-01T00:00:00.000Z"}
    out.update(fields)
    return {k: v for k, v in out.items() if v is not None}


def create(sb: SandboxClient, loc: dict[str, Any], **fields: Any) -> dict[str, Any]:
    r = sb.api("POST", COUPON, loc["token"], json=body_for(loc, **fields))
    assert r.status_code == 201, r.text
    return r.json()


def get_coupon(sb: SandboxClient, loc: dict[str, Any], **params: Any) -> httpx.Response:
    return sb.api("GET", COUPON, loc["token"], params={"altId": loc["id"], "altType": "location", **params})


def list_coupons(sb: SandboxClient, loc: dict[str, Any], **params: Any) -> dict[str, Any]:
    r = sb.api("GET", LIST, loc["token"], params={"altId": loc["id"], "altType": "location", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data", "totalCount", "traceId"} and UUID.match(body["traceId"])
    return body


def one_time_item(sb: SandboxClient, loc: dict[str, Any]) -> dict[str, Any]:
    """A one-time price of the location and its unit amount (from an order the simulator creates)."""
    order = sb.simulate("order.create", locationId=loc["id"])["resources"][0]["data"]
    item = order["items"][0]
    return {"priceId": item["price"]["_id"], "productId": item["product"]["_id"], "amount": item["price"]["amount"]}


def order_with(sb: SandboxClient, loc: dict[str, Any], code: str, price_id: str, qty: int = 2,
               **extra: Any) -> httpx.Response:
    return sb.request("POST", "/simulate/order.create",
                      json={"locationId": loc["id"], "couponCode": code, "items": [{"priceId": price_id, "qty": qty}],
                            **extra})


def assert_dto(c: dict[str, Any], loc: dict[str, Any]) -> None:
    assert set(c) >= DTO_REQUIRED, DTO_REQUIRED - set(c)
    assert OBJECT_ID.match(c["_id"]) and c["altId"] == loc["id"] and c["altType"] == "location"
    assert c["status"] in ("scheduled", "active", "expired") and c["discountType"] in ("percentage", "amount")
    assert ISO_MS.match(c["startDate"]) and ISO_MS.match(c["createdAt"]) and ISO_MS.match(c["updatedAt"])
    assert isinstance(c["usageCount"], int) and isinstance(c["limitPerCustomer"], int)


# ---- CRUD over HTTP -------------------------------------------------------------------------------


def test_create_get_list_update_delete(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    assert list_coupons(sb, loc)["totalCount"] == 0  # nothing seeded
    made = create(sb, loc, name="Spring", code="Spring25", discountValue=25.5, usageLimit=3, limitPerCustomer=True,
                  productIds=["p1", "p2"], applyToFuturePaymentsConfig={"type": "fixed", "duration": 3,
                                                                         "durationType": "months"})
    assert_dto(made, loc)
    assert UUID.match(made["traceId"])
    assert (made["name"], made["code"], made["discountValue"], made["status"], made["usageCount"]) == \
        ("Spring", "Spring25", 25.5, "active", 0)
    assert made["limitPerCustomer"] == 1 and made["usageLimit"] == 3 and made["productIds"] == ["p1", "p2"]
    assert made["applyToFuturePayments"] is True
    assert made["applyToFuturePaymentsConfig"] == {"type": "fixed", "duration": 3, "durationType": "months"}
    assert "endDate" not in made

    by_id = get_coupon(sb, loc, id=made["_id"]).json()
    by_code = get_coupon(sb, loc, code="spring25").json()  # codes match case-insensitively
    both = get_coupon(sb, loc, id=made["_id"], code="SPRING25").json()
    for got in (by_id, by_code, both):
        assert {k: v for k, v in got.items() if k != "traceId"} == {k: v for k, v in made.items() if k != "traceId"}

    other = create(sb, loc, name="Flat", code="FLAT5", discountType="amount", discountValue=5,
                   endDate="2099-01-01T00:00:00.000Z")
    assert other["discountValue"] == 5 and other["limitPerCustomer"] == 0
    assert other["applyToFuturePaymentsConfig"] == {"type": "forever"}
    listed = list_coupons(sb, loc)
    assert listed["totalCount"] == 2 and [c["_id"] for c in listed["data"]] == [other["_id"], made["_id"]]
    assert [c["code"] for c in list_coupons(sb, loc, search="spr")["data"]] == ["Spring25"]
    assert [c["code"] for c in list_coupons(sb, loc, search="flat")["data"]] == ["FLAT5"]
    page = list_coupons(sb, loc, limit=1, offset=1)
    assert page["totalCount"] == 2 and [c["_id"] for c in page["data"]] == [made["_id"]]

    r = sb.api("PUT", COUPON, loc["token"], json=body_for(loc, id=made["_id"], name="Summer", code="SUMMER",
                                                           discountType="amount", discountValue=7.25))
    assert r.status_code == 200, r.text
    updated = r.json()
    assert (updated["_id"], updated["name"], updated["code"], updated["discountType"], updated["discountValue"]) == \
        (made["_id"], "Summer", "SUMMER", "amount", 7.25)
    assert "usageLimit" not in updated and updated["limitPerCustomer"] == 0  # a PUT replaces the coupon
    assert updated["createdAt"] == made["createdAt"]
    assert_ghl_error(get_coupon(sb, loc, code="Spring25"), 400, "Coupon not found")

    r = sb.api("DELETE", COUPON, loc["token"], json={"altId": loc["id"], "altType": "location", "id": made["_id"]})
    assert r.status_code == 200 and r.json()["success"] is True and UUID.match(r.json()["traceId"])
    assert_ghl_error(get_coupon(sb, loc, id=made["_id"]), 400, "Coupon not found")
    r = sb.api("DELETE", COUPON, loc["token"], json={"altId": loc["id"], "altType": "location", "id": made["_id"]})
    assert_ghl_error(r, 400, "Coupon not found")
    assert [c["_id"] for c in list_coupons(sb, loc)["data"]] == [other["_id"]]


def test_coupons_are_per_location(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    made = create(sb, loc)
    other = second_location(sb)
    assert list_coupons(sb, other)["totalCount"] == 0
    assert_ghl_error(get_coupon(sb, other, id=made["_id"]), 400, "Coupon not found")
    create(sb, other)  # the same code in another location is another coupon
    # altId of another location than the token's: 403
    r = sb.api("GET", LIST, loc["token"], params={"altId": other["id"], "altType": "location"})
    assert_ghl_error(r, 403)
    r = sb.api("DELETE", COUPON, loc["token"], json={"altId": other["id"], "altType": "location", "id": made["_id"]})
    assert_ghl_error(r, 403)


def test_validation_and_conflicts(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    r = sb.api("POST", COUPON, loc["token"], json={"altId": loc["id"]})
    body = assert_ghl_error(r, 422)
    for needed in ("altType should not be empty", "name should not be empty", "code should not be empty",
                   "discountType should not be empty", "discountValue should not be empty",
                   "startDate should not be empty"):
        assert needed in body["message"], body["message"]
    cases = [
        ({"discountType": "free"}, "discountType must be one of the following values: percentage, amount"),
        ({"discountValue": 101}, "discountValue must not be greater than 100"),
        ({"discountValue": 0}, "discountValue must not be less than 0.01"),
        ({"discountValue": "ten"}, "discountValue must be a number conforming to the specified constraints"),
        ({"startDate": "soon"}, "startDate must be a valid ISO 8601 date string"),
        ({"usageLimit": 1.5}, "usageLimit must be an integer number"),
        ({"usageLimit": 0}, "usageLimit must not be less than 1"),
        ({"productIds": "p1"}, "productIds must be an array"),
        ({"limitPerCustomer": "maybe"}, "limitPerCustomer must be a boolean value"),
        ({"code": "TWO WORDS"}, "code must not contain whitespace"),
        ({"applyToFuturePaymentsConfig": {"type": "fixed"}},
         "applyToFuturePaymentsConfig.durationType should not be empty"),
    ]
    for fields, message in cases:
        assert_ghl_error(sb.api("POST", COUPON, loc["token"], json=body_for(loc, **fields)), 422, message)
    r = sb.api("POST", COUPON, loc["token"], content=b"{nope", headers={"content-type": "application/json"})
    assert_ghl_error(r, 400)
    r = sb.api("POST", COUPON, loc["token"], json=body_for(loc, endDate="2019-01-01T00:00:00.000Z"))
    assert_ghl_error(r, 400, "endDate must be after startDate")
    create(sb, loc, code="DUP")
    assert_ghl_error(sb.api("POST", COUPON, loc["token"], json=body_for(loc, code="dup")), 400,
                     "Coupon code dup already exists")
    second = create(sb, loc, code="SECOND")
    r = sb.api("PUT", COUPON, loc["token"], json=body_for(loc, id=second["_id"], code="DUP"))
    assert_ghl_error(r, 400, "Coupon code DUP already exists")
    r = sb.api("PUT", COUPON, loc["token"], json=body_for(loc))
    assert_ghl_error(r, 422, "id should not be empty")
    r = sb.api("PUT", COUPON, loc["token"], json=body_for(loc, id="0" * 24, code="NEW"))
    assert_ghl_error(r, 400, "Coupon not found")
    assert_ghl_error(get_coupon(sb, loc), 400, "Coupon not found")
    assert_ghl_error(get_coupon(sb, loc, id=second["_id"], code="DUP"), 400, "Coupon not found")
    r = sb.api("GET", LIST, loc["token"], params={"altId": loc["id"], "altType": "location", "status": "live"})
    assert_ghl_error(r, 422, "status must be one of the following values: scheduled, active, expired")
    r = sb.api("GET", LIST, loc["token"], params={"altId": loc["id"]})
    assert_ghl_error(r, 422, "altType should not be empty")
    r = sb.api("DELETE", COUPON, loc["token"], json={"altId": loc["id"], "altType": "location"})
    assert_ghl_error(r, 422, "id should not be empty")


def test_scopes(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    made = create(sb, loc)
    reader = sb.token(loc["id"], scopes=["payments/coupons.readonly"])["token"]
    orders_only = sb.token(loc["id"], scopes=["payments/orders.readonly"])["token"]
    params = {"altId": loc["id"], "altType": "location"}
    assert sb.api("GET", LIST, reader, params=params).status_code == 200
    assert sb.api("GET", COUPON, reader, params={**params, "id": made["_id"]}).status_code == 200
    assert_ghl_error(sb.api("GET", LIST, orders_only, params=params), 401)
    for method in ("POST", "PUT", "DELETE"):
        r = sb.api(method, COUPON, reader, json=body_for(loc, id=made["_id"]))
        assert_ghl_error(r, 401)
    assert_ghl_error(sb.api("GET", LIST, "not-a-token", params=params), 401)
    assert get_coupon(sb, loc, id=made["_id"]).status_code == 200  # nothing was changed by the refusals


# ---- status from the sandbox clock ----------------------------------------------------------------


def test_status_follows_the_sandbox_clock(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    now = sandbox_now(sb)
    made = create(sb, loc, code="LATER", startDate=iso(now + timedelta(days=1)), endDate=iso(now + timedelta(days=3)))
    assert made["status"] == "scheduled"
    always = create(sb, loc, code="ALWAYS")
    item = one_time_item(sb, loc)

    def statuses() -> dict[str, list[str]]:
        return {s: [c["code"] for c in list_coupons(sb, loc, status=s)["data"]] for s in ("scheduled", "active", "expired")}

    assert statuses() == {"scheduled": ["LATER"], "active": ["ALWAYS"], "expired": []}
    r = order_with(sb, loc, "LATER", item["priceId"])
    assert r.status_code == 422 and "couponCode LATER is scheduled, not active" in r.text

    sb.advance_clock("2d")
    assert get_coupon(sb, loc, id=made["_id"]).json()["status"] == "active"
    assert statuses() == {"scheduled": [], "active": ["ALWAYS", "LATER"], "expired": []}
    assert order_with(sb, loc, "later", item["priceId"]).status_code == 200

    sb.advance_clock("2d")
    expired = get_coupon(sb, loc, code="LATER").json()
    assert expired["status"] == "expired" and expired["usageCount"] == 1
    assert statuses() == {"scheduled": [], "active": ["ALWAYS"], "expired": ["LATER"]}
    r = order_with(sb, loc, "LATER", item["priceId"])
    assert r.status_code == 422 and "couponCode LATER is expired, not active" in r.text
    assert always["status"] == "active"


# ---- redeeming on simulated orders ----------------------------------------------------------------


def test_order_with_a_percentage_coupon(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    made = create(sb, loc, code="QUARTER", discountValue=25)
    item = one_time_item(sb, loc)
    r = order_with(sb, loc, "quarter", item["priceId"], qty=2)
    assert r.status_code == 200, r.text
    order = r.json()["resources"][0]["data"]
    subtotal_cents = round(item["amount"] * 100) * 2
    discount_cents = (subtotal_cents * 25 + 50) // 100  # 25 %, rounded half-up to the cent
    assert order["amountSummary"]["subtotal"] == subtotal_cents / 100
    assert order["amountSummary"]["discount"] == discount_cents / 100
    assert order["amount"] == (subtotal_cents - discount_cents) / 100
    assert order["coupon"] == {"_id": made["_id"], "code": "QUARTER"}
    # the API shows the same order, and its list item carries the code and the discount
    got = sb.api("GET", f"/payments/orders/{order['_id']}", loc["token"],
                 params={"altId": loc["id"], "altType": "location"}).json()
    assert got["coupon"] == order["coupon"] and got["amountSummary"]["discount"] == discount_cents / 100
    listed = sb.api("GET", "/payments/orders", loc["token"], params={"altId": loc["id"], "limit": 1}).json()["data"][0]
    assert listed["_id"] == order["_id"] and listed["couponCode"] == "QUARTER"
    assert listed["discount"] == discount_cents / 100
    # paying the order takes the discounted amount
    paid = sb.simulate("order.pay", locationId=loc["id"], orderId=order["_id"])
    txn = next(x["data"] for x in paid["resources"] if x["type"] == "transaction")
    assert txn["amount"] == (subtotal_cents - discount_cents) / 100
    assert get_coupon(sb, loc, id=made["_id"]).json()["usageCount"] == 1


def test_amount_coupon_is_capped_and_follows_product_ids(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    item = one_time_item(sb, loc)
    create(sb, loc, code="HUGE", discountType="amount", discountValue=1_000_000)
    order = order_with(sb, loc, "HUGE", item["priceId"], qty=1).json()["resources"][0]["data"]
    assert order["amountSummary"]["discount"] == item["amount"] and order["amount"] == 0
    create(sb, loc, code="FIVE", discountType="amount", discountValue=5, productIds=[item["productId"]])
    order = order_with(sb, loc, "FIVE", item["priceId"], qty=3).json()["resources"][0]["data"]
    expected = min(5.0, item["amount"] * 3)
    assert order["amountSummary"]["discount"] == expected
    assert order["amount"] == round(item["amount"] * 3 - expected, 2)
    create(sb, loc, code="ELSEWHERE", productIds=["0" * 24])
    r = order_with(sb, loc, "ELSEWHERE", item["priceId"])
    assert r.status_code == 422 and "applies to none of the order's products" in r.text


def test_usage_limit_and_per_customer_limit(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    item = one_time_item(sb, loc)
    made = create(sb, loc, code="TWICE", usageLimit=2)
    before = sb.state(loc["id"])
    for _ in range(2):
        assert order_with(sb, loc, "TWICE", item["priceId"]).status_code == 200
    assert get_coupon(sb, loc, id=made["_id"]).json()["usageCount"] == 2
    assert list_coupons(sb, loc, search="twice")["data"][0]["usageCount"] == 2
    r = order_with(sb, loc, "TWICE", item["priceId"])
    assert r.status_code == 422, r.text
    body = r.json()
    assert "couponCode TWICE reached its usage limit of 2" in json.dumps(body)
    after = sb.state(loc["id"])
    assert len(after["orders"]) == len(before["orders"]) + 2  # the refused order was not created
    # raising the limit makes it applicable again; the count is derived, so it stays 2
    r = sb.api("PUT", COUPON, loc["token"], json=body_for(loc, id=made["_id"], code="TWICE", usageLimit=3))
    assert r.json()["usageCount"] == 2
    assert order_with(sb, loc, "TWICE", item["priceId"]).status_code == 200
    assert get_coupon(sb, loc, id=made["_id"]).json()["usageCount"] == 3

    contact = after["orders"][0]["contactId"]
    other_contact = next(o["contactId"] for o in after["orders"] if o["contactId"] != contact)
    create(sb, loc, code="ONCE", limitPerCustomer=True)
    assert order_with(sb, loc, "ONCE", item["priceId"], contactId=contact).status_code == 200
    r = order_with(sb, loc, "ONCE", item["priceId"], contactId=contact)
    assert r.status_code == 422 and f"already used by contact {contact}" in r.text
    assert order_with(sb, loc, "ONCE", item["priceId"], contactId=other_contact).status_code == 200
    r = order_with(sb, loc, "NOSUCH", item["priceId"])
    assert r.status_code == 422 and f"couponCode NOSUCH is not a coupon of location {loc['id']}" in r.text
    r = sb.request("POST", "/simulate/order.create", json={"locationId": loc["id"], "couponCode": ""})
    assert r.status_code == 422


def test_orders_without_a_coupon_are_unchanged(ghl_sandbox: SandboxClient, loc: dict) -> None:
    """No couponCode: no discount and no coupon object, the seeded world as it was."""
    sb = ghl_sandbox
    create(sb, loc, code="UNUSED")
    order = sb.simulate("order.create", locationId=loc["id"])["resources"][0]["data"]
    assert order["amountSummary"]["discount"] == 0 and "coupon" not in order
    assert list_coupons(sb, loc)["data"][0]["usageCount"] == 0


# ---- the official Python SDK ----------------------------------------------------------------------


def run_sdk(sb: SandboxClient, loc: dict[str, Any], scenario: Any) -> Any:
    async def main() -> Any:
        ghl = HighLevel(log_level="none", private_integration_token=token_of(loc, "pit"))
        ghl.get_http_client().base_url = sb.url
        try:
            return await scenario(ghl)
        finally:
            await ghl.close()

    return asyncio.run(main())


def test_python_sdk(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    item = one_time_item(sb, loc)

    async def scenario(ghl: HighLevel) -> dict[str, Any]:
        p = ghl.payments
        out: dict[str, Any] = {}
        out["created"] = await p.create_coupon({**body_for(loc, code="PYSDK", discountValue=20), "usageLimit": 1})
        cid = out["created"]["_id"]
        out["by_id"] = await p.get_coupon(alt_id=loc["id"], alt_type="location", id=cid, code="PYSDK")
        out["listed"] = await p.list_coupons(alt_id=loc["id"], alt_type="location", limit=10.0, offset=0,
                                             status="active", search="pysdk")
        out["order"] = order_with(sb, loc, "PYSDK", item["priceId"], qty=1).json()["resources"][0]["data"]
        out["used"] = await p.get_coupon(alt_id=loc["id"], alt_type="location", id=cid, code="pysdk")
        out["updated"] = await p.update_coupon({**body_for(loc, code="PYSDK", name="Renamed"), "id": cid})
        try:
            await p.create_coupon(body_for(loc, code="PYSDK"))
        except GHLError as err:
            out["duplicate"] = err
        out["deleted"] = await p.delete_coupon({"altId": loc["id"], "altType": "location", "id": cid})
        try:
            await p.get_coupon(alt_id=loc["id"], alt_type="location", id=cid, code="PYSDK")
        except GHLError as err:
            out["gone"] = err
        return out

    out = run_sdk(sb, loc, scenario)
    assert_dto(out["created"], loc)
    assert out["created"]["code"] == "PYSDK" and out["created"]["usageLimit"] == 1
    assert out["by_id"]["_id"] == out["created"]["_id"]
    assert out["listed"]["totalCount"] == 1 and out["listed"]["data"][0]["_id"] == out["created"]["_id"]
    assert out["order"]["coupon"]["_id"] == out["created"]["_id"]
    assert out["order"]["amountSummary"]["discount"] == round(item["amount"] * 0.2, 2)
    assert out["used"]["usageCount"] == 1
    assert out["updated"]["name"] == "Renamed" and out["updated"]["usageCount"] == 1
    assert out["duplicate"].status_code == 400 and out["duplicate"].message == "Coupon code PYSDK already exists"
    assert out["deleted"]["success"] is True
    assert out["gone"].status_code == 400 and out["gone"].message == "Coupon not found"
    r = order_with(sb, loc, "PYSDK", item["priceId"])
    assert r.status_code == 422  # deleted: no longer a coupon of the location


# ---- the official Node SDK ------------------------------------------------------------------------


def test_node_sdk(ghl_sandbox: SandboxClient, loc: dict, node_with_sdk: str) -> None:  # noqa: F811
    sb = ghl_sandbox
    env = {**os.environ, "SANDBOX_URL": sb.url, "GHL_TOKEN": token_of(loc, "pit"), "LOCATION_ID": loc["id"],
           "COUPON_CODE": "NODESDK"}
    done = subprocess.run([node_with_sdk, NODE_SCRIPT], capture_output=True, text=True, timeout=120, env=env,
                          cwd=os.path.dirname(NODE_SCRIPT), check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["created"]["ok"], out["created"]
    created = out["created"]["body"]
    assert_dto(created, loc)
    assert (created["code"], created["discountValue"], created["status"]) == ("NODESDK", 10, "active")
    assert out["byId"]["body"]["_id"] == created["_id"] and out["byCode"]["body"]["_id"] == created["_id"]
    assert [c["_id"] for c in out["listed"]["body"]["data"]] == [created["_id"]]
    updated = out["updated"]["body"]
    assert (updated["discountType"], updated["discountValue"], updated["status"]) == ("amount", 5, "expired")
    assert [c["_id"] for c in out["expired"]["body"]["data"]] == [created["_id"]]
    assert out["invalid"]["ok"] is False and out["invalid"]["status"] == 422
    assert "discountType must be one of the following values: percentage, amount" in out["invalid"]["body"]["message"]
    assert out["deleted"]["body"]["success"] is True
    assert out["gone"]["ok"] is False and out["gone"]["status"] == 400
    assert out["gone"]["body"]["message"] == "Coupon not found"
    assert list_coupons(sb, loc)["totalCount"] == 0


@pytest.mark.parametrize("path", [COUPON, LIST])
def test_trailing_slash_answers_the_same(ghl_sandbox: SandboxClient, loc: dict, path: str) -> None:
    made = create(ghl_sandbox, loc)
    params = {"altId": loc["id"], "altType": "location", "id": made["_id"]}
    plain = ghl_sandbox.api("GET", path, loc["token"], params=params)
    slash = ghl_sandbox.api("GET", path + "/", loc["token"], params=params)
    assert plain.status_code == slash.status_code == 200
