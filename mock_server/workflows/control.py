"""The workflows service's part of the control plane (contracts/sandbox-control.openapi.yaml, tag
Workflows): workflows, templates, custom values, managed OAuth2 tokens, runs, and the simulated action
`invoice.update`."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.clock import iso_ms
from mock_server.control.common import body, sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.control.validation import check_body, validated_body, validated_query
from mock_server.control.webhooks import receiver_url
from mock_server.errors import Invalid, NotFound
from mock_server.http.errors import json_response
from mock_server.http.tls import client_context
from mock_server.webhooks import queries as webhook_queries
from mock_server.webhooks.queries import DeliveryFilter
from mock_server.workflows import templates
from mock_server.workflows.actions import ACTIONS
from mock_server.workflows.models import Invoice
from mock_server.workflows.records import ManagedToken, WorkflowRun
from mock_server.workflows.world import WorkflowsWorld, workflows_world

TOKEN_TIMEOUT_S = 10.0


def _world(request: Request) -> WorkflowsWorld:
    return workflows_world(sandbox(request))


def _location(request: Request, location_id: Any) -> str:
    """The given location (404 when unknown), or the first one."""
    sb = sandbox(request)
    if not location_id:
        locations = sb.locations()
        if not locations:
            raise Invalid("locationId is required (the sandbox has no locations)")
        return locations[0].id
    if sb.location(str(location_id)) is None:
        raise NotFound(f"Location {location_id} not found")
    return str(location_id)


def _base(request: Request) -> str:
    """The sandbox's API host as this request reached it (inbound webhook URLs are shown on it)."""
    return str(request.base_url).rstrip("/")


# ---- workflows ----------------------------------------------------------------------------------------


async def list_workflows(request: Request) -> Response:
    query = validated_query(request, "sandbox-workflows-list")
    location_id = query.get("locationId")
    if location_id:
        _location(request, location_id)
    world = _world(request)
    found = world.workflows(location_id or None)
    return json_response({"workflows": [world.view(w, _base(request)) for w in found], "total": len(found)})


async def create_workflow(request: Request) -> Response:
    data = await validated_body(request, "sandbox-workflows-create")
    world = _world(request)
    workflow = world.save(data, _location(request, data.get("locationId")))
    return json_response(world.view(workflow, _base(request)), status=201)


async def delete_workflows(request: Request) -> Response:
    query = validated_query(request, "sandbox-workflows-delete-all")
    location_id = query.get("locationId")
    if location_id:
        _location(request, location_id)
    return json_response({"deleted": _world(request).delete_all(location_id or None)})


async def get_workflow(request: Request) -> Response:
    world = _world(request)
    return json_response(world.view(world.workflow(request.path_params["workflowId"]), _base(request)))


async def put_workflow(request: Request) -> Response:
    world = _world(request)
    existing = world.workflow(request.path_params["workflowId"])
    data = await validated_body(request, "sandbox-workflows-replace")
    if data.get("locationId") not in (None, existing.location_id):
        raise Invalid("locationId cannot change: a workflow stays in its location")
    workflow = world.save(data, existing.location_id, existing)
    return json_response(world.view(workflow, _base(request)))


async def delete_workflow(request: Request) -> Response:
    workflow_id = request.path_params["workflowId"]
    _world(request).delete(workflow_id)
    return json_response({"deleted": True, "id": workflow_id})


def run_view(run: WorkflowRun) -> dict[str, Any]:
    return {"id": run.id, "workflowId": run.workflow_id, "workflowName": run.workflow_name, "trigger": run.trigger,
            "locationId": run.location_id, "source": run.source, "status": run.status,
            "at": iso_ms(run.created_at), "eventIds": list(run.event_ids)}


async def list_runs(request: Request) -> Response:
    query = validated_query(request, "sandbox-workflows-runs")
    location_id = query.get("locationId")
    if location_id:
        _location(request, location_id)
    runs = _world(request).runs(location_id or None, query.get("workflowId") or None)
    return json_response({"runs": [run_view(r) for r in runs], "total": len(runs)})


# ---- templates ----------------------------------------------------------------------------------------


async def list_templates(request: Request) -> Response:
    found = [templates.summary(name, t) for name in templates.names() if (t := templates.load(name)) is not None]
    return json_response({"templates": found, "total": len(found)})


