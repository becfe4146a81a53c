"""The control-plane routing table (documented in contracts/sandbox-control.openapi.yaml)."""

from __future__ import annotations

from starlette.routing import Route

from mock_server.control import faults as f
from mock_server.control import handlers as h
from mock_server.control import inspect as insp
from mock_server.control import rankr as rk
from mock_server.control import simulation as sim
from mock_server.control import webhooks as wh

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
    # simulated events and the clock
    ("/_sandbox/simulate/{action}", ["POST"], sim.simulate),
    ("/_sandbox/clock", ["GET"], sim.get_clock),
    ("/_sandbox/clock", ["POST"], sim.post_clock),
    # webhooks out
    ("/_sandbox/webhooks/targets", ["GET"], wh.list_targets),
    ("/_sandbox/webhooks/targets", ["POST"], wh.add_target),
    ("/_sandbox/webhooks/targets/{targetId}", ["DELETE"], wh.delete_target),
    ("/_sandbox/webhooks/targets/{targetId}/chaos", ["PUT"], wh.put_target_chaos),
    ("/_sandbox/webhooks/chaos", ["GET"], wh.get_chaos),
    ("/_sandbox/webhooks/chaos", ["PUT", "POST"], wh.put_chaos),
    ("/_sandbox/webhooks/chaos", ["DELETE"], wh.clear_chaos),
    ("/_sandbox/webhooks/deliveries", ["GET"], wh.list_deliveries),
    ("/_sandbox/webhooks/deliveries/{deliveryId}/redeliver", ["POST"], wh.redeliver),
    ("/_sandbox/keys", ["GET"], wh.keys),
    ("/_sandbox/wait", ["GET"], wh.wait),
    ("/_sandbox/webhooks/forge", ["POST"], insp.forge_webhook),
    ("/_sandbox/webhooks/policy", ["GET"], insp.get_policy),
    ("/_sandbox/webhooks/policy", ["PUT"], insp.put_policy),
    ("/_sandbox/locations/{locationId}/state", ["GET"], insp.location_state),
    # API faults
    ("/_sandbox/faults", ["GET"], f.list_faults),
    ("/_sandbox/faults", ["POST"], f.add_fault),
    ("/_sandbox/faults", ["DELETE"], f.clear_faults),
    ("/_sandbox/faults/{faultId}", ["DELETE"], f.delete_fault),
    # the fake Rankr (mock_server/rankr)
    ("/_sandbox/rankr/events", ["POST"], rk.send_event),
    ("/_sandbox/rankr/events", ["GET"], rk.list_events),
    ("/_sandbox/rankr/writes", ["GET"], rk.list_writes),
    ("/_sandbox/rankr/records/{collection}", ["GET"], rk.list_records),
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
