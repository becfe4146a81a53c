"""Per-route policy for the GHL API: `Version` header, bearer token, rate limit, token class and scope;
and how the GHL API renders its errors (a 422 as the live API's NestJS serialisation).

Routes declare their scope in the routing table (`urls.py`); this module applies it, calling the
auth and rate-limit services, so handlers only see an authenticated token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server import jsjson
from mock_server.ghl.auth import AuthFailure
from mock_server.ghl.errors import InvalidOperation, NotFound
from mock_server.ghl.models import Token
from mock_server.ghl.world import Ghl
from mock_server.http.context import context_of, runtime_of
from mock_server.http.errors import JSON, ApiError, bad_request, error_body, forbidden, unauthorized

SUPPORTED_VERSIONS = frozenset({"2021-04-15", "2021-07-28", "2023-02-21", "v3", "legacy"})  # ref §1.3

Handler = Callable[[Request, Token], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def ghl_error_body(exc: ApiError, trace_id: str) -> dict[str, Any]:
    """The GHL API's error body. A 422 is NestJS's UnprocessableEntityException as the live API serialises
    it (reference §1.4, keys in the captured order), `message` always a list; other statuses keep the
    shared `{statusCode, message, error, traceId}`."""
    if exc.status != 422:
        return error_body(exc.status, exc.message, exc.error, trace_id)
    messages = exc.message if isinstance(exc.message, list) else [exc.message]
    return {"status": 422, "options": {}, "message": messages, "name": "UnprocessableEntityException",
            "error": exc.error, "statusCode": 422, "traceId": trace_id}


def ghl_error_response(exc: ApiError, trace_id: str) -> Response:
    return Response(jsjson.dumps(ghl_error_body(exc, trace_id)), status_code=exc.status, media_type=JSON,
                    headers=exc.headers)


def ghl_errors(handler: Endpoint) -> Endpoint:
    """For GHL routes outside `guarded` (the token endpoint): their ApiErrors rendered the GHL way."""
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return ghl_error_response(exc, context_of(request.scope).trace)

    return endpoint


def bearer(request: Request) -> str:
    context = context_of(request.scope)
    header = (context.authorization or "") if context.headers_read else request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def guarded(handler: Handler, scope_name: str, token_class: str = "location",
            versions: frozenset[str] = SUPPORTED_VERSIONS) -> Endpoint:
    """`versions`: the Version values the route exists under (the v3-only OAuth paths answer 404 to the
    others, as the live API does)."""
    async def endpoint(request: Request) -> Response:
        runtime = runtime_of(request)
        auth = runtime.part(Ghl).auth
        cache = runtime.responses
        context = context_of(request.scope)
        trace = context.trace
        rate_headers: list[tuple[bytes, bytes]] = []
        try:
            version = context.version if context.headers_read else request.headers.get("version")
            if version is None:
                raise unauthorized("version header was not found.")
            if version not in SUPPORTED_VERSIONS:
                raise unauthorized("version header is invalid")
            if version not in versions:
                raise ApiError(404, f"Cannot {request.method} {request.url.path}")
            try:
                token = auth.authenticate(bearer(request))
            except AuthFailure as exc:
                raise ApiError(exc.status, exc.message) from None
            context.token_id, context.location_id = token.id, token.location_id or None
            # Buckets are per app and resource: the location, or the company for a Company token (§5).
            resource = token.location_id if token.token_class == "location" else token.company_id
            allowed, rate_headers = runtime.ratelimiter.consume(token.app_id, resource)
            if not allowed:
                raise ApiError(429, "Too Many Requests", "Too Many Requests")
            try:
                auth.authorize(token, scope_name, token_class)
            except AuthFailure as exc:
                raise ApiError(exc.status, exc.message) from None
            if request.method == "GET":
                key = cache.key(request, token.location_id, token.token_class)
                cached = cache.get(key)
                if cached is None:
                    cached = await handler(request, token)
                    cache.put(key, request, cached)
                response = cached
            else:
                response = await handler(request, token)
        except ApiError as exc:
            response = ghl_error_response(exc, trace)
        except NotFound as exc:
            response = ghl_error_response(bad_request(f"{exc.kind} not found"), trace)
        except InvalidOperation as exc:
            response = ghl_error_response(bad_request(str(exc)), trace)
        if rate_headers:
            response.raw_headers.extend(rate_headers)
        return response

    return endpoint


def check_location(token: Token, *location_ids: str | None) -> str:
    """`altId` (and `locationId`, when given) must be the token's location: another location is 403."""
    target = ""
    for loc in location_ids:
        if loc:
            target = target or loc
            if token.token_class == "location" and loc != token.location_id:
                raise forbidden()
    if not target:  # callers pass a validated, required altId first
        raise ValueError("check_location needs a location id")
    return target


def require_marketplace_token(token: Token) -> None:
    if token.token_type == "pit":
        raise unauthorized("This route can only be invoked using a marketplace-app token")
