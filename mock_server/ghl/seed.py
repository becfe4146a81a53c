"""Deterministic seeded data: one `--seed` gives the same ids and data byte for byte.

Every location is seeded from its own random stream (seed, location index), so a location can be
re-seeded alone and a new location never disturbs the others. Timestamps are anchored at a fixed
epoch, not at the wall clock, so two runs months apart still agree.
"""

from __future__ import annotations

import base64
import itertools
import random
from dataclasses import dataclass
from typing import Any

import orjson
from faker import Faker

from mock_server.clock import parse_iso
from mock_server.ghl import factories, money, sources, state, users
from mock_server.ghl.actions import PERIOD_DAYS
from mock_server.ghl.factories import snapshot
from mock_server.ghl.models import (
    PAYMENTS_SCOPES,
    App,
    Contact,
    EntityType,
    Fulfillment,
    Funnel,
    Interval,
    Order,
    Price,
    Product,
    ProductType,
    Subscription,
    SubscriptionStatus,
    Token,
    TokenClass,
    TokenType,
    Transaction,
    TransactionStatus,
    WhitelabelProvider,
)
from mock_server.ids import IdFactory
from mock_server.locations import Location
from mock_server.store import Store

SEED_EPOCH = parse_iso("2026-10-01T00:00:00Z")
DAY = 86400.0
DEFAULT_ORDERS = 260
SECOND_LOCATION_ORDERS = 40
MAX_CONTACTS = 4000

# name, product type, one-time price range (whole major units), recurring interval or None
CATALOG: tuple[tuple[str, ProductType, tuple[int, int], Interval | None], ...] = (
    ("Trail Running Shoes", "PHYSICAL", (89, 149), None),
    ("Merino Wool Hoodie", "PHYSICAL", (79, 129), None),
    ("Insulated Water Bottle", "PHYSICAL", (19, 39), None),
    ("Yoga Mat Pro", "PHYSICAL", (39, 89), None),
    ("Resistance Band Set", "PHYSICAL", (15, 35), None),
    ("Foam Roller", "PHYSICAL", (19, 45), None),
    ("Adjustable Dumbbells", "PHYSICAL", (149, 349), None),
    ("Protein Powder 2kg", "PHYSICAL", (39, 69), None),
    ("Smart Jump Rope", "PHYSICAL", (29, 59), None),
    ("Gym Duffel Bag", "PHYSICAL", (49, 99), None),
    ("Meal Plan E-book", "DIGITAL", (9, 29), None),
    ("Marathon Training Guide", "DIGITAL", (19, 49), None),
    ("Mobility Video Course", "DIGITAL", (49, 199), None),
    ("Macro Calculator Template", "DIGITAL", (5, 15), None),
    ("1:1 Coaching Session", "SERVICE", (79, 199), None),
    ("Form Check Review", "SERVICE", (29, 59), None),
    ("Nutrition Consultation", "SERVICE", (59, 149), None),
    ("Body Composition Scan", "SERVICE", (39, 89), None),
    ("Coaching Membership", "SERVICE", (29, 99), "month"),
    ("Online Program Access", "DIGITAL", (15, 49), "month"),
    ("Supplement Subscription Box", "PHYSICAL", (35, 75), "month"),
    ("Annual Gym Pass", "SERVICE", (299, 699), "year"),
    ("Weekly Meal Kit", "PHYSICAL", (49, 89), "week"),
    ("Community Access", "DIGITAL", (9, 19), "month"),
)

# (type, subType, weight) for order sources
SOURCES: tuple[tuple[str, str, int], ...] = (
    ("funnel", "one_step_order_form", 20),
    ("funnel", "two_step_order_form", 14),
    ("funnel", "upsell", 6),
    ("website", "store", 16),
    ("website", "store_upsell", 3),
    ("payment_link", "qr_code", 5),
    ("invoice", "payments_dashboard", 6),
    ("text2Pay", "contact_view", 4),
    ("point_of_sale", "tap_to_pay", 5),
    ("calendar", "meeting", 4),
    ("membership", "saas_subscription", 3),
    ("manual", "contact_view", 5),
    ("external", "shopify", 3),
    ("form", "one_step_order_form", 3),
    ("communities", "service", 3),
)

