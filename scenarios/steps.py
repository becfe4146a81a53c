"""Scenario steps: each a small function that makes one thing happen through the control plane.
Plugins register their own steps with the same `step` decorator (scenarios.plugin), with a JSON Schema
for the step's value so that scenario files using it are validated like any other."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from mock_server.client import client_context
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
    if "address" in spec:  # order.create: the address typed on the order form (routing, design §3)
        body["address"] = spec["address"]
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


# ---- Acuity (scenarios that declare `services: [acuity]`) -------------------------------------------

ACUITY_KEYS = ("datetime", "firstName", "lastName", "email", "phone", "pay", "processor", "noShow",
               "appointmentTypeID", "calendarID", "productID", "certificate", "kind", "amount")
NEEDS_APPOINTMENT = ("reschedule", "cancel", "pay", "refund")


def acuity_signature(key: str, body: bytes) -> str:
    """X-Acuity-Signature: base64(HMAC-SHA256(key = the API key, msg = the exact body bytes))."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _appointment(ctx: ScenarioContext, spec: dict[str, Any], action: str) -> int:
    """The step's `appointment` ($ref or id), else the last one the scenario scheduled."""
    value = spec.get("appointment")
    if isinstance(value, str):
        value = ctx.resolve(value)
    if value is None:
        if not ctx.acuity_appointments:
            raise HarnessError(f"acuity {action} needs `appointment:` (no appointment scheduled by an earlier step)")
        return ctx.acuity_appointments[-1]
    try:
        return int(value)
    except ValueError:
        raise HarnessError(f"acuity {action}: {value!r} is not an Acuity appointment id") from None


def _ghl_order(ctx: ScenarioContext, value: str) -> dict[str, Any]:
    """A GHL order of the location: a `$ref`, an id, or `any` (the first order that has a contact email)."""
    orders = ctx.ghl_state()["orders"]
    if value == "any":
        found = next((o for o in orders if o.get("contactEmail")), None)
    else:
        order_id = ctx.resolve(value)
        found = next((o for o in orders if o["_id"] == order_id), None)
    if found is None:
        raise HarnessError(f"no GHL order {value!r} with a contact in location {ctx.location_id}")
    return found


def email_case(email: str, case: str) -> str:
    """`jane.doe@x.com` -> `JANE.DOE@X.COM` (upper) or `Jane.Doe@X.Com` (title): the same mailbox."""
    if case == "upper":
        return email.upper()
    return re.sub(r"(^|[.@])([a-z])", lambda m: m.group(1) + m.group(2).upper(), email)


def acuity_body(ctx: ScenarioContext, spec: dict[str, Any]) -> dict[str, Any]:
    """The `POST /_sandbox/simulate/acuity.*` body of an `acuity` step."""
    action = spec["acuity"]
    body: dict[str, Any] = {"locationId": ctx.location_id}
    if action in NEEDS_APPOINTMENT:
        body["appointmentId"] = _appointment(ctx, spec, action)
    for key in ACUITY_KEYS:
        if key in spec:
            body[key] = spec[key]
    if "contactOf" in spec:  # the very person of a GHL order: the sandbox copies its name, email and phone
        order = _ghl_order(ctx, spec["contactOf"])
        case = spec.get("emailCase")
        if case is None:
            body["contactId"] = order["contactId"]
        else:  # the same person booking with the email in other letter case: Jane.Doe@X.com
            first, _, last = str(order.get("contactName", "")).partition(" ")
            body.setdefault("firstName", first or "Sam")
            body.setdefault("lastName", last or "Doe")
            body.setdefault("email", email_case(str(order["contactEmail"]), case))
    if "sameNameAs" in spec:  # a different person who shares a GHL contact's name
        order = _ghl_order(ctx, spec["sameNameAs"])
        first, _, last = str(order.get("contactName", "")).partition(" ")
        n = len(ctx.acuity_appointments) + 1
        body.setdefault("firstName", first or "Sam")
        body.setdefault("lastName", last or "Doe")
        body.setdefault("email", f"{first or 'sam'}.{last or 'doe'}.namesake{n}@example.org".lower().replace(" ", ""))
        body.setdefault("phone", f"+1555010{n:04d}")
    return body


