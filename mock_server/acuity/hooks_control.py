"""Acuity's webhook settings in the control plane: `GET/PUT /_sandbox/acuity/webhooks/static` (the
per-account URLs of Acuity's Integrations -> Webhooks screen, one per event, and the `action` style)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.acuity.world import acuity
from mock_server.control.common import sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.control.validation import validated_body, validated_query
from mock_server.control.webhooks import receiver_url
from mock_server.errors import Invalid, NotFound
from mock_server.http.errors import json_response
from mock_server.runtime import Runtime


def _location(sb: Runtime, location_id: str | None) -> str:
    if not location_id:
        locations = sb.locations()
        if not locations:
            raise Invalid("locationId is required (the sandbox has no locations)")
        return locations[0].id
    if sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    return location_id


async def get_static(request: Request) -> Response:
    sb = sandbox(request)
    query = validated_query(request, "sandbox-acuity-get-static-webhooks")
    return json_response(acuity(sb).hooks.static(_location(sb, query.get("locationId"))).view())


async def put_static(request: Request) -> Response:
    sb = sandbox(request)
    data = await validated_body(request, "sandbox-acuity-put-static-webhooks")
    location_id = _location(sb, data.get("locationId"))
    urls = {key: (None if url is None else receiver_url(url)) for key, url in (data.get("urls") or {}).items()}
    config = acuity(sb).hooks.set_static(location_id, urls, data.get("actionStyle"))
    return json_response(config.view())


HOOKS_CONTROL_TABLE: RouteTable = (
    ("/_sandbox/acuity/webhooks/static", ["GET"], get_static),
    ("/_sandbox/acuity/webhooks/static", ["PUT"], put_static),
)


def hooks_control_routes() -> list[BaseRoute]:
    return table_routes(HOOKS_CONTROL_TABLE)