# Orders of these source types are made by the location's staff (`createdBy` is a user id); customers
# place the others (no `createdBy`).
STAFF_SOURCE_TYPES = frozenset({"manual", "invoice", "text2Pay", "point_of_sale"})

SUBSCRIPTION_STATES: tuple[tuple[SubscriptionStatus, int], ...] = (
    ("active", 24), ("trialing", 3), ("past_due", 3), ("unpaid", 2), ("canceled", 6), ("incomplete", 2),
)


@dataclass
class SeededLocation:
    location: Location
    tokens: list[Token]


def fake_jwt(ids: IdFactory, claims: dict[str, Any]) -> str:
    """A JWT-shaped bearer value (GHL's OAuth tokens are JWTs); the signature is random, nothing checks it."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    body = b64(orjson.dumps(claims))
    sig = b64(bytes.fromhex(ids.object_id() + ids.object_id()))
    return f"{header}.{body}.{sig}"


def seed_app(store: Store, seed: int) -> tuple[App, str]:
    """The sandbox's marketplace app and its company (agency)."""
    ids = IdFactory(f"app-{seed}")
    app_id = ids.object_id()
    company_id = ids.short_id()
    app = App(
        id=app_id,
        client_id=f"{app_id}-{ids.provider_ref('', 8).lower()}",
        client_secret=ids.token(""),
        version_id=ids.object_id(),
        company_id=company_id,
        name="Sandbox Sync App",
        redirect_uri="http://127.0.0.1/oauth/callback",
    )
    store.table(App).put(app)
    return app, company_id


def token_claims(token_class: TokenClass, location_id: str, company_id: str, app_id: str, token_id: str,
                 issued_at: float | None = None, expires_at: float | None = None) -> dict[str, Any]:
    """The claims of an OAuth access token as GHL's look (seeded tokens carry no iat/exp)."""
    claims: dict[str, Any] = {"authClass": "Location" if token_class == "location" else "Company",
                              "authClassId": location_id if token_class == "location" else company_id,
                              "source": "INTEGRATION", "sourceId": app_id, "channel": "OAUTH", "tokenId": token_id}
    if issued_at is not None and expires_at is not None:
        claims.update(iat=int(issued_at), exp=int(expires_at))
    return claims


def issue_token(
    ids: IdFactory,
    *,
    location_id: str,
    company_id: str,
    app_id: str,
    scopes: list[str],
    token_class: TokenClass,
    token_type: TokenType,
    created_at: float,
    expires_at: float | None,
) -> Token:
    token_id = ids.object_id()
    if token_type == "pit":
        secret = "pit-" + ids.uuid()
        bucket_app = token_id  # a private integration token counts as its own app
    else:
        secret = fake_jwt(ids, token_claims(token_class, location_id, company_id, app_id, token_id))
        bucket_app = app_id
    return Token(
        id=token_id,
        secret=secret,
        location_id=location_id,
        company_id=company_id,
        app_id=bucket_app,
        token_class=token_class,
        token_type=token_type,
        scopes=list(scopes),
        created_at=created_at,
        expires_at=expires_at,
    )


