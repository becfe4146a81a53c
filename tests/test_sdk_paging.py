"""Every list of GHL's official Payments spec paged through both official SDKs, every object validated.

One sandbox subprocess is seeded past its defaults so that every list has several pages and every kind
of record is there: coupons (scheduled, active, expired; percentage and amount; limits, products, a
fixed run of future payments) and orders that redeemed them, white-label providers, manual payments
with notes (cards, cheques, partial), fulfilments (partial, with and without trackings), cancelled
and new subscriptions. Then the Python SDK (`gohighlevel-api-client`) and the npm SDK
(`@gohighlevel/api-client`, tests/node/sdk_paging.js, which prints what it fetched as JSON) each:

- page list-orders, list-transactions, list-subscriptions, list-coupons and list-integration-providers
  with limit/offset until totalCount is reached (the pages must cover every record exactly once, in the
  API's order, and every page must report the same totalCount);
- read list-order-fulfillment and list-order-notes (unpaginated) for several orders;
- fetch every listed order, transaction, subscription and coupon by id.

Every answer is validated against our contract's 200 schema (contracts/ghl-payments.openapi.yaml,
references resolved, date-times checked), and, when GHL's official spec is on this machine, against
the official schema too, excusing only the fields our contract marks with a documented deviation.
A last pair of tests checks that our contract's response schemas are derived faithfully from the
official ones (or, without the official file, from a table of its required fields kept here)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import response_schemas as rs
from highlevel import HighLevel
from test_node_sdk_webhooks import node_with_sdk  # noqa: F401  (the session fixture that installs the SDK)

from mock_server.testing import SandboxProcess

NODE_SCRIPT = Path(__file__).parent / "node" / "sdk_paging.js"
PAGINATED = ("list-orders", "list-transactions", "list-subscriptions", "list-coupons", "list-integration-providers")
# Page sizes that give every list several pages (orders 260+, transactions ~300, subscriptions 42,
# coupons 20, providers 11), the last one short.
PAGE_SIZE = {"list-orders": 45, "list-transactions": 55, "list-subscriptions": 8, "list-coupons": 6,
             "list-integration-providers": 4}
PATHS = {"list-orders": "/payments/orders", "list-transactions": "/payments/transactions",
         "list-subscriptions": "/payments/subscriptions", "list-coupons": "/payments/coupon/list",
         "list-integration-providers": "/payments/integrations/provider/whitelabel"}
# The records each by-id read fetches: those of this list.
BY_ID_OF = {"get-order-by-id": "list-orders", "get-transaction-by-id": "list-transactions",
            "get-subscription-by-id": "list-subscriptions", "get-coupon": "list-coupons"}
SDKS = ("python", "node")

# GHL's official required fields of these operations' 200 answers, by place in the answer (`.data[]` is
# each item of `data`), derived from apps/payments.json (response_schemas.required_by_path). Used to
# check our contract when the official file is not on this machine (CI's clean clone); when it is, a
# test checks this table still says what the file says.
OFFICIAL_REQUIRED: dict[str, dict[str, list[str]]] = {
    "list-orders": {
        "": ["data", "totalCount"],
        ".data[]": ["_id", "altId", "altType", "createdAt", "sourceType", "status", "updatedAt"],
    },
    "list-transactions": {
        "": ["data", "totalCount"],
        ".data[]": ["_id", "altId", "altType", "createdAt", "entitySourceType", "fulfilledAt", "status", "updatedAt"],
    },
    "list-subscriptions": {
        "": ["data", "totalCount"],
        ".data[]": ["_id", "altId", "altType", "createdAt", "entitySourceType", "status", "updatedAt"],
    },
    "list-coupons": {
        "": ["data", "totalCount", "traceId"],
        ".data[]": ["_id", "altId", "altType", "applyToFuturePayments", "applyToFuturePaymentsConfig", "code",
                    "createdAt", "discountType", "discountValue", "limitPerCustomer", "name", "startDate", "status",
                    "updatedAt", "usageCount"],
        ".data[].applyToFuturePaymentsConfig": ["type"],
    },
    "list-integration-providers": {
        "": ["providers"],
        ".providers": ["_id", "altId", "altType", "createdAt", "description", "imageUrl", "provider", "route",
                       "title", "updatedAt"],
    },
    "list-order-fulfillment": {
        "": ["data", "status"],
        ".data[]": ["_id", "altId", "altType", "createdAt", "items", "trackings", "updatedAt"],
        ".data[].items[]": ["_id", "name", "price", "product", "qty"],
        ".data[].items[].product": ["_id", "createdAt", "locationId", "name", "productType", "updatedAt"],
        ".data[].items[].product.variants[]": ["id", "name", "options"],
        ".data[].items[].product.variants[].options[]": ["id", "name"],
        ".data[].items[].product.label": ["title"],
        ".data[].items[].price": ["_id", "amount", "currency", "name", "type"],
        ".data[].items[].price.membershipOffers[]": ["_id", "label", "value"],
        ".data[].items[].price.recurring": ["interval", "intervalCount"],
    },
    "get-order-by-id": {
        "": ["_id", "altId", "altType", "createdAt", "status", "updatedAt"],
        ".amountSummary": ["subtotal"],
        ".source": ["id", "type"],
    },
    "get-transaction-by-id": {
        "": ["_id", "altId", "altType", "createdAt", "updatedAt"],
        ".entitySource": ["id", "type"],
    },
    "get-subscription-by-id": {
        "": ["_id", "altId", "altType", "createdAt", "updatedAt"],
        ".entitySource": ["id", "type"],
        ".schedule.rrule": ["interval", "intervalType", "startDate"],
    },
    "get-coupon": {
        "": ["_id", "altId", "altType", "applyToFuturePayments", "applyToFuturePaymentsConfig", "code", "createdAt",
             "discountType", "discountValue", "limitPerCustomer", "name", "startDate", "status", "traceId",
             "updatedAt", "usageCount"],
        ".applyToFuturePaymentsConfig": ["type"],
    },
}


# ---- the seeded sandbox ---------------------------------------------------------------------------


@dataclass
class World:
    url: str
    location: str
    pit: str
    expected: dict[str, list[str]]  # list operation -> every id, in the API's order (one raw request)
    notes: dict[str, int] = field(default_factory=dict)  # order id -> notes recorded on it
    fulfillments: dict[str, int] = field(default_factory=dict)  # order id -> its fulfilments

    @property
    def orders_to_read(self) -> list[str]:
        return sorted({*self.notes, *self.fulfillments})


class Api:
    """Raw HTTP to the sandbox's API and control plane, for seeding and for the expected answers."""

    def __init__(self, http: httpx.Client, location: str, token: str) -> None:
        self.http, self.location, self.token = http, location, token

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        r = self.http.request(method, path, headers={"Authorization": f"Bearer {token or self.token}",
                                                     "Version": "2021-07-28"}, **kwargs)
        assert r.status_code in (200, 201), f"{method} {path} -> {r.status_code} {r.text[:500]}"
        return r.json()

    def simulate(self, action: str, **body: Any) -> dict[str, Any]:
        r = self.http.post(f"/_sandbox/simulate/{action}", json={"locationId": self.location, **body})
        assert r.status_code == 200, f"{action} {body} -> {r.status_code} {r.text[:500]}"
        result: dict[str, Any] = r.json()
        return result

    def everything(self, operation: str, **params: Any) -> list[dict[str, Any]]:
        query = {"altId": self.location, "altType": "location", **params}
        if operation == "list-integration-providers":
            return list(self.call("GET", PATHS[operation], params={**query, "limit": 0})["providers"])
        body = self.call("GET", PATHS[operation], params={**query, "limit": 100_000})
        assert body["totalCount"] == len(body["data"])
        return list(body["data"])


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seed(api: Api, oauth_token: str, now: datetime) -> World:
    """Make every kind of record the lists show, past a page or two each; returns what to expect."""
    world = World(url=str(api.http.base_url), location=api.location, pit="", expected={})
    loc = {"altId": api.location, "altType": "location"}
    bought = [i["price"] for o in api.everything("list-orders")[:40]
              for i in api.call("GET", f"{PATHS['list-orders']}/{o['_id']}", params=loc)["items"]]

    # Coupons: 20 of every status and kind (three of them redeemed by new orders below).
    day = timedelta(days=1)
    for n in range(20):
        body: dict[str, Any] = {**loc, "name": f"Paging coupon {n}", "code": f"PAGE{n:02d}",
                                "discountType": ("percentage", "amount")[n % 2], "discountValue": 5 + n,
                                "startDate": iso(now - 30 * day)}
        if n % 5 == 1:
            body["startDate"] = iso(now + 10 * day)  # scheduled
        if n % 5 == 2:
            body["endDate"] = iso(now - 2 * day)  # expired
        if n % 4 == 0:
            body.update(usageLimit=10 + n, limitPerCustomer=True)
        if n % 6 == 3:
            body["productIds"] = [bought[n]["product"]]
        if n % 7 == 4:
            body.update(applyToFuturePayments=True,
                        applyToFuturePaymentsConfig={"type": "fixed", "duration": 3, "durationType": "months"})
        api.call("POST", "/payments/coupon", json=body)
    for code in ("PAGE00", "PAGE03", "PAGE05"):
        api.simulate("order.create", couponCode=code)

    # White-label providers: 9 more beside the seeded ones (marketplace-app token only).
    for n in range(9):
        api.call("POST", PATHS["list-integration-providers"], oauth_token, json={
            **loc, "uniqueName": f"paging-provider-{'abcdefghi'[n]}", "title": f"Paging provider {n}",
            "provider": ("nmi", "authorize-net")[n % 2], "description": "A provider for the paging test",
            "imageUrl": "https://example.com/provider.png"})

    # Manual payments with notes on unpaid orders: cash in full, partial card, cheque with meta.
    unpaid = [o for o in api.everything("list-orders", paymentStatus="unpaid") if o["status"] != "cancelled"][:6]
    assert len(unpaid) == 6, "the seed has too few unpaid orders"
    payments: list[dict[str, Any]] = [
        {"mode": "cash", "notes": "Paid at the counter"},
        {"mode": "card", "card": {"type": "visa", "last4": "4242"}, "notes": "Card over the phone"},
        {"mode": "cheque", "cheque": {"number": "100042"}, "notes": "Cheque received", "meta": {"batch": "7"}},
        {"mode": "bank_transfer", "notes": "Wire"},
        {"mode": "other", "notes": "Voucher"},
        {"mode": "cash", "notes": "Deposit"},
    ]
    for order, payment in zip(unpaid, payments, strict=True):
        if payment["notes"] in ("Card over the phone", "Deposit"):  # two partial payments, then the rest
            api.simulate("order.record_payment", orderId=order["_id"], amount=round(order["amount"] / 3, 2),
                         isPartialPayment=True, **payment)
            api.simulate("order.record_payment", orderId=order["_id"], mode="cash", notes="The balance")
            world.notes[order["_id"]] = 2
        else:
            api.simulate("order.record_payment", orderId=order["_id"], **payment)
            world.notes[order["_id"]] = 1

    # Fulfilments on paid, unfulfilled orders: everything at once (with and without trackings), and
    # one order in two parts.
    candidates = [o for o in api.everything("list-orders", paymentStatus="paid")
                  if o["fulfillmentStatus"] == "unfulfilled" and o["_id"] not in world.notes]
    trackings = [[{"trackingNumber": "1Z999", "shippingCarrier": "UPS", "trackingUrl": "https://ups.example/1Z999"}],
                 [], [{"trackingNumber": "JD0002", "shippingCarrier": "DHL"}]]
    made = 0
    for order in candidates:
        full = api.call("GET", f"{PATHS['list-orders']}/{order['_id']}", params=loc)
        units = [(i["price"]["_id"], i["qty"]) for i in full["items"]]
        if made == 0 and sum(q for _, q in units) >= 2:
            price, qty = units[0]
            api.simulate("order.fulfill", orderId=order["_id"], items=[{"priceId": price, "qty": 1}],
                         trackings=trackings[0])
            api.simulate("order.fulfill", orderId=order["_id"], trackings=[])
            world.fulfillments[order["_id"]] = 2
        elif made > 0:
            api.simulate("order.fulfill", orderId=order["_id"], trackings=trackings[made % 3])
            world.fulfillments[order["_id"]] = 1
        else:
            continue
        made += 1
        if made == 5:
            break
    assert made == 5, "the seed has too few paid, unfulfilled orders"
    seeded = [o["_id"] for o in api.everything("list-orders")
              if o["fulfillmentStatus"] != "unfulfilled" and o["_id"] not in world.fulfillments][:2]
    for order_id in seeded:  # and two the seed fulfilled itself: as many fulfilments as it made
        world.fulfillments[order_id] = len(api.call("GET", f"{PATHS['list-orders']}/{order_id}/fulfillments",
                                                    params=loc)["data"])
        assert world.fulfillments[order_id] > 0

    # Subscriptions: two cancelled, two new.
    active = [s for s in api.everything("list-subscriptions") if s["status"] == "active"]
    for sub in active[:2]:
        api.simulate("subscription.cancel", subscriptionId=sub["_id"])
    for _ in range(2):
        api.simulate("subscription.create")

    world.expected = {op: [r["_id"] for r in api.everything(op)] for op in PAGINATED}
    return world


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with SandboxProcess(["--rate-limit", "off"]) as proc, httpx.Client(base_url=proc.url, timeout=60) as http:
        location = http.get("/_sandbox/locations").json()[0]
        tokens = [t for t in location["tokens"] if t["tokenClass"] == "location"]
        oauth = next(t["token"] for t in tokens if t["tokenType"] == "oauth")
        pit = next(t["token"] for t in tokens if t["tokenType"] == "pit")
        now = datetime.fromisoformat(http.get("/_sandbox/clock").json()["now"].replace("Z", "+00:00"))
        made = seed(Api(http, location["locationId"], oauth), oauth, now)
        made.pit = pit
        yield made


