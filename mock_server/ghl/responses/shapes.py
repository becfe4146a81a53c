"""Domain records -> the JSON shapes GHL answers. List items are flattened (`sourceType`,
`entitySource*`, `paymentProviderType`); get-by-id nests (`source`, `entitySource`, `paymentProvider`,
`contactSnapshot`). Keys are GHL's camelCase with `_id`. Amounts are stored in minor units and rendered here in major
units (`to_major`), except the provider snapshots (`chargeSnapshot`, `subscriptionSnapshot`), which are
in each provider's own format (mock_server/ghl/providers.py; Stripe's show minor units).

Fields GHL leaves out when they have no value are left out, not sent as "": `subscriptionId` (a
payment outside a subscription), `couponCode` (an order without a coupon), `createdBy` (nothing a user
made), `canceledAt`/`canceledBy` (a subscription not cancelled), `paymentProviderConnectedAccount`
(a manual payment), tracking fields that were not given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from mock_server import jsjson
from mock_server.clock import iso_ms
from mock_server.ghl import providers
from mock_server.ghl.models import (
    Fulfillment,
    Order,
    Price,
    Product,
    Subscription,
    Transaction,
    WhitelabelProvider,
)
from mock_server.ghl.money import to_major

_META_KEYS = (("domain", "domain"), ("page_id", "pageId"), ("page_url", "pageUrl"), ("step_id", "stepId"))


def _source_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """A funnel or store step's `{domain, pageId, pageUrl, stepId}`; `{}` for sources without pages."""
    return {name: meta[key] for key, name in _META_KEYS if key in meta}


def _present(out: dict[str, Any], **fields: str) -> dict[str, Any]:
    """`out` with the fields that have a value (GHL omits empty optional ids rather than send "")."""
    out.update({k: v for k, v in fields.items() if v})
    return out


def source(src: dict[str, Any]) -> dict[str, Any]:
    return {"type": src.get("type", ""), "subType": src.get("sub_type", ""), "id": src.get("id", ""),
            "name": src.get("name", ""), "meta": _source_meta(src.get("meta", {}))}


def contact_doc(snap: dict[str, Any]) -> dict[str, Any]:
    """The raw contact document GHL embeds as `contactSnapshot` in get-by-id answers."""
    first, last = snap.get("first_name", ""), snap.get("last_name", "")
    return {
        "_id": snap.get("id", ""), "location_id": snap.get("location_id", ""), "first_name": first,
        "last_name": last, "first_name_lower_case": first.lower(), "last_name_lower_case": last.lower(),
        "full_name_lower_case": f"{first} {last}".lower(), "email": snap.get("email", ""),
        "phone": snap.get("phone", ""), "company_name": snap.get("company_name", ""),
        "address1": snap.get("address1", ""), "city": snap.get("city", ""), "state": snap.get("state", ""),
        "postal_code": snap.get("postal_code", ""), "country": snap.get("country", ""),
        "website": snap.get("website", ""), "source": snap.get("source", ""), "type": "customer",
        "tags": list(snap.get("tags", [])), "dnd": bool(snap.get("dnd", False)),
        "date_added": iso_ms(snap["date_added"]) if snap.get("date_added") else "",
    }


def contact_webhook(snap: dict[str, Any]) -> dict[str, Any]:
    """The camelCase contact snapshot that Order* webhooks carry."""
    first, last = snap.get("first_name", ""), snap.get("last_name", "")
    return {
        "id": snap.get("id", ""), "locationId": snap.get("location_id", ""), "firstName": first,
        "lastName": last, "name": f"{first} {last}".strip(), "email": snap.get("email", ""),
        "phone": snap.get("phone", ""), "dnd": bool(snap.get("dnd", False)), "source": snap.get("source", ""),
        "address1": snap.get("address1", ""), "city": snap.get("city", ""), "state": snap.get("state", ""),
        "postalCode": snap.get("postal_code", ""), "country": snap.get("country", ""),
        "companyName": snap.get("company_name", ""), "website": snap.get("website", ""),
        "dateAdded": iso_ms(snap["date_added"]) if snap.get("date_added") else "",
        "dateOfBirth": snap.get("date_of_birth", ""), "tags": list(snap.get("tags", [])), "attachments": [],
        "assignedTo": "",
    }


def _name(snap: dict[str, Any]) -> str:
    return f"{snap.get('first_name', '')} {snap.get('last_name', '')}".strip()


