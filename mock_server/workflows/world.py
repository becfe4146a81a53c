"""The workflows service for one world: workflows and their webhook targets, custom values, managed
OAuth2 tokens, firing on the other services' signals (inside their transactions), the inbound webhook
trigger, the simulated invoices, and each action's wire message.

Each action of a workflow is one shared `WebhookTarget` (service `workflows`, options `workflowId` and
`actionId`, url = the action's URL as typed). A firing of a published workflow records one event per
action, addressed to that action's target only, whose snapshot is the request rendered at fire time
(method, URL, headers, body): the contact as it was then, whatever happens later.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from mock_server.clock import SandboxClock
from mock_server.errors import Invalid, NotFound
from mock_server.ghl.models import Contact, Price, Product
from mock_server.ids import IdFactory
from mock_server.locations import Location
from mock_server.service import ServiceWorld, WorldContext
from mock_server.settings import Settings
from mock_server.signals import Signal
from mock_server.store import Store
from mock_server.webhooks.events import EventLog
from mock_server.webhooks.message import WebhookMessage
from mock_server.webhooks.models import Delivery, Event, WebhookTarget
from mock_server.webhooks.policy import RetryPolicy
from mock_server.webhooks.service import WebhookService
from mock_server.workflows import document, payload, queries, triggers
from mock_server.workflows.models import Invoice, Workflow
from mock_server.workflows.records import ActionCall, CustomValue, ManagedToken, WorkflowRun

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

SERVICE = "workflows"
RESOURCE_KIND = "workflow_runs"
# The event type of each trigger's action calls ("Workflow" + the trigger in CamelCase).
EVENT_OF_TRIGGER = {t: "Workflow" + "".join(part.capitalize() for part in t.split("_"))
                    for t in ("payment_received", "order_submitted", "order_form_submission", "invoice",
                              "subscription", "refund", "inbound_webhook")}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_OF_TRIGGER.values())
EXPONENTIAL_RETRIES = 5
INBOUND_SOURCE = "inbound"
INBOUND_LIVE = "Success: request sent to trigger execution server"
INBOUND_TEST = "Success: test request received"


def retry_policy(mode: str, interval_s: float) -> RetryPolicy:
    """`exponential`: 429, 5xx, timeouts and no answer are retried up to 5 times, from the sandbox's retry
    interval, doubling; `none`: failed then skipped. GHL documents neither (DEVIATIONS)."""
    retries = EXPONENTIAL_RETRIES if mode == "exponential" else 0
    return RetryPolicy("exponential", interval_s, retries, 2.0)


class WorkflowsWorld(ServiceWorld):
    def __init__(self, context: WorldContext) -> None:
        self.store: Store = context.store
        self.clock: SandboxClock = context.clock
        self.ids: IdFactory = context.ids
        self.events: EventLog = context.events
        self.webhooks: WebhookService = context.webhooks
        self.settings: Settings = context.settings
        # Workflow, action and inbound ids: a stream of their own, so that configuring workflows never shifts
        # a data id; configuration outlives a reset (which starts the stream over), so an id already held
        # by a stored workflow is skipped (`_new_id`).
        self.config_ids = IdFactory(f"workflows-{context.seed}")
        context.signals.subscribe(self.on_signal)

    # ---- Lookup (triggers.Lookup): what a firing reads from the store ----------------------------

    def contact(self, location_id: str, contact_id: str) -> Contact | None:
        found = self.store.table(Contact).get(contact_id) if contact_id else None
        return found if found is not None and found.location_id == location_id else None

    def location(self, location_id: str) -> Location | None:
        return self.store.table(Location).get(location_id)

    def custom_values(self, location_id: str) -> dict[str, str]:
        return {c.key: c.value for c in queries.custom_values(self.store, location_id)}

    def products(self, ids: Collection[str]) -> dict[str, Product]:
        return self.store.table(Product).get_many(list(ids))

    def prices(self, ids: Collection[str]) -> dict[str, Price]:
        return self.store.table(Price).get_many(list(ids))

    def now(self) -> float:
        return self.clock.now()

    # ---- workflows --------------------------------------------------------------------------------

    def workflow(self, workflow_id: str) -> Workflow:
        found = self.store.table(Workflow).get(workflow_id)
        if found is None:
            raise NotFound(f"Workflow {workflow_id} not found")
        return found

    def workflows(self, location_id: str | None = None) -> list[Workflow]:
        return queries.workflows(self.store, location_id)

    def save(self, doc: Any, location_id: str, existing: Workflow | None = None) -> Workflow:
        """Create (or replace `existing`) from a control-plane document; 422 naming each bad field."""
        used = {i for w in self.workflows() for i in (w.id, w.inbound_id, *(str(a["id"]) for a in w.actions))}

        def new_id() -> str:
            while True:
                candidate = self.config_ids.uuid()
                if candidate not in used:
                    used.add(candidate)
                    return candidate

        try:
            workflow = document.parse_workflow(doc, location_id=location_id, new_id=new_id,
                                               existing=existing, now=self.clock.now())
        except document.WorkflowInvalid as exc:
            raise Invalid(*[f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems]) from None
        with self.store.transaction():
            self.store.table(Workflow).put(workflow)
            self._sync_targets(workflow)
        return workflow

    def delete(self, workflow_id: str) -> None:
        workflow = self.workflow(workflow_id)
        with self.store.transaction():
            for target in self._targets(workflow.id):
                self.webhooks.remove_target(target.id)
            self.store.table(Workflow).delete(workflow.id)

    def delete_all(self, location_id: str | None) -> int:
        found = self.workflows(location_id)
        with self.store.transaction():
            for w in found:
                self.delete(w.id)
        return len(found)

    def _targets(self, workflow_id: str) -> list[WebhookTarget]:
        return [t for t in self.webhooks.targets()
                if t.service == SERVICE and t.options.get("workflowId") == workflow_id]

    def action_target(self, workflow_id: str, action_id: str) -> WebhookTarget | None:
        return next((t for t in self._targets(workflow_id) if t.options.get("actionId") == action_id), None)

    def _sync_targets(self, workflow: Workflow) -> None:
        """One target per action: kept (its chaos too) while the action lives, its URL as typed."""
        actions = {a.id: a for a in workflow.typed_actions}
        table = self.store.table(WebhookTarget)
        for target in self._targets(workflow.id):
            action = actions.pop(str(target.options.get("actionId")), None)
            if action is None:
                self.webhooks.remove_target(target.id)
            elif target.url != action.url or target.location_id != workflow.location_id:
                target.url, target.location_id = action.url, workflow.location_id
                table.put(target)
        for action in actions.values():
            self.webhooks.add_target(action.url, None, workflow.location_id, service=SERVICE,
                                     options={"workflowId": workflow.id, "actionId": action.id})

    def view(self, workflow: Workflow, inbound_base: str) -> dict[str, Any]:
        out: dict[str, Any] = document.workflow_view(workflow, inbound_base)
        out["targetIds"] = {str(t.options.get("actionId")): t.id for t in self._targets(workflow.id)}
        return out

    # ---- custom values ---------------------------------------------------------------------------

    def set_custom_values(self, location_id: str, values: dict[str, str | None]) -> dict[str, str]:
        table = self.store.table(CustomValue)
        with self.store.transaction():
            for key, value in values.items():
                record_id = f"{location_id}:{key}"
                if value is None:
                    table.delete(record_id)
                else:
                    table.put(CustomValue(record_id, location_id, key, str(value), self.clock.now()))
        return self.custom_values(location_id)

    # ---- managed tokens --------------------------------------------------------------------------

    def tokens(self, location_id: str) -> list[ManagedToken]:
        return queries.tokens(self.store, location_id)

    def token(self, location_id: str, name: str) -> ManagedToken:
        found = self.store.table(ManagedToken).get(f"{location_id}:{name}")
        if found is None:
            raise NotFound(f"Token {name} not found")
        return found

    def put_token(self, token: ManagedToken) -> ManagedToken:
        self.store.table(ManagedToken).put(token)
        return token

    def delete_token(self, location_id: str, name: str) -> None:
        if not self.store.table(ManagedToken).delete(f"{location_id}:{name}"):
            raise NotFound(f"Token {name} not found")

    def access_tokens(self, location_id: str) -> dict[str, str]:
        return {t.name: t.access_token for t in self.tokens(location_id) if t.access_token}

    # ---- firing ----------------------------------------------------------------------------------

    def on_signal(self, signal: Signal) -> None:
        """Inside the publisher's transaction: every published workflow of the location whose trigger the
        signal fires, and whose filters match, runs now."""
        if signal.name not in triggers.SIGNAL_TRIGGERS or not queries.workflows(self.store, signal.location_id):
            return
        for firing in triggers.firings(signal, self, order_submitted=_order_submitted(self.settings)):
            for workflow in queries.by_trigger(self.store, signal.location_id, firing.trigger_type):
                if workflow.published and triggers.matches(workflow.typed_trigger, firing):
                    self.run(workflow, firing, signal.name)

    def run(self, workflow: Workflow, firing: triggers.Firing, source: str) -> WorkflowRun:
        """One run: each action rendered now and recorded as an event for its own target."""
        with self.store.transaction():
            run = WorkflowRun(id=self.ids.object_id(), location_id=workflow.location_id, workflow_id=workflow.id,
                              workflow_name=workflow.name, trigger=workflow.trigger_type, source=source,
                              status="executed", created_at=self.clock.now())
            tokens = self.access_tokens(workflow.location_id)
            for action in workflow.typed_actions:
                target = self.action_target(workflow.id, action.id)
                if target is None:  # removed by hand from the webhook targets: nothing to send to
                    continue
                if action.type == "webhook":
                    rendered = payload.standard_request(workflow, action, firing,
                                                        payload_objects=self.settings.workflow_payload_objects,
                                                        user_agent=self.settings.workflow_user_agent, trace=run.id)
                else:
                    rendered = payload.custom_request(action, firing, tokens, workflow=workflow,
                                                      user_agent=self.settings.workflow_user_agent, trace=run.id)
                call = ActionCall(id=f"{run.id}:{action.id}", location_id=workflow.location_id,
                                  workflowId=workflow.id, actionId=action.id, runId=run.id,
                                  request={"method": rendered.method, "url": rendered.url,
                                           "headers": dict(rendered.headers),
                                           "body": rendered.body.decode("utf-8", "replace")})
                event = self.events.record(EVENT_OF_TRIGGER[workflow.trigger_type], RESOURCE_KIND, call,
                                           service=SERVICE, target_id=target.id)
                run.event_ids.append(event.id)
            self.store.table(WorkflowRun).put(run)
        self.webhooks.wake()
        return run

    def runs(self, location_id: str | None = None, workflow_id: str | None = None) -> list[WorkflowRun]:
        return queries.runs(self.store, location_id, workflow_id)

    # ---- the inbound webhook trigger -------------------------------------------------------------

    def inbound(self, location_id: str, trigger_id: str, body: dict[str, Any], query: dict[str, str],
                headers: dict[str, str]) -> dict[str, Any]:
        """A request to `/hooks/{locationId}/webhook-trigger/{triggerId}`: the answer GHL gives."""
        workflow = queries.by_inbound_id(self.store, location_id, trigger_id)
        if workflow is None or workflow.trigger_type != "inbound_webhook":
            return {"status": INBOUND_TEST}
        answer = {"status": INBOUND_LIVE, "id": self.ids.short_id()}
        if not workflow.published:
            return answer  # a draft answers the same; nothing runs
        email = body.get("email") if isinstance(body.get("email"), str) else ""
        phone = body.get("phone") if isinstance(body.get("phone"), str) else ""
        contact = queries.contact_by(self.store, location_id, str(email or ""), str(phone or ""))
        firing = triggers.inbound_firing(location_id, body=body, query=query, headers=headers, contact=contact,
                                         lookup=self)
        self.run(workflow, firing, INBOUND_SOURCE)
        return answer

    # ---- the simulated invoice ------------------------------------------------------------------

    def invoice_update(self, location_id: str, data: dict[str, Any]) -> tuple[Invoice, list[Event]]:
        """`POST /_sandbox/simulate/invoice.update`: create or change an invoice and signal
        `invoice.updated` in the same transaction (the Invoice trigger fires on it)."""
        now = self.clock.now()
        table = self.store.table(Invoice)
        with self.events.collect() as events, self.store.transaction():
            invoice = table.get(data["invoiceId"]) if data.get("invoiceId") else None
            if invoice is not None and invoice.location_id != location_id:
                raise NotFound(f"Invoice {data['invoiceId']} not found")
            contact_id = data.get("contactId")
            if contact_id is not None and self.contact(location_id, contact_id) is None:
                raise NotFound(f"Contact {contact_id} not found")
            if invoice is None:
                count = len(queries.invoices(self.store, location_id)) + 1
                if not contact_id:
                    first = queries.newest_contact(self.store, location_id)
                    contact_id = first.id if first is not None else ""
                day = time.strftime("%Y-%m-%d", time.gmtime(now))
                invoice = Invoice(
                    id=str(data.get("invoiceId") or self.ids.object_id()), location_id=location_id,
                    number=str(data.get("number") or f"INV-{count:06d}"),
                    name=str(data.get("name") or f"Invoice {count}"), status=str(data["status"]),
                    contact_id=str(contact_id or ""), amount_minor=_minor(data.get("amount"), 10000),
                    currency=str(data.get("currency") or "USD"), issue_date=day,
                    due_date=time.strftime("%Y-%m-%d", time.gmtime(now + 30 * 86400)), created_at=now,
                    updated_at=now)
            else:
                invoice.status = str(data["status"])
                for key, attr in (("number", "number"), ("name", "name"), ("currency", "currency"),
                                  ("contactId", "contact_id")):
                    if data.get(key) is not None:
                        setattr(invoice, attr, str(data[key]))
                if data.get("amount") is not None:
                    invoice.amount_minor = _minor(data["amount"], invoice.amount_minor)
                invoice.updated_at = now
            table.put(invoice)
            records: dict[str, dict[str, Any]] = {"invoice": dataclasses.asdict(invoice)}
            contact = self.contact(location_id, invoice.contact_id)
            if contact is not None:
                records["contact"] = dataclasses.asdict(contact)
            self.on_signal(Signal(SERVICE, "invoice.updated", location_id, records))
        return invoice, list(events)

    # ---- the wire message -----------------------------------------------------------------------

    def webhook_message(self, event: Event, delivery: Delivery, target: WebhookTarget) -> WebhookMessage | None:
        if event.service != SERVICE:
            return None
        request = event.data()["request"]
        policy = retry_policy(self.settings.workflow_webhook_retries, self.webhooks.policy.interval_s)
        return WebhookMessage(str(request["body"]).encode("utf-8"), dict(request["headers"]), policy,
                              method=str(request["method"]), url=str(request["url"]))


def _order_submitted(settings: Settings) -> triggers.OrderSubmitted:
    return "product" if settings.workflow_order_submitted == "product" else "order"


def _minor(amount: Any, default: int) -> int:
    if amount is None:
        return default
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def workflows_world(runtime: Runtime) -> WorkflowsWorld:
    return runtime.part(WorkflowsWorld)
