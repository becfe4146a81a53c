"""The response cache keeps an answer through writes that leave what it shows alone (`cache.Watch`):
a get-by-id through writes of other records, a list page through writes that move no record in, out or
along its query (`store.RowsWritten`). Every answer must still be byte for byte the uncached one, after
every kind of write."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import orjson
import pytest
from api_support import EVERYTHING, ORDERS, SUBSCRIPTIONS, TRANSACTIONS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fragment_cache import Live, created, live_sandbox, raw, raw_without

from mock_server.ghl.models import Order, Price, Transaction
from mock_server.http.cache import (
    BY_ID_FORM_PLACES,
    BY_ID_FORMS_KEPT,
    LIST_WATCHES_MAX,
    PARKED_MAX,
    RECORD_WATCHES_MAX,
    ResponseCache,
    Watch,
)
from mock_server.settings import Settings
from mock_server.store import Condition, RowsWritten, Store, TableSpec, by_created, by_location, column

# ---- the store says what a write moved -----------------------------------------------------------


@dataclass
class Task:
    id: str
    location_id: str
    created_at: float
    status: str = "open"
    text: str = ""


TASKS = TableSpec("tasks", Task, (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created),
                                  column("status", "TEXT", lambda t: t.status)))
ALL = [Condition("location_id", "=", "loc")]
OPEN = [*ALL, Condition("status", "=", "open")]


class NoKept:
    def page(self, versions: list[tuple[int]]) -> None:
        return None

    def __call__(self, rows: list[tuple[str, int]]) -> list[bytes | None]:
        return [None] * len(rows)

    def record(self, record_id: str, stamp: bytes | int) -> bytes | None:
        return None


def _store_with_pages() -> tuple[Store, list[RowsWritten | None], Any, Any]:
    store = Store(None, [TASKS])
    told: list[RowsWritten | None] = []
    store.on_write(lambda kind, change: told.append(change))
    tasks = store.table(Task)
    tasks.put_many([Task(f"t{i}", "loc", float(i)) for i in range(10)])
    every = tasks.page_versions(ALL, 3, 0, NoKept()).query
    still_open = tasks.page_versions(OPEN, 3, 0, NoKept()).query
    told.clear()
    return store, told, every, still_open


def test_a_write_that_changes_only_documents_moves_no_query() -> None:
    store, told, every, still_open = _store_with_pages()
    store.table(Task).put(Task("t1", "loc", 1.0, text="edited"))
    assert told == [RowsWritten(frozenset({"t1"}), frozenset({every, still_open}))]


def test_a_write_that_changes_a_filtered_column_moves_only_the_queries_that_filter_on_it() -> None:
    store, told, every, still_open = _store_with_pages()
    store.table(Task).put(Task("t1", "loc", 1.0, status="done"))
    assert told == [RowsWritten(frozenset({"t1"}), frozenset({every}))]


def test_a_new_row_a_new_sort_key_a_delete_and_a_big_write_move_every_query() -> None:
    store, told, every, still_open = _store_with_pages()
    tasks = store.table(Task)
    tasks.put(Task("t99", "loc", 99.0))  # new: in both queries now
    tasks.put(Task("t2", "loc", 50.0))  # same filters, another place in the order
    assert told == [RowsWritten(frozenset({"t99"}), frozenset()), RowsWritten(frozenset({"t2"}), frozenset())]
    told.clear()
    tasks.delete("t3")
    tasks.put_many([Task(f"b{i}", "loc", 200.0 + i) for i in range(40)])  # more than the store checks
    assert told[0] is None and told[1] == RowsWritten(frozenset(f"b{i}" for i in range(40)), frozenset())


def test_a_rollback_tells_every_kind_it_wrote_as_changed_in_any_way() -> None:
    store, told, _, _ = _store_with_pages()
    with pytest.raises(RuntimeError), store.transaction():
        store.table(Task).put(Task("t1", "loc", 1.0, text="undone"))
        raise RuntimeError("refused")
    assert len(told) == 2 and told[0] is not None and told[1] is None


# ---- the cache keeps what a write left alone -----------------------------------------------------


def key(n: int) -> tuple[str, bytes, str, str]:
    return f"/x/{n}", b"", "loc", "location"


QUERY = ("orders", " WHERE location_id = ?", ("loc",))
OTHER_QUERY = ("orders", " WHERE location_id = ? AND status = ?", ("loc", "paid"))


def _cache() -> ResponseCache:
    cache = ResponseCache(True, frozenset({"orders", "prices", "transactions"}))
    cache.store(key(0), 200, b"plain", b"application/json")
    cache.store(key(1), 200, b"order a", b"application/json", Watch("orders", frozenset({"a"}), shows=frozenset({"prices"})))
    cache.store(key(2), 200, b"order b", b"application/json", Watch("orders", frozenset({"b"})))
    cache.store(key(3), 200, b"page", b"application/json", Watch("orders", frozenset({"a", "c"}), QUERY))
    cache.store(key(4), 200, b"paid page", b"application/json", Watch("orders", frozenset({"c"}), OTHER_QUERY))
    return cache


def kept(cache: ResponseCache) -> list[int]:
    return [n for n in range(5) if cache.get(key(n)) is not None]


def test_a_write_of_one_record_keeps_what_does_not_show_it() -> None:
    cache = _cache()
    cache.written("orders", RowsWritten(frozenset({"b"}), frozenset({QUERY})))
    assert kept(cache) == [1, 3]  # b's answer goes, the paid page's query moved, the plain answer goes
    cache.written("orders", RowsWritten(frozenset({"a"}), frozenset({QUERY})))
    assert kept(cache) == []


def test_a_write_of_a_kind_shown_besides_or_of_unknown_extent_drops_what_shows_it() -> None:
    cache = _cache()
    cache.written("prices", None)
    assert kept(cache) == [2, 3, 4]  # the by-id answer of a shows prices
    cache.written("transactions", None)  # shown by none of the watched answers
    assert kept(cache) == [2, 3, 4]
    cache.written("orders", None)
    assert kept(cache) == [] and cache.size_bytes == 0


def test_writes_of_kinds_no_answer_shows_keep_everything_and_a_reset_drops_everything() -> None:
    cache = _cache()
    cache.written("deliveries", None)
    assert kept(cache) == [0, 1, 2, 3, 4]
    cache.written(None)
    assert kept(cache) == [] and cache.size_bytes == 0


def test_evicted_and_replaced_entries_leave_no_watch_behind() -> None:
    cache = _cache()
    cache.store(key(3), 200, b"page again", b"application/json")  # now unwatched
    cache.max_bytes = cache.size_bytes  # the next entry evicts the least recently used (0, then 1)
    cache.store(key(5), 200, b"order d", b"application/json", Watch("orders", frozenset({"d"})))
    cache.written("orders", RowsWritten(frozenset({"a", "d"}), frozenset({QUERY, OTHER_QUERY})))
    assert kept(cache) == [2, 4] and cache.get(key(5)) is None
    assert not cache._unwatched and set(cache._by_record) == {("orders", "b"), ("orders", "c")} or \
        set(cache._by_record) == {("orders", "b")}
    assert cache._by_shown == {}


def test_watched_by_id_answers_are_bounded_least_recently_used_first() -> None:
    cache = ResponseCache(True, frozenset({"orders"}))
    for n in range(RECORD_WATCHES_MAX + 10):
        cache.store(key(n), 200, b"order", b"application/json", Watch("orders", frozenset({f"o{n}"})))
        if n == RECORD_WATCHES_MAX - 1:
            assert cache.get(key(0)) is not None  # read: the most recently used now
    assert len(cache) == RECORD_WATCHES_MAX
    assert cache.get(key(0)) is not None and cache.get(key(10)) is None and cache.get(key(11)) is not None
    assert len(cache._by_record) == RECORD_WATCHES_MAX


def test_past_its_watched_lists_a_list_answer_goes_with_any_write() -> None:
    cache = ResponseCache(True, frozenset({"orders"}))
    for n in range(LIST_WATCHES_MAX + 1):
        cache.store(key(n), 200, b"page", b"application/json", Watch("orders", frozenset({"x"}), QUERY))
    cache.written("orders", RowsWritten(frozenset({"y"}), frozenset({QUERY})))
    assert len(cache) == LIST_WATCHES_MAX


# ---- through HTTP: cached answers equal uncached ones after every write -----------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """Both caches on; the test turns the response cache off to read an answer uncached."""
    with live_sandbox(Settings(orders=120, rate_limit="off")) as found:
        yield found


def reads(order_ids: list[str], sub_ids: list[str], txn_ids: list[str] = ()) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [
        (ORDERS, {}), (ORDERS, {"limit": 5, "offset": 3}), (ORDERS, {"paymentStatus": "paid"}),
        (ORDERS, {"paymentStatus": "unpaid", "limit": 50}), (ORDERS, {"status": "cancelled"}),
        (ORDERS, {"limit": EVERYTHING}), (TRANSACTIONS, {}), (TRANSACTIONS, {"limit": EVERYTHING}),
        (SUBSCRIPTIONS, {}), (SUBSCRIPTIONS, {"getPaymentsCollectedCount": "true"})]
    out += [(f"{ORDERS}/{o}", {}) for o in order_ids]
    out += [(TRANSACTIONS, {"entityId": o, "limit": EVERYTHING}) for o in order_ids]
    out += [(f"{SUBSCRIPTIONS}/{s}", {}) for s in sub_ids]
    out += [(f"{TRANSACTIONS}/{t}", {}) for t in txn_ids]
    return out


def transactions_of(live: Live, order_ids: list[str]) -> list[str]:
    table = live.runtime.store.table(Transaction)
    return [t.id for o in order_ids for t in table.all([Condition("entity_id", "=", o)])]


def check(live: Live, order_ids: list[str], sub_ids: list[str]) -> None:
    """Each read (possibly kept from before the last write, or renewed by it) equals the same read with
    the cache off."""
    for path, params in reads(order_ids, sub_ids, transactions_of(live, order_ids)):
        assert raw(live, path, **params) == raw_without(live.runtime.responses, live, path, **params), (path, params)


def payable_orders(live: Live) -> list[str]:
    """Seeded orders of the location with a balance due and no payment pending, oldest first."""
    payments = live.runtime.store.table(Transaction)
    orders = live.runtime.store.table(Order).all([Condition("location_id", "=", live.loc["id"])])
    return [o.id for o in sorted(orders, key=lambda o: o.created_at)
            if o.payment_status in ("unpaid", "partially_paid") and not o.cancelled
            and all(t.status != "pending" for t in payments.all([Condition("entity_id", "=", o.id)]))]


ACTIONS = ("order.create", "order.pay", "order.pay_old", "order.fulfill", "order.refund", "order.cancel",
           "order.record_payment", "subscription.create", "subscription.renew", "subscription.cancel", "price")


def _act(live: Live, action: str, orders: list[str], subs: list[str], old: list[str], pick: int) -> None:
    sb, loc = live.sb, live.loc["id"]
    if action == "order.create":
        orders.append(created(sb.simulate("order.create", locationId=loc), "order"))
    elif action == "subscription.create":
        subs.append(created(sb.simulate("subscription.create", locationId=loc), "subscription"))
    elif action == "order.pay_old":  # a seeded order far down the first pages: they stay
        if not old:
            return
        oid = old.pop(pick % len(old))
        orders.append(oid)
        r = sb.request("POST", "/simulate/order.pay", json={"orderId": oid})
        assert r.status_code in (200, 409), r.text
    elif action == "price":  # a price renamed behind the API: every answer that shows it goes
        prices = live.runtime.store.table(Price)
        price = prices.all()[pick % len(prices.all())]
        with live.runtime.store.transaction():
            prices.put(replace(price, name=price.name + " (renamed)"))
    elif action.startswith("order.") and orders:
        r = sb.request("POST", f"/simulate/{action}", json={"orderId": orders[pick % len(orders)],
                                                           **({"mode": "cash"} if "record" in action else {})})
        assert r.status_code in (200, 409), r.text  # a refused action (already paid, cancelled) writes nothing
    elif action.startswith("subscription.") and subs:
        r = sb.request("POST", f"/simulate/{action}", json={"subscriptionId": subs[pick % len(subs)]})
        assert r.status_code in (200, 409), r.text


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 1000)), min_size=1, max_size=5))
def test_every_cached_answer_after_every_write_equals_the_uncached_one(live: Live, steps: list[tuple[str, int]]) -> None:
    old = payable_orders(live)[:20]
    orders: list[str] = old[:2]
    subs: list[str] = []
    check(live, orders, subs)  # fills the cache: the writes below must show in what it kept
    for action, pick in steps:
        _act(live, action, orders, subs, old[2:], pick)
        check(live, orders, subs)


def test_a_payment_elsewhere_keeps_the_pages_it_did_not_move_and_other_orders(live: Live) -> None:
    """The read after a write is served from the cache when the write left it alone, and is still what
    an uncached read gives."""
    cache = live.runtime.responses
    loc = live.loc["id"]
    paid, other = (created(live.sb.simulate("order.create", locationId=loc), "order") for _ in range(2))
    second_page = raw(live, ORDERS, limit=10, offset=10)  # the new orders are the first two of the first page
    other_order = raw(live, f"{ORDERS}/{other}")
    live.sb.simulate("order.pay", orderId=paid)
    hits = cache.hits
    assert raw(live, ORDERS, limit=10, offset=10) == second_page and raw(live, f"{ORDERS}/{other}") == other_order
    assert cache.hits == hits + 2
    assert paid.encode() in raw(live, ORDERS, paymentStatus="paid")  # that filter moved: read afresh
    assert cache.hits == hits + 2
    check(live, [paid, other], [])


def test_the_read_after_a_write_of_a_record_read_before_is_answered_with_what_the_write_answered(live: Live) -> None:
    """An action renews the by-id answers its writes dropped with the JSON it answers with: the get
    after it is a hit, equal to the uncached read, under the reader's own query."""
    cache = live.runtime.responses
    oid = created(live.sb.simulate("order.create", locationId=live.loc["id"]), "order")
    before = raw(live, f"{ORDERS}/{oid}", locationId=live.loc["id"])
    answer = live.sb.simulate("order.pay", orderId=oid)
    txn = next(r for r in answer["resources"] if r["type"] == "transaction")["id"]
    raw(live, f"{TRANSACTIONS}/{txn}")
    answer = live.sb.request("POST", "/simulate/order.fulfill", json={"orderId": oid})
    assert answer.status_code == 200, answer.text
    hits = cache.hits
    after = raw(live, f"{ORDERS}/{oid}", locationId=live.loc["id"])
    assert cache.hits == hits + 1 and after != before
    assert after == raw_without(cache, live, f"{ORDERS}/{oid}", locationId=live.loc["id"])
    order = next(r for r in answer.json()["resources"] if r["type"] == "order")
    assert orjson.loads(after) == order["data"]
    refund = live.sb.request("POST", "/simulate/order.refund", json={"orderId": oid})
    assert refund.status_code == 200, refund.text
    hits = cache.hits
    assert raw(live, f"{TRANSACTIONS}/{txn}") == raw_without(cache, live, f"{TRANSACTIONS}/{txn}")
    assert cache.hits == hits + 1
    check(live, [oid], [])


