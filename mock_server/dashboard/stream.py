"""`GET /_sandbox/stream`: the live feed as server-sent events (text/event-stream).

Events, each `id:`-numbered so a reconnecting EventSource resumes with Last-Event-ID:
`request` (an API request from the journal), `delivery` (a webhook attempt, or a delivery chaos
dropped), `action` (a simulated action). Unnumbered: `hello` first (server facts), `metrics` every
`metrics` seconds (the charts' data, the data version, the clock), `gap` when events were lost (this
stream's queue overflowed, or the backlog no longer holds them), and a `: heartbeat` comment when
nothing else was sent for `heartbeat` seconds.

Query (checked against contracts/sandbox-control.openapi.yaml, `sandbox-stream`): `backlog` (recent
events replayed on a fresh connect, default 200), `heartbeat` (default 10 s), `metrics` (default 2 s),
`since` (an event id, as Last-Event-ID), `duration` (end after this many seconds; default never).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mock_server import jsjson
from mock_server.bus import RECENT_EVENTS, EventBus
from mock_server.control.validation import validated_query, validated_value
from mock_server.http.context import runtime_of

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

POLL_S = 0.5
MAX_BATCH = 200  # events written in one chunk


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + jsjson.dumps(data) + b"\n\n"


def metrics_data(sandbox: Runtime) -> dict[str, Any]:
    bus: EventBus = sandbox.bus
    return {**bus.metrics.snapshot(), "rateLimit": sandbox.ratelimiter.describe(), "clock": sandbox.clock.describe(),
            "dataVersion": bus.data_version, "lastEventId": bus.last_id}


def hello_data(sandbox: Runtime) -> dict[str, Any]:
    return {"seed": sandbox.seed, "rateLimit": sandbox.ratelimiter.describe(), "clock": sandbox.clock.describe(),
            "lastEventId": sandbox.bus.last_id, "queueSize": sandbox.bus.queue_size}


async def stream(request: Request) -> Response:
    sandbox = runtime_of(request)
    bus: EventBus = sandbox.bus
    q = validated_query(request, "sandbox-stream")
    heartbeat = float(q.get("heartbeat", 10.0))
    metrics_every = float(q.get("metrics", 2.0))
    backlog = int(min(q.get("backlog", 200), RECENT_EVENTS))
    duration: float | None = q.get("duration")
    # A reconnecting EventSource sends back the last `id:` it saw: an event id, like `since`.
    resume = request.headers.get("last-event-id")
    after: int | None = (validated_value("sandbox-stream", "since", resume, "Last-Event-ID") if resume
                         else q.get("since"))

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
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
                wait = POLL_S if deadline is None else min(POLL_S, deadline - loop.time())
                if wait <= 0:
                    break
                bus.tick()
                parts: list[bytes] = []
                try:
                    first = await asyncio.wait_for(sub.queue.get(), timeout=wait)
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
