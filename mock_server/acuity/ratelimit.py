"""Acuity's documented limit: 10 requests per second and 20 concurrent connections per client IP
(fact sheet §1.5), answered 429 with Acuity's body. Optionally every Nth refused request is answered
the way Acuity's edge sometimes does: 403 with an HTML page. Real time, not the sandbox clock."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

EDGE_403_EVERY = 3  # with edge403 on, every 3rd refusal is the HTML 403
EDGE_403_HTML = ("<html>\n<head><title>403 Forbidden</title></head>\n<body>\n<center><h1>403 Forbidden</h1></center>\n"
                 "</body>\n</html>\n")
WINDOW_S = 1.0


@dataclass
class RateLimitConfig:
    enabled: bool = True
    per_second: int = 10
    concurrent: int = 20
    edge403: bool = False

    def view(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "perSecond": self.per_second, "concurrent": self.concurrent,
                "edge403": self.edge403}


@dataclass
class _Client:
    recent: deque[float] = field(default_factory=deque)
    active: int = 0
    refused: int = 0


class AcuityRateLimiter:
    def __init__(self) -> None:
        self.config = RateLimitConfig()
        self._clients: dict[str, _Client] = {}

    def configure(self, config: RateLimitConfig) -> None:
        self.config = config
        self._clients.clear()

    def acquire(self, ip: str) -> str | None:
        """Count one request from `ip`. None: go on (call `release` when done); "429" or "403": refuse."""
        c = self._clients.get(ip)
        if c is None:
            c = self._clients[ip] = _Client()
        if not self.config.enabled:
            c.active += 1
            return None
        now = time.monotonic()
        while c.recent and now - c.recent[0] >= WINDOW_S:
            c.recent.popleft()
        if len(c.recent) >= self.config.per_second or c.active >= self.config.concurrent:
            c.refused += 1
            return "403" if self.config.edge403 and c.refused % EDGE_403_EVERY == 0 else "429"
        c.recent.append(now)
        c.active += 1
        return None

    def release(self, ip: str) -> None:
        c = self._clients.get(ip)
        if c is not None and c.active > 0:
            c.active -= 1
