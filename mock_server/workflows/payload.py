"""The HTTP request an action sends for one firing, rendered at fire time.

Standard *Webhook* action (`standard_request`): POST of GHL's contact-centred JSON, as live captures
show it — snake_case contact fields at the root, `tags` as one comma-joined string, `location{…,id}`,
`workflow{id,name}`, `triggerData: {}`, `contact{attributionSource,lastAttributionSource}`,
`attributionSource`, `customData{…}` (values rendered), plus the trigger's object at the root
(`payment{…}`, `order{…}`, …) when `payload_objects == "nested"`. No event id, no timestamp, no
signature; axios's headers.

*Custom Webhook* action (`custom_request`): the user's method, URL (query parameters appended,
URL-encoded), auth, headers and body template. Values inside a JSON body's string literals are
JSON-escaped, a form body's values percent-encoded; a GET/DELETE sends its body only when it renders
non-empty.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from mock_server import jsjson
from mock_server.workflows.merge import Escape, render
from mock_server.workflows.models import Action, Workflow
from mock_server.workflows.triggers import Firing, for_workflow

DEFAULT_USER_AGENT = "axios/1.13.2"
PAYLOAD_OBJECTS = ("nested", "none")
BASE_HEADERS = {"accept": "application/json, text/plain, */*", "accept-encoding": "gzip, compress, deflate, br"}
# contact fields at the root of the standard body: (body key, contact merge key, always present)
ROOT_CONTACT = (("contact_id", "id", True), ("first_name", "first_name", True), ("last_name", "last_name", True),
                ("full_name", "name", True), ("email", "email", True), ("phone", "phone", False),
                ("tags", "tags", True), ("address1", "address1", False), ("city", "city", False),
                ("state", "state", False), ("country", "country", True), ("timezone", "timezone", False),
                ("date_created", "date_created", True), ("postal_code", "postal_code", False),
                ("company_name", "company_name", False), ("website", "website", False),
                ("date_of_birth", "date_of_birth", False), ("contact_source", "source", False),
                ("full_address", "full_address", True))
ESCAPES: dict[str, Escape] = {"application/json": "json", "application/x-www-form-urlencoded": "form",
                              "text/plain": "raw"}


@dataclass(frozen=True)
class Rendered:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def traceparent(*parts: str) -> str:
    """A W3C traceparent, derived from `parts` (the same run of the same action: the same trace)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"00-{digest[:32]}-{digest[32:48]}-01"


def _set(headers: dict[str, str], name: str, value: str) -> None:
    """Set a header, replacing any of the same name whatever its case."""
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
    headers[name] = value.replace("\r", " ").replace("\n", " ")


def standard_body(firing: Firing, action: Action, *, payload_objects: str = "nested") -> dict[str, Any]:
    """The standard Webhook action's JSON body (see the module docstring)."""
    if payload_objects not in PAYLOAD_OBJECTS:
        raise ValueError(f"payload_objects must be one of {', '.join(PAYLOAD_OBJECTS)}, not {payload_objects!r}")
    context = firing.context
    contact: Mapping[str, Any] = context.get("contact") or {}
    body: dict[str, Any] = {}
    if contact:
        for key, source, always in ROOT_CONTACT:
            value = contact.get(source, "")
            if always or value:
                body[key] = value
        body["contact_type"] = "lead"
    location = context.get("location") or {}
    body["location"] = {"name": location.get("name", ""), "address": location.get("address", ""),
                        "city": location.get("city", ""), "state": location.get("state", ""),
                        "country": location.get("country", ""), "postalCode": location.get("postal_code", ""),
                        "fullAddress": location.get("full_address", ""), "id": location.get("id", firing.location_id)}
    workflow = context.get("workflow") or {}
    body["workflow"] = {"id": workflow.get("id", ""), "name": workflow.get("name", "")}
    body["triggerData"] = {}
    body["contact"] = {"attributionSource": dict(contact.get("attributionSource") or {}),
                       "lastAttributionSource": dict(contact.get("lastAttributionSource") or {})}
    body["attributionSource"] = {}
    body["customData"] = {kv.key: render(kv.value, context) for kv in action.custom_data}
    if payload_objects == "nested":
        for name, obj in firing.objects.items():
            body[name] = obj
    return body


def standard_request(workflow: Workflow, action: Action, firing: Firing, *, payload_objects: str,
                     user_agent: str = DEFAULT_USER_AGENT, trace: str = "") -> Rendered:
    """The standard Webhook action's request for one firing of `workflow`. `trace` (e.g. the run id)
    seeds the traceparent; without it the trace derives from the workflow, action and body."""
    firing = for_workflow(firing, workflow)
    body = jsjson.dumps(standard_body(firing, action, payload_objects=payload_objects))
    headers = {"content-type": "application/json", **BASE_HEADERS, "user-agent": user_agent,
               "traceparent": traceparent(workflow.id, action.id, trace or body.decode())}
    return Rendered(action.method or "POST", render(action.url, firing.context).strip(), headers, body)


def with_query(url: str, pairs: list[tuple[str, str]]) -> str:
    """`url` with `pairs` appended to its query string (URL-encoded), before any fragment."""
    if not pairs:
        return url
    base, hash_mark, fragment = url.partition("#")
    joiner = "&" if "?" in base and not base.endswith(("?", "&")) else "" if base.endswith(("?", "&")) else "?"
    return f"{base}{joiner}{urlencode(pairs)}{hash_mark}{fragment}"


def custom_request(action: Action, firing: Firing, tokens: Mapping[str, str], *, workflow: Workflow | None = None,
                   user_agent: str = DEFAULT_USER_AGENT, trace: str = "") -> Rendered:
    """The Custom Webhook action's request for one firing. `tokens`: managed OAuth2 access tokens by
    name (an oauth2 action whose token is missing is sent without Authorization). Pass `workflow` (or a
    firing already `for_workflow`) so `{{workflow.*}}` renders."""
    if workflow is not None:
        firing = for_workflow(firing, workflow)
    context = firing.context
    method = (action.method or "POST").upper()
    url = with_query(render(action.url, context).strip(),
                     [(kv.key, render(kv.value, context)) for kv in action.query])
    body_text = render(action.body, context, escape=ESCAPES.get(action.content_type, "raw")) if action.body else ""
    send_body = method in ("POST", "PUT") or bool(body_text.strip())
    body = body_text.encode() if send_body else b""
    headers: dict[str, str] = {}
    if send_body:
        headers["content-type"] = action.content_type
    headers.update(BASE_HEADERS)
    headers["user-agent"] = user_agent
    headers["traceparent"] = traceparent(action.id, url, trace or body_text)
    auth = action.auth
    if auth.type == "basic":
        pair = f"{render(auth.username, context)}:{render(auth.password, context)}"
        _set(headers, "Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    elif auth.type == "bearer":
        _set(headers, "Authorization", f"Bearer {render(auth.token, context)}")
    elif auth.type == "api_key":
        _set(headers, auth.key_name, render(auth.key_value, context))
    elif auth.type == "oauth2" and auth.token_name in tokens:
        _set(headers, "Authorization", f"Bearer {tokens[auth.token_name]}")
    for kv in action.headers:
        _set(headers, kv.key, render(kv.value, context))
    return Rendered(method, url, headers, body)
