"""Domain records. Nested parts (items, sources, trackings) are small plain dicts with snake_case keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# Every payments scope the real API knows; the first token of each location holds all of them.
PAYMENTS_SCOPES: tuple[str, ...] = (
    "payments/orders.readonly",
    "payments/orders.write",
    "payments/orders.collectPayment",
    "payments/transactions.readonly",
    "payments/subscriptions.readonly",
    "payments/integration.readonly",
    "payments/integration.write",
    "payments/coupons.readonly",
    "payments/coupons.write",
    "payments/custom-provider.readonly",
    "payments/custom-provider.write",
)

# ---- statuses and kinds: the values each may take ----------------------------------------------------

OrderStatus = Literal["pending", "completed", "refunded", "cancelled"]
PaymentStatus = Literal["unpaid", "partially_paid", "paid", "refunded"]
FulfillmentStatus = Literal["unfulfilled", "partially_fulfilled", "fulfilled"]
TransactionStatus = Literal["succeeded", "failed", "pending", "refunded"]
SettleOutcome = Literal["succeeded", "failed"]  # what a pending payment becomes
SubscriptionStatus = Literal["active", "trialing", "past_due", "unpaid", "canceled", "incomplete"]
EntityType = Literal["order", "subscription"]  # what a transaction pays for
ProductType = Literal["PHYSICAL", "DIGITAL", "SERVICE"]
PriceType = Literal["one_time", "recurring"]
Interval = Literal["day", "week", "month", "year"]
TokenClass = Literal["location", "agency"]
TokenType = Literal["oauth", "pit"]
GrantKind = Literal["code", "refresh"]

TOKEN_CLASSES: tuple[TokenClass, ...] = get_args(TokenClass)
TOKEN_TYPES: tuple[TokenType, ...] = get_args(TokenType)


@dataclass(slots=True)
class Contact:
    id: str
    location_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    company_name: str
    address1: str
    city: str
    state: str
    postal_code: str
    country: str
    website: str
    source: str
    date_added: float
    date_of_birth: str
    tags: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def search_text(contact_snapshot: dict[str, Any], *extra: str) -> str:
    """Lower-cased text the `search` filter matches: contact name and email plus extra names."""
    parts = [contact_snapshot.get("first_name", ""), contact_snapshot.get("last_name", ""),
             contact_snapshot.get("email", ""), *extra]
    return " ".join(p for p in parts if p).lower()


@dataclass(slots=True)
class Product:
    id: str
    location_id: str
    name: str
    description: str
    product_type: ProductType
    image: str
    slug: str
    available_in_store: bool
    statement_descriptor: str
    created_at: float
    updated_at: float
    collection_ids: list[str] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Price:
    id: str
    location_id: str
    product_id: str
    name: str
    type: PriceType
    currency: str
    amount_minor: int  # money fields hold integer minor units (cents), named *_minor
    created_at: float
    updated_at: float
    # {"interval": day|week|month|year, "interval_count": int} for recurring prices
    recurring: dict[str, Any] | None = None
    compare_at_price_minor: int | None = None
    track_inventory: bool = False
    available_quantity: int = 0
    allow_out_of_stock_purchases: bool = True
    variant_option_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Funnel:
    """A funnel, store or other place of a location that orders come from: the API's `sourceId` /
    `entitySourceId` (a 20-character id like a location's), shared by all its orders. `steps` are the
    pages an order can be placed on: [{"sub_type", "page_id", "page_url", "step_id"}] (funnels and
    website stores); other kinds have one step with only a `sub_type` and no page meta."""

    id: str
    location_id: str
    type: str  # the API's sourceType: funnel, website, payment_link, ...
    name: str
    domain: str
    steps: list[dict[str, Any]]
    created_at: float

    def step(self, sub_type: str) -> dict[str, Any] | None:
        return next((s for s in self.steps if s["sub_type"] == sub_type), None)


@dataclass(slots=True)
class Order:
    id: str
    location_id: str
    contact_id: str
    currency: str
    # [{"id", "price_id", "product_id", "name", "qty", "unit_amount_minor"}]
    items: list[dict[str, Any]]
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    shipping_minor: int
    amount_minor: int
    live_mode: bool
    # {"type", "sub_type", "id", "name", "meta": {...}}: the Funnel and step the order was placed on
    source: dict[str, Any]
    created_at: float
    updated_at: float
    created_by: str = ""
    coupon_code: str = ""
    coupon_id: str = ""  # the location's coupon the order redeemed (its usage count is derived from these)
    fingerprint: str = ""
    cancelled: bool = False
    # Derived from transactions and fulfillments (see ghl.state.derive); never set by hand.
    status: OrderStatus = "pending"
    payment_status: PaymentStatus = "unpaid"
    fulfillment_status: FulfillmentStatus = "unfulfilled"
    # The contact as it was when the order was placed (GHL keeps a snapshot on the order).
    contact_snapshot: dict[str, Any] = field(default_factory=dict)

    @property
    def product_ids(self) -> list[str]:
        return [item["product_id"] for item in self.items]


@dataclass(slots=True)
class Transaction:
    id: str
    location_id: str
    contact_id: str
    order_id: str  # the API's entityId
    currency: str
    amount_minor: int
    status: TransactionStatus
    live_mode: bool
    charge_id: str
    provider_type: str
    connected_account: dict[str, Any]
    payment_method: dict[str, Any]
    source: dict[str, Any]
    created_at: float
    updated_at: float
    fulfilled_at: float
    amount_refunded_minor: int = 0
    entity_type: EntityType = "order"
    subscription_id: str = ""  # GHL subscription _id, if a renewal
    provider_subscription_id: str = ""  # provider id (sub_...), the API's subscriptionId filter
    ip_address: str = ""
    receipt_id: str = ""
    failure_reason: str = ""
    created_by: str = ""
    contact_snapshot: dict[str, Any] = field(default_factory=dict)
    # A pending payment settles after N polls of its order, or when the sandbox clock reaches settle_at.
    settle_after_polls: int = 0
    settle_at: float | None = None
    settle_outcome: SettleOutcome = "succeeded"


@dataclass(slots=True)
class Subscription:
    id: str
    location_id: str
    contact_id: str
    order_id: str  # the API's entityId
    price_id: str
    product_id: str
    currency: str
    amount_minor: int
    status: SubscriptionStatus
    live_mode: bool
    provider_type: str
    provider_subscription_id: str
    connected_account: dict[str, Any]
    interval: Interval
    interval_count: int
    source: dict[str, Any]
    created_at: float
    updated_at: float
    current_period_start: float
    next_billing_at: float | None
    canceled_at: float | None = None
    canceled_by: str = ""
    ip_address: str = ""
    payments_collected: int = 0
    contact_snapshot: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Fulfillment:
    id: str
    location_id: str
    order_id: str
    items: list[dict[str, Any]]  # [{"price_id", "qty"}]
    trackings: list[dict[str, Any]]  # [{"tracking_number", "shipping_carrier", "tracking_url"}]
    notify_customer: bool
    created_at: float
    updated_at: float


@dataclass(slots=True)
class OrderNote:
    """A note recorded with something done to an order (today: a manual payment), listed by
    `GET /payments/orders/{orderId}/notes`."""

    id: str
    location_id: str
    order_id: str
    kind: str  # what the note was recorded with: "payment"
    text: str
    created_at: float
    updated_at: float
    transaction_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class WhitelabelProvider:
    id: str
    location_id: str
    unique_name: str
    route: str
    title: str
    provider: str  # authorize-net | nmi
    description: str
    image_url: str
    created_at: float
    updated_at: float


CouponDiscountType = Literal["percentage", "amount"]
CouponStatus = Literal["scheduled", "active", "expired"]  # derived from the sandbox clock, never stored
COUPON_DISCOUNT_TYPES: tuple[CouponDiscountType, ...] = get_args(CouponDiscountType)
COUPON_STATUSES: tuple[CouponStatus, ...] = get_args(CouponStatus)
COUPON_NO_END = 1e15  # the end a coupon without an end date is filtered by (far past year 9000)


@dataclass(slots=True)
class Coupon:
    id: str
    location_id: str
    name: str
    code: str
    discount_type: CouponDiscountType
    # percentage: hundredths of a percent (2550 is 25.5%); amount: minor units of the location's currency
    discount_value: int
    currency: str
    start_at: float
    end_at: float | None
    created_at: float
    updated_at: float
    usage_limit: int | None = None  # None: unlimited
    limit_per_customer: bool = False
    product_ids: list[str] = field(default_factory=list)
    apply_to_future_payments: bool = True
    # {"type": "forever"} or {"type": "fixed", "duration": int, "duration_type": "months"}
    apply_to_future_payments_config: dict[str, Any] = field(default_factory=lambda: {"type": "forever"})
    user_id: str = ""

    @property
    def code_key(self) -> str:
        """Codes are matched case-insensitively (a customer types them)."""
        return self.code.upper()


@dataclass(slots=True)
class App:
    """A marketplace app: OAuth client credentials map to it."""

    id: str
    client_id: str  # "<appId>-<suffix>", as GHL client ids look
    client_secret: str
    version_id: str
    company_id: str
    name: str
    redirect_uri: str


@dataclass(slots=True)
class Token:
    id: str  # public token id, safe to journal
    secret: str  # the bearer value
    location_id: str
    company_id: str
    app_id: str  # rate-limit bucket owner; a PIT is its own app
    token_class: TokenClass
    token_type: TokenType
    scopes: list[str]
    created_at: float
    expires_at: float | None = None
    revoked: bool = False
    user_id: str = ""


@dataclass(slots=True)
class Grant:
    """An authorization code or a refresh token: single use, then consumed."""

    id: str  # the code / refresh token value
    kind: GrantKind
    app_id: str
    location_id: str
    company_id: str
    token_class: TokenClass
    scopes: list[str]
    expires_at: float
    used: bool = False
    user_id: str = ""


# ---- the webhook events GHL sends ------------------------------------------------------------------

ORDER_EVENTS = ("OrderCreate", "OrderStatusUpdate")
# Sandbox-only events (GHL has no marketplace webhook for transactions or subscriptions); sent only with
# --extension-events.
EXTENSION_EVENTS = ("SandboxTransactionCreate", "SandboxTransactionUpdate", "SandboxSubscriptionCreate",
                    "SandboxSubscriptionUpdate")


@dataclass(slots=True)
class CustomProvider:
    """A location's custom payment provider (one per location) and its live and test configurations.

    `live` / `test` hold `{"api_key", "publishable_key"}` while that mode is connected, else None."""

    id: str
    location_id: str
    company_id: str
    marketplace_app_id: str
    name: str
    description: str
    payments_url: str
    query_url: str
    image_url: str
    supports_subscription_schedule: bool
    created_at: float
    updated_at: float
    live: dict[str, str] | None = None
    test: dict[str, str] | None = None
