"""What a fake service plugs into the runtime with, in the way moto's services do: its tables
(`models`), its routes (`urls`, handlers in `responses`), the webhook events it sends, how it seeds a
world and a location, and the per-world state it builds on start and after every reset.

The runtime and the shared parts (store, clock, journal, faults, signing, delivery, control plane,
dashboard) know services only through this interface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.clock import SandboxClock
from mock_server.ids import IdFactory
from mock_server.locations import Location
from mock_server.panels import PersonMatch, Query, Table, Who
from mock_server.settings import Settings
from mock_server.signals import Signals
from mock_server.store import Store, TableSpec
from mock_server.webhooks.events import EventLog
from mock_server.webhooks.message import WebhookMessage
from mock_server.webhooks.models import Delivery, Event, WebhookTarget

if TYPE_CHECKING:
    from mock_server.webhooks.service import WebhookService


@dataclass(frozen=True)
class WorldContext:
    """What a service's per-world state is built from. `ids` is the world's run-time id stream: every
    service draws from the same one, so one seed gives the same ids whatever the services do."""

    settings: Settings
    store: Store
    clock: SandboxClock
    ids: IdFactory
    events: EventLog
    seed: int
    webhooks: WebhookService
    # What services tell each other inside a change's transaction (mock_server.signals); one per world.
    signals: Signals = field(default_factory=Signals)


@dataclass(frozen=True)
class LocationSeed:
    """One location to seed (a fresh one, or an existing one put back to its seeded state)."""

    seed: int  # the world seed the location's data is drawn from
    index: int  # its position among the locations: names and streams follow it
    name: str
    orders: int | None  # None: the service's default size
    location_id: str | None = None  # set when an existing location is re-seeded
    first: bool = False  # the world's first location (it also gets the agency-level token)


class ServiceWorld:
    """A service's state for one world: built on start, dropped and built anew by a reset or a
    state import. The hooks do nothing unless a service needs them."""

    def tick(self, since: float) -> None:
        """The sandbox clock moved past `since`: apply what time does (renewals, settlements)."""

    def webhook_message(self, event: Event, delivery: Delivery, target: WebhookTarget) -> WebhookMessage | None:
        """The exact wire message of one delivery attempt of `event` to `target` (body, headers with its
        signatures, the service's retry policy if it has its own), or None if the event is not this
        service's."""
        return None

    def location_fields(self, location: Location) -> dict[str, Any]:
        """What the control plane lists for a location besides its own facts (credentials, accounts)."""
        return {}

    def location_of_bearer(self, secret: str) -> str | None:
        """The location a bearer credential of this service belongs to (fault rules match on it)."""
        return None

    def on_store_write(self, kind: str) -> None:
        """Called after every store write, with the kind of record written (for caches)."""

    # ---- the dashboard (mock_server.panels): plain rows, never HTTP ------------------------------

    def dashboard_tables(self, location_id: str) -> list[Table]:
        """The service's state tables for one location (the dashboard's State panel)."""
        return []

    def dashboard_people(self, location_id: str, query: Query) -> list[PersonMatch]:
        """The people of the location this service knows that match a customer search."""
        return []

    def dashboard_customer(self, location_id: str, who: Who) -> list[Table]:
        """The service's records of these people (the dashboard's customer panel)."""
        return []


@dataclass(frozen=True)
class Service:
    name: str
    tables: tuple[TableSpec[Any], ...]
    routes: Callable[[], Sequence[BaseRoute]]
    start: Callable[[WorldContext], ServiceWorld]
    # Its part of the control plane under /_sandbox (simulated actions, credentials, inspection).
    control_routes: Callable[[], Sequence[BaseRoute]] = tuple
    actions: tuple[str, ...] = ()  # the simulated actions `POST /_sandbox/simulate/{action}` runs
    # Runs one of its `actions` for `POST /_sandbox/simulate/{action}`: (request, action) -> answer.
    simulate: Callable[[Request, str], Awaitable[Response]] | None = None
    event_types: tuple[str, ...] = ()  # every webhook event type the service can send
    extension_event_types: frozenset[str] = frozenset()  # of those, the ones the real service never sends
    # Seeding: the whole default world, and one location (its own data, for a new or reset location).
    seed_world: Callable[[Store, int, int], None] | None = None
    seed_location: Callable[[Store, LocationSeed], Location] | None = None
    # Kinds of record whose writes change what the service's API answers (they empty the GET cache).
    visible_kinds: frozenset[str] = frozenset()
    # A whole-state document of an older version (`/_sandbox/state`, a `--state` file) with the
    # service's tables brought to the current version: (document, its version) -> document.
    upgrade_state: Callable[[dict[str, Any], int], dict[str, Any]] | None = None
    # Its OpenAPI documents (package data), served by the control plane under `/_sandbox/openapi/{name}`,
    # the name being the file's without `.openapi.yaml`.
    contracts: tuple[Path, ...] = ()
