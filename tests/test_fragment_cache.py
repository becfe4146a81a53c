"""Reads after writes: each record's rendered JSON is kept (mock_server/http/fragments.py) and pages are
joined from it. Every answer must be byte for byte what a from-scratch render gives, after every kind
of write; filters and totals stay exact; the cache keeps to its byte budget."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import uvicorn
from api_support import EVERYTHING, ORDERS, SUBSCRIPTIONS, TRANSACTIONS, params_for

from mock_server import jsjson
from mock_server.app import build_app, new_runtime
from mock_server.http.cache import ResponseCache
from mock_server.http.fragments import SEEDS_MAX, Form, FragmentCache, page
from mock_server.runtime import Runtime
from mock_server.settings import Settings
from mock_server.testing import SandboxClient


@dataclass
class Live:
    sb: SandboxClient
    runtime: Runtime
    loc: dict[str, Any]


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """The whole-response cache is off, so every GET renders: from fragments, or from scratch."""
    with live_sandbox(Settings(orders=120, response_cache=False, rate_limit="off")) as found:
        yield found


@contextlib.contextmanager
def live_sandbox(settings: Settings) -> Iterator[Live]:
    """A sandbox on a loopback port whose runtime the test can reach (to turn its caches off and on)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    runtime = new_runtime(settings)
    server = uvicorn.Server(uvicorn.Config(build_app(runtime), log_level="error", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the sandbox did not start"
        time.sleep(0.01)
    sb = SandboxClient(f"http://127.0.0.1:{sock.getsockname()[1]}")
    location = sb.location(0)
    try:
        yield Live(sb, runtime, {"id": location["locationId"], "token": location["tokens"][0]["token"]})
    finally:
        sb.close()
        server.should_exit = True
        thread.join(10)


def raw(live: Live, path: str, **params: Any) -> bytes:
    r = live.sb.api("GET", path, live.loc["token"], params=params_for(path, live.loc, **params))
    assert r.status_code == 200, f"{path} {params} -> {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/json")
    return r.content


def raw_without(cache: FragmentCache | ResponseCache, live: Live, path: str, **params: Any) -> bytes:
    """The same read with one of the sandbox's caches off."""
    cache.enabled = False
    try:
        return raw(live, path, **params)
    finally:
        cache.enabled = True


def same_with_and_without_fragments(live: Live, path: str, **params: Any) -> Any:
    """The answer with fragments (asked twice: rendered, then joined from kept parts) equals the one
    rendered from scratch, byte for byte, and is in JSON.stringify's form."""
    cache = live.runtime.fragments
    first = raw(live, path, **params)
    hits = cache.hits
    kept = raw(live, path, **params)
    scratch = raw_without(cache, live, path, **params)
    assert first == scratch, path
    assert kept == scratch, path
    value = orjson.loads(scratch)
    if (isinstance(value, dict) and value.get("data")) or (isinstance(value, dict) and "_id" in value):
        assert cache.hits > hits, f"{path}: the second read was not joined from kept fragments"
    assert jsjson.dumps(value) == scratch  # the bytes JSON.stringify writes for the same value
    return value


def check_everything(live: Live, order_ids: list[str], subscription_ids: list[str]) -> None:
    for params in ({}, {"limit": 20}, {"limit": 5, "offset": 3}, {"paymentStatus": "paid"},
                   {"paymentStatus": "refunded"}, {"status": "cancelled"}, {"limit": EVERYTHING}):
        same_with_and_without_fragments(live, ORDERS, **params)
    for params in ({}, {"limit": 20}, {"limit": EVERYTHING}):
        same_with_and_without_fragments(live, TRANSACTIONS, **params)
    for params in ({}, {"limit": EVERYTHING}, {"getPaymentsCollectedCount": "true"}):
        same_with_and_without_fragments(live, SUBSCRIPTIONS, **params)
    for oid in order_ids:
        same_with_and_without_fragments(live, f"{ORDERS}/{oid}")
        txns = same_with_and_without_fragments(live, TRANSACTIONS, entityId=oid, limit=EVERYTHING)
        for t in txns["data"]:
            same_with_and_without_fragments(live, f"{TRANSACTIONS}/{t['_id']}")
    for sid in subscription_ids:
        same_with_and_without_fragments(live, f"{SUBSCRIPTIONS}/{sid}")
        same_with_and_without_fragments(live, TRANSACTIONS, subscriptionId=sid, limit=EVERYTHING)


def created(result: dict[str, Any], kind: str) -> str:
    return next(r["id"] for r in result["resources"] if r["type"] == kind)


def listed(live: Live, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    body = orjson.loads(raw(live, path, limit=EVERYTHING, **params))
    return body["data"], body["totalCount"]


def test_every_answer_after_every_simulated_action_equals_a_fresh_render(live: Live) -> None:
    sb, loc = live.sb, live.loc
    check_everything(live, [], [])  # fragments of the seeded world are kept now: the writes below must show
    a = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    b = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    c = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    sub = created(sb.simulate("subscription.create", locationId=loc["id"]), "subscription")
    orders, subs = [a, b, c], [sub]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("order.pay", {"orderId": a}),
        ("order.fulfill", {"orderId": a}),
        ("order.refund", {"orderId": a}),
        ("order.record_payment", {"orderId": b, "mode": "cash"}),
        ("order.cancel", {"orderId": c}),
        ("subscription.renew", {"subscriptionId": sub}),
        ("subscription.cancel", {"subscriptionId": sub}),
    ]
    for action, body in steps:
        before = orjson.loads(raw(live, f"{ORDERS}/{body['orderId']}")) if "orderId" in body else None
        sb.simulate(action, **body)
        check_everything(live, orders, subs)
        if before is not None:  # the write shows: the kept by-id fragment of that order was not reused
            after = orjson.loads(raw(live, f"{ORDERS}/{body['orderId']}"))
            assert after != before, action
    # the statuses the writes derived are what the list shows (filters on the derived columns)
    paid_or_refunded = {o["_id"]: o["paymentStatus"] for o in listed(live, ORDERS)[0]}
    assert paid_or_refunded[a] == "refunded" and paid_or_refunded[b] == "paid"


def test_coupon_redemption_and_a_new_price_show_in_kept_answers(live: Live) -> None:
    sb, loc = live.sb, live.loc
    check_everything(live, [], [])
    made = sb.api("POST", "/payments/coupon", loc["token"], json={
        "altId": loc["id"], "altType": "location", "name": "Ten off", "code": "FRAG10", "discountType": "percentage",
        "discountValue": 10, "startDate": "2020-01-01T00:00:00.000Z"})
    assert made.status_code == 201, made.text
    plain = sb.simulate("order.create", locationId=loc["id"])
    item = next(r for r in plain["resources"] if r["type"] == "order")["data"]["items"][0]
    redeemed = sb.simulate("order.create", locationId=loc["id"], couponCode="FRAG10",
                           items=[{"priceId": item["price"]["_id"], "qty": 2}])
    oid = created(redeemed, "order")
    check_everything(live, [oid, created(plain, "order")], [])
    row = next(o for o in listed(live, ORDERS)[0] if o["_id"] == oid)
    assert row["couponCode"] == "FRAG10" and row["discount"] > 0


def test_totals_and_filters_stay_exact_after_writes(live: Live) -> None:
    sb, loc = live.sb, live.loc
    rows, total = listed(live, ORDERS)
    paid, paid_total = listed(live, ORDERS, paymentStatus="paid")
    assert total == len(rows) and paid_total == len(paid)
    oid = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    rows2, total2 = listed(live, ORDERS)
    assert total2 == total + 1 and rows2[0]["_id"] == oid and rows2[0]["paymentStatus"] == "unpaid"
    assert listed(live, ORDERS, paymentStatus="paid")[1] == paid_total
    sb.simulate("order.pay", orderId=oid)
    paid2, paid_total2 = listed(live, ORDERS, paymentStatus="paid")
    assert paid_total2 == paid_total + 1 == len(paid2) and paid2[0]["_id"] == oid
    first = orjson.loads(raw(live, ORDERS, limit=1))
    assert first["totalCount"] == total2 and first["data"][0]["paymentStatus"] == "paid"
    unpaid_ids = {o["_id"] for o in listed(live, ORDERS, paymentStatus="unpaid")[0]}
    assert oid not in unpaid_ids


# ---- the cache itself -----------------------------------------------------------------------------

ITEM = Form("t.item")
BY_ID = Form("t.byId", frozenset({"prices"}))


def test_a_changed_document_is_rendered_again() -> None:
    cache = FragmentCache(True, 1 << 20)
    calls: list[int] = []

    def shape(n: int) -> Any:
        calls.append(n)
        return {"n": n, "x": 1.0}

    assert cache.render(ITEM, "r1", b'{"v":1}', lambda: shape(1)) == b'{"n":1,"x":1}'
    assert cache.render(ITEM, "r1", b'{"v":1}', lambda: shape(9)) == b'{"n":1,"x":1}'  # kept
    assert cache.render(ITEM, "r1", b'{"v":2}', lambda: shape(2)) == b'{"n":2,"x":1}'  # the record changed
    assert calls == [1, 2] and len(cache) == 1


def test_writes_to_a_shown_kind_drop_only_the_forms_that_show_it() -> None:
    cache = FragmentCache(True, 1 << 20)
    cache.put(ITEM, "a", b"d", b"1")
    cache.put(BY_ID, "a", b"d", b"2")
    cache.clear("orders")  # the record's own kind: its document says whether a fragment still holds
    assert len(cache) == 2
    cache.clear("prices")
    assert cache.get(ITEM, "a", b"d") == b"1" and cache.get(BY_ID, "a", b"d") is None
    cache.clear(None)
    assert len(cache) == 0 and cache.size_bytes == 0


def test_the_byte_budget_forgets_the_least_recently_used() -> None:
    budget = 10_000
    cache = FragmentCache(True, budget)
    for i in range(200):
        cache.put(ITEM, f"r{i}", b"x" * 40, b"y" * 60)
        assert cache.size_bytes <= budget
        cache.get(ITEM, "r0", b"x" * 40)  # kept in use: never the least recently used
    assert 0 < len(cache) < 200
    assert cache.get(ITEM, "r0", b"x" * 40) == b"y" * 60
    assert cache.get(ITEM, "r1", b"x" * 40) is None  # forgotten
    assert cache.get(ITEM, "r199", b"x" * 40) == b"y" * 60
    cache.put(ITEM, "huge", b"", b"z" * (budget + 1))  # bigger than the whole budget: not kept
    assert cache.get(ITEM, "huge", b"") is None and cache.size_bytes <= budget
    off = FragmentCache(False, budget)
    assert off.render(ITEM, "r", b"d", lambda: [1]) == b"[1]" and len(off) == 0


def test_a_page_read_again_with_the_same_versions_is_answered_whole() -> None:
    """A page kept whole answers only for exactly the versions it was joined from (a version names one
    row's one document); else each record answers for itself. A write to a kind its form shows drops
    pages with the records' fragments; within the budget, pages go first."""
    cache = FragmentCache(True, 1 << 20)
    priced = Form("t.priced", frozenset({"prices"}))
    rows = [("a", 1), ("b", 2)]
    first = cache.pages(priced, "q")
    assert first.page([(1,), (2,)]) is None and not first.whole
    assert first(rows) == [None, None]
    cache.put(priced, "a", 1, b"A")
    cache.put(priced, "b", 2, b"B")
    first.keep(rows, [b"A", b"B"])
    again = cache.pages(priced, "q")
    hits = cache.hits
    assert again.page([(1,), (2,)]) == (rows, [b"A", b"B"]) and again.whole and cache.hits == hits + 2
    changed = cache.pages(priced, "q")
    assert changed.page([(1,), (3,)]) is None and not changed.whole  # b was written since
    assert changed([("a", 1), ("b", 3)]) == [b"A", None]
    other = cache.pages(priced, "another query")
    assert other.page([(1,), (2,)]) is None and other(rows) == [b"A", b"B"]  # record by record
    cache.clear("orders")  # the records' own kind: their versions say what still holds
    assert cache.pages(priced, "q").page([(1,), (2,)]) is not None
    cache.clear("prices")  # the form shows prices: its records and its pages are dropped
    dropped = cache.pages(priced, "q")
    assert dropped.page([(1,), (2,)]) is None and dropped(rows) == [None, None] and cache.size_bytes == 0
    small = FragmentCache(True, 2_000)
    small.put(ITEM, "a", 1, b"A" * 300)
    small.pages(ITEM, "q").keep([("a", 1)], [b"A" * 300])
    small.put(ITEM, "b", 1, b"B" * 1_200)  # no room for both: the page goes first, the records stay
    after = small.pages(ITEM, "q")
    assert after.page([(1,)]) is None and after([("a", 1)]) == [b"A" * 300] and small.size_bytes <= 2_000
    off = FragmentCache(False, 1 << 20)
    assert off.pages(ITEM, "q").page([(1,)]) is None and off.pages(ITEM, "q")(rows) == [None, None]


def test_a_page_of_rows_from_before_versions_is_never_answered_whole() -> None:
    """Rows of a state file from before versions all read version 0: their versions do not tell two pages
    apart, so such a page is joined record by record (by document) every time."""
    from mock_server.store import Condition, Store, TableSpec, by_created, by_location, column

    @dataclass
    class Row:
        id: str
        location_id: str
        created_at: float

    spec = TableSpec("rows", Row, (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created)),
                     ("location_id, created_at DESC, id DESC, rev",), location_scoped=True)
    store = Store(None, [spec])
    store.table(Row).put_many([Row(f"r{i}", "loc", float(i)) for i in range(3)])
    store._conn.execute("UPDATE rows SET rev = 0")  # as a file from before versions opens
    cache = FragmentCache(True, 1 << 20)
    where = [Condition("location_id", "=", "loc")]
    keeper = cache.pages(ITEM, "q")
    found = store.table(Row).page_versions(where, 2, 0, keeper)
    keeper.keep(found.rows, [b"x", b"y"])
    store._conn.execute("DELETE FROM rows WHERE id = 'r2'")  # another page now, with the same versions
    again = cache.pages(ITEM, "q")
    found = store.table(Row).page_versions(where, 2, 0, again)
    assert not again.whole and [rid for rid, _ in found.rows] == ["r1", "r0"]


