"""`POST /_sandbox/simulate/{action}` and the sandbox clock (`GET/POST /_sandbox/clock`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server.control.common import body, duration, sandbox
from mock_server.control.validation import check_body, validated_body
from mock_server.errors import Invalid, NotFound
from mock_server.ghl.actions import REQUIRED_ID
from mock_server.ghl.models import Order
from mock_server.ghl.responses import shapes
from mock_server.ghl.simulation import ActionResult, SimArgs
from mock_server.ghl.world import ghl
from mock_server.http.errors import json_response
from mock_server.webhooks import queries as webhook_queries
from mock_server.webhooks.queries import DeliveryFilter

# The id each action works on: a missing one is a malformed request (422), not a state conflict.
REQUIRED = {action: (key, "order_id" if key == "orderId" else "subscription_id")
            for action, key in REQUIRED_ID.items()}


# Timestamps must stay printable (datetime ends at year 9999); the clock stops well before.
CLOCK_LIMIT = datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp()
# The bounds of simulated quantities (beyond them a record cannot be stored, SQLite integers being 64-bit,
# or shown: an amount of 1e308 made every later transaction list answer 500) are in the contract's
# SimulationRequest, which `validated_body` checks.


def _items(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    raw = data.get("items")
    return None if raw is None else [{"price_id": item["priceId"], "qty": item.get("qty", 1)} for item in raw]


def _trackings(data: dict[str, Any]) -> list[dict[str, Any]]:
    raw = data.get("trackings") or []
    return [{"tracking_number": str(t.get("trackingNumber", "")), "shipping_carrier": str(t.get("shippingCarrier", "")),
             "tracking_url": str(t.get("trackingUrl", ""))} for t in raw]


def parse_args(sb: Any, data: dict[str, Any]) -> SimArgs:
    """SimArgs from a body `validated_body` checked against the contract's SimulationRequest."""
    location_id = data.get("locationId")
    if location_id is None:
        location_id = sb.locations()[0].id
    elif sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    pending = data.get("pending") or {}
    polls = int(pending.get("polls") or 0)  # JSON's 2.0 is the integer 2
    seconds = _float(pending, "seconds")
    outcome = pending.get("outcome", "succeeded")
    amount = _float(data, "amount")
    qty = data.get("qty")
    return SimArgs(location_id=location_id, order_id=data.get("orderId"),
                   subscription_id=data.get("subscriptionId"), transaction_id=data.get("transactionId"),
                   contact_id=data.get("contactId"), price_id=data.get("priceId"),
                   amount=amount, items=_items(data), trackings=_trackings(data),
                   source_type=data.get("sourceType"), source_sub_type=data.get("sourceSubType"),
                   live_mode=data.get("liveMode", True), pending_polls=polls, pending_seconds=seconds,
                   settle_outcome=outcome, notify_customer=data.get("notifyCustomer", False),
                   qty=None if qty is None else int(qty))


def _float(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    return None if value is None else float(value)


def resource_view(sb: Any, kind: str, record: Any) -> dict[str, Any]:
    """The resource as the API's get-by-id answers it."""
    if kind == "orders":
        prices, products = ghl(sb).payments.catalog([i["price_id"] for i in record.items])
        return {"type": "order", "id": record.id, "data": shapes.order_detail(record, prices, products)}
    if kind == "transactions":
        return {"type": "transaction", "id": record.id, "data": shapes.transaction_detail(record)}
    if kind == "subscriptions":
        prices, products = ghl(sb).payments.catalog([record.price_id])
        return {"type": "subscription", "id": record.id, "data": shapes.subscription_detail(record, prices, products)}
    order = sb.store.table(Order).get(record.order_id)
    prices, products = ghl(sb).payments.catalog([i["price_id"] for i in record.items])
    return {"type": "fulfillment", "id": record.id, "data": shapes.fulfillment(record, order, prices, products)}


def result_view(sb: Any, result: ActionResult) -> dict[str, Any]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, record in result.resources:  # the last state of each resource wins, in first-seen order
        seen[(kind, record.id)] = resource_view(sb, kind, record)
    webhooks = []
    for event in result.events:
        deliveries = _deliveries_of(sb, event.id)
        webhooks.append({"eventId": event.id, "event": event.type, "resourceId": event.resource_id,
                         "extension": event.extension,
                         "deliveries": [{"id": d.id, "webhookId": d.webhook_id, "targetId": d.target_id,
                                         "status": d.status, "chaos": d.chaos} for d in deliveries]})
    return {"action": result.action, "resources": list(seen.values()), "webhooks": webhooks}


def _deliveries_of(sb: Any, event_id: str) -> list[Any]:
    return webhook_queries.deliveries(sb.store, DeliveryFilter(event_id=event_id))


async def simulate(request: Request) -> Response:
    sb = sandbox(request)
    action = request.path_params["action"]
    data = await body(request)
    if action not in ghl(sb).simulator.actions:
        raise NotFound(f"Unknown action {action}; known: {', '.join(ghl(sb).simulator.actions)}")
    check_body("sandbox-simulate", data)
    args = parse_args(sb, data)
    needed = REQUIRED.get(action)
    if needed is not None and getattr(args, needed[1]) is None:
        raise Invalid(f"{needed[0]} should not be empty")
    # Unknown records (ghl.errors.NotFound) and refused actions (InvalidOperation, a Conflict) are answered
    # 404 and 409 by the shared exception handlers.
    result = ghl(sb).simulator.run(action, args)
    sb.webhooks.wake()
    view = result_view(sb, result)
    sb.bus.publish_action(view, args.location_id)  # the dashboard's live feed
    return json_response(view)


async def get_clock(request: Request) -> Response:
    return json_response(sandbox(request).clock.describe())


async def post_clock(request: Request) -> Response:
    sb = sandbox(request)
    data = await validated_body(request, "sandbox-set-clock")
    freeze = data.get("freeze")
    advance = duration(data["advance"]) if data.get("advance") is not None else None
    if advance and sb.clock.now() + advance > CLOCK_LIMIT:
        raise Invalid("advance would move the sandbox clock past 9000-01-01")
    if freeze is True:
        sb.clock.freeze()
    elif freeze is False:
        sb.clock.unfreeze()
    if advance:
        sb.clock.advance(advance)
    sb.tick()  # due renewals, settlements and retries fire as the clock moves
    sb.webhooks.wake()
    return json_response(sb.clock.describe())
