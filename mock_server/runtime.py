"""The composition root. A long-lived `Runtime` holds the configuration and what outlives a reset:
the store, the clock, the signing keys, caches, rate limits, fault rules, the webhook delivery worker,
the scheduler and the dashboard's bus. A `World` holds what a reset replaces as a whole: the seed, the
run-time id stream, the event log and each service's state. HTTP-free: the API, the services' handlers
and the control plane call into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import sqlite3
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mock_server import __version__
from mock_server.bus import EventBus
from mock_server.clock import SandboxClock
from mock_server.errors import Invalid
from mock_server.faults import FaultInjector
from mock_server.http.cache import ResponseCache
from mock_server.http.conditional import ConditionalReads
from mock_server.http.fragments import FragmentCache
from mock_server.ids import IdFactory
from mock_server.journal import Journal
from mock_server.locations import LOCATIONS, Location
from mock_server.ratelimit import RateLimiter
from mock_server.service import LocationSeed, Service, ServiceWorld, WorldContext
from mock_server.settings import Settings
from mock_server.signals import Signals
from mock_server.store import RowsWritten, Store
from mock_server.webhooks import tables as outbox_tables
from mock_server.webhooks.chaos import Chaos
from mock_server.webhooks.events import EventLog
from mock_server.webhooks.message import WebhookMessage
from mock_server.webhooks.models import Delivery, Event, WebhookTarget
from mock_server.webhooks.policy import RetryPolicy
from mock_server.webhooks.service import WebhookService
from mock_server.webhooks.signing import Signer

STATE_FORMAT = "ghl-sandbox-state"
SNAPSHOT_IN_MEMORY_MAX = 64 * 1024 * 1024  # bigger worlds keep their reset snapshot in a temp file
# A harness resets to a few worlds in turn (3 orders, none, 250...): the snapshots of the last few are
# kept, while together they stay under SNAPSHOT_IN_MEMORY_MAX (the newest is always kept, alone if big).
SNAPSHOTS_KEPT = 4
STATE_VERSION = 2  # 2: money as integer minor units (older documents are upgraded by the services)
# The configuration a `--state` file keeps besides the data: the clock, the fault rules and the webhook
# retry policy (kept under one meta key, left out of `GET /_sandbox/state`, which shows data only).
CONFIG_META_KEY = "sandbox_config"
# Seeded worlds bigger than this start in `:memory:`, not memdb (`store.MEMDB_MAX_BYTES`): 20,000 seeded
# orders take 145 MiB, so this many leave memdb room to grow.
MEMDB_MAX_ORDERS = 50_000
TICK_SECONDS = 0.1  # how often the scheduler lets the sandbox clock drive renewals and settlements

LOCATION_NAMES = ("Fabrikam Studio", "Tailspin Yoga", "Adatum Athletics", "Litware Nutrition", "Proseware Gym")

W = TypeVar("W", bound=ServiceWorld)


class TraceIds:
    """UUID-shaped trace ids, unique per request and reproducible per seed: a seeded prefix and a
    counter (cheap: one is made on every request)."""

    def __init__(self, seed: int) -> None:
        self._prefix = str(uuid.UUID(int=random.Random(f"trace-{seed}").getrandbits(128), version=4))[:24]
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n:012x}"


@dataclass
class World:
    seed: int
    ids: IdFactory
    events: EventLog
    traces: TraceIds
    # Renewals fire for billing dates the clock passes from the world's start on; seeded history stays history.
    tick_since: float
    parts: dict[type[ServiceWorld], ServiceWorld] = field(default_factory=dict)
    signals: Signals = field(default_factory=Signals)  # what the services tell each other, this world only
    _listening: tuple[int, tuple[ServiceWorld, ...]] | None = field(default=None, repr=False)

    def write_listeners(self) -> tuple[ServiceWorld, ...]:
        """The parts that keep something derived from the store (they override `on_store_write`), which
        every store write calls: the others are not called at all."""
        if self._listening is None or self._listening[0] != len(self.parts):
            self._listening = (len(self.parts), tuple(
                p for p in self.parts.values() if type(p).on_store_write is not ServiceWorld.on_store_write))
        return self._listening[1]

    def part(self, kind: type[W]) -> W:
        """A service's state in this world, by its type."""
        found = self.parts.get(kind)
        if not isinstance(found, kind):
            raise LookupError(f"no service state {kind.__name__}: is its service plugged in?")
        return found


