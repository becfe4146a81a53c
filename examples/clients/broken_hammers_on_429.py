"""BROKEN on purpose: ignores GHL's rate limits. It never reads the `X-RateLimit-*` headers, and
retries a 429 (or a 5xx) at once, without waiting the advertised interval or backing off."""

from __future__ import annotations

import httpx
from reference_client import RateLimiter, ReferenceClient, main


class NoLimits(RateLimiter):
    def acquire(self, deadline: float | None = None) -> None:
        pass

    def release(self, response: httpx.Response | None) -> None:
        pass

    def wait_unblocked(self, deadline: float | None) -> None:
        pass


class HammersOn429(ReferenceClient):
    def make_limiter(self) -> RateLimiter:
        return NoLimits()  # the bug: no rate limiting ...

    def backoff(self, attempt: int) -> float:
        return 0.0  # ... and no backoff: retries immediately


if __name__ == "__main__":
    main(HammersOn429)
