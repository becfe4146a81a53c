"""Handlers for the ten payments endpoints: parse and validate, call the domain, shape the answer."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response

from mock_server import jsjson
from mock_server.ghl.models import Order, PaymentStatus, Subscription, Token, Transaction
from mock_server.ghl.payments import UNIQUE_NAME, ListFilter
from mock_server.ghl.responses import shapes
from mock_server.ghl.responses.guard import check_location, require_marketplace_token
from mock_server.ghl.responses.params import MAX_PAGING, Validator, paging
from mock_server.ghl.world import Ghl, ghl_of
from mock_server.http.bodies import json_object
from mock_server.http.cache import Watch, no_cache, watch
from mock_server.http.context import runtime_of
from mock_server.http.errors import JSON, json_response
from mock_server.http.fragments import Form, FragmentCache, PageKeeper, page
from mock_server.http.query import query_values
from mock_server.store import Table, VersionedPage

PAYMENT_STATUSES: tuple[PaymentStatus, ...] = ("paid", "unpaid", "refunded", "partially_paid")  # in the order errors list them
ALT_TYPES = ("location",)
PROVIDERS = ("authorize-net", "nmi")


def _live_mode(mode: str | None) -> Any:
    # paymentMode is a free string in the spec: `live`/`test` map to liveMode, anything else matches nothing.
    if mode is None:
        return None
    return {"live": True, "test": False}.get(mode.lower(), _NO_MATCH)


_NO_MATCH: Any = "no-match"


async def read_json(request: Request) -> dict[str, Any]:
    return await json_object(request, "Unexpected token in JSON")  # NestJS's wording


def _location_of_read(request: Request, token: Token) -> str:
    """The location of a read that takes `altId` and `altType` (both required) and nothing else."""
    v = Validator(query_values(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    v.done()
    return check_location(token, alt_id)


def _common_filters(v: Validator, flt_kwargs: dict[str, Any]) -> None:
    mode = v.string("paymentMode")
    live = _live_mode(mode)
    flt_kwargs["live_mode"] = live
    flt_kwargs["start_at"] = v.date("startAt")
    flt_kwargs["end_at"] = v.date("endAt", end_of_day=True)
    flt_kwargs["search"] = v.string("search")
    flt_kwargs["contact_id"] = v.string("contactId")


def _build(token: Token, v: Validator, alt_id: str | None, location_id: str | None, kwargs: dict[str, Any]) -> ListFilter:
    v.done()
    assert alt_id is not None
    loc = check_location(token, alt_id, location_id)
    live = kwargs.pop("live_mode")
    flt = ListFilter(location_id=loc, **kwargs)
    if live is _NO_MATCH:
        flt.record_id = ""  # an unknown paymentMode matches no record
    else:
        flt.live_mode = live
    return flt


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A list request's query, validated and checked against the token: shared, so read, never change."""

    limit: int | None
    offset: int
    flt: ListFilter
    with_count: bool = False


QueryParser = Callable[[Validator, Token], ListQuery]
# Validating a list query was a fifth of an uncached page. It depends only on the query's bytes and the
# token's location and class, so the same query from the same location is validated once (the data is
# read afresh every time). Distinct queries are unbounded (search=...): at most this many, of at most
# so many bytes each, are kept.
LIST_QUERIES_MAX = 512
LIST_QUERY_MAX_BYTES = 2048
_list_queries: dict[tuple[QueryParser, bytes, str | None, str], ListQuery] = {}


def _list_query(request: Request, token: Token, parse: QueryParser) -> ListQuery:
    """`parse` of the request's query (it raises the 422 of a bad one, which is not kept)."""
    raw = bytes(request.scope.get("query_string", b""))
    if len(raw) > LIST_QUERY_MAX_BYTES:
        return parse(Validator(query_values(request)), token)
    key = (parse, raw, token.location_id, token.token_class)
    query = _list_queries.get(key)
    if query is None:
        query = parse(Validator(query_values(request)), token)
        if len(_list_queries) >= LIST_QUERIES_MAX:
            _list_queries.clear()
        _list_queries[key] = query
    return query


# ---- rendered records, kept (mock_server/http/fragments.py) ------------------------------------------
# Each form names the kinds it shows besides its own record: an order's items show their prices and
# products (list items count the recurring ones). An order's statuses are stored on the order (derived
# from its transactions and fulfilments when those are written), so they are part of its document.

