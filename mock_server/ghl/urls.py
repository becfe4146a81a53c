"""The GHL API routing table: path, method, handler and the scope each endpoint demands.

Both the plain and the trailing-slash form of each path answer the same, without a redirect.
"""

from __future__ import annotations

from starlette.routing import Route

from mock_server.ghl.responses import coupons, custom_providers, oauth, order_payments, payments
from mock_server.ghl.responses.guard import SUPPORTED_VERSIONS, ghl_errors, guarded

# (path, method, handler, scope)
PAYMENTS_TABLE = (
    ("/payments/integrations/provider/whitelabel", "GET", payments.list_providers, "payments/integration.readonly"),
    ("/payments/integrations/provider/whitelabel", "POST", payments.create_provider, "payments/integration.write"),
    ("/payments/orders", "GET", payments.list_orders, "payments/orders.readonly"),
    ("/payments/orders/{orderId}", "GET", payments.get_order, "payments/orders.readonly"),
    ("/payments/orders/{orderId}/fulfillments", "GET", payments.list_fulfillments, "payments/orders.readonly"),
    ("/payments/orders/{orderId}/fulfillments", "POST", payments.create_fulfillment, "payments/orders.write"),
    ("/payments/orders/{orderId}/record-payment", "POST", order_payments.record_payment,
     "payments/orders.collectPayment"),
    ("/payments/orders/{orderId}/notes", "GET", order_payments.list_notes, ""),  # Location-Access, no scope
    ("/payments/transactions", "GET", payments.list_transactions, "payments/transactions.readonly"),
    ("/payments/transactions/{transactionId}", "GET", payments.get_transaction, "payments/transactions.readonly"),
    ("/payments/subscriptions", "GET", payments.list_subscriptions, "payments/subscriptions.readonly"),
    ("/payments/subscriptions/{subscriptionId}", "GET", payments.get_subscription,
     "payments/subscriptions.readonly"),
    ("/payments/coupon/list", "GET", coupons.list_coupons, "payments/coupons.readonly"),
    ("/payments/coupon", "GET", coupons.get_coupon, "payments/coupons.readonly"),
    ("/payments/coupon", "POST", coupons.create_coupon, "payments/coupons.write"),
    ("/payments/coupon", "PUT", coupons.update_coupon, "payments/coupons.write"),
    ("/payments/coupon", "DELETE", coupons.delete_coupon, "payments/coupons.write"),
    ("/payments/custom-provider/provider", "POST", custom_providers.create_integration,
     "payments/custom-provider.write"),
    ("/payments/custom-provider/provider", "DELETE", custom_providers.delete_integration,
     "payments/custom-provider.write"),
    ("/payments/custom-provider/connect", "GET", custom_providers.fetch_config, "payments/custom-provider.readonly"),
    ("/payments/custom-provider/connect", "POST", custom_providers.create_config, "payments/custom-provider.write"),
    ("/payments/custom-provider/disconnect", "POST", custom_providers.disconnect_config,
     "payments/custom-provider.write"),
    ("/payments/custom-provider/capabilities", "PUT", custom_providers.update_capabilities,
     "payments/custom-provider.write"),
)


# Agency-Access-Only operations: (path, method, handler, scope, the Version values the path exists under).
OAUTH_TABLE = (
    ("/oauth/locationToken", "POST", oauth.location_token, "oauth.write", SUPPORTED_VERSIONS),
    # The v3 generation's path: the live API routes it under `Version: v3` only (404 otherwise).
    ("/oauth/location-token", "POST", oauth.location_token_v3, "oauth.write", frozenset({"v3"})),
)


def api_routes() -> list[Route]:
    by_path: dict[str, dict[str, object]] = {}
    for path, method, handler, scope in PAYMENTS_TABLE:
        by_path.setdefault(path, {})[method] = guarded(handler, scope)
    routes: list[Route] = []
    for path, methods in by_path.items():
        endpoint = _dispatch(methods)
        for variant in (path, path + "/"):
            routes.append(Route(variant, endpoint, methods=list(methods)))
    for variant in ("/oauth/token", "/oauth/token/"):
        routes.append(Route(variant, ghl_errors(oauth.token), methods=["POST"]))
    for path, method, handler, scope, versions in OAUTH_TABLE:
        endpoint = guarded(handler, scope, token_class="agency", versions=versions)
        for variant in (path, path + "/"):
            routes.append(Route(variant, endpoint, methods=[method]))
    return routes


def _dispatch(methods: dict[str, object]):  # type: ignore[no-untyped-def]
    async def endpoint(request):  # type: ignore[no-untyped-def]
        handler = methods.get(request.method) or methods["GET"]  # HEAD answers as GET
        return await handler(request)  # type: ignore[operator]

    return endpoint
