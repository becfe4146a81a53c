"""The GHL Payments service as the runtime sees it: its tables, routes, webhook events, seeding, and
its state for one world (`world.Ghl`)."""

from __future__ import annotations

from pathlib import Path

from mock_server.ghl import state_files, tables
from mock_server.ghl.actions import ACTIONS
from mock_server.ghl.control import ghl_control_routes, simulate
from mock_server.ghl.models import App
from mock_server.ghl.seed import DEFAULT_ORDERS, seed_app, seed_location, seed_world
from mock_server.ghl.urls import api_routes
from mock_server.ghl.world import EVENT_TYPES, EXTENSION_EVENTS, Ghl
from mock_server.locations import Location
from mock_server.service import LocationSeed, Service
from mock_server.store import Store


def _seed_world(store: Store, seed: int, orders: int) -> None:
    seed_world(store, seed, orders)


def _seed_location(store: Store, spec: LocationSeed) -> Location:
    apps = store.table(App).all(order="")
    app = apps[0] if apps else seed_app(store, spec.seed)[0]
    return seed_location(store, seed=spec.seed, index=spec.index, name=spec.name,
                         orders=DEFAULT_ORDERS if spec.orders is None else spec.orders, app=app,
                         location_id=spec.location_id, with_agency_token=spec.first).location


SERVICE = Service(
    name="ghl",
    tables=tables.TABLES,
    routes=api_routes,
    start=Ghl,
    control_routes=ghl_control_routes,
    actions=ACTIONS,
    simulate=simulate,
    event_types=EVENT_TYPES,
    extension_event_types=frozenset(EXTENSION_EVENTS),
    seed_world=_seed_world,
    seed_location=_seed_location,
    visible_kinds=frozenset({"orders", "transactions", "subscriptions", "fulfillments", "order_notes", "providers", "prices",
                             "products", "contacts", "coupons",
                             "custom_providers"}),
    upgrade_state=state_files.upgrade_state,
    contracts=(Path(__file__).with_name("ghl-payments.openapi.yaml"),),
)
