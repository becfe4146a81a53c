"""A cache of rendered GET answers, valid until the next write to the store.

Reads do not change state, so the same GET by the same location sees the same bytes until something
is written; any store write empties the whole cache (simple, and always correct). Handlers whose
read has a side effect (polling an order with a payment that settles after N polls) opt out.

The cache holds at most `max_bytes` of answers and forgets the least recently used first: without a
byte bound, thousands of distinct list queries between two writes kept hundreds of MB of bodies.
"""

from __future__ import annotations

from collections import OrderedDict

from starlette.requests import Request
from starlette.responses import Response

from mock_server.http.context import context_of

DEFAULT_MB = 32
# What one entry costs beyond its body and key bytes (the tuples, the bytes objects' headers, the
# dict slot); an estimate, so many tiny answers are bounded too.
ENTRY_OVERHEAD = 256

Key = tuple[str, bytes, str, str]


class ResponseCache:
    def __init__(self, enabled: bool, visible_kinds: frozenset[str], max_bytes: int = DEFAULT_MB * 1024 * 1024) -> None:
        self.enabled = enabled and max_bytes > 0
        self.max_bytes = max_bytes
        # Only writes to what the services' APIs show invalidate; webhook bookkeeping, Rankr and tokens
        # do not (auth is checked before the cache is consulted).
        self.visible_kinds = visible_kinds
        self._entries: OrderedDict[Key, tuple[int, bytes, bytes]] = OrderedDict()
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self, kind: str | None = None) -> None:
        if self._entries and (kind is None or kind in self.visible_kinds):
            self._entries.clear()
            self.size_bytes = 0

    @staticmethod
    def key(request: Request, location_id: str, token_class: str) -> Key:
        scope = request.scope
        return scope["path"].rstrip("/"), scope.get("query_string", b""), location_id, token_class

    @staticmethod
    def _cost(key: Key, body: bytes) -> int:
        return len(body) + len(key[0]) + len(key[1]) + ENTRY_OVERHEAD

    def get(self, key: Key) -> Response | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        self._entries.move_to_end(key)  # least recently used goes first
        status, body, media_type = hit
        response = Response(body, status_code=status)
        response.raw_headers.append((b"content-type", media_type))
        return response

    def put(self, key: Key, request: Request, response: Response) -> None:
        if not self.enabled or response.status_code != 200 or context_of(request.scope).no_cache:
            return
        media_type = next((v for k, v in response.raw_headers if k == b"content-type"), b"application/json")
        self.store(key, response.status_code, bytes(response.body), media_type)

    def store(self, key: Key, status: int, body: bytes, media_type: bytes) -> None:
        """Keep one answer, forgetting the least recently used ones until the cache fits its budget."""
        cost = self._cost(key, body)
        if cost > self.max_bytes:  # bigger than the whole budget: not worth evicting everything for
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size_bytes -= self._cost(key, old[1])
        while self._entries and self.size_bytes + cost > self.max_bytes:
            gone_key, gone = self._entries.popitem(last=False)
            self.size_bytes -= self._cost(gone_key, gone[1])
        self._entries[key] = (status, body, media_type)
        self.size_bytes += cost


def no_cache(request: Request) -> None:
    """Mark this request's answer as not cacheable."""
    context_of(request.scope).no_cache = True
