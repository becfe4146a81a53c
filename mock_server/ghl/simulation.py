"""Simulated payment activity: actions that change state consistently, each with the events it causes,
in one store transaction. Statuses are never set by hand: they follow from transactions and fulfillments.

Action names are part of the public contract (`POST /_sandbox/simulate/{action}`, `ghl-sandbox trigger`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mock_server.ghl import state
from mock_server.ghl.actions import ACTIONS, PERIOD_DAYS
from mock_server.ghl.errors import InvalidOperation, NotFound
from mock_server.ghl.models import Contact, Fulfillment, Order, Price, Subscription, Transaction
from mock_server.ghl.payments import Payments
from mock_server.ghl.seed import snapshot
from mock_server.store import Condition
from mock_server.webhooks.models import Event

DAY = 86400.0
RENEWABLE = ("active", "trialing")


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
    amount: float | None = None
    items: list[dict[str, Any]] | None = None  # [{"price_id", "qty"}]
    qty: int | None = None  # order.create without items: this quantity of each catalog item picked
    trackings: list[dict[str, Any]] = field(default_factory=list)
    source_type: str | None = None
    source_sub_type: str | None = None
    live_mode: bool = True
    pending_polls: int = 0  # order.pay: stay pending until the order was polled N times ...
    pending_seconds: float | None = None  # ... or T seconds passed on the sandbox clock
    settle_outcome: str = "succeeded"  # ... then succeed or fail
    notify_customer: bool = False


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
        self.extension_events = False
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

    def _prices(self, location_id: str, kind: str) -> list[Price]:
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

    def _balance(self, order: Order) -> float:
        captured, refunded = state.paid_and_refunded(self.payments.transactions_of(order.id))
        return state.money(order.amount - captured)

    def _transaction(self, order: Order, amount: float, status: str, *, entity_type: str = "order",
                     entity_id: str | None = None, subscription: Subscription | None = None) -> Transaction:
        now = self.clock.now()
        provider = subscription.provider_type if subscription else "stripe"
        return Transaction(
            id=self.ids.object_id(), location_id=order.location_id, contact_id=order.contact_id,
            order_id=entity_id or order.id, entity_type=entity_type, currency=order.currency,
            amount=state.money(amount), status=status, live_mode=order.live_mode,
            charge_id=self.ids.provider_ref("ch_"), provider_type=provider,
            connected_account={"_id": self.ids.object_id(), "account_id": self.ids.provider_ref("acct_", 16)},
            payment_method={"card": {"brand": self.rng.choice(("visa", "mastercard", "amex")),
                                     "last4": f"{self.rng.randint(0, 9999):04d}"}},
            source=dict(order.source), created_at=now, updated_at=now, fulfilled_at=now,
            subscription_id=subscription.id if subscription else "",
            provider_subscription_id=subscription.provider_subscription_id if subscription else "",
            ip_address=f"10.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}",
            receipt_id=self.ids.object_id(), failure_reason="card_declined" if status == "failed" else "",
            contact_snapshot=dict(order.contact_snapshot),
        )

    def _new_order(self, args: SimArgs, items: list[tuple[Price, float]], result: ActionResult) -> Order:
        now = self.clock.now()
        snap = self._contact_snapshot(args.location_id, args.contact_id)
        order_items: list[dict[str, Any]] = [{"id": self.ids.object_id(), "price_id": p.id, "product_id": p.product_id, "name": p.name,
                        "qty": qty, "unit_amount": p.amount} for p, qty in items]
        subtotal = state.money(sum(i["qty"] * i["unit_amount"] for i in order_items))
        order = Order(
            id=self.ids.object_id(), location_id=args.location_id, contact_id=snap["id"], currency="USD",
            items=order_items, subtotal=subtotal, discount=0.0, tax=0.0, shipping=0.0, amount=subtotal,
            live_mode=args.live_mode,
            source={"type": args.source_type or "funnel", "sub_type": args.source_sub_type or "one_step_order_form",
                    "id": self.ids.object_id(), "name": "Sandbox Funnel",
                    "meta": {"domain": "shop.example.com", "page_id": self.ids.object_id(), "page_url": "/checkout",
                             "step_id": self.ids.uuid()}},
            created_at=now, updated_at=now, fingerprint=self.ids.uuid(), contact_snapshot=snap,
        )
        state.derive(order, [], [])
        self.store.table(Order).put(order)
        self.payments.events.record("OrderCreate", "orders", order)
        result.resources.append(("orders", order))
        return order

    def _settle_refresh(self, order: Order, result: ActionResult) -> None:
        self.payments.refresh_order(order)
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
        self._new_order(args, chosen, result)

    def order_pay(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        if order.cancelled:
            raise InvalidOperation("Cannot pay a cancelled order")
        # A payment still pending counts against the balance, or settling it would overpay the order.
        in_flight = sum(t.amount for t in self.payments.transactions_of(order.id) if t.status == "pending")
        balance = state.money(self._balance(order) - in_flight)
        amount = balance if args.amount is None else state.money(args.amount)
        if balance <= state.EPSILON:
            raise InvalidOperation("Order is already paid in full" if in_flight <= state.EPSILON
                                   else "The balance due is already covered by a pending payment")
        if amount <= 0 or amount > balance + state.EPSILON:
            raise InvalidOperation(f"amount must be between 0 and the balance due ({balance:.2f})")
        pending = args.pending_polls > 0 or args.pending_seconds is not None
        txn = self._transaction(order, amount, "pending" if pending else "succeeded")
        if pending:
            txn.settle_after_polls = args.pending_polls
            txn.settle_at = None if args.pending_seconds is None else self.clock.now() + args.pending_seconds
            txn.settle_outcome = args.settle_outcome
        self.store.table(Transaction).put(txn)
        result.resources.append(("transactions", txn))
        self._extension("SandboxTransactionCreate", "transactions", txn)
        self._settle_refresh(order, result)

    def order_fail_payment(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        balance = self._balance(order)
        amount = args.amount if args.amount is not None else (balance if balance > 0 else order.amount)
        if amount <= 0:
            raise InvalidOperation("amount must be positive")
        txn = self._transaction(order, amount, "failed")
        self.store.table(Transaction).put(txn)
        result.resources.append(("transactions", txn))
        self._extension("SandboxTransactionCreate", "transactions", txn)
        self._settle_refresh(order, result)

    def order_refund(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        txns = [t for t in self.payments.transactions_of(order.id) if t.status == "succeeded"
                and t.amount - t.amount_refunded > state.EPSILON]
        if args.transaction_id:
            txns = [t for t in txns if t.id == args.transaction_id]
            if not txns:
                raise InvalidOperation(f"Transaction {args.transaction_id} has nothing left to refund")
        refundable = state.money(sum(t.amount - t.amount_refunded for t in txns))
        if refundable <= state.EPSILON:
            raise InvalidOperation("Order has no captured payment to refund")
        amount = refundable if args.amount is None else state.money(args.amount)
        if amount <= 0 or amount > refundable + state.EPSILON:
            raise InvalidOperation(f"amount must be between 0 and the refundable amount ({refundable:.2f})")
        remaining = amount
        now = self.clock.now()
        for txn in sorted(txns, key=lambda t: (t.created_at, t.id), reverse=True):
            if remaining <= state.EPSILON:
                break
            part = min(remaining, state.money(txn.amount - txn.amount_refunded))
            txn.amount_refunded = state.money(txn.amount_refunded + part)
            if txn.amount_refunded >= txn.amount - state.EPSILON:
                txn.status = "refunded"
            txn.updated_at = now
            remaining = state.money(remaining - part)
            self.store.table(Transaction).put(txn)
            result.resources.append(("transactions", txn))
            self._extension("SandboxTransactionUpdate", "transactions", txn)
        self._settle_refresh(order, result)

    def order_fulfill(self, args: SimArgs, result: ActionResult) -> None:
        order = self._order(args)
        if args.items:
            items = [{"price_id": i["price_id"], "qty": i.get("qty", 1)} for i in args.items]
        else:
            done = state.fulfilled_quantities(self.store.table(Fulfillment).all([Condition("order_id", "=", order.id)]))
            items = [{"price_id": pid, "qty": qty - done.get(pid, 0)}
                     for pid, qty in state.ordered_quantities(order).items() if qty - done.get(pid, 0) > 0]
            if not items:
                raise InvalidOperation("Order is already fulfilled")
        fulfillment = self.payments.create_fulfillment(args.location_id, order.id, items, args.trackings,
                                                       args.notify_customer)
        result.resources.append(("fulfillments", fulfillment))
        result.resources.append(("orders", self.payments.order(args.location_id, order.id)))

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
        interval = price.recurring["interval"]
        count = int(price.recurring.get("interval_count", 1))
        sub = Subscription(
            id=self.ids.object_id(), location_id=order.location_id, contact_id=order.contact_id, order_id=order.id,
            price_id=price.id, product_id=price.product_id, currency=order.currency, amount=price.amount,
            status="active", live_mode=order.live_mode, provider_type="stripe",
            provider_subscription_id=self.ids.provider_ref("sub_", 14),
            connected_account={"_id": self.ids.object_id(), "account_id": self.ids.provider_ref("acct_", 16)},
            interval=interval, interval_count=count, source=dict(order.source), created_at=now, updated_at=now,
            current_period_start=now, next_billing_at=now + period_seconds(interval, count),
            payments_collected=1, contact_snapshot=dict(order.contact_snapshot),
        )
        txn = self._transaction(order, price.amount, "succeeded", subscription=sub)
        self.store.table(Subscription).put(sub)
        self.store.table(Transaction).put(txn)
        result.resources += [("subscriptions", sub), ("transactions", txn)]
        self._extension("SandboxSubscriptionCreate", "subscriptions", sub)
        self._extension("SandboxTransactionCreate", "transactions", txn)
        self._settle_refresh(order, result)

    def _renewal(self, sub: Subscription, succeeded: bool, result: ActionResult) -> None:
        order = self.store.table(Order).get(sub.order_id)
        if order is None:
            raise NotFound("Order", sub.order_id)
        txn = self._transaction(order, sub.amount, "succeeded" if succeeded else "failed",
                                entity_type="subscription", entity_id=sub.id, subscription=sub)
        now = self.clock.now()
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
        sub.canceled_by = "sandbox"
        sub.next_billing_at = None
        sub.updated_at = now
        self.store.table(Subscription).put(sub)
        result.resources.append(("subscriptions", sub))
        self._extension("SandboxSubscriptionUpdate", "subscriptions", sub)

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
        return result

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