def test_an_order_with_a_payment_pending_is_not_renewed_its_reads_count(live: Live) -> None:
    """A poll of an order whose payment settles after N polls changes it: the payment's action keeps
    no answer for it, and each read counts (the second settles the payment)."""
    cache = live.runtime.responses
    oid = created(live.sb.simulate("order.create", locationId=live.loc["id"]), "order")
    raw(live, f"{ORDERS}/{oid}")
    live.sb.simulate("order.pay", orderId=oid, pending={"polls": 2})
    hits = cache.hits
    first = orjson.loads(raw(live, f"{ORDERS}/{oid}"))
    assert cache.hits == hits and first["paymentStatus"] != "paid"
    second = orjson.loads(raw(live, f"{ORDERS}/{oid}"))
    assert cache.hits == hits and second["paymentStatus"] == "paid"
    check(live, [oid], [])


def test_renewal_is_bounded_and_forgets_what_it_may_not_renew() -> None:
    cache = _cache()
    for n in range(PARKED_MAX + 5):
        cache.store(key(n), 200, b"{}", b"application/json", Watch("orders", frozenset({f"o{n}"})))
        cache.written("orders", RowsWritten(frozenset({f"o{n}"}), frozenset()))
    assert not cache.renewable("orders", "o0") and cache.renewable("orders", f"o{PARKED_MAX + 4}")
    assert cache._parked_count == PARKED_MAX
    cache.renew("orders", "o5", None)  # forgotten, not answered
    assert not cache.renewable("orders", "o5") and key(5) not in cache._entries
    cache.renew("orders", f"o{PARKED_MAX}", b'{"new":1}')
    assert cache.get(key(PARKED_MAX)) is not None and cache._entries[key(PARKED_MAX)].body == b'{"new":1}'
    cache.written(None)
    assert not cache.renewable("orders", f"o{PARKED_MAX + 1}") and cache._parked_count == 0


