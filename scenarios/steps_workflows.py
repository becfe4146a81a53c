"""GHL workflows in scenarios (`services: [workflows]`; design i12 §2, contracts/CLIENT_CONTRACT.md §7).

The runner's setup for a workflow scenario: delete every workflow, set the location's custom values
(`workflow_url`, `workflow_secret`, `rankr_base_url`, `rankr_api_key`, plus the project's own), load the
project's workflow files (or the library's default, Payment Received -> Custom Webhook to the client's
`workflow_webhook` route) and apply `setup.workflowChaos` to the workflows' webhook targets. Steps:
`workflowWebhook: no-secret | wrong-secret` (a workflow-shaped post for a made-up transaction, shaped
like the project's own workflow action, without or with a wrong secret) and `workflowChaos`.
Everything goes through the sandbox's control plane (`/_sandbox/workflows...`)."""

from __future__ import annotations

import base64
import json
import random
import re
import secrets
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml

from mock_server.client import client_context
from scenarios import templates
from scenarios.context import HarnessError, NotApplicable, ScenarioContext, WorkflowRun
from scenarios.project import ClientSpec
from scenarios.project_workflows import LIBRARY_WORKFLOW, read_documents
from scenarios.steps import step

WORKFLOWS = "workflows"
WORKFLOW_STEPS = frozenset({"workflowWebhook", "workflowChaos"})
WORKFLOW_SETUP_KEYS = ("workflowChaos",)
SECRET_HEADER = "X-Workflow-Secret"
FORGED_KINDS = ("no-secret", "wrong-secret")
_MERGE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_MARK = "\x00workflow-secret\x00"  # where the rendered request carries the workflow secret


def new_secret() -> str:
    """A per-scenario random shared secret (`{workflow.secret}`, `GHL_WORKFLOW_SECRET`)."""
    return secrets.token_urlsafe(24)


def has_workflows(sandbox: Any) -> bool:
    """Whether the sandbox serves the workflows control plane (`GET /_sandbox/workflows`)."""
    try:
        sandbox.control("GET", "/workflows")
    except (HarnessError, httpx.HTTPError):
        return False
    return True


def clear(sandbox: Any) -> int:
    """Delete every workflow (of every location): workflows are configuration and survive a reset."""
    answer = sandbox.control("DELETE", "/workflows")
    return int(answer.get("deleted", 0)) if isinstance(answer, dict) else 0


def custom_values(spec: ClientSpec, values: Mapping[str, str], client_url: str) -> dict[str, str]:
    """The location's custom values for a workflow scenario: the harness's four, then the project's."""
    route = spec.routes.workflow_webhook or ""
    out = {"workflow_url": client_url + route, "workflow_secret": values["workflow.secret"],
           "rankr_base_url": values["rankr.base_url"], "rankr_api_key": values["rankr.api_key"]}
    for key, template in spec.workflows.custom_values.items():
        out[key] = templates.render(template, values)
    return out


def documents(spec: ClientSpec) -> list[dict[str, Any]]:
    """The workflow documents to load: the project's files, else the library's default."""
    if spec.workflows.documents:
        return spec.workflows.documents
    return read_documents(LIBRARY_WORKFLOW, "workflows.files")


def workflow_targets(ctx: ScenarioContext) -> list[dict[str, Any]]:
    """The webhook targets of the location's workflow actions."""
    return [t for t in ctx.sandbox.targets()
            if t.get("service") == WORKFLOWS and t.get("locationId") in (ctx.location_id, None)]


def set_chaos(ctx: ScenarioContext, chaos: dict[str, Any] | None) -> int:
    targets = workflow_targets(ctx)
    for t in targets:
        ctx.control("PUT", f"/webhooks/targets/{t['id']}/chaos", json=chaos or {})
    return len(targets)


def setup(ctx: ScenarioContext, spec: ClientSpec, scenario_setup: dict[str, Any], values: Mapping[str, str]) -> None:
    """After the reset, with the client running: custom values, the workflows, their chaos; and the
    transactions that exist before the first step (the checks judge only those made during the scenario)."""
    if spec.routes.workflow_webhook is None:
        raise NotApplicable("the client takes no GHL workflow webhooks (client.routes.workflow_webhook is empty)")
    run = WorkflowRun(secret=values["workflow.secret"], url=ctx.client.url + spec.routes.workflow_webhook)
    ctx.workflow = run
    clear(ctx.sandbox)
    run.custom_values = custom_values(spec, values, ctx.client.url)
    ctx.control("PUT", "/workflows/custom-values", params={"locationId": ctx.location_id},
                json={"values": run.custom_values})
    run.documents = documents(spec)
    for i, doc in enumerate(run.documents):
        try:
            made = ctx.control("POST", "/workflows", json={**doc, "locationId": ctx.location_id})
        except HarnessError as exc:
            name = doc.get("name") or f"workflow {i}"
            raise HarnessError(f"the sandbox refused the workflow {name!r}: {exc}") from None
        if isinstance(made, dict) and made.get("id"):
            run.workflow_ids.append(str(made["id"]))
    if scenario_setup.get("workflowChaos"):
        set_chaos(ctx, scenario_setup["workflowChaos"])
    run.baseline_transactions = {str(t["_id"]) for t in ctx.ghl_state()["transactions"]}


