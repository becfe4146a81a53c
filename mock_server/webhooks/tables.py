"""The outbox's tables (shared by every service)."""

from __future__ import annotations

from typing import Any

from mock_server.store import TableSpec, by_created, by_location, column
from mock_server.webhooks.models import Attempt, Delivery, Event, WebhookTarget

EVENTS = TableSpec("events", Event, (column("location_id", "TEXT", by_location), column("created_at", "REAL", by_created),
                                     column("seq", "INTEGER", lambda r: r.seq)), ("seq",), location_scoped=True)
# Targets are configuration: they survive a reset (Runtime.reset starts their fan-out counts over).
TARGETS = TableSpec("webhook_targets", WebhookTarget, (column("created_at", "REAL", by_created),), survives_reset=True,
                    read_mostly=True)
DELIVERIES = TableSpec(
    "deliveries", Delivery,
    (column("status", "TEXT", lambda r: r.status), column("target_id", "TEXT", lambda r: r.target_id),
     column("seq", "INTEGER", lambda r: r.seq), column("created_at", "REAL", by_created),
     column("location_id", "TEXT", by_location), column("webhook_id", "TEXT", lambda r: r.webhook_id),
     column("event_id", "TEXT", lambda r: r.event_id)),
    ("status, seq", "target_id, seq", "webhook_id", "event_id"), location_scoped=True)
ATTEMPTS = TableSpec("attempts", Attempt, (column("delivery_id", "TEXT", lambda r: r.delivery_id),
                                           column("created_at", "REAL", lambda r: r.at)), ("delivery_id",))

TABLES: tuple[TableSpec[Any], ...] = (EVENTS, TARGETS, DELIVERIES, ATTEMPTS)