def test_a_record_nobody_read_yet_is_answered_under_the_by_id_reads_seen_in_its_location(live: Live) -> None:
    """Once an order of the location was read by id, an action's new or changed order is answered
    under that same read's form (path around the id, query string, token class) before anyone reads
    it: the first get is a hit, equal to the uncached read and to the action's answer. Another query
    string is a form not seen: read afresh."""
    cache = live.runtime.responses
    loc = live.loc["id"]
    seen = created(live.sb.simulate("order.create", locationId=loc), "order")
    raw(live, f"{ORDERS}/{seen}")  # the form: GET /payments/orders/{id}?altId=..&altType=location
    answer = live.sb.simulate("order.create", locationId=loc)
    fresh = created(answer, "order")
    hits = cache.hits
    first = raw(live, f"{ORDERS}/{fresh}")
    assert cache.hits == hits + 1
    assert first == raw_without(cache, live, f"{ORDERS}/{fresh}")
    assert orjson.loads(first) == next(r for r in answer["resources"] if r["type"] == "order")["data"]
    paid = live.sb.simulate("order.pay", orderId=fresh)
    hits = cache.hits
    after = raw(live, f"{ORDERS}/{fresh}")
    assert cache.hits == hits + 1 and after != first
    assert orjson.loads(after) == next(r for r in paid["resources"] if r["type"] == "order")["data"]
    hits = cache.hits
    reordered = live.sb.api("GET", f"{ORDERS}/{fresh}", live.loc["token"], params={"altType": "location", "altId": loc})
    assert reordered.status_code == 200 and reordered.content == after  # a query string nobody read with yet
    assert cache.hits == hits
    check(live, [seen, fresh], [])


