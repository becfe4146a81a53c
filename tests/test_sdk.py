"""The ten endpoints driven through GoHighLevel's official Python SDK (`gohighlevel-api-client`,
`from highlevel import HighLevel`), pointed at the sandbox. The SDK's async methods run under
`asyncio.run` inside ordinary tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from api_support import (
    ORDERS,
    SUBSCRIPTIONS,
    TRANSACTIONS,
    UUID,
    WHITELABEL,
    everything,
    get,
    ids,
    ok,
    second_location,
    token_of,
)
from highlevel import HighLevel
from highlevel.error import GHLError

from mock_server.testing import SandboxClient

Scenario = Callable[[HighLevel], Awaitable[Any]]


def run(sb: SandboxClient, scenario: Scenario, *, via: str = "base_url", **config: Any) -> tuple[Any, list[httpx.Request]]:
    """Build an SDK client for the sandbox (a `BASE_URL` subclass or the shared httpx client's base_url,
    the two ways of reference §9.3), run the scenario on it, and return its result and the requests sent."""
    sent: list[httpx.Request] = []

    async def main() -> Any:
        if via == "subclass":
            local = type("LocalHighLevel", (HighLevel,), {"BASE_URL": sb.url})
            ghl = local(log_level="none", **config)
        else:
            ghl = HighLevel(log_level="none", **config)
            ghl.get_http_client().base_url = sb.url

        async def record(request: httpx.Request) -> None:
            sent.append(request)

        hooks = ghl.http_client.event_hooks
        ghl.http_client.event_hooks = {"request": [record], "response": hooks["response"]}
        try:
            return await scenario(ghl)
        finally:
            await ghl.close()

    return asyncio.run(main()), sent


def pit_config(loc: dict[str, Any]) -> dict[str, Any]:
    return {"private_integration_token": token_of(loc, "pit")}


def oauth_config(sb: SandboxClient, loc: dict[str, Any]) -> dict[str, Any]:
    """The marketplace app's credentials plus the location's OAuth token (its first token)."""
    app = sb.control("GET", "/apps")[0]
    assert loc["view"]["tokens"][0]["tokenType"] == "oauth"
    return {"client_id": app["clientId"], "client_secret": app["clientSecret"],
            "location_access_token": loc["token"]}


def ghl_error(sb: SandboxClient, scenario: Scenario, **config: Any) -> GHLError:
    with pytest.raises(GHLError) as info:
        run(sb, scenario, **config)
    return info.value


def assert_sdk_error(err: GHLError, status: int, message: str) -> None:
    """The SDK's GHLError carries our status code, our message (a 422 list joined with ', ') and body."""
    assert err.status_code == status
    assert err.message == message
    assert err.response["statusCode"] == status
    assert UUID.match(err.response["traceId"])


# ---- how the SDK talks to us ----------------------------------------------------------------------


@pytest.mark.parametrize("via", ["subclass", "base_url"])
def test_sdk_sends_version_v3_and_the_configured_token(ghl_sandbox: SandboxClient, loc: dict, via: str) -> None:
    body, sent = run(ghl_sandbox, lambda g: g.payments.list_orders(alt_id=loc["id"]), via=via, **pit_config(loc))
    assert body["totalCount"] >= 250 and len(body["data"]) == 10
    (request,) = sent
    assert str(request.url).startswith(ghl_sandbox.url + ORDERS + "?")
    assert request.headers["Version"] == "v3"
    assert request.headers["Authorization"] == f"Bearer {token_of(loc, 'pit')}"
    pit_id = next(t["tokenId"] for t in loc["view"]["tokens"] if t["tokenType"] == "pit")
    (entry,) = [e for e in ghl_sandbox.journal() if e["path"] == ORDERS]
    assert entry["status"] == 200 and entry["tokenId"] == pit_id


def test_token_priority_pit_over_location_token(ghl_sandbox: SandboxClient, loc: dict) -> None:
    config = {**oauth_config(ghl_sandbox, loc), **pit_config(loc)}
    _, sent = run(ghl_sandbox, lambda g: g.payments.list_orders(alt_id=loc["id"], limit=1), **config)
    assert sent[0].headers["Authorization"] == f"Bearer {token_of(loc, 'pit')}"
    _, sent = run(ghl_sandbox, lambda g: g.payments.list_orders(alt_id=loc["id"], limit=1),
                  **oauth_config(ghl_sandbox, loc))
    assert sent[0].headers["Authorization"] == f"Bearer {loc['token']}"


