"""A cache of rendered GET answers, valid until a write changes what they show.

Reads do not change state, so the same GET by the same location sees the same bytes until something
is written. An answer whose handler said what it shows (a `Watch`: the records of one kind, and for a
list the counted query it pages) stays through writes that leave those untouched: a payment to one
order keeps the first page of a location's orders if that order is not on it and moved in or out of
no page of that query (`store.RowsWritten`), and keeps every other order's get-by-id answer. Any
other answer goes with every write of a kind the services show. Handlers whose read has a side effect
(polling an order with a payment that settles after N polls) opt out.

The cache holds at most `max_bytes` of answers and forgets the least recently used first: without a
byte bound, thousands of distinct list queries between two writes kept hundreds of MB of bodies.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from mock_server.http.context import context_of
from mock_server.store import QueryKey, RowsWritten

DEFAULT_MB = 32
# What one entry costs beyond its body and key bytes (the tuples, the bytes objects' headers, the
# dict slot); an estimate, so many tiny answers are bounded too.
ENTRY_OVERHEAD = 256
# Watched list answers checked against each write of their kind; past it a list answer is kept as an
# unwatched one (gone with the next write), so a write never walks thousands of them.
LIST_WATCHES_MAX = 64
# Watched by-id answers kept through writes; past it the least recently used goes. Unbounded, a run that
# reads each order once after writing it kept thousands of answers nobody asks for again.
RECORD_WATCHES_MAX = 1024
# By-id answers of records just written, set aside (their keys and watches, not their bodies) for
# `renew`: the action that wrote them answers with their new JSON right after. Past it the oldest go.
PARKED_MAX = 1024

# By-id read forms learned per kind and location (the path around the id, the query string, the token
# class): a record written in that location is answered under those keys too, before anyone reads it.
BY_ID_FORMS_KEPT = 4  # forms per kind and location, the most recently used
BY_ID_FORM_PLACES = 256  # kinds and locations whose forms are kept; past it the least recently used goes

Key = tuple[str, bytes, str, str]
_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class Watch:
    """What one answer shows: records `ids` of `kind` (their documents), for a list also the counted
    query whose page it is (`query`: its order and total), and the other kinds whose writes change
    the rendering (`shows`: the prices an order's items name)."""
    kind: str
    ids: frozenset[str]
    query: QueryKey | None = None
    shows: frozenset[str] = frozenset()

    def survives(self, change: RowsWritten) -> bool:
        """After a write of this kind: True when none of the records shown was written and, for a
        list, no record moved in, out or along its query."""
        return self.ids.isdisjoint(change.ids) and (self.query is None or self.query in change.unmoved)


@dataclass(frozen=True, slots=True)
class _ByIdForm:
    """How one client reads records of a kind by id: the key of the read of record X is
    (prefix + X + suffix, query, location, token_class)."""
    prefix: str
    suffix: str
    query: bytes
    token_class: str
    media_type: bytes
    shows: frozenset[str]


@dataclass(slots=True)
class _Entry:
    status: int
    body: bytes
    media_type: bytes
    watch: Watch | None


class ResponseCache:
    def __init__(self, enabled: bool, visible_kinds: frozenset[str], max_bytes: int = DEFAULT_MB * 1024 * 1024) -> None:
        self.enabled = enabled and max_bytes > 0
        self.max_bytes = max_bytes
        # Only writes to what the services' APIs show invalidate; webhook bookkeeping, Rankr and tokens
        # do not (auth is checked before the cache is consulted).
        self.visible_kinds = visible_kinds
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self.size_bytes = 0
        # Indexes of the entries by what drops them: any visible write (no watch), a write of one record
        # (a by-id watch), a write of the kind (a list watch, checked), a write of a kind shown besides.
        self._unwatched: set[Key] = set()
        self._by_record: dict[tuple[str, str], set[Key]] = {}
        self._lists: dict[str, dict[Key, Watch]] = {}
        self._by_shown: dict[str, set[Key]] = {}
        self._records: OrderedDict[Key, None] = OrderedDict()  # the by-id watched, least recently used first
        self._parked: OrderedDict[tuple[str, str], dict[Key, tuple[int, bytes, Watch | None]]] = OrderedDict()
        self._parked_count = 0
        self._forms: OrderedDict[tuple[str, str], dict[_ByIdForm, None]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.size_bytes = 0
        self._unwatched.clear()
        self._by_record.clear()
        self._lists.clear()
        self._by_shown.clear()
        self._records.clear()
        self._parked.clear()
        self._parked_count = 0
        self._forms.clear()

    def written(self, kind: str | None, change: RowsWritten | None = None) -> None:
        """After a write of `kind` (None: anything, e.g. a reset): drop what it may have changed.
        `change`, when the store knows it, keeps the watched answers it left alone."""
        if not self._entries or (kind is not None and kind not in self.visible_kinds):
            return
        if kind is None:
            self.clear()
            return
        for key in list(self._unwatched):
            self._drop(key)
        for key in list(self._by_shown.get(kind, ())):
            self._drop(key)
        lists = self._lists.get(kind, {})
        if change is None:
            for record in [r for r in self._by_record if r[0] == kind]:
                for key in list(self._by_record.get(record, ())):
                    self._drop(key)
            for key in list(lists):
                self._drop(key)
            return
        for record_id in change.ids:
            keys = self._by_record.get((kind, record_id))
            if keys:
                self._park((kind, record_id), list(keys))
        for key in [k for k, w in lists.items() if not w.survives(change)]:
            self._drop(key)

    def _park(self, record: tuple[str, str], keys: list[Key]) -> None:
        """Drop the by-id answers of a written record, keeping their keys and watches for `renew`."""
        parked = self._parked.pop(record, {})
        self._parked_count -= len(parked)
        for key in keys:
            entry = self._entries.get(key)
            self._drop(key)
            if entry is not None:
                parked[key] = (entry.status, entry.media_type, entry.watch)
        self._parked[record] = parked
        self._parked_count += len(parked)
        while self._parked_count > PARKED_MAX:
            self._parked_count -= len(self._parked.pop(next(iter(self._parked))))

    def renewable(self, kind: str, record_id: str, location_id: str = "") -> bool:
        """Whether `renew` would answer any read of the record: by-id answers of it that its last write
        dropped, or by-id reads of its kind in its location seen before (see `renew`)."""
        return (kind, record_id) in self._parked or (kind, location_id) in self._forms

    def renew(self, kind: str, record_id: str, body: bytes | None, location_id: str = "") -> None:
        """Answer the by-id reads of a record its last write dropped with `body` again, under their keys
        and watches (None: forget them); and, under the by-id read forms seen in its location (the
        path around the id, the query string, the token class), the reads not made yet. The caller
        vouches that `body` is what each of those reads answers now (the record's stored state
        rendered, and a read that changes nothing), as the action that wrote the record does with the
        JSON it answers with."""
        parked = self._parked.pop((kind, record_id), {})
        self._parked_count -= len(parked)
        if not self.enabled or body is None:
            return
        for key, (status, media_type, watch) in parked.items():
            self.store(key, status, body, media_type, watch)
        for form in self._forms.get((kind, location_id), ()):
            key = (form.prefix + record_id + form.suffix, form.query, location_id, form.token_class)
            if key not in self._entries:
                self.store(key, 200, body, form.media_type, Watch(kind, frozenset((record_id,)), shows=form.shows))

    def _learn(self, key: Key, media_type: bytes, watch: Watch) -> None:
        """Keep the form of a by-id read (a 200 answer watching one record whose id is in the path)."""
        (record_id,) = watch.ids
        path, query, location_id, token_class = key
        if not location_id or path.count(record_id) != 1:
            return
        prefix, suffix = path.split(record_id)
        place = (watch.kind, location_id)
        forms = self._forms.pop(place, {})
        form = _ByIdForm(prefix, suffix, query, token_class, media_type, watch.shows)
        forms.pop(form, None)
        forms[form] = None
        while len(forms) > BY_ID_FORMS_KEPT:
            del forms[next(iter(forms))]
        self._forms[place] = forms
        while len(self._forms) > BY_ID_FORM_PLACES:
            self._forms.popitem(last=False)

    @staticmethod
    def key(request: Request, location_id: str, token_class: str) -> Key:
        scope = request.scope
        return scope["path"].rstrip("/"), scope.get("query_string", b""), location_id, token_class

    @staticmethod
    def _cost(key: Key, body: bytes) -> int:
        return len(body) + len(key[0]) + len(key[1]) + ENTRY_OVERHEAD

    def get(self, key: Key) -> Response | None:
        hit = self._entries.get(key) if self.enabled else None
        if hit is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)  # least recently used goes first
        if key in self._records:
            self._records.move_to_end(key)
        response = Response(hit.body, status_code=hit.status)
        response.raw_headers.append((b"content-type", hit.media_type))
        return response

    def put(self, key: Key, request: Request, response: Response) -> None:
        context = context_of(request.scope)
        if not self.enabled or response.status_code != 200 or context.no_cache:
            return
        media_type = next((v for k, v in response.raw_headers if k == b"content-type"), b"application/json")
        watch = context.watch
        self.store(key, response.status_code, bytes(response.body), media_type, watch)
        if watch is not None and watch.query is None and len(watch.ids) == 1:
            self._learn(key, media_type, watch)

    def store(self, key: Key, status: int, body: bytes, media_type: bytes, watch: Watch | None = None) -> None:
        """Keep one answer, forgetting the least recently used ones until the cache fits its budget."""
        cost = self._cost(key, body)
        if cost > self.max_bytes:  # bigger than the whole budget: not worth evicting everything for
            return
        if key in self._entries:
            self._drop(key)
        while self._entries and self.size_bytes + cost > self.max_bytes:
            self._drop(next(iter(self._entries)))
        if watch is not None and watch.query is not None and len(self._lists.get(watch.kind, ())) >= LIST_WATCHES_MAX:
            watch = None
        self._entries[key] = _Entry(status, body, media_type, watch)
        self.size_bytes += cost
        if watch is None:
            self._unwatched.add(key)
            return
        if watch.query is not None:
            self._lists.setdefault(watch.kind, {})[key] = watch
        else:
            for record_id in watch.ids:
                self._by_record.setdefault((watch.kind, record_id), set()).add(key)
            self._records[key] = None
        for kind in watch.shows:
            self._by_shown.setdefault(kind, set()).add(key)
        while len(self._records) > RECORD_WATCHES_MAX:
            self._drop(next(iter(self._records)))

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.size_bytes -= self._cost(key, entry.body)
        watch = entry.watch
        if watch is None:
            self._unwatched.discard(key)
            return
        if watch.query is not None:
            lists = self._lists.get(watch.kind)
            if lists is not None:
                lists.pop(key, None)
                if not lists:
                    del self._lists[watch.kind]
        else:
            for record_id in watch.ids:
                _discard(self._by_record, (watch.kind, record_id), key)
            self._records.pop(key, None)
        for kind in watch.shows:
            _discard(self._by_shown, kind, key)


def _discard(index: dict[_K, set[Key]], at: _K, key: Key) -> None:
    keys = index.get(at)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[at]


def no_cache(request: Request) -> None:
    """Mark this request's answer as not cacheable."""
    context_of(request.scope).no_cache = True


def watch(request: Request, what: Watch) -> None:
    """Say what this request's answer shows, so the cache keeps it through writes that leave it alone."""
    context_of(request.scope).watch = what
