"""Rendered JSON of single records, kept so that a read after a write is assembled, not re-shaped.

The whole-response cache (`cache.py`) is emptied by every write; this one is not. Each entry is the
JSON bytes of one record in one form (a list item, a by-id answer), keyed by the form and the record
id and stamped with the record's stored document (by-id forms) or the store's version of it (list
forms: an int the store never gives two documents of a row, so a page reads ids and versions, not
documents): a fragment is used only while the record's current document is byte for byte the one it
was rendered from, so a write to a record makes its old fragment unusable without any bookkeeping of
which records a write touched (correct by construction). What a
form shows beyond its own record (the catalog of prices and products an order's items name) is
declared per form: a write to one of those kinds drops that form's fragments.

A page is then `{"data":[f1,f2,...],"totalCount":n}` joined from fragments, the bytes `JSON.stringify`
writes for the same value. A page read again with exactly the same records at the same versions (the
common read after a write elsewhere) takes its fragments from the page's own entry at once, not record by
record (`PageKeeper`). The cache holds at most `max_bytes` (fragments and the documents they were
made from), forgetting the least recently used first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mock_server import jsjson

DEFAULT_MB = 32
ENTRY_OVERHEAD = 200  # the key and value tuples, the bytes objects' headers, the dict slot (an estimate)
ROW_OVERHEAD = 120  # one (id, version) row of a kept page: the tuple, the id string, the int (an estimate)
PAGES_MAX = 256  # kept pages (one per distinct list query); past it the least recently used goes
SEEDS_MAX = 512  # fragments a write added for records not read since; past it the oldest such go

Key = tuple[str, str]
# What a fragment was made from: the record's stored document, or the store's version of it (an int
# that names one stored document, see store.Store), which a page reads without reading the document.
Stamp = bytes | int


@dataclass(frozen=True)
class Form:
    """One way a service renders a record (`orders.list`, `orders.byId`, ...) and the kinds whose
    writes change that rendering beyond the record's own document."""
    name: str
    depends_on: frozenset[str] = frozenset()


class FragmentCache:
    def __init__(self, enabled: bool, max_bytes: int = DEFAULT_MB * 1024 * 1024) -> None:
        self.enabled = enabled and max_bytes > 0
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, tuple[Stamp, bytes]] = OrderedDict()
        self._shown_by: dict[str, set[str]] = {}  # kind -> the forms that show it besides their own record
        self._forms: set[str] = set()  # the forms kept so far (each registered in `_shown_by` once)
        # A list page's rows (id, version) and their fragments, by (form, page key): the same bytes as
        # the records' own entries, counted again in the budget (either may be forgotten first).
        self._pages: OrderedDict[Key, KeptPage] = OrderedDict()
        # Fragments `seed` added that no read has used yet, oldest first (at most SEEDS_MAX).
        self._seeds: OrderedDict[Key, None] = OrderedDict()
        self.size_bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self, kind: str | None = None) -> None:
        """After a write to `kind` (None: everything, e.g. a reset): drop the forms that show it."""
        if not self._entries and not self._pages:
            return
        if kind is None:
            self._entries.clear()
            self._pages.clear()
            self._seeds.clear()
            self.size_bytes = 0
            return
        forms = self._shown_by.get(kind)
        if not forms:
            return
        for key in [k for k in self._entries if k[0] in forms]:
            self._drop(key)
        for key in [k for k in self._pages if k[0] in forms]:
            self._drop_page(key)

    def _register(self, form: Form) -> None:
        self._forms.add(form.name)
        for kind in form.depends_on:
            self._shown_by.setdefault(kind, set()).add(form.name)

    @staticmethod
    def _cost(key: Key, doc: Stamp, fragment: bytes) -> int:
        return (len(doc) if isinstance(doc, bytes) else 8) + len(fragment) + len(key[1]) + ENTRY_OVERHEAD

    def _drop(self, key: Key) -> None:
        doc, fragment = self._entries.pop(key)
        self.size_bytes -= self._cost(key, doc, fragment)
        if self._seeds:
            self._seeds.pop(key, None)

    def _drop_page(self, key: Key) -> None:
        self.size_bytes -= self._pages.pop(key).cost

    def _make_room(self, cost: int) -> None:
        """Forget the least recently used (kept pages first: they are joined again from the records')."""
        while self._pages and self.size_bytes + cost > self.max_bytes:
            self._drop_page(next(iter(self._pages)))
        while self._entries and self.size_bytes + cost > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def get(self, form: Form, record_id: str, doc: Stamp) -> bytes | None:
        key = (form.name, record_id)
        hit = self._entries.get(key)
        if hit is None or hit[0] != doc:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        if self._seeds:
            self._seeds.pop(key, None)  # read: an entry like any other now
        return hit[1]

    def put(self, form: Form, record_id: str, doc: Stamp, fragment: bytes) -> None:
        if not self.enabled:
            return
        if form.name not in self._forms:
            self._register(form)
        key = (form.name, record_id)
        cost = self._cost(key, doc, fragment)
        if cost > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._make_room(cost)
        self._entries[key] = (doc, fragment)
        self.size_bytes += cost

    def seed(self, form: Form, record_id: str, doc: Stamp, fragment: bytes) -> None:
        """`put` the JSON a write answered with, for the read that follows it (a harness checking what it
        did, a demo's next poll). A record read before is renewed like any entry; one not read since is
        kept among the SEEDS_MAX most recent such, so creating thousands of records does not fill the
        budget (and the resident set, several times over) with what nobody asks for."""
        if not self.enabled:
            return
        key = (form.name, record_id)
        unread = key not in self._entries or key in self._seeds
        self.put(form, record_id, doc, fragment)
        if unread and key in self._entries:
            self._seeds[key] = None
            while len(self._seeds) > SEEDS_MAX:
                self._drop(next(iter(self._seeds)))

    def pages(self, form: Form, page_key: str) -> PageKeeper:
        """What one list page (`page_key`: its query) has kept, for `Table.page_versions`."""
        return PageKeeper(self, form, page_key)

    def _page(self, key: Key, versions: list[tuple[int]]) -> KeptPage | None:
        kept = self._pages.get(key)
        if kept is None or kept.versions != versions:
            return None
        self._pages.move_to_end(key)
        self.hits += len(versions)
        return kept

    def _keep_page(self, form: Form, key: Key, rows: list[tuple[str, int]], parts: list[bytes]) -> None:
        if not self.enabled:
            return
        if form.name not in self._forms:
            self._register(form)
        cost = sum(map(len, parts)) + ROW_OVERHEAD * len(rows) + len(key[1]) + ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return
        if key in self._pages:
            self._drop_page(key)
        elif len(self._pages) >= PAGES_MAX:
            self._drop_page(next(iter(self._pages)))
        self._make_room(cost)
        self._pages[key] = KeptPage([(rev,) for _, rev in rows], list(rows), list(parts), cost)
        self.size_bytes += cost

    def render(self, form: Form, record_id: str, doc: bytes, shape: Callable[[], Any]) -> bytes:
        """The fragment of one record: the kept one if `doc` is what it was made from, else `shape()`
        written as JSON.stringify writes it (and kept)."""
        if self.enabled:
            found = self.get(form, record_id, doc)
            if found is not None:
                return found
        fragment = jsjson.dumps(shape())
        self.put(form, record_id, doc, fragment)
        return fragment