def test_a_page_is_what_json_stringify_writes() -> None:
    items = [{"a": 1.5, "b": "é\u2028"}, {"c": [0.0, 1e21]}]
    assert page([jsjson.dumps(i) for i in items], 7) == jsjson.dumps({"data": items, "totalCount": 7})
    assert page([], 0) == jsjson.dumps({"data": [], "totalCount": 0})


def test_cached_totals_are_corrected_by_writes_not_recounted(live: Live) -> None:
    """A write of a few records corrects the store's cached totals (counting only those records before
    and after); every total still equals a fresh COUNT."""
    from mock_server.ghl.models import Order
    from mock_server.store import Condition

    store = live.runtime.store
    table = store.table(Order)
    loc_id = live.loc["id"]
    filters = [[Condition("location_id", "=", loc_id)],
               [Condition("location_id", "=", loc_id), Condition("payment_status", "=", "paid")],
               [Condition("location_id", "=", loc_id), Condition("payment_status", "IN", ["unpaid", "refunded"])],
               [Condition("location_id", "=", loc_id), Condition("status", "=", "cancelled")]]

    def fresh(where: list[Condition]) -> int:
        sql_where, params = store._where(where)
        return int(store._conn.execute(f"SELECT COUNT(*) FROM orders{sql_where}", params).fetchone()[0])

    for where in filters:
        table.page(where, 1, 0)  # cached now
    oid = created(live.sb.simulate("order.create", locationId=loc_id), "order")
    for action in ("order.pay", "order.refund", "order.cancel"):
        live.sb.simulate(action, orderId=oid)
        for where in filters:
            key = ("orders", *store._where(where)[:1], tuple(store._where(where)[1]))
            assert key in store._count_cache, "the write dropped the total instead of correcting it"
            assert table.page(where, 1, 0)[1] == fresh(where), (action, where)


