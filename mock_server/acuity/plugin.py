"""The fake Acuity as the runtime sees it: its tables, routes, seeding (after GHL's: it reads the
location's GHL contacts) and its per-world state (`world.AcuityWorld`)."""

from __future__ import annotations

from pathlib import Path

from mock_server.acuity import seed, tables
from mock_server.acuity.actions import ACTIONS
from mock_server.acuity.control import acuity_control_routes, simulate
from mock_server.acuity.urls import acuity_routes
from mock_server.acuity.webhooks import EVENT_TYPES
from mock_server.acuity.world import AcuityWorld
from mock_server.service import Service

SERVICE = Service(
    name="acuity",
    tables=tables.TABLES,
    routes=acuity_routes,
    start=AcuityWorld,
    control_routes=acuity_control_routes,
    actions=ACTIONS,
    simulate=simulate,
    event_types=EVENT_TYPES,
    seed_world=seed.seed_world,
    seed_location=seed.seed_location,
    visible_kinds=tables.VISIBLE_KINDS,
    contracts=(Path(__file__).with_name("acuity.openapi.yaml"),),
)