def product(p: Product) -> dict[str, Any]:
    return {
        "_id": p.id, "locationId": p.location_id, "name": p.name, "description": p.description,
        "productType": p.product_type, "availableInStore": p.available_in_store,
        "statementDescriptor": p.statement_descriptor, "image": p.image, "collectionIds": list(p.collection_ids),
        "variants": list(p.variants), "isTaxesEnabled": False, "taxes": [], "slug": p.slug,
        "createdAt": iso_ms(p.created_at), "updatedAt": iso_ms(p.updated_at),
    }


def price(p: Price) -> dict[str, Any]:
    out: dict[str, Any] = {
        "_id": p.id, "name": p.name, "type": p.type, "currency": p.currency, "amount": to_major(p.amount_minor, p.currency),
        "locationId": p.location_id, "product": p.product_id, "membershipOffers": [],
        "variantOptionIds": list(p.variant_option_ids), "trackInventory": p.track_inventory,
        "availableQuantity": p.available_quantity, "allowOutOfStockPurchases": p.allow_out_of_stock_purchases,
        "createdAt": iso_ms(p.created_at), "updatedAt": iso_ms(p.updated_at),
    }
    if p.recurring:
        out["recurring"] = {"interval": p.recurring["interval"], "intervalCount": p.recurring["interval_count"]}
    if p.compare_at_price_minor is not None:
        out["compareAtPrice"] = to_major(p.compare_at_price_minor, p.currency)
    return out


# ---- orders ---------------------------------------------------------------------------------------


def order_list_item(o: Order, recurring_price_ids: frozenset[str] = frozenset()) -> dict[str, Any]:
    src = o.source
    recurring = sum(1 for i in o.items if i["price_id"] in recurring_price_ids)
    out: dict[str, Any] = {
        "_id": o.id, "altId": o.location_id, "altType": "location", "contactId": o.contact_id,
        "contactName": _name(o.contact_snapshot), "contactEmail": o.contact_snapshot.get("email", ""),
        "currency": o.currency, "amount": to_major(o.amount_minor, o.currency),
        "subtotal": to_major(o.subtotal_minor, o.currency), "discount": to_major(o.discount_minor, o.currency),
        "status": o.status, "paymentStatus": o.payment_status, "liveMode": o.live_mode,
        "totalProducts": len(o.items), "sourceType": src.get("type", ""), "sourceName": src.get("name", ""),
        "sourceId": src.get("id", ""), "sourceMeta": _source_meta(src.get("meta", {})),
        "createdAt": iso_ms(o.created_at), "updatedAt": iso_ms(o.updated_at),
        "sourceSubType": src.get("sub_type", ""), "fulfillmentStatus": o.fulfillment_status,
        "onetimeProducts": len(o.items) - recurring, "recurringProducts": recurring,
    }
    return _present(out, couponCode=o.coupon_code, createdBy=o.created_by)


# Parts of the by-id shapes written once per distinct content and embedded as written JSON: every
# order shown embeds the same few prices and products, and a payment or a fulfilment changes an order's
# statuses and amounts, never its contact snapshot, source or items. The key is what the part is
# rendered from, as orjson writes it, so an equal key is an equal part. Few are kept: what repeats is
# shared (sources, providers, the catalog) or close together (an order paid, then fulfilled). With
# 4,096 parts and 1,024 items, the 100,000-order mixed run's resident set grew by 88 MiB; with these,
# by 39 MiB (20 before any were kept).
PARTS_KEPT = 1024
_parts: dict[tuple[Callable[..., Any], bytes], orjson.Fragment] = {}
ITEMS_KEPT = 256
_items: dict[tuple[bytes, str, str], tuple[dict[str, Price], dict[str, Product], orjson.Fragment]] = {}


def _part(shape: Callable[..., dict[str, Any]], *args: Any) -> orjson.Fragment:
    """`shape(*args)` as the JSON `jsjson` writes, kept by `args`' own JSON."""
    key = (shape, orjson.dumps(args))
    part = _parts.get(key)
    if part is None:
        if len(_parts) >= PARTS_KEPT:
            _parts.clear()
        part = _parts[key] = orjson.Fragment(jsjson.dumps(shape(*args)))
    return part


_Catalog = TypeVar("_Catalog", Price, Product)


# Catalog records as `Payments.catalog` hands them out: the same objects until a price or product is
# written, and never changed in place (the catalog itself relies on it). Each object's part is kept by
# the object itself (held by the entry, so an identical object is the same record), which spares
# writing the record's JSON to find its part.
_catalog_objects: dict[int, tuple[Price | Product, orjson.Fragment]] = {}