def require(ctx: ScenarioContext) -> WorkflowRun:
    if ctx.workflow is None:
        raise HarnessError("this step needs GHL workflows: declare `services: [workflows]` in the scenario")
    return ctx.workflow


@step("workflowChaos")
def workflow_chaos(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """Chaos on every workflow webhook target of the location (`drop: 1.0` loses every delivery); null clears it."""
    require(ctx)
    n = set_chaos(ctx, spec["workflowChaos"])
    return f"workflow chaos {spec['workflowChaos']} on {n} target(s)"


# ---- harness-made workflow posts --------------------------------------------------------------------

def render(text: str, context: Mapping[str, str]) -> str:
    """`{{path}}` -> its value in `context`; a path it does not know renders as "0" (valid bare and quoted)."""
    return _MERGE.sub(lambda m: context.get(m.group(1), "0"), text)


def fake_context(location_id: str, bogus_txn: str, bogus_order: str, custom: Mapping[str, str], secret: str,
                 n: int) -> dict[str, str]:
    """Merge-field values of a made-up payment; wherever a custom value holds the workflow secret, a marker
    stands for it (see `forged_request`)."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    out = {"payment.transaction_id": bogus_txn, "payment.order_id": bogus_order, "payment.total_amount": "12.34",
           "payment.sub_total_amount": "12.34", "payment.currency_code": "USD", "payment.currency_symbol": "$",
           "payment.payment_status": "success", "payment.customer.email": f"forged{n}@example.org",
           "payment.customer.name": "Forged Payer", "payment.created_on": now, "payment.source": "funnel",
           "contact.email": f"forged{n}@example.org", "location.id": location_id, "right_now.iso": now}
    for key, value in custom.items():
        out[f"custom_values.{key}"] = value.replace(secret, _MARK) if secret else value
    return out


def _pairs(items: Any) -> list[tuple[str, str]]:
    return [(str(i.get("key", "")), str(i.get("value", ""))) for i in items or [] if isinstance(i, dict)]


def forged_request(kind: str, action: dict[str, Any], context: Mapping[str, str],
                   wrong: str) -> tuple[str, str, dict[str, str], bytes]:
    """(method, URL, headers, body) of a workflow-shaped post made by the harness (pure: unit-tested): the
    project's action rendered with a made-up payment, where the workflow secret is left out (`no-secret`:
    a header or query parameter carrying it is dropped, in a body it is "") or replaced (`wrong-secret`)."""
    if kind not in FORGED_KINDS:
        raise HarnessError(f"unknown workflow post kind {kind!r}")

    def fill(text: str) -> str:
        return render(text, context).replace(_MARK, "" if kind == "no-secret" else wrong)

    def carries(text: str) -> bool:
        return _MARK in render(text, context)

    method = str(action.get("method") or "POST").upper()
    url = render(str(action.get("url") or "{{custom_values.workflow_url}}"), context)
    headers: dict[str, str] = {}
    query = [(k, fill(v)) for k, v in _pairs(action.get("query")) if not (kind == "no-secret" and carries(v))]
    auth: dict[str, Any] = action["auth"] if isinstance(action.get("auth"), dict) else {}
    auth_type = str(auth.get("type") or "none")
    if auth_type == "bearer" and not (kind == "no-secret" and carries(str(auth.get("token", "")))):
        headers["Authorization"] = "Bearer " + fill(str(auth.get("token", "")))
    elif auth_type == "api_key" and not (kind == "no-secret" and carries(str(auth.get("keyValue", "")))):
        headers[fill(str(auth.get("keyName", "")))] = fill(str(auth.get("keyValue", "")))
    elif auth_type == "basic":
        user, password = fill(str(auth.get("username", ""))), fill(str(auth.get("password", "")))
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    for k, v in _pairs(action.get("headers")):
        if not (kind == "no-secret" and carries(v)):
            headers[k] = fill(v)
    if action.get("type") == "webhook":  # the standard action: its JSON payload with customData
        custom = {k: fill(v) for k, v in _pairs(action.get("customData"))}
        payload = {"contact_id": "", "email": context.get("contact.email", ""),
                   "location": {"id": context.get("location.id", "")}, "workflow": {"id": "", "name": ""},
                   "triggerData": {}, "customData": custom,
                   "payment": {"transaction_id": context.get("payment.transaction_id", ""),
                               "total_amount": context.get("payment.total_amount", ""),
                               "currency_code": context.get("payment.currency_code", ""),
                               "payment_status": context.get("payment.payment_status", "")}}
        body = json.dumps(payload).encode()
        headers.setdefault("Content-Type", "application/json")
    else:
        body = fill(str(action.get("body") or "")).encode()
        headers.setdefault("Content-Type", str(action.get("contentType") or "application/json"))
    if query:
        url += ("&" if "?" in url else "?") + urlencode(query)
    return method, url, headers, body


def client_action(docs: list[dict[str, Any]], workflow_url: str, context: Mapping[str, str]) -> dict[str, Any]:
    """The first webhook action of the workflows that calls the client's workflow route."""
    actions = [a for d in docs for a in d.get("actions", []) if isinstance(a, dict)
               and a.get("type") in ("webhook", "custom_webhook")]
    for a in actions:
        if render(str(a.get("url", "")), context).split("?")[0].rstrip("/") == workflow_url.rstrip("/"):
            return a
    if actions:
        return actions[0]
    raise HarnessError("workflowWebhook: no workflow of the scenario has a webhook action to imitate")


