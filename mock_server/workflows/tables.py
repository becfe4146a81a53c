"""The workflows service's tables. Workflows, custom values and managed tokens are configuration: they
survive a reset (`survives_reset`); runs and simulated invoices are data of the location."""

from __future__ import annotations

from typing import Any

from mock_server.store import TableSpec, by_created, by_location, column
from mock_server.workflows.models import Invoice, Workflow
from mock_server.workflows.records import CustomValue, ManagedToken, WorkflowRun

LOC = column("location_id", "TEXT", by_location)

WORKFLOWS = TableSpec("workflows", Workflow, (
    LOC, column("created_at", "REAL", by_created), column("inbound_id", "TEXT", lambda w: w.inbound_id),
    column("trigger_type", "TEXT", lambda w: w.trigger_type)),
    ("location_id, created_at", "inbound_id"), location_scoped=True, survives_reset=True, read_mostly=True)
CUSTOM_VALUES = TableSpec("workflow_custom_values", CustomValue, (LOC, column("key", "TEXT", lambda c: c.key)),
                          ("location_id, key",), location_scoped=True, survives_reset=True)
TOKENS = TableSpec("workflow_tokens", ManagedToken, (LOC, column("created_at", "REAL", by_created)),
                   ("location_id",), location_scoped=True, survives_reset=True)
RUNS = TableSpec("workflow_runs", WorkflowRun, (
    LOC, column("created_at", "REAL", by_created), column("workflow_id", "TEXT", lambda r: r.workflow_id)),
    ("location_id, created_at", "workflow_id"), location_scoped=True)
INVOICES = TableSpec("workflow_invoices", Invoice, (LOC, column("created_at", "REAL", by_created)),
                     ("location_id",), location_scoped=True)

TABLES: tuple[TableSpec[Any], ...] = (WORKFLOWS, CUSTOM_VALUES, TOKENS, RUNS, INVOICES)
