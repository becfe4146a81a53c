"""In-process domain signals: a service announces what happened to its records ("a payment was
received"), and other parts of the sandbox (the workflows service) react to it.

A signal is published INSIDE the store transaction of the change that caused it, so whatever a
subscriber records (runs, webhook events) commits or rolls back with the change. Shared: names no
service; `source` and `name` are the publishing service's vocabulary, `records` hold snapshots of
its records as plain dicts (`dataclasses.asdict`). A publisher may hand the records themselves in
`Snapshots`: each is then copied when a subscriber first reads it (during `publish`, so the copy is of
the same moment), and not at all when nobody does (most locations have no workflow).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Signal:
    source: str  # the publishing service, e.g. "ghl"
    name: str  # what happened, e.g. "payment.received"
    location_id: str
    records: Mapping[str, dict[str, Any]]  # role -> record snapshot, e.g. {"transaction": {...}, "order": {...}}


class Snapshots(Mapping[str, dict[str, Any]]):
    """Role -> a plain-dict snapshot of a record (a dataclass or a dict), made on first read."""

    __slots__ = ("_records", "_made")

    def __init__(self, records: Mapping[str, Any]) -> None:
        self._records = records
        self._made: dict[str, dict[str, Any]] = {}

    def __getitem__(self, role: str) -> dict[str, Any]:
        made = self._made.get(role)
        if made is None:
            made = self._made[role] = snapshot(self._records[role])
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)


def snapshot(record: Any) -> dict[str, Any]:
    """A plain-dict copy: orjson's round trip is `dataclasses.asdict` for stored records (they are stored
    as orjson writes them), 15x faster."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        copied: dict[str, Any] = orjson.loads(orjson.dumps(record))
        return copied
    return dict(record)


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