ORDER_ITEM = Form("ghl.orders.list", frozenset({"prices"}))
ORDER_BY_ID = Form("ghl.orders.byId", frozenset({"prices", "products"}))
TRANSACTION_ITEM = Form("ghl.transactions.list")
TRANSACTION_BY_ID = Form("ghl.transactions.byId")
SUBSCRIPTION_ITEM = Form("ghl.subscriptions.list")
SUBSCRIPTION_ITEM_COUNTED = Form("ghl.subscriptions.list+count")
SUBSCRIPTION_BY_ID = Form("ghl.subscriptions.byId", frozenset({"prices", "products"}))


def _fragments(request: Request) -> FragmentCache:
    return runtime_of(request).fragments


def _caching(request: Request) -> bool:
    """Whether the response cache keeps answers (what an answer shows matters only then)."""
    return runtime_of(request).responses.enabled


def _list_answer(request: Request, form: Form, kept: PageKeeper, table: Table[Any], found: VersionedPage,
                 shape: Callable[[list[Any]], list[dict[str, Any]]]) -> Response:
    """`{"data":[...],"totalCount":n}` joined from each record's kept list-item JSON; only the records
    not kept (or changed since: a new version) are decoded and shaped, together (`shape` gets them all
    at once), and kept under their version (or document, for a page read without versions)."""
    parts = found.parts
    if None in parts:
        missing = found.missing
        cache = _fragments(request)
        shaped = shape([table.decode(found.docs[found.rows[i][0]]) for i in missing])
        for i, value in zip(missing, shaped, strict=True):
            part = jsjson.dumps(value)
            rid, rev = found.rows[i]
            cache.put(form, rid, rev if rev >= 0 else found.docs[rid], part)
            parts[i] = part
    done = cast(list[bytes], parts)  # every part is known now
    if found.rows and found.rows[0][1] >= 0:  # a versioned page: kept whole for the next read of the same rows
        kept.keep(found.rows, done)
    if found.query is not None and _caching(request):  # a counted query's page: kept through writes elsewhere
        watch(request, Watch(table.kind, frozenset(rid for rid, _ in found.rows), found.query, form.depends_on))
    return Response(page(done, found.total), media_type=JSON)


def _page_key(request: Request) -> str:
    """Which page a list request reads, for its kept whole page: its query. Two queries for the same
    page keep it twice; a kept page is used only for exactly the versions it was joined from, whatever
    asks."""
    return bytes(request.scope.get("query_string", b"")).decode("latin-1")


def _by_id_answer(request: Request, form: Form, table: Table[Any], record: Any,
                  shape: Callable[[], dict[str, Any]]) -> Response:
    if _caching(request):
        watch(request, Watch(table.kind, frozenset((record.id,)), shows=form.depends_on))
    return Response(_fragments(request).render(form, record.id, table.doc(record), shape), media_type=JSON)


# ---- orders ---------------------------------------------------------------------------------------


def _orders_query(v: Validator, token: Token) -> ListQuery:
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES)  # accepted, no longer required (spec drift, see contracts/DEVIATIONS.md)
    location_id = v.string("locationId")
    kwargs: dict[str, Any] = {"status": v.string("status"),
                              "payment_status": v.enum("paymentStatus", PAYMENT_STATUSES),
                              "source_id": v.string("sourceId")}
    _common_filters(v, kwargs)
    funnel = v.string("funnelProductIds")
    # A comma list; whitespace never belongs to an id (and must not join two ids into one match).
    kwargs["product_ids"] = [p for p in re.split(r"[,\s]+", funnel) if p] if funnel else []
    limit, offset = paging(v, 10)
    return ListQuery(limit, offset, _build(token, v, alt_id, location_id, kwargs))


async def list_orders(request: Request, token: Token) -> Response:
    query = _list_query(request, token, _orders_query)
    service = ghl_of(request)
    kept = _fragments(request).pages(ORDER_ITEM, _page_key(request))
    found = service.payments.page_versions(Order, query.flt, query.limit, query.offset, kept)

    def shape(rows: list[Order]) -> list[dict[str, Any]]:
        recurring = _recurring_price_ids(service, rows)
        return [shapes.order_list_item(o, recurring) for o in rows]

    return _list_answer(request, ORDER_ITEM, kept, service.store.table(Order), found, shape)


def _recurring_price_ids(service: Ghl, orders: list[Order]) -> frozenset[str]:
    price_ids = [i["price_id"] for o in orders for i in o.items]
    prices, _ = service.payments.catalog(price_ids) if price_ids else ({}, {})
    return frozenset(pid for pid, p in prices.items() if p.type == "recurring")


