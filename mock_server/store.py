"""The one store: SQLite (standard library), in memory by default or a file with `--state FILE`.

Each kind of record lives in its own table: a few indexed columns for filtering and paging, and the
whole record as JSON in `doc`. Writes happen inside `transaction()`; with a file, WAL plus
`synchronous=FULL` makes every committed (acknowledged) write survive a `kill -9`.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import threading
import types
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

T = TypeVar("T")


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    value: Callable[[Any], Any]


@dataclass(slots=True)
class VersionedPage:
    """A page of records as their (id, version) rows (see `Store`), in page order, with what the reader
    keeps for each (None: nothing), the stored documents of the rows it keeps nothing for, and the total
    matching the page's filter. Lists, not a tuple per row: a page is read on every list request."""
    rows: list[tuple[str, int]]
    parts: list[bytes | None]
    docs: dict[str, bytes]
    total: int
    # The counted query the page was read with (see `RowsWritten.unmoved`); None for a page read another way.
    query: QueryKey | None = None

    @property
    def missing(self) -> list[int]:
        """Positions of the rows the reader keeps nothing for."""
        return [i for i, part in enumerate(self.parts) if part is None]


# A counted query: the kind, its WHERE clause and parameters, as `Table.page_versions` reads a page.
QueryKey = tuple[str, str, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class RowsWritten:
    """What one write of rows did, for readers that keep answers derived from the kind: which records
    it wrote, and the counted queries (the most recently used of the kind) whose matching rows among
    those records, with their sort keys (`created_at`, `id`), are the same before and after. A page of
    such a query shows the same records in the same order with the same total, unless it shows one of
    `ids` itself (whose document changed)."""
    ids: frozenset[str]
    unmoved: frozenset[QueryKey]


class Kept(Protocol):
    """What a reader keeps of the rows it lists (`Table.page_versions`): first the whole page, by the
    versions alone; else asked once per page with its (id, version) rows, or record by record (with the
    stored document) for pages read without versions."""

    def page(self, versions: list[tuple[int]]) -> tuple[list[tuple[str, int]], Sequence[bytes]] | None: ...

    def __call__(self, rows: list[tuple[str, int]]) -> Sequence[bytes | None]: ...

    def record(self, record_id: str, stamp: bytes | int) -> bytes | None: ...


@dataclass(frozen=True)
class TableSpec(Generic[T]):
    """One kind of record, declared by the service that owns it: its table name, record type, the
    columns it is filtered and paged by, and whether it belongs to one location (reset and deleted
    with it; such records have a `location_id`). A table that `survives_reset` holds configuration, not
    data: a reset of the sandbox or of a location keeps every row of it (like webhook targets)."""

    kind: str
    record_type: type[T]
    columns: tuple[Column, ...]
    indexes: tuple[str, ...] = ()
    location_scoped: bool = False
    survives_reset: bool = False
    # Few rows, read on every write of other kinds (locations, webhook targets, workflows): each `all()`
    # answer is kept until the next write of the kind.
    read_mostly: bool = False

    @functools.cached_property
    def column_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns)


def column(name: str, sql_type: str, value: Callable[[Any], Any]) -> Column:
    return Column(name, sql_type, value)


def by_location(record: Any) -> str:
    return str(record.location_id)


def by_created(record: Any) -> float:
    return float(record.created_at)


