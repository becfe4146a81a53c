"""The one set of record builders, shared by the seed and the simulator (and the fulfilment write).

Builders draw only ids (from the caller's IdFactory, always in the same order); anything random is
drawn by the caller and passed in, so the seed's and the simulator's random streams stay exactly as
they were. Amounts are integer minor units.
"""

from __future__ import annotations

from typing import Any

from mock_server.ghl import money, providers
from mock_server.ghl.models import (
    Contact,
    EntityType,
    Fulfillment,
    Order,
    Price,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionStatus,
)
from mock_server.ids import IdFactory


def snapshot(contact: Contact) -> dict[str, Any]:
    """The contact as an order keeps it (GHL snapshots the contact when the order is placed)."""
    return {
        "id": contact.id, "location_id": contact.location_id, "first_name": contact.first_name,
        "last_name": contact.last_name, "email": contact.email, "phone": contact.phone,
        "company_name": contact.company_name, "address1": contact.address1, "city": contact.city,
        "state": contact.state, "postal_code": contact.postal_code, "country": contact.country,
        "website": contact.website, "source": contact.source, "date_added": contact.date_added,
        "date_of_birth": contact.date_of_birth, "tags": list(contact.tags), "dnd": False,
    }


def order_item(ids: IdFactory, price: Price, qty: int | float) -> dict[str, Any]:
    return {"id": ids.object_id(), "price_id": price.id, "product_id": price.product_id, "name": price.name,
            "qty": qty, "unit_amount_minor": price.amount_minor}


def subtotal_minor(items: list[dict[str, Any]]) -> int:
    """Sum of qty x unit amount over the items, exact (a quantity may be fractional), rounded once."""
    return money.round_minor(sum((money.scale(i["unit_amount_minor"], i["qty"]) for i in items),
                                 start=money.scale(0, 0)))


def order(ids: IdFactory, *, location_id: str, contact_snapshot: dict[str, Any], currency: str,
          items: list[dict[str, Any]], live_mode: bool, source: dict[str, Any], created_at: float,
          discount_minor: int = 0, tax_minor: int = 0, shipping_minor: int = 0, coupon_code: str = "",
          coupon_id: str = "", created_by: str = "") -> Order:
    """An order of `items` (see `order_item`) placed on `source` (`sources.order_source`: a funnel's step);
    its derived statuses are the defaults until `state.derive`. `created_by`: the user who placed it
    (staff-made orders), "" for orders customers placed."""
    subtotal = subtotal_minor(items)
    return Order(
        id=ids.object_id(), location_id=location_id, contact_id=contact_snapshot["id"], currency=currency,
        items=items, subtotal_minor=subtotal, discount_minor=discount_minor, tax_minor=tax_minor,
        shipping_minor=shipping_minor, amount_minor=subtotal - discount_minor + tax_minor + shipping_minor,
        live_mode=live_mode, source=dict(source, meta=dict(source.get("meta", {}))),
        created_at=created_at, updated_at=created_at, created_by=created_by, coupon_code=coupon_code,
        coupon_id=coupon_id,
        fingerprint=ids.uuid(), contact_snapshot=contact_snapshot,
    )


def transaction(ids: IdFactory, order: Order, *, amount_minor: int, status: TransactionStatus, at: float,
                provider: str, card: dict[str, str], ip_address: str,
                refunded_minor: int = 0, updated_at: float | None = None, entity_type: EntityType = "order",
                entity_id: str | None = None, subscription: Subscription | None = None,
                created_by: str = "") -> Transaction:
    """A charge against `order` (or, with entity_type "subscription", a renewal of `subscription`) through
    `provider`: its charge id, connected account and payment method in that provider's format (a PayPal
    payment has no card). Refunded in full, it is `refunded` whatever `status` says."""
    return Transaction(
        id=ids.object_id(), location_id=order.location_id, contact_id=order.contact_id,
        order_id=entity_id or order.id, entity_type=entity_type, currency=order.currency,
        amount_minor=amount_minor, amount_refunded_minor=refunded_minor,
        status="refunded" if refunded_minor and refunded_minor >= amount_minor else status,
        live_mode=order.live_mode, charge_id=providers.charge_id(ids, provider), provider_type=provider,
        connected_account=providers.connected_account(order.location_id, provider),
        payment_method=providers.payment_method(provider, card, order.contact_snapshot),
        source=dict(order.source), created_at=at, created_by=created_by,
        updated_at=at if updated_at is None else updated_at, fulfilled_at=at,
        subscription_id=subscription.id if subscription else "",
        provider_subscription_id=subscription.provider_subscription_id if subscription else "",
        ip_address=ip_address, receipt_id=ids.object_id(), failure_reason="card_declined" if status == "failed" else "",
        contact_snapshot=dict(order.contact_snapshot),
    )


def subscription(ids: IdFactory, order: Order, price: Price, *, status: SubscriptionStatus, provider: str,
                 at: float, next_billing_at: float | None, ip_address: str = "",
                 payments_collected: int = 0) -> Subscription:
    """A subscription to a recurring `price`, bought with `order` through `provider` (its id in that
    provider's format), its period starting at `at`."""
    recurring = price.recurring or {}
    return Subscription(
        id=ids.object_id(), location_id=order.location_id, contact_id=order.contact_id, order_id=order.id,
        price_id=price.id, product_id=price.product_id, currency=order.currency, amount_minor=price.amount_minor,
        status=status, live_mode=order.live_mode, provider_type=provider,
        provider_subscription_id=providers.subscription_id(ids, provider),
        connected_account=providers.connected_account(order.location_id, provider),
        interval=recurring.get("interval", "month"), interval_count=int(recurring.get("interval_count", 1)),
        source=dict(order.source), created_at=at, updated_at=at, current_period_start=at,
        next_billing_at=next_billing_at, ip_address=ip_address, payments_collected=payments_collected,
        contact_snapshot=dict(order.contact_snapshot),
    )


def fulfillment(ids: IdFactory, order: Order, *, items: list[dict[str, Any]], trackings: list[dict[str, Any]],
                notify_customer: bool, at: float) -> Fulfillment:
    return Fulfillment(id=ids.object_id(), location_id=order.location_id, order_id=order.id, items=items,
                       trackings=trackings, notify_customer=notify_customer, created_at=at, updated_at=at)