@step("acuity")
def acuity(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """`- acuity: schedule|reschedule|cancel|pay|refund|order` with the simulate body's keys; `as:` binds the
    appointment id (an order's id for `order`)."""
    ctx.require_acuity()
    action = spec["acuity"]
    body = acuity_body(ctx, spec)
    answer = ctx.sandbox.simulate(f"acuity.{action}", **body)
    resources = answer.get("resources", [])
    primary = "order" if action == "order" else "appointment"
    first = next((r for r in resources if r.get("type") == primary), None)
    rid = first["id"] if first is not None else body.get("appointmentId")  # a refund lists no appointment
    if action == "schedule" and rid is not None:
        ctx.acuity_appointments.append(int(rid))
    if "as" in spec and rid is not None:
        ctx.refs[spec["as"]] = str(rid)
    hooks = sum(len(w.get("deliveries", [])) for w in answer.get("webhooks", []))
    kinds = ", ".join(f"{r.get('type')} {r.get('id')}" for r in resources) or "nothing"
    return f"acuity.{action} -> {kinds} ({hooks} webhook deliveries queued)"


@step("acuityBurst")
def acuity_burst(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """Schedule `count` appointments back to back: each fires `scheduled` and `changed`, and a client that
    fetches every one without throttling goes over Acuity's 10 requests per second."""
    ctx.require_acuity()
    burst = spec["acuityBurst"]
    count, pay = int(burst["count"]), burst.get("pay", "full")
    made: list[int] = []
    while len(made) < count:  # one call books them all (`count`); a sandbox that books fewer gets asked again
        left = count - len(made)
        body: dict[str, Any] = {"locationId": ctx.location_id, "pay": pay, **({"count": left} if left > 1 else {})}
        answer = ctx.sandbox.simulate("acuity.schedule", **body)
        booked = [int(r["id"]) for r in answer.get("resources", []) if r.get("type") == "appointment"]
        if not booked:
            raise HarnessError(f"acuity burst: acuity.schedule booked nothing after {len(made)} of {count}")
        made += booked[:left]
    ctx.acuity_appointments += made
    return f"acuity burst: {len(made)} appointments scheduled"


@step("acuityChaos")
def acuity_chaos(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """Chaos on every Acuity webhook target of the location (`drop: 1.0` loses every delivery); null clears it."""
    ctx.require_acuity()
    targets = ctx.acuity_targets()
    for t in targets:
        ctx.control("PUT", f"/webhooks/targets/{t['id']}/chaos", json=spec["acuityChaos"] or {})
    return f"acuity chaos {spec['acuityChaos']} on {len(targets)} target(s)"


def _bogus_id(ctx: ScenarioContext, known: set[int]) -> int:
    """An appointment id no appointment has: a client that fetches it acted on a forged delivery."""
    rng = random.Random(f"{ctx.location_id}:{len(ctx.acuity_forged)}")
    while True:
        candidate = rng.randrange(900_000_000, 999_999_999)
        if candidate not in known:
            return candidate


def forged_delivery(kind: str, key: str, appointment: dict[str, Any], bogus: int,
                    other_key: str) -> tuple[bytes, str | None]:
    """The body and X-Acuity-Signature of one harness-made Acuity delivery (pure: unit-tested):
    `valid` as Acuity sends it; `reserialised` genuine and validly signed, but its bytes differ from any
    re-encoding of its fields (field order, a percent-encoded `.`, the full action style), so only a client
    that hashes the raw body accepts it; `wrong-key` signed with another account's key; `forged` a random
    signature; `tampered` signed, then its id changed; `unsigned` without the header. The last four name
    `bogus`, an appointment that does not exist."""
    real = (f"action=scheduled&id={appointment['id']}&calendarID={appointment['calendarID']}"
            f"&appointmentTypeID={appointment['appointmentTypeID']}")
    fake = f"action=scheduled&id={bogus}&calendarID={appointment['calendarID']}&appointmentTypeID={appointment['appointmentTypeID']}"
    if kind == "valid":
        return real.encode(), acuity_signature(key, real.encode())
    if kind == "reserialised":
        body = (f"id={appointment['id']}&action=appointment%2Echanged&calendarID={appointment['calendarID']}"
                f"&appointmentTypeID={appointment['appointmentTypeID']}").encode()
        return body, acuity_signature(key, body)
    if kind == "wrong-key":
        return fake.encode(), acuity_signature(other_key, fake.encode())
    if kind == "forged":
        return fake.encode(), base64.b64encode(hashlib.sha256(fake.encode() + b"forged").digest()).decode()
    if kind == "tampered":
        return fake.encode(), acuity_signature(key, real.encode())
    if kind == "unsigned":
        return fake.encode(), None
    raise HarnessError(f"unknown Acuity delivery kind {kind!r}")


@step("acuityWebhook")
def acuity_webhook(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """Send one Acuity delivery made by the harness straight to the client's Acuity route (see
    `forged_delivery`), and keep its answer for rejects_forged_acuity_webhooks / accepts_genuine_acuity_webhooks."""
    account = ctx.require_acuity()
    kind = spec["acuityWebhook"]
    url = ctx.client_url(ctx.routes.acuity_webhook, "Acuity webhook")
    appointments = ctx.acuity_state().get("appointments", [])
    known = {int(a["id"]) for a in appointments}
    if "appointment" in spec or ctx.acuity_appointments:
        wanted = _appointment(ctx, spec, "webhook")
        appointment = next((a for a in appointments if int(a["id"]) == wanted), None)
    else:
        appointment = next((a for a in appointments if not a.get("canceled")), None)
    if appointment is None:
        raise HarnessError("acuityWebhook: no such Acuity appointment in the location")
    bogus = _bogus_id(ctx, known)
    other = ctx.other_acuity_keys[0] if ctx.other_acuity_keys else hashlib.md5(account["apiKey"].encode()).hexdigest()  # noqa: S324
    body, signature = forged_delivery(kind, str(account["apiKey"]), appointment, bogus, other)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Acuity-Signature"] = signature
    sent: dict[str, Any] = {"kind": kind, "body": body.decode(), "appointmentId": appointment["id"],
                            "bogusId": None if kind in ("valid", "reserialised") else bogus, "sentAt": time.time(),
                            "status": None, "error": None}
    try:
        sent["status"] = httpx.post(url, content=body, headers=headers, timeout=15.0, verify=client_context()).status_code
    except httpx.HTTPError as exc:
        sent["error"] = f"{type(exc).__name__}: {exc}"
    ctx.acuity_forged.append(sent)
    return f"{kind} Acuity delivery ({sent['body']}) -> {sent['status'] or sent['error']}"


# The workflow and order-routing steps live in their own modules; importing them registers them.
from scenarios import steps_routing, steps_workflows  # noqa: E402, F401