def bogus_id(ctx: ScenarioContext, known: set[str], n: int) -> str:
    """A 24-hex id no transaction (nor order) of the location has."""
    rng = random.Random(f"{ctx.location_id}:wf:{n}")
    while True:
        candidate = f"{rng.getrandbits(96):024x}"
        if candidate not in known:
            return candidate


@step("workflowWebhook")
def workflow_webhook(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """Post a workflow-shaped request for a made-up transaction straight to the client's workflow route,
    without the shared secret or with a wrong one; keep the answer for rejects_forged_workflow_webhooks."""
    run = require(ctx)
    kind = spec["workflowWebhook"]
    state = ctx.ghl_state()
    known = {str(t["_id"]) for t in state["transactions"]} | {str(o["_id"]) for o in state["orders"]}
    n = len(run.posts)
    txn, order = bogus_id(ctx, known, 2 * n), bogus_id(ctx, known, 2 * n + 1)
    context = fake_context(ctx.location_id, txn, order, run.custom_values, run.secret, n)
    action = client_action(run.documents, run.url, context)
    wrong = secrets.token_urlsafe(max(8, len(run.secret) * 3 // 4))
    method, url, headers, body = forged_request(kind, action, context, wrong)
    if not url.startswith(ctx.client.url):
        url = run.url  # the imitated action calls elsewhere: post its shape to the client's route
    sent: dict[str, Any] = {"kind": kind, "transactionId": txn, "orderId": order, "url": url, "body": body.decode(),
                            "headers": sorted(headers), "sentAt": time.time(), "status": None, "error": None}
    try:
        sent["status"] = httpx.request(method, url, content=body, headers=headers, timeout=15.0,
                                       verify=client_context()).status_code
    except httpx.HTTPError as exc:
        sent["error"] = f"{type(exc).__name__}: {exc}"
    run.posts.append(sent)
    return f"{kind} workflow post for made-up transaction {txn} -> {sent['status'] or sent['error']}"


# ---- scenario files ---------------------------------------------------------------------------------

def check_services(data: dict[str, Any], node: yaml.Node | None, path: str) -> str | None:
    """A workflow step, setup key or check in a scenario that does not declare `services: [workflows]`:
    the message (`path:line: key: what`), or None."""
    from scenarios.checks_workflows import WORKFLOW_CHECKS
    from scenarios.loader import _line_of

    if WORKFLOWS in data.get("services", []):
        return None
    need = "needs `services: [workflows]` at the top level of the scenario"
    for i, s in enumerate(data.get("steps", [])):
        used = sorted(WORKFLOW_STEPS & set(s))
        if used:
            return f"{path}:{_line_of(node, ['steps', i, used[0]])}: steps.{i}.{used[0]}: a workflow step {need}"
    for where in ("setup", "expect"):
        section = data.get(where, {})
        for key in WORKFLOW_SETUP_KEYS:
            if key in section:
                return f"{path}:{_line_of(node, [where, key])}: {where}.{key}: {need}"
        for j, name in enumerate(section.get("checks", [])):
            if name in WORKFLOW_CHECKS:
                return f"{path}:{_line_of(node, [where, 'checks', j])}: {where}.checks.{j}: {name} is a workflow check: it {need}"
    return None
