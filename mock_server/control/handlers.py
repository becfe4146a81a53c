"""Control-plane handlers. Errors use the same `{statusCode, message, error}` shape as the API."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server import jsjson
from mock_server.control.common import sandbox as sandbox_of
from mock_server.control.validation import validated_body, validated_query
from mock_server.errors import NotFound
from mock_server.http.context import context_of
from mock_server.http.errors import error_body, json_response
from mock_server.http.hosts import HostCheck, loopback_address, refused_message

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

# Bounds live in contracts/sandbox-control.openapi.yaml (checked by control/validation.py): seeds are
# stored as SQLite integers (64-bit); orders are seeded synchronously (~1.5 s per 2,000), so an added
# location may not hold the server for minutes while a whole reset may go as far as `serve --orders`;
# token lifetimes must keep their expiry instants printable dates.


def _int(data: dict[str, Any], name: str) -> int | None:
    """An integer field the schema checked (JSON's `2.0` is the integer 2)."""
    value = data.get(name)
    return None if value is None else int(value)


def location_view(sandbox: Runtime, location_id: str) -> dict[str, Any]:
    loc = sandbox.location(location_id)
    if loc is None:
        raise NotFound(f"Location {location_id} not found")
    return {"locationId": loc.id, "name": loc.name, "companyId": loc.company_id, "seed": loc.seed,
            "orders": loc.orders, **sandbox.location_fields(loc)}


async def simulate(request: Request) -> Response:
    """`POST /_sandbox/simulate/{action}`: run by the service whose action it is."""
    sb = sandbox_of(request)
    action = request.path_params["action"]
    service = sb.service_of_action(action)
    if service is None or service.simulate is None:
        raise NotFound(f"Unknown action {action}; known: {', '.join(sb.actions)}")
    return await service.simulate(request, action)


async def health(request: Request) -> Response:
    return json_response(sandbox_of(request).health())


async def list_locations(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return json_response([location_view(sandbox, loc.id) for loc in sandbox.locations()])


async def create_location(request: Request) -> Response:
    data = await validated_body(request, "sandbox-create-location")
    sandbox = sandbox_of(request)
    loc = sandbox.create_location(name=data.get("name"), seed=_int(data, "seed"), orders=_int(data, "orders"))
    return json_response(location_view(sandbox, loc.id), status=201)


async def reset_location(request: Request) -> Response:
    sandbox = sandbox_of(request)
    location_id = request.path_params["locationId"]
    if sandbox.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    sandbox.reset_location(location_id)
    return json_response(location_view(sandbox, location_id))


async def reset(request: Request) -> Response:
    data = await validated_body(request, "sandbox-reset")
    return json_response(sandbox_of(request).reset(seed=_int(data, "seed"), orders=_int(data, "orders")))


async def get_state(request: Request) -> Response:
    return json_response(sandbox_of(request).export_state())


async def put_state(request: Request) -> Response:
    data = await validated_body(request, "sandbox-import-state")
    counts = sandbox_of(request).import_state(data)
    return json_response({"imported": True, "counts": counts})


async def get_journal(request: Request) -> Response:
    q = validated_query(request, "sandbox-journal")
    result = sandbox_of(request).journal.query(method=q.get("method"), path=q.get("path"), since=q.get("since"),
                                             limit=q.get("limit"), location_id=q.get("locationId"))
    return json_response(result)


async def clear_journal(request: Request) -> Response:
    return json_response({"cleared": sandbox_of(request).journal.clear()})


async def get_ratelimit(request: Request) -> Response:
    return json_response(sandbox_of(request).ratelimiter.describe())


async def put_ratelimit(request: Request) -> Response:
    data = await validated_body(request, "sandbox-set-ratelimit")
    sandbox = sandbox_of(request)
    sandbox.ratelimiter.set_profile(data["profile"])
    return json_response(sandbox.ratelimiter.describe())


GUARDED_PREFIXES = ("/_sandbox", "/dashboard", "/static")
DASHBOARD_COOKIE = "ghl_sandbox_admin"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def guarded(path: str) -> bool:
    """The control plane and the dashboard (the page at `/`, its files and JSON)."""
    return path == "/" or path.startswith(GUARDED_PREFIXES)


class AdminGuard:
    """Protects /_sandbox and the dashboard (`/`, `/dashboard*`, `/static*`): only requests addressed to a
    loopback name, the bound address or an `--allowed-host` name are answered (http/hosts.py: DNS
    rebinding); with --admin-token, the token is required; without it, only loopback clients are served.

    A browser cannot put the token in a header, so a dashboard page opened once with `?token=T` is
    answered with a redirect to itself without the token and an HttpOnly, SameSite=Strict session
    cookie, which then stands for the token on the page's own fetches and event stream. Writes
    authenticated by that cookie alone must also carry `X-Sandbox-Dashboard: 1` (which a cross-origin
    page cannot send without a CORS preflight the sandbox never grants).

    Tokens are compared as bytes, as sent (headers) or percent-decoded (the query), against the token's
    UTF-8 bytes (curl, browsers) or its Latin-1 bytes (what some HTTP libraries put in a header), so a
    non-ASCII `--admin-token` works."""

    def __init__(self, app: ASGIApp, admin_token: str | None, allowed_hosts: Iterable[str] = (),
                 bound_host: str | None = None) -> None:
        self.app = app
        self.admin_token = admin_token
        self.tokens = _encodings(admin_token) if admin_token else []
        self.hosts = HostCheck(allowed_hosts, bound_host)
        self.session = (hmac.new(admin_token.encode(), b"ghl-sandbox-dashboard", "sha256").hexdigest()
                        if admin_token else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and guarded(scope["path"]):
            refused = self.hosts.refuses(_header(scope, b"host"))
            if refused is not None:
                body = jsjson.dumps(error_body(403, refused_message(refused), "Forbidden", context_of(scope).trace))
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            if self.admin_token and not scope["path"].startswith("/_sandbox") and await self._token_login(scope, send):
                return
            problem = self._problem(scope)
            if problem is not None:
                status, message = problem
                body = jsjson.dumps({"statusCode": status, "message": message,
                                     "error": "Unauthorized" if status == 401 else "Forbidden"})
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _token_login(self, scope: Scope, send: Send) -> bool:
        """`GET /?token=T`: a valid T sets the session cookie and redirects to the page without it."""
        # Latin-1 both ways: each character is one byte of the query as sent (after percent-decoding),
        # so the token compares as bytes and the rest of the query goes back unchanged.
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True,
                          encoding="latin-1")
        given = [v for k, v in pairs if k == "token"]
        if not given or not self._token(given[-1].encode("latin-1")):
            return False
        rest = urlencode([(k, v) for k, v in pairs if k != "token"], encoding="latin-1")
        # The path as the client wrote it (percent-encoded): a decoded `/dashboard/\u2028` is no header value.
        path = scope.get("raw_path") or scope["path"].encode("utf-8")
        location = _percent_safe(path) + (f"?{rest}".encode("latin-1") if rest else b"")
        cookie = f"{DASHBOARD_COOKIE}={self.session}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location), (b"set-cookie", cookie.encode()),
                                (b"cache-control", b"no-store"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return True

    def _problem(self, scope: Scope) -> tuple[int, str] | None:
        headers = dict(scope.get("headers", ()))
        if self.admin_token:
            given = headers.get(b"x-sandbox-admin-token", b"")
            auth = headers.get(b"authorization", b"")
            if auth[:7].lower() == b"bearer ":
                given = given or auth[7:].strip()
            if self._token(given):
                return None
            if self._has_session(headers.get(b"cookie", b"")):
                if scope.get("method") not in SAFE_METHODS and headers.get(b"x-sandbox-dashboard") != b"1":
                    return 403, "A write authenticated by the dashboard cookie needs the X-Sandbox-Dashboard: 1 header"
                return None
            if not scope["path"].startswith("/_sandbox"):
                return 401, "A valid admin token is required: open the dashboard once with ?token=<admin token>"
            return 401, "A valid admin token is required for the control plane"
        client = scope.get("client")
        if client and not loopback_address(client[0]):
            return 403, "The control plane only answers loopback clients unless --admin-token is set"
        if scope.get("method") not in SAFE_METHODS and _cross_site(headers):
            # A web page in the user's browser may not drive a loopback sandbox behind their back.
            return 403, "Cross-site requests to the control plane are refused (Origin does not match Host)"
        return None

    def _token(self, given: bytes) -> bool:
        return any([hmac.compare_digest(given, token) for token in self.tokens])  # a list: compare with each

    def _has_session(self, header: bytes) -> bool:
        cookies = SimpleCookie()
        try:
            cookies.load(header.decode("latin-1"))
        except CookieError:
            return False
        morsel = cookies.get(DASHBOARD_COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self.session.encode())


def _cross_site(headers: dict[bytes, bytes]) -> bool:
    origin = headers.get(b"origin")
    if not origin or origin == b"null":
        return origin == b"null"
    host = headers.get(b"host", b"")
    return origin.split(b"://", 1)[-1].rstrip(b"/") != host


def _encodings(token: str) -> list[bytes]:
    try:
        return list(dict.fromkeys([token.encode(), token.encode("latin-1")]))
    except UnicodeEncodeError:  # not Latin-1 at all (`キー`): UTF-8 is the only way to send it
        return [token.encode()]


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope.get("headers", ()) if key == name), None)


def _percent_safe(path: bytes) -> bytes:
    """Percent-encode what may not stand in a `Location` header (controls, spaces, non-ASCII bytes)."""
    return b"".join(b"%%%02X" % c if c <= 0x20 or c >= 0x7F else bytes([c]) for c in path)
