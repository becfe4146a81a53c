"""The write side of the fake Acuity's per-world state, mixed into `world.AcuityWorld` (one class): the
booking domain, the webhook registry, and how an Acuity event becomes a delivery's wire message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_server.acuity import webhooks
from mock_server.acuity.booking import Booking
from mock_server.service import ServiceWorld, WorldContext
from mock_server.webhooks.message import WebhookMessage
from mock_server.webhooks.models import Delivery, Event, WebhookTarget

if TYPE_CHECKING:
    from mock_server.acuity.models import AcuityAccount


class AcuityWrites(ServiceWorld):
    booking: Booking
    hooks: webhooks.AcuityWebhooks
    retry_policy: webhooks.AcuityRetryPolicy

    def init_writes(self, context: WorldContext) -> None:
        self.booking = Booking(context.store, context.clock, context.ids, context.events)
        self.hooks = webhooks.AcuityWebhooks(context.webhooks)
        s = context.settings
        self.retry_policy = webhooks.retry_policy(s.acuity_webhook_retries, s.webhook_retry_interval,
                                                  s.webhook_backoff_factor)

    def account(self, location_id: str) -> AcuityAccount | None:
        raise NotImplementedError

    def webhook_message(self, event: Event, delivery: Delivery, target: WebhookTarget) -> WebhookMessage | None:
        """Form-encoded ids only, signed with the account's API key (static: the main admin's; dynamic: the
        creating user's, who is the same single user here), with Acuity's own retry policy."""
        if event.service != webhooks.SERVICE or event.type not in webhooks.EVENT_TYPES:
            return None
        acct = self.account(event.location_id)
        if acct is None:
            raise LookupError(f"no Acuity account for location {event.location_id}")
        return webhooks.render(event, target, acct.api_key, self.retry_policy)
