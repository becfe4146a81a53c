"""Control plane for the fake Rankr: send a Rankr event to a client (signed, or forged on request)
and list what was sent, the write history of the Rankr accounts (for the harness), and routing: set a
location's providers, read them and the assignments as they truly are (with their histories), and flip a
provider with a provider event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.clock import iso_ms
from mock_server.control.common import sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.control.validation import validated_body, validated_query
from mock_server.control.webhooks import receiver_url
from mock_server.errors import Invalid, NotFound
from mock_server.http.errors import json_response
from mock_server.rankr import accounts, routing, sender
from mock_server.rankr.assignments import RoutingRefused
from mock_server.rankr.models import RankrSend
from mock_server.rankr.service import POSTS, RECORDS, RankrService, rankr
from mock_server.rankr.views import send_view, write_view

if TYPE_CHECKING:
    from mock_server.runtime import Runtime


def _service(sb: Runtime) -> RankrService:
    return rankr(sb)


def _location_filter(request: Request) -> str | None:
    location_id = request.query_params.get("locationId") or None
    if location_id is not None and sandbox(request).location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    return location_id


async def send_event(request: Request) -> Response:
    sb = sandbox(request)
    data = await validated_body(request, "sandbox-send-rankr-event")
    location_id = data.get("locationId")
    if location_id is None:
        locations = sb.locations()
        if not locations:
            raise Invalid("locationId is required (the sandbox has no locations)")
        location_id = locations[0].id
    elif sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    url = receiver_url(data["url"])  # what webhook targets accept
    event_type = data.get("eventType") or "fulfillment.requested"
    if event_type in PROVIDER_EVENTS:
        return await _send_provider_event(sb, data, location_id, url, str(event_type))
    order_id = data["orderId"]
    trackings = data.get("trackings", [])
    notify = data.get("notifyCustomer", False)
    forge = data.get("forge")
    # Only priceId and qty of each item are sent (RankrEventRequest).
    items = [{"priceId": item["priceId"], "qty": item["qty"]} for item in data["items"]]
    event_id = data.get("eventId") or "evt_" + sb.world.ids.object_id()
    payload = {"eventId": event_id, "eventType": event_type, "orderId": order_id, "items": items,
               "trackings": trackings, "notifyCustomer": notify}
    account = accounts.account(sb.seed, location_id)
    at = sb.clock.now()
    outcome = await sender.send(url, payload, account.webhook_secret, forge, sb.settings.webhook_timeout)
    record = _service(sb).record_send(RankrSend(
        id="", location_id=location_id, seq=0, event_id=event_id, event_type=str(event_type), order_id=order_id,
        url=url, at=at, items=items, status=outcome.status, error=outcome.error, latency_ms=outcome.latency_ms,
        forge=forge))
    return json_response({"id": record.id, "locationId": location_id, "eventId": event_id, "status": outcome.status,
                          "body": outcome.body, "latencyMs": outcome.latency_ms, "error": outcome.error,
                          "forge": forge})


PROVIDER_EVENTS = ("provider.unavailable", "provider.available")


async def _send_provider_event(sb: Runtime, data: dict[str, Any], location_id: str, url: str, event_type: str
                               ) -> Response:
    """`provider.unavailable` / `provider.available`: flip the provider (a state change, recorded with
    its time), then send `{eventId, eventType, providerId, occurredAt}`. A forged send changes nothing:
    the real Rankr never sent it."""
    provider_id = data["providerId"]
    forge = data.get("forge")
    svc = _service(sb)
    event_id = data.get("eventId") or "evt_" + sb.world.ids.object_id()
    at = sb.clock.now()
    try:
        if forge is None:
            svc.routing.set_available(location_id, provider_id, event_type == "provider.available", event_id, at)
        elif svc.routing.provider(location_id, provider_id) is None:
            raise RoutingRefused("not_found", "")
    except RoutingRefused:
        raise NotFound(f"Provider {provider_id} not found in the Rankr account of location {location_id}") from None
    payload = {"eventId": event_id, "eventType": event_type, "providerId": provider_id, "occurredAt": iso_ms(at)}
    account = accounts.account(sb.seed, location_id)
    outcome = await sender.send(url, payload, account.webhook_secret, forge, sb.settings.webhook_timeout)
    record = svc.record_send(RankrSend(
        id="", location_id=location_id, seq=0, event_id=event_id, event_type=event_type, order_id="", url=url,
        at=at, items=[], status=outcome.status, error=outcome.error, latency_ms=outcome.latency_ms, forge=forge,
        provider_id=provider_id))
    return json_response({"id": record.id, "locationId": location_id, "eventId": event_id, "status": outcome.status,
                          "body": outcome.body, "latencyMs": outcome.latency_ms, "error": outcome.error,
                          "forge": forge, "providerId": provider_id})


async def list_events(request: Request) -> Response:
    sends = _service(sandbox(request)).sends(_location_filter(request))
    return json_response({"data": [send_view(s) for s in sends], "total": len(sends)})


async def list_writes(request: Request) -> Response:
    writes = _service(sandbox(request)).writes(_location_filter(request))
    counts: dict[str, int] = {}
    for w in writes:
        counts[w.path] = counts.get(w.path, 0) + 1
    return json_response({"data": [write_view(w) for w in writes], "total": len(writes), "countsByPath": counts})


RANKR_COLLECTIONS = (*RECORDS, *POSTS)  # orders, transactions, subscriptions, payments, customers, events, alerts


async def list_records(request: Request) -> Response:
    """`GET /_sandbox/rankr/records/{collection}?locationId=`: a Rankr account's records, read past the
    fault middleware and the journal, so a harness inspecting Rankr never disturbs it."""
    collection = request.path_params["collection"]
    if collection not in RANKR_COLLECTIONS:
        raise NotFound(f"Unknown Rankr collection {collection}; known: {', '.join(RANKR_COLLECTIONS)}")
    location_id = _location_filter(request)
    if location_id is None:
        raise Invalid("locationId is required")
    data, total = _service(sandbox(request)).list(location_id, collection)
    return json_response({"data": data, "total": total})


# ---- routing (design i12 §3) ----------------------------------------------------------------------


def _location_required(request: Request, operation_id: str) -> str:
    location_id = str(validated_query(request, operation_id)["locationId"])
    if sandbox(request).location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    return location_id


def _providers_answer(svc: RankrService, location_id: str) -> Response:
    data = svc.providers_truth(location_id)
    return json_response({"locationId": location_id, "data": data, "total": len(data)})


async def put_providers(request: Request) -> Response:
    """`PUT /_sandbox/rankr/providers?locationId=` `{"providers": [...]}`: the location's set, replaced."""
    location_id = _location_required(request, "sandbox-put-rankr-providers")
    data = await validated_body(request, "sandbox-put-rankr-providers")
    problems = routing.problems(data["providers"])
    if problems:
        raise Invalid(*problems)
    svc = _service(sandbox(request))
    svc.set_providers(location_id, routing.specs(data["providers"]))
    return _providers_answer(svc, location_id)


async def get_providers(request: Request) -> Response:
    location_id = _location_required(request, "sandbox-get-rankr-providers")
    return _providers_answer(_service(sandbox(request)), location_id)


async def list_assignments(request: Request) -> Response:
    location_id = _location_required(request, "sandbox-list-rankr-assignments")
    return json_response({"locationId": location_id, **_service(sandbox(request)).assignments_truth(location_id)})


RANKR_CONTROL_TABLE: RouteTable = (
    ("/_sandbox/rankr/events", ["POST"], send_event),
    ("/_sandbox/rankr/events", ["GET"], list_events),
    ("/_sandbox/rankr/writes", ["GET"], list_writes),
    ("/_sandbox/rankr/providers", ["PUT"], put_providers),
    ("/_sandbox/rankr/providers", ["GET"], get_providers),
    ("/_sandbox/rankr/records/assignments", ["GET"], list_assignments),
    ("/_sandbox/rankr/records/{collection}", ["GET"], list_records),
)


def rankr_control_routes() -> list[BaseRoute]:
    return table_routes(RANKR_CONTROL_TABLE)
