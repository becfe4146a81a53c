"""Control-plane handlers. Errors use the same `{statusCode, message, error}` shape as the API."""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server import jsjson
from mock_server.clock import iso_ms
from mock_server.control.common import body
from mock_server.control.common import sandbox as sandbox_of
from mock_server.ghl.models import PAYMENTS_SCOPES, App, Token
from mock_server.ghl.world import ghl
from mock_server.http.errors import ApiError, json_response
from mock_server.rankr.accounts import account_view as rankr_account
from mock_server.ratelimit import PROFILES

# Seeds are stored as SQLite integers (64-bit). Orders are seeded synchronously (~1.5 s per 2,000): an added
# location may not hold the server for minutes; a whole reset may go as far as `serve --orders`.
MAX_SEED = 2**63 - 1
MAX_LOCATION_ORDERS = 10_000
MAX_RESET_ORDERS = 1_000_000
# Token lifetimes and their expiry instants must stay printable dates.
MAX_EXPIRES_IN = 100 * 365 * 86400


def _int(data: dict[str, Any], name: str, minimum: int = 0, maximum: int | None = None) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or value != value
            or value in (float("inf"), float("-inf")) or value != int(value) or value < minimum):
        raise ApiError(422, [f"{name} must be an integer not less than {minimum}"])
    if maximum is not None and value > maximum:
        raise ApiError(422, [f"{name} must not be greater than {maximum}"])
    return int(value)


def _scopes(data: dict[str, Any]) -> list[str] | None:
    scopes = data.get("scopes")
    if scopes is not None and (not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes)):
        raise ApiError(422, ["scopes must be an array of strings"])
    return scopes


def token_view(t: Token) -> dict[str, Any]:
    return {"token": t.secret, "tokenId": t.id, "locationId": t.location_id, "scopes": list(t.scopes),
            "tokenClass": t.token_class, "tokenType": t.token_type, "revoked": t.revoked,
            "expiresAt": iso_ms(t.expires_at) if t.expires_at is not None else None}


def location_view(sandbox: Any, location_id: str) -> dict[str, Any]:
    loc = sandbox.location(location_id)
    tokens = sorted(ghl(sandbox).auth.tokens_of(location_id), key=lambda t: (t.created_at, t.id))
    # The first token listed holds every payments scope (the seeded marketplace-app token).
    seeded = [t for t in tokens if t.token_type == "oauth" and t.token_class == "location"
              and set(PAYMENTS_SCOPES) <= set(t.scopes) and not t.revoked and t.expires_at is None]
    first = seeded[:1]
    ordered = first + [t for t in tokens if t not in first]
    return {"locationId": loc.id, "name": loc.name, "companyId": loc.company_id, "seed": loc.seed,
            "orders": loc.orders, "tokens": [token_view(t) for t in ordered],
            "rankr": rankr_account(sandbox.seed, loc.id)}


async def health(request: Request) -> Response:
    return json_response(sandbox_of(request).health())


async def list_locations(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return json_response([location_view(sandbox, loc.id) for loc in sandbox.locations()])


async def create_location(request: Request) -> Response:
    data = await body(request)
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise ApiError(422, ["name must be a string"])
    sandbox = sandbox_of(request)
    loc = sandbox.create_location(name=name, seed=_int(data, "seed", maximum=MAX_SEED),
                                  orders=_int(data, "orders", maximum=MAX_LOCATION_ORDERS))
    return json_response(location_view(sandbox, loc.id), status=201)


async def reset_location(request: Request) -> Response:
    sandbox = sandbox_of(request)
    location_id = request.path_params["locationId"]
    if sandbox.location(location_id) is None:
        raise ApiError(404, f"Location {location_id} not found")
    sandbox.reset_location(location_id)
    return json_response(location_view(sandbox, location_id))


async def create_token(request: Request) -> Response:
    data = await body(request)
    sandbox = sandbox_of(request)
    location_id = data.get("locationId")
    if not isinstance(location_id, str) or not location_id:
        raise ApiError(422, ["locationId should not be empty"])
    if sandbox.location(location_id) is None:
        raise ApiError(404, f"Location {location_id} not found")
    scopes = _scopes(data)
    expires_in = data.get("expiresIn")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, (int, float))
                                   or not 0 <= expires_in <= MAX_EXPIRES_IN):
        raise ApiError(422, [f"expiresIn must be a number of seconds from 0 to {MAX_EXPIRES_IN}"])
    try:
        token = ghl(sandbox).auth.issue(location_id, scopes=scopes, token_class=str(data.get("tokenClass", "location")),
                                   token_type=str(data.get("tokenType", "oauth")), expires_in=expires_in)
    except ValueError as exc:
        raise ApiError(422, [str(exc)]) from None
    return json_response(token_view(token), status=201)


async def revoke_token(request: Request) -> Response:
    sandbox = sandbox_of(request)
    value = request.path_params.get("token")
    if value is None:
        data = await body(request)
        for key in ("token", "tokenId"):
            if key in data and (not isinstance(data[key], str) or not data[key]):
                raise ApiError(422, [f"{key} must be a non-empty string"])
        names = [data[key] for key in ("token", "tokenId") if key in data]
    else:
        names = [value]
    if not names:
        raise ApiError(422, ["token should not be empty"])
    token = None
    for name in names:  # the secret, else the id: either may name the token
        token = ghl(sandbox).auth.revoke(name)
        if token is not None:
            break
    if token is None:
        raise ApiError(404, "Token not found")
    return json_response({"revoked": True, "tokenId": token.id})


async def list_apps(request: Request) -> Response:
    apps = sandbox_of(request).store.table(App).all(order="")
    return json_response([{"appId": a.id, "clientId": a.client_id, "clientSecret": a.client_secret,
                           "versionId": a.version_id, "companyId": a.company_id, "name": a.name,
                           "redirectUri": a.redirect_uri} for a in apps])