def seed_location(
    store: Store,
    *,
    seed: int,
    index: int,
    name: str,
    orders: int,
    app: App,
    location_id: str | None = None,
    with_agency_token: bool = False,
) -> SeededLocation:
    """Create (or re-create) one location with its own contacts, catalog, orders and tokens."""
    stream = f"{seed}-{index}"
    rng = random.Random(f"data-{stream}")
    ids = IdFactory(stream)
    fake = Faker("en_US", use_weighting=False)  # uniform picks: much faster, still realistic names
    fake.seed_instance(f"faker-{stream}")
    loc_id = location_id or ids.short_id()
    if location_id:
        ids.short_id()  # keep the stream aligned with a fresh seeding of the same location
    location = Location(id=loc_id, name=name, company_id=app.company_id, seed=seed, orders=orders,
                        # `+ index`: locations list in the order they were made, not by their random ids.
                        created_at=SEED_EPOCH - 400 * DAY + index, email=fake.company_email(),
                        phone=fake.phone_number())

    # Listed in issuance order (one second apart): the marketplace-app token, the PIT, the agency token.
    tokens = [
        issue_token(ids, location_id=loc_id, company_id=app.company_id, app_id=app.id, scopes=list(PAYMENTS_SCOPES),
                    token_class="location", token_type="oauth", created_at=SEED_EPOCH, expires_at=None),
        issue_token(ids, location_id=loc_id, company_id=app.company_id, app_id=app.id, scopes=list(PAYMENTS_SCOPES),
                    token_class="location", token_type="pit", created_at=SEED_EPOCH + 1, expires_at=None),
    ]
    if with_agency_token:
        tokens.append(issue_token(ids, location_id=loc_id, company_id=app.company_id, app_id=app.id,
                                  scopes=list(PAYMENTS_SCOPES), token_class="agency", token_type="oauth",
                                  created_at=SEED_EPOCH + 2, expires_at=None))

    contacts = _contacts(fake, rng, ids, loc_id, orders)
    funnels = sources.seed(loc_id, stream, SEED_EPOCH - 350 * DAY)
    staff = users.location_users(loc_id)
    products, prices = _catalog(rng, ids, loc_id)
    one_time = [p for p in prices if p.type == "one_time"]
    recurring = [p for p in prices if p.type == "recurring"]
    by_product = {p.id: p for p in products}

    subscription_count = round(40 * orders / DEFAULT_ORDERS) if orders else 0
    subscription_count = min(subscription_count, orders)
    # Whole milliseconds, so the ISO timestamps the API shows compare exactly like the stored values.
    created = sorted(round(SEED_EPOCH - rng.uniform(0.5, 180) * DAY, 3) for _ in range(orders))
    subscription_slots = set(rng.sample(range(orders), subscription_count)) if orders else set()
    sub_states = _spread(SUBSCRIPTION_STATES, subscription_count, rng)

    all_orders: list[Order] = []
    all_txns: list[Transaction] = []
    all_subs: list[Subscription] = []
    all_fulfillments: list[Fulfillment] = []
    source_weights = list(itertools.accumulate(w for _, _, w in SOURCES))
    for n, created_at in enumerate(created):
        contact = rng.choice(contacts)
        src_type, src_sub, _ = rng.choices(SOURCES, cum_weights=source_weights)[0]
        is_sub = n in subscription_slots
        if is_sub:
            chosen = [rng.choice(recurring)]
            src_type, src_sub = "funnel", "one_step_order_form"
        else:
            chosen = rng.sample(one_time, k=rng.choice((1, 1, 1, 2, 2, 3)))
        items: list[dict[str, Any]] = []
        for price in chosen:
            qty = 1 if price.type == "recurring" or by_product[price.product_id].product_type != "PHYSICAL" \
                else rng.choice((1, 1, 1, 2, 3))
            items.append(factories.order_item(ids, price, qty))
        subtotal = factories.subtotal_minor(items)
        coupon = rng.random() < 0.12
        discount = seeded_share(subtotal, 0.1) if coupon else 0
        physical = any(by_product[i["product_id"]].product_type == "PHYSICAL" for i in items)
        shipping = 599 if physical and rng.random() < 0.6 else 0
        tax = seeded_share(subtotal - discount, 0.08) if rng.random() < 0.3 else 0
        live = rng.random() < 0.9
        # The random draws in the order they are made: the funnel (or store ...), then the coupon number.
        funnel = sources.pick(funnels, src_type, src_sub, rng)
        coupon_code = f"SAVE10-{rng.randint(100, 999)}" if coupon else ""
        order = factories.order(
            ids, location_id=loc_id, contact_snapshot=snapshot(contact), currency="USD", items=items,
            live_mode=live, source=sources.order_source(funnel, src_sub), created_at=created_at,
            discount_minor=discount, tax_minor=tax, shipping_minor=shipping, coupon_code=coupon_code,
            created_by=staff[n % len(staff)] if src_type in STAFF_SOURCE_TYPES else "",
        )
        txns = _order_payments(rng, ids, order, is_sub)
        if not txns and not is_sub and rng.random() < 0.35:
            order.cancelled = True
        fulfillments: list[Fulfillment] = []
        pay_status = state.payment_status(order, txns)
        if pay_status == "paid" and physical and rng.random() < 0.45:
            fulfillments.append(_fulfil(rng, ids, order, by_product))
        state.derive(order, txns, fulfillments)
        order.updated_at = max([order.created_at, *(t.updated_at for t in txns), *(f.created_at for f in fulfillments)])
        all_orders.append(order)
        all_txns += txns
        all_fulfillments += fulfillments
        if is_sub:
            sub, renewals = _subscription(rng, ids, order, chosen[0], sub_states.pop(), txns, staff)
            all_subs.append(sub)
            all_txns += renewals

    providers = [
        WhitelabelProvider(id=ids.object_id(), location_id=loc_id, unique_name=u, route=u, title=t, provider=p,
                           description=d, image_url=f"https://assets.example.com/{u}.png",
                           created_at=SEED_EPOCH - (30 - 10 * i) * DAY, updated_at=SEED_EPOCH - (30 - 10 * i) * DAY)
        for i, (u, t, p, d) in enumerate((
            ("easy-direct", "Easy Direct", "nmi", "Card payments through our NMI gateway"),
            ("secure-pay", "Secure Pay", "authorize-net", "Card payments through Authorize.net"),
        ))
    ]

    with store.transaction():
        store.delete_location(loc_id)
        store.table(Location).put(location)
        store.table(Token).put_many(tokens)
        store.table(Contact).put_many(contacts)
        store.table(Funnel).put_many(funnels)
        store.table(Product).put_many(products)
        store.table(Price).put_many(prices)
        store.table(Order).put_many(all_orders)
        store.table(Transaction).put_many(all_txns)
        store.table(Subscription).put_many(all_subs)
        store.table(Fulfillment).put_many(all_fulfillments)
        store.table(WhitelabelProvider).put_many(providers)
    return SeededLocation(location, tokens)