def test_an_action_keeps_the_json_of_what_it_wrote_for_the_read_that_follows(live: Live) -> None:
    """The action's answer shows each resource as its get-by-id does; that JSON is kept, so the first
    read after the write is joined from it (a hit, no render), read before or not (the payment a pay
    creates), and equals a render from scratch."""
    sb, loc = live.sb, live.loc
    cache = live.runtime.fragments
    order = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    sub = created(sb.simulate("subscription.create", locationId=loc["id"]), "subscription")
    paths = {"order": ORDERS, "transaction": TRANSACTIONS, "subscription": SUBSCRIPTIONS}
    never_read = 0
    read: set[str] = set()
    for action, body in (("order.pay", {"orderId": order}), ("order.fulfill", {"orderId": order}),
                         ("order.refund", {"orderId": order}), ("subscription.renew", {"subscriptionId": sub})):
        answer = sb.simulate(action, **body)
        shown = [r for r in answer["resources"] if r["type"] in paths]
        assert shown, action
        for resource in shown:
            hits, misses = cache.hits, cache.misses
            path = f"{paths[resource['type']]}/{resource['id']}"
            kept = raw(live, path)
            never_read += resource["id"] not in read
            read.add(resource["id"])
            assert (cache.hits, cache.misses) == (hits + 1, misses), f"{action}: {path}"
            assert orjson.loads(kept) == resource["data"], f"{action}: {path}"
            assert raw_without(cache, live, path) == kept, f"{action}: {path}"
    assert never_read >= 2  # the payment and the refund were never read before their first read


