"""GHL rate limits: a burst window and a daily quota per (app, location); a private integration token
counts as its own app. Real time, not the sandbox clock: moving the clock must not refill a bucket."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    burst: int
    interval_ms: int
    daily: int
    enforced: bool = True

    @functools.cached_property
    def fixed_headers(self) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes], tuple[bytes, bytes]]:
        """The headers that do not change from request to request (made once per profile)."""
        return ((b"x-ratelimit-limit-daily", b"%d" % self.daily),
                (b"x-ratelimit-interval-milliseconds", b"%d" % self.interval_ms),
                (b"x-ratelimit-max", b"%d" % self.burst))


PROFILES: dict[str, Profile] = {
    "default": Profile("default", 100, 10_000, 200_000),
    "sandbox-account": Profile("sandbox-account", 25, 10_000, 10_000),
    # Headers are still sent (with the default numbers) so clients that read them keep working.
    "off": Profile("off", 100, 10_000, 200_000, enforced=False),
}


class _Bucket:
    __slots__ = ("window_start", "window_count", "day", "day_count")

    def __init__(self) -> None:
        self.window_start = 0.0
        self.window_count = 0
        self.day = -1
        self.day_count = 0


class RateLimiter:
    def __init__(self, profile: str = "default") -> None:
        self.profile = PROFILES[profile]
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def set_profile(self, name: str) -> None:
        self.profile = PROFILES[name]
        self._buckets.clear()

    def reset(self) -> None:
        self._buckets.clear()

    def consume(self, app_id: str, location_id: str) -> tuple[bool, list[tuple[bytes, bytes]]]:
        """Count one request. Returns (allowed, raw response headers)."""
        p = self.profile
        now = time.time()
        key = (app_id, location_id)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket()
        interval = p.interval_ms / 1000.0
        if now - b.window_start >= interval:
            b.window_start = now
            b.window_count = 0
        day = int(now // 86400)
        if day != b.day:
            b.day = day
            b.day_count = 0
        allowed = not p.enforced or (b.window_count < p.burst and b.day_count < p.daily)
        if allowed:
            b.window_count += 1
            b.day_count += 1
        daily_remaining = max(0, p.daily - b.day_count)
        burst_remaining = max(0, p.burst - b.window_count)
        limit_daily_header, interval_header, burst_header = p.fixed_headers
        headers = [
            limit_daily_header,
            (b"x-ratelimit-daily-remaining", b"%d" % daily_remaining),
            interval_header,
            burst_header,
            (b"x-ratelimit-remaining", b"%d" % burst_remaining),
            (b"x-ratelimit-daily-reset", b"%d" % int(((day + 1) * 86400 - now) * 1000)),
        ]
        return allowed, headers

    def describe(self) -> dict[str, object]:
        p = self.profile
        return {"profile": p.name, "burst": p.burst, "intervalMs": p.interval_ms, "daily": p.daily,
                "enforced": p.enforced}