def seed_world(store: Store, seed: int, orders: int = DEFAULT_ORDERS) -> list[SeededLocation]:
    """The default data: two locations (the second for isolation tests) under one app and company."""
    app, _ = seed_app(store, seed)
    first = seed_location(store, seed=seed, index=0, name="Northwind Fitness", orders=orders, app=app,
                          with_agency_token=True)
    second = seed_location(store, seed=seed, index=1, name="Contoso Wellness",
                           orders=min(SECOND_LOCATION_ORDERS, orders), app=app)
    store.set_meta("seed", seed)
    store.set_meta("location_counter", 2)
    store.set_meta("location_index", {first.location.id: 0, second.location.id: 1})
    return [first, second]


# ---- pieces ---------------------------------------------------------------------------------------


def seeded_cents(value: float) -> int:
    """A float amount in major units rounded to cents as the seed always has (the float's binary value,
    half-even: `round(v, 2)`). Only the seed's percentage shares use it, so that a `--seed` keeps
    producing byte-identical data; everything else is exact integer arithmetic."""
    return round(round(value, 2) * 100)


def seeded_share(minor: int, ratio: float) -> int:
    """`ratio` of an amount of cents (a 10% coupon, a half payment ...), rounded as the seed always has."""
    return seeded_cents(minor / 100 * ratio)


