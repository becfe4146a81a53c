"""The GHL service's state for one world: tokens and OAuth, the payments domain and the simulator;
and how its events become webhook bodies."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from mock_server import jsjson
from mock_server.clock import iso_instant, iso_ms
from mock_server.ghl import dashboard
from mock_server.ghl.auth import AuthService
from mock_server.ghl.custom_providers import CustomProviders
from mock_server.ghl.models import (
    EXTENSION_EVENTS,
    ORDER_EVENTS,
    PAYMENTS_SCOPES,
    Order,
    Price,
    Product,
    Subscription,
    Token,
    Transaction,
)
from mock_server.ghl.payments import Payments
from mock_server.ghl.responses import shapes
from mock_server.ghl.simulation import Simulator
from mock_server.http.context import runtime_of
from mock_server.locations import Location
from mock_server.panels import PersonMatch, Query, Table, Who
from mock_server.service import ServiceWorld, WorldContext
from mock_server.webhooks.message import WebhookMessage
from mock_server.webhooks.models import Delivery, Event, WebhookTarget

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

EVENT_TYPES = (*ORDER_EVENTS, *EXTENSION_EVENTS)


def token_view(t: Token) -> dict[str, Any]:
    return {"token": t.secret, "tokenId": t.id, "locationId": t.location_id, "scopes": list(t.scopes),
            "tokenClass": t.token_class, "tokenType": t.token_type, "revoked": t.revoked,
            "expiresAt": iso_ms(t.expires_at) if t.expires_at is not None else None}


class Ghl(ServiceWorld):
    def __init__(self, context: WorldContext) -> None:
        self.store = context.store
        self.signer = context.webhooks.signer
        self.auth = AuthService(context.store, context.clock, context.ids, context.seed)
        self.payments = Payments(context.store, context.clock, context.ids, context.events)
        self.custom_providers = CustomProviders(context.store, context.clock, context.ids)
        self.simulator = Simulator(self.payments, context.seed)
        self.coupons = self.simulator.coupons  # one service for the API and the simulated orders
        self.simulator.extension_events = context.settings.extension_events
        self.simulator.signals = context.signals  # payment activity the other services hear of

    def tick(self, since: float) -> None:
        self.simulator.tick(since)

    def location_fields(self, location: Location) -> dict[str, Any]:
        """The location's tokens; the first listed holds every payments scope (the seeded app token)."""
        tokens = sorted(self.auth.tokens_of(location.id), key=lambda t: (t.created_at, t.id))
        seeded = [t for t in tokens if t.token_type == "oauth" and t.token_class == "location"
                  and set(PAYMENTS_SCOPES) <= set(t.scopes) and not t.revoked and t.expires_at is None]
        first = seeded[:1]
        return {"tokens": [token_view(t) for t in first + [t for t in tokens if t not in first]]}

    def location_of_bearer(self, secret: str) -> str | None:
        token = self.auth.lookup(secret)
        return token.location_id if token is not None else None

    def on_store_write(self, kind: str) -> None:
        self.auth.on_store_write(kind)

    def dashboard_tables(self, location_id: str) -> list[Table]:
        return dashboard.tables(self.store, location_id)

    def dashboard_people(self, location_id: str, query: Query) -> list[PersonMatch]:
        return dashboard.people(self.store, location_id, query)

    def dashboard_customer(self, location_id: str, who: Who) -> list[Table]:
        return dashboard.customer(self.store, location_id, who)

    def webhook_message(self, event: Event, delivery: Delivery, target: WebhookTarget) -> WebhookMessage | None:
        """The exact body of one attempt, signed. `timestamp` is the real time of the attempt, so a
        receiver's replay window works even when the sandbox clock was moved; `webhookId` never changes."""
        fields = self.webhook_fields(event)
        if fields is None:
            return None
        body = jsjson.dumps({**fields, "timestamp": iso_instant(time.time()), "webhookId": delivery.webhook_id})
        return WebhookMessage(body, {"content-type": "application/json", **self.signer.headers(body)})

    def webhook_fields(self, event: Event) -> dict[str, Any] | None:
        """GHL's marketplace webhook body, but for `timestamp` and `webhookId` (the delivery adds those)."""
        if event.type not in EVENT_TYPES or event.service:
            return None
        snap = event.data()
        if event.resource_kind == "orders":
            return self.order_webhook_fields(event.type, Order(**snap))
        if event.resource_kind == "transactions":
            fields = shapes.transaction_list_item(Transaction(**snap))
        else:
            fields = shapes.subscription_list_item(Subscription(**snap), with_count=True)
        return self._webhook_envelope(event.type, event.location_id, fields)

    def order_webhook_fields(self, event_type: str, order: Order) -> dict[str, Any]:
        """An order webhook's body (as sent, or as `POST /_sandbox/webhooks/forge` forges it)."""
        prices = self.store.table(Price).get_many([i["price_id"] for i in order.items])
        products = self.store.table(Product).get_many([i["product_id"] for i in order.items])
        return self._webhook_envelope(event_type, order.location_id, shapes.order_webhook(order, prices, products))

    def _webhook_envelope(self, event_type: str, location_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        app = self.auth.app()
        return {"type": event_type, "locationId": location_id, **fields,
                "appId": app.id if app else "", "versionId": app.version_id if app else ""}


def ghl(runtime: Runtime) -> Ghl:
    """The GHL service's state in the runtime's current world."""
    return runtime.part(Ghl)


def ghl_of(request: HTTPConnection) -> Ghl:
    """The GHL service's state for the world serving this request."""
    return runtime_of(request).part(Ghl)

