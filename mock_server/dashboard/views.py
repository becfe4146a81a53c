"""JSON for the dashboard page, under the control plane (so the admin guard covers it):

- `GET /_sandbox/dashboard/overview`: server facts, locations, webhook targets, fault rules, chaos,
  retry policy, delivery counts: everything the page's side panels show.
- `GET /_sandbox/dashboard/metrics`: the charts' data (what the stream's `metrics` event carries).
- `GET /_sandbox/dashboard/events?after=ID&limit=N`: the live feed's recent events, for non-SSE use.
- `GET /_sandbox/harness/latest`: the latest `ghl-sandbox check` report, or 404 when there is none.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mock_server.bus import RECENT_EVENTS
from mock_server.control.common import sandbox
from mock_server.control.validation import validated_query
from mock_server.control.webhooks import policy_view, target_view
from mock_server.dashboard import harness_results
from mock_server.dashboard.stream import metrics_data
from mock_server.http.errors import json_response


async def overview(request: Request) -> Response:
    sb = sandbox(request)
    return json_response({
        "health": sb.health(),
        "locations": [{"locationId": loc.id, "name": loc.name} for loc in sb.locations()],
        "targets": [target_view(t, sb.service_name(t.service)) for t in sb.webhooks.targets()],
        "faults": [r.to_json() for r in sb.faults.rules],
        "chaos": sb.webhooks.global_chaos.to_json(),
        "policy": policy_view(sb),
        "deliveryCounts": sb.webhooks.counts(),
        "actions": list(sb.actions),
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


async def harness_latest(request: Request) -> Response:
    report, path = harness_results.load_latest()
    if report is None:
        return json_response({"statusCode": 404, "message": "No `ghl-sandbox check` run has been saved yet",
                              "error": "Not Found", "file": str(path)}, status=404)
    return json_response({**report, "file": str(path)})
