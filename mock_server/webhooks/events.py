"""The event log: every state change records its events in the same store transaction.

Subscribers (the webhook outbox) are called inside that transaction too, so an event whose change
committed always has its deliveries queued, and a rolled-back change leaves neither behind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from mock_server.clock import SandboxClock
from mock_server.ghl.models import EXTENSION_EVENTS
from mock_server.ids import IdFactory
from mock_server.store import Store
from mock_server.webhooks.models import Event

Subscriber = Callable[[Event], None]


class EventLog:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self.subscribers: list[Subscriber] = []

    def _next_seq(self) -> int:
        seq = int(self.store.get_meta("event_seq") or 0) + 1
        self.store.set_meta("event_seq", seq)
        return seq

    def record(self, event_type: str, kind: str, record: Any) -> Event:
        with self.store.transaction():
            event = Event(id=self.ids.object_id(), seq=self._next_seq(), type=event_type,
                          location_id=record.location_id, resource_kind=kind, resource_id=record.id,
                          snapshot=dataclasses.asdict(record), created_at=self.clock.now(),
                          extension=event_type in EXTENSION_EVENTS)
            self.store.table(Event).put(event)
            for subscriber in self.subscribers:
                subscriber(event)
        return event
