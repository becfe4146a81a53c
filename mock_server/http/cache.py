"""A cache of rendered GET answers, valid until the next write to the store.

Reads do not change state, so the same GET by the same location sees the same bytes until something
is written; any store write empties the whole cache (simple, and always correct). Handlers whose
read has a side effect (polling an order with a payment that settles after N polls) opt out.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mock_server.http.context import context_of

MAX_ENTRIES = 4096


class ResponseCache:
    def __init__(self, enabled: bool, visible_kinds: frozenset[str]) -> None:
        self.enabled = enabled
        # Only writes to what the services' APIs show invalidate; webhook bookkeeping, Rankr and tokens
        # do not (auth is checked before the cache is consulted).
        self.visible_kinds = visible_kinds
        self._entries: dict[tuple[str, bytes, str, str], tuple[int, bytes, bytes]] = {}

    def clear(self, kind: str | None = None) -> None:
        if self._entries and (kind is None or kind in self.visible_kinds):
            self._entries.clear()

    @staticmethod
    def key(request: Request, location_id: str, token_class: str) -> tuple[str, bytes, str, str]:
        scope = request.scope
        return scope["path"].rstrip("/"), scope.get("query_string", b""), location_id, token_class

    def get(self, key: tuple[str, bytes, str, str]) -> Response | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        status, body, media_type = hit
        response = Response(body, status_code=status)
        response.raw_headers.append((b"content-type", media_type))
        return response

    def put(self, key: tuple[str, bytes, str, str], request: Request, response: Response) -> None:
        if not self.enabled or response.status_code != 200 or context_of(request.scope).no_cache:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        media_type = next((v for k, v in response.raw_headers if k == b"content-type"), b"application/json")
        self._entries[key] = (response.status_code, bytes(response.body), media_type)


def no_cache(request: Request) -> None:
    """Mark this request's answer as not cacheable."""
    context_of(request.scope).no_cache = True
