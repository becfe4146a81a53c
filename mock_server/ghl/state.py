"""Derived state: order status, payment status and fulfilment status always follow from the
transactions and fulfillments of the order; nothing sets them by hand. Amounts are integer minor
units, so every comparison here is exact."""

from __future__ import annotations

from collections.abc import Iterable

from mock_server.ghl.models import (
    Fulfillment,
    FulfillmentStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    Transaction,
    TransactionStatus,
)

CAPTURED: tuple[TransactionStatus, ...] = ("succeeded", "refunded")


def paid_and_refunded(transactions: Iterable[Transaction]) -> tuple[int, int]:
    """(captured, refunded) minor units over the captured transactions."""
    captured = refunded = 0
    for t in transactions:
        if t.status in CAPTURED:
            captured += t.amount_minor
            refunded += t.amount_refunded_minor
    return captured, refunded


def payment_status(order: Order, transactions: Iterable[Transaction]) -> PaymentStatus:
    captured, refunded = paid_and_refunded(transactions)
    if captured <= 0:
        return "unpaid"
    if refunded >= captured:
        return "refunded"
    if captured >= order.amount_minor:
        # A partial refund of a paid order keeps it `paid`; the refund shows on the transaction.
        return "paid"
    return "partially_paid"


def fulfilled_quantities(fulfillments: Iterable[Fulfillment]) -> dict[str, float]:
    done: dict[str, float] = {}
    for f in fulfillments:
        for item in f.items:
            done[item["price_id"]] = done.get(item["price_id"], 0) + item["qty"]
    return done


def ordered_quantities(order: Order) -> dict[str, float]:
    wanted: dict[str, float] = {}
    for item in order.items:
        wanted[item["price_id"]] = wanted.get(item["price_id"], 0) + item["qty"]
    return wanted


def fulfillment_status(order: Order, fulfillments: Iterable[Fulfillment]) -> FulfillmentStatus:
    done = fulfilled_quantities(fulfillments)
    wanted = ordered_quantities(order)
    if not any(done.values()):
        return "unfulfilled"
    if all(done.get(pid, 0) >= qty for pid, qty in wanted.items()):
        return "fulfilled"
    return "partially_fulfilled"


def order_status(order: Order, pay_status: PaymentStatus) -> OrderStatus:
    if order.cancelled:
        return "cancelled"
    if pay_status == "refunded":
        return "refunded"
    if pay_status == "paid":
        return "completed"
    return "pending"


def derive(order: Order, transactions: Iterable[Transaction], fulfillments: Iterable[Fulfillment]) -> bool:
    """Recompute the derived fields in place; True when any of them changed."""
    before = (order.status, order.payment_status, order.fulfillment_status)
    order.payment_status = payment_status(order, list(transactions))
    order.fulfillment_status = fulfillment_status(order, fulfillments)
    order.status = order_status(order, order.payment_status)
    return before != (order.status, order.payment_status, order.fulfillment_status)
