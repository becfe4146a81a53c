"""Where orders come from: a location's funnels, stores and other order sources (`Funnel` records).

An order's `source` (`sourceId`, `source.id`; `entitySourceId` on its transactions and subscriptions) is
the funnel or store it was placed in: a 20-character id like a location's, the same for every order of
that funnel, so `GET /payments/orders?sourceId=` lists the funnel's orders. Funnels and website stores
are made of pages (steps); an order records the step it was placed on in `source.subType` and
`source.meta {domain, pageId, pageUrl, stepId}`. Other kinds (invoices, payment links, the point of
sale ...) have no pages: their orders' `source.meta` is `{}`.
"""

from __future__ import annotations

import random
from typing import Any

from mock_server.ghl.models import Funnel
from mock_server.ids import IdFactory
from mock_server.store import Condition, Store

# (type, name, sub types of its steps): every (type, subType) the seed places orders with has a source.
CATALOG: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("funnel", "Spring Challenge Funnel", ("one_step_order_form", "two_step_order_form", "upsell")),
    ("funnel", "Coaching Funnel", ("one_step_order_form", "two_step_order_form", "upsell")),
    ("funnel", "Gear Funnel", ("one_step_order_form", "two_step_order_form", "upsell")),
    ("website", "Online Store", ("store", "store_upsell")),
    ("payment_link", "Payment Link", ("qr_code",)),
    ("invoice", "Invoice", ("payments_dashboard",)),
    ("text2Pay", "Text2Pay", ("contact_view",)),
    ("point_of_sale", "Point Of Sale", ("tap_to_pay",)),
    ("calendar", "Calendar", ("meeting",)),
    ("membership", "Membership", ("saas_subscription",)),
    ("manual", "Manual", ("contact_view",)),
    ("external", "Shopify Store", ("shopify",)),
    ("form", "Order Form", ("one_step_order_form",)),
    ("communities", "Communities", ("service",)),
)
PAGED_TYPES = frozenset({"funnel", "website"})  # built of pages: their orders carry page meta


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def make(ids: IdFactory, *, location_id: str, type_: str, name: str, sub_types: tuple[str, ...],
         created_at: float) -> Funnel:
    """A source of `type_` with one step per sub type (pages only for funnels and stores)."""
    funnel_id = ids.short_id()
    domain = f"{_slug(name.split()[0])}.example.com" if type_ in PAGED_TYPES else ""
    steps: list[dict[str, Any]] = []
    for sub_type in sub_types:
        if type_ in PAGED_TYPES:
            page_id = ids.short_id()
            steps.append({"sub_type": sub_type, "page_id": page_id, "page_url": f"/v2/preview/{page_id}",
                          "step_id": ids.uuid()})
        else:
            steps.append({"sub_type": sub_type})
    return Funnel(id=funnel_id, location_id=location_id, type=type_, name=name, domain=domain, steps=steps,
                  created_at=created_at)


def seed(location_id: str, stream: str, created_at: float) -> list[Funnel]:
    """The seeded sources of a location, from their own id stream (the rest of the seed does not move)."""
    ids = IdFactory(f"{stream}-funnels")
    return [make(ids, location_id=location_id, type_=t, name=n, sub_types=subs, created_at=created_at + i)
            for i, (t, n, subs) in enumerate(CATALOG)]


def order_source(funnel: Funnel, sub_type: str) -> dict[str, Any]:
    """An order's `source` placed on `funnel`'s step of `sub_type` (the model's snake_case keys)."""
    step = funnel.step(sub_type) or funnel.steps[0]
    meta: dict[str, Any] = {}
    if "page_id" in step:
        meta = {"domain": funnel.domain, "page_id": step["page_id"], "page_url": step["page_url"],
                "step_id": step["step_id"]}
    return {"type": funnel.type, "sub_type": step["sub_type"], "id": funnel.id, "name": funnel.name, "meta": meta}


def pick(funnels: list[Funnel], type_: str, sub_type: str, rng: random.Random) -> Funnel:
    """One of the sources of `type_` that has a `sub_type` step (the seed's draw)."""
    fitting = [f for f in funnels if f.type == type_ and f.step(sub_type) is not None]
    return rng.choice(fitting)


def of_location(store: Store, location_id: str) -> list[Funnel]:
    return store.table(Funnel).all([Condition("location_id", "=", location_id)])


def for_order(store: Store, ids: IdFactory, location_id: str, type_: str, sub_type: str,
              at: float) -> Funnel:
    """The location's first source of `type_` with a `sub_type` step; a location without one (a
    custom type, or a state file from before sources were seeded) gets one, stored, and keeps it."""
    funnels = of_location(store, location_id)
    for f in funnels:
        if f.type == type_ and f.step(sub_type) is not None:
            return f
    same_type = next((f for f in funnels if f.type == type_), None)
    if same_type is not None:
        return with_step(store, ids, same_type, sub_type, at)
    name = "Sandbox Funnel" if type_ == "funnel" else type_.replace("_", " ").title()
    funnel = make(ids, location_id=location_id, type_=type_, name=name, sub_types=(sub_type,), created_at=at)
    store.table(Funnel).put(funnel)
    return funnel


def with_step(store: Store, ids: IdFactory, funnel: Funnel, sub_type: str, at: float) -> Funnel:
    """`funnel`, given a page (step) of `sub_type` if it has none yet (stored)."""
    if funnel.step(sub_type) is None:
        extra = make(ids, location_id=funnel.location_id, type_=funnel.type, name=funnel.name,
                     sub_types=(sub_type,), created_at=at)
        funnel.steps.append(extra.steps[0])
        store.table(Funnel).put(funnel)
    return funnel


def by_id(store: Store, location_id: str, funnel_id: str) -> Funnel | None:
    funnel = store.table(Funnel).get(funnel_id)
    return funnel if funnel is not None and funnel.location_id == location_id else None
