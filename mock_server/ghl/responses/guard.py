"""Per-route policy for the GHL API: `Version` header, bearer token, rate limit, token class and scope.

Routes declare their scope in the routing table (`routes.py`); this module applies it, calling the
auth and rate-limit services, so handlers only see an authenticated token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from mock_server.ghl.auth import AuthFailure
from mock_server.ghl.errors import InvalidOperation, NotFound
from mock_server.ghl.models import Token
from mock_server.ghl.world import Ghl
from mock_server.http.context import context_of, runtime_of
from mock_server.http.errors import ApiError, bad_request, error_response, forbidden, unauthorized

SUPPORTED_VERSIONS = frozenset({"2021-04-15", "2021-07-28", "2023-02-21", "v3", "legacy"})  # ref §1.3

Handler = Callable[[Request, Token], Awaitable[Response]]


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def guarded(handler: Handler, scope_name: str, token_class: str = "location") -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        runtime = runtime_of(request)
        auth = runtime.part(Ghl).auth
        cache = runtime.responses
        context = context_of(request.scope)
        trace = context.trace
        rate_headers: list[tuple[bytes, bytes]] = []
        try:
            version = request.headers.get("version")
            if version is None:
                raise unauthorized("version header was not found.")
            if version not in SUPPORTED_VERSIONS:
                raise unauthorized("version header is invalid")
            try:
                token = auth.authenticate(bearer(request))
            except AuthFailure as exc:
                raise ApiError(exc.status, exc.message) from None
            context.token_id, context.location_id = token.id, token.location_id
            allowed, rate_headers = runtime.ratelimiter.consume(token.app_id, token.location_id)
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
            response = error_response(exc, trace)
        except NotFound as exc:
            response = error_response(bad_request(f"{exc.kind} not found"), trace)
        except InvalidOperation as exc:
            response = error_response(bad_request(str(exc)), trace)
        if rate_headers:
            response.raw_headers.extend(rate_headers)
        return response

    return endpoint


def check_location(token: Token, *location_ids: str | None) -> str:
    """`altId` (and `locationId`, when given) must be the token's location: another location is 403."""
    target = next(loc for loc in location_ids if loc)
    for loc in location_ids:
        if loc and token.token_class == "location" and loc != token.location_id:
            raise forbidden()
    return target


def require_marketplace_token(token: Token) -> None:
    if token.token_type == "pit":
        raise unauthorized("This route can only be invoked using a marketplace-app token")
