"""Handlers for the five coupon endpoints (`/payments/coupon`, `/payments/coupon/list`): validate, call
`ghl.coupons`, shape the answer as the official `CouponDto` / `CreateCouponResponseDto`."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server.clock import iso_ms, parse_iso
from mock_server.ghl import money
from mock_server.ghl.coupons import PERCENT_SCALE, CouponInput, CouponView
from mock_server.ghl.errors import InvalidOperation
from mock_server.ghl.models import COUPON_DISCOUNT_TYPES, COUPON_STATUSES, CouponDiscountType, Token
from mock_server.ghl.responses.guard import check_location
from mock_server.ghl.responses.params import Validator, paging
from mock_server.ghl.responses.payments import ALT_TYPES, read_json
from mock_server.ghl.world import ghl_of
from mock_server.http.cache import no_cache
from mock_server.http.context import context_of
from mock_server.http.errors import json_response
from mock_server.http.query import query_values

MAX_PERCENT = 100
MAX_AMOUNT = 1_000_000_000  # major units, as the control plane bounds simulated amounts
MAX_USAGE_LIMIT = 2**31 - 1
FUTURE_TYPES = ("forever", "fixed")
LAST_DATE = 221845392000.0  # 9000-01-01, where the sandbox clock stops
DURATION_TYPES = ("months",)


def coupon_dto(view: CouponView) -> dict[str, Any]:
    c = view.coupon
    value: float = (c.discount_value / PERCENT_SCALE if c.discount_type == "percentage"
                    else money.to_major(c.discount_value, c.currency))
    config = c.apply_to_future_payments_config
    out: dict[str, Any] = {
        "_id": c.id, "usageCount": view.usage_count,
        # the DTO's number: how often one customer may redeem it, 0 for unlimited
        "limitPerCustomer": 1 if c.limit_per_customer else 0,
        "altId": c.location_id, "altType": "location", "name": c.name, "code": c.code,
        "discountType": c.discount_type, "discountValue": value, "status": view.status,
        "startDate": iso_ms(c.start_at),
    }
    if c.end_at is not None:
        out["endDate"] = iso_ms(c.end_at)
    if c.usage_limit is not None:
        out["usageLimit"] = c.usage_limit
    if c.product_ids:
        out["productIds"] = list(c.product_ids)
    out["applyToFuturePayments"] = c.apply_to_future_payments
    out["applyToFuturePaymentsConfig"] = (
        {"type": "fixed", "duration": config["duration"], "durationType": config["duration_type"]}
        if config.get("type") == "fixed" else {"type": "forever"})
    if c.user_id:
        out["userId"] = c.user_id
    out["createdAt"] = iso_ms(c.created_at)
    out["updatedAt"] = iso_ms(c.updated_at)
    return out


def _date(v: Validator, name: str, required: bool = False) -> float | None:
    """An RFC 3339 date-time (lower-case `t`/`z` and a leap second accepted, as RFC 3339 allows)."""
    raw = v.string(name, required=required)
    if raw is None:
        return None
    text = raw.strip().upper()
    if re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:60", text):
        text = text[:17] + "59" + text[19:]
    try:
        at = parse_iso(text)
    except ValueError:
        v.errors.append(f"{name} must be a valid ISO 8601 date string")
        return None
    except OverflowError:
        at = -1.0
    if not 0 <= at < LAST_DATE:
        raise InvalidOperation(f"{name} must be between 1970-01-01 and 9000-01-01")
    return at


def _trace(request: Request) -> str:
    return context_of(request.scope).trace


def _future_config(v: Validator) -> dict[str, Any]:
    raw = v.source.get("applyToFuturePaymentsConfig")
    if raw is None:
        return {"type": "forever"}
    if not isinstance(raw, dict):
        v.errors.append("applyToFuturePaymentsConfig must be an object")
        return {"type": "forever"}
    sub = Validator(raw)
    kind = sub.enum("type", FUTURE_TYPES, required=True)
    out: dict[str, Any] = {"type": kind or "forever"}
    if kind == "fixed":
        duration = sub.number("duration", minimum=1, maximum=MAX_USAGE_LIMIT, integer=True)
        if duration is None and "duration" not in raw:
            sub.errors.append("duration must be a positive integer when type is fixed")
        duration_type = sub.enum("durationType", DURATION_TYPES, required=True)
        out.update(duration=int(duration or 0), duration_type=duration_type or "months")
    v.errors += [f"applyToFuturePaymentsConfig.{e}" for e in sub.errors]
    return out


def _product_ids(v: Validator) -> list[str]:
    raw = v.array("productIds")
    if raw is None:
        return []
    if not all(isinstance(p, str) and p for p in raw):
        v.errors.append("each value in productIds must be a string")
        return []
    return list(dict.fromkeys(raw))


def _coupon_input(v: Validator) -> CouponInput | None:
    """The create / update fields (official `CreateCouponParams`), or None with `v.errors` filled."""
    name = v.string("name", required=True, max_length=200)
    code = v.string("code", required=True, max_length=100)
    if code is not None and (code != code.strip() or any(ch.isspace() for ch in code)):
        v.errors.append("code must not contain whitespace")
    discount_type = v.enum("discountType", COUPON_DISCOUNT_TYPES, required=True)
    raw_value = v.source.get("discountValue")
    value = None
    if raw_value is None or raw_value == "":
        v.errors += ["discountValue should not be empty",
                     "discountValue must be a number conforming to the specified constraints"]
    else:
        cap = MAX_PERCENT if discount_type == "percentage" else MAX_AMOUNT
        # a hundredth of a percent, or a cent: the smallest discount kept
        value = v.number("discountValue", minimum=0.01, maximum=cap)
    start_at = _date(v, "startDate", required=True)
    end_at = _date(v, "endDate")
    usage = v.number("usageLimit", minimum=1, maximum=MAX_USAGE_LIMIT, integer=True)
    product_ids = _product_ids(v)
    future = v.boolean("applyToFuturePayments")
    config = _future_config(v)
    per_customer = v.boolean("limitPerCustomer")
    if (name is None or code is None or discount_type is None or value is None or start_at is None
            or v.errors):
        return None
    dtype: CouponDiscountType = "percentage" if discount_type == "percentage" else "amount"
    minor = (money.round_minor(money.scale(PERCENT_SCALE, value)) if dtype == "percentage"
             else money.to_minor(value, "USD"))
    if minor <= 0:
        v.errors.append("discountValue must be a positive number")
        return None
    return CouponInput(name=name, code=code, discount_type=dtype, discount_value=minor, start_at=start_at,
                       end_at=end_at, usage_limit=None if usage is None else int(usage),
                       limit_per_customer=bool(per_customer), product_ids=product_ids,
                       apply_to_future_payments=True if future is None else future,
                       apply_to_future_payments_config=config)


async def list_coupons(request: Request, token: Token) -> Response:
    no_cache(request)  # a coupon's status moves with the sandbox clock, without a write
    v = Validator(query_values(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    status = v.enum("status", COUPON_STATUSES)
    search = v.string("search")
    limit, offset = paging(v, 100)
    v.done()
    assert alt_id is not None
    loc = check_location(token, alt_id)
    views, total = ghl_of(request).coupons.listing(loc, limit, offset, status, search)
    return json_response({"data": [coupon_dto(c) for c in views], "totalCount": total, "traceId": _trace(request)})


async def get_coupon(request: Request, token: Token) -> Response:
    no_cache(request)
    v = Validator(query_values(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    coupon_id = v.string("id")
    code = v.string("code")
    v.done()  # neither id nor code: no coupon is found (400), as an unknown one
    assert alt_id is not None
    loc = check_location(token, alt_id)
    service = ghl_of(request).coupons
    view = service.view(service.find(loc, coupon_id, code))
    return json_response({**coupon_dto(view), "traceId": _trace(request)})


async def create_coupon(request: Request, token: Token) -> Response:
    v = Validator(await read_json(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    data = _coupon_input(v)
    v.done()
    assert alt_id is not None and data is not None
    loc = check_location(token, alt_id)
    view = ghl_of(request).coupons.create(loc, data, token.user_id)
    return json_response({**coupon_dto(view), "traceId": _trace(request)}, status=201)


async def update_coupon(request: Request, token: Token) -> Response:
    v = Validator(await read_json(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    coupon_id = v.string("id", required=True)
    data = _coupon_input(v)
    v.done()
    assert alt_id is not None and coupon_id is not None and data is not None
    loc = check_location(token, alt_id)
    view = ghl_of(request).coupons.update(loc, coupon_id, data)
    return json_response({**coupon_dto(view), "traceId": _trace(request)})


async def delete_coupon(request: Request, token: Token) -> Response:
    v = Validator(await read_json(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    coupon_id = v.string("id", required=True)
    v.done()
    assert alt_id is not None and coupon_id is not None
    loc = check_location(token, alt_id)
    ghl_of(request).coupons.delete(loc, coupon_id)
    return json_response({"success": True, "traceId": _trace(request)})
