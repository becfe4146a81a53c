"""Handlers for `POST /payments/orders/{orderId}/record-payment` and `GET /payments/orders/{orderId}/notes`:
validate, call the domain (mock_server/ghl/manual_payments.py through the simulator), shape the answer."""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response

from mock_server.clock import iso_ms
from mock_server.ghl import manual_payments
from mock_server.ghl.errors import NotFound
from mock_server.ghl.manual_payments import CARD_TYPES, MODES, ManualMode, ManualPayment
from mock_server.ghl.models import OrderNote, Token
from mock_server.ghl.responses.guard import check_location
from mock_server.ghl.responses.params import Validator
from mock_server.ghl.responses.payments import ALT_TYPES, read_json
from mock_server.ghl.simulation import SimArgs
from mock_server.ghl.world import ghl_of
from mock_server.http.errors import ApiError, json_response
from mock_server.http.query import query_values

MAX_AMOUNT = 1_000_000_000  # major units; larger is refused as the control plane refuses it


def _card(v: Validator, raw: Any) -> dict[str, str] | None:
    if raw is None:
        v.errors += ["card should not be empty when mode is card", "card must be an object"]
        return None
    if not isinstance(raw, dict):
        v.errors.append("card must be an object")
        return None
    inner = Validator(raw)
    card_type = inner.enum("type", CARD_TYPES, required=True)
    last4 = inner.string("last4", required=True)
    if last4 is not None and not (len(last4) == 4 and last4.isdigit()):
        inner.errors.append("last4 must be 4 digits")
    v.errors += [f"card.{e}" for e in inner.errors]
    if inner.errors or card_type is None or last4 is None:
        return None
    return {"type": card_type, "last4": last4}


def _cheque(v: Validator, raw: Any) -> str:
    if raw is None:
        v.errors += ["cheque should not be empty when mode is cheque", "cheque must be an object"]
        return ""
    if not isinstance(raw, dict):
        v.errors.append("cheque must be an object")
        return ""
    inner = Validator(raw)
    number = inner.string("number", required=True, max_length=100)
    v.errors += [f"cheque.{e}" for e in inner.errors]
    return number or ""


def parse_payment(body: dict[str, Any]) -> tuple[str | None, ManualPayment]:
    """(altId, the payment) from a record-payment body; a 422 listing every problem otherwise."""
    v = Validator(body)
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    mode = v.enum("mode", MODES, required=True)
    amount = v.number("amount")
    if amount is not None and not 0 < amount <= MAX_AMOUNT:
        v.errors.append(f"amount must be a positive number not greater than {MAX_AMOUNT}")
    is_partial = v.boolean("isPartialPayment")
    notes = v.string("notes", max_length=5000)
    meta = body.get("meta")
    if meta is not None and not isinstance(meta, dict):
        v.errors.append("meta must be an object")
    card = _card(v, body.get("card")) if mode == "card" else None
    cheque = _cheque(v, body.get("cheque")) if mode == "cheque" else ""
    v.done()
    return alt_id, ManualPayment(mode=cast(ManualMode, mode), amount=amount, is_partial=bool(is_partial),
                                 notes=notes or "", card=card, cheque_number=cheque,
                                 meta=dict(meta) if isinstance(meta, dict) else {})


async def record_payment(request: Request, token: Token) -> Response:
    alt_id, payment = parse_payment(await read_json(request))
    assert alt_id is not None
    loc = check_location(token, alt_id)
    service = ghl_of(request)
    order_id = request.path_params["orderId"]
    try:
        service.payments.order(loc, order_id)
    except NotFound:
        # Observed live (GHL SDK issue #19): 404 "Order not found", not the spec's 400.
        raise ApiError(404, "Order not found", "Not Found") from None
    payment.recorded_by = token.user_id  # "" (a private integration token): the location's owner
    service.simulator.run("order.record_payment", SimArgs(location_id=loc, order_id=order_id, payment=payment))
    return json_response({"success": True})


def note_shape(note: OrderNote) -> dict[str, Any]:
    return {"_id": note.id, "altId": note.location_id, "altType": "location", "orderId": note.order_id,
            "type": note.kind, "notes": note.text, "transactionId": note.transaction_id, "meta": note.meta,
            "createdAt": iso_ms(note.created_at), "updatedAt": iso_ms(note.updated_at)}


async def list_notes(request: Request, token: Token) -> Response:
    v = Validator(query_values(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    v.done()
    assert alt_id is not None
    loc = check_location(token, alt_id)
    service = ghl_of(request)
    order = service.payments.order(loc, request.path_params["orderId"])
    notes = manual_payments.notes_of(service.payments.store, order.id)
    return json_response({"status": True, "data": [note_shape(n) for n in notes]})
