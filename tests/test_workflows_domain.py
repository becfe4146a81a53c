"""The pure workflows domain on crafted data: documents and their validation, merge fields, triggers and
filters, and the requests the Webhook / Custom Webhook actions send. No HTTP, no store."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.clock import iso_ms
from mock_server.ghl.models import Contact, Order, Price, Product, Subscription, Transaction
from mock_server.locations import Location
from mock_server.signals import Signal, Signals
from mock_server.store import Store, TableSpec, by_location, column
from mock_server.workflows import merge
from mock_server.workflows.document import Problem, WorkflowInvalid, parse_workflow, workflow_view
from mock_server.workflows.models import Invoice, Trigger, Workflow
from mock_server.workflows.payload import custom_request, standard_body, standard_request
from mock_server.workflows.triggers import TRIGGERS, Firing, firings, for_workflow, inbound_firing, matches

LOC = "loc_1"
NOW = 1_790_000_000.0  # 2026-09-21T...
T0 = 1_780_000_000.0


# ---- crafted GHL data -------------------------------------------------------------------------------


def contact(**over: Any) -> Contact:
    base = dict(id="c_1", location_id=LOC, first_name="Ada", last_name="Lovelace", email="ada@example.com",
                phone="+15550001111", company_name="Engines Ltd", address1="1 Main St", city="Springfield",
                state="IL", postal_code="62701", country="US", website="", source="order form",
                date_added=T0, date_of_birth="", tags=["vip", "gym"])
    return Contact(**{**base, **over})


def snap(c: Contact) -> dict[str, Any]:
    return dataclasses.asdict(c)


def order(*, items: int = 2, source_type: str = "funnel", sub_type: str = "one_step_order_form",
          **over: Any) -> Order:
    lines = [{"id": f"it_{i}", "price_id": f"pr_{i}", "product_id": f"prod_{i}", "name": f"Price {i}", "qty": 1,
              "unit_amount_minor": 1000 * (i + 1)} for i in range(items)]
    subtotal = 1000 * sum(range(1, items + 1))
    base = dict(id="ord_1", location_id=LOC, contact_id="c_1", currency="USD", items=lines,
                subtotal_minor=subtotal, discount_minor=500, tax_minor=0, shipping_minor=0,
                amount_minor=subtotal - 500, live_mode=False,
                source={"type": source_type, "sub_type": sub_type, "id": "funnel_9", "name": "Sandbox Funnel",
                        "meta": {"page_id": "page_3"}},
                created_at=T0, updated_at=T0, coupon_code="SAVE5", contact_snapshot=snap(contact()))
    return Order(**{**base, **over})


def txn(o: Order, *, status: str = "succeeded", amount: int | None = None, **over: Any) -> Transaction:
    base = dict(id="txn_1", location_id=LOC, contact_id=o.contact_id, order_id=o.id, currency=o.currency,
                amount_minor=o.amount_minor if amount is None else amount, status=status, live_mode=False,
                charge_id="ch_1", provider_type="stripe", connected_account={},
                payment_method={"card": {"brand": "visa", "last4": "4242"}}, source=dict(o.source),
                created_at=T0 + 60, updated_at=T0 + 60, fulfilled_at=T0 + 60, contact_snapshot=dict(o.contact_snapshot))
    return Transaction(**{**base, **over})


def subscription(**over: Any) -> Subscription:
    base = dict(id="sub_1", location_id=LOC, contact_id="c_1", order_id="ord_1", price_id="pr_m", product_id="prod_m",
                currency="USD", amount_minor=2900, status="active", live_mode=False, provider_type="stripe",
                provider_subscription_id="sub_x", connected_account={}, interval="month", interval_count=1,
                source={"type": "membership", "sub_type": "saas_subscription"}, created_at=T0, updated_at=T0,
                current_period_start=T0, next_billing_at=T0 + 86400 * 30)
    return Subscription(**{**base, **over})


class FakeLookup:
    def __init__(self, contacts: list[Contact] | None = None, values: dict[str, str] | None = None) -> None:
        self.contacts = {c.id: c for c in (contacts if contacts is not None else [contact()])}
        self.values = values if values is not None else {"rankr_base_url": "https://rankr.test/v1", "secret": "s3"}
        self.products_seen: list[str] = []

    def contact(self, location_id: str, contact_id: str) -> Contact | None:
        c = self.contacts.get(contact_id)
        return c if c is not None and c.location_id == location_id else None

    def location(self, location_id: str) -> Location | None:
        return Location(id=location_id, name="Gym One", company_id="co", seed=1, orders=0, created_at=T0,
                        email="owner@gym.test", phone="+15559990000", timezone="America/New_York")

    def custom_values(self, location_id: str) -> Mapping[str, str]:
        return self.values

    def products(self, ids: Collection[str]) -> Mapping[str, Product]:
        self.products_seen.extend(ids)
        return {i: Product(id=i, location_id=LOC, name=f"Product {i[-1]}", description="", product_type="SERVICE",
                           image="", slug=i, available_in_store=True, statement_descriptor="", created_at=T0,
                           updated_at=T0) for i in ids}

    def prices(self, ids: Collection[str]) -> Mapping[str, Price]:
        return {}

    def now(self) -> float:
        return NOW


def signal(name: str, **records: Any) -> Signal:
    return Signal("ghl", name, LOC, {k: v if isinstance(v, dict) else dataclasses.asdict(v)
                                     for k, v in records.items()})


def one(sig: Signal, lookup: FakeLookup | None = None, **kw: Any) -> Firing:
    found = firings(sig, lookup or FakeLookup(), **kw)
    assert len(found) == 1, found
    return found[0]


def trigger(kind: str, *filters: tuple[str, str, Any]) -> Trigger:
    doc = {"name": "t", "trigger": {"type": kind, "filters": [{"field": f, "operator": o, "value": v}
                                                              for f, o, v in filters]}}
    return parse_workflow(doc, location_id=LOC, new_id=ids(), now=NOW).typed_trigger


def ids() -> Any:
    counter = iter(range(1, 10_000))
    return lambda: f"id-{next(counter)}"


def make(doc: dict[str, Any], **kw: Any) -> Workflow:
    return parse_workflow(doc, location_id=LOC, new_id=kw.pop("new_id", ids()), now=kw.pop("now", NOW), **kw)


def problems(doc: Any) -> list[Problem]:
    with pytest.raises(WorkflowInvalid) as info:
        make(doc)
    return info.value.problems


def custom(**over: Any) -> dict[str, Any]:
    return {"type": "custom_webhook", "name": "PUT to Rankr", "method": "PUT",
            "url": "{{custom_values.rankr_base_url}}/payments/ghl-{{payment.transaction_id}}", **over}


# ---- signals ----------------------------------------------------------------------------------------


def test_signals_fan_out_to_every_subscriber_in_order() -> None:
    bus, seen = Signals(), []
    bus.subscribe(lambda s: seen.append(("a", s.name)))
    bus.subscribe(lambda s: seen.append(("b", s.name)))
    bus.publish(Signal("ghl", "payment.received", LOC, {}))
    assert seen == [("a", "payment.received"), ("b", "payment.received")]


# ---- payment received -------------------------------------------------------------------------------


def test_payment_received_fires_on_success_and_on_failure_unless_filtered() -> None:
    o = order()
    ok = one(signal("payment.received", transaction=txn(o), order=o))
    bad = one(signal("payment.received", transaction=txn(o, status="failed", id="txn_2"), order=o))
    plain, only_success = trigger("payment_received"), trigger("payment_received", ("paymentStatus", "is", "success"))
    assert matches(plain, ok) and matches(plain, bad)
    assert matches(only_success, ok) and not matches(only_success, bad)
    assert matches(trigger("payment_received", ("paymentStatus", "is", "failed")), bad)
    assert bad.context["payment"]["payment_status"] == "failed"
    assert ok.context["payment"]["payment_status"] == "succeeded"


def test_payment_received_filters_source_product_price_and_transaction_type() -> None:
    o = order(source_type="website", sub_type="store")
    f = one(signal("payment.received", transaction=txn(o), order=o))
    assert f.facts["paymentSource"] == "website" and f.facts["subSource"] == "store"
    assert matches(trigger("payment_received", ("paymentSource", "is", "website")), f)
    assert not matches(trigger("payment_received", ("paymentSource", "is", "funnel")), f)
    assert matches(trigger("payment_received", ("paymentSource", "is_not", "funnel")), f)
    assert matches(trigger("payment_received", ("product", "is", "prod_1")), f)
    assert not matches(trigger("payment_received", ("product", "is_not", "prod_1")), f)
    assert matches(trigger("payment_received", ("price", "is", "pr_0"), ("product", "is", "prod_0")), f)
    assert not matches(trigger("payment_received", ("price", "is", "pr_0"), ("product", "is", "prod_7")), f)  # AND
    assert matches(trigger("payment_received", ("transactionType", "is", "customer_present")), f)


@pytest.mark.parametrize(("ghl_type", "expected"), [
    ("funnel", "funnel"), ("invoice", "invoice"), ("text2Pay", "invoice"), ("calendar", "calendar"),
    ("membership", "memberships"), ("manual", "manual_payment"), ("external", "external"), ("form", "form"),
    ("point_of_sale", "manual_payment"), ("communities", "memberships")])
def test_payment_sources_map_to_the_filter_vocabulary(ghl_type: str, expected: str) -> None:
    o = order(source_type=ghl_type, sub_type="x")
    assert one(signal("payment.received", transaction=txn(o), order=o)).facts["paymentSource"] == expected


def test_subscription_renewal_is_customer_not_present_and_about_the_subscription_product() -> None:
    o, sub = order(items=1), subscription()
    renewal = txn(o, amount=2900, entity_type="subscription", order_id=sub.id, subscription_id=sub.id, id="txn_r")
    f = one(signal("payment.received", transaction=renewal, order=o, subscription=sub))
    assert f.facts["transactionType"] == "customer_not_present"
    assert f.facts["product"] == ["prod_m"] and f.facts["price"] == ["pr_m"]
    assert matches(trigger("payment_received", ("transactionType", "is", "customer_not_present")), f)
    assert not matches(trigger("payment_received", ("transactionType", "is", "customer_present")), f)
    pay = f.context["payment"]
    assert pay["subscription_id"] == "sub_1" and pay["order_id"] == ""
    assert pay["total_amount"] == "29.00" and pay["sub_total_amount"] == "29.00" and pay["discount_amount"] == "0.00"
    assert pay["product_name"] == "Product m"


def test_payment_merge_context_follows_the_official_table() -> None:
    o = order()
    f = one(signal("payment.received", transaction=txn(o), order=o))
    pay = f.context["payment"]
    assert pay["total_amount"] == "25.00" and pay["sub_total_amount"] == "30.00"
    assert pay["discount_amount"] == "5.00" and pay["tax_amount"] == "0.00" and pay["coupon_code"] == "SAVE5"
    assert pay["currency_code"] == "USD" and pay["currency_symbol"] == "$"
    assert pay["transaction_id"] == "txn_1" and pay["order_id"] == "ord_1" and pay["gateway"] == "stripe"
    assert pay["card"] == {"last4": "4242", "brand": "visa"} and pay["method"] == "card"
    assert pay["created_on"] == iso_ms(T0 + 60) and pay["source"] == "funnel"
    assert pay["customer"]["email"] == "ada@example.com"
    assert pay["customer"]["address"] == "1 Main St, Springfield, IL 62701, US"
    assert pay["product_name"] == "Product 0, Product 1"
    catalog = merge.fields_for("payment_received")
    flat = _flatten({"payment": pay})
    assert set(flat) == {p for p in catalog.exact if p.startswith("payment.")}


def test_a_partial_payment_totals_only_itself() -> None:
    o = order()
    pay = one(signal("payment.received", transaction=txn(o, amount=700), order=o)).context["payment"]
    assert pay["total_amount"] == "7.00" and pay["sub_total_amount"] == "7.00" and pay["discount_amount"] == "0.00"


def test_money_renders_with_the_currency_decimals() -> None:
    o = order(currency="JPY")
    pay = one(signal("payment.received", transaction=txn(o, amount=1500), order=o)).context["payment"]
    assert pay["total_amount"] == "1500" and pay["currency_symbol"] == "¥"


def test_the_contact_is_read_at_fire_time_else_from_the_snapshot() -> None:
    o = order()
    moved = contact(email="new@example.com")
    now_contact = one(signal("payment.received", transaction=txn(o), order=o), FakeLookup([moved]))
    assert now_contact.context["contact"]["email"] == "new@example.com"
    gone = one(signal("payment.received", transaction=txn(o), order=o), FakeLookup([]))
    assert gone.context["contact"]["email"] == "ada@example.com" and gone.contact_id == "c_1"
    given = one(signal("payment.received", transaction=txn(o), order=o, contact=snap(contact(email="old@x.test"))),
                FakeLookup([moved]))
    assert given.context["contact"]["email"] == "new@example.com"  # the store's contact wins over the snapshot
    only_given = one(signal("payment.received", transaction=txn(o), order=o, contact=snap(contact(email="old@x.test"))),
                     FakeLookup([]))
    assert only_given.context["contact"]["email"] == "old@x.test"


# ---- orders -----------------------------------------------------------------------------------------


def test_order_form_submission_fires_for_an_unpaid_order() -> None:
    o = order()
    assert o.payment_status == "unpaid"
    f = one(signal("order.form_submitted", order=o))
    assert f.trigger_type == "order_form_submission" and f.facts["submissionType"] == "sale"
    assert f.facts["funnel"] == "funnel_9" and f.facts["page"] == "page_3"
    assert matches(trigger("order_form_submission"), f)
    assert matches(trigger("order_form_submission", ("product", "is", "prod_1"), ("page", "is", "page_3")), f)
    assert not matches(trigger("order_form_submission", ("funnel", "is", "other")), f)
    assert not matches(trigger("order_submitted"), f)
    upsell = one(signal("order.form_submitted", order=order(sub_type="upsell")))
    assert upsell.facts["submissionType"] == "upsell"
    opt_in = one(signal("order.form_submitted", order=order(items=0)))
    assert opt_in.facts["submissionType"] == "opt_in"


def test_order_submitted_comes_only_from_the_successful_payment_signal() -> None:
    o = order()
    lookup = FakeLookup()
    assert all(f.trigger_type != "order_submitted"
               for f in firings(signal("order.form_submitted", order=o), lookup)
               + firings(signal("payment.received", transaction=txn(o, status="failed"), order=o), lookup))
    f = one(signal("order.submitted", order=o, transaction=txn(o)))
    assert f.trigger_type == "order_submitted" and matches(trigger("order_submitted"), f)
    assert TRIGGERS["order_submitted"].signals == ("order.submitted",)


def test_order_submitted_once_per_order_or_once_per_product() -> None:
    o = order(items=3)
    per_order = firings(signal("order.submitted", order=o, transaction=txn(o)), FakeLookup())
    assert len(per_order) == 1 and per_order[0].facts["product"] == ["prod_0", "prod_1", "prod_2"]
    assert per_order[0].facts["submissionType"] == "primary"
    per_product = firings(signal("order.submitted", order=o, transaction=txn(o)), FakeLookup(),
                          order_submitted="product")
    assert [f.facts["product"] for f in per_product] == [["prod_0"], ["prod_1"], ["prod_2"]]
    assert [f.facts["submissionType"] for f in per_product] == ["primary", "bump", "bump"]
    assert [f.context["order"]["product"]["id"] for f in per_product] == ["prod_0", "prod_1", "prod_2"]
    only_bumps = trigger("order_submitted", ("submissionType", "is", "bump"))
    assert [matches(only_bumps, f) for f in per_product] == [False, True, True]
    only_p1 = trigger("order_submitted", ("product", "is", "prod_1"))
    assert [matches(only_p1, f) for f in per_product] == [False, True, False]
    assert matches(only_p1, per_order[0])


def test_order_submitted_filters_and_merge_fields() -> None:
    o = order(source_type="website", sub_type="store")
    paypal = txn(o, provider_type="paypal")
    f = one(signal("order.submitted", order=o, transaction=paypal))
    assert f.facts["orderSource"] == "store" and f.facts["paymentMode"] == "paypal"
    assert matches(trigger("order_submitted", ("orderSource", "is", "store"), ("paymentMode", "is", "paypal")), f)
    assert not matches(trigger("order_submitted", ("paymentMode", "is", "stripe")), f)
    funnel = one(signal("order.submitted", order=order(), transaction=txn(order())))
    assert funnel.facts["orderSource"] == "order_form"
    ctx = f.context["order"]
    assert ctx["id"] == "ord_1" and ctx["total"] == "25.00" and ctx["cart_total"] == "30.00"
    assert ctx["total_discount"] == "5.00" and ctx["payment_gateway"] == "paypal"
    assert ctx["customer"]["name"] == "Ada Lovelace" and ctx["created_at"] == iso_ms(T0)


# ---- invoice, subscription, refund ------------------------------------------------------------------


def invoice(status: str = "paid") -> Invoice:
    return Invoice(id="inv_1", location_id=LOC, number="INV-000007", name="October", status=status, contact_id="c_1",
                   amount_minor=12345, currency="USD", issue_date="2026-10-01", due_date="2026-10-15",
                   created_at=T0, updated_at=T0)


def test_invoice_trigger_filters_status_and_tag() -> None:
    f = one(Signal("workflows", "invoice.updated", LOC, {"invoice": dataclasses.asdict(invoice())}))
    assert f.trigger_type == "invoice"
    assert matches(trigger("invoice", ("invoiceStatus", "is", "paid")), f)
    assert not matches(trigger("invoice", ("invoiceStatus", "is", "void")), f)
    assert matches(trigger("invoice", ("hasTag", "is", "vip")), f)
    assert not matches(trigger("invoice", ("hasTag", "is", "cold")), f)
    inv = f.context["invoice"]
    assert inv["total_amount"] == "123.45" and inv["number"] == "INV-000007" and inv["customer"]["company"] == "Engines Ltd"
    assert inv["company"]["name"] == "Gym One" and inv["sender"]["email"] == "owner@gym.test"


def test_subscription_trigger_status_vocabulary_and_product_empty() -> None:
    f = one(signal("subscription.changed", subscription=subscription(status="past_due")))
    assert f.facts["status"] == "overdue"
    assert matches(trigger("subscription", ("status", "is", "overdue")), f)
    assert matches(trigger("subscription", ("product", "not_empty", None)), f)
    assert not matches(trigger("subscription", ("product", "empty", None)), f)
    assert matches(trigger("subscription", ("product", "is", "prod_m")), f)
    trial = one(signal("subscription.changed", subscription=subscription(status="trialing", interval_count=3)))
    assert trial.facts["status"] == "trial"
    assert trial.context["subscription"]["interval"] == "3 months"
    assert trial.context["subscription"]["status"] == "trialing"  # merge values keep the API's words
    assert trial.context["subscription"]["amount"] == "29.00"


def test_refund_trigger_amount_in_major_units_and_type() -> None:
    o = order(items=1, payment_status="partially_paid")  # 10.00 - 5.00 = 5.00
    t = txn(o, amount_refunded_minor=250, id="txn_9")
    partial = one(signal("refund.issued", transaction=t, order=o))
    assert partial.facts["type"] == "partial" and partial.facts["status"] == "successful"
    assert matches(trigger("refund", ("amount", "gt", 2)), partial)
    assert matches(trigger("refund", ("amount", "eq", 2.5)), partial)
    assert not matches(trigger("refund", ("amount", "lt", 2.5)), partial)
    assert matches(trigger("refund", ("type", "is", "partial"), ("source", "is", "funnel")), partial)
    full = one(signal("refund.issued", transaction=txn(o, amount_refunded_minor=500, status="refunded"),
                      order=dataclasses.replace(o, payment_status="refunded"), refund={"amount_minor": 250}))
    assert full.facts["type"] == "full" and full.facts["amount"] == 2.5
    # the refund record GHL's simulator publishes decides: how much, full or not, succeeded or not
    told = one(signal("refund.issued", transaction=t, order=o, refund={
        "amount_minor": 500, "currency": "USD", "full": True, "transaction_ids": ["txn_9"], "status": "succeeded",
        "created_at": T0 + 99}))
    assert told.facts["type"] == "full" and told.facts["amount"] == 5
    assert told.context["refund"]["created_on"] == iso_ms(T0 + 99) and told.context["refund"]["amount"] == "5.00"
    failed = one(signal("refund.issued", transaction=t, order=o, refund={"amount_minor": 100, "full": False,
                                                                         "status": "failed"}))
    assert failed.facts["status"] == "failed" and failed.facts["type"] == "partial"
    assert matches(trigger("refund", ("status", "is", "failed")), failed)
    assert not matches(trigger("refund", ("status", "is", "successful")), failed)
    assert full.context["refund"]["amount"] == "2.50" and full.context["refund"]["transaction_id"] == "txn_1"
    assert full.context["refund"]["order_id"] == "ord_1"


def test_unknown_signals_fire_nothing() -> None:
    assert firings(Signal("ghl", "order.cancelled", LOC, {}), FakeLookup()) == []


# ---- merge fields ---------------------------------------------------------------------------------


def test_render_nested_paths_missing_values_and_whitespace() -> None:
    ctx = {"payment": {"customer": {"email": "a@b.c"}, "total_amount": "9.50"}, "n": 3, "f": 2.0, "yes": True,
           "items": [{"id": "x"}]}
    text = "{{ payment.customer.email }}|{{payment.total_amount}}|{{payment.nope}}|{{nope.at.all}}|{{n}}|{{f}}|{{yes}}|{{items.0.id}}"
    assert merge.render(text, ctx) == "a@b.c|9.50|||3|2|true|x"
    assert merge.render("no tags {single} }}", ctx) == "no tags {single} }}"


def test_render_escapes_by_content_type() -> None:
    ctx = {"v": 'say "hi"\n&=x'}
    assert merge.render('{"a": "{{v}}"}', ctx, escape="json") == '{"a": "say \\"hi\\"\\n&=x"}'
    assert json.loads(merge.render('{"a": "{{v}}"}', ctx, escape="json")) == {"a": ctx["v"]}
    assert merge.render("a={{v}}", ctx, escape="form") == "a=say+%22hi%22%0A%26%3Dx"
    assert merge.render("{{v}}", ctx) == ctx["v"]


def test_inbound_merge_fields_take_any_body_path() -> None:
    body = {"order": {"lines": [{"sku": "A-1"}], "email": "ada@example.com"}, "amount": 12.5}
    f = inbound_firing(LOC, body=body, query={"src": "zap"}, headers={"X-Trace": "t-1"}, contact=contact(),
                       lookup=FakeLookup())
    text = ("{{inboundWebhookRequest.body.order.lines.0.sku}} {{inboundWebhookRequest.body.amount}} "
            "{{inboundWebhookRequest.query.src}} {{inboundWebhookRequest.headers.x-trace}} {{contact.first_name}}")
    assert merge.render(text, f.context) == "A-1 12.5 zap t-1 Ada"
    assert merge.template_problems(text, "inbound_webhook") == []
    assert merge.template_problems("{{inboundWebhookRequest.body.anything.deep.at.all}}", "inbound_webhook") == []
    assert merge.template_problems("{{inboundWebhookRequest.cookies.x}}", "inbound_webhook")
    assert merge.template_problems("{{payment.total_amount}}", "inbound_webhook")
    anonymous = inbound_firing(LOC, body={}, query={}, headers={}, contact=None, lookup=FakeLookup())
    assert anonymous.context["contact"] == {} and anonymous.objects == {}


def test_template_problems_name_the_merge_field_and_the_trigger() -> None:
    assert merge.template_problems("{{payment.total_amount}} {{ contact.email }}", "payment_received") == []
    assert merge.template_problems("{{contact.my_custom_field}} {{custom_values.anything}}", "refund") == []
    assert merge.template_problems("{{order.id}}", "payment_received") == [
        "{{order.id}} is not a merge field of the payment_received trigger"]
    assert merge.template_problems("{{payment.nope}}", "payment_received") == [
        "{{payment.nope}} is not a merge field of the payment_received trigger"]
    assert merge.template_problems("{{contact.attributionSource.nope}}", "payment_received")
    assert merge.template_problems("{{contact.a.b}}", "payment_received")
    assert "unclosed" in merge.template_problems("x {{payment.total_amount", "payment_received")[0]
    assert "is not a merge field" in merge.template_problems("{{ two words }}", "payment_received")[0]
    for kind in TRIGGERS:
        assert merge.template_problems("{{right_now.iso}} {{workflow.name}} {{location.full_address}}", kind) == []


def test_always_available_groups_render() -> None:
    o = order()
    f = for_workflow(one(signal("payment.received", transaction=txn(o), order=o)),
                     make({"name": "My WF", "trigger": {"type": "payment_received"}}))
    out = merge.render("{{right_now.date}} {{right_now.time}} {{workflow.name}} {{location.name}} "
                       "{{custom_values.secret}} {{contact.tags}} {{contact.phone_raw}}", f.context)
    # NOW is 2026-09-21 14:13:20 UTC, 10:13:20 in New York (the location's timezone)
    assert out == "2026-09-21 10:13:20 My WF Gym One s3 vip,gym 15550001111"
    assert f.context["workflow"]["id"].startswith("id-")


@settings(max_examples=60, deadline=None)
@given(values=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=20), min_size=3, max_size=3),
       keys=st.lists(st.text(alphabet="xyz_ -\"\\", min_size=1, max_size=5), min_size=3, max_size=3, unique=True))
def test_a_json_template_renders_valid_json_for_any_string_values(values: dict[str, str], keys: list[str]) -> None:
    template = "{" + ", ".join(f"{json.dumps(k)}: \"{{{{v.{name}}}}}\"" for k, name in zip(keys, "abc", strict=True)) + ', "n": {{n}}}'
    assert merge.json_problem(template) is None
    rendered = json.loads(merge.render(template, {"v": values, "n": 7}, escape="json"))
    assert rendered == {**{k: values[name] for k, name in zip(keys, "abc", strict=True)}, "n": 7}


# ---- documents --------------------------------------------------------------------------------------


def test_a_valid_document_round_trips_through_the_view() -> None:
    doc = {"name": " Payment Received to Rankr ", "status": "published",
           "trigger": {"type": "payment_received", "filters": [{"field": "paymentStatus", "operator": "is",
                                                                "value": "Success"}]},
           "actions": [{"type": "webhook", "name": "To my Zap", "url": "https://hooks.zapier.com/x",
                        "customData": [{"key": "secret", "value": "{{custom_values.shared_secret}}"}]},
                       custom(auth={"type": "bearer", "token": "{{custom_values.rankr_api_key}}"},
                              headers=[{"key": "X-Workflow-Secret", "value": "{{custom_values.workflow_secret}}"}],
                              query=[{"key": "source", "value": "ghl"}],
                              body='{"amount": {{payment.total_amount}}, "status": "{{payment.payment_status}}"}')]}
    w = make(doc)
    assert w.name == "Payment Received to Rankr" and w.location_id == LOC and w.created_at == NOW
    assert w.typed_trigger.filters[0].value == "success"  # vocabulary values are normalised
    first, second = w.typed_actions
    assert first.method == "POST" and second.auth.token == "{{custom_values.rankr_api_key}}"
    view = workflow_view(w, "http://127.0.0.1:8080")
    assert view["trigger"] == {"type": "payment_received",
                               "filters": [{"field": "paymentStatus", "operator": "is", "value": "success"}]}
    assert view["actions"][1]["auth"] == {"type": "bearer", "token": "{{custom_values.rankr_api_key}}"}
    assert view["createdAt"] == iso_ms(NOW) and view["locationId"] == LOC
    again = make(view, existing=w, now=NOW + 5)
    assert again.id == w.id and [a.id for a in again.typed_actions] == [a.id for a in w.typed_actions]
    assert again.created_at == NOW and again.updated_at == NOW + 5
    assert workflow_view(again, "http://x")["actions"] == view["actions"]


def test_workflow_is_a_storable_record() -> None:
    spec = TableSpec("workflows", Workflow, (column("location_id", "TEXT", by_location),), location_scoped=True)
    store = Store(None, [spec])
    w = make({"name": "w", "trigger": {"type": "refund", "filters": [{"field": "amount", "operator": "gt",
                                                                       "value": 10}]},
              "actions": [custom(url="https://x.test/{{refund.transaction_id}}", auth={"type": "basic",
                                                                                       "username": "u", "password": "p"})]})
    with store.transaction():
        store.table(Workflow).put(w)
    back = store.table(Workflow).get(w.id)
    assert back == w and back is not None
    assert back.typed_actions[0].auth.username == "u" and back.typed_trigger.filters[0].value == 10


def test_inbound_trigger_gets_an_id_and_keeps_it() -> None:
    w = make({"name": "in", "trigger": {"type": "inbound_webhook"}})
    assert w.inbound_id
    view = workflow_view(w, "http://127.0.0.1:9/")
    assert view["trigger"]["inboundUrl"] == f"http://127.0.0.1:9/hooks/{LOC}/webhook-trigger/{w.inbound_id}"
    assert make(view, existing=w).inbound_id == w.inbound_id


def test_defaults_and_new_ids() -> None:
    w = make({"name": "w", "trigger": {"type": "subscription"}, "actions": [
        {"type": "webhook", "url": "https://a.test"}, {"type": "custom_webhook", "url": "https://b.test"},
        {"type": "webhook", "url": "https://c.test", "id": "made-up"}]})
    assert w.status == "published"
    a, b, c = w.typed_actions
    assert len({w.id, a.id, b.id, c.id}) == 4 and c.id != "made-up"
    assert (a.name, b.name) == ("Webhook 1", "Custom Webhook 2")
    assert b.method == "POST" and b.content_type == "application/json" and b.auth.type == "none"


def _paths(found: list[Problem]) -> dict[str, str]:
    return {p.path: p.message for p in found}


def test_every_problem_is_listed_with_its_path() -> None:
    found = _paths(problems({
        "name": "", "status": "live", "extra": 1,
        "trigger": {"type": "payment_received", "filters": [
            {"field": "paymentStatus", "operator": "is", "value": "pending"},
            {"field": "orderSource", "operator": "is", "value": "store"},
            {"field": "product", "operator": "gt", "value": "p"},
            {"field": "product", "operator": "is", "value": ""}]},
        "actions": [{"type": "webhook", "url": "ftp://x", "auth": {"type": "none"}},
                    {"type": "sms"}, "nope",
                    custom(method="PATCH", contentType="text/html", auth={"type": "bearer"},
                           headers=[{"key": "Bad Header", "value": "v"}])]}))
    assert "is required" in found["name"] or "must not be empty" in found["name"]
    assert "'live' is not one of published, draft" in found["status"]
    assert "unknown field" in found["extra"]
    assert "'pending' is not one of success, failed" in found["trigger.filters[0].value"]
    assert "'orderSource' is not a filter of the payment_received trigger" in found["trigger.filters[1].field"]
    assert "takes is, is_not" in found["trigger.filters[2].operator"]
    assert "non-empty" in found["trigger.filters[3].value"]
    assert "http:// or https://" in found["actions[0].url"]
    assert "unknown field" in found["actions[0].auth"]
    assert "'sms' is not one of webhook, custom_webhook" in found["actions[1].type"]
    assert "must be an object" in found["actions[2]"]
    assert "'PATCH'" in found["actions[3].method"] and "'text/html'" in found["actions[3].contentType"]
    assert "is required" in found["actions[3].auth.token"]
    assert "not a valid header name" in found["actions[3].headers[0].key"]


def test_template_errors_name_the_action_the_field_and_the_merge_field() -> None:
    found = problems({"name": "w", "trigger": {"type": "payment_received"}, "actions": [
        {"type": "webhook", "name": "Zap", "url": "https://z.test/{{order.id}}",
         "customData": [{"key": "a", "value": "{{payment.total_amount}}"}, {"key": "b", "value": "{{refund.amount}}"}]},
        custom(headers=[{"key": "X-A", "value": "{{invoice.number}}"}], query=[{"key": "q", "value": "{{order.total}}"}],
               auth={"type": "api_key", "keyName": "X-Key", "keyValue": "{{subscription.id}}"},
               body='{"id": "{{order.id}}"}')]})
    by_path = _paths(found)
    assert by_path["actions[0].url"] == ("action 'Zap': {{order.id}} is not a merge field of the payment_received "
                                         "trigger")
    assert "{{refund.amount}}" in by_path["actions[0].customData[1].value"]
    assert "actions[0].customData[0].value" not in by_path
    assert by_path["actions[1].headers[0].value"].startswith("action 'PUT to Rankr': {{invoice.number}}")
    assert "{{order.total}}" in by_path["actions[1].query[0].value"]
    assert "{{subscription.id}}" in by_path["actions[1].auth.keyValue"]
    assert "{{order.id}}" in by_path["actions[1].body"]
    assert "actions[1].url" not in by_path  # {{payment.transaction_id}} is offered
    # the same templates are fine for the trigger that offers them
    ok = make({"name": "w", "trigger": {"type": "order_submitted"}, "actions": [
        {"type": "webhook", "url": "https://z.test/{{order.id}}"}]})
    assert ok.typed_actions[0].url == "https://z.test/{{order.id}}"


def test_json_body_is_checked_with_line_and_column() -> None:
    def body_problem(body: str, content_type: str = "application/json") -> str | None:
        try:
            make({"name": "w", "trigger": {"type": "payment_received"},
                  "actions": [custom(body=body, contentType=content_type)]})
        except WorkflowInvalid as exc:
            return _paths(exc.problems).get("actions[0].body")
        return None

    assert body_problem('{"amount": {{payment.total_amount}}, "s": "{{payment.payment_status}}"}') is None
    assert body_problem('{\n  "amount": {{payment.total_amount}}\n  "s": 1\n}') == (
        "action 'PUT to Rankr': body is not valid JSON at line 3 column 3 (Expecting ',' delimiter)")
    # the column is the template's, not the sample's: the long tag before the error counts in full
    assert body_problem('{"a": "{{payment.customer.email}}" "b": 1}') == (
        "action 'PUT to Rankr': body is not valid JSON at line 1 column 36 (Expecting ',' delimiter)")
    assert "line 1 column 1" in (body_problem("amount={{payment.total_amount}}") or "")
    assert body_problem("amount={{payment.total_amount}}", "application/x-www-form-urlencoded") is None
    assert body_problem("not json at all", "text/plain") is None
    assert body_problem("") is None


def test_documents_that_are_not_objects_or_lack_a_trigger() -> None:
    assert problems([1]) == [Problem("", "a workflow must be a JSON object, not a list")]
    assert "is required" in _paths(problems({"name": "w"}))["trigger"]
    assert "'cron' is not one of" in _paths(problems({"name": "w", "trigger": {"type": "cron"}}))["trigger.type"]
    assert "not a filter of the inbound_webhook trigger" in _paths(problems(
        {"name": "w", "trigger": {"type": "inbound_webhook", "filters": [{"field": "x", "value": "y"}]}}
    ))["trigger.filters[0].field"]
    assert "needs a number" in _paths(problems({"name": "w", "trigger": {"type": "refund", "filters": [
        {"field": "amount", "operator": "gt", "value": "10"}]}}))["trigger.filters[0].value"]
    assert "must be a string" in _paths(problems({"name": "w", "trigger": {"type": "refund"},
                                                  "actions": [custom(body={"a": 1})]}))["actions[0].body"]
    existing = make({"name": "w", "trigger": {"type": "refund"}})
    with pytest.raises(WorkflowInvalid) as info:
        make({"name": "w", "locationId": "elsewhere", "trigger": {"type": "refund"}}, existing=existing)
    assert info.value.problems[0].path == "locationId"


# ---- the standard Webhook request ------------------------------------------------------------------


def _payment_workflow(action: dict[str, Any]) -> tuple[Workflow, Firing]:
    w = make({"name": "Paid", "trigger": {"type": "payment_received"}, "actions": [action]})
    o = order()
    return w, one(signal("payment.received", transaction=txn(o), order=o))


def test_standard_payload_shape() -> None:
    w, f = _payment_workflow({"type": "webhook", "url": "https://hooks.test/catch",
                              "customData": [{"key": "secret", "value": "{{custom_values.secret}}"},
                                             {"key": "txn", "value": "{{payment.transaction_id}}"},
                                             {"key": "missing", "value": "{{payment.invoice.number}}"}]})
    action = w.typed_actions[0]
    req = standard_request(w, action, f, payload_objects="nested", user_agent="axios/1.13.2")
    assert req.method == "POST" and req.url == "https://hooks.test/catch"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["accept"] == "application/json, text/plain, */*"
    assert req.headers["accept-encoding"] == "gzip, compress, deflate, br"
    assert req.headers["user-agent"] == "axios/1.13.2"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", req.headers["traceparent"])
    assert not {h for h in req.headers if "signature" in h or "webhook" in h or "timestamp" in h}
    body = json.loads(req.body)
    assert body["contact_id"] == "c_1" and body["first_name"] == "Ada" and body["full_name"] == "Ada Lovelace"
    assert body["tags"] == "vip,gym" and isinstance(body["tags"], str)
    assert body["phone"] == "+15550001111" and body["contact_source"] == "order form"
    assert body["date_created"] == iso_ms(T0) and body["contact_type"] == "lead"
    assert "website" not in body  # empty optional fields are omitted
    assert body["location"] == {"name": "Gym One", "address": "", "city": "", "state": "", "country": "",
                                "postalCode": "", "fullAddress": "", "id": LOC}
    assert body["workflow"] == {"id": w.id, "name": "Paid"}
    assert body["triggerData"] == {} and body["attributionSource"] == {}
    assert body["contact"] == {"attributionSource": {}, "lastAttributionSource": {}}
    assert body["customData"] == {"secret": "s3", "txn": "txn_1", "missing": ""}
    assert body["payment"]["transaction_id"] == "txn_1" and body["payment"]["total_amount"] == "25.00"
    for forbidden in ("id", "eventId", "webhookId", "timestamp", "type", "event"):
        assert forbidden not in body
    assert all(k == k.lower() for k in body if k not in ("triggerData", "customData", "attributionSource"))


def test_standard_payload_trigger_object_can_be_turned_off() -> None:
    w, f = _payment_workflow({"type": "webhook", "url": "https://hooks.test/catch"})
    action = w.typed_actions[0]
    assert "payment" not in json.loads(standard_request(w, action, f, payload_objects="none", user_agent="u").body)
    with pytest.raises(ValueError, match="payload_objects"):
        standard_body(f, action, payload_objects="flat")
    sub = one(signal("subscription.changed", subscription=subscription()))
    assert set(standard_body(sub, action)) >= {"subscription", "customData"}
    assert "payment" not in standard_body(sub, action)


def test_standard_payload_is_rendered_at_fire_time_and_deterministic() -> None:
    w, f = _payment_workflow({"type": "webhook", "url": "https://hooks.test/catch"})
    action = w.typed_actions[0]
    a = standard_request(w, action, f, payload_objects="nested", user_agent="u")
    b = standard_request(w, action, f, payload_objects="nested", user_agent="u")
    assert a == b
    other = standard_request(w, action, f, payload_objects="nested", user_agent="u", trace="run-2")
    assert other.body == a.body and other.headers["traceparent"] != a.headers["traceparent"]


# ---- the Custom Webhook request ---------------------------------------------------------------------


def _custom(f: Firing | None = None, **over: Any) -> tuple[Any, Firing, Workflow]:
    w = make({"name": "Custom", "trigger": {"type": "payment_received"}, "actions": [custom(**over)]})
    if f is None:
        o = order()
        f = one(signal("payment.received", transaction=txn(o), order=o))
    return w.typed_actions[0], f, w


def test_custom_request_url_query_headers_and_json_body() -> None:
    action, f, w = _custom(headers=[{"key": "X-Workflow-Secret", "value": "{{custom_values.secret}}"}],
                           query=[{"key": "source", "value": "ghl & co"}, {"key": "who", "value": "{{contact.email}}"}],
                           body='{"amount": {{payment.total_amount}}, "name": "{{contact.name}}", "wf": "{{workflow.name}}"}')
    req = custom_request(action, f, {}, workflow=w)
    assert req.method == "PUT"
    parts = urlsplit(req.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://rankr.test/v1/payments/ghl-txn_1"
    assert parse_qsl(parts.query) == [("source", "ghl & co"), ("who", "ada@example.com")]
    assert "ghl+%26+co" in parts.query and "ada%40example.com" in parts.query
    assert req.headers["X-Workflow-Secret"] == "s3" and req.headers["content-type"] == "application/json"
    assert "authorization" not in {h.lower() for h in req.headers}
    assert json.loads(req.body) == {"amount": 25.0, "name": "Ada Lovelace", "wf": "Custom"}


def test_custom_query_is_appended_to_an_existing_query_and_before_a_fragment() -> None:
    action, f, w = _custom(url="https://x.test/p?a=1#frag", query=[{"key": "b", "value": "2/3"}])
    assert custom_request(action, f, {}).url == "https://x.test/p?a=1&b=2%2F3#frag"


@pytest.mark.parametrize(("auth", "tokens", "header", "value"), [
    ({"type": "basic", "username": "{{contact.email}}", "password": "p:w"}, {}, "Authorization",
     "Basic " + base64.b64encode(b"ada@example.com:p:w").decode()),
    ({"type": "bearer", "token": "{{custom_values.secret}}"}, {}, "Authorization", "Bearer s3"),
    ({"type": "api_key", "keyName": "X-Api-Key", "keyValue": "k-{{custom_values.secret}}"}, {}, "X-Api-Key", "k-s3"),
    ({"type": "oauth2", "tokenName": "rankr"}, {"rankr": "at-123", "other": "no"}, "Authorization", "Bearer at-123"),
])
def test_custom_auth_modes(auth: dict[str, str], tokens: dict[str, str], header: str, value: str) -> None:
    action, f, _ = _custom(auth=auth)
    req = custom_request(action, f, tokens)
    assert req.headers[header] == value
    assert sum(1 for h in req.headers if h.lower() == header.lower()) == 1


def test_custom_oauth2_without_its_token_and_none_send_no_authorization() -> None:
    for auth in ({"type": "oauth2", "tokenName": "gone"}, {"type": "none"}):
        action, f, _ = _custom(auth=auth)
        assert "authorization" not in {h.lower() for h in custom_request(action, f, {"rankr": "t"}).headers}


def test_user_headers_override_defaults_whatever_their_case() -> None:
    action, f, _ = _custom(auth={"type": "bearer", "token": "t"},
                           headers=[{"key": "Content-Type", "value": "application/vnd.x+json"},
                                    {"key": "authorization", "value": "Token mine"}], body='{"a": 1}')
    headers = custom_request(action, f, {}).headers
    assert headers["Content-Type"] == "application/vnd.x+json" and "content-type" not in headers
    assert headers["authorization"] == "Token mine" and "Authorization" not in headers


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_send_a_body_only_when_it_renders_non_empty(method: str) -> None:
    action, f, _ = _custom(method=method, url="https://x.test/{{payment.transaction_id}}")
    req = custom_request(action, f, {})
    assert req.method == method and req.body == b"" and "content-type" not in req.headers
    action, f, _ = _custom(method=method, body='{"id": "{{payment.transaction_id}}"}')
    req = custom_request(action, f, {})
    assert json.loads(req.body) == {"id": "txn_1"} and req.headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_post_and_put_always_send_their_body(method: str) -> None:
    action, f, _ = _custom(method=method)
    req = custom_request(action, f, {})
    assert req.method == method and req.body == b"" and req.headers["content-type"] == "application/json"


def test_custom_form_and_text_bodies() -> None:
    quoted = contact(first_name='Jo "Q"', last_name="&Co")
    o = order()
    f = one(signal("payment.received", transaction=txn(o), order=o), FakeLookup([quoted]))
    action, _, _ = _custom(f, contentType="application/x-www-form-urlencoded",
                           body="name={{contact.name}}&amount={{payment.total_amount}}")
    req = custom_request(action, f, {})
    assert dict(parse_qsl(req.body.decode())) == {"name": 'Jo "Q" &Co', "amount": "25.00"}
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    action, _, _ = _custom(f, body='{"name": "{{contact.name}}"}')
    assert json.loads(custom_request(action, f, {}).body) == {"name": 'Jo "Q" &Co'}
    action, _, _ = _custom(f, contentType="text/plain", body="Paid: {{contact.name}}")
    assert custom_request(action, f, {}).body == b'Paid: Jo "Q" &Co'


# ---- helpers ----------------------------------------------------------------------------------------


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
