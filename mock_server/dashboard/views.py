"""JSON for the dashboard page, under the control plane (so the admin guard covers it):

- `GET /_sandbox/dashboard/overview`: server facts, locations, webhook targets, fault rules, chaos,
  retry policy, delivery counts: everything the page's side panels show.
- `GET /_sandbox/dashboard/metrics`: the charts' data (what the stream's `metrics` event carries).
- `GET /_sandbox/dashboard/events?after=ID&limit=N`: the live feed's recent events, for non-SSE use.
- `GET /_sandbox/dashboard/tables?locationId=`: every service's state tables for one location.
- `GET /_sandbox/dashboard/customer?locationId=&q=`: a customer search (an email, or words of a name):
  the people every service knows by it, grouped by normalised email, and every service's records of them
  (the sources' orders, appointments and payments, and what the destination holds).
- `GET /_sandbox/harness/latest`: the latest `ghl-sandbox check` report, or 404 when there is none.

The services answer through their `ServiceWorld.dashboard_*` hooks (mock_server.panels): this module
names none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server.bus import RECENT_EVENTS
from mock_server.control.common import sandbox
from mock_server.control.validation import validated_query
from mock_server.control.webhooks import policy_view, target_view
from mock_server.dashboard import harness_results
from mock_server.dashboard.stream import metrics_data
from mock_server.errors import NotFound
from mock_server.http.errors import json_response
from mock_server.panels import PersonMatch, Query, Table, Who, normalise_email
from mock_server.service import ServiceWorld

if TYPE_CHECKING:
    from mock_server.runtime import Runtime


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
        "services": [s.name for s in sb.services],
        "actionServices": {a: s.name for s in sb.services for a in s.actions},
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


def _location_id(sb: Runtime, requested: str | None) -> str:
    if requested:
        if sb.location(requested) is None:
            raise NotFound(f"Location {requested} not found")
        return requested
    locations = sb.locations()
    if not locations:
        raise NotFound("The sandbox has no locations")
    return str(locations[0].id)


def _parts(sb: Runtime) -> list[Any]:
    return list(sb.world.parts.values())


async def tables(request: Request) -> Response:
    sb = sandbox(request)
    q = validated_query(request, "sandbox-dashboard-tables")
    location_id = _location_id(sb, q.get("locationId"))
    found: list[Table] = [t for part in _parts(sb) for t in part.dashboard_tables(location_id)]
    return json_response({"locationId": location_id, "tables": [t.to_json() for t in found]})


def people_view(matches: list[PersonMatch]) -> list[dict[str, Any]]:
    """One person per normalised email (the harness's merge rule), with each service's records of them."""
    people: dict[str, dict[str, Any]] = {}
    for m in matches:
        email = normalise_email(m.email)
        person = people.setdefault(email, {"email": email, "names": [], "phones": [], "contactIds": [],
                                           "services": {}})
        name = f"{m.first_name} {m.last_name}".strip()
        if name and name not in person["names"]:
            person["names"].append(name)
        if m.phone and m.phone not in person["phones"]:
            person["phones"].append(m.phone)
        if m.contact_id and m.contact_id not in person["contactIds"]:
            person["contactIds"].append(m.contact_id)
        person["services"].setdefault(m.service, []).append(m.to_json())
    return sorted(people.values(), key=lambda p: (-len(p["services"]), p["email"]))


async def customer(request: Request) -> Response:
    sb = sandbox(request)
    q = validated_query(request, "sandbox-dashboard-customer")
    location_id = _location_id(sb, q.get("locationId"))
    query = Query(str(q["q"]).strip())
    parts = _parts(sb)
    by_part = [part.dashboard_people(location_id, query) for part in parts]
    matches = [m for found in by_part for m in found]
    people = people_view(matches)
    emails = {p["email"] for p in people if p["email"]}
    if query.email is not None:
        emails.add(query.email)  # an email no source knows may still be in the destination
    who = Who(frozenset(emails), frozenset(c for p in people for c in p["contactIds"]))
    # The services that know people (the sources) first, then those that only hold records (the destination).
    knowing = [type(part).dashboard_people is not ServiceWorld.dashboard_people for part in parts]
    ordered = [p for p, k in zip(parts, knowing, strict=True) if k] + \
              [p for p, k in zip(parts, knowing, strict=True) if not k]
    sections: list[Table] = [] if not (who.emails or who.contact_ids) else \
        [t for part in ordered for t in part.dashboard_customer(location_id, who)]
    return json_response({"locationId": location_id, "query": query.text, "byEmail": query.email is not None,
                          "people": people, "emails": sorted(who.emails), "contactIds": sorted(who.contact_ids),
                          "sections": [t.to_json() for t in sections]})