async def get_order(request: Request, token: Token) -> Response:
    v = Validator(query_values(request))
    alt_id = v.string("altId", required=True)
    # The live API demands altType here although the official spec omits it (GHL SDK issue #18), and
    # words the refusal as a string check: ["altType should not be empty", "altType must be a string"].
    alt_type = v.string("altType", required=True)
    if alt_type is not None and alt_type not in ALT_TYPES:
        v.errors.append(f"altType must be one of the following values: {', '.join(ALT_TYPES)}")
    location_id = v.string("locationId")
    v.done()
    loc = check_location(token, alt_id, location_id)
    service = ghl_of(request)
    order_id = request.path_params["orderId"]
    table = service.store.table(Order)
    if service.simulator.has_pending_payment(order_id):
        order = service.payments.order(loc, order_id)
        order, waiting = service.simulator.observe_order(order)  # a poll may settle a pending payment
        if waiting:
            no_cache(request)  # the next poll must count too
        doc = table.doc(order)
    else:  # nothing a poll can change: the stored document, decoded only when no rendering of it is kept
        doc = service.payments.order_doc(loc, order_id)
        order = None

    def shape() -> dict[str, Any]:
        shown = order if order is not None else table.decode(doc)
        return shapes.order_detail(shown, *service.payments.catalog([i["price_id"] for i in shown.items]))

    if _caching(request):
        watch(request, Watch(table.kind, frozenset((order_id,)), shows=ORDER_BY_ID.depends_on))
    return Response(_fragments(request).render(ORDER_BY_ID, order_id, doc, shape), media_type=JSON)


async def list_fulfillments(request: Request, token: Token) -> Response:
    loc = _location_of_read(request, token)
    service = ghl_of(request)
    order = service.payments.order(loc, request.path_params["orderId"])
    rows = service.payments.fulfillments(loc, order.id)
    prices, products = service.payments.catalog([i["price_id"] for f in rows for i in f.items])
    return json_response({"status": True, "data": [shapes.fulfillment(f, order, prices, products) for f in rows]})