@dataclass(slots=True)
class KeptPage:
    """A list page as last joined: its versions (as the store reads them), rows and fragments."""
    versions: list[tuple[int]]
    rows: list[tuple[str, int]]
    parts: list[bytes]
    cost: int


class PageKeeper:
    """One list page's view of the cache (`store.Kept`): the whole page when it was last joined from
    exactly these versions (no lookup per record), else each record's kept fragment; it keeps the page
    once every part is known."""

    __slots__ = ("_cache", "_form", "_key", "whole")

    def __init__(self, cache: FragmentCache, form: Form, page_key: str) -> None:
        self._cache = cache
        self._form = form
        self._key = (form.name, page_key)
        self.whole = False  # the page came from its own entry

    def page(self, versions: list[tuple[int]]) -> tuple[list[tuple[str, int]], list[bytes]] | None:
        kept = self._cache._page(self._key, versions) if self._cache.enabled else None
        self.whole = kept is not None
        return None if kept is None else (kept.rows, kept.parts)

    def __call__(self, rows: list[tuple[str, int]]) -> list[bytes | None]:
        cache = self._cache
        if not cache.enabled:
            return [None] * len(rows)
        get, form = cache.get, self._form
        return [get(form, rid, rev) for rid, rev in rows]

    def record(self, record_id: str, stamp: Stamp) -> bytes | None:
        """One record's fragment (pages read without versions: by document)."""
        return self._cache.get(self._form, record_id, stamp) if self._cache.enabled else None

    def keep(self, rows: list[tuple[str, int]], parts: list[bytes]) -> None:
        """The page's rows and their fragments, all known now (a page answered whole is kept already)."""
        if not self.whole:
            self._cache._keep_page(self._form, self._key, rows, parts)


def page(fragments: Sequence[bytes], total: int) -> bytes:
    """`{"data":[...],"totalCount":n}` from ready item fragments, as JSON.stringify writes it. The page
    is copied once (the head and tail go onto the first and last fragment): a page is tens of KB, read
    from memory the write before it left cold."""
    tail = b'],"totalCount":' + jsjson.integer(total).encode() + b"}"
    if not fragments:
        return b'{"data":[' + tail
    parts = list(fragments)
    parts[0] = b'{"data":[' + parts[0]
    parts[-1] = parts[-1] + tail
    return b",".join(parts)
