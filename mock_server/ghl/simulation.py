"""Simulated payment activity: actions that change state consistently, each with the events it causes,
in one store transaction. Statuses are never set by hand: they follow from transactions and fulfillments.

Action names are part of the public contract (`POST /_sandbox/simulate/{action}`, `ghl-sandbox trigger`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mock_server.ghl import factories, manual_payments, money, sources, state, users
from mock_server.ghl.actions import ACTIONS, PERIOD_DAYS
from mock_server.ghl.coupons import Coupons
from mock_server.ghl.errors import InvalidOperation, NotFound
from mock_server.ghl.factories import snapshot
from mock_server.ghl.manual_payments import ManualPayment
from mock_server.ghl.models import (
    Contact,
    EntityType,
    Fulfillment,
    Order,
    Price,
    PriceType,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionStatus,
)
from mock_server.ghl.payments import Payments
from mock_server.signals import Signal, Signals, Snapshots
from mock_server.store import Condition
from mock_server.webhooks.models import Event

DAY = 86400.0
RENEWABLE: tuple[SubscriptionStatus, ...] = ("active", "trialing")


def period_seconds(interval: str, count: int = 1) -> float:
    return PERIOD_DAYS.get(interval, 30) * DAY * max(1, count)


@dataclass
class SimArgs:
    """Arguments of an action; which ones matter depends on the action."""

    location_id: str
    order_id: str | None = None
    subscription_id: str | None = None
    transaction_id: str | None = None
    contact_id: str | None = None
    price_id: str | None = None
    amount: float | None = None  # major units as received; `_amount` makes it the order's minor units
    items: list[dict[str, Any]] | None = None  # [{"price_id", "qty"}]
    qty: int | None = None  # order.create without items: this quantity of each catalog item picked
    trackings: list[dict[str, Any]] = field(default_factory=list)
    source_type: str | None = None
    source_sub_type: str | None = None
    source_id: str | None = None  # order.create: the funnel (store ...) of the location it is placed in
    live_mode: bool = True
    pending_polls: int = 0  # order.pay: stay pending until the order was polled N times ...
    pending_seconds: float | None = None  # ... or T seconds passed on the sandbox clock
    settle_outcome: str = "succeeded"  # ... then "succeeded" or "failed" (the control plane checked which)
    notify_customer: bool = False
    # order.create: the address typed on the order form, snapshot keys (address1, city, state, postal_code,
    # country); it replaces the contact's address in the order's contactSnapshot.
    address: dict[str, str] | None = None
    # order.record_payment: the manual payment (mode, card, cheque, notes, meta, isPartialPayment).
    payment: ManualPayment | None = None
    coupon_code: str | None = None  # order.create: a coupon of the location the order redeems


@dataclass
class ActionResult:
    action: str
    resources: list[tuple[str, Any]] = field(default_factory=list)  # (kind, record)
    events: list[Event] = field(default_factory=list)


class Simulator:
    def __init__(self, payments: Payments, seed: int) -> None:
        self.payments = payments
        self.store = payments.store
        self.clock = payments.clock
        self.ids = payments.ids
        self.rng = random.Random(f"simulate-{seed}")
        self.coupons = Coupons(self.store, self.clock, self.ids)
        self.extension_events = False
        # What the other services hear of payment activity (mock_server.signals), inside each change's
        # transaction; the world hands its own bus in.
        self.signals = Signals()
        # order.fail_payment -> self.order_fail_payment, and so on for every action of the one list.
        self.actions: dict[str, Callable[[SimArgs, ActionResult], None]] = {
            name: getattr(self, name.replace(".", "_")) for name in ACTIONS}

    # ---- running ------------------------------------------------------------------------------

    def run(self, action: str, args: SimArgs) -> ActionResult:
        if action not in self.actions:
            raise InvalidOperation(f"Unknown action {action!r}; known: {', '.join(self.actions)}")
        result = ActionResult(action)
        with self._capture(result), self.store.transaction():
            self.actions[action](args, result)
        return result

    @contextmanager
    def _capture(self, result: ActionResult) -> Iterator[None]:
        with self.payments.events.collect() as events:
            result.events = events
            yield

    # ---- signals (published inside the change's transaction) ------------------------------------------

    def _signal(self, name: str, location_id: str, **records: Any) -> None:
        """Publish `name` with the given records (dataclasses or dicts; None ones left out)."""
        self.signals.publish(Signal("ghl", name, location_id,
                                    Snapshots({role: r for role, r in records.items() if r is not None})))

    def _payment_signals(self, txn: Transaction, order: Order, subscription: Subscription | None = None,
                         transactions: Sequence[Transaction] | None = None) -> None:
        """`payment.received` for a payment that succeeded or failed; `order.submitted` the first time one
        of the order's own payments succeeds. Call after the order was refreshed (with the order's
        transactions as of now, when the caller holds them)."""
        if txn.status not in ("succeeded", "failed"):
            return
        if subscription is None and txn.subscription_id:
            subscription = self.store.table(Subscription).get(txn.subscription_id)
        self._signal("payment.received", order.location_id, transaction=txn, order=order,
                     contact=order.contact_snapshot or None, subscription=subscription)
        if txn.status == "succeeded" and txn.entity_type == "order":
            if transactions is None:
                transactions = self.payments.transactions_of(order.id)
            paid = [t.id for t in transactions if t.status in ("succeeded", "refunded")]
            if paid == [txn.id]:
                self._signal("order.submitted", order.location_id, order=order, transaction=txn)

    def _extension(self, event_type: str, kind: str, record: Any) -> None:
        if self.extension_events:
            self.payments.events.record(event_type, kind, record)

    # ---- helpers ------------------------------------------------------------------------------

    def _order(self, args: SimArgs) -> Order:
        if not args.order_id:
            raise InvalidOperation("orderId is required for this action")
        return self.payments.order(args.location_id, args.order_id)

    def _subscription(self, args: SimArgs) -> Subscription:
        if not args.subscription_id:
            raise InvalidOperation("subscriptionId is required for this action")
        return self.payments.subscription(args.location_id, args.subscription_id)

    def _prices(self, location_id: str, kind: PriceType) -> list[Price]:
        prices = [p for p in self.store.table(Price).all([Condition("location_id", "=", location_id)]) if p.type == kind]
        if not prices:
            raise InvalidOperation(f"Location {location_id} has no {kind} prices")
        return prices

    def _price(self, location_id: str, price_id: str) -> Price:
        price = self.store.table(Price).get(price_id)
        if price is None or price.location_id != location_id:
            raise NotFound("Price", price_id)
        return price

    def _contact_snapshot(self, location_id: str, contact_id: str | None) -> dict[str, Any]:
        if contact_id:
            contact = self.store.table(Contact).get(contact_id)
            if contact is None or contact.location_id != location_id:
                raise NotFound("Contact", contact_id)
        else:
            # A seeded pick by position, read as one row (not the whole contact list): the same draw
            # `rng.choice` would make over the contacts in creation order.
            where = [Condition("location_id", "=", location_id)]
            _, total = self.store.table(Contact).page(where, 1, 0)
            if not total:
                raise InvalidOperation(f"Location {location_id} has no contacts")
            index = self.rng.randrange(total)
            contact = self.store.table(Contact).page(where, 1, total - 1 - index)[0][0]
        return snapshot(contact)

    def _balance(self, order: Order, txns: list[Transaction] | None = None) -> int:
        """What is still due: the order's amount less what its payments (`txns`, else read) captured."""
        captured, _ = state.paid_and_refunded(self.payments.transactions_of(order.id) if txns is None else txns)
        return order.amount_minor - captured

    def _transaction(self, order: Order, amount: int, status: TransactionStatus, *,
                     entity_type: EntityType = "order", entity_id: str | None = None,
                     subscription: Subscription | None = None) -> Transaction:
        # Random draws in the order they were always made: card brand, last4, IP address.
        card = {"brand": self.rng.choice(("visa", "mastercard", "amex")), "last4": f"{self.rng.randint(0, 9999):04d}"}
        ip_address = f"10.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
        return factories.transaction(
            self.ids, order, amount_minor=amount, status=status, at=self.clock.now(),
            provider=subscription.provider_type if subscription else "stripe", card=card,
            ip_address=ip_address, entity_type=entity_type, entity_id=entity_id, subscription=subscription,
        )

    def _amount(self, args: SimArgs, order: Order) -> int | None:
        """The request's amount (major units) in the order's minor units."""
        return None if args.amount is None else money.to_minor(args.amount, order.currency)

    def _new_order(self, args: SimArgs, items: list[tuple[Price, float]], result: ActionResult) -> Order:
        now = self.clock.now()
        snap = self._contact_snapshot(args.location_id, args.contact_id)
        if args.address is not None:
            snap.update(args.address)
        order_items = [factories.order_item(self.ids, p, qty) for p, qty in items]
        coupon_id, coupon_code, discount = "", "", 0
        if args.coupon_code:
            coupon, discount = self.coupons.redeem(args.location_id, args.coupon_code, snap["id"], order_items)
            coupon_id, coupon_code = coupon.id, coupon.code
        order = factories.order(
            self.ids, location_id=args.location_id, contact_snapshot=snap, currency="USD", items=order_items,
            live_mode=args.live_mode, source=self._source(args, now), created_at=now, discount_minor=discount,
            coupon_code=coupon_code, coupon_id=coupon_id,
        )
        state.derive(order, [], [])
        self.store.table(Order).put(order)
        self.payments.events.record("OrderCreate", "orders", order)
        result.resources.append(("orders", order))
        return order

    def _source(self, args: SimArgs, now: float) -> dict[str, Any]:
        """The funnel (store ...) and step a new order is placed on: `sourceId` names one of the location's
        (its step of `sourceSubType`, given one if it has none, else its first step); otherwise the location's first source of `sourceType`
        (default funnel) with a `sourceSubType` (default one_step_order_form) step."""
        if args.source_id:
            funnel = sources.by_id(self.store, args.location_id, args.source_id)
            if funnel is None:
                raise NotFound("Source", args.source_id)
            if args.source_type and args.source_type != funnel.type:
                raise InvalidOperation(f"Source {funnel.id} is a {funnel.type}, not a {args.source_type}")
            if args.source_sub_type:  # placed on that page of the funnel (added if it has none yet)
                funnel = sources.with_step(self.store, self.ids, funnel, args.source_sub_type, now)
            return sources.order_source(funnel, args.source_sub_type or funnel.steps[0]["sub_type"])
        sub_type = args.source_sub_type or "one_step_order_form"
        funnel = sources.for_order(self.store, self.ids, args.location_id, args.source_type or "funnel", sub_type, now)
        return sources.order_source(funnel, sub_type)

    def _settle_refresh(self, order: Order, result: ActionResult,
                        transactions: Sequence[Transaction] | None = None) -> None:
        self.payments.refresh_order(order, transactions)
        result.resources.append(("orders", order))

    # ---- order actions ------------------------------------------------------------------------

    def order_create(self, args: SimArgs, result: ActionResult) -> None:
        if args.items:
            chosen = [(self._price(args.location_id, i["price_id"]), float(i.get("qty", 1))) for i in args.items]
            for price, qty in chosen:
                if qty <= 0:
                    raise InvalidOperation(f"qty for priceId {price.id} must be positive")
        else:
            prices = self._prices(args.location_id, "one_time")
            picked = self.rng.sample(prices, k=min(2, len(prices)))
            chosen = [(p, float(args.qty if args.qty else self.rng.choice((1, 1, 2)))) for p in picked]
        chosen = [(p, int(q) if q == int(q) else q) for p, q in chosen]
        order = self._new_order(args, chosen, result)
        self._signal("order.form_submitted", order.location_id, order=order)

    def order_pay(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        if order.cancelled:
            raise InvalidOperation("Cannot pay a cancelled order")
        # A payment still pending counts against the balance, or settling it would overpay the order.
        txns = self.payments.transactions_of(order.id)
        in_flight = sum(t.amount_minor for t in txns if t.status == "pending")
        balance = self._balance(order, txns) - in_flight
        requested = self._amount(args, order)
        amount = balance if requested is None else requested
        if balance <= 0:
            raise InvalidOperation("Order is already paid in full" if in_flight <= 0
                                   else "The balance due is already covered by a pending payment")
        if amount <= 0 or amount > balance:
            raise InvalidOperation(f"amount must be between 0 and the balance due ({_shown(balance, order)})")
        pending = args.pending_polls > 0 or args.pending_seconds is not None
        txn = self._transaction(order, amount, "pending" if pending else "succeeded")
        if pending:
            txn.settle_after_polls = args.pending_polls
            txn.settle_at = None if args.pending_seconds is None else self.clock.now() + args.pending_seconds
            txn.settle_outcome = "failed" if args.settle_outcome == "failed" else "succeeded"
        self.store.table(Transaction).put(txn)
        result.resources.append(("transactions", txn))
        self._extension("SandboxTransactionCreate", "transactions", txn)
        now = [*txns, txn]  # the order's transactions, as read above with the one just written
        self._settle_refresh(order, result, now)
        self._payment_signals(txn, order, transactions=now)

    def order_record_payment(self, args: SimArgs, result: ActionResult) -> None:
        """A manual payment (cash, card, cheque, bank transfer, other) recorded on the order."""
        manual_payments.record(self, self._order(args), args.payment or ManualPayment(
            mode="cash", amount=args.amount, is_partial=args.amount is not None), result)

    def order_fail_payment(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        balance = self._balance(order)
        requested = self._amount(args, order)
        amount = requested if requested is not None else (balance if balance > 0 else order.amount_minor)
        if amount <= 0:
            raise InvalidOperation("amount must be positive")
        txn = self._transaction(order, amount, "failed")
        self.store.table(Transaction).put(txn)
        result.resources.append(("transactions", txn))
        self._extension("SandboxTransactionCreate", "transactions", txn)
        self._settle_refresh(order, result)
        self._payment_signals(txn, order)

    def order_refund(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        txns = [t for t in self.payments.transactions_of(order.id) if t.status == "succeeded"
                and t.amount_minor > t.amount_refunded_minor]
        if args.transaction_id:
            txns = [t for t in txns if t.id == args.transaction_id]
            if not txns:
                raise InvalidOperation(f"Transaction {args.transaction_id} has nothing left to refund")
        refundable = sum(t.amount_minor - t.amount_refunded_minor for t in txns)
        if refundable <= 0:
            raise InvalidOperation("Order has no captured payment to refund")
        requested = self._amount(args, order)
        amount = refundable if requested is None else requested
        if amount <= 0 or amount > refundable:
            raise InvalidOperation(f"amount must be between 0 and the refundable amount ({_shown(refundable, order)})")
        remaining = amount
        now = self.clock.now()
        refunded: list[Transaction] = []
        for txn in sorted(txns, key=lambda t: (t.created_at, t.id), reverse=True):
            if remaining <= 0:
                break
            part = min(remaining, txn.amount_minor - txn.amount_refunded_minor)
            txn.amount_refunded_minor += part
            if txn.amount_refunded_minor >= txn.amount_minor:
                txn.status = "refunded"
            txn.updated_at = now
            remaining -= part
            self.store.table(Transaction).put(txn)
            refunded.append(txn)
            result.resources.append(("transactions", txn))
            self._extension("SandboxTransactionUpdate", "transactions", txn)
        self._settle_refresh(order, result)
        # One refund attempt issued inside GHL: `refund` says how much of what (minor units).
        self._signal("refund.issued", order.location_id, transaction=refunded[0], order=order, refund={
            "amount_minor": amount, "currency": order.currency,
            "full": amount == refundable,  # it took everything still refundable
            "transaction_ids": [t.id for t in refunded], "status": "succeeded", "created_at": now})

    def order_fulfill(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        before = None
        if args.items:
            items = [{"price_id": i["price_id"], "qty": i.get("qty", 1)} for i in args.items]
        else:
            before = self.store.table(Fulfillment).all([Condition("order_id", "=", order.id)])
            done = state.fulfilled_quantities(before)
            items = [{"price_id": pid, "qty": qty - done.get(pid, 0)}
                     for pid, qty in state.ordered_quantities(order).items() if qty - done.get(pid, 0) > 0]
            if not items:
                raise InvalidOperation("Order is already fulfilled")
        fulfillment = self.payments.fulfill(order, items, args.trackings, args.notify_customer, before)
        result.resources.append(("fulfillments", fulfillment))
        result.resources.append(("orders", order))  # refreshed and stored by `fulfill`

    def order_cancel(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        if order.cancelled:
            raise InvalidOperation("Order is already cancelled")
        order.cancelled = True
        self._settle_refresh(order, result)

    # ---- subscription actions -----------------------------------------------------------------

    def subscription_create(self, args: SimArgs, result: ActionResult) -> None:
        price = (self._price(args.location_id, args.price_id) if args.price_id
                 else self.rng.choice(self._prices(args.location_id, "recurring")))
        if price.type != "recurring" or not price.recurring:
            raise InvalidOperation(f"Price {price.id} is not a recurring price")
        order = self._new_order(args, [(price, 1)], result)
        now = self.clock.now()
        sub = factories.subscription(
            self.ids, order, price, status="active", provider="stripe", at=now,
            next_billing_at=now + period_seconds(price.recurring["interval"],
                                                 int(price.recurring.get("interval_count", 1))),
            payments_collected=1,
        )
        txn = self._transaction(order, price.amount_minor, "succeeded", subscription=sub)
        self.store.table(Subscription).put(sub)
        self.store.table(Transaction).put(txn)
        result.resources += [("subscriptions", sub), ("transactions", txn)]
        self._extension("SandboxSubscriptionCreate", "subscriptions", sub)
        self._extension("SandboxTransactionCreate", "transactions", txn)
        self._settle_refresh(order, result)
        self._signal("subscription.changed", order.location_id, subscription=sub, change={"kind": "created"})
        self._payment_signals(txn, order, sub)

    def _renewal(self, sub: Subscription, succeeded: bool, result: ActionResult) -> None:
        order = self.store.table(Order).get(sub.order_id)
        if order is None:
            raise NotFound("Order", sub.order_id)
        txn = self._transaction(order, sub.amount_minor, "succeeded" if succeeded else "failed",
                                entity_type="subscription", entity_id=sub.id, subscription=sub)
        now = self.clock.now()
        before = sub.status
        if succeeded:
            start = sub.next_billing_at if sub.next_billing_at is not None else now
            sub.current_period_start = start
            sub.next_billing_at = start + period_seconds(sub.interval, sub.interval_count)
            if sub.next_billing_at <= now:  # catching up after a long pause: bill from now on
                sub.next_billing_at = now + period_seconds(sub.interval, sub.interval_count)
            sub.status = "active"
            sub.payments_collected += 1
        else:
            sub.status = "past_due" if sub.status in RENEWABLE else "unpaid"
        sub.updated_at = now
        self.store.table(Transaction).put(txn)
        self.store.table(Subscription).put(sub)
        result.resources += [("transactions", txn), ("subscriptions", sub)]
        self._extension("SandboxTransactionCreate", "transactions", txn)
        self._extension("SandboxSubscriptionUpdate", "subscriptions", sub)
        if sub.status != before:
            self._signal("subscription.changed", sub.location_id, subscription=sub,
                         change={"kind": "status", "from": before})
        self._payment_signals(txn, order, sub)

    def subscription_renew(self, args: SimArgs, result: ActionResult) -> None:
        sub = self._subscription(args)
        if sub.status in ("canceled", "incomplete"):
            raise InvalidOperation(f"Cannot renew a subscription that is {sub.status}")
        self._renewal(sub, True, result)

    def subscription_fail_renewal(self, args: SimArgs, result: ActionResult) -> None:
        sub = self._subscription(args)
        if sub.status in ("canceled", "incomplete"):
            raise InvalidOperation(f"Cannot renew a subscription that is {sub.status}")
        self._renewal(sub, False, result)

    def subscription_cancel(self, args: SimArgs, result: ActionResult) -> None:
        sub = self._subscription(args)
        if sub.status == "canceled":
            raise InvalidOperation("Subscription is already canceled")
        now = self.clock.now()
        sub.status = "canceled"
        sub.canceled_at = now
        sub.canceled_by = users.owner(sub.location_id)  # cancelled by the location's owner (a user id)
        sub.next_billing_at = None
        sub.updated_at = now
        self.store.table(Subscription).put(sub)
        result.resources.append(("subscriptions", sub))
        self._extension("SandboxSubscriptionUpdate", "subscriptions", sub)
        self._signal("subscription.changed", sub.location_id, subscription=sub, change={"kind": "cancelled"})

    # ---- time-driven transitions ----------------------------------------------------------------

    def tick(self, since: float) -> list[ActionResult]:
        """Fire what the sandbox clock has reached: renewals due after `since`, pending payments whose
        settle time passed. Seeded history (billing dates before `since`) is left as it is."""
        now = self.clock.now()
        results: list[ActionResult] = []
        due = self.store.table(Subscription).all([Condition("next_billing_at", "<=", now),
                                               Condition("next_billing_at", ">", since)], order="next_billing_at")
        for sub in due:
            for _ in range(400):  # one renewal per elapsed period, bounded
                if sub.status not in RENEWABLE or sub.next_billing_at is None or sub.next_billing_at > now:
                    break
                result = ActionResult("subscription.renew")
                with self._capture(result), self.store.transaction():
                    start = sub.next_billing_at
                    self._renewal(sub, True, result)
                    # renew period by period on the clock rather than jumping to now
                    sub.current_period_start = start
                    sub.next_billing_at = start + period_seconds(sub.interval, sub.interval_count)
                    self.store.table(Subscription).put(sub)
                results.append(result)
        for txn in self.store.table(Transaction).all([Condition("settle_at", "<=", now)]):
            results.append(self.settle(txn))
        return results

    def settle(self, txn: Transaction) -> ActionResult:
        result = ActionResult("payment.settle")
        with self._capture(result), self.store.transaction():
            txn.status = txn.settle_outcome if txn.settle_outcome in ("succeeded", "failed") else "succeeded"
            txn.failure_reason = "card_declined" if txn.status == "failed" else ""
            txn.settle_at = None
            txn.settle_after_polls = 0
            txn.updated_at = self.clock.now()
            self.store.table(Transaction).put(txn)
            result.resources.append(("transactions", txn))
            self._extension("SandboxTransactionUpdate", "transactions", txn)
            order = self.store.table(Order).get(txn.order_id)
            if order is not None:
                self._settle_refresh(order, result)
                self._payment_signals(txn, order)
        return result

    def has_pending_payment(self, order_id: str) -> bool:
        """Whether a payment of the order is still pending (only then can a poll of it change anything)."""
        return self.store.table(Transaction).exists([Condition("entity_id", "=", order_id),
                                                     Condition("status", "=", "pending")])

    def observe_order(self, order: Order) -> tuple[Order, bool]:
        """A client polled the order: pending payments waiting for N polls count down and may settle.
        Returns the order as it is now and whether a payment still waits for more polls."""
        settled = False
        waiting = False
        pending = self.store.table(Transaction).all([Condition("entity_id", "=", order.id),
                                                  Condition("status", "=", "pending")], order="")
        for txn in pending:
            if txn.settle_after_polls > 0:
                txn.settle_after_polls -= 1
                if txn.settle_after_polls == 0:
                    self.settle(txn)
                    settled = True
                else:
                    self.store.table(Transaction).put(txn)
                    waiting = True
        return (self.payments.order(order.location_id, order.id) if settled else order), waiting


def _shown(minor: int, order: Order) -> str:
    """An amount in an error message, as it always read: major units with two decimals."""
    return f"{money.to_major(minor, order.currency):.2f}"
