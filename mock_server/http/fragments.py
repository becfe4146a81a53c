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
writes for the same value. The cache holds at most `max_bytes` (fragments and the documents they were
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
        self._depends: dict[str, frozenset[str]] = {}  # form -> the kinds it shows besides its own record
        self.size_bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self, kind: str | None = None) -> None:
        """After a write to `kind` (None: everything, e.g. a reset): drop the forms that show it."""
        if not self._entries:
            return
        if kind is None:
            self._entries.clear()
            self.size_bytes = 0
            return
        forms = {f for f, kinds in self._depends.items() if kind in kinds}
        if not forms:
            return
        for key in [k for k in self._entries if k[0] in forms]:
            self._drop(key)

    @staticmethod
    def _cost(key: Key, doc: Stamp, fragment: bytes) -> int:
        return (len(doc) if isinstance(doc, bytes) else 8) + len(fragment) + len(key[1]) + ENTRY_OVERHEAD

    def _drop(self, key: Key) -> None:
        doc, fragment = self._entries.pop(key)
        self.size_bytes -= self._cost(key, doc, fragment)

    def get(self, form: Form, record_id: str, doc: Stamp) -> bytes | None:
        key = (form.name, record_id)
        hit = self._entries.get(key)
        if hit is None or hit[0] != doc:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return hit[1]

    def put(self, form: Form, record_id: str, doc: Stamp, fragment: bytes) -> None:
        if not self.enabled:
            return
        self._depends[form.name] = form.depends_on
        key = (form.name, record_id)
        cost = self._cost(key, doc, fragment)
        if cost > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        while self._entries and self.size_bytes + cost > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[key] = (doc, fragment)
        self.size_bytes += cost

    def kept(self, form: Form) -> Callable[[str, Stamp], bytes | None]:
        """`get` by the store's version of a record (for `Table.page_versions`) or by its document;
        nothing when the cache is off."""
        if not self.enabled:
            return lambda record_id, rev: None
        return lambda record_id, rev: self.get(form, record_id, rev)

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


def page(fragments: Sequence[bytes], total: int) -> bytes:
    """`{"data":[...],"totalCount":n}` from ready item fragments, as JSON.stringify writes it."""
    return b'{"data":[' + b",".join(fragments) + b'],"totalCount":' + jsjson.integer(total).encode() + b"}"
