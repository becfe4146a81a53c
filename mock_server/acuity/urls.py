"""The fake Acuity's routing table, served under /acuity (documented in contracts/acuity.openapi.yaml).

One Starlette route takes everything under `/acuity/api/v1`: `dispatch` strips an optional `.json`
suffix, matches the table, applies the per-IP rate limit, authenticates (Basic `userId:apiKey` or a
Bearer token from the OAuth2 flow) and calls the handler, so unknown paths (404 with a "Did you mean"
hint), wrong verbs (405) and every other error come in Acuity's own envelope.

The write side adds rows to `ACUITY_TABLE` (method, pattern, handler); `{id:number}` matches an integer.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from mock_server.acuity import responses as api
from mock_server.acuity.models import AcuityAccount
from mock_server.acuity.ratelimit import EDGE_403_HTML
from mock_server.acuity.responses_write import WRITE_TABLE
from mock_server.acuity.world import AcuityWorld
from mock_server.http.cache import no_cache
from mock_server.http.context import context_of

Handler = Callable[[api.Call], Awaitable[Response]]
PREFIX = "/acuity/api/v1"
OAUTH_PREFIX = "/acuity/oauth2"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

ACUITY_TABLE: list[tuple[str, str, Handler]] = [
    ("GET", "/appointments", api.list_appointments),
    ("GET", "/appointments/{id:number}", api.get_appointment),
    ("GET", "/appointments/{id:number}/payments", api.appointment_payments),
    ("GET", "/clients", api.list_clients),
    ("GET", "/appointment-types", api.list_appointment_types),
    ("GET", "/calendars", api.list_calendars),
    ("GET", "/availability/dates", api.availability_dates),
    ("GET", "/availability/times", api.availability_times),
    ("GET", "/orders", api.list_orders),
    ("GET", "/orders/{id:number}", api.get_order),
    ("GET", "/certificates", api.list_certificates),
    ("GET", "/products", api.list_products),
    ("GET", "/forms", api.list_forms),
    ("GET", "/me", api.me),
    *WRITE_TABLE,  # responses_write: POST/PUT appointments, cancel, reschedule, dynamic webhooks
]
# Answered without credentials.
PUBLIC: dict[str, Callable[[Request], Awaitable[Response]]] = {"/meta": api.meta}


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern[str]


def _compile(pattern: str) -> Pattern:
    regex = re.sub(r"\\\{(\w+):number\\\}", lambda m: rf"(?P<{m[1]}>\d{{1,15}})", re.escape(pattern))
    return Pattern(pattern, re.compile(regex + "$"))


def _table() -> dict[str, tuple[Pattern, dict[str, Handler]]]:
    merged: dict[str, tuple[Pattern, dict[str, Handler]]] = {}
    for method, pattern, handler in ACUITY_TABLE:
        merged.setdefault(pattern, (_compile(pattern), {}))[1][method] = handler
    return merged


def hint(path: str, patterns: list[str]) -> str | None:
    """The known route an unknown path most likely meant (`/appointment/12` -> `/appointments/{id:number}`)."""
    literals = {seg for p in patterns for seg in p.split("/") if seg and not seg.startswith("{")}
    with_ids = {p.split("/")[-2] for p in patterns if p.endswith("/{id:number}")}
    segments = path.split("/")
    for i, seg in enumerate(segments):
        # A number, or a malformed id where a number goes (`/appointments/abc`), reads as `{id:number}`.
        if any(ch.isdigit() for ch in seg) or (i > 1 and seg not in literals and segments[i - 1] in with_ids):
            segments[i] = "{id:number}"
    found = difflib.get_close_matches("/".join(segments), patterns, n=1, cutoff=0.6)
    return found[0] if found else None


def _credentials(request: Request, world: AcuityWorld) -> AcuityAccount:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    account: AcuityAccount | None = None
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, sep, password = decoded.partition(":")
        if sep:
            account = world.authenticate_basic(user, password)
    elif scheme.lower() == "bearer" and value.strip():
        account = world.authenticate_bearer(value.strip())
    if account is None:
        raise api.unauthorized()
    context_of(request.scope).location_id = account.location_id  # the journal shows whose call it was
    return account


def _rate_limited(world: AcuityWorld, verdict: str) -> Response:
    if verdict == "403":
        return HTMLResponse(EDGE_403_HTML, status_code=403)
    cfg = world.ratelimiter.config
    return api.AcuityError(429, "too_many_requests", f"Rate limit reached. Limit {cfg.per_second}req/s and "
                           f"{cfg.concurrent} concurrent connections.").response()


def make_dispatch() -> Callable[[Request], Awaitable[Response]]:
    table = _table()
    patterns = [*(p for p in table), *PUBLIC]

    async def dispatch(request: Request) -> Response:
        no_cache(request)  # never from the shared GET cache: Acuity reads are always fresh
        world = api.world_of(request)
        path = request.url.path[len(PREFIX):]
        if path.endswith(".json"):
            path = path[:-len(".json")]
        if len(path) > 1:
            path = path.rstrip("/")
        method = "GET" if request.method == "HEAD" else request.method
        ip = request.client.host if request.client else "?"
        verdict = world.ratelimiter.acquire(ip)
        if verdict is not None:
            return _rate_limited(world, verdict)
        try:
            if path in PUBLIC:
                if method != "GET":
                    raise api.AcuityError(405, "method_not_allowed", "Method Not Allowed", {"Allow": "GET"})
                return await PUBLIC[path](request)
            for pattern, handlers in table.values():
                found = pattern.regex.match(path)
                if found is None:
                    continue
                if method not in handlers:
                    raise api.AcuityError(405, "method_not_allowed", "Method Not Allowed",
                                          {"Allow": ", ".join(sorted(handlers))})
                account = _credentials(request, world)
                params = {k: int(v) for k, v in found.groupdict().items()}
                return await handlers[method](api.Call(request, world, account, params))
            raise api.not_found(hint(path, patterns))
        except api.AcuityError as exc:
            return exc.response()
        finally:
            world.ratelimiter.release(ip)

    return dispatch


async def _oauth_not_found(request: Request) -> Response:
    return api.not_found().response()


def acuity_routes() -> list[Route]:
    dispatch = make_dispatch()
    return [
        Route(f"{OAUTH_PREFIX}/authorize", api.oauth_authorize, methods=ALL_METHODS),
        Route(f"{OAUTH_PREFIX}/token", api.oauth_token, methods=ALL_METHODS),
        Route(PREFIX, dispatch, methods=ALL_METHODS),
        Route(PREFIX + "/{rest:path}", dispatch, methods=ALL_METHODS),
        Route("/acuity", _oauth_not_found, methods=ALL_METHODS),
        Route("/acuity/{rest:path}", _oauth_not_found, methods=ALL_METHODS),
    ]
