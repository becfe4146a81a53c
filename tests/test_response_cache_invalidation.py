"""Issue 14: a write drops only the cached GET answers it can change (mock_server/http/cache.py).

A read after every kind of write shows the write, byte for byte what a fresh render gives; answers the
write cannot change stay cached (another location's pages, the same location's pages the written order
is not on and does not enter or leave) and are still correct; totals and filters stay exact. Real HTTP
on a loopback port; the runtime is reached to look inside the cache and to render without it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from api_support import EVERYTHING, ORDERS, SUBSCRIPTIONS, TRANSACTIONS, params_for, second_location

from mock_server.app import build_app, new_runtime
from mock_server.ghl.models import Order
from mock_server.http.cache import ResponseCache, Shows
from mock_server.runtime import Runtime
from mock_server.settings import Settings
from mock_server.store import Change, Condition
from mock_server.testing import SandboxClient


@dataclass
class Live:
    sb: SandboxClient
    runtime: Runtime
    loc: dict[str, Any]
    other: dict[str, Any]


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """A sandbox with both caches on, on a loopback port, whose runtime the test can reach."""
    settings = Settings(orders=120, rate_limit="off")
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
    first, other = sb.location(0), second_location(sb)
    try:
        yield Live(sb, runtime, {"id": first["locationId"], "token": first["tokens"][0]["token"]},
                   {"id": other["id"], "token": other["token"]})
    finally:
        sb.close()
        server.should_exit = True
        thread.join(10)


def raw(live: Live, loc: dict[str, Any], path: str, **params: Any) -> bytes:
    r = live.sb.api("GET", path, loc["token"], params=params_for(path, loc, **params))
    assert r.status_code == 200, f"{path} {params} -> {r.status_code} {r.text[:300]}"
    return r.content


def fresh(live: Live, loc: dict[str, Any], path: str, **params: Any) -> bytes:
    """The answer rendered now, past the response cache (an empty, disabled one stands in for it)."""
    kept = live.runtime.responses
    live.runtime.responses = ResponseCache(False, kept.visible_kinds)
    try:
        return raw(live, loc, path, **params)
    finally:
        live.runtime.responses = kept


def cached(live: Live, loc: dict[str, Any], path: str, **params: Any) -> bool:
    """Whether the answer to this GET is in the response cache now (looked up, not asked: asking would
    cache it)."""
    query = httpx.URL("http://sandbox" + path, params=params_for(path, loc, **params)).query
    return any(k[0] == path and k[1] == query for k in live.runtime.responses._entries)


def created(result: dict[str, Any], kind: str) -> str:
    return next(r["id"] for r in result["resources"] if r["type"] == kind)


READS: list[tuple[str, dict[str, Any]]] = [
    (ORDERS, {}), (ORDERS, {"limit": 20}), (ORDERS, {"limit": 5, "offset": 3}), (ORDERS, {"paymentStatus": "paid"}),
    (ORDERS, {"paymentStatus": "unpaid"}), (ORDERS, {"paymentStatus": "refunded"}), (ORDERS, {"status": "cancelled"}),
    (ORDERS, {"limit": EVERYTHING}), (TRANSACTIONS, {}), (TRANSACTIONS, {"limit": EVERYTHING}),
    (SUBSCRIPTIONS, {}), (SUBSCRIPTIONS, {"limit": EVERYTHING}), (SUBSCRIPTIONS, {"getPaymentsCollectedCount": "true"}),
]


def reads_of(order_ids: list[str], subscription_ids: list[str], txn_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out = list(READS)
    out += [(f"{ORDERS}/{o}", {}) for o in order_ids]
    out += [(TRANSACTIONS, {"entityId": o, "limit": EVERYTHING}) for o in order_ids]
    out += [(f"{TRANSACTIONS}/{t}", {}) for t in txn_ids]
    out += [(f"{SUBSCRIPTIONS}/{s}", {}) for s in subscription_ids]
    return out


def all_current(live: Live, loc: dict[str, Any], reads: list[tuple[str, dict[str, Any]]]) -> None:
    """Every read (cached or not) answers what a fresh render answers."""
    for path, params in reads:
        assert raw(live, loc, path, **params) == fresh(live, loc, path, **params), (path, params)


def test_a_read_after_every_kind_of_write_shows_the_write(live: Live) -> None:
    sb, loc = live.sb, live.loc
    a = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    b = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    c = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    sub = created(sb.simulate("subscription.create", locationId=loc["id"]), "subscription")
    txns: list[str] = []
    reads = reads_of([a, b, c], [sub], txns)
    for path, params in reads:  # everything cached before the writes
        raw(live, loc, path, **params)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("order.pay", {"orderId": a}), ("order.fulfill", {"orderId": a}), ("order.refund", {"orderId": a}),
        ("order.record_payment", {"orderId": b, "mode": "cash"}), ("order.cancel", {"orderId": c}),
        ("subscription.renew", {"subscriptionId": sub}), ("subscription.cancel", {"subscriptionId": sub}),
        ("order.create", {}),
    ]
    for action, body in steps:
        before = {(p, tuple(sorted(q.items()))): raw(live, loc, p, **q) for p, q in reads}
        result = sb.simulate(action, locationId=loc["id"], **body)
        txns += [r["id"] for r in result["resources"] if r["type"] == "transaction"]
        reads = reads_of([a, b, c], [sub], txns)
        all_current(live, loc, reads)
        if "orderId" in body:  # the written order's own answer changed, and shows it
            path = f"{ORDERS}/{body['orderId']}"
            assert raw(live, loc, path) != before[(path, ())], action
        changed = [k for k, v in before.items() if raw(live, loc, k[0], **dict(k[1])) != v]
        assert changed, f"{action}: no answer changed"


def test_another_locations_pages_are_kept_and_still_correct(live: Live) -> None:
    sb, loc, other = live.sb, live.loc, live.other
    theirs = [(ORDERS, {}), (ORDERS, {"limit": 5, "offset": 2}), (TRANSACTIONS, {}), (SUBSCRIPTIONS, {})]
    first = orjson.loads(raw(live, other, ORDERS, limit=1))["data"][0]["_id"]
    theirs.append((f"{ORDERS}/{first}", {}))
    for path, params in theirs:
        raw(live, other, path, **params)
        assert cached(live, other, path, **params)
    oid = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    for action in ("order.pay", "order.fulfill", "order.refund"):
        sb.simulate(action, orderId=oid, locationId=loc["id"])
        for path, params in theirs[:2]:  # lists of orders: a write elsewhere does not touch them
            assert cached(live, other, path, **params), (action, path, params)
        for path, params in theirs:
            assert raw(live, other, path, **params) == fresh(live, other, path, **params), (action, path)


def test_a_page_the_write_does_not_reach_is_kept_and_one_it_reaches_is_not(live: Live) -> None:
    sb, loc = live.sb, live.loc
    old = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    for _ in range(6):  # `old` is past the first page of five now
        sb.simulate("order.create", locationId=loc["id"])
    top = orjson.loads(raw(live, loc, ORDERS, limit=5))
    assert old not in [o["_id"] for o in top["data"]]
    unpaid = orjson.loads(raw(live, loc, ORDERS, limit=5, paymentStatus="unpaid"))
    raw(live, loc, f"{ORDERS}/{top['data'][0]['_id']}")
    sb.simulate("order.pay", orderId=old, locationId=loc["id"])
    # Not on the page, still in the list, same place: the newest five and the total are unchanged.
    assert cached(live, loc, ORDERS, limit=5)
    assert raw(live, loc, ORDERS, limit=5) == fresh(live, loc, ORDERS, limit=5)
    assert orjson.loads(raw(live, loc, ORDERS, limit=5))["totalCount"] == top["totalCount"]
    # Another order's answer is kept too (no payment of it was written).
    assert raw(live, loc, f"{ORDERS}/{top['data'][0]['_id']}") == fresh(live, loc, f"{ORDERS}/{top['data'][0]['_id']}")
    # It left the unpaid list: that total changed, and the answer shows it.
    after = orjson.loads(raw(live, loc, ORDERS, limit=5, paymentStatus="unpaid"))
    assert after["totalCount"] == unpaid["totalCount"] - 1
    assert raw(live, loc, ORDERS, limit=5, paymentStatus="unpaid") == fresh(live, loc, ORDERS, limit=5,
                                                                           paymentStatus="unpaid")
    # A payment of an order on the page drops the page, and the page shows it.
    newest = top["data"][0]["_id"]
    sb.simulate("order.pay", orderId=newest, locationId=loc["id"])
    page = orjson.loads(raw(live, loc, ORDERS, limit=5))
    assert page["data"][0]["_id"] == newest and page["data"][0]["paymentStatus"] == "paid"
    assert raw(live, loc, ORDERS, limit=5) == fresh(live, loc, ORDERS, limit=5)
    # A new order enters the list: the first page and the total change.
    new = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    page = orjson.loads(raw(live, loc, ORDERS, limit=5))
    assert page["data"][0]["_id"] == new and page["totalCount"] == top["totalCount"] + 1


def test_a_catalog_write_drops_the_answers_that_show_the_catalog(live: Live) -> None:
    """Orders show their prices and products: a price write drops both order forms' answers."""
    sb, loc = live.sb, live.loc
    oid = created(sb.simulate("order.create", locationId=loc["id"]), "order")
    raw(live, loc, f"{ORDERS}/{oid}")
    raw(live, loc, ORDERS, limit=5)
    assert cached(live, loc, f"{ORDERS}/{oid}") and cached(live, loc, ORDERS, limit=5)
    from mock_server.ghl.models import Price

    prices = live.runtime.store.table(Price)
    price = prices.all([Condition("location_id", "=", loc["id"])])[0]
    prices.put(price)
    assert not cached(live, loc, f"{ORDERS}/{oid}") and not cached(live, loc, ORDERS, limit=5)
    assert raw(live, loc, f"{ORDERS}/{oid}") == fresh(live, loc, f"{ORDERS}/{oid}")


