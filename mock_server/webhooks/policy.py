"""Retry policies. `ghl` is GHL's documented behaviour: only a 429 is retried, up to 6 times, about
10 minutes apart plus jitter; anything else is final. `exponential` also retries 5xx, timeouts and
connection errors on a growing schedule. Intervals run on the sandbox clock and are configurable."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

POLICIES = ("ghl", "exponential")
# At most 100 years between attempts: an exponential schedule (up to 86,400 s × 10^99) otherwise put the
# next attempt past year 9999, which no timestamp can show (GET /_sandbox/webhooks/deliveries answered 500).
MAX_DELAY_S = 100 * 365.25 * 86400


@dataclass
class RetryPolicy:
    name: str = "ghl"
    interval_s: float = 600.0  # first retry interval (ghl: every retry)
    max_retries: int = 6
    factor: float = 2.0  # exponential growth per retry
    jitter: float = 0.1  # up to this fraction of the interval is added at random

    def to_state(self) -> dict[str, Any]:
        return {"name": self.name, "intervalS": self.interval_s, "maxRetries": self.max_retries,
                "factor": self.factor, "jitter": self.jitter}

    def load_state(self, data: Any) -> None:
        """Values saved by `to_state`; one of the wrong type keeps its current value."""
        if not isinstance(data, dict):
            return
        if data.get("name") in POLICIES:
            self.name = data["name"]
        for key, attr, kind in (("intervalS", "interval_s", float), ("maxRetries", "max_retries", int),
                                ("factor", "factor", float), ("jitter", "jitter", float)):
            value = data.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(self, attr, kind(value))

    def retryable(self, status: int | None, error: str) -> bool:
        if self.name == "ghl":
            return status == 429
        return status == 429 or (status is not None and status >= 500) or (status is None and bool(error))

    def next_delay(self, retry_number: int, rng: random.Random) -> float:
        """Seconds before retry number `retry_number` (1-based)."""
        base = self.interval_s if self.name == "ghl" else self.interval_s * self.factor ** (retry_number - 1)
        return min(base * (1 + self.jitter * rng.random()), MAX_DELAY_S)