# ---- fetching through the SDKs --------------------------------------------------------------------

Fetched = dict[str, Any]  # {"pages": {op: [{"limit", "offset", "body"}]}, "fulfillments"/"notes": {id: body},
#                            "byId": {op: [body]}}


def python_sdk_fetch(world: World) -> Fetched:
    """Everything through the Python SDK, as sdk_paging.js does it through the npm one."""
    loc = {"alt_id": world.location, "alt_type": "location"}

    async def main() -> Fetched:
        ghl = HighLevel(private_integration_token=world.pit, log_level="none")
        ghl.get_http_client().base_url = world.url
        p = ghl.payments
        lists = {
            "list-orders": lambda limit, offset: p.list_orders(alt_id=world.location, limit=limit, offset=offset),
            "list-transactions": lambda limit, offset: p.list_transactions(**loc, limit=limit, offset=offset),
            "list-subscriptions": lambda limit, offset: p.list_subscriptions(**loc, limit=limit, offset=offset),
            "list-coupons": lambda limit, offset: p.list_coupons(**loc, limit=limit, offset=offset),
            "list-integration-providers": lambda limit, offset: p.list_integration_providers(
                **loc, limit=limit, offset=offset),
        }
        out: Fetched = {"pages": {}, "fulfillments": {}, "notes": {}, "byId": {}}
        try:
            for op, call in lists.items():
                pages: list[dict[str, Any]] = []
                offset, size = 0, PAGE_SIZE[op]
                while len(pages) < 200:  # the loop a client writes: on until totalCount (or a short page)
                    body = await call(size, offset)
                    pages.append({"limit": size, "offset": offset, "body": body})
                    rows = body.get("data", body.get("providers", []))
                    offset += len(rows)
                    if not rows or ("totalCount" in body and offset >= body["totalCount"]) or len(rows) < size:
                        break
                out["pages"][op] = pages
            for order_id in world.orders_to_read:
                out["fulfillments"][order_id] = await p.list_order_fulfillment(**loc, order_id=order_id)
                out["notes"][order_id] = await p.list_order_notes(**loc, order_id=order_id)
            gate = asyncio.Semaphore(16)

            async def by_id(op: str, row: dict[str, Any]) -> Any:
                async with gate:
                    if op == "get-order-by-id":  # the live API wants altType, the SDK has no parameter for it
                        return await p.get_order_by_id(order_id=row["_id"], alt_id=world.location, options={
                            "params": {"altId": world.location, "altType": "location"}})
                    if op == "get-transaction-by-id":
                        return await p.get_transaction_by_id(transaction_id=row["_id"], **loc)
                    if op == "get-subscription-by-id":
                        return await p.get_subscription_by_id(subscription_id=row["_id"], **loc)
                    return await p.get_coupon(**loc, id=row["_id"], code=row["code"])

            for op, list_op in BY_ID_OF.items():
                rows = [r for page in out["pages"][list_op] for r in page["body"]["data"]]
                out["byId"][op] = list(await asyncio.gather(*(by_id(op, r) for r in rows)))
        finally:
            await ghl.close()
        return out

    return asyncio.run(main())


