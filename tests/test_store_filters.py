"""Cached totals kept exact across writes without reading the written rows back: the store decides a
counted query's filter on a put's rows in Python only where it is certain to agree with SQLite, and
starts a put from what the last put of the same records found."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.store import Condition, Store, TableSpec, _holds, by_created, by_location, column


@dataclass
class Item:
    id: str
    location_id: str
    created_at: float
    status: str = "open"
    size: int = 0
    label: str | None = None


SPEC = TableSpec("items", Item, (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created),
                                 column("status", "TEXT", lambda r: r.status), column("size", "INTEGER", lambda r: r.size),
                                 column("label", "TEXT", lambda r: r.label)),
                 ("location_id, created_at DESC, id DESC, rev",), location_scoped=True)

# What a column may hold or be compared with: the types the store binds, and the awkward ones.
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.integers(2**53 - 2, 2**63 - 1),
                   st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, -1.0, 2.0, 1e300]),
                   st.text(max_size=4), st.sampled_from(["a", "A", "ab", "é", "1", "", "%", "a_"]))
OPS = st.sampled_from(["=", ">=", "<=", "IN", "INSTR", "LIKE"])


@settings(max_examples=600, deadline=None)
@given(sql_type=st.sampled_from(["TEXT", "INTEGER", "REAL"]), value=VALUES, op=OPS,
       param=VALUES, params=st.lists(VALUES, max_size=3))
def test_a_filter_decided_in_python_agrees_with_sqlite(sql_type: str, value: Any, op: str, param: Any,
                                                      params: list[Any]) -> None:
    condition = Condition("c", op, params if op == "IN" else param)
    verdict = _holds(condition, sql_type, value)
    if verdict is None:
        return  # not certain: the store asks SQLite
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t (id TEXT PRIMARY KEY, c {sql_type})")
    conn.execute("INSERT INTO t VALUES ('x', ?)", (value,))
    where, args = Store._where([condition])
    assert conn.execute(f"SELECT COUNT(*) FROM t{where}", args).fetchone()[0] == int(verdict), (value, condition)


def test_nan_infinities_big_integers_like_and_mixed_types_are_left_to_sqlite() -> None:
    assert _holds(Condition("c", "=", 1.0), "REAL", math.nan) is None
    assert _holds(Condition("c", ">=", 0), "REAL", math.inf) is None
    assert _holds(Condition("c", "=", 2**60), "INTEGER", 2**60) is None
    assert _holds(Condition("c", "LIKE", "a%"), "TEXT", "abc") is None
    assert _holds(Condition("c", "=", 5), "TEXT", "5") is None
    assert _holds(Condition("c", "=", "a"), "TEXT", None) is False  # NULL matches nothing
    assert _holds(Condition("c", "=", None), "TEXT", "a") is False


def test_totals_follow_puts_without_reading_the_written_rows_back() -> None:
    store = Store(None, [SPEC])
    table = store.table(Item)
    table.put_many([Item(f"i{n}", "loc", float(n), size=n) for n in range(5)])
    here = [Condition("location_id", "=", "loc")]
    open_big = [*here, Condition("status", "=", "open"), Condition("size", ">=", 2)]
    assert table.count(here) == 5 and table.count(open_big) == 3
    queries: list[str] = []
    store._conn.set_trace_callback(queries.append)

    def read_back(item: Item) -> int:
        queries.clear()
        table.put(item)
        return sum(q.startswith("SELECT id, created_at") for q in queries)

    # Before a write, one read per counted query of what the record matched; after it, none: the filters
    # are decided on the row as written.
    assert read_back(Item("i3", "loc", 3.0, status="closed", size=3)) == 2  # leaves open_big
    assert read_back(Item("i9", "loc", 9.0, size=9)) == 2  # a new record: joins both
    # The same record again: the last put of the kind found what it matches, nothing to read at all.
    assert read_back(Item("i9", "loc", 9.0, status="closed", size=9)) == 0  # leaves open_big
    queries.clear()
    assert table.count(here) == 6 and table.count(open_big) == 2  # i2 and i4: kept exactly
    assert not any("COUNT" in q for q in queries)  # both totals were kept, not counted again
    assert store._conn.execute("SELECT COUNT(*) FROM items WHERE status = 'open' AND size >= 2").fetchone()[0] == 2
    searched = [*here, Condition("label", "LIKE", "x%")]  # not decided in Python: read back, still exact
    assert table.count(searched) == 0
    queries.clear()
    table.put(Item("i1", "loc", 1.0, label="xy"))
    assert any(q.startswith("SELECT id, created_at") and "LIKE" in q for q in queries)
    assert table.count(searched) == 1 and table.count(here) == 6
    store._conn.set_trace_callback(None)


def test_a_rollback_or_another_write_forgets_what_the_last_put_matched() -> None:
    store = Store(None, [SPEC])
    table = store.table(Item)
    table.put_many([Item("a", "loc", 1.0), Item("b", "loc", 2.0)])
    here = [Condition("location_id", "=", "loc"), Condition("status", "=", "open")]
    assert table.count(here) == 2
    table.put(Item("a", "loc", 1.0, status="closed"))
    assert table.count(here) == 1
    try:
        with store.transaction():
            table.put(Item("a", "loc", 1.0))  # open again, then undone
            raise RuntimeError
    except RuntimeError:
        pass
    assert table.count(here) == 1
    table.put(Item("a", "loc", 1.0))  # starts from the stored row, not from the undone put
    assert table.count(here) == 2
    table.delete("b")
    table.put(Item("a", "loc", 1.0, status="closed"))
    assert table.count(here) == 0
    assert store._conn.execute("SELECT COUNT(*) FROM items WHERE status = 'open'").fetchone()[0] == 0
