"""The control plane's workflow document (camelCase JSON) <-> `Workflow`.

`parse_workflow` validates a whole document and lists every problem it finds (`Problem(path, message)`,
e.g. `actions[1].body`), raising `WorkflowInvalid` when there is any: unknown or mistyped fields,
unknown trigger types, filter fields/operators/values the trigger does not offer, actions without a
usable URL or method, templates naming merge fields the trigger does not offer, a Custom Webhook JSON
body that is not JSON. Read-only fields (`id`, `locationId`, `trigger.inboundUrl`, `createdAt`,
`updatedAt`) are accepted and ignored, so a document read back can be written back.
`workflow_view` renders a workflow as that document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mock_server.clock import iso_ms
from mock_server.workflows import merge
from mock_server.workflows.models import (
    ACTION_TYPES,
    AUTH_TYPES,
    CONTENT_TYPES,
    METHODS,
    TRIGGER_TYPES,
    WORKFLOW_STATUSES,
    Action,
    Auth,
    Filter,
    KeyValue,
    Trigger,
    Workflow,
)
from mock_server.workflows.triggers import TRIGGERS, FilterSpec

HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
MAX_NAME = 200
DEFAULT_STATUS = "published"
ROOT_KEYS = {"id", "locationId", "name", "status", "trigger", "actions", "createdAt", "updatedAt"}
TRIGGER_KEYS = {"type", "filters", "inboundUrl"}
FILTER_KEYS = {"field", "operator", "value"}
COMMON_ACTION_KEYS = {"id", "type", "name", "method", "url"}
ACTION_KEYS = {"webhook": COMMON_ACTION_KEYS | {"customData"},
               "custom_webhook": COMMON_ACTION_KEYS | {"auth", "headers", "query", "contentType", "body"}}
AUTH_FIELDS = {"none": (), "basic": ("username", "password"), "bearer": ("token",),
               "api_key": ("keyName", "keyValue"), "oauth2": ("tokenName",)}
AUTH_ATTRS = {"username": "username", "password": "password", "token": "token", "keyName": "key_name",
              "keyValue": "key_value", "tokenName": "token_name"}
ACTION_LABELS = {"webhook": "Webhook", "custom_webhook": "Custom Webhook"}


@dataclass(frozen=True)
class Problem:
    path: str  # where in the document: "trigger.filters[0].value", "actions[1].body"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class WorkflowInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def keys(self, obj: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in obj:
            if key not in allowed:
                self.add(_join(path, key), f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def string(self, obj: dict[str, Any], key: str, path: str, *, default: str | None = None,
               required: bool = False) -> str:
        value = obj.get(key)
        if value is None:
            if required:
                self.add(_join(path, key), "is required")
            return default or ""
        if not isinstance(value, str):
            self.add(_join(path, key), f"must be a string, not {_kind(value)}")
            return default or ""
        if required and not value.strip():
            self.add(_join(path, key), "must not be empty")
        return value

    def objects(self, obj: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(_join(path, key), f"must be a list, not {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            where = f"{_join(path, key)}[{i}]"
            if isinstance(item, dict):
                out.append((where, item))
            else:
                self.add(where, f"must be an object, not {_kind(item)}")
        return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    return f"{value!r} is not one of {', '.join(allowed)}"


# ---- the trigger --------------------------------------------------------------------------------


def _filter(c: _Checker, trigger_type: str, raw: dict[str, Any], path: str) -> Filter | None:
    c.keys(raw, FILTER_KEYS, path)
    specs = TRIGGERS[trigger_type].filters
    name = c.string(raw, "field", path, required=True)
    operator = c.string(raw, "operator", path, default="is")
    if not name:
        return None
    spec: FilterSpec | None = specs.get(name)
    if spec is None:
        offered = ", ".join(specs) or "none"
        c.add(_join(path, "field"), f"{name!r} is not a filter of the {trigger_type} trigger (filters: {offered})")
        return None
    if operator not in spec.operators:
        c.add(_join(path, "operator"), f"{name} takes {', '.join(spec.operators)}, not {operator!r}")
        return None
    value = raw.get("value")
    if operator in ("empty", "not_empty"):
        if value not in (None, ""):
            c.add(_join(path, "value"), f"{operator} takes no value")
        return Filter(name, operator, None)
    where = _join(path, "value")
    if spec.numeric:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            c.add(where, f"{name} needs a number (major units), not {_kind(value)}")
            return None
        return Filter(name, operator, value)
    if not isinstance(value, str) or not value.strip():
        c.add(where, f"{name} needs a non-empty string value")
        return None
    if spec.values is not None:
        normal = value.strip().lower()
        if normal not in spec.values:
            c.add(where, _one_of(value, spec.values))
            return None
        value = normal
    return Filter(name, operator, value)


def _trigger(c: _Checker, raw: Any, existing: Workflow | None, new_id: Callable[[], str]) -> Trigger | None:
    if not isinstance(raw, dict):
        c.add("trigger", "is required (an object with a type)" if raw is None else f"must be an object, not {_kind(raw)}")
        return None
    c.keys(raw, TRIGGER_KEYS, "trigger")
    kind = c.string(raw, "type", "trigger", required=True)
    if not kind:
        return None
    if kind not in TRIGGER_TYPES:
        c.add("trigger.type", _one_of(kind, TRIGGER_TYPES))
        return None
    filters = [f for where, item in c.objects(raw, "filters", "trigger") if (f := _filter(c, kind, item, where))]
    inbound_id = ""
    if kind == "inbound_webhook":
        kept = existing.inbound_id if existing is not None and existing.trigger_type == kind else ""
        inbound_id = kept or new_id()
    return Trigger(kind, filters, inbound_id)


# ---- actions ------------------------------------------------------------------------------------


def _templates(c: _Checker, text: str, path: str, label: str, trigger_type: str | None) -> None:
    if trigger_type is None:
        return
    for problem in merge.template_problems(text, trigger_type):
        c.add(path, f"{label}: {problem}")


def _pairs(c: _Checker, raw: dict[str, Any], key: str, path: str, label: str, trigger_type: str | None, *,
           header: bool = False) -> list[KeyValue]:
    out = []
    for where, item in c.objects(raw, key, path):
        c.keys(item, {"key", "value"}, where)
        name = c.string(item, "key", where, required=True)
        value = item.get("value", "")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = merge.as_text(value)
        if not isinstance(value, str):
            c.add(_join(where, "value"), f"must be a string, not {_kind(value)}")
            continue
        if header and name and not HEADER_NAME.match(name):
            c.add(_join(where, "key"), f"{name!r} is not a valid header name")
        if header and ("\r" in value or "\n" in value):
            c.add(_join(where, "value"), "a header value cannot hold a line break")
        _templates(c, value, _join(where, "value"), label, trigger_type)
        if name:
            out.append(KeyValue(name, value))
    return out


def _url(c: _Checker, url: str, path: str, label: str, trigger_type: str | None) -> None:
    if not url.strip():
        return
    _templates(c, url, path, label, trigger_type)
    head = url.strip()
    if head.startswith("{{"):
        return  # the base comes from a merge field (a custom value): checked when it is sent
    if not re.match(r"^https?://[^\s/?#{}]+", head, re.IGNORECASE):
        c.add(path, f"{label}: the URL must start with http:// or https:// and a host (or a merge field)")
    elif any(ch.isspace() for ch in head):
        c.add(path, f"{label}: the URL cannot hold spaces")


def _auth(c: _Checker, raw: Any, path: str, label: str, trigger_type: str | None) -> Auth:
    if raw is None:
        return Auth()
    if not isinstance(raw, dict):
        c.add(path, f"must be an object, not {_kind(raw)}")
        return Auth()
    kind = c.string(raw, "type", path, default="none") or "none"
    if kind not in AUTH_TYPES:
        c.add(_join(path, "type"), _one_of(kind, AUTH_TYPES))
        return Auth()
    c.keys(raw, {"type", *AUTH_FIELDS[kind]}, path)
    values = {}
    for name in AUTH_FIELDS[kind]:
        value = c.string(raw, name, path, required=True)
        if kind == "api_key" and name == "keyName" and value and not HEADER_NAME.match(value):
            c.add(_join(path, name), f"{value!r} is not a valid header name")
        if name != "tokenName":
            _templates(c, value, _join(path, name), label, trigger_type)
        if "\r" in value or "\n" in value:
            c.add(_join(path, name), "cannot hold a line break")
        values[AUTH_ATTRS[name]] = value
    return Auth(type=kind, **values)


def _action(c: _Checker, raw: dict[str, Any], path: str, index: int, trigger_type: str | None,
            old_ids: set[str], taken: set[str], new_id: Callable[[], str]) -> Action | None:
    kind = c.string(raw, "type", path, required=True)
    if kind and kind not in ACTION_TYPES:
        c.add(_join(path, "type"), _one_of(kind, ACTION_TYPES))
    if kind not in ACTION_TYPES:
        return None
    c.keys(raw, ACTION_KEYS[kind], path)
    name = c.string(raw, "name", path) or f"{ACTION_LABELS[kind]} {index + 1}"
    label = f"action {name!r}"
    method = c.string(raw, "method", path, default="POST").upper() or "POST"
    if method not in METHODS:
        c.add(_join(path, "method"), _one_of(method, METHODS))
    url = c.string(raw, "url", path, required=True)
    _url(c, url, _join(path, "url"), label, trigger_type)
    given = raw.get("id")
    action_id = given if isinstance(given, str) and given in old_ids and given not in taken else new_id()
    taken.add(action_id)
    action = Action(id=action_id, type=kind, name=name, method=method, url=url.strip())
    if kind == "webhook":
        action.custom_data = _pairs(c, raw, "customData", path, label, trigger_type)
        return action
    action.auth = _auth(c, raw.get("auth"), _join(path, "auth"), label, trigger_type)
    action.headers = _pairs(c, raw, "headers", path, label, trigger_type, header=True)
    action.query = _pairs(c, raw, "query", path, label, trigger_type)
    content_type = c.string(raw, "contentType", path, default="application/json") or "application/json"
    if content_type not in CONTENT_TYPES:
        c.add(_join(path, "contentType"), _one_of(content_type, CONTENT_TYPES))
    action.content_type = content_type
    body = raw.get("body")
    if isinstance(body, (dict, list)):
        c.add(_join(path, "body"), "must be a string (the JSON text, merge fields included), not "
              f"{_kind(body)}")
        body = ""
    action.body = c.string({"body": body}, "body", path)
    if action.body.strip():
        before = len(c.problems)
        _templates(c, action.body, _join(path, "body"), label, trigger_type)
        if content_type == "application/json" and len(c.problems) == before:
            problem = merge.json_problem(action.body)
            if problem:
                c.add(_join(path, "body"), f"{label}: {problem}")
    return action


# ---- the document -------------------------------------------------------------------------------


def parse_workflow(doc: Any, *, location_id: str, new_id: Callable[[], str], existing: Workflow | None = None,
                   now: float) -> Workflow:
    """A validated workflow from a control-plane document (a new one, or `existing` replaced: its id,
    creation time, inbound id and the ids of actions the document names again are kept)."""
    c = _Checker()
    if not isinstance(doc, dict):
        raise WorkflowInvalid([Problem("", f"a workflow must be a JSON object, not {_kind(doc)}")])
    c.keys(doc, ROOT_KEYS, "")
    given_location = doc.get("locationId")
    if existing is not None and given_location not in (None, "", existing.location_id):
        c.add("locationId", f"a workflow cannot move to another location (it belongs to {existing.location_id})")
    elif given_location is not None and not isinstance(given_location, str):
        c.add("locationId", f"must be a string, not {_kind(given_location)}")
    name = c.string(doc, "name", "", required=True).strip()
    if len(name) > MAX_NAME:
        c.add("name", f"must be at most {MAX_NAME} characters")
    status = c.string(doc, "status", "", default=DEFAULT_STATUS) or DEFAULT_STATUS
    if status not in WORKFLOW_STATUSES:
        c.add("status", _one_of(status, WORKFLOW_STATUSES))
    trigger = _trigger(c, doc.get("trigger"), existing, new_id)
    # Templates are checked against the trigger only when the trigger itself is valid.
    trigger_type = trigger.type if trigger is not None else None
    old_ids = {a["id"] for a in existing.actions} if existing is not None else set()
    taken: set[str] = set()
    actions = [a for i, (where, raw) in enumerate(c.objects(doc, "actions", ""))
               if (a := _action(c, raw, where, i, trigger_type, old_ids, taken, new_id)) is not None]
    if c.problems or trigger is None:
        raise WorkflowInvalid(c.problems or [Problem("trigger", "is required")])
    return Workflow.build(
        id=existing.id if existing is not None else new_id(),
        location_id=existing.location_id if existing is not None else location_id, name=name, status=status,
        trigger=trigger, actions=actions, created_at=existing.created_at if existing is not None else now,
        updated_at=now,
    )


def inbound_url(w: Workflow, inbound_base: str) -> str:
    return f"{inbound_base.rstrip('/')}/hooks/{w.location_id}/webhook-trigger/{w.inbound_id}"


def _pairs_view(pairs: list[KeyValue]) -> list[dict[str, str]]:
    return [{"key": p.key, "value": p.value} for p in pairs]


def _action_view(a: Action) -> dict[str, Any]:
    view: dict[str, Any] = {"id": a.id, "type": a.type, "name": a.name, "method": a.method, "url": a.url}
    if a.type == "webhook":
        view["customData"] = _pairs_view(a.custom_data)
        return view
    auth: dict[str, Any] = {"type": a.auth.type}
    for name in AUTH_FIELDS.get(a.auth.type, ()):
        auth[name] = getattr(a.auth, AUTH_ATTRS[name])
    view.update({"auth": auth, "headers": _pairs_view(a.headers), "query": _pairs_view(a.query),
                 "contentType": a.content_type, "body": a.body})
    return view


def workflow_view(w: Workflow, inbound_base: str) -> dict[str, Any]:
    """The workflow as the control plane shows it; `inbound_base` is the sandbox's API origin."""
    trigger = w.typed_trigger
    trigger_view: dict[str, Any] = {
        "type": trigger.type,
        "filters": [{"field": f.field, "operator": f.operator, **({} if f.value is None else {"value": f.value})}
                    for f in trigger.filters],
    }
    if trigger.type == "inbound_webhook":
        trigger_view["inboundUrl"] = inbound_url(w, inbound_base)
    return {"id": w.id, "locationId": w.location_id, "name": w.name, "status": w.status, "trigger": trigger_view,
            "actions": [_action_view(a) for a in w.typed_actions], "createdAt": iso_ms(w.created_at),
            "updatedAt": iso_ms(w.updated_at)}
