"""The request journal: every API request, bounded so a long load test cannot exhaust memory.

Entries never hold a token secret, only the token's public id.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from typing import Any

from mock_server.clock import iso_instant, parse_iso
from mock_server.errors import Invalid


class Journal:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._next_id = 1
        self._dropped = 0
        self._lock = threading.Lock()
        self.listeners: list[Any] = []

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            entry["id"] = self._next_id
            self._next_id += 1
            if len(self._entries) == self.capacity:
                self._dropped += 1
            self._entries.append(entry)
        for listener in self.listeners:
            listener(entry)
        return entry

    def clear(self) -> int:
        with self._lock:
            n = len(self._entries)
            self._entries.clear()
            return n

    def query(self, method: str | None = None, path: str | None = None, since: str | None = None,
              limit: int | None = None, location_id: str | None = None) -> dict[str, Any]:
        since_id: int | None = None
        since_ts: float | None = None
        if since:
            if since.isascii() and since.isdigit():  # str.isdigit alone takes `²`, which int() refuses
                digits = since.lstrip("0") or "0"
                # An id too long for int() (4,300 digits) is past every entry: nothing, not a 500.
                since_id = int(digits) if len(digits) <= 4000 else sys.maxsize
            else:
                try:
                    since_ts = parse_iso(since)
                except ValueError:
                    raise Invalid("since must be an entry id or an ISO 8601 time") from None
        with self._lock:
            entries = list(self._entries)
            dropped = self._dropped
        out = []
        for e in entries:
            if method and e["method"] != method.upper():
                continue
            if path and not e["path"].startswith(path):
                continue
            if since_id is not None and e["id"] <= since_id:
                continue
            if since_ts is not None and e["ts"] < since_ts:
                continue
            if location_id and e.get("locationId") != location_id:
                continue
            out.append(e)
        if limit is not None:
            out = out[-limit:] if limit else []
        return {"entries": [public(e) for e in out], "total": len(out), "capacity": self.capacity,
                "dropped": dropped}


def public(entry: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in entry.items() if k != "ts"}
    view["time"] = iso_instant(entry["ts"])
    return view