# ---- the rules, without HTTP ----------------------------------------------------------------------

def _shows(records: dict[str, set[str]] | None = None, lists: dict[str, set[Any]] | None = None,
           kinds: set[str] | None = None) -> Shows:
    return Shows(records=records or {}, lists=lists or {}, kinds=kinds or set())


def test_change_rules() -> None:
    key_a = ("orders", " WHERE location_id = ?", ("A",))
    key_b = ("orders", " WHERE location_id = ?", ("B",))
    cache = ResponseCache(True, frozenset({"orders", "transactions", "prices", "locations"}))
    entries = {
        "page_a": _shows({"orders": {"o1", "o2"}}, {"orders": {key_a}}, {"prices"}),
        "page_b": _shows({"orders": {"o9"}}, {"orders": {key_b}}),
        "order_o1": _shows({"orders": {"o1"}}, kinds={"prices", "transactions"}),
        "order_o3": _shows({"orders": {"o3"}}),
        "undeclared": None,
    }

    def fill() -> None:
        cache.clear()
        for name, shows in entries.items():
            cache.store((name, b"", "", "location"), 200, name.encode(), b"application/json", shows)

    def left(change: Change) -> set[str]:
        fill()
        cache.changed(change)
        return {k[0] for k in cache._entries}

    # o3 written, both lists provably in place: only o3's answer and the undeclared one go.
    assert left(Change("orders", frozenset({"o3"}), frozenset({key_a, key_b}))) == {"page_a", "page_b", "order_o1"}
    # o3 written, list A moved (o3 entered or left it): page A goes too.
    assert left(Change("orders", frozenset({"o3"}), frozenset({key_b}))) == {"page_b", "order_o1"}
    # o1 written: its page and its answer go, whatever the lists.
    assert left(Change("orders", frozenset({"o1"}), frozenset({key_a, key_b}))) == {"page_b", "order_o3"}
    # Not known which orders: every answer that shows orders goes.
    assert left(Change("orders")) == set()
    # A transaction: the answers that declared the kind, and the undeclared (a visible kind).
    assert left(Change("transactions", frozenset({"t1"}))) == {"page_a", "page_b", "order_o3"}
    # A kind the APIs do not show, declared by nobody: everything stays.
    assert left(Change("events", frozenset({"e1"}))) == set(entries)
    # A location: everything goes.
    assert left(Change("locations", frozenset({"l1"}))) == set()
    # The index is emptied with the entries (nothing left behind for dropped answers).
    fill()
    cache.changed(Change("orders"))
    cache.changed(Change("prices"))
    cache.changed(Change("transactions"))
    assert len(cache) == 0 and not cache._index and cache.size_bytes == 0


