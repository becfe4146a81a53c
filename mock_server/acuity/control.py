"""Acuity's part of the control plane: the rate limit switch (`GET/PUT /_sandbox/acuity/ratelimit`) and
the account's whole state (`GET /_sandbox/acuity/state`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.acuity.ratelimit import RateLimitConfig
from mock_server.acuity.world import AcuityWorld, acuity
from mock_server.control.common import body, sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.errors import Invalid, NotFound
from mock_server.http.errors import json_response


def _world(request: Request) -> AcuityWorld:
    return acuity(sandbox(request))


async def get_ratelimit(request: Request) -> Response:
    return json_response(_world(request).ratelimiter.config.view())


def _parse_config(data: Any, current: RateLimitConfig) -> RateLimitConfig:
    if not isinstance(data, dict):
        raise Invalid("body must be a JSON object")
    problems: list[str] = []
    unknown = sorted(set(data) - {"enabled", "perSecond", "concurrent", "edge403"})
    problems += [f"{name} is not a known property" for name in unknown]
    out = RateLimitConfig(current.enabled, current.per_second, current.concurrent, current.edge403)
    for name, attr in (("enabled", "enabled"), ("edge403", "edge403")):
        if name in data:
            if not isinstance(data[name], bool):
                problems.append(f"{name} must be a boolean")
            else:
                setattr(out, attr, data[name])
    for name, attr in (("perSecond", "per_second"), ("concurrent", "concurrent")):
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
                problems.append(f"{name} must be an integer from 1 to 100000")
            else:
                setattr(out, attr, value)
    if problems:
        raise Invalid(*problems)
    return out


async def put_ratelimit(request: Request) -> Response:
    world = _world(request)
    data = await body(request)
    world.ratelimiter.configure(_parse_config(data, world.ratelimiter.config))
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