def _type_ok(value: Any, tp: Any) -> bool:
    """A shallow check of one JSON value against a record field's annotation."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if list in (tp, origin):
        return isinstance(value, list)
    if dict in (tp, origin):
        return isinstance(value, dict)
    return True


def _record(spec: TableSpec[Any], row: Any, where: str) -> Any:
    """One imported row as a record, or ValueError naming the row: a bad document must be refused
    before anything is replaced, never half-imported or answered with a 500."""
    if not isinstance(row, dict):
        raise ValueError(f"{where} must be an object")
    hints = get_type_hints(spec.record_type)
    for name, value in row.items():
        if name in hints and not _type_ok(value, hints[name]):
            raise ValueError(f"{where}.{name} has the wrong type ({type(value).__name__})")
    try:
        record = spec.record_type(**row)
        for column in spec.columns:
            column.value(record)
        orjson.dumps(record)
    except Exception as exc:
        raise ValueError(f"{where}: {exc}") from None
    return record


DOC_CACHE_MAX = 20_000  # documents kept for reads by id (`get`, `get_many`); past it the cache starts over
COUNT_KEEP_ON_WRITE = 8  # cached totals of a kind corrected (not dropped) by a write of a few of its records
DOCS_KEEP_ON_WRITE = 32  # a put of at most this many records keeps their documents for reads by id
COUNT_KEEP_IDS = 32  # a write of more records than this drops the kind's totals
# An in-memory store is a database "file" in SQLite's memdb VFS, read through SQLite's usual bounded page
# cache, not a `:memory:` database, whose page cache is the whole database. Inserts of random ids (every
# table's key) leave SQLite's page cache with a high page number past the database's end, and the commit
# then walks every bucket of the cache's hash table: in `:memory:` a write's commit grew with the world
# (0.17-0.28 ms with 12,000-16,000 orders after 20,000-28,000 writes; 0.02-0.04 ms in memdb). memdb
# stops a database at 1 GiB, a limit Python cannot raise, so a big world starts in `:memory:`
# (`Store(large=True)`) and a store that grows past MEMDB_MAX_BYTES moves there, between transactions.
MEMDB_MAX_BYTES = 640 * 1024 * 1024
MEMDB_CHECK_EVERY = 512  # writes between two looks at an in-memory store's size (a look is one PRAGMA)
MEMDB_IMPORT_MAX_ROWS = 150_000  # an import of more rows than this moves the store first (~2 KiB a row)
LIST_KEEP_ROWS = 64  # a read-mostly `all()` answer longer than this is not kept
LIST_KEEP_QUERIES = 64  # distinct read-mostly queries kept per kind; past it they start over
_UNREAD = b"\x00unread"  # a meta key not read yet (None is a key with no row)
COUNT_CACHE_MAX = 1024  # list totals kept (one per distinct query); past it the least recently used goes


@dataclass
class Condition:
    """One SQL filter: `column op ?`. `op` is one of = >= <= LIKE INSTR IN."""

    column: str
    op: str
    value: Any


_NUMERIC_TYPES = frozenset({"INTEGER", "REAL"})
_EXACT_INT = 2**53  # beyond it SQLite and Python may round an integer against a real differently


def _comparable(value: Any, text: bool) -> bool:
    """Whether SQLite compares `value`, held by or compared with a column of that class (TEXT, else
    INTEGER or REAL), exactly as Python does: a str with a TEXT column (binary collation: UTF-8 bytes
    order as code points do), a finite number with a numeric one."""
    kind = type(value)
    if text:
        return kind is str
    if kind is int:
        return bool(-_EXACT_INT <= value <= _EXACT_INT)
    return kind is float and value == value and value not in (float("inf"), float("-inf"))


def _holds(condition: Condition, sql_type: str, value: Any) -> bool | None:
    """Whether a row whose column holds `value` (as it was bound) matches `condition`, as SQLite would
    decide it; None where that is not certain (LIKE, mixed types, other column types): ask SQLite."""
    if sql_type != "TEXT" and sql_type not in _NUMERIC_TYPES:
        return None
    text = sql_type == "TEXT"
    if value is None:
        return False  # NULL matches no comparison, IN or instr()
    if not _comparable(value, text):
        return None
    op, param = condition.op, condition.value
    if op == "IN":
        params = list(param)
        if not all(_comparable(p, text) for p in params):
            return None
        return value in params
    if not _comparable(param, text):
        return False if param is None else None  # `col = NULL` matches nothing
    if op == "=":
        return bool(value == param)
    if op == ">=":
        return bool(value >= param)
    if op == "<=":
        return bool(value <= param)
    if op == "INSTR" and text:
        return bool(param in value)
    return None


class Store:
    """The database of every service: each hands its `TableSpec`s in at start, and reads and writes
    its records through `table(RecordType)`."""

    def __init__(self, path: str | None, tables: Sequence[TableSpec[Any]], large: bool = False) -> None:
        self.path = path
        self._specs: dict[str, TableSpec[Any]] = {}
        self._tables: dict[type[Any], Table[Any]] = {}
        for spec in tables:
            if spec.kind in self._specs or spec.record_type in self._tables:
                raise ValueError(f"table {spec.kind!r} ({spec.record_type.__name__}) is declared twice")
            self._specs[spec.kind] = spec
            self._tables[spec.record_type] = Table(self, spec)
        # Per kind, built once: the put's statement and its column getters (a put runs on every write).
        self._insert_sql: dict[str, str] = {}
        self._getters: dict[str, tuple[Callable[[Any], Any], ...]] = {}
        for kind, spec in self._specs.items():
            names = ["id", *(c.name for c in spec.columns), "doc", "rev"]
            # A record written again is updated in place (an upsert, not a delete and insert): it keeps its
            # row, and only the indexes of the columns that changed are touched.
            self._insert_sql[kind] = (f"INSERT INTO {kind} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                                      f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in names[1:])}")
            self._getters[kind] = tuple(c.value for c in spec.columns)
        # Where each column sits in a put's row, and its SQL type: a few filters are checked on the row
        # just written instead of being read back (`_matching_written`).
        self._row_columns: dict[str, dict[str, tuple[int, str]]] = {
            kind: {"id": (0, "TEXT"), **{c.name: (i + 1, c.sql_type) for i, c in enumerate(spec.columns)}}
            for kind, spec in self._specs.items()}
        # The filters of counted queries (a key names its filter for good; bounded like the counts).
        self._count_filters: dict[QueryKey, tuple[Condition, ...]] = {}
        # Per kind: the records the last put wrote and, per counted query, which of them it matched
        # after the write. True until the kind is written again: the next put of the same records
        # starts from it instead of reading it (a fulfilment after a payment of the same order).
        self._matched: dict[str, tuple[tuple[str, ...], dict[QueryKey, frozenset[tuple[Any, ...]]]]] = {}
        # In memory: memdb (a private database of this connection), or `:memory:` for a big world.
        self._memdb = not path and not large
        self._writes_unchecked = 0
        target = path or ("file:ghl-sandbox?vfs=memdb" if self._memdb else ":memory:")
        # One connection shared by the event loop thread and short-lived worker calls, guarded by a lock.
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None, uri=self._memdb)
        self._lock = threading.RLock()
        self._in_tx = 0
        self._count_cache: dict[tuple[Any, ...], int] = {}
        # Meta values as stored (None: no row), kept from their first read or write until a rollback, an
        # import or a restore: sequences (events, deliveries) read theirs on every write.
        self._meta: dict[str, bytes | None] = {}
        # Documents read by id, per kind, kept until the next write to that kind (which keeps the few it
        # wrote itself), a rollback or a restore: a read by id then skips SQLite. Records are still
        # decoded afresh on every read, so a caller that changes the record it got changes nothing else.
        self._docs: dict[str, dict[str, bytes]] = {}
        self._docs_size = 0
        # `all()` answers of read-mostly kinds (TableSpec.read_mostly), as documents, by kind and query;
        # dropped with the documents (a write of the kind, a rollback).
        self._lists: dict[str, dict[tuple[str, tuple[Any, ...]], list[bytes]]] = {}
        # How often each kind was written, and how many transactions rolled back: see `written`.
        self._writes: dict[str, int] = {}
        self._rollbacks = 0
        self._listeners: list[Callable[[str, RowsWritten | None], None]] = []
        # What a `tracking_reads()` block read (kinds, and meta keys as "meta:KEY"; "*": everything), for
        # `read_stamp`. The event loop's handlers use it; a worker thread's reads meanwhile only add names.
        self._reading: set[str] | None = None
        self._meta_writes: dict[str, int] = {}
        self._write_count = 0  # every write of any kind or meta key
        self._generation = 0  # wholesale replacements (an import, a restore): every stamp changes
        self._token = uuid.uuid4().hex[:12]  # this store's stamps are never another store's (a restart)
        self._tx_kinds: set[str] = set()  # kinds written in the open transaction (told again on a rollback)
        # Each write of a row stamps it with the next version (the hidden `rev` column), never reused while
        # the store is open: a row's (id, rev) names one stored document, so a reader that keeps what it
        # made from a document can tell it is current from the version alone, without reading the document.
        # This holds for one writer per database: the sandbox process that opened it (a second process
        # writing the same state file would count from the same highest version).
        self._rev = 0
        if path:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        else:
            self._conn.execute("PRAGMA synchronous=OFF")
        self._create_schema()

    def table(self, record_type: type[T]) -> Table[T]:
        """Typed access to the records of one type."""
        try:
            return self._tables[record_type]
        except KeyError:
            raise LookupError(f"no table holds {record_type.__name__}: is its service plugged in?") from None

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def specs(self) -> tuple[TableSpec[Any], ...]:
        return tuple(self._specs.values())

    # ---- schema -------------------------------------------------------------------------------

    def _create_schema(self) -> None:
        with self._lock:
            for spec in self._specs.values():
                cols = "".join(f", {c.name} {c.sql_type}" for c in spec.columns)
                self._conn.execute(f"CREATE TABLE IF NOT EXISTS {spec.kind} (id TEXT PRIMARY KEY{cols}, doc BLOB NOT NULL, "
                                   "rev INTEGER NOT NULL DEFAULT 0)")
                if "rev" not in {row[1] for row in self._conn.execute(f"PRAGMA table_info({spec.kind})")}:
                    # A state file from before versions: each of its rows is version 0 until it is written.
                    self._conn.execute(f"ALTER TABLE {spec.kind} ADD COLUMN rev INTEGER NOT NULL DEFAULT 0")
                self._rev = max(self._rev, self._conn.execute(f"SELECT MAX(rev) FROM {spec.kind}").fetchone()[0] or 0)
                for i, idx in enumerate(spec.indexes):
                    self._conn.execute(f"CREATE INDEX IF NOT EXISTS ix_{spec.kind}_{i} ON {spec.kind} ({idx})")
            self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    # ---- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together or not at all. Re-entrant."""
        with self._lock:
            outer = self._in_tx == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._in_tx += 1
            try:
                yield self
            except BaseException:
                self._in_tx -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                    self._rollbacks += 1
                    self._count_cache.clear()
                    self._meta.clear()
                    self._forget_docs()
                    # What readers kept through the writes (told precisely) must not outlive their undoing.
                    undone, self._tx_kinds = self._tx_kinds, set()
                    for kind in undone:
                        self._touched(kind)
                raise
            else:
                self._in_tx -= 1
                if outer:
                    self._tx_kinds.clear()
                    self._conn.execute("COMMIT")
                    if self._writes_unchecked >= MEMDB_CHECK_EVERY:
                        self._outgrow_memdb()

    def written(self, kinds: Sequence[str]) -> tuple[int, ...]:
        """A stamp that changes whenever one of `kinds` is written or a transaction rolls back: what a
        reader derived from those kinds holds while the stamp is the same."""
        return (self._rollbacks, *(self._writes.get(kind, 0) for kind in kinds))

    def on_write(self, listener: Callable[[str, RowsWritten | None], None]) -> None:
        """Called with the kind after every write (used to invalidate caches outside the store), and what
        the write did when it is known precisely (a put of a few rows); None: anything of the kind may
        have changed."""
        self._listeners.append(listener)

    @contextmanager
    def tracking_reads(self) -> Iterator[set[str]]:
        """The names of what is read inside the block (see `read_stamp`); nested blocks add theirs to
        the outer one's."""
        outer = self._reading
        noted: set[str] = set()
        self._reading = noted
        try:
            yield noted
        finally:
            self._reading = outer
            if outer is not None:
                outer |= noted

    def _note(self, name: str) -> None:
        if self._reading is not None:
            self._reading.add(name)

    @property
    def write_count(self) -> int:
        """How many writes (of any kind or meta key) this store has seen: unchanged across a read, nothing
        was written meanwhile."""
        return self._write_count

    def read_stamp(self, names: Iterable[str], salt: str = "") -> str:
        """A short stamp of what `names` (from `tracking_reads`) hold, with `salt` (what was read, say):
        the same while none of them is written, a transaction rolls back or the state is replaced, and
        never another store's."""
        counts = []
        for name in sorted(names):
            if name == "*":
                counts.append((name, self._write_count))
            elif name.startswith("meta:"):
                counts.append((name, self._meta_writes.get(name[5:], 0)))
            else:
                counts.append((name, self._writes.get(name, 0)))
        key = repr((self._token, self._generation, self._rollbacks, salt, counts)).encode()
        return hashlib.blake2b(key, digest_size=12).hexdigest()

    def _touched(self, kind: str, change: RowsWritten | None = None) -> None:
        if self._in_tx:
            self._tx_kinds.add(kind)
        elif self._writes_unchecked >= MEMDB_CHECK_EVERY:
            self._outgrow_memdb()
        if self._memdb:
            self._writes_unchecked += 1
        self._write_count += 1
        self._writes[kind] = self._writes.get(kind, 0) + 1
        self._lists.pop(kind, None)
        self._matched.pop(kind, None)
        docs = self._docs.pop(kind, None)
        if docs:
            self._docs_size -= len(docs)
        if self._count_cache:
            self._count_cache = {k: v for k, v in self._count_cache.items() if k[0] != kind}
        for listener in self._listeners:
            listener(kind, change)

    # ---- records ------------------------------------------------------------------------------

    def _load(self, kind: str, doc: bytes) -> Any:
        return self._specs[kind].record_type(**orjson.loads(doc))

    def _put(self, kind: str, record: Any) -> None:
        self._put_many(kind, [record])

    def _put_many(self, kind: str, records: Sequence[Any]) -> None:
        if not records:
            return
        getters = self._getters[kind]
        with self._lock:
            first = self._rev + 1
            self._rev += len(records)  # a rolled-back write leaves its versions unused, never reused
            rows = [(r.id, *[get(r) for get in getters], orjson.dumps(r), first + i) for i, r in enumerate(records)]
            ids = [records[0].id] if len(records) == 1 else list(dict.fromkeys(r.id for r in records))
            before = self._matching_among(kind, ids)
            after: dict[QueryKey, frozenset[tuple[Any, ...]]] = {}
            change: RowsWritten | None = None
            kept: dict[QueryKey, int] = {}
            try:
                if len(rows) == 1:
                    self._conn.execute(self._insert_sql[kind], rows[0])
                else:
                    self._conn.executemany(self._insert_sql[kind], rows)
                after = self._matching_written(kind, ids, rows, before)
                kept = {key: self._count_cache[key] + len(after[key]) - len(was) for key, was in before.items()
                        if key in self._count_cache and key in after}
                change = RowsWritten(frozenset(ids), frozenset(k for k, was in before.items() if after.get(k) == was))
            finally:  # even a failed batch may have written rows: caches must not keep the old ones
                self._touched(kind, change)
                self._count_cache.update(kept)
            if after:
                self._matched[kind] = (tuple(ids), after)
            if len(ids) <= DOCS_KEEP_ON_WRITE:
                # The kind's kept documents went with the write; what a few rows were written with is what
                # a read by id of them finds now (the action's own answer checks it, the next action on
                # the record reads it). A rollback forgets it.
                self._remember(kind, [(row[0], row[-2]) for row in rows])

    def _matching_among(self, kind: str, ids: Sequence[str], keys: Iterable[QueryKey] | None = None
                        ) -> dict[QueryKey, frozenset[tuple[Any, ...]]]:
        """For the most recently used cached totals of `kind` (or `keys`): which of the records `ids`
        each one's filter matches, with their sort keys. Read before and after a write of those records,
        the difference in number corrects the total exactly (SQLite itself evaluates the filter), so a
        payment does not send the next page of a 100,000-order list back to a full COUNT; no difference
        at all means the query's pages moved nowhere (`RowsWritten.unmoved`)."""
        if not self._count_cache or len(ids) > COUNT_KEEP_IDS:
            return {}
        out: dict[QueryKey, frozenset[tuple[Any, ...]]] = {}
        if keys is None:
            keys = [k for k in self._count_cache if k[0] == kind][-COUNT_KEEP_ON_WRITE:]
            last = self._matched.get(kind)
            if last is not None and last[0] == tuple(ids):  # nothing wrote the kind since that put
                out = {key: last[1][key] for key in keys if key in last[1]}
                keys = [key for key in keys if key not in out]
        marks = ",".join("?" * len(ids))
        shown = "id, created_at" if "created_at" in self._specs[kind].column_names else "id"
        for key in keys:
            _, where, params = key
            sql = f"SELECT {shown} FROM {kind}{where}{' AND' if where else ' WHERE'} id IN ({marks})"
            out[key] = frozenset(self._conn.execute(sql, (*params, *ids)).fetchall())
        return out

    def _matching_written(self, kind: str, ids: Sequence[str], rows: Sequence[tuple[Any, ...]],
                          before: dict[QueryKey, frozenset[tuple[Any, ...]]]) -> dict[QueryKey, frozenset[tuple[Any, ...]]]:
        """As `_matching_among` after a put of `rows`, for the queries of `before`: decided on the rows as
        written where every condition of the filter is certain (`_holds`), else read back."""
        latest = list({row[0]: row for row in rows}.values())  # a batch's last row of a record is what is stored
        created = self._row_columns[kind].get("created_at")
        out: dict[QueryKey, frozenset[tuple[Any, ...]]] = {}
        unsure: list[QueryKey] = []
        for key in before:
            verdicts = [self._row_holds(kind, key, row) for row in latest]
            if None in verdicts:
                unsure.append(key)
                continue
            out[key] = frozenset((row[0], row[created[0]]) if created else (row[0],)
                                 for row, holds in zip(latest, verdicts, strict=True) if holds)
        if unsure:
            out.update(self._matching_among(kind, ids, unsure))
        return out

    def _row_holds(self, kind: str, key: QueryKey, row: tuple[Any, ...]) -> bool | None:
        """Whether a put's row matches a counted query's filter; None: not certain (or filter unknown)."""
        conditions = self._count_filters.get(key)
        if conditions is None:
            return None
        columns = self._row_columns[kind]
        for condition in conditions:
            place = columns.get(condition.column)
            holds = None if place is None else _holds(condition, place[1], row[place[0]])
            if not holds:
                return holds
        return True

    def _forget_docs(self) -> None:
        self._docs = {}
        self._docs_size = 0
        self._lists = {}

    def _remember(self, kind: str, rows: Sequence[tuple[str, bytes]]) -> None:
        if self._docs_size + len(rows) > DOC_CACHE_MAX:
            self._forget_docs()
        docs = self._docs.setdefault(kind, {})
        before = len(docs)
        docs.update(rows)
        self._docs_size += len(docs) - before

    def _get(self, kind: str, record_id: str) -> Any | None:
        doc = self._doc(kind, record_id)
        return None if doc is None else self._load(kind, doc)

    def _doc(self, kind: str, record_id: str) -> bytes | None:
        with self._lock:
            docs = self._docs.get(kind)
            doc = docs.get(record_id) if docs and type(record_id) is str else None
            if doc is None:
                row = self._conn.execute(f"SELECT doc FROM {kind} WHERE id = ?", (record_id,)).fetchone()
                if row is None:
                    return None
                doc = row[0]
                if type(record_id) is str:
                    self._remember(kind, ((record_id, doc),))
        return doc

    def _located_doc(self, kind: str, record_id: str) -> tuple[str, bytes] | None:
        if not self._specs[kind].location_scoped:
            raise TypeError(f"{kind} records belong to no location")
        with self._lock:
            row = self._conn.execute(f"SELECT location_id, doc FROM {kind} WHERE id = ?", (record_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def _exists(self, kind: str, conditions: Sequence[Condition]) -> bool:
        where, params = self._where(conditions)
        with self._lock:
            return self._conn.execute(f"SELECT 1 FROM {kind}{where} LIMIT 1", params).fetchone() is not None

    def _get_many(self, kind: str, ids: Sequence[str]) -> dict[str, Any]:
        if not ids:
            return {}
        if not all(type(i) is str for i in ids):
            marks = ",".join("?" * len(ids))
            with self._lock:
                rows = self._conn.execute(f"SELECT id, doc FROM {kind} WHERE id IN ({marks})", tuple(ids)).fetchall()
            return {rid: self._load(kind, doc) for rid, doc in rows}
        with self._lock:
            docs = self._docs.get(kind) or {}
            wanted = sorted(set(ids))  # the order SQLite's `id IN (...)` index search answers in
            missing = [rid for rid in wanted if rid not in docs]
            if missing:
                marks = ",".join("?" * len(missing))
                rows = self._conn.execute(f"SELECT id, doc FROM {kind} WHERE id IN ({marks})", missing).fetchall()
                self._remember(kind, rows)
                docs = self._docs[kind]
            found = [(rid, docs[rid]) for rid in wanted if rid in docs]
        return {rid: self._load(kind, doc) for rid, doc in found}

    def _find_one(self, kind: str, column: str, value: Any) -> Any | None:
        with self._lock:
            row = self._conn.execute(f"SELECT doc FROM {kind} WHERE {column} = ? LIMIT 1", (value,)).fetchone()
        return self._load(kind, row[0]) if row else None

    def _delete(self, kind: str, record_id: str) -> bool:
        with self._lock:
            try:
                cur = self._conn.execute(f"DELETE FROM {kind} WHERE id = ?", (record_id,))
            finally:
                self._touched(kind)
        return cur.rowcount > 0

    def _max(self, kind: str, column: str) -> Any | None:
        if column not in self._specs[kind].column_names:
            raise ValueError(f"{kind} has no column {column!r}")
        with self._lock:  # an index on the column answers it without a scan
            return self._conn.execute(f"SELECT MAX({column}) FROM {kind}").fetchone()[0]

    def _all(self, kind: str, conditions: Sequence[Condition] = (), order: str = "created_at",
             limit: int | None = None) -> list[Any]:
        where, params = self._where(conditions)
        sql = f"SELECT doc FROM {kind}{where}"
        if order and any(c.name == order.split()[0] for c in self._specs[kind].columns):
            sql += f" ORDER BY {order}, id"
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        if not self._specs[kind].read_mostly:
            with self._lock:
                rows = self._conn.execute(sql, params).fetchall()
            return [self._load(kind, r[0]) for r in rows]
        key = (sql, tuple(params))
        with self._lock:
            kept = self._lists.get(kind)
            docs = kept.get(key) if kept is not None else None
            if docs is None:
                docs = [r[0] for r in self._conn.execute(sql, params).fetchall()]
                if len(docs) <= LIST_KEEP_ROWS:
                    kept = self._lists.setdefault(kind, {})
                    if len(kept) >= LIST_KEEP_QUERIES:
                        kept.clear()
                    kept[key] = docs
        return [self._load(kind, doc) for doc in docs]  # decoded afresh: callers may change what they get

    def _page(self, kind: str, conditions: Sequence[Condition], limit: int | None, offset: int) -> tuple[list[Any], int]:
        rows, total = self._page_docs(kind, conditions, limit, offset)
        return [self._load(kind, doc) for _, doc in rows], total

    def _page_docs(self, kind: str, conditions: Sequence[Condition], limit: int | None,
                   offset: int) -> tuple[list[tuple[str, bytes]], int]:
        """Newest first, as GHL lists. Uses the (location_id, created_at DESC, id DESC) index, so a
        page costs the same at 1,000 or 100,000 rows; totals are cached until the next write."""
        where, params = self._where(conditions)
        with self._lock:
            total = self._count(kind, where, params, conditions)
            sql = f"SELECT id, doc FROM {kind}{where} ORDER BY created_at DESC, id DESC"
            if limit is None:
                rows = self._conn.execute(sql + " LIMIT -1 OFFSET ?", (*params, offset)).fetchall()
            else:
                rows = self._conn.execute(sql + " LIMIT ? OFFSET ?", (*params, limit, offset)).fetchall()
        return rows, total

    def _page_versions(self, kind: str, conditions: Sequence[Condition], limit: int, offset: int,
                       kept: Kept) -> VersionedPage:
        """As `_page_docs`, but as (id, version) rows with what the reader keeps for each. The page's
        versions are read first: a version names one row's one document store-wide (0, a row of a file
        from before versions, excepted), so when the reader kept the whole page for exactly these
        versions it answers alone. Else `kept` gets the page's rows at once and answers for each; the
        document is read only for rows it has nothing for. All in one lock, so no write comes between;
        from the paging index alone when it holds `rev`."""
        where, params = self._where(conditions)
        paged = f"{where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        args = (*params, limit, offset)
        query = (kind, where, tuple(params))
        with self._lock:
            total = self._count(kind, where, params, conditions)
            versions = self._conn.execute(f"SELECT rev FROM {kind}{paged}", args).fetchall()
            whole = kept.page(versions) if (0,) not in versions else None
            if whole is not None:
                return VersionedPage(whole[0], list(whole[1]), {}, total, query)
            rows = self._conn.execute(f"SELECT id, rev FROM {kind}{paged}", args).fetchall()
            parts = list(kept(rows))
            found = VersionedPage(rows, parts, {}, total, query)
            if None in parts:
                missing = [rows[i][0] for i in found.missing]
                marks = ",".join("?" * len(missing))
                found.docs = dict(self._conn.execute(f"SELECT id, doc FROM {kind} WHERE id IN ({marks})",
                                                     missing).fetchall())
        return found

    def _count_matching(self, kind: str, conditions: Sequence[Condition]) -> int:
        where, params = self._where(conditions)
        with self._lock:
            return self._count(kind, where, params, conditions)

    def _count(self, kind: str, where: str, params: list[Any], conditions: Sequence[Condition]) -> int:
        """The rows matching `where` (`conditions` as SQL), cached until the next write of `kind` (call
        with the lock held)."""
        key = (kind, where, tuple(params))
        total = self._count_cache.pop(key, None)
        if total is None:
            if key not in self._count_filters:
                if len(self._count_filters) >= COUNT_CACHE_MAX:
                    self._count_filters.clear()
                self._count_filters[key] = tuple(conditions)
            total = self._conn.execute(f"SELECT COUNT(*) FROM {kind}{where}", params).fetchone()[0]
            if len(self._count_cache) >= COUNT_CACHE_MAX:  # every distinct search= is a key: bound them
                del self._count_cache[next(iter(self._count_cache))]
        self._count_cache[key] = total  # (re)inserted last: the least recently used is first
        return int(total)

    @staticmethod
    def _where(conditions: Sequence[Condition]) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        for c in conditions:
            if c.op == "IN":
                values = list(c.value)
                if not values:
                    parts.append("0")
                    continue
                parts.append(f"{c.column} IN ({','.join('?' * len(values))})")
                params.extend(values)
            elif c.op == "INSTR":
                parts.append(f"instr({c.column}, ?) > 0")
                params.append(c.value)
            elif c.op == "LIKE":
                parts.append(f"{c.column} LIKE ? ESCAPE '\\'")
                params.append(c.value)
            else:
                parts.append(f"{c.column} {c.op} ?")
                params.append(c.value)
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    # ---- meta (keys, settings) ----------------------------------------------------------------

    def get_meta(self, key: str) -> Any | None:
        if self._reading is not None:
            self._reading.add("meta:" + key)
        with self._lock:
            raw = self._meta.get(key, _UNREAD)
            if raw is _UNREAD:
                row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                raw = self._meta[key] = row[0] if row else None
        return None if raw is None else orjson.loads(raw)  # decoded afresh: callers may change what they get

    def set_meta(self, key: str, value: Any) -> None:
        raw = orjson.dumps(value)
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, raw))
            self._meta[key] = raw
            self._meta_writes[key] = self._meta_writes.get(key, 0) + 1
            self._write_count += 1

    # ---- whole-state operations ---------------------------------------------------------------

    def delete_location(self, location_id: str) -> None:
        """Delete the location's data (its location-scoped tables), not its configuration (`survives_reset`)."""
        with self.transaction():
            for kind in (k for k, spec in self._specs.items() if spec.location_scoped and not spec.survives_reset):
                self._conn.execute(f"DELETE FROM {kind} WHERE location_id = ?", (location_id,))
                self._touched(kind)

    def counts(self) -> dict[str, int]:
        self._note("*")
        with self._lock:
            return {k: self._conn.execute(f"SELECT COUNT(*) FROM {k}").fetchone()[0] for k in self._specs}

    def export(self) -> dict[str, Any]:
        self._note("*")
        with self._lock:
            tables = {k: [orjson.loads(r[0]) for r in self._conn.execute(f"SELECT doc FROM {k} ORDER BY rowid")]
                      for k in self._specs}
            meta = {r[0]: orjson.loads(r[1]) for r in self._conn.execute("SELECT key, value FROM meta ORDER BY key")}
        return {"tables": tables, "meta": meta}

    def import_(self, data: dict[str, Any]) -> dict[str, int]:
        """Replace the whole state. Raises ValueError (with the table and row) on a bad record."""
        tables = data.get("tables")
        if not isinstance(tables, dict):
            raise ValueError("state.tables must be an object")
        parsed: dict[str, list[Any]] = {}
        for kind, rows in tables.items():
            if kind not in self._specs:
                raise ValueError(f"unknown table {kind!r}")
            if not isinstance(rows, list):
                raise ValueError(f"tables.{kind} must be an array")
            spec = self._specs[kind]
            parsed[kind] = [_record(spec, row, f"tables.{kind}[{i}]") for i, row in enumerate(rows)]
        meta = data.get("meta", {})
        if not isinstance(meta, dict):
            raise ValueError("state.meta must be an object")
        if sum(len(records) for records in parsed.values()) > MEMDB_IMPORT_MAX_ROWS:
            self._outgrow_memdb(force=True)  # a state this big could pass memdb's 1 GiB inside the import
        with self.transaction():
            self._generation += 1
            for kind in self._specs:
                self._conn.execute(f"DELETE FROM {kind}")
                self._touched(kind)
            self._conn.execute("DELETE FROM meta")
            self._meta.clear()
            for kind, records in parsed.items():
                self._put_many(kind, records)
            for key, value in meta.items():
                self.set_meta(key, value)
        return {k: len(v) for k, v in parsed.items()}

    def snapshot(self, on_disk: bool = False) -> sqlite3.Connection:
        """A private copy of the whole database (for fast resets): in memory, or for a big world in
        an anonymous temporary file, so it does not double the resident memory."""
        copy = sqlite3.connect("" if on_disk else ":memory:", check_same_thread=False)
        with self._lock:
            self._conn.backup(copy)
        return copy

    @property
    def in_memdb(self) -> bool:
        """Whether the store is an in-memory database in SQLite's memdb VFS (see MEMDB_MAX_BYTES)."""
        return self._memdb

    def _outgrow_memdb(self, force: bool = False) -> None:
        """Move an in-memory store from memdb into `:memory:` once it is MEMDB_MAX_BYTES (or `force`):
        one backup, outside any transaction; what it holds and every stamp stay as they are."""
        with self._lock:
            self._writes_unchecked = 0
            if not self._memdb or self._in_tx or (not force and self.size_bytes() < MEMDB_MAX_BYTES):
                return
            moved = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._conn.backup(moved)
            moved.execute("PRAGMA synchronous=OFF")
            self._conn.close()
            self._conn = moved
            self._memdb = False

    def size_bytes(self) -> int:
        with self._lock:
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size)

    def restore(self, snapshot: sqlite3.Connection) -> None:
        with self._lock:
            snapshot.backup(self._conn)
            self._generation += 1
            self._count_cache.clear()
            self._meta.clear()
            self._forget_docs()
            for kind in self._specs:
                self._touched(kind)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Table(Generic[T]):
    """The records of one type. Reads decode afresh each time: changing a record you got changes
    nothing until you `put` it back."""

    def __init__(self, store: Store, spec: TableSpec[T]) -> None:
        self._store = store
        self.kind = spec.kind

    def get(self, record_id: str) -> T | None:
        self._store._note(self.kind)
        record: T | None = self._store._get(self.kind, record_id)
        return record

    def stored_doc(self, record_id: str) -> bytes | None:
        """The stored document of a record (None: no such record), not decoded."""
        self._store._note(self.kind)
        return self._store._doc(self.kind, record_id)

    def located_doc(self, record_id: str) -> tuple[str, bytes] | None:
        """(location id, stored document) of a record of a location-scoped table, not decoded: a
        reader that keeps renderings by document decodes it only when it has none (see `decode`)."""
        self._store._note(self.kind)
        return self._store._located_doc(self.kind, record_id)

    def exists(self, where: Sequence[Condition]) -> bool:
        self._store._note(self.kind)
        return self._store._exists(self.kind, where)

    def get_many(self, ids: Sequence[str]) -> dict[str, T]:
        self._store._note(self.kind)
        found: dict[str, T] = self._store._get_many(self.kind, ids)
        return found

    def find_one(self, column: str, value: Any) -> T | None:
        self._store._note(self.kind)
        record: T | None = self._store._find_one(self.kind, column, value)
        return record

    def all(self, where: Sequence[Condition] = (), order: str = "created_at", limit: int | None = None) -> list[T]:
        """The records matching `where`, in `order` (a column, ASC or DESC; ties by id); the first `limit`."""
        self._store._note(self.kind)
        records: list[T] = self._store._all(self.kind, where, order, limit)
        return records

    def max(self, column: str) -> Any | None:
        """The largest value of a declared column among the records (None: no record)."""
        self._store._note(self.kind)
        return self._store._max(self.kind, column)

    def count(self, where: Sequence[Condition] = ()) -> int:
        """How many records match `where` (cached until the next write of the kind)."""
        self._store._note(self.kind)
        return self._store._count_matching(self.kind, where)

    def page(self, where: Sequence[Condition], limit: int | None, offset: int) -> tuple[list[T], int]:
        """Newest first, with the total count of rows matching `where`."""
        self._store._note(self.kind)
        found: tuple[list[T], int] = self._store._page(self.kind, where, limit, offset)
        return found

    def page_docs(self, where: Sequence[Condition], limit: int | None, offset: int) -> tuple[list[tuple[str, bytes]], int]:
        """As `page`, but each record as its id and stored document, not decoded (see `decode`): a
        reader that keeps renderings by document decodes only the records it has not seen so."""
        self._store._note(self.kind)
        return self._store._page_docs(self.kind, where, limit, offset)

    def page_versions(self, where: Sequence[Condition], limit: int, offset: int, kept: Kept) -> VersionedPage:
        """One page, newest first, as each record's id and version (see `Store`), with what `kept` has
        for each (asked once, with the page's (id, version) rows); the stored document only of those it
        has nothing for."""
        self._store._note(self.kind)
        return self._store._page_versions(self.kind, where, limit, offset, kept)

    def decode(self, doc: bytes) -> T:
        record: T = self._store._load(self.kind, doc)
        return record

    @staticmethod
    def doc(record: T) -> bytes:
        """The stored document of a record (what `page_docs` gives for it once it is put)."""
        return orjson.dumps(record)

    def put(self, record: T) -> None:
        self._store._put_many(self.kind, [record])

    def put_many(self, records: Sequence[T]) -> None:
        self._store._put_many(self.kind, records)

    def delete(self, record_id: str) -> bool:
        return self._store._delete(self.kind, record_id)
