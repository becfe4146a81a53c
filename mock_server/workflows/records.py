"""The workflows service's own stored records besides `models.Workflow` and `models.Invoice`: location
custom values, managed OAuth2 tokens and the runs of workflows (one per firing of one workflow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CustomValue:
    """One custom value of a location (`{{custom_values.<key>}}`); id `<locationId>:<key>`."""

    id: str
    location_id: str
    key: str
    value: str
    updated_at: float


@dataclass(slots=True)
class ManagedToken:
    """An OAuth2 token the Custom Webhook's OAuth2 auth names (`tokenName`); id `<locationId>:<name>`.
    Fetched with client_credentials from `token_url`, or given as is (`access_token` only)."""

    id: str
    location_id: str
    name: str
    created_at: float
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = ""
    access_token: str = ""
    token_type: str = "Bearer"
    expires_at: float | None = None  # sandbox clock
    fetched_at: float | None = None
    error: str = ""  # why the last fetch failed ("" when it worked)


@dataclass(slots=True)
class WorkflowRun:
    """One workflow run: a firing of one workflow (or an inbound request to it)."""

    id: str
    location_id: str
    workflow_id: str
    workflow_name: str
    trigger: str  # the trigger type
    source: str  # the signal name, or "inbound"
    status: str  # executed | skipped (draft)
    created_at: float
    event_ids: list[str] = field(default_factory=list)  # one per action


@dataclass(slots=True)
class ActionCall:
    """What one action of one run sends (the event's snapshot): rendered at fire time."""

    id: str  # the run id + ":" + the action id
    location_id: str
    workflowId: str  # noqa: N815 - the snapshot's keys are the control plane's camelCase
    actionId: str  # noqa: N815
    runId: str  # noqa: N815
    request: dict[str, Any]  # {method, url, headers, body (text)}
