"""Coupons of a location: create, update, delete, read and list, and redeeming one on a new order.

A coupon's status (`scheduled`, `active`, `expired`) is never stored: it follows from the sandbox clock
and the coupon's start and end dates. Its usage count is never stored either: it is the number of the
location's orders that redeemed it. Queries with store conditions live here, never in HTTP handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mock_server.clock import SandboxClock
from mock_server.errors import Invalid
from mock_server.ghl import money
from mock_server.ghl.errors import InvalidOperation, NotFound
from mock_server.ghl.models import COUPON_NO_END, Coupon, CouponDiscountType, CouponStatus, Order
from mock_server.ids import IdFactory
from mock_server.store import Condition, Store

CURRENCY = "USD"  # the currency of every sandbox location (orders are USD)
PERCENT_SCALE = 100  # a percentage is kept in hundredths of a percent


class CouponNotApplicable(Invalid):
    """A code given to a simulated order that cannot be redeemed (unknown, not active, used up): 422."""


@dataclass
class CouponInput:
    """A create or update request, validated by the handler; money already in minor units."""

    name: str
    code: str
    discount_type: CouponDiscountType
    discount_value: int  # hundredths of a percent, or minor units
    start_at: float
    end_at: float | None = None
    usage_limit: int | None = None
    limit_per_customer: bool = False
    product_ids: list[str] = field(default_factory=list)
    apply_to_future_payments: bool = True
    apply_to_future_payments_config: dict[str, Any] = field(default_factory=lambda: {"type": "forever"})


def status_at(coupon: Coupon, now: float) -> CouponStatus:
    if now < coupon.start_at:
        return "scheduled"
    if coupon.end_at is not None and now > coupon.end_at:
        return "expired"
    return "active"


def discount_minor(coupon: Coupon, eligible_minor: int) -> int:
    """What the coupon takes off `eligible_minor` (never more than it)."""
    if coupon.discount_type == "percentage":
        off = money.round_minor(money.scale(eligible_minor, coupon.discount_value) / (100 * PERCENT_SCALE))
    else:
        off = coupon.discount_value
    return max(0, min(off, eligible_minor))


@dataclass(frozen=True)
class CouponView:
    """A coupon with what is derived from it: its status now and its usage count."""

    coupon: Coupon
    status: CouponStatus
    usage_count: int


class Coupons:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids

    # ---- reads --------------------------------------------------------------------------------

    def _where(self, location_id: str) -> list[Condition]:
        return [Condition("location_id", "=", location_id)]

    def by_id(self, location_id: str, coupon_id: str) -> Coupon:
        coupon = self.store.table(Coupon).get(coupon_id)
        if coupon is None or coupon.location_id != location_id:
            raise NotFound("Coupon", coupon_id)
        return coupon

    def by_code(self, location_id: str, code: str) -> Coupon | None:
        found = self.store.table(Coupon).all([*self._where(location_id), Condition("code_key", "=", code.upper())])
        return found[0] if found else None

    def find(self, location_id: str, coupon_id: str | None, code: str | None) -> Coupon:
        """By id, by code, or by both (then they must name the same coupon)."""
        coupon = self.by_id(location_id, coupon_id) if coupon_id else None
        if code:
            by_code = self.by_code(location_id, code)
            if by_code is None or (coupon is not None and coupon.id != by_code.id):
                raise NotFound("Coupon", code)
            coupon = by_code
        if coupon is None:
            raise NotFound("Coupon", "")
        return coupon

    def usage_counts(self, location_id: str, coupons: list[Coupon]) -> dict[str, int]:
        """How many of the location's orders redeemed each coupon (orders placed after the oldest one)."""
        counts = dict.fromkeys((c.id for c in coupons), 0)
        if not coupons:
            return counts
        since = min(c.created_at for c in coupons)
        where = [*self._where(location_id), Condition("created_at", ">=", since)]
        for order in self.store.table(Order).all(where):
            if order.coupon_id in counts:
                counts[order.coupon_id] += 1
        return counts

    def view(self, coupon: Coupon) -> CouponView:
        return self.views(coupon.location_id, [coupon])[0]

    def views(self, location_id: str, coupons: list[Coupon]) -> list[CouponView]:
        now = self.clock.now()
        counts = self.usage_counts(location_id, coupons)
        return [CouponView(c, status_at(c, now), counts[c.id]) for c in coupons]

    def listing(self, location_id: str, limit: int | None, offset: int, status: str | None,
             search: str | None) -> tuple[list[CouponView], int]:
        """Newest first, filtered by status (at the sandbox clock's now) and by name or code."""
        where = self._where(location_id)
        now = self.clock.now()
        if status == "scheduled":
            where.append(Condition("start_at", ">", now))
        elif status == "active":
            where += [Condition("start_at", "<=", now), Condition("end_at", ">=", now)]
        elif status == "expired":
            where.append(Condition("end_at", "<", now))
        if search:
            where.append(Condition("search_text", "INSTR", search.lower()))
        rows, total = self.store.table(Coupon).page(where, limit, offset)
        return self.views(location_id, rows), total

    # ---- writes -------------------------------------------------------------------------------

    def _check(self, location_id: str, data: CouponInput, coupon_id: str | None) -> None:
        if data.end_at is not None and data.end_at <= data.start_at:
            raise InvalidOperation("endDate must be after startDate")
        if data.end_at is not None and data.end_at >= COUPON_NO_END:
            raise InvalidOperation("endDate is too far in the future")
        same = self.by_code(location_id, data.code)
        if same is not None and same.id != coupon_id:
            raise InvalidOperation(f"Coupon code {data.code} already exists")

    def create(self, location_id: str, data: CouponInput, user_id: str = "") -> CouponView:
        with self.store.transaction():
            self._check(location_id, data, None)
            now = self.clock.now()
            coupon = Coupon(id=self.ids.object_id(), location_id=location_id, name=data.name, code=data.code,
                            discount_type=data.discount_type, discount_value=data.discount_value,
                            currency=CURRENCY, start_at=data.start_at, end_at=data.end_at, created_at=now,
                            updated_at=now, usage_limit=data.usage_limit,
                            limit_per_customer=data.limit_per_customer, product_ids=list(data.product_ids),
                            apply_to_future_payments=data.apply_to_future_payments,
                            apply_to_future_payments_config=dict(data.apply_to_future_payments_config),
                            user_id=user_id)
            self.store.table(Coupon).put(coupon)
        return self.view(coupon)

    def update(self, location_id: str, coupon_id: str, data: CouponInput) -> CouponView:
        with self.store.transaction():
            coupon = self.by_id(location_id, coupon_id)
            self._check(location_id, data, coupon.id)
            coupon.name, coupon.code = data.name, data.code
            coupon.discount_type, coupon.discount_value = data.discount_type, data.discount_value
            coupon.start_at, coupon.end_at = data.start_at, data.end_at
            coupon.usage_limit, coupon.limit_per_customer = data.usage_limit, data.limit_per_customer
            coupon.product_ids = list(data.product_ids)
            coupon.apply_to_future_payments = data.apply_to_future_payments
            coupon.apply_to_future_payments_config = dict(data.apply_to_future_payments_config)
            coupon.updated_at = self.clock.now()
            self.store.table(Coupon).put(coupon)
        return self.view(coupon)

    def delete(self, location_id: str, coupon_id: str) -> None:
        with self.store.transaction():
            coupon = self.by_id(location_id, coupon_id)
            self.store.table(Coupon).delete(coupon.id)

    # ---- redeeming ----------------------------------------------------------------------------

    def redeem(self, location_id: str, code: str, contact_id: str, items: list[dict[str, Any]]) -> tuple[Coupon, int]:
        """The coupon a new order of `items` redeems with `code`, and its discount in minor units.
        Refused (422) when the code is unknown, the coupon is scheduled or expired, used up, already used
        by this customer when it is once per customer, or applies to none of the items."""
        coupon = self.by_code(location_id, code)
        if coupon is None:
            raise CouponNotApplicable(f"couponCode {code} is not a coupon of location {location_id}")
        status = status_at(coupon, self.clock.now())
        if status != "active":
            raise CouponNotApplicable(f"couponCode {code} is {status}, not active")
        where = [*self._where(location_id), Condition("created_at", ">=", coupon.created_at)]
        uses = [o for o in self.store.table(Order).all(where) if o.coupon_id == coupon.id]
        if coupon.usage_limit is not None and len(uses) >= coupon.usage_limit:
            raise CouponNotApplicable(f"couponCode {code} reached its usage limit of {coupon.usage_limit}")
        if coupon.limit_per_customer and any(o.contact_id == contact_id for o in uses):
            raise CouponNotApplicable(f"couponCode {code} was already used by contact {contact_id}")
        eligible = [i for i in items if not coupon.product_ids or i["product_id"] in coupon.product_ids]
        if not eligible:
            raise CouponNotApplicable(f"couponCode {code} applies to none of the order's products")
        eligible_minor = money.round_minor(sum((money.scale(i["unit_amount_minor"], i["qty"]) for i in eligible),
                                               start=money.scale(0, 0)))
        return coupon, discount_minor(coupon, eligible_minor)
