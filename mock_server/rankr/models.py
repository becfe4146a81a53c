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
    provider_id: str | None = None  # provider.unavailable / provider.available: the provider (no order, no items)


# ---- routing: providers and the orders assigned to them (design i12 §3) --------------------------------


@dataclass
class RankrProvider:
    """One provider of an account, as the control plane set it (`PUT /_sandbox/rankr/providers`).

    `service_areas`: `[{"country", "state"?, "postalCodePrefixes"?}]`; `availability`: windows
    `[{"days": ["mon", ...], "from": "08:00", "to": "18:00"}]` in `timezone` (empty: always);
    `available`: the on/off switch provider events flip; `history`: every change of `available`
    `[{"available", "at", "source": "setup" | "event", "eventId"?}]`."""

    id: str  # storage key "<locationId>:<providerId>"
    location_id: str
    provider_id: str
    name: str
    service_areas: list[dict[str, Any]]
    daily_capacity: int
    availability: list[dict[str, Any]]
    timezone: str
    available: bool
    position: int  # its place in the set as last PUT
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RankrAssignment:
    """An order assigned to a provider (`PUT /rankr/v1/assignments/{orderId}`): at most one per order."""

    id: str  # storage key "<locationId>:<orderId>"
    location_id: str
    order_id: str
    provider_id: str
    assigned_at: float  # when it was assigned to this provider (a move sets it anew)
    previous_provider_id: str | None
    seq: int  # when the order was first assigned (list order)


@dataclass
class RankrAssignmentChange:
    """One assignment call that reached Rankr, whatever its outcome: the history the harness judges.

    `action`: assigned (new) | moved | unchanged | deleted | refused (`reason`: provider_full,
    provider_unavailable, not_found)."""

    id: str
    location_id: str
    seq: int
    order_id: str
    action: str
    provider_id: str | None
    previous_provider_id: str | None
    reason: str | None
    at: float