def _catalog_part(record: _Catalog, shape: Callable[[_Catalog], dict[str, Any]]) -> orjson.Fragment:
    kept = _catalog_objects.get(id(record))
    if kept is not None and kept[0] is record:
        return kept[1]
    part = _part(shape, record)
    if len(_catalog_objects) >= PARTS_KEPT:
        _catalog_objects.clear()
    _catalog_objects[id(record)] = (record, part)
    return part


def _order_items(o: Order, prices: dict[str, Price], products: dict[str, Product]) -> orjson.Fragment:
    """The order's `items` as written JSON. Kept by the items, location and currency, for as long as the
    catalog is the same: `Payments.catalog` hands out the same dicts until a price or product is
    written, and the entry holds them, so an identical dict is an unchanged catalog."""
    key = (orjson.dumps(o.items), o.location_id, o.currency)
    kept = _items.get(key)
    if kept is not None and kept[0] is prices and kept[1] is products:
        return kept[2]
    part = orjson.Fragment(jsjson.dumps([order_item(i, o, prices, products) for i in o.items]))
    if len(_items) >= ITEMS_KEPT:
        _items.clear()
    _items[key] = (prices, products, part)
    return part


def order_item(item: dict[str, Any], o: Order, prices: dict[str, Price], products: dict[str, Product]) -> dict[str, Any]:
    """An item of an order by id; its price and product as written JSON (`_catalog_part`)."""
    pr = prices.get(item["price_id"])
    prod = products.get(item["product_id"])
    return {
        "_id": item.get("id", item["price_id"]), "locationId": o.location_id, "name": item["name"],
        "qty": item["qty"], "authorizeAmount": 0,
        "price": _catalog_part(pr, price) if pr else {
            "_id": item["price_id"], "name": item["name"], "amount": to_major(item["unit_amount_minor"], o.currency),
            "currency": o.currency, "type": "one_time"},
        "product": _catalog_part(prod, product) if prod else {"_id": item["product_id"], "name": item["name"]},
    }


def amount_summary(o: Order) -> dict[str, Any]:
    return {"subtotal": to_major(o.subtotal_minor, o.currency), "discount": to_major(o.discount_minor, o.currency),
            "tax": to_major(o.tax_minor, o.currency), "shipping": to_major(o.shipping_minor, o.currency)}


def order_detail(o: Order, prices: dict[str, Price], products: dict[str, Product]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "_id": o.id, "altId": o.location_id, "altType": "location", "contactId": o.contact_id,
        "currency": o.currency, "amount": to_major(o.amount_minor, o.currency), "status": o.status,
        "paymentStatus": o.payment_status,
        "liveMode": o.live_mode, "createdAt": iso_ms(o.created_at), "updatedAt": iso_ms(o.updated_at),
        "fulfillmentStatus": o.fulfillment_status, "contactSnapshot": _part(contact_doc, o.contact_snapshot),
        "amountSummary": amount_summary(o),
        "source": _part(source, o.source), "items": _order_items(o, prices, products),
        "fingerprint": o.fingerprint, "meta": {}, "markAsTest": not o.live_mode,
        "automaticTaxesCalculated": False,
    }
    _present(out, createdBy=o.created_by)
    if o.coupon_code:
        # A redeemed coupon's own id; a seeded order's code names no coupon record (an id from its fingerprint).
        out["coupon"] = {"_id": o.coupon_id or o.fingerprint.replace("-", "")[:24], "code": o.coupon_code}
    return out


def order_webhook(o: Order, prices: dict[str, Price], products: dict[str, Product]) -> dict[str, Any]:
    """Resource fields of an OrderCreate / OrderStatusUpdate webhook (envelope added by the sender)."""
    items = []
    for i in o.items:
        pr, prod = prices.get(i["price_id"]), products.get(i["product_id"])
        items.append({
            "name": i["name"], "qty": i["qty"],
            "product": {"_id": i["product_id"], "name": prod.name if prod else i["name"],
                        "description": prod.description if prod else "",
                        "availableInStore": prod.available_in_store if prod else False, "taxes": [], "variants": [],
                        "productType": prod.product_type if prod else ""},
            "price": {"_id": i["price_id"], "name": pr.name if pr else i["name"], "type": pr.type if pr else "one_time",
                      "currency": o.currency, "amount": to_major(i["unit_amount_minor"], o.currency),
                      "variantOptionIds": []},
        })
    return {
        "_id": o.id, "altId": o.location_id, "altType": "location", "contactId": o.contact_id,
        "contactSnapshot": contact_webhook(o.contact_snapshot), "status": o.status,
        "paymentStatus": o.payment_status, "fulfillmentStatus": o.fulfillment_status, "currency": o.currency,
        "amount": to_major(o.amount_minor, o.currency), "liveMode": o.live_mode, "items": items,
        "amountSummary": amount_summary(o),
        "taxSummary": [], "source": source(o.source), "createdAt": iso_ms(o.created_at),
        "updatedAt": iso_ms(o.updated_at),
    }


