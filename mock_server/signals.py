"""In-process domain signals: a service announces what happened to its records ("a payment was
received"), and other parts of the sandbox (the workflows service) react to it.

A signal is published INSIDE the store transaction of the change that caused it, so whatever a
subscriber records (runs, webhook events) commits or rolls back with the change. Shared: names no
service; `source` and `name` are the publishing service's vocabulary, `records` hold snapshots of
its records as plain dicts (`dataclasses.asdict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Signal:
    source: str  # the publishing service, e.g. "ghl"
    name: str  # what happened, e.g. "payment.received"
    location_id: str
    records: dict[str, dict[str, Any]]  # role -> record snapshot, e.g. {"transaction": {...}, "order": {...}}


Subscriber = Callable[[Signal], None]


class Signals:
    """Synchronous fan-out: `publish` calls every subscriber in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def publish(self, signal: Signal) -> None:
        for fn in list(self._subscribers):
            fn(signal)
