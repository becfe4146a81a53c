"""`POST /_sandbox/simulate/{action}` and the sandbox clock (`GET/POST /_sandbox/clock`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server.control.common import body, duration, invalid, not_found, number, sandbox, string
from mock_server.ghl.actions import REQUIRED_ID
from mock_server.ghl.errors import InvalidOperation, NotFound
from mock_server.ghl.models import Order
from mock_server.ghl.responses import shapes
from mock_server.ghl.simulation import ActionResult, SimArgs
from mock_server.ghl.world import ghl
from mock_server.http.errors import ApiError, json_response
from mock_server.store import Condition
from mock_server.webhooks.models import Delivery

# The id each action works on: a missing one is a malformed request (422), not a state conflict.
REQUIRED = {action: (key, "order_id" if key == "orderId" else "subscription_id")
            for action, key in REQUIRED_ID.items()}


# Timestamps must stay printable (datetime ends at year 9999); the clock stops well before.
CLOCK_LIMIT = datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp()
# Upper bounds of simulated quantities: beyond them a record cannot be stored (SQLite integers are 64-bit)
# or shown (an amount of 1e308 made every later transaction list answer 500).
MAX_QTY = 1_000_000
MAX_AMOUNT = 1_000_000_000
MAX_POLLS = 1_000_000
MAX_PENDING_SECONDS = 100 * 365.25 * 86400


def _items(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    raw = data.get("items")
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise invalid("items must be a non-empty array of {priceId, qty}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("priceId"), str):
            raise invalid(f"items.{i}.priceId must be a string")
        qty = item.get("qty", 1)
        if isinstance(qty, bool) or not isinstance(qty, (int, float)) or qty <= 0:
            raise invalid(f"items.{i}.qty must be a positive number")
        if qty > MAX_QTY:
            raise invalid(f"items.{i}.qty must not be greater than {MAX_QTY}")
        out.append({"price_id": item["priceId"], "qty": qty})
    return out


def _trackings(data: dict[str, Any]) -> list[dict[str, Any]]:
    raw = data.get("trackings")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise invalid("trackings must be an array of objects")
    for i, t in enumerate(raw):
        for key in ("trackingNumber", "shippingCarrier", "trackingUrl"):
            if t.get(key) is not None and not isinstance(t[key], str):
                raise invalid(f"trackings.{i}.{key} must be a string")
    return [{"tracking_number": str(t.get("trackingNumber", "")), "shipping_carrier": str(t.get("shippingCarrier", "")),
             "tracking_url": str(t.get("trackingUrl", ""))} for t in raw]


def parse_args(sb: Any, data: dict[str, Any]) -> SimArgs:
    location_id = string(data, "locationId")
    if location_id is None:
        location_id = sb.locations()[0].id
    elif sb.location(location_id) is None:
        raise not_found(f"Location {location_id} not found")
    pending = data.get("pending")
    polls, seconds, outcome = 0, None, "succeeded"
    if pending is not None:
        if not isinstance(pending, dict):
            raise invalid("pending must be an object {polls?, seconds?, outcome?}")
        unknown = set(pending) - {"polls", "seconds", "outcome"}
        if unknown:
            raise invalid(f"pending has unknown field(s): {', '.join(sorted(unknown))}")
        p = number(pending, "polls")
        if p is not None and (p != int(p) or p < 1):
            raise invalid("pending.polls must be a positive integer")
        if p is not None and p > MAX_POLLS:
            raise invalid(f"pending.polls must not be greater than {MAX_POLLS}")
        polls = int(p) if p is not None else 0
        seconds = number(pending, "seconds")
        if seconds is not None and seconds <= 0:
            raise invalid("pending.seconds must be a positive number")
        if seconds is not None and seconds > MAX_PENDING_SECONDS:
            raise invalid("pending.seconds must be at most 100 years")
        outcome = pending.get("outcome", "succeeded")
        if outcome not in ("succeeded", "failed"):
            raise invalid("pending.outcome must be one of the following values: succeeded, failed")
        if polls <= 0 and seconds is None:
            raise invalid("pending needs polls (a positive count) or seconds")
    live = data.get("liveMode", True)
    if not isinstance(live, bool):
        raise invalid("liveMode must be a boolean")
    notify = data.get("notifyCustomer", False)
    if not isinstance(notify, bool):
        raise invalid("notifyCustomer must be a boolean")
    amount = number(data, "amount")
    if amount is not None and amount <= 0:
        raise invalid("amount must be a positive number")
    if amount is not None and amount > MAX_AMOUNT:
        raise invalid(f"amount must not be greater than {MAX_AMOUNT}")
    qty = data.get("qty")
    if isinstance(qty, float) and qty.is_integer():  # JSON's 2.0 is the integer 2
        qty = int(qty)
    if qty is not None and (isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= 1000):
        raise invalid("qty must be an integer from 1 to 1000")
    return SimArgs(location_id=location_id, order_id=string(data, "orderId"),
                   subscription_id=string(data, "subscriptionId"), transaction_id=string(data, "transactionId"),
                   contact_id=string(data, "contactId"), price_id=string(data, "priceId"),
                   amount=amount, items=_items(data), trackings=_trackings(data),
                   source_type=string(data, "sourceType"), source_sub_type=string(data, "sourceSubType"),
                   live_mode=live, pending_polls=polls, pending_seconds=seconds, settle_outcome=outcome,
                   notify_customer=notify, qty=qty)


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
    return sb.store.table(Delivery).all([Condition("event_id", "=", event_id)], order="seq")


async def simulate(request: Request) -> Response:
    sb = sandbox(request)
    action = request.path_params["action"]
    data = await body(request)
    if action not in ghl(sb).simulator.actions:
        raise not_found(f"Unknown action {action}; known: {', '.join(ghl(sb).simulator.actions)}")
    args = parse_args(sb, data)
    needed = REQUIRED.get(action)
    if needed is not None and getattr(args, needed[1]) is None:
        raise invalid(f"{needed[0]} should not be empty")
    try:
        result = ghl(sb).simulator.run(action, args)
    except NotFound as exc:
        raise ApiError(404, f"{exc.kind} {exc.record_id} not found", "Not Found") from None
    except InvalidOperation as exc:
        raise ApiError(409, str(exc), "Conflict") from None
    sb.webhooks.wake()
    view = result_view(sb, result)
    sb.bus.publish_action(view, args.location_id)  # the dashboard's live feed
    return json_response(view)


async def get_clock(request: Request) -> Response:
    return json_response(sandbox(request).clock.describe())


async def post_clock(request: Request) -> Response:
    sb = sandbox(request)
    data = await body(request)
    freeze = data.get("freeze")
    if freeze is not None and not isinstance(freeze, bool):
        raise invalid("freeze must be a boolean")
    advance = duration(data["advance"]) if data.get("advance") is not None else None
    if advance and sb.clock.now() + advance > CLOCK_LIMIT:
        raise invalid("advance would move the sandbox clock past 9000-01-01")
    if freeze is True:
        sb.clock.freeze()
    elif freeze is False:
        sb.clock.unfreeze()
    if advance:
        sb.clock.advance(advance)
    sb.tick()  # due renewals, settlements and retries fire as the clock moves
    sb.webhooks.wake()
    return json_response(sb.clock.describe())
