"""Acuity's part of the control plane: the rate limit switch (`GET/PUT /_sandbox/acuity/ratelimit`) and
the account's whole state (`GET /_sandbox/acuity/state`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.acuity.ratelimit import RateLimitConfig
from mock_server.acuity.world import AcuityWorld, acuity
from mock_server.control.common import sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.control.validation import validated_body
from mock_server.errors import Invalid, NotFound
from mock_server.http.errors import json_response


def _world(request: Request) -> AcuityWorld:
    return acuity(sandbox(request))


async def get_ratelimit(request: Request) -> Response:
    return json_response(_world(request).ratelimiter.config.view())


async def put_ratelimit(request: Request) -> Response:
    world = _world(request)
    data = await validated_body(request, "sandbox-set-acuity-ratelimit")
    now = world.ratelimiter.config
    world.ratelimiter.configure(RateLimitConfig(
        enabled=data.get("enabled", now.enabled), per_second=int(data.get("perSecond", now.per_second)),
        concurrent=int(data.get("concurrent", now.concurrent)), edge403=data.get("edge403", now.edge403)))
    return json_response(world.ratelimiter.config.view())


async def get_state(request: Request) -> Response:
    sb = sandbox(request)
    location_id = request.query_params.get("locationId")
    if not location_id:
        locations = sb.locations()
        if not locations:
            raise Invalid("locationId is required (the sandbox has no locations)")
        location_id = locations[0].id
    elif sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    return json_response(_world(request).state_view(location_id))


ACUITY_CONTROL_TABLE: RouteTable = (
    ("/_sandbox/acuity/ratelimit", ["GET"], get_ratelimit),
    ("/_sandbox/acuity/ratelimit", ["PUT"], put_ratelimit),
    ("/_sandbox/acuity/state", ["GET"], get_state),
)


def acuity_control_routes() -> list[BaseRoute]:
    return table_routes(ACUITY_CONTROL_TABLE)