def _contacts(fake: Faker, rng: random.Random, ids: IdFactory, loc_id: str, orders: int) -> list[Contact]:
    count = max(30, min(MAX_CONTACTS, orders // 2))
    out = []
    for _ in range(count):
        first, last = fake.first_name(), fake.last_name()
        out.append(Contact(
            id=ids.short_id(), location_id=loc_id, first_name=first, last_name=last,
            email=f"{first}.{last}{rng.randint(1, 99)}@{fake.free_email_domain()}".lower(),
            phone=f"+1{rng.randint(2012000000, 9899999999)}", company_name=fake.company(),
            address1=fake.street_address(), city=fake.city(), state=fake.state_abbr(),
            postal_code=fake.postcode(), country="US", website=f"https://{fake.domain_name()}",
            source=rng.choice(("funnel", "website", "manual", "import")),
            date_added=SEED_EPOCH - rng.uniform(180, 400) * DAY,
            date_of_birth=f"{rng.randint(1955, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            tags=rng.sample(["customer", "vip", "newsletter", "lead", "member"], k=rng.randint(0, 2)),
        ))
    return out


def _catalog(rng: random.Random, ids: IdFactory, loc_id: str) -> tuple[list[Product], list[Price]]:
    products, prices = [], []
    for i, (name, ptype, (lo, hi), interval) in enumerate(CATALOG):
        created = SEED_EPOCH - (300 - i) * DAY
        slug = name.lower().replace(":", "").replace(" ", "-")
        product = Product(id=ids.object_id(), location_id=loc_id, name=name, description=f"{name} from our store",
                          product_type=ptype, image=f"https://assets.example.com/{slug}.jpg", slug=slug,
                          available_in_store=ptype == "PHYSICAL", statement_descriptor=name[:22].upper(),
                          created_at=created, updated_at=created)
        products.append(product)
        amount = rng.randint(lo, hi) * 100 - 1  # x.99
        recurring = {"interval": interval, "interval_count": 1} if interval else None
        prices.append(Price(id=ids.object_id(), location_id=loc_id, product_id=product.id,
                            name=name if not interval else f"{name} ({interval}ly)",
                            type="recurring" if interval else "one_time", currency="USD",
                            amount_minor=amount, created_at=created, updated_at=created, recurring=recurring,
                            # x.99 * 1.2 ends in .8 of a cent, never a half: exact rounding agrees with the float one
                            compare_at_price_minor=money.round_minor(money.scale(amount, "1.2"))
                            if rng.random() < 0.3 else None,
                            track_inventory=ptype == "PHYSICAL", available_quantity=rng.randint(0, 500)))
    return products, prices


def _charge(rng: random.Random, ids: IdFactory, order: Order, amount: int, at: float, status: TransactionStatus,
            *, refunded: int = 0, entity_type: EntityType = "order",
            entity_id: str | None = None, subscription: Subscription | None = None) -> Transaction:
    # Random draws in the order they were always made: provider, brand, last4, IP address. A renewal goes
    # through its subscription's provider (the draw is made all the same, so later records do not move).
    provider = rng.choice(("stripe", "stripe", "stripe", "authorize-net", "nmi", "paypal"))
    if subscription is not None:
        provider = subscription.provider_type
    brand = rng.choice(("visa", "mastercard", "amex", "discover"))
    card = {"brand": brand, "last4": f"{rng.randint(0, 9999):04d}"}
    ip_address = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return factories.transaction(
        ids, order, amount_minor=amount, status=status, at=at, provider=provider, card=card, ip_address=ip_address,
        refunded_minor=refunded, updated_at=at + (60 if refunded else 0), entity_type=entity_type,
        entity_id=entity_id, subscription=subscription,
    )


def _order_payments(rng: random.Random, ids: IdFactory, order: Order, is_sub: bool) -> list[Transaction]:
    at = round(order.created_at + rng.uniform(1, 30), 3)
    r = 0.3 * rng.random() if is_sub else rng.random()
    amount = order.amount_minor
    if r < 0.68:
        return [_charge(rng, ids, order, amount, at, "succeeded")]
    if r < 0.76:
        return [_charge(rng, ids, order, seeded_share(amount, 0.5), at, "succeeded")]
    if r < 0.84:
        failed = _charge(rng, ids, order, amount, at, "failed")
        if rng.random() < 0.5:
            return [failed, _charge(rng, ids, order, amount, at + 3600, "succeeded")]
        return [failed]
    if r < 0.90:
        return [_charge(rng, ids, order, amount, at, "succeeded", refunded=amount)]
    if r < 0.94:
        return [_charge(rng, ids, order, amount, at, "succeeded", refunded=seeded_share(amount, 0.3))]
    if r < 0.97:
        return [_charge(rng, ids, order, amount, at, "pending")]
    return []


def _fulfil(rng: random.Random, ids: IdFactory, order: Order, by_product: dict[str, Product]) -> Fulfillment:
    physical = [i for i in order.items if by_product[i["product_id"]].product_type == "PHYSICAL"]
    partial = rng.random() < 0.3
    items = []
    for i in physical:
        qty = i["qty"]
        if partial and qty > 1:
            qty -= 1
        items.append({"price_id": i["price_id"], "qty": qty})
    if partial and len(items) > 1 and all(i["qty"] == q["qty"] for i, q in zip(items, physical, strict=True)):
        items = items[:1]
    at = order.created_at + rng.uniform(1, 5) * DAY
    carrier = rng.choice(("UPS", "USPS", "FedEx", "DHL"))
    number = f"1Z{rng.randint(10**9, 10**10 - 1)}"
    return factories.fulfillment(ids, order, items=items,
                                 trackings=[{"tracking_number": number, "shipping_carrier": carrier,
                                             "tracking_url": f"https://track.example.com/{carrier.lower()}/{number}"}],
                                 notify_customer=rng.random() < 0.7, at=at)


def _subscription(rng: random.Random, ids: IdFactory, order: Order, price: Price, status: SubscriptionStatus,
                  order_txns: list[Transaction], staff: tuple[str, ...]) -> tuple[Subscription, list[Transaction]]:
    provider = order_txns[0].provider_type if order_txns else "stripe"
    sub = factories.subscription(ids, order, price, status=status, provider=provider, at=order.created_at,
                                 next_billing_at=None, ip_address=order_txns[0].ip_address if order_txns else "")
    period = PERIOD_DAYS[sub.interval] * DAY
    for t in order_txns:
        t.subscription_id = sub.id
        t.provider_subscription_id = sub.provider_subscription_id
    renewals: list[Transaction] = []
    periods = int((SEED_EPOCH - order.created_at) // period)
    paid_periods = 1 if any(t.status == "succeeded" for t in order_txns) else 0
    for k in range(1, min(periods, 2) + 1):
        at = order.created_at + k * period
        failed = status in ("past_due", "unpaid") and k == min(periods, 2)
        if status in ("incomplete", "trialing"):
            break
        renewals.append(_charge(rng, ids, order, price.amount_minor, at, "failed" if failed else "succeeded",
                                entity_type="subscription", entity_id=sub.id, subscription=sub))
        paid_periods += 0 if failed else 1
    start = order.created_at + max(0, periods) * period
    sub.current_period_start = start
    sub.payments_collected = paid_periods
    if status == "canceled":
        sub.canceled_at = min(SEED_EPOCH - DAY, order.created_at + rng.uniform(1, 60) * DAY)
        sub.canceled_by = staff[int(sub.id, 16) % len(staff)]  # a user of the location cancelled it
        sub.updated_at = sub.canceled_at
        # Nothing is charged after the cancellation, and the last period is the one it was cancelled in.
        # (The dropped renewals were drawn already, so the random streams of later records do not move.)
        late = [r for r in renewals if r.created_at > sub.canceled_at]
        renewals = [r for r in renewals if r.created_at <= sub.canceled_at]
        sub.payments_collected -= sum(1 for r in late if r.status == "succeeded")
        sub.current_period_start = order.created_at + ((sub.canceled_at - order.created_at) // period) * period
    else:
        sub.next_billing_at = start + period
        sub.updated_at = max([sub.created_at, *(r.created_at for r in renewals)])
    return sub, renewals


def _spread(weights: tuple[tuple[SubscriptionStatus, int], ...], n: int,
            rng: random.Random) -> list[SubscriptionStatus]:
    """n states in the given proportions (exact for the default 40), shuffled."""
    total = sum(w for _, w in weights)
    out: list[SubscriptionStatus] = []
    for name, w in weights:
        out += [name] * round(n * w / total)
    while len(out) < n:
        out.append("active")
    out = out[:n]
    rng.shuffle(out)
    return out