def _tracking(v: Validator, i: int, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        v.errors.append(f"trackings.{i} must be an object")
        return {}
    out = {}
    for key, field in (("trackingNumber", "tracking_number"), ("shippingCarrier", "shipping_carrier"),
                       ("trackingUrl", "tracking_url")):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            v.errors.append(f"trackings.{i}.{key} must be a string")
        else:
            out[field] = value
    return out


def _fulfil_item(v: Validator, i: int, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        v.errors.append(f"items.{i} must be an object")
        return {}
    price_id, qty = raw.get("priceId"), raw.get("qty")
    ok = True
    if not isinstance(price_id, str) or not price_id:
        v.errors += [f"items.{i}.priceId should not be empty", f"items.{i}.priceId must be a string"]
        ok = False
    # A positive whole number of units (issue 13): JSON `1.0` is the integer 1, as JavaScript's
    # Number.isInteger (class-validator's IsInt) reads it; `0.5` is refused.
    units = 0
    if isinstance(qty, bool) or not isinstance(qty, (int, float)):
        v.errors += [f"items.{i}.qty must be a number conforming to the specified constraints",
                     f"items.{i}.qty must be an integer number"]
    elif not math.isfinite(qty) or qty != int(qty):
        v.errors.append(f"items.{i}.qty must be an integer number")
    elif qty <= 0:
        v.errors.append(f"items.{i}.qty must be a positive number")
    elif qty > MAX_PAGING:
        v.errors.append(f"items.{i}.qty must not be greater than {MAX_PAGING}")
    else:
        units = int(qty)
    return {"price_id": price_id, "qty": units} if ok and units else {}


async def create_fulfillment(request: Request, token: Token) -> Response:
    body = await read_json(request)
    v = Validator(body)
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    trackings_raw = v.array("trackings", required=True)
    items_raw = v.array("items", required=True)
    notify = v.boolean("notifyCustomer", required=True)
    trackings = [_tracking(v, i, t) for i, t in enumerate(trackings_raw or [])]
    items = [_fulfil_item(v, i, it) for i, it in enumerate(items_raw or [])]
    if items_raw is not None and not items_raw:
        v.errors.append("items should not be empty")
    v.done()
    loc = check_location(token, alt_id)
    service = ghl_of(request)
    fulfillment = service.payments.create_fulfillment(loc, request.path_params["orderId"], items, trackings,
                                                      bool(notify))
    order = service.payments.order(loc, fulfillment.order_id)
    prices, products = service.payments.catalog([i["price_id"] for i in fulfillment.items])
    return json_response({"status": True, "data": shapes.fulfillment(fulfillment, order, prices, products)})


# ---- transactions ---------------------------------------------------------------------------------


def _transactions_query(v: Validator, token: Token) -> ListQuery:
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    location_id = v.string("locationId")
    kwargs: dict[str, Any] = {"entity_source_type": v.string("entitySourceType"),
                              "entity_source_sub_type": v.string("entitySourceSubType"),
                              "provider_subscription_id": v.string("subscriptionId"),
                              "entity_id": v.string("entityId")}
    _common_filters(v, kwargs)
    limit, offset = paging(v, 10)
    return ListQuery(limit, offset, _build(token, v, alt_id, location_id, kwargs))


async def list_transactions(request: Request, token: Token) -> Response:
    query = _list_query(request, token, _transactions_query)
    service = ghl_of(request)
    kept = _fragments(request).pages(TRANSACTION_ITEM, _page_key(request))
    found = service.payments.page_versions(Transaction, query.flt, query.limit, query.offset, kept)
    return _list_answer(request, TRANSACTION_ITEM, kept, service.store.table(Transaction), found,
                        lambda rows: [shapes.transaction_list_item(t) for t in rows])


async def get_transaction(request: Request, token: Token) -> Response:
    v = Validator(query_values(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    location_id = v.string("locationId")
    v.done()
    loc = check_location(token, alt_id, location_id)
    service = ghl_of(request)
    txn = service.payments.transaction(loc, request.path_params["transactionId"])
    return _by_id_answer(request, TRANSACTION_BY_ID, service.store.table(Transaction), txn,
                         lambda: shapes.transaction_detail(txn))


# ---- subscriptions --------------------------------------------------------------------------------


def _subscriptions_query(v: Validator, token: Token) -> ListQuery:
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    kwargs: dict[str, Any] = {"entity_id": v.string("entityId"),
                              "entity_source_type": v.string("entitySourceType"),
                              "record_id": v.string("id")}
    _common_filters(v, kwargs)
    with_count = bool(v.boolean("getPaymentsCollectedCount"))
    limit, offset = paging(v, 10)
    return ListQuery(limit, offset, _build(token, v, alt_id, None, kwargs), with_count)


async def list_subscriptions(request: Request, token: Token) -> Response:
    query = _list_query(request, token, _subscriptions_query)
    with_count = query.with_count
    service = ghl_of(request)
    form = SUBSCRIPTION_ITEM_COUNTED if with_count else SUBSCRIPTION_ITEM
    kept = _fragments(request).pages(form, _page_key(request))
    found = service.payments.page_versions(Subscription, query.flt, query.limit, query.offset, kept)
    return _list_answer(request, form, kept, service.store.table(Subscription), found,
                        lambda rows: [shapes.subscription_list_item(s, with_count) for s in rows])


async def get_subscription(request: Request, token: Token) -> Response:
    loc = _location_of_read(request, token)
    service = ghl_of(request)
    sub = service.payments.subscription(loc, request.path_params["subscriptionId"])
    return _by_id_answer(request, SUBSCRIPTION_BY_ID, service.store.table(Subscription), sub,
                         lambda: shapes.subscription_detail(sub, *service.payments.catalog([sub.price_id])))


# ---- white-label providers ------------------------------------------------------------------------


async def list_providers(request: Request, token: Token) -> Response:
    v = Validator(query_values(request))
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    limit, offset = paging(v, 0)
    v.done()
    loc = check_location(token, alt_id)
    # limit defaults to 0 in the spec; we read 0 as "no limit" (see contracts/DEVIATIONS.md).
    rows = ghl_of(request).payments.providers(loc, limit or None, offset)
    return json_response({"providers": [shapes.provider(p) for p in rows]})


async def create_provider(request: Request, token: Token) -> Response:
    require_marketplace_token(token)
    body = await read_json(request)
    v = Validator(body)
    alt_id = v.string("altId", required=True)
    v.enum("altType", ALT_TYPES, required=True)
    unique_name = v.string("uniqueName", required=True, max_length=100)
    title = v.string("title", required=True, max_length=200)
    provider = v.enum("provider", PROVIDERS, required=True)
    description = v.string("description", required=True, max_length=2000)
    image_url = v.string("imageUrl", required=True, max_length=2000)
    if unique_name is not None and not UNIQUE_NAME.match(unique_name):
        v.errors.append("uniqueName must start and end with a letter and contain only lowercase letters and hyphens")
    if image_url is not None and not image_url.startswith("https://"):
        v.errors.append("imageUrl must start with https://")
    v.done()
    loc = check_location(token, alt_id)
    assert unique_name and title and provider and description is not None and image_url
    record = ghl_of(request).payments.create_provider(loc, unique_name, title, provider, description, image_url)
    return json_response(shapes.provider(record))
