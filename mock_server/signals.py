"""Signals: what one service tells the others happened, inside the change's own store transaction.

A service publishes a `Signal` (its name, e.g. `payment.received`, the location, and the records the change
touched as plain dicts) while its store transaction is open; subscribers run right there, so whatever they
record (events, deliveries, runs) commits with the change or rolls back with it. Names no service: the
publisher and the subscribers agree on signal names, never on each other's modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Signal:
    source: str  # the publishing service, e.g. "ghl"
    name: str  # what happened, e.g. "payment.received"
    location_id: str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> the record as a plain dict


Subscriber = Callable[[Signal], None]


class Signals:
    """One world's signal bus: built anew with every world, so a reset drops the old world's subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def publish(self, signal: Signal) -> None:
        """Call every subscriber now, in subscription order (call it inside the change's transaction:
        an exception rolls the change back with whatever the subscribers wrote)."""
        for fn in list(self._subscribers):
            fn(signal)

    @property
    def subscribed(self) -> bool:
        return bool(self._subscribers)
