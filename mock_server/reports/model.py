"""The facts reports are computed from, and what a report is. Plain typed values read from the services
(`sources.py`), so that every computation (`compute.py`) is a pure function of them.

Money is integer minor units here (`*_minor`, with its currency); a report's rows carry decimal major
units (`money.major`). Times are epoch seconds on the sandbox clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PaymentStatus = Literal["succeeded", "failed", "pending"]
ColumnType = Literal["text", "id", "num", "money", "rate", "date", "time", "seconds"]


@dataclass(frozen=True)
class Window:
    """[start, end) on the sandbox clock; None: open on that side. `first_day`/`last_day` are the dates
    the request named (ISO `YYYY-MM-DD`), or None."""

    start: float | None = None
    end: float | None = None
    first_day: str | None = None
    last_day: str | None = None

    def contains(self, at: float | None) -> bool:
        if at is None:
            return False
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


@dataclass(frozen=True)
class Payment:
    """One payment attempt of a source: a GHL transaction, an Acuity appointment payment, a paid Acuity order."""

    source: str  # ghl | acuity
    kind: str  # order | subscription | appointment | store-order
    id: str
    at: float
    currency: str
    amount_minor: int
    status: PaymentStatus
    refunded_minor: int = 0


@dataclass(frozen=True)
class Refund:
    """Money given back on a payment, when it was given back."""

    source: str
    kind: str
    payment_id: str
    at: float
    currency: str
    amount_minor: int


@dataclass(frozen=True)
class Subscription:
    id: str
    currency: str
    amount_minor: int
    interval: str  # day | week | month | year
    interval_count: int
    created_at: float
    canceled_at: float | None
    status: str


@dataclass(frozen=True)
class SourceRecord:
    """A record a destination record must copy: its collection and key there, and the fields compared
    (as the source's API shows them; money fields in minor units, named in `money`)."""

    collection: str  # orders | transactions | subscriptions | payments
    key: str  # orders...: the id; payments: "<source>|<sourceKind>|<sourceId>"
    created_at: float
    currency: str
    fields: dict[str, Any]
    money: frozenset[str] = frozenset()
    label: str = ""


@dataclass(frozen=True)
class DestinationRecord:
    collection: str
    record_id: str
    body: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class DestinationWrite:
    """One accepted write of a destination record (created, updated or unchanged)."""

    collection: str
    record_id: str
    at: float


@dataclass(frozen=True)
class Copy:
    """Destination records of `collection` whose body has every one of these field values copy a source record."""

    collection: str
    fields: tuple[tuple[str, str], ...]

    def matches(self, record: DestinationRecord) -> bool:
        return record.collection == self.collection and all(
            str(record.body.get(name, "")) == value for name, value in self.fields)


@dataclass(frozen=True)
class SourceEvent:
    """A source event (a webhook event as recorded) and the destination records that copy what it changed."""

    id: str
    type: str
    service: str
    resource_kind: str
    resource_id: str
    at: float
    copies: tuple[Copy, ...]


@dataclass(frozen=True)
class TargetFact:
    id: str
    url: str
    service: str
    exists: bool = True


@dataclass(frozen=True)
class DeliveryFact:
    id: str
    target_id: str
    event_type: str
    event_at: float  # the event's time on the sandbox clock
    status: str  # queued | in_flight | delivered | failed | dropped
    attempts: int
    latencies_ms: tuple[float, ...] = ()
    duplicate: bool = False


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    daily_capacity: int
    available: bool = True
    timezone: str = "UTC"


@dataclass(frozen=True)
class Assignment:
    order_id: str
    provider_id: str
    assigned_at: float
    day: str  # the provider-timezone day it counts against (YYYY-MM-DD)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    type: ColumnType = "text"  # money: the row's `currency`; rate: a fraction 0..1 (or null)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "type": self.type}


@dataclass
class Report:
    name: str
    title: str
    location_id: str
    window: Window
    generated_at: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"report": self.name, "title": self.title, "locationId": self.location_id,
                "from": self.window.first_day, "to": self.window.last_day, "generatedAt": self.generated_at,
                "columns": [c.to_json() for c in self.columns], "count": len(self.rows), "rows": self.rows,
                "summary": self.summary, "notes": self.notes}
