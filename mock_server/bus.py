"""The live feed behind the dashboard (`runtime.bus`): a small publish/subscribe bus with rolling
metrics. HTTP-free.

Producers: the request journal (every API request), the webhook worker (every delivery attempt), the
control plane (every simulated action), and the store (dropped deliveries, a data version that tells
the page its tables are stale). Consumers: server-sent event streams, each with a bounded queue, so a
slow browser loses events (and is told how many) instead of growing the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from mock_server.clock import iso_instant, iso_ms
from mock_server.store import RowsWritten
from mock_server.webhooks.message import WebhookMessage
from mock_server.webhooks.queries import dropped_since

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

RECENT_EVENTS = 500  # kept for new and reconnecting streams (Last-Event-ID)
QUEUE_SIZE = 1000  # per stream: past this, events for that stream are dropped and counted
REQUEST_WINDOW_S = 300  # request-rate chart: one bucket per second over the last five minutes
DELIVERY_BUCKET_S = 10  # delivery chart: ten-second buckets ...
DELIVERY_WINDOW_S = 600  # ... over the last ten minutes
OUTCOMES = ("delivered", "retry", "failed", "dropped")
DATA_KINDS = frozenset({"orders", "transactions", "subscriptions", "fulfillments", "locations"})
RATE_LIMITED_PREFIX = "/payments"  # not /oauth, not the fake Rankr


def truncate(value: str, keep: int = 16) -> str:
    return value if len(value) <= keep else value[:keep] + "…"


class Subscriber:
    """One stream's bounded queue. `offer` runs on the subscriber's own event loop."""

    def __init__(self, maxsize: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1


class Metrics:
    """GHL API requests per second (with 429s and injected faults, per location) and delivery attempts by
    outcome in ten-second buckets; old buckets are pruned, so memory stays bounded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[int, dict[str, Any]] = {}
        self._deliveries: dict[int, dict[str, int]] = {}

    def request(self, ts: float, location_id: str | None, status: int, fault: bool) -> None:
        second = int(ts)
        limited = status == 429
        with self._lock:
            bucket = self._requests.get(second)
            if bucket is None:
                bucket = self._requests[second] = {"t": second, "total": 0, "limited": 0, "faults": 0,
                                                   "byLocation": {}}
                if len(self._requests) > REQUEST_WINDOW_S + 5:
                    for old in [s for s in self._requests if s <= second - REQUEST_WINDOW_S]:
                        del self._requests[old]
            bucket["total"] += 1
            bucket["limited"] += limited
            bucket["faults"] += fault
            if location_id:
                per = bucket["byLocation"].setdefault(location_id, [0, 0])
                per[0] += 1
                per[1] += limited

    def delivery(self, ts: float, outcome: str, n: int = 1) -> None:
        start = int(ts) // DELIVERY_BUCKET_S * DELIVERY_BUCKET_S
        with self._lock:
            bucket = self._deliveries.get(start)
            if bucket is None:
                bucket = self._deliveries[start] = dict.fromkeys(OUTCOMES, 0)
                for old in [s for s in self._deliveries if s <= start - DELIVERY_WINDOW_S]:
                    del self._deliveries[old]
            bucket[outcome] = bucket.get(outcome, 0) + n

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._deliveries.clear()

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        with self._lock:
            seconds = [{**b, "byLocation": {k: list(v) for k, v in b["byLocation"].items()}}
                       for s, b in sorted(self._requests.items()) if s > now - REQUEST_WINDOW_S]
            buckets = [{"t": s, **b} for s, b in sorted(self._deliveries.items()) if s > now - DELIVERY_WINDOW_S]
        return {"now": round(now, 3),
                "requests": {"windowS": REQUEST_WINDOW_S, "seconds": seconds},
                "deliveries": {"bucketS": DELIVERY_BUCKET_S, "windowS": DELIVERY_WINDOW_S, "outcomes": list(OUTCOMES),
                               "buckets": buckets}}


