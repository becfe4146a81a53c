"""`POST /_sandbox/batch`: several control-plane GETs answered in one request.

A harness's round of checks reads the journal, the deliveries, a location's state and the destination's
records, each once (`scenarios.context.HarnessSandbox.one_look`); asked one request each, the requests
cost more than the reads (some 0.7 ms of the caller's CPU and 0.5 ms of the sandbox's per request, about
3,000 of them in a library run). Each read here is answered by the app itself, as that GET would be:
the same guards, handlers and ETags; only the HTTP round trip is shared.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mock_server import jsjson
from mock_server.control.validation import validated_body
from mock_server.http.context import context_of
from mock_server.http.errors import JSON, error_body, reason

PREFIX = "/_sandbox"
# Reads that wait (a long poll) would hold every other read of the batch back: asked on their own.
NOT_BATCHED = ("/wait",)
# What a read is asked with from the batch's own request: who asks, never its body's framing.
DROPPED_HEADERS = frozenset({b"content-length", b"content-type", b"transfer-encoding", b"if-none-match",
                             b"expect"})
SCOPE_KEYS = ("type", "asgi", "http_version", "scheme", "server", "client", "root_path", "app")


async def batch(request: Request) -> Response:
    data = await validated_body(request, "sandbox-batch")
    answers = [await _read(request, item["path"], item.get("ifNoneMatch")) for item in data["requests"]]
    return Response(orjson.dumps({"responses": answers}), media_type=JSON)


async def _read(request: Request, target: str, if_none_match: str | None) -> dict[str, Any]:
    raw_path, _, query = target.partition("?")
    if raw_path.startswith(NOT_BATCHED):
        refusal = error_body(422, [f"{PREFIX}{raw_path} waits: ask it on its own, not in a batch"], reason(422),
                             context_of(request.scope).trace)
        return {"status": 422, "body": orjson.Fragment(jsjson.dumps(refusal))}
    path = PREFIX + unquote(raw_path)
    headers = [(k, v) for k, v in request.scope["headers"] if k not in DROPPED_HEADERS]
    if if_none_match:
        headers.append((b"if-none-match", if_none_match.encode()))
    scope: dict[str, Any] = {key: request.scope[key] for key in SCOPE_KEYS if key in request.scope}
    scope.update(method="GET", path=path, raw_path=(PREFIX + raw_path).encode(), query_string=query.encode(),
                 headers=headers, state={})
    asked = False
    status = 500
    content_type = etag = ""
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if asked:
            return {"type": "http.disconnect"}
        asked = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, content_type, etag
        if message["type"] == "http.response.start":
            status = message["status"]
            for key, value in message.get("headers", []):
                if key == b"content-type":
                    content_type = value.decode("latin-1")
                elif key == b"etag":
                    etag = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await request.scope["app"](scope, receive, send)
    answer: dict[str, Any] = {"status": status}
    if etag:
        answer["etag"] = etag
    body = b"".join(chunks)
    if status != 304 and body:
        # A JSON answer goes in as written (no second encoding); anything else (a YAML contract) as text.
        answer["body"] = orjson.Fragment(body) if content_type.startswith("application/json") else body.decode(errors="replace")
    return answer
