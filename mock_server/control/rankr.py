"""Control plane for the fake Rankr: send a Rankr event to a client (signed, or forged on request)
and list what was sent, and the write history of the Rankr accounts (for the harness)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server.control.common import body, invalid, not_found, sandbox
from mock_server.control.webhooks import receiver_url
from mock_server.http.errors import json_response
from mock_server.rankr import accounts, sender
from mock_server.rankr.models import RankrSend
from mock_server.rankr.service import RankrService, rankr
from mock_server.rankr.views import send_view, write_view


def _service(sb: Any) -> RankrService:
    return rankr(sb)


def _location_filter(request: Request) -> str | None:
    location_id = request.query_params.get("locationId") or None
    if location_id is not None and sandbox(request).location(location_id) is None:
        raise not_found(f"Location {location_id} not found")
    return location_id


def _string(data: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not value:
        raise invalid(f"{name} must be a non-empty string")
    return value


MAX_QTY = 1_000_000


def _items(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid("items must be an array of {priceId, qty}")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("priceId"), str) or not item["priceId"]:
            raise invalid(f"items[{i}].priceId must be a non-empty string")
        qty = item.get("qty")
        # Bounded as simulated items are: a bigger JSON integer is read as a float (orjson) and was refused
        # as "not an integer" although the contract's `integer` allows it.
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
            raise invalid(f"items[{i}].qty must be an integer from 1 to {MAX_QTY}")
        items.append({"priceId": item["priceId"], "qty": qty})
    return items


async def send_event(request: Request) -> Response:
    sb = sandbox(request)
    data = await body(request)
    location_id = _string(data, "locationId")
    if location_id is None:
        locations = sb.locations()
        if not locations:
            raise invalid("locationId is required (the sandbox has no locations)")
        location_id = locations[0].id
    elif sb.location(location_id) is None:
        raise not_found(f"Location {location_id} not found")
    url = receiver_url(data.get("url"))  # what webhook targets accept
    order_id = _string(data, "orderId")
    if order_id is None:
        raise invalid("orderId must be a non-empty string")
    event_type = _string(data, "eventType", "fulfillment.requested")
    trackings = data.get("trackings", [])
    if not isinstance(trackings, list) or not all(isinstance(t, dict) for t in trackings):
        raise invalid("trackings must be an array of objects")
    notify = data.get("notifyCustomer", False)
    if not isinstance(notify, bool):
        raise invalid("notifyCustomer must be a boolean")
    forge = data.get("forge")
    if forge is not None and forge not in sender.FORGERIES:
        raise invalid(f"forge must be one of the following values: {', '.join(sender.FORGERIES)}")
    items = _items(data.get("items"))
    event_id = _string(data, "eventId") or "evt_" + sb.world.ids.object_id()
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


RANKR_COLLECTIONS = ("orders", "transactions", "subscriptions", "events", "alerts")


async def list_records(request: Request) -> Response:
    """`GET /_sandbox/rankr/records/{collection}?locationId=`: a Rankr account's records, read past the
    fault middleware and the journal, so a harness inspecting Rankr never disturbs it."""
    collection = request.path_params["collection"]
    if collection not in RANKR_COLLECTIONS:
        raise not_found(f"Unknown Rankr collection {collection}; known: {', '.join(RANKR_COLLECTIONS)}")
    location_id = _location_filter(request)
    if location_id is None:
        raise invalid("locationId is required")
    data, total = _service(sandbox(request)).list(location_id, collection)
    return json_response({"data": data, "total": total})
