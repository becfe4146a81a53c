"""Read-only views for harnesses: a location's whole payments state in the API's shapes, without
rate limits or journal entries, so inspecting never disturbs what is being inspected; and forged
webhooks, to prove a receiver rejects them."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.requests import Request
from starlette.responses import Response

from mock_server import jsjson
from mock_server.clock import iso_ms
from mock_server.control.common import sandbox
from mock_server.control.validation import validated_body
from mock_server.control.webhooks import receiver_url
from mock_server.errors import NotFound
from mock_server.ghl import queries as ghl_queries
from mock_server.ghl.models import Order
from mock_server.ghl.money import to_major, to_minor
from mock_server.ghl.responses import shapes
from mock_server.ghl.world import ghl
from mock_server.http.errors import json_response


async def location_state(request: Request) -> Response:
    """`GET /_sandbox/locations/{locationId}/state`: orders (list shape), transactions, subscriptions
    and fulfillments of one location, all of them."""
    sb = sandbox(request)
    location_id = request.path_params["locationId"]
    if sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    records = ghl_queries.location_state(sb.store, location_id)
    orders, txns, subs, fulfillments = records.orders, records.transactions, records.subscriptions, records.fulfillments
    return json_response({
        "locationId": location_id,
        "orders": [{**shapes.order_list_item(o),
                    "items": [{"priceId": i["price_id"], "qty": i["qty"]} for i in o.items]} for o in orders],
        "transactions": [shapes.transaction_list_item(t) for t in txns],
        "subscriptions": [shapes.subscription_list_item(s, with_count=True) for s in subs],
        "fulfillments": [{"_id": f.id, "orderId": f.order_id, "createdAt": iso_ms(f.created_at),
                          "items": [{"priceId": i["price_id"], "qty": i["qty"]} for i in f.items]}
                         for f in fulfillments],
    })


async def forge_webhook(request: Request) -> Response:
    """`POST /_sandbox/webhooks/forge {url, orderId, kind, locationId?, event?}`: send an Order webhook
    for an existing order straight to `url`: `valid` (correctly signed, fresh), `forged` (signed with
    another key), `tampered` (signed, then the body changed), `replayed` (correctly signed but its
    `timestamp` is 10 minutes old), `unsigned` (no signature headers). A fresh webhookId each time."""
    sb = sandbox(request)
    data = await validated_body(request, "sandbox-forge-webhook")
    url = receiver_url(data["url"])  # what webhook targets accept (a bad URL raised InvalidURL: 500)
    order_id = data.get("orderId")
    kind = data.get("kind", "forged")
    event = data.get("event", "OrderStatusUpdate")
    order = sb.store.table(Order).get(order_id or "")
    if order is None:
        raise NotFound(f"Order {order_id} not found")
    prices, products = ghl(sb).payments.catalog([i["price_id"] for i in order.items])
    app = ghl(sb).auth.app()
    stamp = time.time() - (600 if kind == "replayed" else 0)
    webhook_id = sb.world.ids.uuid()
    payload: dict[str, Any] = {"type": event, "locationId": order.location_id,
                               **shapes.order_webhook(order, prices, products),
                               "appId": app.id if app else "", "versionId": app.version_id if app else "",
                               "timestamp": iso_ms(stamp), "webhookId": webhook_id}
    raw = jsjson.dumps(payload)
    if kind == "forged":
        rogue = ed25519.Ed25519PrivateKey.generate()
        headers = {"x-ghl-signature": base64.b64encode(rogue.sign(raw)).decode(),
                   "x-wh-signature": base64.b64encode(rogue.sign(raw) * 8).decode()}
    elif kind == "unsigned":
        headers = {}
    else:
        headers = sb.signer.headers(raw)
    if kind == "tampered":  # signed first, then a field changed: the signature no longer matches
        payload["status"] = "refunded" if payload.get("status") != "refunded" else "completed"
        payload["amount"] = to_major(order.amount_minor + to_minor(100, order.currency), order.currency)
        raw = jsjson.dumps(payload)
    started = time.perf_counter()
    status: int | None = None
    error = ""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, content=raw, headers={"content-type": "application/json", **headers})
            status = response.status_code
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return json_response({"kind": kind, "event": event, "webhookId": webhook_id, "orderId": order.id,
                          "status": status, "error": error or None,
                          "latencyMs": round((time.perf_counter() - started) * 1000, 3)})


async def put_policy(request: Request) -> Response:
    """`PUT /_sandbox/webhooks/policy {name?, retryIntervalS?, maxRetries?, factor?, timeoutS?}`."""
    sb = sandbox(request)
    data = await validated_body(request, "sandbox-set-webhook-policy")
    policy = sb.webhooks.policy
    name = data.get("name", policy.name)
    # A null number keeps its value (WebhookPolicyRequest).
    values = {key: data[key] for key in ("retryIntervalS", "maxRetries", "factor", "timeoutS")
              if data.get(key) is not None}
    policy.name = name
    policy.interval_s = float(values.get("retryIntervalS", policy.interval_s))
    policy.max_retries = int(values.get("maxRetries", policy.max_retries))
    policy.factor = float(values.get("factor", policy.factor))
    if "timeoutS" in values:
        sb.webhooks.set_timeout(float(values["timeoutS"]))
    return json_response(policy_view(sb))


async def get_policy(request: Request) -> Response:
    return json_response(policy_view(sandbox(request)))


def policy_view(sb: Any) -> dict[str, Any]:
    p = sb.webhooks.policy
    return {"name": p.name, "retryIntervalS": p.interval_s, "maxRetries": p.max_retries, "factor": p.factor,
            "timeoutS": sb.webhooks.timeout_s}
