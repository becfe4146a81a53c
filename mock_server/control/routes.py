"""The control plane's shared routing table (documented in contracts/sandbox-control.openapi.yaml);
each service adds its own table (`Service.control_routes`), built with `table_routes`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_server.control import batch, clock
from mock_server.control import faults as f
from mock_server.control import handlers as h
from mock_server.control import openapi as oa
from mock_server.control import webhooks as wh

Endpoint = Callable[[Request], Awaitable[Response]]
RouteTable = Sequence[tuple[str, list[str], Endpoint]]

CONTROL_TABLE: RouteTable = (
    ("/_sandbox/health", ["GET"], h.health),
    ("/_sandbox/locations", ["GET"], h.list_locations),
    ("/_sandbox/locations", ["POST"], h.create_location),
    ("/_sandbox/locations/{locationId}/reset", ["POST"], h.reset_location),
    ("/_sandbox/reset", ["POST"], h.reset),
    ("/_sandbox/batch", ["POST"], batch.batch),
    ("/_sandbox/state", ["GET"], h.get_state),
    ("/_sandbox/state", ["PUT"], h.put_state),
    ("/_sandbox/journal", ["GET"], h.get_journal),
    ("/_sandbox/journal", ["DELETE"], h.clear_journal),
    ("/_sandbox/ratelimit", ["GET"], h.get_ratelimit),
    ("/_sandbox/ratelimit", ["PUT"], h.put_ratelimit),
    ("/_sandbox/simulate/{action}", ["POST"], h.simulate),
    # its own contracts (the control plane's and each service's)
    ("/_sandbox/openapi/", ["GET"], oa.list_contracts),
    ("/_sandbox/openapi/{name}", ["GET"], oa.get_contract),
    # the clock
    ("/_sandbox/clock", ["GET"], clock.get_clock),
    ("/_sandbox/clock", ["POST"], clock.post_clock),
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
    ("/_sandbox/webhooks/policy", ["GET"], wh.get_policy),
    ("/_sandbox/webhooks/policy", ["PUT"], wh.put_policy),
    ("/_sandbox/keys", ["GET"], wh.keys),
    ("/_sandbox/wait", ["GET"], wh.wait),
    # API faults
    ("/_sandbox/faults", ["GET"], f.list_faults),
    ("/_sandbox/faults", ["POST"], f.add_fault),
    ("/_sandbox/faults", ["DELETE"], f.clear_faults),
    ("/_sandbox/faults/{faultId}", ["DELETE"], f.delete_fault),
)


def table_routes(table: RouteTable) -> list[BaseRoute]:
    """One route per path, dispatching on the method (a path may take several, from several rows)."""
    merged: dict[str, dict[str, Endpoint]] = {}
    for path, methods, endpoint in table:
        for method in methods:
            merged.setdefault(path, {})[method] = endpoint
    routes: list[BaseRoute] = []
    for path, by_method in merged.items():
        routes.append(Route(path, _dispatch(by_method), methods=list(by_method)))
    return routes


def _dispatch(by_method: dict[str, Endpoint]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        handler = by_method.get(request.method) or by_method["GET"]  # HEAD answers as GET
        return await handler(request)

    return endpoint


def control_routes() -> list[BaseRoute]:
    return table_routes(CONTROL_TABLE)
