"""Manual payments recorded on an order (`POST /payments/orders/{orderId}/record-payment`, the simulate
action `order.record_payment`) and the order notes they leave (`GET /payments/orders/{orderId}/notes`).

HTTP-free: the handler and the simulator both call `record`, inside the simulator's store transaction,
so the transaction, the note, the order's derived statuses and the `OrderStatusUpdate` event are one change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mock_server.ghl import factories, money, state, users
from mock_server.ghl.errors import InvalidOperation
from mock_server.ghl.models import Order, OrderNote, Transaction
from mock_server.store import Condition, Store

if TYPE_CHECKING:
    from mock_server.ghl.simulation import ActionResult, Simulator

ManualMode = Literal["cash", "card", "cheque", "bank_transfer", "other"]
MODES: tuple[ManualMode, ...] = ("cash", "card", "cheque", "bank_transfer", "other")
CARD_TYPES = ("visa", "mastercard", "other")
PROVIDER = "manual"  # the paymentProviderType of a recorded payment


@dataclass
class ManualPayment:
    """A validated manual payment; `amount` in major units as received (None: the balance due)."""

    mode: ManualMode
    amount: float | None = None
    is_partial: bool = False
    notes: str = ""
    card: dict[str, str] | None = None  # {"type", "last4"} when mode is card
    cheque_number: str = ""  # when mode is cheque
    meta: dict[str, Any] = field(default_factory=dict)
    recorded_by: str = ""  # the user who recorded it (default: the location's owner)

    def payment_method(self) -> dict[str, Any]:
        method: dict[str, Any] = {"type": self.mode}
        if self.card is not None:
            method["card"] = {"brand": self.card["type"], "last4": self.card["last4"]}
        if self.cheque_number:
            method["cheque"] = {"number": self.cheque_number}
        return method


def _shown(minor: int, order: Order) -> str:
    return f"{money.to_major(minor, order.currency):.2f} {order.currency}"


def record(sim: Simulator, order: Order, payment: ManualPayment, result: ActionResult) -> Transaction:
    """Record `payment` on `order` as a succeeded transaction; refuse what GHL refuses (InvalidOperation)."""
    payments = sim.payments
    if order.cancelled:
        raise InvalidOperation("Cannot record a payment on a cancelled order")
    if order.payment_status == "refunded":
        raise InvalidOperation("Cannot record a payment on a refunded order")
    transactions = payments.transactions_of(order.id)
    captured, _ = state.paid_and_refunded(transactions)
    in_flight = sum(t.amount_minor for t in transactions if t.status == "pending")
    balance = order.amount_minor - captured - in_flight
    if balance <= 0:
        raise InvalidOperation("Order is already paid in full" if in_flight <= 0
                               else "The balance due is already covered by a pending payment")
    if payment.amount is None:
        if payment.is_partial:
            raise InvalidOperation("amount is required for a partial payment")
        amount = balance
    else:
        amount = money.to_minor(payment.amount, order.currency)
    if amount <= 0:
        raise InvalidOperation("amount must be greater than 0")
    if amount > balance:
        raise InvalidOperation(f"Amount {_shown(amount, order)} exceeds the balance due ({_shown(balance, order)})")
    if amount < balance and not payment.is_partial:
        raise InvalidOperation(f"Amount {_shown(amount, order)} is less than the balance due "
                               f"({_shown(balance, order)}); set isPartialPayment to record a partial payment")
    now = sim.clock.now()
    txn = factories.transaction(sim.ids, order, amount_minor=amount, status="succeeded", at=now, provider=PROVIDER,
                                card={}, ip_address="",
                                created_by=payment.recorded_by or users.owner(order.location_id))
    txn.payment_method = payment.payment_method()
    payments.store.table(Transaction).put(txn)
    result.resources.append(("transactions", txn))
    if payment.notes:
        note = OrderNote(id=sim.ids.object_id(), location_id=order.location_id, order_id=order.id, kind="payment",
                         text=payment.notes, created_at=now, updated_at=now, transaction_id=txn.id,
                         meta=dict(payment.meta))
        payments.store.table(OrderNote).put(note)
    sim._extension("SandboxTransactionCreate", "transactions", txn)
    sim._settle_refresh(order, result)
    sim._payment_signals(txn, order)
    return txn


def notes_of(store: Store, order_id: str) -> list[OrderNote]:
    """The order's notes, oldest first."""
    rows = store.table(OrderNote).all([Condition("order_id", "=", order_id)])
    return sorted(rows, key=lambda n: (n.created_at, n.id))
