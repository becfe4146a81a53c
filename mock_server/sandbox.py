"""The composition root: one Sandbox holds the store, clock, services and domain, and knows how to
seed, reset, export and import. HTTP-free; both the API and the control plane call into it."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from mock_server import __version__
from mock_server.clock import SandboxClock
from mock_server.dashboard.bus import EventBus
from mock_server.faults import FaultInjector
from mock_server.ghl import state_files
from mock_server.ghl import tables as ghl_tables
from mock_server.ghl.auth import AuthService
from mock_server.ghl.payments import Payments
from mock_server.ghl.seed import DEFAULT_ORDERS, seed_app, seed_location, seed_world
from mock_server.ghl.simulation import Simulator
from mock_server.http.cache import ResponseCache
from mock_server.ids import IdFactory
from mock_server.journal import Journal
from mock_server.locations import LOCATIONS, Location
from mock_server.rankr import tables as rankr_tables
from mock_server.ratelimit import RateLimiter
from mock_server.settings import Settings
from mock_server.store import Store
from mock_server.webhooks import tables as outbox_tables
from mock_server.webhooks.chaos import Chaos
from mock_server.webhooks.events import EventLog
from mock_server.webhooks.models import WebhookTarget
from mock_server.webhooks.policy import RetryPolicy
from mock_server.webhooks.service import WebhookService
from mock_server.webhooks.signing import Signer

STATE_FORMAT = "ghl-sandbox-state"
SNAPSHOT_IN_MEMORY_MAX = 64 * 1024 * 1024  # bigger worlds keep their reset snapshot in a temp file
STATE_VERSION = 2  # 2: money as integer minor units (1 is still imported)

LOCATION_NAMES = ("Fabrikam Studio", "Tailspin Yoga", "Adatum Athletics", "Litware Nutrition", "Proseware Gym")


class Sandbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = time.time()
        self.clock = SandboxClock()
        self.store = Store(settings.state_file, (LOCATIONS, *ghl_tables.TABLES, *outbox_tables.TABLES, *rankr_tables.TABLES))
        self.responses = ResponseCache(settings.response_cache)
        self.store.on_write(self.responses.clear)
        self.journal = Journal(settings.journal_capacity)
        self.ratelimiter = RateLimiter(settings.rate_limit)
        self.seed = settings.seed
        existing = self.store.get_meta("seed")
        if existing is None:
            seed_world(self.store, settings.seed, settings.orders)
        else:
            self.seed = int(existing)
        # Webhook signing keys are made on first start and kept with the state.
        self.signer = Signer.load_or_create(self.store)
        self.signer.sign_ed25519, self.signer.sign_rsa = settings.sign_ed25519, settings.sign_rsa
        self.faults = FaultInjector(self.seed)
        policy = RetryPolicy(settings.webhook_policy, settings.webhook_retry_interval, settings.webhook_max_retries,
                             settings.webhook_backoff_factor)
        self.webhooks = WebhookService(self.store, self.clock, IdFactory(0), self.seed, self.signer, policy,
                                       settings.webhook_timeout, lambda: self.auth.app())
        self.webhooks.on_tick = self.tick
        self.bus = EventBus()  # the dashboard's live feed: API requests, webhook attempts, simulated actions
        self.bus.attach(self)
        self._init_services(new_generation=existing is not None)
        for url in settings.webhook_urls:
            if not any(t.url == url for t in self.webhooks.targets()):
                self.webhooks.add_target(url)
        self._snapshot = self._take_snapshot() if existing is None else None
        self._snapshot_of = (self.seed, settings.orders)  # the (seed, orders) world the snapshot holds

    def _init_services(self, new_generation: bool = False) -> None:
        # Run-time ids come from a stream named after the seed. A server that goes on from stored or
        # imported state (restart with --state, PUT /_sandbox/state) must not mint again the ids it
        # already handed out, or a new record would overwrite an acknowledged one: it draws from the
        # next generation's stream. A fresh or reset world is generation 0, so two servers with the
        # same seed still agree id for id.
        generation = int(self.store.get_meta("runtime_generation") or 0)
        if new_generation:
            generation += 1
            self.store.set_meta("runtime_generation", generation)
        self.ids = IdFactory(f"runtime-{self.seed}" if generation == 0 else f"runtime-{self.seed}-g{generation}")
        prefix = str(uuid.UUID(int=random.Random(f"trace-{self.seed}").getrandbits(128), version=4))
        self._trace_prefix = prefix[:24]
        self._trace_n = 0
        previous = getattr(self, "auth", None)
        if previous is not None:  # one cache listener per store, not one more per reset
            self.store.off_write(previous.on_store_write)
        self.auth = AuthService(self.store, self.clock, self.ids)
        self.events = EventLog(self.store, self.clock, self.ids)
        self.events.subscribers.append(self.webhooks.on_event)
        self.payments = Payments(self.store, self.clock, self.ids, self.events)
        self.simulator = Simulator(self.payments, self.seed)
        self.simulator.extension_events = self.settings.extension_events
        self.webhooks.ids = self.ids
        self.webhooks.reseed(self.seed)
        self.faults.reseed(self.seed)
        # Renewals fire for billing dates the clock passes from now on; seeded history stays history.
        self.tick_since = self.clock.now()

    def tick(self) -> None:
        """Let the sandbox clock drive time-based transitions (renewals, settling payments)."""
        now = self.clock.now()
        if now > self.tick_since:
            self.simulator.tick(self.tick_since)

    def _take_snapshot(self) -> Any:
        snapshot = self.store.snapshot(on_disk=self.store.size_bytes() > SNAPSHOT_IN_MEMORY_MAX)
        release_free_memory()
        return snapshot

    def trace_id(self) -> str:
        """A UUID-shaped id, unique per request and reproducible per seed: a seeded prefix and a counter
        (cheap: it is made on every request)."""
        self._trace_n += 1
        return f"{self._trace_prefix}{self._trace_n:012x}"

    # ---- locations ----------------------------------------------------------------------------

    def locations(self) -> list[Location]:
        return self.store.table(Location).all()

    def location(self, location_id: str) -> Location | None:
        return self.store.table(Location).get(location_id)

    def create_location(self, name: str | None = None, seed: int | None = None, orders: int | None = None) -> Location:
        """A fresh, isolated location with its own seeded data and tokens."""
        with self.store.transaction():
            index = int(self.store.get_meta("location_counter") or 2)
            self.store.set_meta("location_counter", index + 1)
        app = self.auth.app() or seed_app(self.store, self.seed)[0]
        seeded = seed_location(self.store, seed=self.seed if seed is None else seed, index=index,
                               name=name or f"{LOCATION_NAMES[index % len(LOCATION_NAMES)]} {index}",
                               orders=DEFAULT_ORDERS if orders is None else orders, app=app)
        meta = self.store.get_meta("location_index") or {}
        meta[seeded.location.id] = index
        self.store.set_meta("location_index", meta)
        return seeded.location

    def reset_location(self, location_id: str) -> Location:
        """Back to that location's seeded state; other locations are untouched."""
        location = self.location(location_id)
        if location is None:
            raise KeyError(location_id)
        index = int((self.store.get_meta("location_index") or {}).get(location_id, 0))
        app = self.auth.app() or seed_app(self.store, self.seed)[0]
        seeded = seed_location(self.store, seed=location.seed, index=index, name=location.name,
                               orders=location.orders, app=app, location_id=location_id,
                               with_agency_token=index == 0)
        return seeded.location

    # ---- whole state --------------------------------------------------------------------------

    def reset(self, seed: int | None = None, orders: int | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        target_seed = self.seed if seed is None else seed
        target_orders = self.settings.orders if orders is None else orders
        # Webhook targets and signing keys are configuration, not data: they survive a reset.
        # Fault rules and global delivery chaos are cleared; queued deliveries go with the data.
        targets = self.webhooks.targets()
        if self._snapshot is not None and self._snapshot_of == (target_seed, target_orders):
            self.store.restore(self._snapshot)
        else:
            self.store.import_({"tables": {}, "meta": {}})
            seed_world(self.store, target_seed, target_orders)
            self._snapshot = self._take_snapshot()
            self._snapshot_of = (target_seed, target_orders)
        self.seed = target_seed
        self.settings.orders = target_orders
        with self.store.transaction():
            self.signer.save(self.store)
            for stale in self.webhooks.targets():
                self.store.table(WebhookTarget).delete(stale.id)
            for target in targets:
                target.fanout_count = 0
                self.store.table(WebhookTarget).put(target)
        self.faults.clear()
        self.webhooks.global_chaos = Chaos()
        self.webhooks.epoch += 1
        # The clock first: services note "now" as the point renewals and settlements fire from.
        self.clock.reset()
        self._init_services()
        self.ratelimiter.reset()
        return {"seed": self.seed, "orders": target_orders, "resetMs": round((time.perf_counter() - t0) * 1000, 2)}

    def export_state(self) -> dict[str, Any]:
        data = self.store.export()
        return {"format": STATE_FORMAT, "version": STATE_VERSION, "seed": self.seed, **data}

    def import_state(self, data: Any) -> dict[str, int]:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError(f"state.format must be {STATE_FORMAT!r}")
        if data.get("version") == 1:  # money in major-unit floats: upgraded to minor units
            data = state_files.upgrade_v1(data)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state.version must be {STATE_VERSION}")
        # Checked before anything is replaced: a refused document leaves the state as it was.
        meta = data.get("meta")
        seed = meta.get("seed") if isinstance(meta, dict) else None
        seed = data.get("seed", self.seed) if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("state.meta.seed must be an integer")
        counts = self.store.import_(data)
        self.webhooks.epoch += 1
        self.seed = seed
        self._init_services(new_generation=True)
        self.ratelimiter.reset()
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
