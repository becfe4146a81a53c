"""The GHL service's state for one world: tokens and OAuth, the payments domain and the simulator;
and how its events become webhook bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from mock_server.ghl.auth import AuthService
from mock_server.ghl.models import (
    EXTENSION_EVENTS,
    ORDER_EVENTS,
    Order,
    Price,
    Product,
    Subscription,
    Transaction,
)
from mock_server.ghl.payments import Payments
from mock_server.ghl.responses import shapes
from mock_server.ghl.simulation import Simulator
from mock_server.http.context import runtime_of
from mock_server.service import ServiceWorld, WorldContext
from mock_server.webhooks.models import Event

if TYPE_CHECKING:
    from mock_server.runtime import Runtime

EVENT_TYPES = (*ORDER_EVENTS, *EXTENSION_EVENTS)


class Ghl(ServiceWorld):
    def __init__(self, context: WorldContext) -> None:
        self.store = context.store
        self.auth = AuthService(context.store, context.clock, context.ids)
        self.payments = Payments(context.store, context.clock, context.ids, context.events)
        self.simulator = Simulator(self.payments, context.seed)
        self.simulator.extension_events = context.settings.extension_events

    def tick(self, since: float) -> None:
        self.simulator.tick(since)

    def location_of_bearer(self, secret: str) -> str | None:
        token = self.auth.lookup(secret)
        return token.location_id if token is not None else None

    def on_store_write(self, kind: str) -> None:
        self.auth.on_store_write(kind)

    def webhook_fields(self, event: Event) -> dict[str, Any] | None:
        """GHL's marketplace webhook body, but for `timestamp` and `webhookId` (the delivery adds those)."""
        if event.type not in EVENT_TYPES:
            return None
        snap = event.snapshot
        if event.resource_kind == "orders":
            order = Order(**snap)
            prices = self.store.table(Price).get_many([i["price_id"] for i in order.items])
            products = self.store.table(Product).get_many([i["product_id"] for i in order.items])
            fields = shapes.order_webhook(order, prices, products)
        elif event.resource_kind == "transactions":
            fields = shapes.transaction_list_item(Transaction(**snap))
        else:
            fields = shapes.subscription_list_item(Subscription(**snap), with_count=True)
        app = self.auth.app()
        return {"type": event.type, "locationId": event.location_id, **fields,
                "appId": app.id if app else "", "versionId": app.version_id if app else ""}


def ghl(runtime: Runtime) -> Ghl:
    """The GHL service's state in the runtime's current world."""
    return runtime.part(Ghl)


def ghl_of(request: HTTPConnection) -> Ghl:
    """The GHL service's state for the world serving this request."""
    return runtime_of(request).part(Ghl)

