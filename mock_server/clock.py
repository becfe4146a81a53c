"""The sandbox clock: real time by default, can be frozen or moved forward.

Resource timestamps follow this clock; rate-limit windows and request latencies use real time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import lru_cache


def iso_instant(ts: float) -> str:
    """Epoch seconds -> ISO-8601 with milliseconds and `Z`, as GHL writes timestamps; for an instant
    written once (the time of a request, a delivery, an action), which `iso_ms` would only churn."""
    # isoformat truncates to milliseconds as `microsecond // 1000` does, and is written in C (strftime is
    # not): the same text for every timestamp from 1970 on, with `+00:00` swapped for `Z`.
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


# Resource timestamps repeat on every read; formatting them is hot.
iso_ms = lru_cache(maxsize=1 << 16)(iso_instant)


def parse_iso(text: str) -> float:
    """ISO-8601 date or date-time (with or without `Z`) -> epoch seconds. Raises ValueError."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


class SandboxClock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._lock = threading.Lock()
        # Called after every change (the runtime keeps the clock with a `--state` file).
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def to_state(self) -> dict[str, float | None]:
        """What a restart needs to go on with the same sandbox time (offset from real time, or frozen instant)."""
        return {"offset": self._offset, "frozenAt": self._frozen_at}

    def load_state(self, data: object) -> None:
        if not isinstance(data, dict):
            return
        offset, frozen = data.get("offset"), data.get("frozenAt")
        with self._lock:
            self._offset = float(offset) if isinstance(offset, (int, float)) else 0.0
            self._frozen_at = float(frozen) if isinstance(frozen, (int, float)) else None

    def now(self) -> float:
        frozen = self._frozen_at
        if frozen is not None:
            return frozen
        return time.time() + self._offset

    def now_iso(self) -> str:
        return iso_ms(self.now())

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def freeze(self, at: float | None = None) -> None:
        with self._lock:
            self._frozen_at = self.now() if at is None else at
        self._changed()

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None
        self._changed()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
        self._changed()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None
        self._changed()

    def describe(self) -> dict[str, object]:
        frozen = self._frozen_at
        # How far the sandbox is from real time; while frozen, advances move the frozen instant instead.
        offset = self._offset if frozen is None else frozen - time.time()
        return {"now": iso_ms(self.now()), "frozen": frozen is not None, "offsetSeconds": round(offset, 3) or 0.0}
