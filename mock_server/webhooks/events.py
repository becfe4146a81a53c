"""The event log: every state change records its events in the same store transaction.

Subscribers (the webhook outbox) are called inside that transaction too, so an event whose change
committed always has its deliveries queued, and a rolled-back change leaves neither behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson

from mock_server.clock import SandboxClock
from mock_server.ids import IdFactory
from mock_server.store import Store
from mock_server.webhooks.models import Event
from mock_server.webhooks.tables import EVENTS

Subscriber = Callable[[Event], None]
EVENT_KINDS = (EVENTS.kind,)


def _written(record: Any) -> orjson.Fragment:
    """The record as the event's snapshot: its JSON, as the store writes records (decoding it into a
    dict, to be written again with the event, was a tenth of a simulated payment's time)."""
    return orjson.Fragment(orjson.dumps(record))


class EventLog:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory, outbox: Subscriber | None = None,
                 extension_types: frozenset[str] = frozenset(), services: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self._outbox = outbox
        self._extension_types = extension_types  # sandbox-only event types (not sent by the real service)
        self._services = dict(services or {})  # event type -> the service that sends it (others: "")
        self._collectors: list[list[Event]] = []
        # The newest event's seq, while the events table holds what it held when this log last read or
        # wrote it (`Store.written`): a rollback, a reset, an import or a restore reads it again.
        self._last_seq: tuple[tuple[int, ...], int] | None = None

    def _next_seq(self) -> int:
        """One more than the newest event's: derived from the events table, so it needs no write of its
        own. A state file from before kept it in meta `event_seq`, which still counts when higher."""
        kept = self._last_seq
        if kept is not None and kept[0] == self.store.written(EVENT_KINDS):
            return kept[1] + 1
        return max(self.store.table(Event).max("seq") or 0, int(self.store.get_meta("event_seq") or 0)) + 1

    def record(self, event_type: str, kind: str, record: Any, *, service: str | None = None,
               target_id: str = "") -> Event:
        """Record one event of `record` (a dataclass with `id` and `location_id`). `service` overrides the
        service its type maps to; `target_id` addresses it to that one webhook target only."""
        with self.store.transaction():
            event = Event(id=self.ids.object_id(), seq=self._next_seq(), type=event_type,
                          location_id=record.location_id, resource_kind=kind, resource_id=str(record.id),
                          snapshot=_written(record), created_at=self.clock.now(),
                          extension=event_type in self._extension_types,
                          service=self._services.get(event_type, "") if service is None else service,
                          target_id=target_id)
            self.store.table(Event).put(event)
            self._last_seq = (self.store.written(EVENT_KINDS), event.seq)
            if self._outbox is not None:
                self._outbox(event)
            for collected in self._collectors:
                collected.append(event)
        return event

    @contextmanager
    def collect(self) -> Iterator[list[Event]]:
        """The events recorded inside the block, in order (an action reports what it caused)."""
        collected: list[Event] = []
        self._collectors.append(collected)
        try:
            yield collected
        finally:
            self._collectors.remove(collected)
