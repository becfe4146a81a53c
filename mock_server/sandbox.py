"""The composition root: one Sandbox holds the store, clock, services and domain, and knows how to
seed, reset, export and import. HTTP-free; both the API and the control plane call into it."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from mock_server import __version__
from mock_server.auth import AuthService
from mock_server.clock import SandboxClock
from mock_server.domain.models import Location
from mock_server.domain.payments import Payments
from mock_server.ids import IdFactory
from mock_server.journal import Journal
from mock_server.ratelimit import RateLimiter
from mock_server.seed import DEFAULT_ORDERS, seed_app, seed_location, seed_world
from mock_server.settings import Settings
from mock_server.store import Store

STATE_FORMAT = "ghl-sandbox-state"
STATE_VERSION = 1

LOCATION_NAMES = ("Fabrikam Studio", "Tailspin Yoga", "Adatum Athletics", "Litware Nutrition", "Proseware Gym")


class Sandbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = time.time()
        self.clock = SandboxClock()
        self.store = Store(settings.state_file)
        self.journal = Journal(settings.journal_capacity)
        self.ratelimiter = RateLimiter(settings.rate_limit)
        self.seed = settings.seed
        existing = self.store.get_meta("seed")
        if existing is None:
            seed_world(self.store, settings.seed, settings.orders)
        else:
            self.seed = int(existing)
        self._init_services()
        self._snapshot = self.store.snapshot() if existing is None else None

    def _init_services(self) -> None:
        self.ids = IdFactory(f"runtime-{self.seed}")
        self._trace_rng = random.Random(f"trace-{self.seed}")
        self.auth = AuthService(self.store, self.clock, self.ids)
        self.payments = Payments(self.store, self.clock, self.ids)

    def trace_id(self) -> str:
        return str(uuid.UUID(int=self._trace_rng.getrandbits(128), version=4))

    # ---- locations ----------------------------------------------------------------------------

    def locations(self) -> list[Location]:
        return self.store.all("locations")

    def location(self, location_id: str) -> Location | None:
        return self.store.get("locations", location_id)

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
        app = self.auth.app()
        assert app is not None
        seeded = seed_location(self.store, seed=location.seed, index=index, name=location.name,
                               orders=location.orders, app=app, location_id=location_id,
                               with_agency_token=index == 0)
        return seeded.location

    # ---- whole state --------------------------------------------------------------------------

    def reset(self, seed: int | None = None, orders: int | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        target_seed = self.seed if seed is None else seed
        target_orders = self.settings.orders if orders is None else orders
        if self._snapshot is not None and target_seed == self.seed and target_orders == self.settings.orders:
            self.store.restore(self._snapshot)
        else:
            self.store.import_({"tables": {}, "meta": {}})
            seed_world(self.store, target_seed, target_orders)
            self.seed = target_seed
            self.settings.orders = target_orders
            self._snapshot = self.store.snapshot()
        self._init_services()
        self.ratelimiter.reset()
        self.clock.reset()
        return {"seed": self.seed, "orders": target_orders, "resetMs": round((time.perf_counter() - t0) * 1000, 2)}

    def export_state(self) -> dict[str, Any]:
        data = self.store.export()
        return {"format": STATE_FORMAT, "version": STATE_VERSION, "seed": self.seed, **data}

    def import_state(self, data: Any) -> dict[str, int]:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError(f"state.format must be {STATE_FORMAT!r}")
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state.version must be {STATE_VERSION}")
        counts = self.store.import_(data)
        self.seed = int(self.store.get_meta("seed") or data.get("seed") or self.seed)
        self._init_services()
        self.ratelimiter.reset()
        return counts

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "seed": self.seed, "locations": len(self.locations()),
                "uptimeSeconds": round(time.time() - self.started, 3), "clock": self.clock.describe(),
                "rateLimit": self.ratelimiter.describe()}
