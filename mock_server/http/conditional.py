"""Control-plane reads answered `304 Not Modified` while nothing they read was written.

A harness polls a location's whole state (`GET /_sandbox/locations/{id}/state`, `GET
/_sandbox/acuity/state`) every round of its checks while it waits for the client, and most rounds
nothing in that state changed: the client was writing to Rankr, not to GHL. Rebuilding, sending and
parsing the same tens of kilobytes was a tenth of a library run's CPU. So such a read answers with an
`ETag`, and a request that sends it back in `If-None-Match` is answered 304, with no body, while the
store holds the same versions of everything the first answer read.

What was read is noted by the store itself (`Store.tracking_reads`), so a view that starts reading
another table is covered without being told. The rule for a view answered here: it is built only from
the store, the request's path and its query string.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server.http.errors import json_response
from mock_server.store import Store

KEEP_TAGS = 512  # entity tags remembered with what their answer read; past it the oldest are forgotten


class ConditionalReads:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._read: OrderedDict[str, tuple[str, frozenset[str]]] = OrderedDict()  # tag -> (resource, names)

    def answer(self, request: Request, build: Callable[[], Any]) -> Response:
        """`build()`'s value as JSON with an `ETag`, or 304 when the request's `If-None-Match` names an
        answer whose reads are all unchanged. Errors `build` raises are answered as usual."""
        resource = _resource(request)
        for tag in _tags(request.headers.get("if-none-match", "")):
            known = self._read.get(tag)
            if known is not None and known[0] == resource and self._tag(resource, known[1]) == tag:
                self._read.move_to_end(tag)
                return Response(status_code=304, headers={"ETag": tag})
        writes = self.store.write_count
        with self.store.tracking_reads() as names:
            value = build()
        response = json_response(value)
        if self.store.write_count == writes:  # else the answer may mix two states: never validated
            tag = self._tag(resource, names)
            self._read[tag] = (resource, frozenset(names))
            self._read.move_to_end(tag)
            while len(self._read) > KEEP_TAGS:
                self._read.popitem(last=False)
            response.headers["ETag"] = tag
        return response

    def _tag(self, resource: str, names: frozenset[str] | set[str]) -> str:
        return f'"{self.store.read_stamp(names, salt=resource)}"'


def _resource(request: Request) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def _tags(header: str) -> list[str]:
    """The entity tags of an `If-None-Match` header (weak ones compared as strong: ours are strong)."""
    tags = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tags.append(tag)
    return tags
