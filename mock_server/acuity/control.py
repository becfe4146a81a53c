"""Acuity's part of the control plane: the rate limit switch (`GET/PUT /_sandbox/acuity/ratelimit`),
the account's whole state (`GET /_sandbox/acuity/state`), the static webhook settings
(`GET/PUT /_sandbox/acuity/webhooks/static`) and the simulated actions `acuity.*`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.acuity import simulation
from mock_server.acuity.ratelimit import RateLimitConfig
from mock_server.acuity.world import AcuityWorld, acuity
from mock_server.control.common import body, sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.control.validation import check_body, validated_body, validated_query
from mock_server.control.webhooks import receiver_url
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
    """`GET /_sandbox/acuity/state?locationId=`: the account's whole truth (with an ETag: see
    `mock_server.http.conditional`)."""
    sb = sandbox(request)
    world = _world(request)

    def build() -> dict[str, Any]:
        return world.state_view(_location(request, request.query_params.get("locationId")))

    return sb.reads.answer(request, build)


# ---- the write side: simulated actions and static webhooks ----------------------------------------------

SIMULATE_OPERATIONS = {  # the contract's operation (its request schema) of each action
    "acuity.schedule": "sandbox-simulate-acuity-schedule", "acuity.reschedule": "sandbox-simulate-acuity-reschedule",
    "acuity.cancel": "sandbox-simulate-acuity-cancel", "acuity.pay": "sandbox-simulate-acuity-pay",
    "acuity.refund": "sandbox-simulate-acuity-refund", "acuity.order": "sandbox-simulate-acuity-order"}


async def simulate(request: Request, action: str) -> Response:
    """`POST /_sandbox/simulate/acuity.*` (the shared dispatcher calls it): see `simulation.run`."""
    sb = sandbox(request)
    data = await body(request)
    operation = SIMULATE_OPERATIONS.get(action)
    if operation is None:
        raise NotFound(f"Unknown action {action}; known: {', '.join(SIMULATE_OPERATIONS)}")
    check_body(operation, data)
    return json_response(simulation.run(sb, action, data))


def _location(request: Request, location_id: str | None) -> str:
    sb = sandbox(request)
    if not location_id:
        locations = sb.locations()
        if not locations:
            raise Invalid("locationId is required (the sandbox has no locations)")
        return locations[0].id
    if sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    return location_id


async def get_static_webhooks(request: Request) -> Response:
    query = validated_query(request, "sandbox-acuity-get-static-webhooks")
    return json_response(_world(request).hooks.static(_location(request, query.get("locationId"))).view())


async def put_static_webhooks(request: Request) -> Response:
    data = await validated_body(request, "sandbox-acuity-put-static-webhooks")
    location_id = _location(request, data.get("locationId"))
    urls = {key: (None if url is None else receiver_url(url)) for key, url in (data.get("urls") or {}).items()}
    return json_response(_world(request).hooks.set_static(location_id, urls, data.get("actionStyle")).view())


ACUITY_CONTROL_TABLE: RouteTable = (
    ("/_sandbox/acuity/ratelimit", ["GET"], get_ratelimit),
    ("/_sandbox/acuity/ratelimit", ["PUT"], put_ratelimit),
    ("/_sandbox/acuity/state", ["GET"], get_state),
    ("/_sandbox/acuity/webhooks/static", ["GET"], get_static_webhooks),
    ("/_sandbox/acuity/webhooks/static", ["PUT"], put_static_webhooks),
)


def acuity_control_routes() -> list[BaseRoute]:
    return table_routes(ACUITY_CONTROL_TABLE)