# ---- transactions ---------------------------------------------------------------------------------


def payment_provider(provider_type: str, account: dict[str, Any]) -> dict[str, Any]:
    """By-id `paymentProvider`: `{type, connectedAccount}` in the provider's shape (Stripe
    `{_id, accountId}`, PayPal `{_id, merchantClientId}`, ...); no account for a manual payment."""
    out: dict[str, Any] = {"type": provider_type}
    if account:
        out["connectedAccount"] = providers.render_account(account)
    return out


def transaction_list_item(t: Transaction) -> dict[str, Any]:
    src = t.source
    out: dict[str, Any] = {
        "_id": t.id, "altId": t.location_id, "altType": "location", "contactId": t.contact_id,
        "contactName": _name(t.contact_snapshot), "contactEmail": t.contact_snapshot.get("email", ""),
        "currency": t.currency, "amount": to_major(t.amount_minor, t.currency), "status": t.status,
        "liveMode": t.live_mode,
        "entityType": t.entity_type, "entityId": t.order_id, "entitySourceType": src.get("type", ""),
        "entitySourceSubType": src.get("sub_type", ""), "entitySourceName": src.get("name", ""),
        "entitySourceId": src.get("id", ""), "entitySourceMeta": _source_meta(src.get("meta", {})),
        "chargeId": t.charge_id, "chargeSnapshot": providers.charge_snapshot(t),
        "paymentProviderType": t.provider_type, "ipAddress": t.ip_address,
        "createdAt": iso_ms(t.created_at), "updatedAt": iso_ms(t.updated_at), "amountRefunded": to_major(t.amount_refunded_minor, t.currency),
        "paymentMethod": t.payment_method, "fulfilledAt": iso_ms(t.fulfilled_at),
    }
    # The list's connected account is the by-id `paymentProvider.connectedAccount._id`.
    return _present(out, subscriptionId=t.provider_subscription_id,
                    paymentProviderConnectedAccount=t.connected_account.get("_id", ""), createdBy=t.created_by)


def transaction_detail(t: Transaction) -> dict[str, Any]:
    out: dict[str, Any] = {
        "_id": t.id, "altType": "location", "altId": t.location_id, "contactId": t.contact_id,
        "contactSnapshot": _part(contact_doc, t.contact_snapshot), "currency": t.currency,
        "amount": to_major(t.amount_minor, t.currency),
        "status": t.status, "liveMode": t.live_mode, "createdAt": iso_ms(t.created_at),
        "updatedAt": iso_ms(t.updated_at), "entityType": t.entity_type, "entityId": t.order_id,
        "entitySource": _part(source, t.source), "chargeId": t.charge_id, "chargeSnapshot": providers.charge_snapshot(t),
        "paymentProvider": _part(payment_provider, t.provider_type, t.connected_account),
        "ipAddress": t.ip_address, "meta": {}, "markAsTest": not t.live_mode, "isParent": False,
        "amountRefunded": to_major(t.amount_refunded_minor, t.currency), "receiptId": t.receipt_id, "qboSynced": False,
        "paymentMethod": t.payment_method, "fulfilledAt": iso_ms(t.fulfilled_at),
    }
    return _present(out, subscriptionId=t.provider_subscription_id, createdBy=t.created_by)


# ---- subscriptions --------------------------------------------------------------------------------

_RRULE = {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}


