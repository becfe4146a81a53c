"""Control plane for the fake Rankr: send a Rankr event to a client (signed, or forged on request)
and list what was sent, and the write history of the Rankr accounts (for the harness)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.control.common import sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.control.validation import validated_body
from mock_server.control.webhooks import receiver_url
from mock_server.errors import Invalid, NotFound
from mock_server.http.errors import json_response
from mock_server.rankr import accounts, sender
from mock_server.rankr.models import RankrSend
from mock_server.rankr.service import POSTS, RECORDS, RankrService, rankr
from mock_server.rankr.views import send_view, write_view


def _service(sb: Any) -> RankrService:
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
    order_id = data["orderId"]
    event_type = data.get("eventType") or "fulfillment.requested"
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


RANKR_CONTROL_TABLE: RouteTable = (
    ("/_sandbox/rankr/events", ["POST"], send_event),
    ("/_sandbox/rankr/events", ["GET"], list_events),
    ("/_sandbox/rankr/writes", ["GET"], list_writes),
    ("/_sandbox/rankr/records/{collection}", ["GET"], list_records),
)


def rankr_control_routes() -> list[BaseRoute]:
    return table_routes(RANKR_CONTROL_TABLE)
