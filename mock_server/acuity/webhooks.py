"""Acuity's webhooks (fact sheet §3): the static per-account URLs and the dynamic `/webhooks` API, both kept
as shared `WebhookTarget`s of service `acuity` (design §3.4), and how an event becomes Acuity's wire
message: a form-encoded, ids-only body signed `X-Acuity-Signature: base64(HMAC-SHA256(apiKey, body))`.

HTTP-free: the API handlers, the control plane and the world call these with plain values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from mock_server.errors import Invalid, NotFound
from mock_server.webhooks.message import WebhookMessage
from mock_server.webhooks.models import Event, WebhookTarget
from mock_server.webhooks.policy import RetryPolicy
from mock_server.webhooks.service import WebhookService

SERVICE = "acuity"
SCHEDULED, RESCHEDULED, CANCELED, CHANGED, ORDER_COMPLETED = (
    "appointment.scheduled", "appointment.rescheduled", "appointment.canceled", "appointment.changed",
    "order.completed")
EVENT_TYPES = (SCHEDULED, RESCHEDULED, CANCELED, CHANGED, ORDER_COMPLETED)
# The static settings' keys (Acuity's short action names) and the event each one is for.
STATIC_EVENTS = {"scheduled": SCHEDULED, "rescheduled": RESCHEDULED, "canceled": CANCELED, "changed": CHANGED,
                 "order.completed": ORDER_COMPLETED}
SHORT = {event: key for key, event in STATIC_EVENTS.items()}
STYLES = ("short", "full")
DEFAULT_STATIC_STYLE, DEFAULT_DYNAMIC_STYLE = "short", "full"
MAX_DYNAMIC = 25  # per account; one more is a 400 (fact sheet §3.2)
RETRY_MODES = ("none", "exponential")
EXPONENTIAL_RETRIES = 5


class WebhookLimit(Exception):
    """The account already has `MAX_DYNAMIC` dynamic webhooks."""


def signature(key: str, body: bytes) -> str:
    """`X-Acuity-Signature`: base64 of the HMAC-SHA256 of the exact body bytes, keyed with the API key."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def action_name(event_type: str, style: str) -> str:
    """The `action` field: `scheduled` (short) or `appointment.scheduled` (full); orders the same in both."""
    return SHORT.get(event_type, event_type) if style == "short" else event_type


def body_fields(event: Event, style: str) -> list[tuple[str, str]]:
    """The form fields of one event, in the order Acuity's documented example sends them."""
    snap = event.data()
    fields = [("action", action_name(event.type, style)), ("id", str(snap["id"]))]
    if event.type != ORDER_COMPLETED:
        fields += [("calendarID", str(snap["calendar_id"])), ("appointmentTypeID", str(snap["appointment_type_id"]))]
    return fields


def render(event: Event, target: WebhookTarget, api_key: str, policy: RetryPolicy) -> WebhookMessage:
    style = str(target.options.get("actionStyle") or DEFAULT_STATIC_STYLE)
    body = urlencode(body_fields(event, style)).encode()
    headers = {"content-type": "application/x-www-form-urlencoded", "x-acuity-signature": signature(api_key, body)}
    return WebhookMessage(body, headers, policy)


# ---- retries ------------------------------------------------------------------------------------------


@dataclass
class AcuityRetryPolicy(RetryPolicy):
    """Acuity's retries are unverified (fact sheet §3.5): `none` sends once; `exponential` retries any
    non-2xx answer or no answer at all, up to 5 times, on a doubling schedule of the sandbox clock."""

    def retryable(self, status: int | None, error: str) -> bool:
        return self.max_retries > 0 and not (status is not None and 200 <= status < 300)


def retry_policy(mode: str, interval_s: float, factor: float) -> AcuityRetryPolicy:
    if mode == "exponential":
        return AcuityRetryPolicy("exponential", interval_s, EXPONENTIAL_RETRIES, factor)
    return AcuityRetryPolicy("exponential", interval_s, 0, factor)


# ---- the registry -------------------------------------------------------------------------------------


def dynamic_view(t: WebhookTarget) -> dict[str, Any]:
    """A dynamic webhook as `GET /webhooks` shows it."""
    return {"id": int(t.options["acuityId"]), "event": (t.events or [""])[0], "target": t.url, "status": "active"}


