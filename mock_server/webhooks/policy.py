"""Retry policies. `ghl` is GHL's documented behaviour: only a 429 is retried, up to 6 times, about
10 minutes apart plus jitter; anything else is final. `exponential` also retries 5xx, timeouts and
connection errors on a growing schedule. Intervals run on the sandbox clock and are configurable."""

from __future__ import annotations

import random
from dataclasses import dataclass

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

    def retryable(self, status: int | None, error: str) -> bool:
        if self.name == "ghl":
            return status == 429
        return status == 429 or (status is not None and status >= 500) or (status is None and bool(error))

    def next_delay(self, retry_number: int, rng: random.Random) -> float:
        """Seconds before retry number `retry_number` (1-based)."""
        base = self.interval_s if self.name == "ghl" else self.interval_s * self.factor ** (retry_number - 1)
        return min(base * (1 + self.jitter * rng.random()), MAX_DELAY_S)
