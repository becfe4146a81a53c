"""Workflow records: a workflow (one trigger, its filters, its outbound actions) and the invoice
snapshot the workflows service simulates.

Storage: `Workflow` is itself the store record (a plain dataclass the store serialises as JSON). Its
`trigger` is `asdict(Trigger)` and its `actions` a list of `asdict(Action)` (snake_case keys, nested
lists of plain dicts), because the store rebuilds a record with `Workflow(**row)` and would hand nested
dataclasses back as dicts anyway. Code reads them typed through `Workflow.typed_trigger` and
`Workflow.typed_actions`, and builds a workflow from typed parts with `Workflow.build`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

TriggerType = Literal["payment_received", "order_submitted", "order_form_submission", "invoice", "subscription",
                      "refund", "inbound_webhook"]
TRIGGER_TYPES: tuple[str, ...] = get_args(TriggerType)
WorkflowStatus = Literal["published", "draft"]
WORKFLOW_STATUSES: tuple[str, ...] = get_args(WorkflowStatus)
ActionType = Literal["webhook", "custom_webhook"]
ACTION_TYPES: tuple[str, ...] = get_args(ActionType)
METHODS: tuple[str, ...] = ("POST", "GET", "PUT", "DELETE")
AuthType = Literal["none", "basic", "bearer", "api_key", "oauth2"]
AUTH_TYPES: tuple[str, ...] = get_args(AuthType)
CONTENT_TYPES: tuple[str, ...] = ("application/json", "application/x-www-form-urlencoded", "text/plain")
InvoiceStatus = Literal["sent", "paid", "partially_paid", "void"]
INVOICE_STATUSES: tuple[str, ...] = get_args(InvoiceStatus)


@dataclass(slots=True)
class KeyValue:
    key: str
    value: str  # a template: may hold {{merge.fields}}


@dataclass(slots=True)
class Filter:
    field: str  # camelCase, as the document writes it (paymentStatus)
    operator: str  # is | is_not | gt | lt | eq | empty | not_empty
    value: Any = None  # a string, a number for numeric filters, None for empty / not_empty


@dataclass(slots=True)
class Trigger:
    type: str
    filters: list[Filter] = field(default_factory=list)
    inbound_id: str = ""  # inbound_webhook only: the id in the trigger's URL


@dataclass(slots=True)
class Auth:
    type: str = "none"
    username: str = ""
    password: str = ""
    token: str = ""
    key_name: str = ""
    key_value: str = ""
    token_name: str = ""


@dataclass(slots=True)
class Action:
    id: str
    type: str  # webhook | custom_webhook
    name: str
    method: str
    url: str
    custom_data: list[KeyValue] = field(default_factory=list)  # webhook only
    headers: list[KeyValue] = field(default_factory=list)  # custom_webhook only
    query: list[KeyValue] = field(default_factory=list)  # custom_webhook only
    auth: Auth = field(default_factory=Auth)  # custom_webhook only
    content_type: str = "application/json"  # custom_webhook only
    body: str = ""  # custom_webhook only


def _pairs(rows: Any) -> list[KeyValue]:
    return [KeyValue(str(r["key"]), str(r["value"])) for r in rows or ()]


def trigger_from_dict(data: dict[str, Any]) -> Trigger:
    return Trigger(type=str(data["type"]),
                   filters=[Filter(f["field"], f["operator"], f.get("value")) for f in data.get("filters") or ()],
                   inbound_id=str(data.get("inbound_id", "")))


def action_from_dict(data: dict[str, Any]) -> Action:
    auth = data.get("auth") or {}
    return Action(
        id=str(data["id"]), type=str(data["type"]), name=str(data.get("name", "")),
        method=str(data.get("method", "POST")), url=str(data.get("url", "")),
        custom_data=_pairs(data.get("custom_data")), headers=_pairs(data.get("headers")),
        query=_pairs(data.get("query")), auth=Auth(**{k: str(v) for k, v in auth.items()}),
        content_type=str(data.get("content_type", "application/json")), body=str(data.get("body", "")),
    )


@dataclass(slots=True)
class Workflow:
    id: str  # a UUID, as GHL's workflow ids are
    location_id: str
    name: str
    status: str  # published | draft
    trigger: dict[str, Any]  # asdict(Trigger)
    actions: list[dict[str, Any]]  # [asdict(Action)]
    created_at: float
    updated_at: float

    @classmethod
    def build(cls, *, id: str, location_id: str, name: str, status: str, trigger: Trigger, actions: list[Action],
              created_at: float, updated_at: float) -> Workflow:
        return cls(id=id, location_id=location_id, name=name, status=status, trigger=asdict(trigger),
                   actions=[asdict(a) for a in actions], created_at=created_at, updated_at=updated_at)

    @property
    def typed_trigger(self) -> Trigger:
        return trigger_from_dict(self.trigger)

    @property
    def typed_actions(self) -> list[Action]:
        return [action_from_dict(a) for a in self.actions]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def inbound_id(self) -> str:
        return str(self.trigger.get("inbound_id", ""))

    @property
    def published(self) -> bool:
        return self.status == "published"

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.typed_actions if a.id == action_id), None)


@dataclass(slots=True)
class Invoice:
    """A simulated GHL invoice (the sandbox serves no invoices API): what the Invoice trigger's
    `invoice.updated` signal carries as `records["invoice"]` (its `asdict`)."""

    id: str
    location_id: str
    number: str  # e.g. "INV-000001"
    name: str
    status: str  # sent | paid | partially_paid | void
    contact_id: str
    amount_minor: int  # integer minor units
    currency: str
    issue_date: str  # YYYY-MM-DD
    due_date: str  # YYYY-MM-DD
    created_at: float
    updated_at: float
