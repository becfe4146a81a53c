"""The GHL service's part of the control plane (documented with the rest in
contracts/sandbox-control.openapi.yaml): simulated actions (`POST /_sandbox/simulate/{action}`), tokens,
apps and OAuth codes, a location's whole payments state, forged order webhooks, and one resource as the
API's get-by-id answers it (`GET /_sandbox/locations/{locationId}/resources/{kind}/{resourceId}`, for the
dashboard: read-only, no journal entry, no rate limit, no pending payment settles)."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server import jsjson
from mock_server.clock import iso_ms
from mock_server.control.common import body, sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.control.validation import check_body, validated_body
from mock_server.control.webhooks import receiver_url
from mock_server.errors import Invalid, NotFound
from mock_server.ghl import queries as ghl_queries
from mock_server.ghl.actions import REQUIRED_ID
from mock_server.ghl.dashboard import state_rows
from mock_server.ghl.manual_payments import ManualPayment
from mock_server.ghl.models import App, Fulfillment, Order, Subscription, Transaction
from mock_server.ghl.money import to_major, to_minor
from mock_server.ghl.responses import shapes
from mock_server.ghl.responses.payments import ORDER_BY_ID, SUBSCRIPTION_BY_ID, TRANSACTION_BY_ID
from mock_server.ghl.simulation import ActionResult, SimArgs
from mock_server.ghl.world import ghl, token_view
from mock_server.http.errors import JSON, json_response
from mock_server.http.fragments import Form
from mock_server.http.tls import client_context
from mock_server.store import Table
from mock_server.webhooks import queries as webhook_queries
from mock_server.webhooks.queries import DeliveryFilter

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

RESOURCE_TYPES: dict[str, type[Order | Transaction | Subscription | Fulfillment]] = {
    "orders": Order, "transactions": Transaction, "subscriptions": Subscription, "fulfillments": Fulfillment}
RESOURCE_KINDS = tuple(RESOURCE_TYPES)


# The id each action works on: a missing one is a malformed request (422), not a state conflict.
REQUIRED = {action: (key, "order_id" if key == "orderId" else "subscription_id")
            for action, key in REQUIRED_ID.items()}


# The bounds of simulated quantities (beyond them a record cannot be stored, SQLite integers being 64-bit,
# or shown: an amount of 1e308 made every later transaction list answer 500) are in the contract's
# SimulationRequest, which `validated_body` checks.


def _items(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    raw = data.get("items")
    return None if raw is None else [{"price_id": item["priceId"], "qty": item.get("qty", 1)} for item in raw]


def _trackings(data: dict[str, Any]) -> list[dict[str, Any]]:
    raw = data.get("trackings") or []
    # Only the fields given: a tracking `{}` stays `{}` (GHL does not fill the others with "").
    names = (("trackingNumber", "tracking_number"), ("shippingCarrier", "shipping_carrier"),
             ("trackingUrl", "tracking_url"))
    return [{key: str(t[name]) for name, key in names if t.get(name) is not None} for t in raw]


ADDRESS_FIELDS = (("address1", "address1"), ("city", "city"), ("state", "state"), ("postalCode", "postal_code"),
                  ("country", "country"))


def _address(data: dict[str, Any]) -> dict[str, str] | None:
    """order.create's `address` as contactSnapshot keys: the five address fields, an omitted one empty."""
    raw = data.get("address")
    return None if raw is None else {key: str(raw.get(name) or "") for name, key in ADDRESS_FIELDS}


def parse_args(sb: Runtime, data: dict[str, Any]) -> SimArgs:
    """SimArgs from a body `validated_body` checked against the contract's SimulationRequest."""
    location_id = data.get("locationId")
    if location_id is None:
        location_id = sb.first_location_id()
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
                   source_id=data.get("sourceId"),
                   live_mode=data.get("liveMode", True), pending_polls=polls, pending_seconds=seconds,
                   settle_outcome=outcome, notify_customer=data.get("notifyCustomer", False),
                   qty=None if qty is None else int(qty), address=_address(data),
                   payment=_manual_payment(data, amount),
                   coupon_code=data.get("couponCode"))


def _manual_payment(data: dict[str, Any], amount: float | None) -> ManualPayment | None:
    """order.record_payment: the manual payment of the body (the contract checked its fields)."""
    mode = data.get("mode")
    if mode is None:
        return None
    card = data.get("card")
    cheque = data.get("cheque") or {}
    partial = data.get("isPartialPayment")
    return ManualPayment(mode=mode, amount=amount,
                         is_partial=amount is not None if partial is None else bool(partial),
                         notes=data.get("notes") or "", card=dict(card) if card else None,
                         cheque_number=cheque.get("number", ""), meta=dict(data.get("meta") or {}))


