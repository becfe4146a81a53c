"""Scenario steps: each a small function that makes one thing happen through the control plane.
Plugins register their own steps with the same `step` decorator (scenarios.plugin), with a JSON Schema
for the step's value so that scenario files using it are validated like any other."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from scenarios.context import HarnessError, ScenarioContext

StepFn = Callable[[ScenarioContext, dict[str, Any]], str]
STEPS: dict[str, StepFn] = {}
# JSON Schemas of steps registered outside scenarios/schema.json (plugins): name -> (value schema, extra keys)
PLUGIN_STEP_SCHEMAS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


def step(name: str, schema: dict[str, Any] | None = None,
         options: dict[str, dict[str, Any]] | None = None) -> Callable[[StepFn], StepFn]:
    """Register a step `{name: value, ...}`: `fn(ctx, spec) -> one-line note`. Built-in steps are described
    in scenarios/schema.json; a plugin's step gives the JSON Schema of its value (`schema`, default: any)
    and of any other keys it reads (`options`)."""

    def register(fn: StepFn) -> StepFn:
        STEPS[name] = fn
        if schema is not None or options is not None:
            PLUGIN_STEP_SCHEMAS[name] = (schema or {}, options or {})
        return fn

    return register


def kind_of(spec: dict[str, Any]) -> str:
    return next(k for k in STEPS if k in spec)


def run_step(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """Run one step (`repeat` times); returns a one-line description for the report."""
    fn = STEPS[kind_of(spec)]
    notes = [fn(ctx, spec) for _ in range(int(spec.get("repeat", 1)))]
    return notes[-1] + (f" (x{len(notes)})" if len(notes) > 1 else "")


@step("simulate")
def simulate(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    action = spec["simulate"]
    body: dict[str, Any] = {"locationId": ctx.location_id}
    order = ctx.resolve(spec.get("order"))
    if order:
        body["orderId"] = order
    sub = ctx.resolve(spec.get("subscription"))
    if sub:
        body["subscriptionId"] = sub
    if "amount" in spec:
        body["amount"] = spec["amount"]
    if "qty" in spec:
        body["qty"] = spec["qty"]
    if isinstance(spec.get("items"), list):
        body["items"] = spec["items"]
    if "pending" in spec:
        body["pending"] = spec["pending"]
    answer = ctx.sandbox.simulate(action, **body)
    resources = answer["resources"]
    primary = "subscription" if action.startswith("subscription.") else "order"
    first = next((r for r in resources if r["type"] == primary), None)
    if "as" in spec and first is not None:
        ctx.refs[spec["as"]] = first["id"]
        if primary == "subscription":
            ctx.refs[spec["as"] + "_order"] = first["data"]["entityId"]
    if action == "order.fulfill" and first is not None:
        ctx.simulated_fulfils[first["id"]] = ctx.simulated_fulfils.get(first["id"], 0) + 1
    hooks = sum(len(w["deliveries"]) for w in answer["webhooks"])
    return f"{action} -> {first['id'] if first else '?'} ({hooks} webhook deliveries queued)"


def _order_items(ctx: ScenarioContext, order_id: str) -> list[dict[str, Any]]:
    for o in ctx.ghl_state()["orders"]:
        if o["_id"] == order_id:
            return [{"priceId": i["priceId"], "qty": i["qty"]} for i in o["items"]]
    raise HarnessError(f"order {order_id} is not in location {ctx.location_id}")


def _any_order(ctx: ScenarioContext) -> str:
    orders = ctx.ghl_state()["orders"]
    if not orders:
        raise HarnessError("the location has no orders")
    return orders[0]["_id"]


@step("rankr")
def rankr_event(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    order_id = ctx.resolve(spec.get("order")) or _any_order(ctx)
    items = spec.get("items", "all")
    if items == "all":
        items = _order_items(ctx, order_id)
    elif items == "first":  # part of the order: one unit of its first item
        items = [{**_order_items(ctx, order_id)[0], "qty": 1}]
    body: dict[str, Any] = {"locationId": ctx.location_id, "url": ctx.client_url(ctx.routes.rankr_events, "Rankr event"),
                            "eventType": spec["rankr"], "orderId": order_id, "items": items,
                            "trackings": [{"trackingNumber": "1Z999", "shippingCarrier": "UPS",
                                           "trackingUrl": "https://track.example.com/1Z999"}],
                            "notifyCustomer": False}
    if "eventId" in spec:
        body["eventId"] = spec["eventId"]
    elif "as" in spec and spec["as"] in ctx.refs:
        body["eventId"] = ctx.refs[spec["as"]]
    answer = ctx.sandbox.send_rankr_event(**body)
    ctx.rankr_sent.append({"eventId": answer["eventId"], "orderId": order_id, "status": answer.get("status")})
    if "as" in spec:
        ctx.refs[spec["as"]] = answer["eventId"]
    return f"rankr {spec['rankr']} {answer['eventId']} for order {order_id} -> {answer.get('status') or answer.get('error')}"


@step("clock")
def clock(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    answer = ctx.sandbox.set_clock(**spec["clock"])
    return f"clock -> {answer['now']}"


@step("webhook")
def webhook(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    order_id = ctx.resolve(spec.get("order")) or _any_order(ctx)
    answer = ctx.control("POST", "/webhooks/forge", json={"url": ctx.client_url(ctx.routes.ghl_webhook, "GHL webhook"),
                                                          "orderId": order_id,
                                                          "kind": spec["webhook"],
                                                          "event": spec.get("event", "OrderStatusUpdate")})
    ctx.forged.append(answer)
    return f"{spec['webhook']} webhook {answer['webhookId']} -> {answer['status'] or answer['error']}"


@step("client")
def client(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    what = spec["client"]
    if what == "restart":
        ctx.client.stop()
        ctx.client.start()
    elif what == "crash":
        ctx.client.crash()
        ctx.client.start()
    elif what == "stop":
        ctx.client.stop()
    elif what == "start":
        ctx.client.start()
    return f"client {what}"


@step("wait")
def wait(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    what = spec["wait"]
    if isinstance(what, dict):
        time.sleep(float(what["seconds"]))
        return f"waited {what['seconds']} s"
    if what == "deliveries-settled":
        r = ctx.sandbox.wait_for("deliveries-settled", ctx.deadline_s)
        return f"deliveries settled: {r.json().get('settled')}"
    from scenarios.checks import REGISTRY

    deadline = time.monotonic() + ctx.deadline_s
    verdict = REGISTRY["sync_complete"].fn(ctx)
    while not verdict.settled and time.monotonic() < deadline:
        time.sleep(0.25)
        verdict = REGISTRY["sync_complete"].fn(ctx)
    return f"synced: {verdict.summary}"


@step("fault")
def fault(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    rule = ctx.sandbox.add_fault(spec["fault"])
    return f"fault {rule['id']} {rule['match']} -> {rule['effect']}"


@step("clearFaults")
def clear_faults(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    ctx.sandbox.clear_faults()
    return "faults cleared"


@step("chaos")
def chaos(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    if not ctx.target_id:
        return "chaos not set: the client takes no GHL webhooks"
    ctx.control("PUT", f"/webhooks/targets/{ctx.target_id}/chaos", json=spec["chaos"] or {})
    return f"chaos {spec['chaos']}"


@step("redeliver")
def redeliver(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    delivered = [d for d in ctx.deliveries() if d["status"] == "delivered"]
    chosen = delivered[-1:] if spec["redeliver"] == "last" else delivered
    for d in chosen:
        ctx.control("POST", f"/webhooks/deliveries/{d['id']}/redeliver")
    return f"redelivered {len(chosen)} webhook(s)"
