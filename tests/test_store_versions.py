"""The store's row versions (the hidden `rev` column): every write of a row stamps a version the store never
gives again, so a reader that keeps what it rendered from a row can tell it is current from (id, version)
alone; a versioned page reads documents only of rows the reader has nothing for; state files from before
versions open, and a reopened file continues above its highest version."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from mock_server.store import Condition, Store, TableSpec, by_created, by_location, column


@dataclass
class Note:
    id: str
    location_id: str
    created_at: float
    text: str = ""


SPEC = TableSpec("notes", Note, (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created)),
                 ("location_id, created_at DESC, id DESC, rev",), location_scoped=True)
HERE = [Condition("location_id", "=", "loc")]


class Reader:
    """Keeps what `known` holds by (id, version)."""

    def __init__(self, known: dict[tuple[str, int], bytes]) -> None:
        self.known = known

    def page(self, versions: list[tuple[int]]) -> None:
        return None

    def __call__(self, rows: list[tuple[str, int]]) -> list[bytes | None]:
        return [self.known.get(row) for row in rows]

    def record(self, record_id: str, stamp: bytes | int) -> bytes | None:
        return None


def _versions(store: Store) -> dict[str, int]:
    return dict(store.table(Note).page_versions(HERE, 100, 0, Reader({})).rows)


def test_each_write_stamps_a_version_never_given_again() -> None:
    store = Store(None, [SPEC])
    notes = store.table(Note)
    notes.put_many([Note(f"n{i}", "loc", float(i)) for i in range(3)])
    first = _versions(store)
    assert sorted(first.values()) == [1, 2, 3]
    notes.put(Note("n1", "loc", 1.0, "changed"))
    second = _versions(store)
    assert second["n1"] > max(first.values()) and second["n0"] == first["n0"] and second["n2"] == first["n2"]
    with pytest.raises(RuntimeError), store.transaction():  # a rolled-back write's versions are not reused
        notes.put(Note("n2", "loc", 2.0, "rolled back"))
        raise RuntimeError
    assert _versions(store) == second
    notes.put(Note("n2", "loc", 2.0, "again"))
    assert _versions(store)["n2"] > second["n1"] + 1


def test_a_versioned_page_reads_documents_only_of_rows_the_reader_has_nothing_for() -> None:
    store = Store(None, [SPEC])
    notes = store.table(Note)
    notes.put_many([Note(f"n{i}", "loc", float(i), f"text {i}") for i in range(5)] + [Note("x", "other", 9.0)])
    known = {("n3", _versions(store)["n3"]): b"kept n3"}
    found = notes.page_versions(HERE, 3, 1, Reader(known))
    docs, same_total = notes.page_docs(HERE, 3, 1)
    assert found.total == same_total == 5
    assert [rid for rid, _ in found.rows] == [rid for rid, _ in docs] == ["n3", "n2", "n1"]  # newest first, same page
    assert found.parts == [b"kept n3", None, None] and found.missing == [1, 2]
    assert found.docs == dict(docs[1:])  # documents of the rows nothing is kept for, and only those


def test_a_state_file_from_before_versions_opens_and_a_reopened_file_continues_above_its_versions(
        tmp_path: Path) -> None:
    path = str(tmp_path / "old.sqlite")
    old = sqlite3.connect(path)  # the table as stores before versions made it: no rev column
    old.execute("CREATE TABLE notes (id TEXT PRIMARY KEY, location_id TEXT, created_at REAL, doc BLOB NOT NULL)")
    old.execute("INSERT INTO notes VALUES ('n0', 'loc', 0.0, ?)", (b'{"id":"n0","location_id":"loc","created_at":0.0}',))
    old.commit()
    old.close()
    store = Store(path, [SPEC])
    assert _versions(store) == {"n0": 0}
    assert store.table(Note).get("n0") == Note("n0", "loc", 0.0)
    store.table(Note).put(Note("n1", "loc", 1.0))
    assert _versions(store) == {"n0": 0, "n1": 1}
    store.close()
    reopened = Store(path, [SPEC])
    reopened.table(Note).put(Note("n0", "loc", 0.0, "rewritten"))
    assert _versions(reopened)["n0"] == 2


def test_a_record_written_again_is_updated_in_place() -> None:
    """A put of a stored id updates its row (an upsert): the row keeps its place, so the export lists rows
    in the order they were first written, with each one's last document and columns."""
    store = Store(None, [SPEC])
    table = store.table(Note)
    table.put_many([Note("a", "loc", 1.0, "one"), Note("b", "loc", 2.0, "two"), Note("c", "loc", 3.0, "three")])
    rowids = dict(store._conn.execute("SELECT id, rowid FROM notes").fetchall())
    table.put(Note("a", "other", 4.0, "moved"))
    with store.transaction():
        table.put(Note("b", "loc", 2.0, "again"))
    assert dict(store._conn.execute("SELECT id, rowid FROM notes").fetchall()) == rowids
    assert [row["text"] for row in store.export()["tables"]["notes"]] == ["moved", "again", "three"]
    assert [n.id for n in table.all(HERE)] == ["b", "c"] and [n.id for n in table.all([Condition("location_id", "=", "other")])] == ["a"]
    assert table.page(HERE, 10, 0)[1] == 2
