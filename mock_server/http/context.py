"""Typed per-request state shared by the gateway, the services' guards, the fault middleware and the
response cache (one object in the ASGI scope instead of loose keys), and the typed way to the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection
from starlette.types import Scope, Send

if TYPE_CHECKING:
    from mock_server.http.cache import Watch
    from mock_server.runtime import Runtime

_SCOPE_KEY = "ghl_sandbox.request"


@dataclass(slots=True)
class RequestContext:
    trace: str = ""
    # The runtime serving the request (set by the gateway; `runtime_of` falls back to the app's state).
    runtime: Runtime | None = None
    # Headers the gateway read in its one pass over them, for the services' guards (`headers_read`):
    # the first `Version` and `Authorization` (None when absent), decoded as Starlette decodes them
    # (latin-1), as `request.headers.get` answers.
    headers_read: bool = False
    version: str | None = None
    authorization: str | None = None
    # The server's own `send`: fault injection drops connections through it, under any middleware.
    raw_send: Send | None = None
    # Who called, for the journal: set once the service has authenticated the caller.
    token_id: str | None = None
    location_id: str | None = None
    # What fault injection did to the request.
    fault: str | None = None
    dropped: bool = False
    committed_status: int | None = None
    # The answer must not be served from the response cache (its read had a side effect).
    no_cache: bool = False
    # What the answer shows, for the response cache to keep it through writes elsewhere (`cache.watch`).
    watch: Watch | None = None


def context_of(scope: Scope) -> RequestContext:
    """This request's context (made on first use, so code outside the gateway still gets one)."""
    found = scope.get(_SCOPE_KEY)
    if found is None:
        found = scope[_SCOPE_KEY] = RequestContext()
    assert isinstance(found, RequestContext)
    return found


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The runtime serving this app (set by `mock_server.app.build_app`; the gateway keeps it in the
    request's context, one lookup instead of four on every call)."""
    found = connection.scope.get(_SCOPE_KEY)
    if found is not None and found.runtime is not None:
        return found.runtime  # type: ignore[no-any-return]
    runtime: Runtime = connection.app.state.runtime
    return runtime