@dataclass(frozen=True)
class StaticConfig:
    location_id: str
    urls: dict[str, str | None]  # every static key, None when unset
    action_style: str
    target_ids: dict[str, str]  # the WebhookTarget behind each set URL (chaos is set on it)

    def view(self) -> dict[str, Any]:
        return {"locationId": self.location_id, "urls": dict(self.urls), "actionStyle": self.action_style,
                "targetIds": dict(self.target_ids)}


class AcuityWebhooks:
    """Both kinds of Acuity webhook of every account, over the shared outbox's targets."""

    def __init__(self, webhooks: WebhookService) -> None:
        self.webhooks = webhooks

    def _targets(self, location_id: str, kind: str) -> list[WebhookTarget]:
        found = [t for t in self.webhooks.targets()
                 if t.service == SERVICE and t.location_id == location_id and t.options.get("kind") == kind]
        return sorted(found, key=lambda t: (t.created_at, int(t.options.get("acuityId") or 0), t.id))

    # dynamic (the API's /webhooks)

    def dynamic(self, location_id: str) -> list[WebhookTarget]:
        return sorted(self._targets(location_id, "dynamic"), key=lambda t: int(t.options["acuityId"]))

    def add_dynamic(self, location_id: str, event: str, url: str, action_style: str | None = None) -> WebhookTarget:
        if event not in EVENT_TYPES:
            raise Invalid(f"event must be one of {', '.join(EVENT_TYPES)}")
        if len(self.dynamic(location_id)) >= MAX_DYNAMIC:
            raise WebhookLimit(f"You can have at most {MAX_DYNAMIC} webhooks.")
        # Ids are account-wide integers that are never reused; targets outlive a reset, so they are counted
        # from the targets themselves (every account's, like Acuity's global ids).
        used = [int(t.options.get("acuityId") or 0) for t in self.webhooks.targets() if t.service == SERVICE]
        acuity_id = max(used, default=0) + 1
        return self.webhooks.add_target(url, [event], location_id, service=SERVICE, options={
            "acuityId": acuity_id, "kind": "dynamic", "actionStyle": action_style or DEFAULT_DYNAMIC_STYLE})

    def remove_dynamic(self, location_id: str, acuity_id: int) -> None:
        for t in self.dynamic(location_id):
            if int(t.options["acuityId"]) == acuity_id:
                self.webhooks.remove_target(t.id)
                return
        raise NotFound(f"Webhook {acuity_id} not found")

    # static (Integrations -> Webhooks in Acuity's settings)

    def static(self, location_id: str) -> StaticConfig:
        urls: dict[str, str | None] = dict.fromkeys(STATIC_EVENTS)
        ids: dict[str, str] = {}
        style = DEFAULT_STATIC_STYLE
        for t in self._targets(location_id, "static"):
            key = SHORT[(t.events or [CHANGED])[0]]
            urls[key], ids[key] = t.url, t.id
            style = str(t.options.get("actionStyle") or style)
        stored = self.webhooks.store.get_meta(f"acuity_static_style:{location_id}")
        return StaticConfig(location_id, urls, str(stored or style), ids)

    def set_static(self, location_id: str, urls: dict[str, str | None], style: str | None) -> StaticConfig:
        """Set (a URL) or clear (None) the given keys; the others stay. `style` applies to all of them."""
        current = self.static(location_id)
        style = style or current.action_style
        with self.webhooks.store.transaction():
            for t in self._targets(location_id, "static"):
                key = SHORT[(t.events or [CHANGED])[0]]
                if key in urls and urls[key] != t.url:
                    self.webhooks.remove_target(t.id)
                elif t.options.get("actionStyle") != style:
                    t.options = {**t.options, "actionStyle": style}
                    self.webhooks.store.table(WebhookTarget).put(t)
            for key, url in urls.items():
                if url is not None and url != current.urls.get(key):
                    self.webhooks.add_target(url, [STATIC_EVENTS[key]], location_id, service=SERVICE,
                                             options={"kind": "static", "actionStyle": style})
            self.webhooks.store.set_meta(f"acuity_static_style:{location_id}", style)
        return self.static(location_id)
