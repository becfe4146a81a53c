"""Rankr's records (kept as plain dataclasses, stored as JSON by `mock_server.store`).

Every record carries `location_id`: a Rankr account is a sandbox location, and all its data is
namespaced (and reset) with that location. Times are epoch seconds on the sandbox clock. `seq` is a
sandbox-wide counter giving insertion order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Account:
    """Derived from the sandbox seed and the location id, never stored."""

    location_id: str
    api_key: str
    webhook_secret: str


@dataclass
class RankrRecord:
    """An upserted order, transaction, subscription, payment or customer."""

    id: str  # storage key "<locationId>:<collection>:<recordId>"
    location_id: str
    collection: str  # orders | transactions | subscriptions | payments | customers
    record_id: str  # the id in the path (= the body's orderId / transactionId / ... / customerId)
    body: dict[str, Any]  # the contract fields, as last written
    created_at: float  # first stored
    stored_at: float  # last time the body changed
    version: int  # 1 on create, +1 on each write that changed the body
    seq: int


@dataclass
class RankrPost:
    """A posted event or alert."""

    id: str
    location_id: str
    collection: str  # events | alerts
    body: dict[str, Any]
    received_at: float
    seq: int
    idempotency_key: str | None = None
    fingerprint: str | None = None  # hash of the request (collection + canonical JSON body)


@dataclass
class RankrWrite:
    """One PUT or POST an account made (any outcome): the harness counts writes per record."""

    id: str
    location_id: str
    seq: int
    method: str
    path: str
    collection: str
    key: str | None  # PUT: the record id in the path; POST: the Idempotency-Key (or None)
    record_id: str | None  # the record or post written (or answered again), None when refused
    status: int
    outcome: str  # created | updated | unchanged | replayed | conflict | invalid | malformed
    at: float


@dataclass
class RankrSend:
    """One Rankr event the sandbox sent to a client (`POST /_sandbox/rankr/events`)."""

    id: str
    location_id: str
    seq: int
    event_id: str
    event_type: str
    order_id: str
    url: str
    at: float
    items: list[Any] = field(default_factory=list)
    status: int | None = None  # the client's HTTP status, None when no answer came
    error: str | None = None
    latency_ms: float = 0.0
    forge: str | None = None