class Runtime:
    def __init__(self, settings: Settings, services: Sequence[Service]) -> None:
        self.settings = settings
        self.services = tuple(services)
        self.started = time.time()
        self.clock = SandboxClock()
        self.store = Store(settings.state_file,
                           (LOCATIONS, *outbox_tables.TABLES, *(t for s in self.services for t in s.tables)),
                           large=settings.orders > MEMDB_MAX_ORDERS)
        visible = frozenset({"locations"}.union(*(s.visible_kinds for s in self.services)))
        self._first_location: tuple[tuple[int, ...], str] | None = None
        self.responses = ResponseCache(settings.response_cache, visible, settings.response_cache_mb * 1024 * 1024)
        self.fragments = FragmentCache(settings.fragment_cache, settings.fragment_cache_mb * 1024 * 1024)
        self.journal = Journal(settings.journal_capacity)
        self.reads = ConditionalReads(self.store)  # control-plane reads answered 304 while unchanged
        self.ratelimiter = RateLimiter(settings.rate_limit)
        existing = self.store.get_meta("seed")
        seed = settings.seed if existing is None else int(existing)
        if existing is None:
            self._seed_world(seed, settings.orders)
        else:
            self._upgrade_stored_state()
        # Webhook signing keys are made on first start and kept with the state.
        self.signer = Signer.load_or_create(self.store)
        self.signer.sign_ed25519, self.signer.sign_rsa = settings.sign_ed25519, settings.sign_rsa
        self.faults = FaultInjector(seed)
        policy = RetryPolicy(settings.webhook_policy, settings.webhook_retry_interval, settings.webhook_max_retries,
                             settings.webhook_backoff_factor)
        self.webhooks = WebhookService(self.store, self.clock, IdFactory(0), seed, self.signer, policy,
                                       settings.webhook_timeout, self._webhook_message)
        if existing is not None:
            self._load_config()  # the clock first: the world below notes "now" as where renewals fire from
        self.clock.on_change = self.faults.on_change = self._save_config
        self.bus = EventBus()  # the dashboard's live feed: API requests, webhook attempts, simulated actions
        # Listeners are wired once, here, and reach the current world through `self.world`.
        self.store.on_write(self._on_store_write)
        self.world = self._new_world(seed, new_generation=existing is not None)
        self.bus.attach(self)
        for url in settings.webhook_urls:
            if not any(t.url == url for t in self.webhooks.targets()):
                self.webhooks.add_target(url)
        # The seeded worlds a reset goes back to, by (seed, orders), with their sizes; least recent first.
        self._snapshots: OrderedDict[tuple[int, int], tuple[sqlite3.Connection, int]] = OrderedDict()
        if existing is None:
            self._keep_snapshot((seed, settings.orders))
        self._scheduler: asyncio.Task[None] | None = None

    # ---- the world ----------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        return self.world.seed

    def _new_world(self, seed: int, new_generation: bool = False) -> World:
        # Run-time ids come from a stream named after the seed. A server that goes on from stored or
        # imported state (restart with --state, PUT /_sandbox/state) must not mint again the ids it
        # already handed out, or a new record would overwrite an acknowledged one: it draws from the
        # next generation's stream. A fresh or reset world is generation 0, so two servers with the
        # same seed still agree id for id.
        generation = int(self.store.get_meta("runtime_generation") or 0)
        if new_generation:
            generation += 1
            self.store.set_meta("runtime_generation", generation)
        stream = f"{seed}" if generation == 0 else f"{seed}-g{generation}"
        ids = IdFactory(f"runtime-{stream}")
        # Events of the first service keep service "" (as stored before services were told apart).
        senders = {t: s.name for s in self.services[1:] for t in s.event_types}
        events = EventLog(self.store, self.clock, ids, self.webhooks.on_event,
                          frozenset().union(*(s.extension_event_types for s in self.services)), senders)
        # Deliveries draw from a stream of their own: the number of targets must not shift any data id.
        self.webhooks.ids = IdFactory(f"webhooks-{stream}")
        self.webhooks.reseed(seed)
        self.faults.reseed(seed)
        world = World(seed=seed, ids=ids, events=events, traces=TraceIds(seed), tick_since=self.clock.now())
        context = WorldContext(self.settings, self.store, self.clock, ids, events, seed, self.webhooks, world.signals)
        for service in self.services:
            part = service.start(context)
            world.parts[type(part)] = part
        return world

    def part(self, kind: type[W]) -> W:
        return self.world.part(kind)

    # ---- configuration kept with a `--state` file ---------------------------------------------

    def _save_config(self) -> None:
        """Called on every change of the clock, the fault rules or the retry policy: a restart after
        `kill -9` goes on with them (in memory there is no restart to keep them for)."""
        if self.settings.state_file is None:
            return
        self.store.set_meta(CONFIG_META_KEY, {
            "clock": self.clock.to_state(), "faults": self.faults.to_state(),
            "webhookPolicy": {**self.webhooks.policy.to_state(), "timeoutS": self.webhooks.timeout_s}})

    def set_webhook_policy(self, name: str, interval_s: float, max_retries: int, factor: float,
                           timeout_s: float | None = None) -> None:
        """The retry policy (and the attempt timeout) as the control plane sets it, kept with `--state`."""
        policy = self.webhooks.policy
        policy.name, policy.interval_s, policy.max_retries, policy.factor = name, interval_s, max_retries, factor
        if timeout_s is not None:
            self.webhooks.set_timeout(timeout_s)
        self._save_config()

    def _load_config(self) -> None:
        config = self.store.get_meta(CONFIG_META_KEY)
        if not isinstance(config, dict):
            return
        self.clock.load_state(config.get("clock"))
        self.faults.load_state(config.get("faults"))
        policy = config.get("webhookPolicy")
        self.webhooks.policy.load_state(policy)
        timeout = policy.get("timeoutS") if isinstance(policy, dict) else None
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
            self.webhooks.set_timeout(float(timeout))

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(a for s in self.services for a in s.actions)

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(e for s in self.services for e in s.event_types)

    def location_fields(self, location: Location) -> dict[str, Any]:
        """Each service's facts about one location (its credentials, its accounts), in service order."""
        fields: dict[str, Any] = {}
        for part in self.world.parts.values():
            fields.update(part.location_fields(location))
        return fields

    def _on_store_write(self, kind: str, change: RowsWritten | None = None) -> None:
        self.responses.written(kind, change)
        self.fragments.clear(kind)
        world: World | None = getattr(self, "world", None)
        if world is not None:
            for part in world.write_listeners():
                part.on_store_write(kind)

    def _webhook_message(self, event: Event, delivery: Delivery, target: WebhookTarget) -> WebhookMessage:
        for part in self.world.parts.values():
            message = part.webhook_message(event, delivery, target)
            if message is not None:
                return message
        raise LookupError(f"no service renders {event.type} events")

    def service_name(self, stored: str) -> str:
        """The service a stored event, delivery or target belongs to ("" is the first service)."""
        return stored or self.services[0].name

    def service_of_action(self, action: str) -> Service | None:
        return next((s for s in self.services if action in s.actions), None)

    def location_of_bearer(self, secret: str) -> str | None:
        for part in self.world.parts.values():
            location_id = part.location_of_bearer(secret)
            if location_id is not None:
                return location_id
        return None

    def trace_id(self) -> str:
        return self.world.traces.next()

    def tick(self) -> None:
        """Let the sandbox clock drive time-based transitions (renewals, settling payments)."""
        world = self.world
        if self.clock.now() > world.tick_since:
            for part in world.parts.values():
                part.tick(world.tick_since)

    def _seed_world(self, seed: int, orders: int) -> None:
        for service in self.services:
            if service.seed_world is not None:
                service.seed_world(self.store, seed, orders)
        self.store.set_meta("seed", seed)
        self.store.set_meta("state_version", STATE_VERSION)

    def _upgraded(self, data: dict[str, Any], version: int) -> dict[str, Any]:
        for service in self.services:
            if service.upgrade_state is not None:
                data = service.upgrade_state(data, version)
        return {**data, "version": STATE_VERSION}

    def _upgrade_stored_state(self) -> None:
        """A `--state` file written by an older version (no `state_version`: version 1) is brought to
        the current one in place, in one transaction, before anything reads its records."""
        version = int(self.store.get_meta("state_version") or 1)
        if version >= STATE_VERSION:
            return
        data = self._upgraded(self.store.export(), version)
        data["meta"] = {**data["meta"], "state_version": STATE_VERSION}
        self.store.import_(data)

    def _keep_snapshot(self, world: tuple[int, int]) -> None:
        """Keep a snapshot of the store as it is now, the seeded `world` (seed, orders)."""
        size = self.store.size_bytes()
        on_disk = size > SNAPSHOT_IN_MEMORY_MAX
        snapshot = self.store.snapshot(on_disk=on_disk)
        release_free_memory()
        old = self._snapshots.pop(world, None)
        if old is not None:
            old[0].close()
        self._snapshots[world] = (snapshot, size)  # one on disk counts too: a big world is kept alone
        while len(self._snapshots) > 1 and (len(self._snapshots) > SNAPSHOTS_KEPT or
                                            sum(size for _, size in self._snapshots.values()) > SNAPSHOT_IN_MEMORY_MAX):
            _, (oldest, _size) = self._snapshots.popitem(last=False)
            oldest.close()

    # ---- background tasks ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.webhooks.start()
        self._scheduler = asyncio.create_task(self._schedule())

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        await self.webhooks.stop()
        self.store.close()

    async def _schedule(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.tick()
            except Exception:  # the scheduler must survive anything a state import leaves behind
                logging.getLogger("ghl_sandbox").exception("scheduled tick failed")

    # ---- locations ----------------------------------------------------------------------------

    def locations(self) -> list[Location]:
        return self.store.table(Location).all()

    def first_location_id(self) -> str:
        """The first location's id (where an action without `locationId` happens), kept until locations
        are written again."""
        stamp = self.store.written((LOCATIONS.kind,))
        if self._first_location is None or self._first_location[0] != stamp:
            self._first_location = (stamp, self.locations()[0].id)
        return self._first_location[1]

    def location(self, location_id: str) -> Location | None:
        return self.store.table(Location).get(location_id)

    def _seed_location(self, spec: LocationSeed) -> Location:
        seeded: Location | None = None
        for service in self.services:
            if service.seed_location is not None:
                # The first service to seed makes the location; the others seed their data for it.
                seeded = service.seed_location(self.store, spec if seeded is None
                                               else dataclasses.replace(spec, location_id=seeded.id))
        if seeded is None:
            raise LookupError("no service seeds locations")
        return seeded

    def create_location(self, name: str | None = None, seed: int | None = None, orders: int | None = None) -> Location:
        """A fresh, isolated location with its own seeded data and tokens."""
        with self.store.transaction():
            index = int(self.store.get_meta("location_counter") or 2)
            self.store.set_meta("location_counter", index + 1)
        location = self._seed_location(LocationSeed(
            seed=self.seed if seed is None else seed, index=index,
            name=name or f"{LOCATION_NAMES[index % len(LOCATION_NAMES)]} {index}",
            orders=orders))
        meta = self.store.get_meta("location_index") or {}
        meta[location.id] = index
        self.store.set_meta("location_index", meta)
        return location

    def reset_location(self, location_id: str) -> Location:
        """Back to that location's seeded state; other locations are untouched."""
        location = self.location(location_id)
        if location is None:
            raise KeyError(location_id)
        index = int((self.store.get_meta("location_index") or {}).get(location_id, 0))
        return self._seed_location(LocationSeed(seed=location.seed, index=index, name=location.name,
                                                orders=location.orders, location_id=location_id, first=index == 0))

    # ---- whole state --------------------------------------------------------------------------

    def reset(self, seed: int | None = None, orders: int | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        target_seed = self.seed if seed is None else seed
        target_orders = self.settings.orders if orders is None else orders
        # Webhook targets, signing keys and every table that `survives_reset` are configuration, not data:
        # they survive a reset. Fault rules and global delivery chaos are cleared; queued deliveries go
        # with the data.
        kept = [(spec, self.store.table(spec.record_type).all())
                for spec in self.store.specs() if spec.survives_reset]
        world = (target_seed, target_orders)
        kept_world = self._snapshots.get(world)
        if kept_world is not None:
            self._snapshots.move_to_end(world)
            self.store.restore(kept_world[0])
        else:
            self.store.import_({"tables": {}, "meta": {}})
            self._seed_world(target_seed, target_orders)
            self._keep_snapshot(world)
        self.settings.orders = target_orders
        with self.store.transaction():
            self.signer.save(self.store)
            for spec, rows in kept:
                table = self.store.table(spec.record_type)
                for stale in table.all(order=""):
                    table.delete(stale.id)
                for row in rows:
                    if isinstance(row, WebhookTarget):
                        row.fanout_count = 0  # chaos positions (reorder windows) count from the reset on
                table.put_many(rows)
        self.faults.clear()
        self.webhooks.global_chaos = Chaos()
        self.webhooks.epoch += 1
        # The clock first: the new world notes "now" as the point renewals and settlements fire from.
        self.clock.reset()
        self.world = self._new_world(target_seed)
        self.ratelimiter.reset()
        self._save_config()  # the restored snapshot's meta does not hold the policy, which a reset keeps
        return {"seed": self.seed, "orders": target_orders, "resetMs": round((time.perf_counter() - t0) * 1000, 2)}

    def export_state(self) -> dict[str, Any]:
        data = self.store.export()
        data["meta"].pop(CONFIG_META_KEY, None)
        return {"format": STATE_FORMAT, "version": STATE_VERSION, "seed": self.seed, **data}

    def import_state(self, data: Any) -> dict[str, int]:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise Invalid(f"state.format must be {STATE_FORMAT!r}")
        version = data.get("version")
        if type(version) is int and 1 <= version < STATE_VERSION:
            try:
                data = self._upgraded(data, version)
            except ValueError as exc:  # the service names the bad row and field
                raise Invalid(str(exc)) from None
        if data.get("version") != STATE_VERSION:
            raise Invalid(f"state.version must be {STATE_VERSION}")
        # Checked before anything is replaced: a refused document leaves the state as it was.
        meta = data.get("meta")
        seed = meta.get("seed") if isinstance(meta, dict) else None
        seed = data.get("seed", self.seed) if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise Invalid("state.meta.seed must be an integer")
        if isinstance(meta, dict) or meta is None:  # the imported world is in this version's shape now
            data = {**data, "meta": {**(meta or {}), "state_version": STATE_VERSION}}
        try:
            counts = self.store.import_(data)
        except ValueError as exc:  # the store names the bad table, row or field
            raise Invalid(str(exc)) from None
        self.webhooks.epoch += 1
        self.world = self._new_world(seed, new_generation=True)
        self.ratelimiter.reset()
        self._save_config()  # the import replaced the meta; the configuration is this server's, not the document's
        return counts

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "seed": self.seed, "locations": len(self.locations()),
                "uptimeSeconds": round(time.time() - self.started, 3), "clock": self.clock.describe(),
                "rateLimit": self.ratelimiter.describe()}


def release_free_memory() -> None:
    """Seeding a big world leaves freed heap behind; hand it back to the OS (glibc only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
