"""The no-code workflows service as the runtime sees it: its tables (configuration that survives a
reset, runs and simulated invoices), the inbound webhook route, its control plane, the simulated action
`invoice.update`, and its per-world state (`world.WorkflowsWorld`), which listens to the other services'
signals."""

from __future__ import annotations

from pathlib import Path

from mock_server.service import Service
from mock_server.workflows import tables
from mock_server.workflows.actions import ACTIONS
from mock_server.workflows.control import simulate, workflows_control_routes
from mock_server.workflows.urls import workflows_routes
from mock_server.workflows.world import EVENT_TYPES, WorkflowsWorld

SERVICE = Service(
    name="workflows",
    tables=tables.TABLES,
    routes=workflows_routes,
    start=WorkflowsWorld,
    control_routes=workflows_control_routes,
    actions=ACTIONS,
    simulate=simulate,
    event_types=EVENT_TYPES,
    contracts=(Path(__file__).with_name("workflows.openapi.yaml"),),
)
