"""JSON for the dashboard page, under the control plane (so the admin guard covers it):

- `GET /_sandbox/dashboard/overview`: server facts, locations, webhook targets, fault rules, chaos,
  retry policy, delivery counts: everything the page's side panels show.
- `GET /_sandbox/dashboard/metrics`: the charts' data (what the stream's `metrics` event carries).
- `GET /_sandbox/dashboard/events?after=ID&limit=N`: the live feed's recent events, for non-SSE use.
- `GET /_sandbox/locations/{locationId}/resources/{kind}/{resourceId}`: one order, transaction,
  subscription or fulfillment exactly as the API's get-by-id answers it (a fulfillment as the
  fulfillments list shows it), read-only: no journal entry, no rate limit, no pending payment settles.
- `GET /_sandbox/harness/latest`: the latest `ghl-sandbox check` report, or 404 when there is none.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mock_server.control.common import sandbox
from mock_server.control.inspect import policy_view
from mock_server.control.simulation import resource_view
from mock_server.control.validation import validated_query
from mock_server.control.webhooks import target_view
from mock_server.dashboard import harness_results
from mock_server.dashboard.bus import RECENT_EVENTS
from mock_server.dashboard.stream import metrics_data
from mock_server.errors import NotFound
from mock_server.ghl.models import Fulfillment, Order, Subscription, Transaction
from mock_server.ghl.world import ghl
from mock_server.http.errors import json_response

RESOURCE_TYPES: dict[str, type[Order | Transaction | Subscription | Fulfillment]] = {
    "orders": Order, "transactions": Transaction, "subscriptions": Subscription, "fulfillments": Fulfillment}
RESOURCE_KINDS = tuple(RESOURCE_TYPES)


async def overview(request: Request) -> Response:
    sb = sandbox(request)
    return json_response({
        "health": sb.health(),
        "locations": [{"locationId": loc.id, "name": loc.name} for loc in sb.locations()],
        "targets": [target_view(t) for t in sb.webhooks.targets()],
        "faults": [r.to_json() for r in sb.faults.rules],
        "chaos": sb.webhooks.global_chaos.to_json(),
        "policy": policy_view(sb),
        "deliveryCounts": sb.webhooks.counts(),
        "actions": list(ghl(sb).simulator.actions),
        "adminToken": bool(sb.settings.admin_token),
        "dataVersion": sb.bus.data_version,
        "lastEventId": sb.bus.last_id,
    })


async def metrics(request: Request) -> Response:
    return json_response(metrics_data(sandbox(request)))


async def events(request: Request) -> Response:
    q = validated_query(request, "sandbox-dashboard-events")
    bus = sandbox(request).bus
    items, missed = bus.recent(q.get("after"), min(q.get("limit", 200), RECENT_EVENTS))
    return json_response({"events": items, "missed": missed, "lastEventId": bus.last_id})


async def resource(request: Request) -> Response:
    sb = sandbox(request)
    location_id = request.path_params["locationId"]
    kind, resource_id = request.path_params["kind"], request.path_params["resourceId"]
    if sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    if kind not in RESOURCE_KINDS:
        raise NotFound(f"Unknown kind {kind}; known: {', '.join(RESOURCE_KINDS)}")
    record = sb.store.table(RESOURCE_TYPES[kind]).get(resource_id)
    if record is None or getattr(record, "location_id", None) != location_id:
        raise NotFound(f"{kind[:-1].capitalize()} {resource_id} not found in location {location_id}")
    return json_response(resource_view(sb, kind, record)["data"])


async def harness_latest(request: Request) -> Response:
    report, path = harness_results.load_latest()
    if report is None:
        return json_response({"statusCode": 404, "message": "No `ghl-sandbox check` run has been saved yet",
                              "error": "Not Found", "file": str(path)}, status=404)
    return json_response({**report, "file": str(path)})