def _float(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    return None if value is None else float(value)


def resource_view(sb: Runtime, kind: str, record: Any, orders: Mapping[str, Order] | None = None) -> dict[str, Any]:
    """The resource as the API's get-by-id answers it (`orders`: orders as the caller holds them now, so
    a fulfilment's order is not read again)."""
    if kind == "orders":
        prices, products = ghl(sb).payments.catalog([i["price_id"] for i in record.items])
        return {"type": "order", "id": record.id, "data": shapes.order_detail(record, prices, products)}
    if kind == "transactions":
        return {"type": "transaction", "id": record.id, "data": shapes.transaction_detail(record)}
    if kind == "subscriptions":
        prices, products = ghl(sb).payments.catalog([record.price_id])
        return {"type": "subscription", "id": record.id, "data": shapes.subscription_detail(record, prices, products)}
    order = orders.get(record.order_id) if orders else None
    if order is None:
        order = sb.store.table(Order).get(record.order_id)
    if order is None:  # no stored state has a fulfilment without its order; were there one: a 404, not a 500
        raise NotFound(f"Order {record.order_id} not found")
    prices, products = ghl(sb).payments.catalog([i["price_id"] for i in record.items])
    return {"type": "fulfillment", "id": record.id, "data": shapes.fulfillment(record, order, prices, products)}


# The form each kind's get-by-id answers with (`mock_server/http/fragments.py`). An action's answer shows
# its resources in that same JSON, so it keeps it for them (`FragmentCache.seed`): the read that follows a
# write (a harness checking what it did, a demo's next poll) is then assembled, not shaped afresh.
# Fulfilments have no get-by-id of their own.
BY_ID_FORMS: dict[str, Form] = {"orders": ORDER_BY_ID, "transactions": TRANSACTION_BY_ID,
                                "subscriptions": SUBSCRIPTION_BY_ID}


def result_view(sb: Runtime, result: ActionResult) -> tuple[dict[str, Any], bytes]:
    """The action's answer, as a value (for the dashboard's feed) and as the JSON it is answered with;
    the by-id JSON of each resource is kept for the reads that follow."""
    latest: dict[tuple[str, str], tuple[str, Any]] = {}
    for kind, record in result.resources:  # the last state of each resource wins, in first-seen order
        latest[(kind, record.id)] = (kind, record)
    resources: list[dict[str, Any]] = []
    written: list[dict[str, Any]] = []
    orders = {rid: record for (kind, rid), (_, record) in latest.items() if kind == "orders"}
    for kind, record in latest.values():
        view = resource_view(sb, kind, record, orders)
        data = jsjson.dumps(view["data"])
        form = BY_ID_FORMS.get(kind)
        if form is not None:  # stamped with the record's document: used only while it is what is stored
            doc = Table.doc(record)
            sb.fragments.seed(form, record.id, doc, data)
            location_id = record.location_id
            if sb.responses.renewable(kind, record.id, location_id):
                sb.responses.renew(kind, record.id, data if _reads_as(sb, kind, record, doc) else None, location_id)
        resources.append(view)
        written.append({**view, "data": orjson.Fragment(data)})
    webhooks = []
    targets = sb.webhooks.has_targets()  # without any, no event of the action queued a delivery
    for event in result.events:
        deliveries = _deliveries_of(sb, event.id) if targets else []
        webhooks.append({"eventId": event.id, "event": event.type, "resourceId": event.resource_id,
                         "extension": event.extension,
                         "deliveries": [{"id": d.id, "webhookId": d.webhook_id, "targetId": d.target_id,
                                         "status": d.status, "chaos": d.chaos} for d in deliveries]})
    answer = jsjson.dumps({"action": result.action, "resources": written, "webhooks": webhooks})
    return {"action": result.action, "resources": resources, "webhooks": webhooks}, answer


def _reads_as(sb: Runtime, kind: str, record: Any, doc: bytes) -> bool:
    """Whether a get-by-id of the record answers its JSON rendered from `doc` now: `doc` is what is
    stored, and the read changes nothing (a poll of an order with a pending payment counts down)."""
    if sb.store.table(type(record)).stored_doc(record.id) != doc:
        return False
    return not (kind == "orders" and ghl(sb).simulator.has_pending_payment(record.id))


def _deliveries_of(sb: Runtime, event_id: str) -> list[Any]:
    return webhook_queries.deliveries(sb.store, DeliveryFilter(event_id=event_id))


async def simulate(request: Request, action: str) -> Response:
    """`POST /_sandbox/simulate/{action}` for GHL's actions (the shared dispatcher calls it)."""
    sb = sandbox(request)
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
    result = ghl(sb).simulator.run(action, args)  # its events woke the webhook worker if they queued anything
    view, answer = result_view(sb, result)
    sb.bus.publish_action(view, args.location_id)  # the dashboard's live feed
    return Response(answer, media_type=JSON)


async def create_token(request: Request) -> Response:
    data = await body(request)
    sb = sandbox(request)
    location_id = data.get("locationId")
    # An unknown location is answered 404 before the other fields are looked at (as it always was).
    if isinstance(location_id, str) and location_id and sb.location(location_id) is None:
        raise NotFound(f"Location {location_id} not found")
    check_body("sandbox-create-token", data)
    token = ghl(sb).auth.issue(data["locationId"], scopes=data.get("scopes"), token_class=data.get("tokenClass", "location"),
                               token_type=data.get("tokenType", "oauth"), expires_in=data.get("expiresIn"))
    return json_response(token_view(token), status=201)


async def revoke_token(request: Request) -> Response:
    sb = sandbox(request)
    value = request.path_params.get("token")
    if value is None:
        data = await validated_body(request, "sandbox-revoke-token-by-body")
        names = [data[key] for key in ("token", "tokenId") if key in data]
    else:
        names = [value]
    token = None
    for name in names:  # the secret, else the id: either may name the token
        token = ghl(sb).auth.revoke(name)
        if token is not None:
            break
    if token is None:
        raise NotFound("Token not found")
    return json_response({"revoked": True, "tokenId": token.id})


async def list_apps(request: Request) -> Response:
    apps = sandbox(request).store.table(App).all(order="")
    return json_response([{"appId": a.id, "clientId": a.client_id, "clientSecret": a.client_secret,
                           "versionId": a.version_id, "companyId": a.company_id, "name": a.name,
                           "redirectUri": a.redirect_uri, "planId": a.plan_id or None} for a in apps])


async def authorize(request: Request) -> Response:
    data = await validated_body(request, "sandbox-authorize")
    grant = ghl(sandbox(request)).auth.authorization_code(data["clientId"], data["locationId"], data.get("scopes"),
                                                        data.get("userType", "Location"))
    return json_response({"code": grant.id, "expiresAt": iso_ms(grant.expires_at)})


async def location_state(request: Request) -> Response:
    """`GET /_sandbox/locations/{locationId}/state`: orders (list shape), transactions, subscriptions
    and fulfillments of one location, all of them (with an ETag: see `mock_server.http.conditional`)."""
    sb = sandbox(request)
    location_id = request.path_params["locationId"]

    def build() -> dict[str, Any]:
        if sb.location(location_id) is None:
            raise NotFound(f"Location {location_id} not found")
        return {"locationId": location_id, **state_rows(ghl_queries.location_state(sb.store, location_id))}

    return sb.reads.answer(request, build)  # 304 to a harness's poll while none of it changed


async def forge_webhook(request: Request) -> Response:
    """`POST /_sandbox/webhooks/forge {url, orderId, kind, locationId?, event?}`: send an Order webhook
    for an existing order straight to `url`: `valid` (correctly signed, fresh), `forged` (the signature
    headers deliveries carry, signed with another key), `tampered` (signed, then the body changed), `replayed` (correctly signed but its
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
    stamp = time.time() - (600 if kind == "replayed" else 0)
    webhook_id = sb.world.ids.uuid()
    payload: dict[str, Any] = {**ghl(sb).order_webhook_fields(event, order), "timestamp": iso_ms(stamp),
                               "webhookId": webhook_id}
    raw = jsjson.dumps(payload)
    if kind == "forged":
        # The headers a genuine delivery carries (x-ghl-signature; also x-wh-signature with
        # --legacy-wh-signature), each signed with another key: a client that skips verification when
        # the RSA header is missing accepts it.
        rogue = ed25519.Ed25519PrivateKey.generate()
        forged = {"x-ghl-signature": base64.b64encode(rogue.sign(raw)).decode(),
                  "x-wh-signature": base64.b64encode(rogue.sign(raw) * 8).decode()}
        headers = {name: forged[name] for name in sb.signer.header_names()} or forged
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
        async with httpx.AsyncClient(timeout=10, verify=client_context()) as client:
            response = await client.post(url, content=raw, headers={"content-type": "application/json", **headers})
            status = response.status_code
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return json_response({"kind": kind, "event": event, "webhookId": webhook_id, "orderId": order.id,
                          "status": status, "error": error or None,
                          "latencyMs": round((time.perf_counter() - started) * 1000, 3)})


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


GHL_CONTROL_TABLE: RouteTable = (
    ("/_sandbox/tokens", ["POST"], create_token),
    ("/_sandbox/tokens/revoke", ["POST"], revoke_token),
    ("/_sandbox/tokens/{token}", ["DELETE"], revoke_token),
    ("/_sandbox/apps", ["GET"], list_apps),
    ("/_sandbox/oauth/authorize", ["POST"], authorize),
    ("/_sandbox/webhooks/forge", ["POST"], forge_webhook),
    ("/_sandbox/locations/{locationId}/state", ["GET"], location_state),
    ("/_sandbox/locations/{locationId}/resources/{kind}/{resourceId}", ["GET"], resource),
)


def ghl_control_routes() -> list[BaseRoute]:
    return table_routes(GHL_CONTROL_TABLE)