def test_an_unread_order_with_a_payment_pending_is_not_answered_ahead_its_reads_count(live: Live) -> None:
    cache = live.runtime.responses
    loc = live.loc["id"]
    raw(live, f"{ORDERS}/{created(live.sb.simulate('order.create', locationId=loc), 'order')}")
    oid = created(live.sb.simulate("order.create", locationId=loc), "order")
    live.sb.simulate("order.pay", orderId=oid, pending={"polls": 2})
    hits = cache.hits
    assert orjson.loads(raw(live, f"{ORDERS}/{oid}"))["paymentStatus"] != "paid"
    assert orjson.loads(raw(live, f"{ORDERS}/{oid}"))["paymentStatus"] == "paid"  # the second poll settled it
    assert cache.hits == hits
    check(live, [oid], [])


def test_by_id_forms_are_learned_from_by_id_reads_only_and_bounded() -> None:
    cache = ResponseCache(True, frozenset({"orders"}))
    watch = Watch("orders", frozenset({"o1"}))
    for n in range(BY_ID_FORMS_KEPT + 2):  # one location, more query strings than are kept
        cache.store(key(0), 200, b"{}", b"application/json", watch)  # stored (a renewal), not read: no form
        cache._learn((f"/p/o1/{n}", b"q=%d" % n, "loc", "location"), b"application/json", watch)
    assert len(cache._forms[("orders", "loc")]) == BY_ID_FORMS_KEPT
    cache._learn(("/p/o1o1", b"", "loc2", "location"), b"application/json", watch)  # the id twice: no form
    cache._learn(("/p/o1", b"", "", "company"), b"application/json", watch)  # no location: no form
    assert set(cache._forms) == {("orders", "loc")}
    assert cache.renewable("orders", "o9", "loc") and not cache.renewable("orders", "o9", "loc2")
    cache.renew("orders", "o9", b'{"o":9}', "loc")
    n = BY_ID_FORMS_KEPT + 1  # the newest form is kept, the oldest went
    assert cache.get((f"/p/o9/{n}", b"q=%d" % n, "loc", "location")) is not None
    assert cache.get(("/p/o9/0", b"q=0", "loc", "location")) is None
    assert len(cache) == BY_ID_FORMS_KEPT + 1  # key(0) and one answer per form
    cache.written("orders", RowsWritten(frozenset({"o9"}), frozenset()))  # watched as a by-id answer of o9
    assert len(cache) == 1
    for place in range(BY_ID_FORM_PLACES + 3):
        cache._learn((f"/p/o1/{place}", b"", f"l{place}", "location"), b"application/json", watch)
    assert len(cache._forms) == BY_ID_FORM_PLACES and ("orders", "loc") not in cache._forms
    cache.written(None)
    assert not cache._forms


def test_a_price_renamed_shows_in_the_order_that_names_it(live: Live) -> None:
    """An order's answer shows its items' prices: a write of prices drops it, whatever order it was."""
    oid = created(live.sb.simulate("order.create", locationId=live.loc["id"]), "order")
    before = raw(live, f"{ORDERS}/{oid}")
    prices = live.runtime.store.table(Price)
    order = live.runtime.store.table(Order).get(oid)
    assert order is not None
    price = prices.get(order.items[0]["price_id"])
    assert price is not None
    with live.runtime.store.transaction():
        prices.put(replace(price, name="Renamed behind the API"))
    after = raw(live, f"{ORDERS}/{oid}")
    assert after != before and b"Renamed behind the API" in after
    check(live, [oid], [])