def node_sdk_fetch(world: World, node: str) -> Fetched:
    env = {**os.environ, "SANDBOX_URL": world.url, "GHL_TOKEN": world.pit, "LOCATION_ID": world.location,
           "PAGE_SIZES": json.dumps(PAGE_SIZE), "ORDER_IDS": json.dumps(world.orders_to_read)}
    done = subprocess.run([node, str(NODE_SCRIPT)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=NODE_SCRIPT.parent, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    fetched: Fetched = json.loads(done.stdout)
    return fetched


@pytest.fixture(scope="module", params=SDKS)
def fetched(request: pytest.FixtureRequest, world: World) -> Fetched:
    """What one SDK fetched (each SDK runs once per module)."""
    if request.param == "python":
        return python_sdk_fetch(world)
    return node_sdk_fetch(world, request.getfixturevalue("node_with_sdk"))


def answers(data: Fetched) -> Iterator[tuple[str, str, Any]]:
    """(operation, where, body) of every answer an SDK got."""
    for op, pages in data["pages"].items():
        for page in pages:
            yield op, f"{op}?limit={page['limit']}&offset={page['offset']}", page["body"]
    for kind, op in (("fulfillments", "list-order-fulfillment"), ("notes", "list-order-notes")):
        for order_id, body in data[kind].items():
            yield op, f"{op}({order_id})", body
    for op, bodies in data["byId"].items():
        for body in bodies:
            yield op, f"{op}({body.get('_id')})", body


# ---- the tests ------------------------------------------------------------------------------------


def test_pages_cover_every_record_exactly_once(world: World, fetched: Fetched) -> None:
    for op in PAGINATED:
        pages = fetched["pages"][op]
        expected = world.expected[op]
        assert len(pages) >= 3, f"{op}: {len(pages)} page(s) of {len(expected)}: the seed should make several"
        key = "providers" if op == "list-integration-providers" else "data"
        walked = [row["_id"] for page in pages for row in page["body"][key]]
        assert len(walked) == len(set(walked)), f"{op}: a record on two pages"
        assert walked == expected, f"{op}: the pages are not the whole list in order"
        offsets = [page["offset"] for page in pages]
        assert offsets == [sum(len(p["body"][key]) for p in pages[:i]) for i in range(len(pages))]
        assert all(len(page["body"][key]) == PAGE_SIZE[op] for page in pages[:-1])
        if op != "list-integration-providers":  # the providers list has no totalCount
            assert {page["body"]["totalCount"] for page in pages} == {len(expected)}, op


def test_unpaginated_lists_and_by_id_reads_are_complete(world: World, fetched: Fetched) -> None:
    for order_id in world.orders_to_read:
        fulfilments, notes = fetched["fulfillments"][order_id], fetched["notes"][order_id]
        assert fulfilments["status"] is True and notes["status"] is True
        assert len(notes["data"]) == world.notes.get(order_id, 0), order_id
        assert all(n["orderId"] == order_id for n in notes["data"])
        assert len(fulfilments["data"]) == world.fulfillments.get(order_id, 0), order_id
        assert all(f["altId"] == world.location for f in fulfilments["data"])
    assert {n["type"] for b in fetched["notes"].values() for n in b["data"]} == {"payment"}
    assert any(not f["trackings"] for b in fetched["fulfillments"].values() for f in b["data"])
    assert any(f["trackings"] for b in fetched["fulfillments"].values() for f in b["data"])
    for op, list_op in BY_ID_OF.items():
        got = [body["_id"] for body in fetched["byId"][op]]
        assert got == world.expected[list_op], f"{op}: not every listed record was fetched by id"


def test_the_answers_show_every_kind_of_record(fetched: Fetched) -> None:
    """What the seed claims to make is there, so the validation below meets every shape."""
    rows = {op: [r for page in fetched["pages"][op] for r in page["body"].get("data", page["body"].get("providers"))]
            for op in PAGINATED}
    assert {c["status"] for c in rows["list-coupons"]} == {"scheduled", "active", "expired"}
    assert {c["discountType"] for c in rows["list-coupons"]} == {"percentage", "amount"}
    assert {c["applyToFuturePaymentsConfig"]["type"] for c in rows["list-coupons"]} == {"forever", "fixed"}
    assert any(c.get("productIds") for c in rows["list-coupons"]) and any(c["usageCount"] for c in rows["list-coupons"])
    assert {p["provider"] for p in rows["list-integration-providers"]} == {"nmi", "authorize-net"}
    assert {"active", "canceled"} <= {s["status"] for s in rows["list-subscriptions"]}
    assert {"succeeded", "failed"} <= {t["status"] for t in rows["list-transactions"]}
    assert {"paid", "unpaid"} <= {o["paymentStatus"] for o in rows["list-orders"]}
    assert any(o.get("couponCode") for o in rows["list-orders"])
    assert any(o.get("coupon") for o in fetched["byId"]["get-order-by-id"])
    canceled = [s for s in fetched["byId"]["get-subscription-by-id"] if s["status"] == "canceled"]
    assert canceled and all(s.get("canceledAt") for s in canceled)


def test_every_object_matches_our_contract(fetched: Fetched) -> None:
    """Required fields present, types and formats right, and no field our contract does not declare
    (objects it describes field by field are closed; free-form ones like `chargeSnapshot` stay open)."""
    schemas = {op: rs.closed(rs.ours(op)) for op in rs.OPERATIONS}
    found: list[str] = []
    count = 0
    for op, where, body in answers(fetched):
        found += rs.problems(schemas[op], body, where)
        count += 1
    assert count > 600  # every page, 2 x 12 unpaginated lists, ~600 by-id reads
    assert not found, f"{len(found)} problem(s):\n" + "\n".join(found[:40])


def test_every_object_matches_the_official_schemas(fetched: Fetched) -> None:
    """Every official required field of OFFICIAL_REQUIRED present; and, when the official spec is here,
    every answer valid against GHL's own schema, the fields our contract marks as deviations excused."""
    found: list[str] = []
    for op, where, body in answers(fetched):
        for path, required in OFFICIAL_REQUIRED.get(op, {}).items():
            for node, place in nodes_at(body, path, where):
                missing = [name for name in required if name not in node]
                if missing:
                    found.append(f"{place}: official required {missing} missing")
    if rs.official() is not None:
        excused = {}
        for op in rs.OPERATIONS:
            theirs = rs.theirs(op)
            if theirs is not None:
                excused[op] = rs.derive(theirs, rs.ours(op), "", [])
        assert set(excused) == set(rs.OPERATIONS) - {"list-order-notes"}  # notes: the spec declares no schema
        for op, where, body in answers(fetched):
            if op in excused:
                found += rs.problems(excused[op], body, where)
    assert not found, f"{len(found)} problem(s):\n" + "\n".join(found[:40])


def nodes_at(body: Any, path: str, where: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The objects of `body` at a `.data[].items[]`-style path (with their places, for messages)."""
    nodes: list[tuple[Any, str]] = [(body, where)]
    for token in re.findall(r"\.[^.\[]+|\[\]", path):
        following: list[tuple[Any, str]] = []
        for node, place in nodes:
            # An array where the spec declares one object (DEV-C) stands for its items.
            items = list(zip(node, (f"{place}[{i}]" for i in range(len(node))), strict=True)) \
                if isinstance(node, list) else [(node, place)]
            if token == "[]":
                following += items if isinstance(node, list) else []
                continue
            name = token[1:]
            following += [(item[name], f"{spot}.{name}") for item, spot in items
                          if isinstance(item, dict) and name in item]
        nodes = following
    for node, place in nodes:
        if isinstance(node, list):
            yield from ((item, f"{place}[{i}]") for i, item in enumerate(node) if isinstance(item, dict))
        elif isinstance(node, dict):
            yield node, place


def test_our_contract_is_derived_faithfully() -> None:
    """Every field GHL requires in these answers (OFFICIAL_REQUIRED) is required in our contract; and,
    with the official spec here, every official field is in ours, as strict (required, type, enum)
    unless ours names a deviation of contracts/DEVIATIONS.md."""
    found: list[str] = []
    for op in rs.OPERATIONS:
        ours = rs.ours(op)
        for path, required in OFFICIAL_REQUIRED.get(op, {}).items():
            node = rs.at(ours, path)
            if node is None:
                found.append(f"{op}{path}: not in our contract")
                continue
            missing = [name for name in required if name not in node.get("required", [])]
            if missing:
                found.append(f"{op}{path}: official required {missing} not required in ours")
        theirs = rs.theirs(op)
        if theirs is not None:
            rs.derive(theirs, ours, op, found)
    assert not found, "\n".join(found)


@pytest.mark.skipif(rs.official() is None, reason=f"GHL's official spec is not at {rs.OFFICIAL_SPEC}")
def test_the_table_of_official_required_fields_is_the_official_spec() -> None:
    derived = {}
    for op in rs.OPERATIONS:
        theirs = rs.theirs(op)
        if theirs is not None:
            derived[op] = rs.required_by_path(theirs)
    assert derived == OFFICIAL_REQUIRED