def test_the_store_tells_which_lists_a_write_left_in_place(live: Live) -> None:
    store = live.runtime.store
    table = store.table(Order)
    loc_id = live.loc["id"]
    everything = [Condition("location_id", "=", loc_id)]
    unpaid = [Condition("location_id", "=", loc_id), Condition("payment_status", "=", "unpaid")]
    seen: list[Change] = []
    store.on_change(seen.append)
    try:
        oid = created(live.sb.simulate("order.create", locationId=loc_id), "order")
        for where in (everything, unpaid):
            table.page(where, 1, 0)  # both totals cached
        seen.clear()
        live.sb.simulate("order.pay", orderId=oid, locationId=loc_id)
        orders = [c for c in seen if c.kind == "orders"]
        assert orders and all(c.ids == frozenset({oid}) for c in orders)
        assert table.list_key(everything) in orders[-1].unmoved  # still in the list, same place
        assert table.list_key(unpaid) not in orders[-1].unmoved  # it left the unpaid list
    finally:
        store._change_listeners.remove(seen.append)


def test_a_rolled_back_write_tells_the_caches_again() -> None:
    runtime = new_runtime(Settings(orders=10, rate_limit="off"))
    store = runtime.store
    seen: list[Change] = []
    store.on_change(seen.append)
    table = store.table(Order)
    order = table.all()[0]
    before = table.all([Condition("id", "=", order.id)])[0]
    with pytest.raises(RuntimeError), store.transaction():
        order.status = "cancelled"
        table.put(order)
        assert table.all([Condition("id", "=", order.id)])[0].status == "cancelled"  # seen inside
        raise RuntimeError("refused")
    assert table.all([Condition("id", "=", order.id)])[0].status == before.status  # kept answers forgotten
    assert seen[-1] == Change("orders")  # the whole kind told again after the rollback


def test_kept_query_answers_follow_writes_and_keep_to_their_budget() -> None:
    """The store's kept `all()` answers and documents: a read after a write shows it; the bytes kept stay
    within the budget however many distinct queries are asked."""
    from mock_server import store as store_module

    runtime = new_runtime(Settings(orders=40, rate_limit="off"))
    store = runtime.store
    table = store.table(Order)
    order = table.all()[0]
    where = [Condition("id", "=", order.id)]
    assert table.all(where)[0].status == order.status
    assert table.get(order.id) is not None  # read by id: its documents are kept from now on
    order.status = "cancelled"
    table.put(order)
    assert table.all(where)[0].status == "cancelled" and table.get(order.id).status == "cancelled"  # type: ignore[union-attr]
    for row in table.all():
        table.all([Condition("id", "=", row.id)])
        table.all([Condition("contact_id", "=", row.contact_id)])
        assert store._all_size <= store_module.ALL_CACHE_BYTES
    assert store._all_size == sum(store_module._answer_bytes(d) for a in store._all_docs.values() for d in a.values())