class EventBus:
    def __init__(self, queue_size: int = QUEUE_SIZE, recent: int = RECENT_EVENTS) -> None:
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._next_id = 1
        self._recent: deque[dict[str, Any]] = deque(maxlen=recent)
        self._subscribers: list[Subscriber] = []
        self.metrics = Metrics()
        self.data_version = 0  # moves on every write to orders, transactions, subscriptions, ...
        self._sandbox: Runtime | None = None
        self._deliveries_dirty = True
        self._dropped_since = 0.0
        self._dropped_seen: OrderedDict[str, None] = OrderedDict()
        self._last_tick = 0.0
        self._data_kinds = DATA_KINDS
        self._prefixes: tuple[tuple[str, str], ...] = ()  # (first path segment, service name)
        # The server sets this (cli.py): open streams end themselves when it shuts down, instead of
        # holding the shutdown until its graceful timeout cancels them.
        self.stopping: Callable[[], bool] = lambda: False
        self._render_request = self._request_view  # bound once: one is kept with every request event

    # ---- producers ------------------------------------------------------------------------------

    def attach(self, sandbox: Runtime) -> None:
        """Listen to the sandbox's journal, webhook worker and store."""
        self._sandbox = sandbox
        services = getattr(sandbox, "services", ())
        # Writes to what a service's API shows (its visible kinds) make the page's tables stale too.
        self._data_kinds = DATA_KINDS.union(*(s.visible_kinds for s in services))
        # A request belongs to the service whose routes start with its first path segment.
        prefixes: dict[str, str] = {}
        for service in services:
            for route in service.routes():
                segment = _first_segment(str(getattr(route, "path", "")))
                if segment:
                    prefixes.setdefault(segment, service.name)
        self._prefixes = tuple(prefixes.items())
        sandbox.journal.listeners.append(self.on_request)
        sandbox.webhooks.listeners.append(self.on_attempt)
        sandbox.store.on_write(self.on_store_write)

    def publish(self, kind: str, data: dict[str, Any] | None, raw: Any = None,
                render: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
        """Thread-safe; each subscriber gets the event on its own loop, or loses it if its queue is full.
        With `raw` and `render` instead of `data`, the event is rendered only when someone reads it
        (the request journal publishes on every API request, mostly with nobody watching)."""
        with self._lock:
            event = {"id": self._next_id, "kind": kind, "data": data}
            if data is None:
                event["raw"], event["render"] = raw, render
            self._next_id += 1
            self._recent.append(event)
            if not self._subscribers:  # the common case: nobody watching
                return event
            subscribers = list(self._subscribers)
        view = rendered(event)
        here = threading.get_ident()
        for sub in subscribers:
            if sub.thread == here:
                sub.offer(view)
            else:
                try:
                    sub.loop.call_soon_threadsafe(sub.offer, view)
                except RuntimeError:  # its loop is closed: that stream is gone
                    self.unsubscribe(sub)
        return view

    def on_request(self, entry: dict[str, Any]) -> None:
        if entry["path"].startswith(RATE_LIMITED_PREFIX):  # the chart sets GHL's API against its rate limit
            self.metrics.request(entry["ts"], entry.get("locationId"), int(entry.get("status") or 0),
                                 bool(entry.get("fault")))
        self.publish("request", None, entry, self._render_request)

    def service_of_path(self, path: str) -> str:
        segment = _first_segment(path)
        return next((name for prefix, name in self._prefixes if prefix == segment), "")

    def _request_view(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {**request_view(entry), "service": self.service_of_path(entry["path"])}

    def on_attempt(self, delivery: Any, attempt: Any, message: WebhookMessage) -> None:
        headers = message.headers
        self.metrics.delivery(attempt.at, attempt.outcome)
        target = self._sandbox.webhooks.target(delivery.target_id) if self._sandbox is not None else None
        self.publish("delivery", {
            "deliveryId": delivery.id, "time": iso_ms(attempt.at), "event": delivery.event_type,
            "service": self._service_name(delivery.service), "targetId": delivery.target_id,
            "url": message.url or (target.url if target else ""), "attempt": attempt.n,
            "status": attempt.status_code, "outcome": attempt.outcome, "error": attempt.error or None,
            "latencyMs": attempt.latency_ms, "webhookId": delivery.webhook_id, "locationId": delivery.location_id,
            "nextAttemptAt": iso_ms(attempt.next_attempt_at) if attempt.next_attempt_at is not None else None,
            "chaos": delivery.chaos or None, "duplicateOf": delivery.duplicate_of or None,
            "signatures": {h: truncate(v) for h, v in headers.items() if "signature" in h.lower() and v},
            "form": form_fields(message),
            "method": message.method,
        })

    def _service_name(self, stored: str) -> str:
        return self._sandbox.service_name(stored) if self._sandbox is not None else stored

    def publish_action(self, view: dict[str, Any], location_id: str) -> None:
        """A simulated action answered (a service's control plane): a summary, not the whole resources,
        made only when someone reads it (a simulated payment is published with nobody watching)."""
        self.publish("action", None, (time.time(), view, location_id), _action_summary)

    def on_store_write(self, kind: str, change: RowsWritten | None = None) -> None:
        if kind == "deliveries":
            self._deliveries_dirty = True
        elif kind in self._data_kinds:
            self.data_version += 1

    def tick(self, min_interval: float = 0.5) -> None:
        """Publish deliveries that delivery chaos dropped (no attempt is ever made for those). Called by
        the streams; does the work at most once per `min_interval` whatever the number of streams."""
        now = time.time()
        if self._sandbox is None or not self._deliveries_dirty or now - self._last_tick < min_interval:
            return
        self._last_tick = now
        self._deliveries_dirty = False
        since = max(self._dropped_since, now - DELIVERY_WINDOW_S)
        rows = dropped_since(self._sandbox.store, since)
        for d in rows:
            if d.id in self._dropped_seen:
                continue
            self._dropped_seen[d.id] = None
            if len(self._dropped_seen) > 5000:
                self._dropped_seen.popitem(last=False)
            self._dropped_since = max(self._dropped_since, d.created_at)
            self.metrics.delivery(d.created_at, "dropped")
            target = self._sandbox.webhooks.target(d.target_id)
            self.publish("delivery", {
                "deliveryId": d.id, "time": iso_ms(d.created_at), "event": d.event_type,
                "service": self._service_name(d.service), "targetId": d.target_id,
                "url": target.url if target else "", "attempt": 0, "status": None, "outcome": "dropped",
                "error": None, "latencyMs": None, "webhookId": d.webhook_id, "locationId": d.location_id,
                "nextAttemptAt": None, "chaos": d.chaos or None, "duplicateOf": d.duplicate_of or None,
                "signatures": {}, "form": None,
            })

    # ---- consumers ------------------------------------------------------------------------------

    def subscribe(self) -> Subscriber:
        """From a coroutine: the subscriber's queue belongs to the running loop."""
        sub = Subscriber(self.queue_size)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subscribers.remove(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    @property
    def last_id(self) -> int:
        with self._lock:
            return self._next_id - 1

    def recent(self, after: int | None = None, limit: int = RECENT_EVENTS) -> tuple[list[dict[str, Any]], int]:
        """Events after id `after` (or the newest `limit`), and how many of those were already forgotten."""
        with self._lock:
            events = list(self._recent)
            newest = self._next_id - 1
        if after is not None:
            kept = [e for e in events if e["id"] > after]
            missed = max(0, newest - after - len(kept))
            chosen = kept[-limit:] if limit else []
            return [rendered(e) for e in chosen], missed + max(0, len(kept) - limit)
        return [rendered(e) for e in (events[-limit:] if limit else [])], 0


def rendered(event: dict[str, Any]) -> dict[str, Any]:
    """`{id, kind, data}`, `data` rendered on first read and kept (two racing readers render it alike)."""
    data = event["data"]
    if data is None and event.get("render") is not None:
        data = event["data"] = event["render"](event["raw"])
    return {"id": event["id"], "kind": event["kind"], "data": data}


def _first_segment(path: str) -> str:
    """`/acuity/api/v1/appointments` -> `/acuity`; "" for a path without one (or a path parameter)."""
    segment = path.split("/", 2)[1] if path.startswith("/") and len(path) > 1 else ""
    return "" if not segment or "{" in segment else "/" + segment


MAX_FORM_FIELDS = 8


def form_fields(message: WebhookMessage) -> dict[str, str] | None:
    """A form-encoded webhook body's fields (Acuity's `action`, `id`, ...), for the timeline; None for others."""
    content_type = next((v for k, v in message.headers.items() if k.lower() == "content-type"), "")
    if "x-www-form-urlencoded" not in content_type.lower():
        return None
    pairs = parse_qsl(message.body[:2048].decode("utf-8", "replace"), keep_blank_values=True)
    return {k: truncate(v, 64) for k, v in pairs[:MAX_FORM_FIELDS]}


def request_view(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "entryId": entry["id"], "time": iso_instant(entry["ts"]), "method": entry["method"], "path": entry["path"],
        "query": entry.get("query") or "", "status": int(entry.get("status") or 0),
        "latencyMs": entry.get("latencyMs"), "locationId": entry.get("locationId"), "tokenId": entry.get("tokenId"),
        "fault": entry.get("fault"), "committedStatus": entry.get("committedStatus"), "traceId": entry.get("traceId"),
    }


def _action_summary(raw: tuple[float, dict[str, Any], str]) -> dict[str, Any]:
    """The live feed's line for a simulated action (`EventBus.publish_action`)."""
    at, view, location_id = raw
    resources = []
    for r in view.get("resources", []):
        data = r.get("data") or {}
        summary = {"type": r.get("type"), "id": r.get("id")}
        for key in ("status", "paymentStatus", "fulfillmentStatus", "amount", "currency"):
            if key in data:
                summary[key] = data[key]
        resources.append(summary)
    webhooks = [{"event": w.get("event"), "resourceId": w.get("resourceId"),
                 "deliveries": len(w.get("deliveries") or [])} for w in view.get("webhooks", [])]
    return {"time": iso_instant(at), "action": view.get("action"), "locationId": location_id,
            "resources": resources, "webhooks": webhooks}
