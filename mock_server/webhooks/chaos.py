"""Delivery chaos, seeded: drop, duplicate, delay and reorder deliveries, per target or globally.

Every random choice is drawn at fan-out time, in event order, from one seeded stream, so the same
`--seed` and the same sequence of changes give the same chaos and the same delivery order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from mock_server.errors import Invalid

FIELDS = ("drop", "duplicate", "duplicateCount", "delayMs", "reorderWindow", "reorderHoldMs")


@dataclass
class Chaos:
    drop: float = 0.0  # probability a delivery is never sent
    duplicate: float = 0.0  # probability a delivery is sent more than once
    duplicate_count: int = 1  # extra copies when it is
    delay_ms: int = 0  # hold every delivery this long before its first attempt
    reorder_window: int = 0  # release deliveries in seeded-shuffled groups of this size ...
    reorder_hold_ms: int = 2000  # ... or once the oldest waited this long, if a group stays incomplete

    @property
    def active(self) -> bool:
        return bool(self.drop or self.duplicate or self.delay_ms or self.reorder_window > 1)

    @classmethod
    def parse(cls, data: Any) -> Chaos:
        """From the JSON the control plane accepts; Invalid names the bad field."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise Invalid("chaos must be an object")
        unknown = set(data) - set(FIELDS)
        if unknown:
            raise Invalid(f"unknown chaos field(s): {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}")

        def prob(name: str) -> float:
            v = data.get(name, 0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise Invalid(f"{name} must be a probability between 0 and 1")
            return float(v)

        def count(name: str, default: int, lo: int, hi: int) -> int:
            v = data.get(name, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not lo <= v <= hi:
                raise Invalid(f"{name} must be an integer from {lo} to {hi}")
            return int(v)

        return cls(drop=prob("drop"), duplicate=prob("duplicate"),
                   duplicate_count=count("duplicateCount", 1, 1, 20), delay_ms=count("delayMs", 0, 0, 3_600_000),
                   reorder_window=count("reorderWindow", 0, 0, 1000),
                   reorder_hold_ms=count("reorderHoldMs", 2000, 0, 3_600_000))

    def to_json(self) -> dict[str, Any]:
        return {"drop": self.drop, "duplicate": self.duplicate, "duplicateCount": self.duplicate_count,
                "delayMs": self.delay_ms, "reorderWindow": self.reorder_window, "reorderHoldMs": self.reorder_hold_ms}


@dataclass
class Decision:
    dropped: bool
    copies: int  # total deliveries to make (1 + duplicates)
    delay_s: float
    batch: int
    rank: float


def decide(chaos: Chaos, rng: random.Random, position: int) -> Decision:
    """What chaos does to the `position`-th delivery to one target. Draws are made even when a knob
    is off, so turning one knob on does not shift the others' choices."""
    drop_roll, dup_roll, rank = rng.random(), rng.random(), rng.random()
    window = chaos.reorder_window if chaos.reorder_window > 1 else 0
    return Decision(
        dropped=drop_roll < chaos.drop,
        copies=1 + (chaos.duplicate_count if dup_roll < chaos.duplicate else 0),
        delay_s=chaos.delay_ms / 1000.0,
        batch=position // window if window else position,
        rank=rank if window else 0.0,
    )