async def load_template(request: Request) -> Response:
    name = request.path_params["name"]
    template = templates.load(name)
    if template is None:
        raise NotFound(f"Template {name} not found; known: {', '.join(templates.names())}")
    data = await validated_body(request, "sandbox-workflows-load-template")
    location_id = _location(request, data.get("locationId"))
    world = _world(request)
    with world.store.transaction():  # the custom values and the workflow, or neither
        if data.get("customValues"):
            world.set_custom_values(location_id, data["customValues"])
        workflow = world.save(templates.document(template), location_id)
    return json_response(world.view(workflow, _base(request)), status=201)


# ---- custom values ------------------------------------------------------------------------------------


async def get_custom_values(request: Request) -> Response:
    query = validated_query(request, "sandbox-workflows-get-custom-values")
    location_id = _location(request, query.get("locationId"))
    return json_response({"locationId": location_id, "values": _world(request).custom_values(location_id)})


async def put_custom_values(request: Request) -> Response:
    data = await validated_body(request, "sandbox-workflows-put-custom-values")
    location_id = _location(request, data.get("locationId") or request.query_params.get("locationId"))
    values = _world(request).set_custom_values(location_id, data["values"])
    return json_response({"locationId": location_id, "values": values})


# ---- managed OAuth2 tokens ----------------------------------------------------------------------------


def token_view(t: ManagedToken) -> dict[str, Any]:
    return {"name": t.name, "locationId": t.location_id, "managed": bool(t.token_url), "tokenUrl": t.token_url or None,
            "clientId": t.client_id or None, "scope": t.scope or None, "accessToken": t.access_token or None,
            "tokenType": t.token_type, "expiresAt": iso_ms(t.expires_at) if t.expires_at is not None else None,
            "fetchedAt": iso_ms(t.fetched_at) if t.fetched_at is not None else None, "error": t.error or None,
            "createdAt": iso_ms(t.created_at)}


async def fetch_token(token: ManagedToken, now: float) -> ManagedToken:
    """Ask `token.token_url` for a token (OAuth2 client_credentials, client_secret_post). A failure is
    kept on the token (`error`) and raised as a 422."""
    form = {"grant_type": "client_credentials", "client_id": token.client_id, "client_secret": token.client_secret}
    if token.scope:
        form["scope"] = token.scope
    problem = ""
    try:
        async with httpx.AsyncClient(timeout=TOKEN_TIMEOUT_S, verify=client_context()) as client:
            response = await client.post(token.token_url, data=form, headers={"accept": "application/json"})
        answer = response.json() if response.content else {}
        if response.status_code >= 300:
            problem = f"the token endpoint answered {response.status_code}"
        elif not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            problem = "the token endpoint's answer has no access_token"
        else:
            token.access_token = answer["access_token"]
            token.token_type = str(answer.get("token_type") or "Bearer")
            expires_in = answer.get("expires_in")
            token.expires_at = now + float(expires_in) if isinstance(expires_in, (int, float)) else None
            token.fetched_at, token.error = now, ""
    except (httpx.HTTPError, ValueError) as exc:
        problem = f"cannot reach the token endpoint: {type(exc).__name__}: {exc}"
    if problem:
        token.error = problem
    return token


async def list_tokens(request: Request) -> Response:
    query = validated_query(request, "sandbox-workflows-list-tokens")
    location_id = _location(request, query.get("locationId"))
    found = _world(request).tokens(location_id)
    return json_response({"tokens": [token_view(t) for t in found], "total": len(found)})


async def create_token(request: Request) -> Response:
    data = await validated_body(request, "sandbox-workflows-create-token")
    location_id = _location(request, data.get("locationId"))
    world = _world(request)
    now = world.clock.now()
    token = ManagedToken(id=f"{location_id}:{data['name']}", location_id=location_id, name=data["name"], created_at=now)
    if data.get("accessToken"):
        token.access_token, token.fetched_at = data["accessToken"], now
    else:
        missing = [k for k in ("tokenUrl", "clientId", "clientSecret") if not data.get(k)]
        if missing:
            raise Invalid(*[f"{k} should not be empty (or give accessToken)" for k in missing])
        token.token_url, token.client_id = receiver_url(data["tokenUrl"]), data["clientId"]
        token.client_secret, token.scope = data["clientSecret"], data.get("scope") or ""
        await fetch_token(token, now)
        if token.error:
            raise Invalid(f"tokenUrl: {token.error}")
    return json_response(token_view(world.put_token(token)), status=201)


