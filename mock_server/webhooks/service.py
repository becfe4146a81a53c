"""The webhook outbox and its delivery worker.

Fan-out runs inside the store transaction of the change (an EventLog subscriber), so a committed
change always has its deliveries queued, also across `kill -9`. The worker, an asyncio task, sends
what is due, one at a time per target in a deterministic order, and records every attempt. Each
target has its own lane (a task sending that target's due deliveries in order): a receiver that
hangs until the timeout delays only what goes to it, never another target's deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from mock_server.clock import SandboxClock
from mock_server.http.tls import client_context
from mock_server.ids import IdFactory
from mock_server.store import Condition, Store
from mock_server.webhooks.chaos import Chaos, decide
from mock_server.webhooks.message import WebhookMessage
from mock_server.webhooks.models import Attempt, Delivery, Event, WebhookTarget
from mock_server.webhooks.policy import RetryPolicy
from mock_server.webhooks.signing import Signer

PENDING = ("queued", "in_flight")
USER_AGENT = "GHL-Sandbox-Webhooks/1.0"


class WebhookService:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory, seed: int, signer: Signer,
                 policy: RetryPolicy, timeout_s: float,
                 render: Callable[[Event, Delivery, WebhookTarget], WebhookMessage]) -> None:
        self.store = store
        self.clock = clock
        # Delivery and webhook ids: the runtime gives each world its own stream, apart from the data's, so
        # how many targets there are never shifts an order id while one seed still gives the same ids.
        self.ids = ids
        # Targets are configuration and outlive a reset, which rewinds the world's streams: their ids come
        # from a stream of their own that nothing rewinds (a new target must never take an old one's id).
        self.target_ids = IdFactory(f"targets-{seed}")
        self.signer = signer
        self.policy = policy
        self.timeout_s = timeout_s
        self.render = render  # an attempt's wire message, from the service that owns the event
        self.global_chaos = Chaos()
        self._any_target: tuple[tuple[int, ...], bool] | None = None  # `has_targets`, by the targets' write stamp
        self.reseed(seed)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._lanes: dict[str, asyncio.Task[int]] = {}  # target id -> the task sending its due deliveries
        # Bumped when the state is replaced (reset, import): an attempt that started before must not
        # write its result into the new world.
        self.epoch = 0
        # Called after every attempt (the dashboard's live feed subscribes here).
        self.listeners: list[Callable[[Delivery, Attempt, WebhookMessage], None]] = []
        # Called after the timeout changes (the runtime keeps it with a `--state` file).

    def set_timeout(self, seconds: float) -> None:
        self.timeout_s = seconds
        if getattr(self, "_client", None) is not None:
            self._client.timeout = httpx.Timeout(seconds)

    def reseed(self, seed: int) -> None:
        self.chaos_rng = random.Random(f"chaos-{seed}")
        self.retry_rng = random.Random(f"retry-{seed}")

    # ---- targets ------------------------------------------------------------------------------

    def add_target(self, url: str, events: list[str] | None = None, location_id: str | None = None,
                   chaos: dict[str, Any] | None = None, service: str = "",
                   options: dict[str, Any] | None = None) -> WebhookTarget:
        """A target for one service's events (`service` "": the runtime's first service)."""
        parsed = Chaos.parse(chaos)
        table = self.store.table(WebhookTarget)
        target_id = self.target_ids.object_id()
        while table.get(target_id) is not None:  # a restart with --state starts the stream over
            target_id = self.target_ids.object_id()
        target = WebhookTarget(id=target_id, url=url, events=events, created_at=self.clock.now(),
                               location_id=location_id, chaos=parsed.to_json() if parsed.active else {},
                               service=service, options=dict(options or {}))
        table.put(target)
        return target

    def targets(self) -> list[WebhookTarget]:
        return self.store.table(WebhookTarget).all()

    def has_targets(self) -> bool:
        """Whether any target is configured, known without reading them while targets are unwritten (every
        event asks, and most runs without a receiver have none)."""
        stamp = self.store.written(("webhook_targets",))
        if self._any_target is None or self._any_target[0] != stamp:
            self._any_target = (stamp, bool(self.targets()))
        return self._any_target[1]

    def target(self, target_id: str) -> WebhookTarget | None:
        return self.store.table(WebhookTarget).get(target_id)

    def remove_target(self, target_id: str) -> bool:
        """Forget a target; what was still queued for it will never be sent (so `wait` can settle)."""
        with self.store.transaction():
            for d in self.store.table(Delivery).all([Condition("target_id", "=", target_id),
                                                   Condition("status", "=", "queued")], order="seq"):
                d.status = "failed"
                d.last_error = "target removed"
                self.store.table(Delivery).put(d)
            return self.store.table(WebhookTarget).delete(target_id)

    def set_target_chaos(self, target_id: str, chaos: dict[str, Any] | None) -> WebhookTarget | None:
        target = self.target(target_id)
        if target is None:
            return None
        parsed = Chaos.parse(chaos)
        target.chaos = parsed.to_json() if parsed.active else {}
        target.fanout_count = 0  # chaos positions (reorder windows) count from now on
        self.store.table(WebhookTarget).put(target)
        return target

    def set_global_chaos(self, chaos: Chaos) -> None:
        """Chaos for every target without its own; their reorder windows start with the next event."""
        self.global_chaos = chaos
        with self.store.transaction():
            for target in self.targets():
                if not target.chaos:
                    target.fanout_count = 0
                    self.store.table(WebhookTarget).put(target)

    # ---- fan-out (inside the change's transaction) -----------------------------------------------

    def on_event(self, event: Event) -> None:
        if not self.has_targets():
            return
        enqueued = False
        for target in self.targets():
            if not target.active or target.service != event.service:
                continue
            if event.target_id and target.id != event.target_id:
                continue
            if target.location_id and target.location_id != event.location_id:
                continue
            if target.events is not None and event.type not in target.events:
                continue
            self._enqueue(target, event)
            enqueued = True
        if enqueued:  # nothing new to send: the worker's periodic pass covers what is merely due later
            self.wake()

    def _next_seq(self) -> int:
        seq = int(self.store.get_meta("delivery_seq") or 0) + 1
        self.store.set_meta("delivery_seq", seq)
        return seq

    def _enqueue(self, target: WebhookTarget, event: Event) -> None:
        chaos = Chaos.parse(target.chaos) if target.chaos else self.global_chaos
        decision = decide(chaos, self.chaos_rng, target.fanout_count)
        target.fanout_count += 1
        self.store.table(WebhookTarget).put(target)
        now = time.time()
        webhook_id = self.ids.uuid()
        original = ""
        for copy in range(decision.copies):
            notes = []
            if decision.dropped:
                notes.append("dropped")
            if copy:
                notes.append(f"duplicate {copy}")
            if decision.delay_s:
                notes.append(f"delayed {chaos.delay_ms} ms")
            if chaos.reorder_window > 1:
                notes.append(f"reorder batch {decision.batch}")
            delivery = Delivery(
                id=self.ids.object_id(), seq=self._next_seq(), event_id=event.id, target_id=target.id,
                webhook_id=webhook_id, event_type=event.type, location_id=event.location_id, created_at=now,
                status="dropped" if decision.dropped else "queued", next_attempt_at=self.clock.now(),
                not_before=now + decision.delay_s, batch=decision.batch, rank=decision.rank,
                duplicate_of=original, chaos=", ".join(notes), service=event.service,
            )
            original = original or delivery.id
            self.store.table(Delivery).put(delivery)

    def redeliver(self, delivery_id: str) -> Delivery | None:
        """Send an event again to the same target, with the same webhookId (a deliberate duplicate)."""
        source = self.store.table(Delivery).get(delivery_id)
        if source is None:
            return None
        with self.store.transaction():
            delivery = Delivery(id=self.ids.object_id(), seq=self._next_seq(), event_id=source.event_id,
                                target_id=source.target_id, webhook_id=source.webhook_id,
                                event_type=source.event_type, location_id=source.location_id, created_at=time.time(),
                                next_attempt_at=self.clock.now(), batch=-1, duplicate_of=source.id, chaos="redelivery",
                                service=source.service)
            self.store.table(Delivery).put(delivery)
        self.wake()
        return delivery

    # ---- the worker ---------------------------------------------------------------------------

    def wake(self) -> None:
        if self._wake is not None:
            loop = self._loop
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._wake.set()
            else:
                loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        # After a crash, what was in flight was never acknowledged: send it again (at least once).
        with self.store.transaction():
            for d in self.store.table(Delivery).all([Condition("status", "=", "in_flight")], order="seq"):
                d.status = "queued"
                self.store.table(Delivery).put(d)
        self._client = httpx.AsyncClient(timeout=self.timeout_s, headers={"user-agent": USER_AGENT},
                                         verify=client_context())
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        lanes = list(self._lanes.values())
        for lane in lanes:
            lane.cancel()
        for lane in lanes:
            with contextlib.suppress(asyncio.CancelledError):
                await lane
        if getattr(self, "_client", None):
            await self._client.aclose()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.1)
            self._wake.clear()
            try:
                await self.process_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must survive anything a receiver or a state import does
                logging.getLogger("ghl_sandbox").exception("webhook worker iteration failed")
                await asyncio.sleep(0.2)

    def due(self) -> dict[str, list[Delivery]]:
        now_clock, now_real = self.clock.now(), time.time()
        queued = self.store.table(Delivery).all([Condition("status", "=", "queued")], order="seq")
        if not queued:
            return {}
        targets = {t.id: t for t in self.targets()}
        by_target: dict[str, list[Delivery]] = {}
        oldest_in_batch: dict[tuple[str, int], float] = {}
        for d in queued:
            key = (d.target_id, d.batch)
            oldest_in_batch[key] = min(oldest_in_batch.get(key, d.created_at), d.created_at)
        orphans = []
        for d in queued:
            target = targets.get(d.target_id)
            if target is None:  # removed while this was in flight or redelivered: it cannot be sent
                orphans.append(d)
                continue
            if d.next_attempt_at > now_clock or d.not_before > now_real:
                continue
            chaos = Chaos.parse(target.chaos) if target.chaos else self.global_chaos
            window = chaos.reorder_window
            if window > 1 and d.batch >= 0 and d.attempts == 0:
                batch_complete = target.fanout_count >= (d.batch + 1) * window
                held_long = oldest_in_batch[(d.target_id, d.batch)] + chaos.reorder_hold_ms / 1000.0 <= now_real
                if not (batch_complete or held_long):
                    continue
            by_target.setdefault(d.target_id, []).append(d)
        if orphans:
            with self.store.transaction():
                for d in orphans:
                    d.status, d.last_error = "failed", "target removed"
                    self.store.table(Delivery).put(d)
        for items in by_target.values():
            items.sort(key=lambda d: (d.batch if d.batch >= 0 else 1 << 60, d.rank, d.seq))
        return by_target

    async def process_due(self) -> int:
        """Start a lane for every target with due deliveries and no lane running; a busy target's
        lane wakes the worker when it is done, so its next deliveries follow at once. Returns how
        many deliveries the new lanes took."""
        groups = self.due()
        groups = {tid: items for tid, items in groups.items() if tid not in self._lanes}
        if not groups:
            return 0
        targets = {t.id: t for t in self.targets()}
        taken = 0
        for tid, items in groups.items():
            target = targets.get(tid)
            if target is None:  # removed since `due` looked
                continue
            self._lanes[tid] = asyncio.create_task(self._lane(target, items))
            taken += len(items)
        return taken

    async def _lane(self, target: WebhookTarget, deliveries: list[Delivery]) -> int:
        try:
            return await self._send_all(target, deliveries)
        except Exception:  # a lane must not die silently; the worker starts a new one for what is left
            logging.getLogger("ghl_sandbox").exception("webhook delivery to %s failed", target.url)
            await asyncio.sleep(0.2)
            return 0
        finally:
            self._lanes.pop(target.id, None)
            self.wake()

    async def _send_all(self, target: WebhookTarget, deliveries: list[Delivery]) -> int:
        epoch = self.epoch
        sent = 0
        for d in deliveries:
            if self.epoch != epoch:  # the state was replaced: these deliveries belong to the old world
                break
            # A lane may wait on a slow receiver while a delivery it holds changes (its target removed).
            current = self.store.table(Delivery).get(d.id)
            if current is None or current.status != "queued":
                continue
            await self._attempt(target, current)
            sent += 1
        return sent

    async def _attempt(self, target: WebhookTarget, delivery: Delivery) -> None:
        epoch = self.epoch
        event = self.store.table(Event).get(delivery.event_id)
        if event is None:  # its location was reset: nothing to send any more
            delivery.status = "failed"
            delivery.last_error = "event no longer exists (location reset)"
            self.store.table(Delivery).put(delivery)
            return
        try:
            message = self.render(event, delivery, target)
        except Exception as exc:  # e.g. a snapshot from an incompatible state file: fail it, do not wedge
            delivery.status = "failed"
            delivery.last_error = f"cannot build the payload: {type(exc).__name__}: {exc}"
            self.store.table(Delivery).put(delivery)
            return
        body, headers = message.body, message.headers
        policy = message.policy or self.policy
        delivery.status = "in_flight"
        self.store.table(Delivery).put(delivery)
        self._in_flight += 1
        started = time.perf_counter()
        status: int | None = None
        error = ""
        try:
            response = await self._client.request(message.method, message.url or target.url, content=body or None,
                                                  headers=headers)
            status = response.status_code
        except httpx.TimeoutException:
            error = f"timeout after {self.timeout_s:g} s"
        except Exception as exc:  # httpx.HTTPError, or anything else sending raised: a failed attempt
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            self._in_flight -= 1
        latency = round((time.perf_counter() - started) * 1000, 3)
        if epoch != self.epoch:  # the state was reset while this attempt was on the wire
            return
        delivery.attempts += 1
        delivery.last_status = status
        delivery.last_error = error
        next_at: float | None = None
        if status is not None and 200 <= status < 300:
            outcome = delivery.status = "delivered"
        elif policy.retryable(status, error) and delivery.attempts <= policy.max_retries:
            next_at = self.clock.now() + policy.next_delay(delivery.attempts, self.retry_rng)
            delivery.status = "queued"
            delivery.next_attempt_at = next_at
            outcome = "retry"
        else:
            outcome = delivery.status = "failed"
        # Attempts happen whenever the worker gets to them, so their ids must not draw from the seeded
        # stream the changes mint ids from (that would make resource ids depend on delivery timing).
        attempt = Attempt(id=f"{delivery.id}-{delivery.attempts}", delivery_id=delivery.id, n=delivery.attempts,
                          at=time.time(), status_code=status, latency_ms=latency, error=error, outcome=outcome,
                          next_attempt_at=next_at)
        with self.store.transaction():
            self.store.table(Delivery).put(delivery)
            self.store.table(Attempt).put(attempt)
        for listener in self.listeners:
            listener(delivery, attempt, message)

    # ---- inspection ---------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        out = {"queued": 0, "in_flight": 0, "delivered": 0, "failed": 0, "dropped": 0}
        for d in self.store.table(Delivery).all(order=""):
            out[d.status] = out.get(d.status, 0) + 1
        return out

    def settled(self) -> bool:
        # One indexed row per status at most (not every pending delivery decoded): `wait` asks every 20 ms.
        return (not self._in_flight and not self._lanes
                and all(self.store.table(Delivery).find_one("status", status) is None for status in PENDING))

    async def wait_settled(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.settled():
                return True
            self.wake()
            await asyncio.sleep(0.02)
        return self.settled()