async def authorize(request: Request) -> Response:
    data = await body(request)
    sandbox = sandbox_of(request)
    client_id, location_id = data.get("clientId"), data.get("locationId")
    if not isinstance(client_id, str) or not isinstance(location_id, str):
        raise ApiError(422, ["clientId should not be empty", "locationId should not be empty"])
    user_type = data.get("userType", "Location")
    if not isinstance(user_type, str) or user_type not in ("Location", "Company"):
        raise ApiError(422, ["userType must be one of the following values: Location, Company"])
    scopes = _scopes(data)
    try:
        grant = ghl(sandbox).auth.authorization_code(client_id, location_id, scopes, user_type)
    except ValueError as exc:
        raise ApiError(404, str(exc)) from None
    return json_response({"code": grant.id, "expiresAt": iso_ms(grant.expires_at)})


async def reset(request: Request) -> Response:
    data = await body(request)
    return json_response(sandbox_of(request).reset(seed=_int(data, "seed", maximum=MAX_SEED),
                                                 orders=_int(data, "orders", maximum=MAX_RESET_ORDERS)))


async def get_state(request: Request) -> Response:
    return json_response(sandbox_of(request).export_state())


async def put_state(request: Request) -> Response:
    data = await body(request)
    try:
        counts = sandbox_of(request).import_state(data)
    except ValueError as exc:
        raise ApiError(422, [str(exc)]) from None
    return json_response({"imported": True, "counts": counts})


async def get_journal(request: Request) -> Response:
    q = request.query_params
    limit = q.get("limit")
    if limit is not None and not limit.isdigit():
        raise ApiError(422, ["limit must be a non-negative integer"])
    try:
        result = sandbox_of(request).journal.query(method=q.get("method"), path=q.get("path"), since=q.get("since"),
                                                 limit=int(limit) if limit is not None else None,
                                                 location_id=q.get("locationId"))
    except ValueError:
        raise ApiError(422, ["since must be an entry id or an ISO 8601 time"]) from None
    return json_response(result)


async def clear_journal(request: Request) -> Response:
    return json_response({"cleared": sandbox_of(request).journal.clear()})


async def get_ratelimit(request: Request) -> Response:
    return json_response(sandbox_of(request).ratelimiter.describe())


async def put_ratelimit(request: Request) -> Response:
    data = await body(request)
    profile = data.get("profile")
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ApiError(422, [f"profile must be one of the following values: {', '.join(PROFILES)}"])
    sandbox = sandbox_of(request)
    sandbox.ratelimiter.set_profile(profile)
    return json_response(sandbox.ratelimiter.describe())


GUARDED_PREFIXES = ("/_sandbox", "/dashboard", "/static")
DASHBOARD_COOKIE = "ghl_sandbox_admin"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def guarded(path: str) -> bool:
    """The control plane and the dashboard (the page at `/`, its files and JSON)."""
    return path == "/" or path.startswith(GUARDED_PREFIXES)


class AdminGuard:
    """Protects /_sandbox and the dashboard (`/`, `/dashboard*`, `/static*`): with --admin-token, the
    token is required; without it, only loopback clients are served.

    A browser cannot put the token in a header, so a dashboard page opened once with `?token=T` is
    answered with a redirect to itself without the token and an HttpOnly, SameSite=Strict session
    cookie, which then stands for the token on the page's own fetches and event stream. Writes
    authenticated by that cookie alone must also carry `X-Sandbox-Dashboard: 1` (which a cross-origin
    page cannot send without a CORS preflight the sandbox never grants)."""

    def __init__(self, app: ASGIApp, admin_token: str | None) -> None:
        self.app = app
        self.admin_token = admin_token
        self.session = (hmac.new(admin_token.encode(), b"ghl-sandbox-dashboard", "sha256").hexdigest()
                        if admin_token else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and guarded(scope["path"]):
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
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in pairs if k == "token"]
        if not given or not hmac.compare_digest(given[-1].encode(), self.admin_token.encode()):  # type: ignore[union-attr]
            return False
        rest = urlencode([(k, v) for k, v in pairs if k != "token"])
        location = scope["path"] + (f"?{rest}" if rest else "")
        cookie = f"{DASHBOARD_COOKIE}={self.session}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode()),
                                (b"cache-control", b"no-store"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return True

    def _problem(self, scope: Scope) -> tuple[int, str] | None:
        headers = dict(scope.get("headers", ()))
        if self.admin_token:
            given = headers.get(b"x-sandbox-admin-token", b"").decode("latin-1")
            auth = headers.get(b"authorization", b"").decode("latin-1")
            if auth.lower().startswith("bearer "):
                given = given or auth[7:].strip()
            if hmac.compare_digest(given.encode(), self.admin_token.encode()):
                return None
            if self._has_session(headers.get(b"cookie", b"")):
                if scope.get("method") not in SAFE_METHODS and headers.get(b"x-sandbox-dashboard") != b"1":
                    return 403, "A write authenticated by the dashboard cookie needs the X-Sandbox-Dashboard: 1 header"
                return None
            if not scope["path"].startswith("/_sandbox"):
                return 401, "A valid admin token is required: open the dashboard once with ?token=<admin token>"
            return 401, "A valid admin token is required for the control plane"
        client = scope.get("client")
        if client and not _loopback(client[0]):
            return 403, "The control plane only answers loopback clients unless --admin-token is set"
        if scope.get("method") not in SAFE_METHODS and _cross_site(headers):
            # A web page in the user's browser may not drive a loopback sandbox behind their back.
            return 403, "Cross-site requests to the control plane are refused (Origin does not match Host)"
        return None

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


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")
