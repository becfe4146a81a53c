"""Outermost ASGI middleware for every request: trace id, request-body limit (413), the request
journal, and a last-resort shield so no input ever yields a traceback (a GHL-shaped 500 instead)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server import jsjson
from mock_server.http.context import context_of
from mock_server.http.errors import error_body

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

log = logging.getLogger("ghl_sandbox")

JOURNALED_PREFIXES = ("/payments", "/oauth", "/rankr", "/acuity")
# The control plane takes whole-state documents (`PUT /_sandbox/state`): an export of the default
# seed is already past the API's 1 MiB body limit, so control requests get a far larger one.
CONTROL_MAX_BODY_BYTES = 1 << 30


class BodyTooLarge(Exception):
    pass


class ClientGone(OSError):
    """The server's `send` failed: the caller is gone (ASGI 2.4 servers raise an OSError there)."""


# How a caller that went away shows up: Starlette's ClientDisconnect (reading the body, or writing
# through a closed transport), a failed send, anyio's closed or broken streams, the OS's broken pipe
# or reset. Nothing is wrong on our side and there is no one to answer.
DISCONNECTS = (ClientDisconnect, ClientGone, anyio.ClosedResourceError, anyio.BrokenResourceError, BrokenPipeError,
               ConnectionResetError)


class Gateway:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        trace = runtime.trace_id()
        context = context_of(scope)
        context.trace = trace
        context.raw_send = send
        context.runtime = runtime
        started = time.perf_counter()
        status = 0
        response_started = False
        path: str = scope["path"]
        limit = runtime.settings.max_body_bytes
        if path.startswith("/_sandbox"):
            limit = max(limit, CONTROL_MAX_BODY_BYTES)
        # One pass over the headers for everything the gateway and the journal need.
        declared: int | None = None
        has_version = has_bearer = False
        idempotency_key: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                has_bearer = value[:7].lower() == b"bearer " and len(value.strip()) > 7
                if context.authorization is None:
                    context.authorization = value.decode("latin-1")
            elif name == b"version":
                has_version = True
                if context.version is None:
                    context.version = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
            elif name == b"idempotency-key":
                idempotency_key = value.decode("latin-1")[:200]
        context.headers_read = True

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            try:
                await send(message)
            except OSError as exc:  # the transport's error, told apart from the application's own OSErrors
                raise ClientGone(str(exc)) from exc

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            if declared is not None and declared > limit:
                raise BodyTooLarge
            # A GET carries no body worth counting: skip the receive wrapper on the hot path.
            await self.app(scope, receive if scope["method"] in ("GET", "HEAD") else receive_wrapper, send_wrapper)
        except BodyTooLarge:
            if not response_started:
                status = 413
                await _send_error(send, 413, "request entity too large", "Payload Too Large", trace)
        except ConnectionAbortedError:  # an injected fault dropped the connection on purpose
            pass
        except DISCONNECTS:  # the caller went away mid-request: one quiet line, never a traceback
            log.debug("client went away during %s %s", scope.get("method"), path)
        except Exception:  # never a traceback on the wire
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if not response_started:
                status = 500
                await _send_error(send, 500, "Internal server error", "Internal Server Error", trace)
        finally:
            if path.startswith(JOURNALED_PREFIXES):
                runtime.journal.record({
                    "ts": time.time(),
                    "method": scope["method"],
                    "path": path,
                    # Bounded, so a flood of huge query strings cannot grow the journal past its budget.
                    "query": scope.get("query_string", b"")[:2048].decode("latin-1"),
                    # A dropped connection answered nothing (0); commit-then-drop did the work first.
                    "status": 0 if context.dropped else status,
                    "committedStatus": context.committed_status,
                    "latencyMs": round((time.perf_counter() - started) * 1000, 3),
                    "tokenId": context.token_id,
                    "locationId": context.location_id,
                    "traceId": trace,
                    "fault": context.fault,
                    # What the caller sent, for hygiene checks (never the secret itself).
                    "hasVersion": has_version,
                    "hasBearer": has_bearer,
                    "idempotencyKey": idempotency_key,
                })


async def _send_error(send: Send, status: int, message: str, error: str, trace: str) -> None:
    body = jsjson.dumps(error_body(status, message, error, trace))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
