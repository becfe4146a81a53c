"""What the store and the payments service keep between reads, and when they let it go: a read-mostly
table's `all()` answers (until a write of the kind or a rollback), the catalog of prices and products
(until a write of either, or a rollback), meta values (until a rollback, an import or a restore)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from test_store_versions import HERE, SPEC, Note

from mock_server.store import Store, TableSpec, by_created, by_location, column


@dataclass
class Setting(Note):
    """A note kept in a read-mostly table (a record type names one table)."""


FEW = TableSpec("few", Setting, (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created)),
                read_mostly=True)


def test_a_read_mostly_tables_answers_are_kept_until_its_next_write_or_a_rollback() -> None:
    store = Store(None, [FEW, SPEC])
    table = store.table(Setting)
    table.put_many([Setting("a", "loc", 1.0, "one"), Setting("b", "loc", 2.0, "two")])
    queries: list[str] = []
    store._conn.set_trace_callback(queries.append)
    first = table.all(HERE)
    first[0].text = "changed by the caller"  # each answer is decoded afresh: the kept one is untouched
    again = table.all(HERE)
    assert [n.text for n in again] == ["one", "two"]
    assert sum("SELECT doc FROM few" in q for q in queries) == 1  # the second answer was kept
    store.table(Note).put(Note("n", "loc", 1.0))  # a write of another kind keeps it
    assert len(table.all(HERE)) == 2 and sum("SELECT doc FROM few" in q for q in queries) == 1
    table.put(Setting("c", "loc", 3.0, "three"))
    assert [n.id for n in table.all(HERE)] == ["a", "b", "c"]  # a write of the kind drops what was kept
    with pytest.raises(RuntimeError), store.transaction():
        table.put(Setting("d", "loc", 4.0, "rolled back"))
        assert [n.id for n in table.all(HERE)] == ["a", "b", "c", "d"]  # kept inside the transaction...
        raise RuntimeError
    assert [n.id for n in table.all(HERE)] == ["a", "b", "c"]  # ...and dropped by its rollback
    store._conn.set_trace_callback(None)


def test_the_payments_catalog_is_kept_until_prices_or_products_change_or_a_rollback() -> None:
    from mock_server.app import new_runtime
    from mock_server.ghl.models import Order, Price
    from mock_server.ghl.world import Ghl
    from mock_server.settings import Settings

    runtime = new_runtime(Settings(orders=3, rate_limit="off"))
    payments = runtime.part(Ghl).payments
    prices = runtime.store.table(Price)
    wanted = [item["price_id"] for item in runtime.store.table(Order).all()[0].items]
    first = payments.catalog(wanted)
    assert payments.catalog(wanted)[0] is first[0]  # kept: the same answer
    runtime.store.table(Order).put(runtime.store.table(Order).all()[0])  # another kind: still kept
    assert payments.catalog(wanted)[0] is first[0]
    price = prices.get(wanted[0])
    assert price is not None
    prices.put(dataclasses.replace(price, name="Renamed"))
    assert payments.catalog(wanted)[0][wanted[0]].name == "Renamed"  # a price write: asked again
    with pytest.raises(RuntimeError), runtime.store.transaction():
        prices.put(dataclasses.replace(price, name="Rolled back"))
        assert payments.catalog(wanted)[0][wanted[0]].name == "Rolled back"
        raise RuntimeError
    assert payments.catalog(wanted)[0][wanted[0]].name == "Renamed"  # the rollback: asked again


def test_meta_values_are_read_once_and_follow_rollbacks_imports_and_restores() -> None:
    store = Store(None, [SPEC])
    store.set_meta("seq", 1)
    queries: list[str] = []
    store._conn.set_trace_callback(queries.append)
    assert store.get_meta("seq") == 1 and store.get_meta("missing") is None
    assert store.get_meta("seq") == 1 and store.get_meta("missing") is None
    assert sum("FROM meta" in q for q in queries) == 1  # the written value was kept; the missing one read once
    store.set_meta("index", {"a": 1})
    store.get_meta("index")["a"] = 2  # decoded afresh: the caller's change is not kept
    assert store.get_meta("index") == {"a": 1}
    with pytest.raises(RuntimeError), store.transaction():
        store.set_meta("seq", 2)
        assert store.get_meta("seq") == 2
        raise RuntimeError("undo")
    assert store.get_meta("seq") == 1  # the rollback undid the value kept with it
    saved = store.snapshot()
    store.set_meta("seq", 3)
    store.restore(saved)
    assert store.get_meta("seq") == 1
    store.import_({"tables": {}, "meta": {"other": True}})
    assert store.get_meta("seq") is None and store.get_meta("other") is True



def test_a_put_of_a_few_records_keeps_their_documents_for_reads_by_id_until_a_rollback() -> None:
    store = Store(None, [SPEC])
    table = store.table(Note)
    table.put(Note("a", "loc", 1.0, "one"))
    queries: list[str] = []
    store._conn.set_trace_callback(queries.append)
    got = table.get("a")
    assert got is not None and got.text == "one"
    assert table.stored_doc("a") == table.doc(Note("a", "loc", 1.0, "one"))
    assert not any("SELECT" in q for q in queries)  # both answered from what the put wrote
    got.text = "changed by the caller"  # decoded afresh: the kept document is untouched
    assert table.get("a").text == "one"  # type: ignore[union-attr]
    table.put(Note("b", "loc", 2.0, "two"))  # another put of the kind: "a" is read from SQLite again
    assert table.get("a").text == "one" and sum("SELECT doc FROM notes" in q for q in queries) == 1  # type: ignore[union-attr]
    with pytest.raises(RuntimeError), store.transaction():
        table.put(Note("b", "loc", 2.0, "rolled back"))
        assert table.get("b").text == "rolled back"  # type: ignore[union-attr]
        raise RuntimeError
    assert table.get("b").text == "two" and table.stored_doc("b") == table.doc(Note("b", "loc", 2.0, "two"))  # type: ignore[union-attr]
    assert table.stored_doc("missing") is None
    many = [Note(f"m{i}", "loc", float(i)) for i in range(40)]  # more than a put keeps
    table.put_many(many)
    queries.clear()
    assert table.get("m0") is not None and sum("SELECT doc FROM notes" in q for q in queries) == 1
    store._conn.set_trace_callback(None)

@pytest.mark.parametrize("spec", [FEW, SPEC], ids=["read-mostly", "plain"])
def test_all_with_a_limit_and_count_follow_writes(spec: TableSpec[Note]) -> None:
    store = Store(None, [spec] if spec is SPEC else [spec, SPEC])
    table = store.table(spec.record_type)
    kind = spec.record_type
    table.put_many([kind("a", "loc", 1.0), kind("b", "loc", 3.0), kind("c", "other", 2.0)])
    assert [n.id for n in table.all(HERE, order="created_at DESC", limit=1)] == ["b"]
    assert [n.id for n in table.all((), order="created_at", limit=2)] == ["a", "c"]
    assert [n.id for n in table.all(HERE, order="created_at", limit=5)] == ["a", "b"]
    assert table.count(HERE) == 2 and table.count() == 3
    table.put(kind("d", "loc", 4.0))  # a write of the kind: neither a kept list nor a kept count is stale
    assert [n.id for n in table.all(HERE, order="created_at DESC", limit=1)] == ["d"]
    assert table.count(HERE) == 3 and table.count() == 4
    table.delete("a")
    assert table.count(HERE) == 2


def test_event_numbers_follow_the_newest_event_without_a_write_of_their_own() -> None:
    """The event log numbers each event one past the newest stored one: no meta write per event, the same
    numbers after a rollback, and a state file's older `event_seq` still counts when it is higher."""
    from mock_server.clock import SandboxClock
    from mock_server.ids import IdFactory
    from mock_server.webhooks.events import EventLog
    from mock_server.webhooks.models import Event
    from mock_server.webhooks.tables import EVENTS

    store = Store(None, [SPEC, EVENTS])
    log = EventLog(store, SandboxClock(), IdFactory(1))
    note = Note("n", "loc", 1.0)
    queries: list[str] = []
    store._conn.set_trace_callback(queries.append)
    assert [log.record("NoteCreate", "notes", note).seq for _ in range(3)] == [1, 2, 3]
    assert not any("meta" in q for q in queries if not q.startswith("SELECT"))  # nothing written but the events
    assert sum("MAX(seq)" in q for q in queries) == 1  # read once, then followed
    with pytest.raises(RuntimeError), store.transaction():
        assert log.record("NoteCreate", "notes", note).seq == 4
        raise RuntimeError
    assert log.record("NoteCreate", "notes", note).seq == 4  # the rolled-back number is the next one again
    store.table(Event).put(dataclasses.replace(store.table(Event).all(order="seq")[-1], id="other", seq=10))
    assert log.record("NoteCreate", "notes", note).seq == 11  # another writer of events: read again
    store.set_meta("event_seq", 50)  # a state file from when the number was kept in meta
    store._conn.execute("DELETE FROM events")
    store.restore(store.snapshot())  # as a reset or a restore does: what the log followed is read again
    assert log.record("NoteCreate", "notes", note).seq == 51
    assert [e.seq for e in store.table(Event).all(order="seq")] == [51]
    store._conn.set_trace_callback(None)