# ---- orders ---------------------------------------------------------------------------------------


def test_list_orders_with_filters_matches_the_api(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = everything(ghl_sandbox, loc, ORDERS)
    day = everyone[len(everyone) // 2]["createdAt"][:10]
    last = everyone[0]["createdAt"][:10]
    raw = everything(ghl_sandbox, loc, ORDERS, paymentStatus="paid", paymentMode="live", startAt=day, endAt=last)

    async def scenario(ghl: HighLevel) -> Any:
        return await ghl.payments.list_orders(alt_id=loc["id"], payment_status="paid", payment_mode="live",
                                              start_at=day, end_at=last, limit=20.0, offset=0)

    body, sent = run(ghl_sandbox, scenario, **pit_config(loc))
    assert "limit=20.0" in str(sent[0].url)  # the SDK sends the float as given; we read it leniently
    assert body["totalCount"] == len(raw)
    assert ids(body["data"]) == ids(raw)[:20]
    assert all(r["paymentStatus"] == "paid" and r["liveMode"] for r in body["data"])


def test_paging_orders_through_the_sdk(ghl_sandbox: SandboxClient, loc: dict) -> None:
    expected = ids(everything(ghl_sandbox, loc, ORDERS))

    async def scenario(ghl: HighLevel) -> list[str]:
        seen: list[str] = []
        while True:
            page = await ghl.payments.list_orders(alt_id=loc["id"], limit=50, offset=len(seen))
            assert page["totalCount"] == len(expected)
            seen += [o["_id"] for o in page["data"]]
            if len(page["data"]) < 50:
                return seen

    walked, _ = run(ghl_sandbox, scenario, **pit_config(loc))
    assert walked == expected


def test_other_order_filters_through_the_sdk(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = everything(ghl_sandbox, loc, ORDERS)
    target = everyone[3]
    detail = ok(get(ghl_sandbox, loc, f"{ORDERS}/{target['_id']}"))
    product = detail["items"][0]["product"]["_id"]

    async def scenario(ghl: HighLevel) -> dict[str, Any]:
        p = ghl.payments
        return {
            "contact": await p.list_orders(alt_id=loc["id"], contact_id=target["contactId"], limit=100),
            "source": await p.list_orders(alt_id=loc["id"], source_id=target["sourceId"]),
            "search": await p.list_orders(alt_id=loc["id"], search=target["_id"]),
            "status": await p.list_orders(alt_id=loc["id"], status=target["status"], limit=1000),
            "product": await p.list_orders(alt_id=loc["id"], funnel_product_ids=product, limit=1000),
            "location": await p.list_orders(alt_id=loc["id"], location_id=loc["id"], limit=1),
        }

    got, _ = run(ghl_sandbox, scenario, **pit_config(loc))
    assert ids(got["contact"]["data"]) == [r["_id"] for r in everyone if r["contactId"] == target["contactId"]]
    assert target["_id"] in ids(got["source"]["data"])
    assert ids(got["search"]["data"]) == [target["_id"]]
    assert got["status"]["totalCount"] == sum(1 for r in everyone if r["status"] == target["status"])
    assert target["_id"] in ids(got["product"]["data"])
    assert got["product"]["totalCount"] == len(everything(ghl_sandbox, loc, ORDERS, funnelProductIds=product))
    assert got["location"]["totalCount"] == len(everyone)


def test_get_order_by_id_needs_alt_type_which_the_sdk_cannot_send(ghl_sandbox: SandboxClient, loc: dict) -> None:
    order_id = everything(ghl_sandbox, loc, ORDERS)[0]["_id"]
    config = pit_config(loc)
    # The typed call sends altId only: the live API's 422 (GHL SDK issue #18).
    err = ghl_error(ghl_sandbox, lambda g: g.payments.get_order_by_id(order_id=order_id, alt_id=loc["id"]), **config)
    assert_sdk_error(err, 422, "altType should not be empty, altType must be a string")
    assert err.response["message"] == ["altType should not be empty", "altType must be a string"]
    # `options={"params": {...}}` replaces the SDK's query instead of adding to it, so altType alone
    # loses altId ...
    err = ghl_error(ghl_sandbox, lambda g: g.payments.get_order_by_id(
        order_id=order_id, alt_id=loc["id"], options={"params": {"altType": "location"}}), **config)
    assert_sdk_error(err, 422, "altId should not be empty, altId must be a string")
    # ... and both must be passed there.
    body, sent = run(ghl_sandbox, lambda g: g.payments.get_order_by_id(
        order_id=order_id, alt_id=loc["id"], options={"params": {"altId": loc["id"], "altType": "location"}}), **config)
    assert sent[0].url.params["altType"] == "location"
    assert body == ok(get(ghl_sandbox, loc, f"{ORDERS}/{order_id}"))
    assert body["_id"] == order_id and body["items"] and body["contactSnapshot"]["_id"] == body["contactId"]


def test_fulfilment_through_the_sdk(ghl_sandbox: SandboxClient, loc: dict) -> None:
    target = next(o for o in everything(ghl_sandbox, loc, ORDERS, paymentStatus="paid")
                  if o["fulfillmentStatus"] == "unfulfilled")
    detail = ok(get(ghl_sandbox, loc, f"{ORDERS}/{target['_id']}"))
    items = [{"priceId": i["price"]["_id"], "qty": i["qty"]} for i in detail["items"]]
    params = {"params": {"altId": loc["id"], "altType": "location"}}

    async def scenario(ghl: HighLevel) -> dict[str, Any]:
        p = ghl.payments
        before = await p.list_order_fulfillment(alt_id=loc["id"], alt_type="location", order_id=target["_id"])
        created = await p.create_order_fulfillment(order_id=target["_id"], request_body={
            "altId": loc["id"], "altType": "location", "items": items, "notifyCustomer": False,
            "trackings": [{"trackingNumber": "TRK1", "shippingCarrier": "DHL", "trackingUrl": "https://t.example/1"}]})
        after = await p.list_order_fulfillment(alt_id=loc["id"], alt_type="location", order_id=target["_id"])
        order = await p.get_order_by_id(order_id=target["_id"], alt_id=loc["id"], options=params)
        with pytest.raises(GHLError) as again:
            await p.create_order_fulfillment(order_id=target["_id"], request_body={
                "altId": loc["id"], "altType": "location", "items": items[:1], "notifyCustomer": False,
                "trackings": []})
        return {"before": before, "created": created, "after": after, "order": order, "again": again.value}

    got, _ = run(ghl_sandbox, scenario, **pit_config(loc))
    assert got["before"] == {"status": True, "data": []}
    created = got["created"]["data"]
    assert got["created"]["status"] is True
    assert got["after"]["data"] == [created]
    assert [i["_id"] for i in created["items"]] == [i["priceId"] for i in items]
    assert all(i["product"]["_id"] and i["price"]["amount"] > 0 for i in created["items"])
    assert created["trackings"][0]["shippingCarrier"] == "DHL"
    assert got["order"]["fulfillmentStatus"] == "fulfilled"
    assert got["again"].status_code == 400 and "left to fulfill" in got["again"].message


def test_sdk_errors_carry_our_status_and_message(ghl_sandbox: SandboxClient, loc: dict) -> None:
    other = second_location(ghl_sandbox)
    config = pit_config(loc)
    missing = "0" * 24
    params = {"params": {"altId": loc["id"], "altType": "location"}}
    err = ghl_error(ghl_sandbox, lambda g: g.payments.get_order_by_id(order_id=missing, alt_id=loc["id"],
                                                                      options=params), **config)
    assert_sdk_error(err, 400, "Order not found")
    err = ghl_error(ghl_sandbox, lambda g: g.payments.get_transaction_by_id(missing, loc["id"], "location"), **config)
    assert_sdk_error(err, 400, "Transaction not found")
    err = ghl_error(ghl_sandbox, lambda g: g.payments.get_subscription_by_id(missing, loc["id"], "location"), **config)
    assert_sdk_error(err, 400, "Subscription not found")
    err = ghl_error(ghl_sandbox, lambda g: g.payments.list_transactions(other["id"], "location"), **config)
    assert_sdk_error(err, 403, "The token does not have access to this location.")
    err = ghl_error(ghl_sandbox, lambda g: g.payments.list_orders(alt_id=loc["id"], limit=-1), **config)
    assert_sdk_error(err, 422, "limit must not be less than 0")
    err = ghl_error(ghl_sandbox, lambda g: g.payments.list_orders(alt_id=loc["id"]),
                    private_integration_token="pit-unknown")
    assert_sdk_error(err, 401, "Invalid token: access token is invalid")
    scoped = ghl_sandbox.token(loc["id"], scopes=["payments/orders.readonly"], tokenType="pit")["token"]
    err = ghl_error(ghl_sandbox, lambda g: g.payments.list_subscriptions(loc["id"], "location"),
                    private_integration_token=scoped)
    assert_sdk_error(err, 401, "The token is not authorized for this scope.")
    agency = token_of(loc, "oauth", "agency")
    app = ghl_sandbox.control("GET", "/apps")[0]
    err = ghl_error(ghl_sandbox, lambda g: g.payments.list_orders(alt_id=loc["id"]), client_id=app["clientId"],
                    client_secret=app["clientSecret"], agency_access_token=agency)
    assert_sdk_error(err, 401, "Token's user type mismatch!")


# ---- transactions and subscriptions ---------------------------------------------------------------


def test_transactions_through_the_sdk(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = everything(ghl_sandbox, loc, TRANSACTIONS)
    renewal = next(t for t in everyone if t["entityType"] == "subscription")
    order_txn = next(t for t in everyone if t["entityType"] == "order" and t["entitySourceType"] == "funnel")

    async def scenario(ghl: HighLevel) -> dict[str, Any]:
        p = ghl.payments
        return {
            "page": await p.list_transactions(loc["id"], "location", limit=25, offset=5),
            "filtered": await p.list_transactions(
                loc["id"], "location", payment_mode="live" if order_txn["liveMode"] else "test",
                entity_source_type="funnel", entity_source_sub_type=order_txn["entitySourceSubType"],
                entity_id=order_txn["entityId"], contact_id=order_txn["contactId"], limit=10, offset=0),
            "subscription": await p.list_transactions(loc["id"], "location", subscription_id=renewal["subscriptionId"]),
            "search": await p.list_transactions(loc["id"], "location", search=order_txn["contactEmail"], limit=100),
            "dates": await p.list_transactions(loc["id"], "location", start_at=everyone[50]["createdAt"][:10],
                                               location_id=loc["id"], limit=500),
            "one": await p.get_transaction_by_id(order_txn["_id"], loc["id"], "location"),
        }

    got, sent = run(ghl_sandbox, scenario, **pit_config(loc))
    assert got["page"]["totalCount"] == len(everyone) and ids(got["page"]["data"]) == ids(everyone)[5:30]
    assert order_txn["_id"] in ids(got["filtered"]["data"])
    assert got["filtered"]["totalCount"] == sum(1 for t in everyone if t["entityId"] == order_txn["entityId"])
    assert ids(got["subscription"]["data"]) == [t["_id"] for t in everyone
                                                if t.get("subscriptionId") == renewal["subscriptionId"]]
    assert ids(got["search"]["data"]) == [t["_id"] for t in everyone if t["contactEmail"] == order_txn["contactEmail"]]
    day = everyone[50]["createdAt"][:10]
    assert got["dates"]["totalCount"] == sum(1 for t in everyone if t["createdAt"][:10] >= day)
    assert got["one"] == ok(get(ghl_sandbox, loc, f"{TRANSACTIONS}/{order_txn['_id']}"))
    assert got["one"]["entitySource"]["type"] == "funnel"
    assert sent[1].url.params["entitySourceSubType"] == order_txn["entitySourceSubType"]


def test_subscriptions_through_the_sdk(ghl_sandbox: SandboxClient, loc: dict) -> None:
    everyone = everything(ghl_sandbox, loc, SUBSCRIPTIONS, getPaymentsCollectedCount="true")
    target = everyone[7]

    async def scenario(ghl: HighLevel) -> dict[str, Any]:
        p = ghl.payments
        return {
            "counted": await p.list_subscriptions(loc["id"], "location", limit=5, get_payments_collected_count=True),
            "plain": await p.list_subscriptions(loc["id"], "location", offset=35),
            "filtered": await p.list_subscriptions(
                loc["id"], "location", entity_id=target["entityId"], contact_id=target["contactId"],
                payment_mode="live" if target["liveMode"] else "test", entity_source_type=target["entitySourceType"],
                search=target["contactEmail"], start_at=target["createdAt"][:10], end_at=target["createdAt"][:10],
                id=target["_id"]),
            "one": await p.get_subscription_by_id(target["_id"], loc["id"], "location"),
        }

    got, sent = run(ghl_sandbox, scenario, **pit_config(loc))
    assert sent[0].url.params["getPaymentsCollectedCount"] == "true"
    assert got["counted"]["totalCount"] == 40 and got["counted"]["data"] == everyone[:5]
    assert got["plain"]["totalCount"] == 40 and len(got["plain"]["data"]) == 5
    assert all("paymentsCollectedCount" not in s for s in got["plain"]["data"])
    assert ids(got["filtered"]["data"]) == [target["_id"]] and got["filtered"]["totalCount"] == 1
    one = got["one"]
    assert one == ok(get(ghl_sandbox, loc, f"{SUBSCRIPTIONS}/{target['_id']}"))
    assert one["paymentsCollectedCount"] == target["paymentsCollectedCount"]
    assert one["recurringProduct"]["price"]["type"] == "recurring"


# ---- white-label providers ------------------------------------------------------------------------


PROVIDER = {"altType": "location", "uniqueName": "sdk-gateway", "title": "SDK Gateway", "provider": "nmi",
            "description": "Created through the official SDK", "imageUrl": "https://cdn.example.com/sdk.png"}


def test_create_provider_with_the_oauth_token(ghl_sandbox: SandboxClient, loc: dict) -> None:
    async def scenario(ghl: HighLevel) -> dict[str, Any]:
        p = ghl.payments
        before = await p.list_integration_providers(loc["id"], "location")
        created = await p.create_integration_provider({"altId": loc["id"], **PROVIDER})
        after = await p.list_integration_providers(loc["id"], "location", limit=10, offset=0)
        first = await p.list_integration_providers(loc["id"], "location", limit=1)
        return {"before": before, "created": created, "after": after, "first": first}

    got, sent = run(ghl_sandbox, scenario, **oauth_config(ghl_sandbox, loc))
    assert sent[1].method == "POST" and sent[1].headers["Authorization"] == f"Bearer {loc['token']}"
    created = got["created"]
    assert created["title"] == "SDK Gateway" and created["provider"] == "nmi" and created["altId"] == loc["id"]
    assert len(got["before"]["providers"]) == 2
    assert got["after"]["providers"] == [created, *got["before"]["providers"]]
    assert got["first"]["providers"] == [created]


def test_create_provider_with_a_pit_is_refused(ghl_sandbox: SandboxClient, loc: dict) -> None:
    def create(ghl: HighLevel) -> Awaitable[Any]:
        return ghl.payments.create_integration_provider({"altId": loc["id"], **PROVIDER})

    marketplace_only = "This route can only be invoked using a marketplace-app token"
    # A PIT-only configuration ...
    assert_sdk_error(ghl_error(ghl_sandbox, create, **pit_config(loc)), 401, marketplace_only)
    # ... and a PIT next to the OAuth token: the SDK always prefers the PIT, so it is refused too.
    both = {**oauth_config(ghl_sandbox, loc), **pit_config(loc)}
    assert_sdk_error(ghl_error(ghl_sandbox, create, **both), 401, marketplace_only)
    # Listing with the PIT is fine, and nothing was created.
    listed, _ = run(ghl_sandbox, lambda g: g.payments.list_integration_providers(loc["id"], "location"),
                    **pit_config(loc))
    assert "SDK Gateway" not in {p["title"] for p in listed["providers"]}
    assert listed == ok(get(ghl_sandbox, loc, WHITELABEL))


def test_every_read_with_the_oauth_token(ghl_sandbox: SandboxClient, loc: dict) -> None:
    order_id = everything(ghl_sandbox, loc, ORDERS)[0]["_id"]
    txn_id = everything(ghl_sandbox, loc, TRANSACTIONS)[0]["_id"]
    sub_id = everything(ghl_sandbox, loc, SUBSCRIPTIONS)[0]["_id"]
    params = {"params": {"altId": loc["id"], "altType": "location"}}

    async def scenario(ghl: HighLevel) -> list[Any]:
        p = ghl.payments
        return [await p.list_orders(alt_id=loc["id"]),
                await p.get_order_by_id(order_id=order_id, alt_id=loc["id"], options=params),
                await p.list_order_fulfillment(loc["id"], "location", order_id),
                await p.list_transactions(loc["id"], "location"),
                await p.get_transaction_by_id(txn_id, loc["id"], "location"),
                await p.list_subscriptions(loc["id"], "location"),
                await p.get_subscription_by_id(sub_id, loc["id"], "location"),
                await p.list_integration_providers(loc["id"], "location")]

    got, sent = run(ghl_sandbox, scenario, via="subclass", **oauth_config(ghl_sandbox, loc))
    assert all(r.headers["Authorization"] == f"Bearer {loc['token']}" and r.headers["Version"] == "v3" for r in sent)
    assert got[1]["_id"] == order_id and got[4]["_id"] == txn_id and got[6]["_id"] == sub_id
    assert [len(got[i]["data"]) for i in (0, 3, 5)] == [10, 10, 10]
    assert got[2]["status"] is True and len(got[7]["providers"]) == 2
