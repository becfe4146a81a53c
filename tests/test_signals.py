"""Signals hand their records to subscribers as plain-dict snapshots, made when first read (most signals
are heard by nobody: a location without workflows), and each made once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mock_server.signals import Signal, Signals, Snapshots


@dataclass
class Txn:
    id: str
    amount_minor: int
    meta: dict[str, Any] = field(default_factory=dict)


def test_a_record_is_copied_when_first_read_and_only_then() -> None:
    unreadable = Txn("t2", 1, {"x": object()})  # orjson cannot write it: copying it would raise
    txn = Txn("t1", 500, {"k": "v"})
    snaps = Snapshots({"transaction": txn, "extra": unreadable, "refund": {"full": True}})
    assert sorted(snaps) == ["extra", "refund", "transaction"] and len(snaps) == 3
    first = snaps["transaction"]
    assert first == {"id": "t1", "amount_minor": 500, "meta": {"k": "v"}}
    txn.amount_minor = 1  # changed after the read: the snapshot stays what was read
    assert snaps["transaction"] is first and first["amount_minor"] == 500
    assert snaps["refund"] == {"full": True} and snaps.get("missing") is None
    with pytest.raises(TypeError):
        snaps["extra"]


def test_subscribers_read_what_the_publisher_handed_in() -> None:
    heard: list[dict[str, Any]] = []
    bus = Signals()
    bus.subscribe(lambda s: heard.append(dict(s.records["transaction"])))
    bus.subscribe(lambda s: None)  # a subscriber that reads nothing
    bus.publish(Signal("ghl", "payment.received", "loc", Snapshots({"transaction": Txn("t1", 5)})))
    assert heard == [{"id": "t1", "amount_minor": 5, "meta": {}}]
