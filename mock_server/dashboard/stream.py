"""`GET /_sandbox/stream`: the live feed as server-sent events (text/event-stream).

Events, each `id:`-numbered so a reconnecting EventSource resumes with Last-Event-ID:
`request` (an API request from the journal), `delivery` (a webhook attempt, or a delivery chaos
dropped), `action` (a simulated action). Unnumbered: `hello` first (server facts), `metrics` every
`metrics` seconds (the charts' data, the data version, the clock), `gap` when events were lost (this
stream's queue overflowed, or the backlog no longer holds them), and a `: heartbeat` comment when
nothing else was sent for `heartbeat` seconds.

Query: `backlog` (recent events replayed on a fresh connect, default 200), `heartbeat` (default 10 s),
`metrics` (default 2 s), `since` (an event id, as Last-Event-ID).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mock_server import jsjson
from mock_server.bus import RECENT_EVENTS, EventBus
from mock_server.errors import Invalid
from mock_server.http.context import runtime_of

POLL_S = 0.5
MAX_BATCH = 200  # events written in one chunk


def _number(request: Request, name: str, default: float, lo: float, hi: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:
        # The stream is not in the contract (it never ends, so no generated test can call it): checked here.
        raise Invalid(f"{name} must be a number from {lo:g} to {hi:g}")
    return value


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + jsjson.dumps(data) + b"\n\n"


def metrics_data(sandbox: Any) -> dict[str, Any]:
    bus: EventBus = sandbox.bus
    return {**bus.metrics.snapshot(), "rateLimit": sandbox.ratelimiter.describe(), "clock": sandbox.clock.describe(),
            "dataVersion": bus.data_version, "lastEventId": bus.last_id}


def hello_data(sandbox: Any) -> dict[str, Any]:
    return {"seed": sandbox.seed, "rateLimit": sandbox.ratelimiter.describe(), "clock": sandbox.clock.describe(),
            "lastEventId": sandbox.bus.last_id, "queueSize": sandbox.bus.queue_size}


async def stream(request: Request) -> Response:
    sandbox = runtime_of(request)
    bus: EventBus = sandbox.bus
    heartbeat = _number(request, "heartbeat", 10.0, 0.05, 300.0)
    metrics_every = _number(request, "metrics", 2.0, 0.05, 300.0)
    backlog = int(_number(request, "backlog", 200, 0, RECENT_EVENTS))
    resume = request.headers.get("last-event-id") or request.query_params.get("since")
    after = int(resume) if resume and resume.isdigit() else None

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        last_id = after or 0
        # Subscribe before reading the backlog, so nothing falls between; ids drop the overlap.
        sub = bus.subscribe()
        try:
            replay, missed = bus.recent(after, backlog if after is None else RECENT_EVENTS)
            yield b"retry: 2000\n" + frame("hello", hello_data(sandbox))
            if missed:
                yield frame("gap", {"dropped": missed, "reason": "backlog"})
            chunk = b"".join(frame(e["kind"], e["data"], e["id"]) for e in replay)
            if replay:
                last_id = replay[-1]["id"]
            yield chunk + frame("metrics", metrics_data(sandbox))
            last_sent = last_metrics = loop.time()
            while not bus.stopping():
                bus.tick()
                parts: list[bytes] = []
                try:
                    first = await asyncio.wait_for(sub.queue.get(), timeout=POLL_S)
                except asyncio.TimeoutError:
                    first = None
                batch = [first] if first is not None else []
                while len(batch) < MAX_BATCH and not sub.queue.empty():
                    batch.append(sub.queue.get_nowait())
                if sub.dropped:
                    parts.append(frame("gap", {"dropped": sub.dropped, "reason": "slow client"}))
                    sub.dropped = 0
                for e in batch:
                    if e["id"] > last_id:
                        parts.append(frame(e["kind"], e["data"], e["id"]))
                        last_id = e["id"]
                now = loop.time()
                if now - last_metrics >= metrics_every:
                    parts.append(frame("metrics", metrics_data(sandbox)))
                    last_metrics = now
                if not parts and now - last_sent >= heartbeat:
                    parts.append(b": heartbeat\n\n")
                if parts:
                    yield b"".join(parts)
                    last_sent = now
        finally:
            bus.unsubscribe(sub)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"})
