"""The control-plane routing table (documented in contracts/sandbox-control.openapi.yaml)."""

from __future__ import annotations

from starlette.routing import Route

from mock_server.control import handlers as h

CONTROL_TABLE = (
    ("/_sandbox/health", ["GET"], h.health),
    ("/_sandbox/locations", ["GET"], h.list_locations),
    ("/_sandbox/locations", ["POST"], h.create_location),
    ("/_sandbox/locations/{locationId}/reset", ["POST"], h.reset_location),
    ("/_sandbox/tokens", ["POST"], h.create_token),
    ("/_sandbox/tokens/revoke", ["POST"], h.revoke_token),
    ("/_sandbox/tokens/{token}", ["DELETE"], h.revoke_token),
    ("/_sandbox/apps", ["GET"], h.list_apps),
    ("/_sandbox/oauth/authorize", ["POST"], h.authorize),
    ("/_sandbox/reset", ["POST"], h.reset),
    ("/_sandbox/state", ["GET"], h.get_state),
    ("/_sandbox/state", ["PUT"], h.put_state),
    ("/_sandbox/journal", ["GET"], h.get_journal),
    ("/_sandbox/journal", ["DELETE"], h.clear_journal),
    ("/_sandbox/ratelimit", ["GET"], h.get_ratelimit),
    ("/_sandbox/ratelimit", ["PUT"], h.put_ratelimit),
)


def control_routes() -> list[Route]:
    merged: dict[str, dict[str, object]] = {}
    for path, methods, endpoint in CONTROL_TABLE:
        for method in methods:
            merged.setdefault(path, {})[method] = endpoint
    routes = []
    for path, by_method in merged.items():
        async def endpoint(request, _m=by_method):  # type: ignore[no-untyped-def]
            handler = _m.get(request.method) or _m["GET"]
            return await handler(request)  # type: ignore[operator]

        routes.append(Route(path, endpoint, methods=list(by_method)))
    return routes
