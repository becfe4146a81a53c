"""The transactional outbox's records: events, webhook targets, deliveries and their attempts.
Shared by every service; an event's payload is rendered by the service that owns its resource."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class Event:
    """A domain event, written in the same store transaction as the change that caused it."""

    id: str
    seq: int
    type: str
    location_id: str
    resource_kind: str  # the table of the record, e.g. orders
    resource_id: str
    # The record as it was right after the change, read with `data()`. A stored event holds it decoded;
    # one just recorded, as the JSON its record is written as: the event is stored with it as it is, and
    # nothing in the request that recorded it reads it (webhooks render from stored events).
    snapshot: dict[str, Any] | orjson.Fragment
    created_at: float
    extension: bool = False
    service: str = ""  # the service whose resource changed ("": the runtime's first service)
    target_id: str = ""  # set: the event is addressed to this one target only (e.g. one workflow action)

    def data(self) -> dict[str, Any]:
        """The snapshot as a value."""
        if isinstance(self.snapshot, orjson.Fragment):
            decoded: dict[str, Any] = orjson.loads(orjson.dumps(self.snapshot))
            return decoded
        return self.snapshot


@dataclass(slots=True)
class WebhookTarget:
    id: str
    url: str
    events: list[str] | None  # None: every event this sandbox sends
    created_at: float
    location_id: str | None = None  # None: every location
    chaos: dict[str, Any] = field(default_factory=dict)
    active: bool = True
    fanout_count: int = 0  # deliveries made to it so far (positions for seeded reorder batches)
    service: str = ""  # it receives this service's events only ("": the runtime's first service)
    options: dict[str, Any] = field(default_factory=dict)  # what its service renders messages with


@dataclass(slots=True)
class Delivery:
    """One event to one target; duplicates share the webhookId of the original."""

    id: str
    seq: int
    event_id: str
    target_id: str
    webhook_id: str
    event_type: str
    location_id: str
    created_at: float  # real time
    status: str = "queued"  # queued | in_flight | delivered | failed | dropped
    attempts: int = 0
    next_attempt_at: float = 0.0  # sandbox clock
    not_before: float = 0.0  # real time (delay / reorder hold)
    batch: int = 0
    rank: float = 0.0
    last_status: int | None = None
    last_error: str = ""
    duplicate_of: str = ""
    chaos: str = ""  # what delivery chaos did to it, for the record
    service: str = ""  # the service of its event ("": the runtime's first service)


@dataclass(slots=True)
class Attempt:
    id: str
    delivery_id: str
    n: int
    at: float  # real time
    status_code: int | None
    latency_ms: float
    error: str
    outcome: str  # delivered | retry | failed
    next_attempt_at: float | None = None