def subscription_list_item(s: Subscription, with_count: bool = False) -> dict[str, Any]:
    src = s.source
    out: dict[str, Any] = {
        "_id": s.id, "altId": s.location_id, "altType": "location", "contactId": s.contact_id,
        "contactName": _name(s.contact_snapshot), "contactEmail": s.contact_snapshot.get("email", ""),
        "currency": s.currency, "amount": to_major(s.amount_minor, s.currency), "status": s.status,
        "liveMode": s.live_mode,
        "entityType": "order", "entityId": s.order_id, "entitySourceType": src.get("type", ""),
        "entitySourceName": src.get("name", ""), "entitySourceId": src.get("id", ""),
        "entitySourceMeta": _source_meta(src.get("meta", {})), "subscriptionId": s.provider_subscription_id,
        "subscriptionSnapshot": providers.subscription_snapshot(s), "paymentProviderType": s.provider_type,
        "ipAddress": s.ip_address, "createdAt": iso_ms(s.created_at), "updatedAt": iso_ms(s.updated_at),
    }
    _present(out, paymentProviderConnectedAccount=s.connected_account.get("_id", ""))
    if with_count:
        out["paymentsCollectedCount"] = s.payments_collected
    return out


def subscription_detail(s: Subscription, prices: dict[str, Price], products: dict[str, Product]) -> dict[str, Any]:
    pr, prod = prices.get(s.price_id), products.get(s.product_id)
    start = iso_ms(s.created_at)
    out: dict[str, Any] = {
        "_id": s.id, "altType": "location", "altId": s.location_id, "contactId": s.contact_id,
        "contactSnapshot": _part(contact_doc, s.contact_snapshot), "currency": s.currency,
        "amount": to_major(s.amount_minor, s.currency),
        "status": s.status, "liveMode": s.live_mode, "entityType": "order", "entityId": s.order_id,
        "entitySource": _part(source, s.source), "subscriptionId": s.provider_subscription_id,
        "subscriptionSnapshot": providers.subscription_snapshot(s),
        "paymentProvider": _part(payment_provider, s.provider_type, s.connected_account),
        "ipAddress": s.ip_address, "createdAt": start, "updatedAt": iso_ms(s.updated_at), "meta": {},
        "markAsTest": not s.live_mode,
        "schedule": {"executeAt": iso_ms(s.next_billing_at) if s.next_billing_at is not None else "",
                     "rrule": {"intervalType": _RRULE[s.interval], "interval": s.interval_count,
                               "startDate": start[:10], "startTime": start[11:19]}},
        "autoPayment": {"customerId": "cus_" + s.contact_id[:14], "paymentMethodId": "pm_" + s.id[:14]},
        "recurringProduct": {"product": _catalog_part(prod, product) if prod else {"_id": s.product_id},
                             "price": _catalog_part(pr, price) if pr else {"_id": s.price_id}},
        "paymentsCollectedCount": s.payments_collected,
    }
    # Subscriptions are started by customers at checkout: no `createdBy`. Not cancelled: no canceledAt/By.
    if s.canceled_at is not None:
        out["canceledAt"] = iso_ms(s.canceled_at)
        _present(out, canceledBy=s.canceled_by)
    return out


# ---- fulfillments and providers -------------------------------------------------------------------


_TRACKING_KEYS = (("tracking_number", "trackingNumber"), ("shipping_carrier", "shippingCarrier"),
                  ("tracking_url", "trackingUrl"))


def fulfillment(f: Fulfillment, o: Order, prices: dict[str, Price], products: dict[str, Product]) -> dict[str, Any]:
    names = {i["price_id"]: i["name"] for i in o.items}
    items = []
    for item in f.items:
        pr = prices.get(item["price_id"])
        prod = products.get(pr.product_id) if pr else None
        items.append({"_id": item["price_id"], "name": names.get(item["price_id"], pr.name if pr else ""),
                      "product": _catalog_part(prod, product) if prod else {},
                      "price": _catalog_part(pr, price) if pr else {}, "qty": item["qty"]})
    # Only the tracking fields given: `{}` stays `{}`.
    trackings = [{name: t[key] for key, name in _TRACKING_KEYS if key in t} for t in f.trackings]
    return {"altId": f.location_id, "altType": "location", "trackings": trackings, "_id": f.id, "items": items,
            "notifyCustomer": f.notify_customer, "createdAt": iso_ms(f.created_at), "updatedAt": iso_ms(f.updated_at)}


def provider(p: WhitelabelProvider) -> dict[str, Any]:
    """Exactly the ten fields of the spec's IntegrationProviderSchema (no `uniqueName`)."""
    return {"_id": p.id, "altId": p.location_id, "altType": "location", "title": p.title, "route": p.route,
            "provider": p.provider, "description": p.description, "imageUrl": p.image_url,
            "createdAt": iso_ms(p.created_at), "updatedAt": iso_ms(p.updated_at)}