async def refresh_token(request: Request) -> Response:
    location_id = _location(request, request.query_params.get("locationId"))
    world = _world(request)
    token = world.token(location_id, request.path_params["name"])
    if not token.token_url:
        raise Invalid(f"Token {token.name} was given as is: there is no token endpoint to refresh it from")
    await fetch_token(token, world.clock.now())
    world.put_token(token)
    if token.error:
        raise Invalid(f"tokenUrl: {token.error}")
    return json_response(token_view(token))


async def delete_token(request: Request) -> Response:
    location_id = _location(request, request.query_params.get("locationId"))
    name = request.path_params["name"]
    _world(request).delete_token(location_id, name)
    return json_response({"deleted": True, "name": name})


# ---- the simulated action invoice.update --------------------------------------------------------------


def invoice_view(i: Invoice) -> dict[str, Any]:
    return {"id": i.id, "locationId": i.location_id, "number": i.number, "name": i.name, "status": i.status,
            "contactId": i.contact_id, "amount": i.amount_minor / 100, "currency": i.currency,
            "issueDate": i.issue_date, "dueDate": i.due_date, "createdAt": iso_ms(i.created_at),
            "updatedAt": iso_ms(i.updated_at)}


async def simulate(request: Request, action: str) -> Response:
    """`POST /_sandbox/simulate/invoice.update` (the shared dispatcher calls it)."""
    sb = sandbox(request)
    if action not in ACTIONS:
        raise NotFound(f"Unknown action {action}; known: {', '.join(ACTIONS)}")
    data = await body(request)
    check_body("sandbox-simulate-invoice-update", data)
    location_id = _location(request, data.get("locationId"))
    invoice, events = _world(request).invoice_update(location_id, data)
    sb.webhooks.wake()
    webhooks = []
    for event in events:
        deliveries = webhook_queries.deliveries(sb.store, DeliveryFilter(event_id=event.id))
        webhooks.append({"eventId": event.id, "event": event.type, "resourceId": event.resource_id,
                         "extension": event.extension,
                         "deliveries": [{"id": d.id, "webhookId": d.webhook_id, "targetId": d.target_id,
                                         "status": d.status, "chaos": d.chaos} for d in deliveries]})
    view = {"action": action, "resources": [{"type": "invoice", "id": invoice.id, "data": invoice_view(invoice)}],
            "webhooks": webhooks}
    sb.bus.publish_action(view, location_id)  # the dashboard's live feed
    return json_response(view)


WORKFLOWS_CONTROL_TABLE: RouteTable = (
    ("/_sandbox/workflows", ["GET"], list_workflows),
    ("/_sandbox/workflows", ["POST"], create_workflow),
    ("/_sandbox/workflows", ["DELETE"], delete_workflows),
    ("/_sandbox/workflows/templates", ["GET"], list_templates),
    ("/_sandbox/workflows/templates/{name}", ["POST"], load_template),
    ("/_sandbox/workflows/custom-values", ["GET"], get_custom_values),
    ("/_sandbox/workflows/custom-values", ["PUT"], put_custom_values),
    ("/_sandbox/workflows/tokens", ["GET"], list_tokens),
    ("/_sandbox/workflows/tokens", ["POST"], create_token),
    ("/_sandbox/workflows/tokens/{name}", ["DELETE"], delete_token),
    ("/_sandbox/workflows/tokens/{name}/refresh", ["POST"], refresh_token),
    ("/_sandbox/workflows/runs", ["GET"], list_runs),
    ("/_sandbox/workflows/{workflowId}", ["GET"], get_workflow),
    ("/_sandbox/workflows/{workflowId}", ["PUT"], put_workflow),
    ("/_sandbox/workflows/{workflowId}", ["DELETE"], delete_workflow),
)


def workflows_control_routes() -> list[BaseRoute]:
    return table_routes(WORKFLOWS_CONTROL_TABLE)