def test_what_writes_keep_for_records_nobody_reads_is_bounded() -> None:
    cache = FragmentCache(True)
    for n in range(SEEDS_MAX + 50):
        cache.seed(BY_ID, f"r{n}", b"doc", b"{}")
    assert len(cache) == SEEDS_MAX and cache.get(BY_ID, "r0", b"doc") is None
    read = f"r{SEEDS_MAX}"
    assert cache.get(BY_ID, read, b"doc") == b"{}"  # read: no longer counted among the unread
    for n in range(SEEDS_MAX):
        cache.seed(BY_ID, f"s{n}", b"doc", b"{}")
    assert cache.get(BY_ID, read, b"doc") == b"{}" and len(cache) == SEEDS_MAX + 1
    cache.seed(BY_ID, read, b"doc2", b"[]")  # a record read before is renewed, not counted
    assert cache.get(BY_ID, read, b"doc2") == b"[]" and len(cache) == SEEDS_MAX + 1
    assert cache.get(BY_ID, f"r{SEEDS_MAX + 49}", b"doc") is None  # unread, older than the s<n> seeds


def test_kept_parts_are_embedded_as_the_same_bytes_as_shaped_in_place() -> None:
    """By-id answers embed their prices and products, contact snapshots, sources, payment providers and
    order items as JSON written once per distinct content (`shapes._part`, `shapes._order_items`): the
    bytes are those of everything shaped in place, and a changed input is shaped again."""
    from dataclasses import replace

    from mock_server.ghl.models import Fulfillment, Order, Subscription, Transaction
    from mock_server.ghl.responses import shapes
    from mock_server.ghl.world import ghl

    runtime = new_runtime(Settings(orders=60))
    payments = ghl(runtime).payments

    def in_place(value: Any) -> Any:  # the kept parts decoded, as plain values
        if isinstance(value, dict):
            return {k: in_place(v) for k, v in value.items()}
        if isinstance(value, list):
            return [in_place(v) for v in value]
        if isinstance(value, orjson.Fragment):
            return orjson.loads(orjson.dumps(value))
        return value

    def item(it: dict[str, Any], o: Order, prices: Any, products: Any) -> dict[str, Any]:
        return {**shapes.order_item(it, o, prices, products), "price": shapes.price(prices[it["price_id"]]),
                "product": shapes.product(products[it["product_id"]])}

    def order_shaped(o: Order, prices: Any, products: Any) -> dict[str, Any]:
        return {**shapes.order_detail(o, prices, products), "contactSnapshot": shapes.contact_doc(o.contact_snapshot),
                "source": shapes.source(o.source), "items": [item(it, o, prices, products) for it in o.items]}

    orders = runtime.store.table(Order).all()
    for order in orders:
        prices, products = payments.catalog([i["price_id"] for i in order.items])
        detail = shapes.order_detail(order, prices, products)
        plain = order_shaped(order, prices, products)
        assert jsjson.dumps(detail) == jsjson.dumps(plain) == jsjson.dumps(in_place(detail))
        assert jsjson.dumps(shapes.order_detail(order, prices, products)) == jsjson.dumps(detail)  # kept: the same
    for txn in runtime.store.table(Transaction).all():
        detail = shapes.transaction_detail(txn)
        plain = {**detail, "contactSnapshot": shapes.contact_doc(txn.contact_snapshot),
                 "entitySource": shapes.source(txn.source),
                 "paymentProvider": shapes.payment_provider(txn.provider_type, txn.connected_account)}
        assert jsjson.dumps(detail) == jsjson.dumps(plain) == jsjson.dumps(in_place(detail))
    for sub in runtime.store.table(Subscription).all():
        prices, products = payments.catalog([sub.price_id])
        detail = shapes.subscription_detail(sub, prices, products)
        plain = {**detail, "recurringProduct": {"product": shapes.product(products[sub.product_id]),
                                                "price": shapes.price(prices[sub.price_id])},
                 "contactSnapshot": shapes.contact_doc(sub.contact_snapshot), "entitySource": shapes.source(sub.source),
                 "paymentProvider": shapes.payment_provider(sub.provider_type, sub.connected_account)}
        assert jsjson.dumps(detail) == jsjson.dumps(plain) == jsjson.dumps(in_place(detail))
    for f in runtime.store.table(Fulfillment).all():
        found = runtime.store.table(Order).get(f.order_id)
        assert found is not None
        prices, products = payments.catalog([i["price_id"] for i in f.items])
        detail = shapes.fulfillment(f, found, prices, products)
        plain = {**detail, "items": [{**i, "price": shapes.price(prices[it["price_id"]]),
                                      "product": shapes.product(products[prices[it["price_id"]].product_id])}
                                     for i, it in zip(detail["items"], f.items, strict=True)]}
        assert jsjson.dumps(detail) == jsjson.dumps(plain) == jsjson.dumps(in_place(detail))
    # Each input that a kept part is rendered from, changed, is shaped again.
    order = orders[0]
    prices, products = payments.catalog([i["price_id"] for i in order.items])
    first = order.items[0]["price_id"]
    renamed = {**prices, first: replace(prices[first], name="Renamed", amount_minor=prices[first].amount_minor + 1)}
    assert b'"name":"Renamed"' in jsjson.dumps(shapes.order_detail(order, renamed, products))
    assert b'"name":"Renamed"' not in jsjson.dumps(shapes.order_detail(order, prices, products))
    changes = [replace(order, contact_snapshot={**order.contact_snapshot, "first_name": "Zelda"}),
               replace(order, source={**order.source, "name": "Another funnel"}),
               replace(order, items=[{**order.items[0], "name": "Another item", "qty": 7}, *order.items[1:]]),
               replace(order, currency="EUR" if order.currency != "EUR" else "GBP"),
               replace(order, location_id="another-location")]
    for changed in changes:
        answer = jsjson.dumps(shapes.order_detail(changed, prices, products))
        assert answer == jsjson.dumps(order_shaped(changed, prices, products))
        assert answer != jsjson.dumps(shapes.order_detail(order, prices, products))
    # A price written since: the catalog hands out new dicts, and the items are shaped from them.
    price = runtime.store.table(type(prices[first])).get(first)
    assert price is not None
    runtime.store.table(type(price)).put(replace(price, name="Written since"))
    fresh_prices, fresh_products = payments.catalog([i["price_id"] for i in order.items])
    assert fresh_prices is not prices
    assert b'"name":"Written since"' in jsjson.dumps(shapes.order_detail(order, fresh_prices, fresh_products))
