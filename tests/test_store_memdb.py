"""Where an in-memory store lives: SQLite's memdb VFS (a bounded page cache over an in-memory database
file), whose commits do not grow with the world as a `:memory:` database's do; a big seeded world starts
in `:memory:` (memdb stops at 1 GiB), and a store that grows past MEMDB_MAX_BYTES, or takes a big
import, moves there between transactions with everything it holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_store_versions import HERE, SPEC, Note

from mock_server import runtime as runtime_module
from mock_server import store as store_module
from mock_server.app import new_runtime
from mock_server.settings import Settings
from mock_server.store import Store


def _vfs(store: Store) -> str:
    return str(store._conn.execute("PRAGMA database_list").fetchall()[0][2])


def test_an_in_memory_store_is_a_memdb_database_of_its_own() -> None:
    first, second = Store(None, [SPEC]), Store(None, [SPEC])
    assert first.in_memdb and second.in_memdb
    first.table(Note).put(Note("n1", "loc", 1.0))
    assert first.table(Note).get("n1") is not None
    assert second.table(Note).get("n1") is None  # private: two stores in one process share nothing
    assert not Store(None, [SPEC], large=True).in_memdb


def test_a_state_file_is_never_memdb(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "state.sqlite"), [SPEC])
    assert not store.in_memdb
    assert _vfs(store).endswith("state.sqlite")


def test_a_store_that_outgrows_memdb_moves_with_what_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MEMDB_MAX_BYTES", 256 * 1024)
    monkeypatch.setattr(store_module, "MEMDB_CHECK_EVERY", 8)
    store = Store(None, [SPEC])
    notes = store.table(Note)
    written = 0
    while store.in_memdb:
        with store.transaction():
            notes.put_many([Note(f"n{written + i}", "loc", float(written + i), "x" * 2000) for i in range(4)])
        written += 4
        assert written < 2000, "never moved"
    assert store.size_bytes() >= 256 * 1024
    stamp = store.written(["notes"])
    assert notes.count(HERE) == written  # everything it held, and its stamps, as they were
    assert store.written(["notes"]) == stamp
    # It goes on as a `:memory:` database: writes, rollbacks, reads.
    notes.put(Note("after", "loc", 1e6))
    with pytest.raises(RuntimeError), store.transaction():
        notes.put(Note("undone", "loc", 1e6 + 1))
        raise RuntimeError("roll back")
    assert notes.get("after") is not None and notes.get("undone") is None
    assert notes.count(HERE) == written + 1


def test_a_store_never_moves_inside_a_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MEMDB_MAX_BYTES", 1)
    monkeypatch.setattr(store_module, "MEMDB_CHECK_EVERY", 1)
    store = Store(None, [SPEC])
    notes = store.table(Note)
    with pytest.raises(RuntimeError), store.transaction():
        for i in range(5):
            notes.put(Note(f"n{i}", "loc", float(i)))
        assert store.in_memdb  # a move now would lose the open transaction
        raise RuntimeError("roll back")
    assert notes.count(HERE) == 0
    notes.put(Note("n9", "loc", 9.0))  # the next write outside a transaction is where it moves
    notes.put(Note("n10", "loc", 10.0))
    assert not store.in_memdb
    assert notes.count(HERE) == 2


def test_a_big_import_moves_the_store_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MEMDB_IMPORT_MAX_ROWS", 10)
    store = Store(None, [SPEC])
    small = {"tables": {"notes": [{"id": f"n{i}", "location_id": "loc", "created_at": float(i)} for i in range(10)]},
             "meta": {}}
    store.import_(small)
    assert store.in_memdb
    big = {"tables": {"notes": [{"id": f"n{i}", "location_id": "loc", "created_at": float(i)} for i in range(11)]},
           "meta": {}}
    store.import_(big)
    assert not store.in_memdb
    assert store.table(Note).count(HERE) == 11


def test_a_big_seeded_world_starts_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "MEMDB_MAX_ORDERS", 4)
    assert new_runtime(Settings(orders=4, rate_limit="off")).store.in_memdb
    assert not new_runtime(Settings(orders=5, rate_limit="off")).store.in_memdb

