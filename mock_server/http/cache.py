"""A cache of rendered GET answers, each kept until a write can change it.

Reads do not change state, so the same GET by the same location sees the same bytes until something
it shows is written. A handler may declare what its answer shows (`shows(request)`): the records it
shows by id, the list filters whose members, order and total it shows, and the kinds any write of
which changes it. A store write (`Change`) then drops only the answers it can change: a payment of
one order drops that order's by-id answers and the lists it enters, leaves or sits on, not the
location's other lists, nor any list of another location.
An answer whose handler declared nothing is dropped by every write to a kind the services' APIs show
(simple, and always correct). Handlers whose read has a side effect (polling an order with a payment
that settles after N polls) opt out (`no_cache`).

The cache holds at most `max_bytes` of answers and forgets the least recently used first: without a
byte bound, thousands of distinct list queries between two writes kept hundreds of MB of bodies.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from mock_server.http.context import context_of
from mock_server.store import Change, ListKey

DEFAULT_MB = 32
# What one entry costs beyond its body and key bytes (the tuples, the bytes objects' headers, the
# dict slot); an estimate, so many tiny answers are bounded too.
ENTRY_OVERHEAD = 256
# What each index entry of an answer (a record, list or kind it shows) costs besides: the tag tuple, its
# slot in the index's sets and, for a record shown by one answer only, a set of its own (an estimate).
TAG_OVERHEAD = 320
# Writes to these kinds drop every answer, declared or not (a new or removed location).
DROP_ALL_KINDS = frozenset({"locations"})

Key = tuple[str, bytes, str, str]
Tag = tuple[str, ...]  # an index entry: which writes reach an answer (see `Shows.tags`)
UNDECLARED: Tag = ("*",)


@dataclass
class Shows:
    """What one answer shows, as its handler declares it while rendering (see the module doc)."""

    records: dict[str, set[str]] = field(default_factory=dict)  # kind -> ids of the records shown
    lists: dict[str, set[ListKey]] = field(default_factory=dict)  # kind -> list filters shown (members, order, total)
    kinds: set[str] = field(default_factory=set)  # kinds any write of which changes it

    def record(self, kind: str, record_id: str) -> None:
        self.records.setdefault(kind, set()).add(record_id)

    def page(self, kind: str, key: ListKey, record_ids: Iterable[str]) -> None:
        """A page of the list `key`: its records, their order and the list's total."""
        self.lists.setdefault(kind, set()).add(key)
        self.records.setdefault(kind, set()).update(record_ids)

    def any_of(self, kinds: Iterable[str]) -> None:
        self.kinds.update(kinds)

    def tags(self) -> list[Tag]:
        """Index entries: ("k", kind) any write of the kind; ("r", kind, id) a write of that record,
        ("R", kind) a write of records not known; ("l", kind) a write of the kind, then checked against
        the lists shown."""
        out: list[Tag] = [("k", kind) for kind in self.kinds]
        for kind, ids in self.records.items():
            out.append(("R", kind))
            out += [("r", kind, record_id) for record_id in ids]
        out += [("l", kind) for kind in self.lists]
        return out


@dataclass
class _Entry:
    status: int
    body: bytes
    media_type: bytes
    shows: Shows | None
    tags: list[Tag]


class ResponseCache:
    def __init__(self, enabled: bool, visible_kinds: frozenset[str], max_bytes: int = DEFAULT_MB * 1024 * 1024) -> None:
        self.enabled = enabled and max_bytes > 0
        self.max_bytes = max_bytes
        # Only writes to what the services' APIs show invalidate; webhook bookkeeping, Rankr and tokens
        # do not (auth is checked before the cache is consulted).
        self.visible_kinds = visible_kinds
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._index: dict[Tag, set[Key]] = {}
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self, kind: str | None = None) -> None:
        """Drop everything (None), or every answer a write of any record of `kind` can change."""
        if kind is None:
            self._entries.clear()
            self._index.clear()
            self.size_bytes = 0
        else:
            self.changed(Change(kind))

    def changed(self, change: Change) -> None:
        """A store write: drop the answers it can change, keep the others."""
        if not self._entries:
            return
        kind, index = change.kind, self._index
        if kind in DROP_ALL_KINDS:
            self.clear()
            return
        doomed: set[Key] = set()
        if kind in self.visible_kinds:
            doomed.update(index.get(UNDECLARED, ()))
        doomed.update(index.get(("k", kind), ()))
        if change.ids is None:
            doomed.update(index.get(("R", kind), ()))
        else:
            for record_id in change.ids:
                doomed.update(index.get(("r", kind, record_id), ()))
        for key in index.get(("l", kind), ()):
            if key in doomed:
                continue
            shows = self._entries[key].shows
            if change.ids is None or shows is None or not shows.lists[kind] <= change.unmoved:
                doomed.add(key)
        for key in doomed:
            self._drop(key)

    @staticmethod
    def key(request: Request, location_id: str, token_class: str) -> Key:
        scope = request.scope
        return scope["path"].rstrip("/"), scope.get("query_string", b""), location_id, token_class

    @staticmethod
    def _cost(key: Key, body: bytes, tags: int = 1) -> int:
        return len(body) + len(key[0]) + len(key[1]) + ENTRY_OVERHEAD + (tags - 1) * TAG_OVERHEAD

    def get(self, key: Key) -> Response | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        self._entries.move_to_end(key)  # least recently used goes first
        response = Response(hit.body, status_code=hit.status)
        response.raw_headers.append((b"content-type", hit.media_type))
        return response

    def put(self, key: Key, request: Request, response: Response) -> None:
        context = context_of(request.scope)
        if not self.enabled or response.status_code != 200 or context.no_cache:
            return
        media_type = next((v for k, v in response.raw_headers if k == b"content-type"), b"application/json")
        self.store(key, response.status_code, bytes(response.body), media_type, context.shows)

    def store(self, key: Key, status: int, body: bytes, media_type: bytes, shows: Shows | None = None) -> None:
        """Keep one answer (with what it shows: None, any visible write drops it), forgetting the least
        recently used ones until the cache fits its budget."""
        tags = shows.tags() if shows is not None else []
        if not tags:  # nothing declared: any visible write drops it
            shows, tags = None, [UNDECLARED]
        cost = self._cost(key, body, len(tags))
        if cost > self.max_bytes:  # bigger than the whole budget: not worth evicting everything for
            return
        if key in self._entries:
            self._drop(key)
        while self._entries and self.size_bytes + cost > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[key] = _Entry(status, body, media_type, shows, tags)
        for tag in tags:
            self._index.setdefault(tag, set()).add(key)
        self.size_bytes += cost

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key)
        self.size_bytes -= self._cost(key, entry.body, len(entry.tags))
        for tag in entry.tags:
            keys = self._index.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[tag]


def no_cache(request: Request) -> None:
    """Mark this request's answer as not cacheable."""
    context_of(request.scope).no_cache = True


def shows(request: Request) -> Shows:
    """What this request's answer shows: the handler declares it while rendering (see the module doc)."""
    context = context_of(request.scope)
    if context.shows is None:
        context.shows = Shows()
    return context.shows
