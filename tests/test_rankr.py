"""The fake Rankr under /rankr (CLIENT_CONTRACT §3), over real HTTP against a running sandbox:
accounts and auth, idempotent upserts, events/alerts with Idempotency-Key, reads, isolation and reset,
journal and faults, Rankr events sent to a client (signed), write history, and kill -9 durability."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.testing import SandboxClient, SandboxProcess

ORDER = {"orderId": "ord_1", "source": "ghl", "status": "completed", "fulfillmentStatus": "unfulfilled",
         "amount": 49.5, "currency": "USD", "contactId": "con_1", "updatedAt": "2024-05-01T10:00:00.000Z"}
TRANSACTION = {"transactionId": "txn_1", "orderId": "ord_1", "status": "succeeded", "amount": 49.5,
               "amountRefunded": 0, "currency": "USD", "updatedAt": "2024-05-01T10:00:00.000Z"}
SUBSCRIPTION = {"subscriptionId": "sub_1", "status": "active", "amount": 19, "currency": "USD",
                "updatedAt": "2024-05-01T10:00:00.000Z"}
PAYMENT: dict[str, Any] = {
    "paymentKey": "acuity:pi_3Nabc", "source": "acuity", "sourceKind": "appointment", "sourceId": "pi_3Nabc",
    "parentId": "1048576", "amount": 75.5, "currency": "USD", "status": "paid", "customerEmail": "jane.doe@example.com",
    "paidAt": "2026-10-02T09:15:00-0400"}
CUSTOMER: dict[str, Any] = {
    "customerId": "jane.doe@example.com", "firstName": "Jane", "lastName": "Doe", "emails": ["jane.doe@example.com"],
    "ghlContactIds": ["con_1"], "acuityEmails": ["Jane.Doe@Example.com"], "lifetimeValue": 125.5, "currency": "USD",
    "updatedAt": "2026-10-02T13:15:00.000Z"}
EVENT = {"eventId": "wh_1", "eventType": "OrderCreate", "orderId": "ord_1", "source": "ghl",
         "timestamp": "2024-05-01T10:00:00.000Z"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Rankr:
    """One Rankr account of the sandbox, as a client configured with RANKR_API_BASE_URL/KEY sees it."""

    def __init__(self, sb: SandboxClient, index: int = 0) -> None:
        self.sb = sb
        self.location = sb.location(index)
        self.location_id = self.location["locationId"]
        self.key = self.location["rankr"]["apiKey"]
        self.secret = self.location["rankr"]["webhookSecret"]
        self.base = self.location["rankr"]["basePath"]

    def call(self, method: str, path: str, key: str | None = "", **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key or self.key}")
        return self.sb.http.request(method, self.base + path, headers=headers, **kwargs)

    def put(self, collection: str, record_id: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.call("PUT", f"/v1/{collection}/{record_id}", json=body, **kwargs)

    def post(self, collection: str, body: Any, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key is not None else {}
        return self.call("POST", f"/v1/{collection}", json=body, headers=headers, **kwargs)

    def list(self, collection: str, **params: Any) -> dict[str, Any]:
        r = self.call("GET", f"/v1/{collection}", params=params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def rankr(ghl_sandbox: SandboxClient) -> Rankr:
    return Rankr(ghl_sandbox)


def assert_rankr_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code and isinstance(body["message"], str) and body["message"]
    assert "statusCode" not in body  # Rankr's own shape, not GHL's
    return body


# ---- accounts and auth ---------------------------------------------------------------------------


def test_every_location_has_a_derived_rankr_account(ghl_sandbox: SandboxClient) -> None:
    seed = ghl_sandbox.control("GET", "/health")["seed"]
    locations = ghl_sandbox.locations()
    assert len(locations) >= 2
    for loc in locations:
        digest = hashlib.sha256(f"rankr-key:{seed}:{loc['locationId']}".encode()).hexdigest()[:32]
        assert loc["rankr"]["apiKey"] == "rk_" + digest
        assert re.fullmatch(r"whsec_[0-9a-f]{32}", loc["rankr"]["webhookSecret"])
        assert loc["rankr"]["basePath"] == "/rankr"
    assert len({loc["rankr"]["apiKey"] for loc in locations}) == len(locations)
    new = ghl_sandbox.new_location(orders=0)
    assert new["rankr"]["apiKey"].startswith("rk_") and new["rankr"]["apiKey"] not in {
        loc["rankr"]["apiKey"] for loc in locations}


@pytest.mark.parametrize("collection", ["orders", "transactions", "subscriptions", "payments", "customers", "events",
                                        "alerts"])
def test_every_call_needs_the_api_key(rankr: Rankr, ghl_sandbox: SandboxClient, collection: str) -> None:
    assert_rankr_error(rankr.call("GET", f"/v1/{collection}", key=None), 401, "unauthorized")
    assert_rankr_error(rankr.call("GET", f"/v1/{collection}", key="rk_wrong"), 401, "unauthorized")
    ghl_token = ghl_sandbox.location(0)["tokens"][0]["token"]  # a GHL token is no Rankr key
    assert_rankr_error(rankr.call("GET", f"/v1/{collection}", key=ghl_token), 401, "unauthorized")
    assert_rankr_error(rankr.call("PUT", "/v1/orders/ord_1", key=None, json=ORDER), 401, "unauthorized")
    assert_rankr_error(rankr.call("POST", "/v1/events", key="nope", json=EVENT), 401, "unauthorized")
    assert rankr.list("orders")["total"] == 0 and rankr.list("events")["total"] == 0


# ---- upserts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("collection", "body", "id_field", "changed"), [
    ("orders", ORDER, "orderId", {"fulfillmentStatus": "fulfilled"}),
    ("transactions", TRANSACTION, "transactionId", {"amountRefunded": 10, "status": "partially_refunded"}),
    ("subscriptions", SUBSCRIPTION, "subscriptionId", {"status": "canceled"}),
    ("payments", PAYMENT, "paymentKey", {"amount": 100, "customerEmail": "jane@example.com"}),
    ("customers", CUSTOMER, "customerId", {"emails": ["jane.doe@example.com", "jd@example.org"],
                                           "ghlContactIds": [], "lifetimeValue": 0}),
])
def test_upsert_creates_then_updates_idempotently(rankr: Rankr, collection: str, body: dict[str, Any],
                                                  id_field: str, changed: dict[str, Any]) -> None:
    record_id = body[id_field]
    created = rankr.put(collection, record_id, body)
    assert created.status_code == 201, created.text
    first = created.json()
    assert {k: first[k] for k in body} == body  # the client's own fields as sent, updatedAt included
    assert first["version"] == 1 and ISO_MS.match(first["createdAt"]) and first["storedAt"] == first["createdAt"]

    again = rankr.put(collection, record_id, body)  # same body: the same record
    assert again.status_code == 200 and again.json() == first

    updated = rankr.put(collection, record_id, {**body, **changed})
    assert updated.status_code == 200
    after = updated.json()
    assert after["version"] == 2 and after["createdAt"] == first["createdAt"]
    assert all(after[k] == v for k, v in changed.items())

    got = rankr.call("GET", f"/v1/{collection}/{record_id}")
    assert got.status_code == 200 and got.json() == after
    listed = rankr.list(collection)
    assert listed == {"data": [after], "total": 1}


def test_upsert_refuses_missing_ill_typed_and_mismatched_fields(rankr: Rankr) -> None:
    missing = {k: v for k, v in ORDER.items() if k != "contactId"}
    body = assert_rankr_error(rankr.put("orders", "ord_1", missing), 422, "validation_failed")
    assert body["fields"] == [{"field": "contactId", "issue": "missing"}]

    typed = assert_rankr_error(rankr.put("transactions", "txn_1", {**TRANSACTION, "amount": "49.50",
                                                                 "amountRefunded": None, "status": 3}),
                               422, "validation_failed")
    assert {f["field"] for f in typed["fields"]} == {"amount", "amountRefunded", "status"}

    mismatch = assert_rankr_error(rankr.put("orders", "ord_2", ORDER), 422, "validation_failed")
    assert [f["field"] for f in mismatch["fields"]] == ["orderId"]

    assert_rankr_error(rankr.put("subscriptions", "sub_1", ["not", "an", "object"]), 422, "validation_failed")
    assert_rankr_error(rankr.call("PUT", "/v1/orders/ord_1", content=b'{"orderId": ', headers={
        "content-type": "application/json"}), 400, "invalid_json")
    assert_rankr_error(rankr.call("PUT", "/v1/orders/ord_1", content=b""), 400, "invalid_json")
    assert rankr.list("orders")["total"] == 0 and rankr.list("transactions")["total"] == 0


def test_unknown_paths_wrong_methods_and_bad_paging(rankr: Rankr) -> None:
    assert_rankr_error(rankr.call("GET", "/v1/orders/nope"), 404, "not_found")
    assert_rankr_error(rankr.call("GET", "/v1/widgets"), 404, "not_found")
    assert_rankr_error(rankr.call("GET", "/v2/orders", key=None), 404, "not_found")
    assert_rankr_error(rankr.call("GET", "", key=None), 404, "not_found")
    r = rankr.call("DELETE", "/v1/orders/ord_1")
    assert_rankr_error(r, 405, "method_not_allowed")
    assert set(r.headers["allow"].split(", ")) == {"GET", "PUT"}
    assert_rankr_error(rankr.call("POST", "/v1/orders", json=ORDER), 405, "method_not_allowed")
    assert_rankr_error(rankr.call("PUT", "/v1/events/x", json=EVENT), 405, "method_not_allowed")
    assert_rankr_error(rankr.call("GET", "/v1/orders", params={"limit": "-1"}), 400, "invalid_parameter")


# ---- payments and customers (Acuity design §4) ---------------------------------------------------


@pytest.mark.parametrize(("collection", "body", "field", "value", "issue"), [
    ("payments", PAYMENT, "amount", "75.50", "must be a number"),
    ("payments", PAYMENT, "amount", True, "must be a number"),
    ("payments", PAYMENT, "sourceId", 123, "must be a string"),
    ("payments", PAYMENT, "parentId", 1048576, "must be a string"),
    ("payments", PAYMENT, "customerEmail", None, "must not be null"),
    ("payments", PAYMENT, "paidAt", ["2026-10-02"], "must be a string"),
    ("payments", PAYMENT, "source", "stripe", "must be one of ghl, acuity"),
    ("payments", PAYMENT, "sourceKind", "refund", "must be one of transaction, appointment, order"),
    ("payments", PAYMENT, "paymentKey", "acuity:other", "must equal the id in the path (acuity:pi_3Nabc)"),
    ("customers", CUSTOMER, "emails", "jane.doe@example.com", "must be an array of strings"),
    ("customers", CUSTOMER, "emails", {"0": "jane.doe@example.com"}, "must be an array of strings"),
    ("customers", CUSTOMER, "emails", ["jane.doe@example.com", 7], "must be an array of strings (item 1 is a number)"),
    ("customers", CUSTOMER, "ghlContactIds", [None], "must be an array of strings (item 0 is null)"),
    ("customers", CUSTOMER, "ghlContactIds", ["con_1", {"id": "con_2"}],
     "must be an array of strings (item 1 is an object)"),
    ("customers", CUSTOMER, "acuityEmails", [["a@x.com"]], "must be an array of strings (item 0 is an array)"),
    ("customers", CUSTOMER, "acuityEmails", [True], "must be an array of strings (item 0 is a boolean)"),
    ("customers", CUSTOMER, "lifetimeValue", "125.50", "must be a number"),
    ("customers", CUSTOMER, "firstName", 1, "must be a string"),
    ("customers", CUSTOMER, "updatedAt", None, "must not be null"),
])
def test_payment_and_customer_fields_are_type_checked(rankr: Rankr, collection: str, body: dict[str, Any],
                                                      field: str, value: Any, issue: str) -> None:
    id_field = "paymentKey" if collection == "payments" else "customerId"
    refused = assert_rankr_error(rankr.put(collection, body[id_field], {**body, field: value}), 422,
                                 "validation_failed")
    assert refused["fields"] == [{"field": field, "issue": issue}]
    assert field in refused["message"]
    assert rankr.list(collection)["total"] == 0
    assert_rankr_error(rankr.call("GET", f"/v1/{collection}/{body[id_field]}"), 404, "not_found")
    # Missing altogether is refused too, naming the field.
    missing = assert_rankr_error(rankr.put(collection, body[id_field], {k: v for k, v in body.items() if k != field}),
                                 422, "validation_failed")
    assert missing["fields"] == [{"field": field, "issue": "missing"}]


def test_every_bad_field_is_listed_once(rankr: Rankr) -> None:
    bad = {**CUSTOMER, "emails": [1, 2], "ghlContactIds": "con_1", "lifetimeValue": None}
    del bad["currency"]
    refused = assert_rankr_error(rankr.put("customers", CUSTOMER["customerId"], bad), 422, "validation_failed")
    assert refused["fields"] == [
        {"field": "emails", "issue": "must be an array of strings (item 0 is a number)"},
        {"field": "ghlContactIds", "issue": "must be an array of strings"},
        {"field": "lifetimeValue", "issue": "must not be null"},
        {"field": "currency", "issue": "missing"}]
    assert refused["message"] == "Invalid or missing field(s): emails, ghlContactIds, lifetimeValue, currency"


def test_customers_take_empty_arrays_and_payments_every_source_kind(rankr: Rankr) -> None:
    lone = {**CUSTOMER, "customerId": "bob@example.com", "emails": ["bob@example.com"], "ghlContactIds": [],
            "acuityEmails": [], "lifetimeValue": 0, "extra": "ignored"}
    created = rankr.put("customers", "bob@example.com", lone)
    assert created.status_code == 201, created.text
    stored = created.json()
    assert stored["ghlContactIds"] == [] and stored["acuityEmails"] == [] and "extra" not in stored
    # Array order is part of the body: reordered emails are an update, the same order again is not.
    two = {**lone, "emails": ["bob@example.com", "robert@example.com"]}
    assert rankr.put("customers", "bob@example.com", two).json()["version"] == 2
    assert rankr.put("customers", "bob@example.com", two).json()["version"] == 2
    swapped = rankr.put("customers", "bob@example.com", {**two, "emails": two["emails"][::-1]})
    assert swapped.status_code == 200 and swapped.json()["version"] == 3

    keys = {"ghl:txn_1": ("ghl", "transaction", "txn_1", "ord_1", "succeeded"),
            "acuity:pi_3Nabc": ("acuity", "appointment", "pi_3Nabc", "1048576", "paid"),
            "acuity-order:8811": ("acuity", "order", "8811", "8811", "paid")}
    for key, (source, kind, source_id, parent_id, status) in keys.items():
        body = {**PAYMENT, "paymentKey": key, "source": source, "sourceKind": kind, "sourceId": source_id,
                "parentId": parent_id, "status": status}
        r = rankr.put("payments", key, body)
        assert r.status_code == 201, r.text
        assert rankr.call("GET", f"/v1/payments/{key}").json() == r.json()
    listed = rankr.list("payments")
    assert listed["total"] == 3 and [p["paymentKey"] for p in listed["data"]] == list(keys)
    assert [p["sourceKind"] for p in rankr.list("payments", limit=1, offset=2)["data"]] == ["order"]
    assert_rankr_error(rankr.call("GET", "/v1/payments/acuity:nope"), 404, "not_found")
    assert_rankr_error(rankr.call("POST", "/v1/payments", json=PAYMENT), 405, "method_not_allowed")
    assert_rankr_error(rankr.call("PUT", "/v1/customers/bob@example.com", content=b"{"), 400, "invalid_json")


def test_payments_and_customers_through_the_control_plane(rankr: Rankr, ghl_sandbox: SandboxClient) -> None:
    other = Rankr(ghl_sandbox, 1)
    rankr.put("payments", PAYMENT["paymentKey"], PAYMENT)
    rankr.put("payments", PAYMENT["paymentKey"], PAYMENT)
    rankr.put("payments", PAYMENT["paymentKey"], {**PAYMENT, "amount": 80})
    rankr.put("customers", CUSTOMER["customerId"], {**CUSTOMER, "emails": [None]})
    rankr.put("customers", CUSTOMER["customerId"], CUSTOMER)
    other.put("customers", CUSTOMER["customerId"], {**CUSTOMER, "lifetimeValue": 1})

    for collection, expected in (("payments", [{**PAYMENT, "amount": 80}]), ("customers", [CUSTOMER])):
        records = ghl_sandbox.control("GET", f"/rankr/records/{collection}", params={"locationId": rankr.location_id})
        assert records["total"] == 1
        assert [{k: r[k] for k in expected[0]} for r in records["data"]] == expected
        assert records["data"] == rankr.list(collection)["data"]  # what the account itself reads
    theirs = ghl_sandbox.control("GET", "/rankr/records/customers", params={"locationId": other.location_id})
    assert [c["lifetimeValue"] for c in theirs["data"]] == [1]

    history = ghl_sandbox.control("GET", "/rankr/writes", params={"locationId": rankr.location_id})
    assert [(w["collection"], w["key"], w["status"], w["outcome"]) for w in history["data"]] == [
        ("payments", "acuity:pi_3Nabc", 201, "created"), ("payments", "acuity:pi_3Nabc", 200, "unchanged"),
        ("payments", "acuity:pi_3Nabc", 200, "updated"), ("customers", "jane.doe@example.com", 422, "invalid"),
        ("customers", "jane.doe@example.com", 201, "created")]

    unknown = ghl_sandbox.http.get("/_sandbox/rankr/records/refunds", params={"locationId": rankr.location_id})
    assert unknown.status_code == 404 and "payments, customers" in unknown.text
    assert ghl_sandbox.http.get("/_sandbox/rankr/records/payments").status_code == 422  # locationId required


# ---- events and alerts ---------------------------------------------------------------------------


def test_posts_without_idempotency_key_are_all_kept(rankr: Rankr) -> None:
    first, second = rankr.post("events", EVENT), rankr.post("events", EVENT)
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in first.headers and "idempotent-replayed" not in second.headers
    a, b = first.json(), second.json()
    assert a["id"] != b["id"] and {k: a[k] for k in EVENT} == EVENT and ISO_MS.match(a["receivedAt"])
    listed = rankr.list("events")
    assert listed["total"] == 2 and [e["id"] for e in listed["data"]] == [a["id"], b["id"]]  # duplicates show
    got = rankr.call("GET", f"/v1/events/{a['id']}")
    assert got.status_code == 200 and got.json() == a


@pytest.mark.parametrize(("collection", "body", "other"), [
    ("events", EVENT, {**EVENT, "eventType": "OrderStatusUpdate"}),
    ("alerts", {"severity": "warning", "message": "order ord_1 is stuck", "orderId": "ord_1"},
     {"severity": "critical", "message": "order ord_1 is stuck", "orderId": "ord_1"}),
])
def test_idempotency_key_replays_the_first_answer(rankr: Rankr, collection: str, body: dict[str, Any],
                                                  other: dict[str, Any]) -> None:
    first = rankr.post(collection, body, key="key-1")
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    replay = rankr.post(collection, body, key="key-1")
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert rankr.list(collection)["total"] == 1  # no second record

    assert_rankr_error(rankr.post(collection, other, key="key-1"), 409, "idempotency_key_reused")
    assert rankr.list(collection)["total"] == 1
    assert rankr.post(collection, body, key="key-2").json()["id"] != first.json()["id"]
    assert rankr.list(collection)["total"] == 2


def test_alert_validation(rankr: Rankr) -> None:
    body = assert_rankr_error(rankr.post("alerts", {"severity": "fatal"}), 422, "validation_failed")
    assert {f["field"] for f in body["fields"]} == {"severity", "message"}
    assert_rankr_error(rankr.post("alerts", {"severity": "info", "message": "m", "orderId": 5}), 422,
                       "validation_failed")
    bad_event = assert_rankr_error(rankr.post("events", {k: v for k, v in EVENT.items() if k != "timestamp"}),
                                   422, "validation_failed")
    assert bad_event["fields"] == [{"field": "timestamp", "issue": "missing"}]
    r = rankr.post("alerts", {"severity": "info", "message": "sync done"})  # orderId is optional
    assert r.status_code == 201 and "orderId" not in r.json()
    assert rankr.list("alerts")["total"] == 1 and rankr.list("events")["total"] == 0


def test_lists_keep_insertion_order_and_page(rankr: Rankr) -> None:
    ids = [f"ord_{n}" for n in (5, 1, 9, 3)]
    for order_id in ids:
        assert rankr.put("orders", order_id, {**ORDER, "orderId": order_id}).status_code == 201
    rankr.put("orders", "ord_5", {**ORDER, "orderId": "ord_5", "status": "refunded"})  # an update keeps its place
    assert [o["orderId"] for o in rankr.list("orders")["data"]] == ids
    page = rankr.list("orders", limit=2, offset=1)
    assert page["total"] == 4 and [o["orderId"] for o in page["data"]] == ["ord_1", "ord_9"]
    assert rankr.list("orders", offset=10) == {"data": [], "total": 4}


# ---- accounts are isolated; reset ---------------------------------------------------------------


def test_locations_are_isolated_and_reset_clears_rankr_data(ghl_sandbox: SandboxClient) -> None:
    one, two = Rankr(ghl_sandbox, 0), Rankr(ghl_sandbox, 1)
    assert one.put("orders", "ord_1", ORDER).status_code == 201
    assert one.post("events", EVENT, key="k").status_code == 201
    assert two.list("orders")["total"] == 0 and two.list("events")["total"] == 0
    assert_rankr_error(two.call("GET", "/v1/orders/ord_1"), 404, "not_found")
    event_id = one.list("events")["data"][0]["id"]
    assert_rankr_error(two.call("GET", f"/v1/events/{event_id}"), 404, "not_found")
    # The same ids and Idempotency-Key in another account are that account's own.
    assert two.put("orders", "ord_1", {**ORDER, "amount": 1}).status_code == 201
    second = two.post("events", {**EVENT, "source": "other"}, key="k")
    assert second.status_code == 201 and "idempotent-replayed" not in second.headers
    assert one.call("GET", "/v1/orders/ord_1").json()["amount"] == ORDER["amount"]

    ghl_sandbox.control("POST", f"/locations/{one.location_id}/reset")
    assert one.list("orders")["total"] == 0 and one.list("events")["total"] == 0
    assert ghl_sandbox.control("GET", "/rankr/writes", params={"locationId": one.location_id})["total"] == 0
    assert two.list("orders")["total"] == 1 and two.list("events")["total"] == 1  # the other is untouched
    assert one.put("orders", "ord_1", ORDER).status_code == 201  # the key still works after the reset

    ghl_sandbox.reset()
    assert two.list("orders")["total"] == 0


# ---- journal, faults ----------------------------------------------------------------------------


def test_journal_records_rankr_calls(rankr: Rankr, ghl_sandbox: SandboxClient) -> None:
    rankr.put("orders", "ord_1", ORDER)
    rankr.call("GET", "/v1/orders", key="bad")
    entries = [e for e in ghl_sandbox.journal() if e["path"].startswith("/rankr")]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("PUT", "/rankr/v1/orders/ord_1", 201), ("GET", "/rankr/v1/orders", 401)]
    assert entries[0]["locationId"] == rankr.location_id


def test_fault_rule_on_rankr_events(rankr: Rankr, ghl_sandbox: SandboxClient) -> None:
    ghl_sandbox.control("POST", "/faults", json={"match": {"method": "POST", "path": "/rankr/v1/events"},
                                                 "effect": {"status": 503}, "times": 1})
    try:
        assert rankr.post("events", EVENT, key="k1").status_code == 503
        assert rankr.list("events")["total"] == 0  # refused before Rankr saw it
        retried = rankr.post("events", EVENT, key="k1")
        assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
        assert rankr.list("events")["total"] == 1
    finally:
        ghl_sandbox.control("DELETE", "/faults")


def test_commit_then_drop_stores_the_event_but_drops_the_connection(rankr: Rankr,
                                                                    ghl_sandbox: SandboxClient) -> None:
    ghl_sandbox.control("POST", "/faults", json={"match": {"method": "POST", "path": "/rankr/v1/events"},
                                                 "effect": {"commitThenDrop": True}, "times": 1})
    try:
        with httpx.Client(base_url=ghl_sandbox.url, timeout=10) as fresh, pytest.raises(httpx.TransportError):
            fresh.post("/rankr/v1/events", json=EVENT,
                       headers={"Authorization": f"Bearer {rankr.key}", "Idempotency-Key": "drop-1"})
        stored = rankr.list("events")
        assert stored["total"] == 1  # the write happened
        # The client's retry with the same key gets the stored answer, not a second record.
        retry = rankr.post("events", EVENT, key="drop-1")
        assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
        assert retry.json() == stored["data"][0] and rankr.list("events")["total"] == 1
        posts = [e for e in ghl_sandbox.journal() if e["method"] == "POST" and e["path"] == "/rankr/v1/events"]
        assert sorted((e["status"], e["committedStatus"]) for e in posts) == [(0, 201), (201, None)]
    finally:
        ghl_sandbox.control("DELETE", "/faults")


# ---- the write history ----------------------------------------------------------------------------


def test_write_history_counts_every_write(rankr: Rankr, ghl_sandbox: SandboxClient) -> None:
    rankr.put("orders", "ord_1", ORDER)
    rankr.put("orders", "ord_1", ORDER)
    rankr.put("orders", "ord_1", {**ORDER, "status": "refunded"})
    rankr.put("orders", "ord_1", {"orderId": "ord_1"})
    rankr.post("events", EVENT, key="k")
    rankr.post("events", EVENT, key="k")
    Rankr(ghl_sandbox, 1).put("orders", "ord_1", ORDER)  # another account's
    history = ghl_sandbox.control("GET", "/rankr/writes", params={"locationId": rankr.location_id})
    rows = [(w["method"], w["path"], w["key"], w["status"], w["outcome"]) for w in history["data"]]
    assert rows == [
        ("PUT", "/rankr/v1/orders/ord_1", "ord_1", 201, "created"),
        ("PUT", "/rankr/v1/orders/ord_1", "ord_1", 200, "unchanged"),
        ("PUT", "/rankr/v1/orders/ord_1", "ord_1", 200, "updated"),
        ("PUT", "/rankr/v1/orders/ord_1", "ord_1", 422, "invalid"),
        ("POST", "/rankr/v1/events", "k", 201, "created"),
        ("POST", "/rankr/v1/events", "k", 201, "replayed"),
    ]
    assert all(ISO_MS.match(w["time"]) and w["locationId"] == rankr.location_id for w in history["data"])
    assert history["total"] == 6 and history["countsByPath"] == {"/rankr/v1/orders/ord_1": 4, "/rankr/v1/events": 2}
    assert ghl_sandbox.control("GET", "/rankr/writes")["total"] == 7
    assert ghl_sandbox.http.get("/_sandbox/rankr/writes", params={"locationId": "nope"}).status_code == 404


# ---- Rankr events sent to the client ------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: Any

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        answer = self.server.answer
        self.send_response(answer)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(f"answer {answer}".encode())

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    server.answer = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/webhooks/rankr"


def _verifies(secret: str, raw: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


def test_sender_posts_a_signed_event(rankr: Rankr, ghl_sandbox: SandboxClient,
                                     receiver: ThreadingHTTPServer) -> None:
    tracking = {"trackingNumber": "1Z999", "shippingCarrier": "UPS", "trackingUrl": "https://t.example/1Z999"}
    answer = ghl_sandbox.control("POST", "/rankr/events", json={
        "locationId": rankr.location_id, "url": _url(receiver), "eventType": "fulfillment.requested",
        "orderId": "ord_1", "items": [{"priceId": "price_1", "qty": 2}], "trackings": [tracking],
        "notifyCustomer": True})
    assert answer["status"] == 200 and answer["error"] is None and answer["body"] == "answer 200"
    assert answer["eventId"].startswith("evt_") and answer["latencyMs"] >= 0
    [(path, headers, raw)] = receiver.received  # type: ignore[attr-defined]
    assert path == "/webhooks/rankr" and headers["content-type"] == "application/json"
    assert _verifies(rankr.secret, raw, headers.get("x-rankr-signature"))
    assert httpx.Response(200, content=raw).json() == {
        "eventId": answer["eventId"], "eventType": "fulfillment.requested", "orderId": "ord_1",
        "items": [{"priceId": "price_1", "qty": 2}], "trackings": [tracking], "notifyCustomer": True}

    # The same eventId again (a redelivery), to the default location, and the client's failure reported.
    receiver.answer = 500  # type: ignore[attr-defined]
    again = ghl_sandbox.control("POST", "/rankr/events", json={
        "url": _url(receiver), "eventId": answer["eventId"], "orderId": "ord_1",
        "items": [{"priceId": "price_1", "qty": 2}]})
    assert again["eventId"] == answer["eventId"] and again["status"] == 500
    second = httpx.Response(200, content=receiver.received[1][2]).json()  # type: ignore[attr-defined]
    assert second["trackings"] == [] and second["notifyCustomer"] is False

    sent = ghl_sandbox.control("GET", "/rankr/events", params={"locationId": rankr.location_id})
    assert sent["total"] == 2
    assert [(s["eventId"], s["orderId"], s["status"]) for s in sent["data"]] == [
        (answer["eventId"], "ord_1", 200), (answer["eventId"], "ord_1", 500)]
    assert sent["data"][0]["items"] == [{"priceId": "price_1", "qty": 2}] and ISO_MS.match(sent["data"][0]["time"])


def test_sender_forges_signatures_and_reports_unreachable_clients(rankr: Rankr, ghl_sandbox: SandboxClient,
                                                                  receiver: ThreadingHTTPServer) -> None:
    event = {"url": _url(receiver), "orderId": "ord_1", "items": [{"priceId": "price_1", "qty": 1}]}
    ghl_sandbox.control("POST", "/rankr/events", json={**event, "forge": "bad-signature"})
    ghl_sandbox.control("POST", "/rankr/events", json={**event, "forge": "no-signature"})
    (_, bad, raw), (_, none, _) = receiver.received  # type: ignore[attr-defined]
    assert bad["x-rankr-signature"].startswith("sha256=") and not _verifies(rankr.secret, raw, bad["x-rankr-signature"])
    assert "x-rankr-signature" not in none

    port = receiver.server_address[1]
    receiver.shutdown()
    receiver.server_close()
    down = ghl_sandbox.control("POST", "/rankr/events", json={**event, "url": f"http://127.0.0.1:{port}/x"})
    assert down["status"] is None and down["error"]
    listed = ghl_sandbox.control("GET", "/rankr/events")["data"]
    assert [s["forge"] for s in listed] == ["bad-signature", "no-signature", None]
    assert listed[-1]["error"] == down["error"]

    for bad_request in ({**event, "forge": "weird"}, {**event, "items": [{"priceId": "p", "qty": 0}]},
                        {**event, "url": "ftp://x"}, {"url": event["url"], "items": []},
                        {**event, "locationId": "nope"}):
        r = ghl_sandbox.http.post("/_sandbox/rankr/events", json=bad_request)
        assert r.status_code in (404, 422), r.text


# ---- durability ----------------------------------------------------------------------------------


def test_rankr_writes_survive_kill_9(tmp_path: Path) -> None:
    args = ("--state", str(tmp_path / "state.db"), "--orders", "0", "--rate-limit", "off")
    proc = SandboxProcess(args).start()
    try:
        sb = proc.client()
        rankr = Rankr(sb)
        assert rankr.put("orders", "ord_1", ORDER).status_code == 201
        assert rankr.post("events", EVENT, key="k").status_code == 201
        sb.close()
    finally:
        proc.kill()
    with SandboxProcess(args) as again:
        sb = again.client()
        try:
            rankr = Rankr(sb)
            assert rankr.call("GET", "/v1/orders/ord_1").json()["amount"] == ORDER["amount"]
            replay = rankr.post("events", EVENT, key="k")
            assert replay.headers.get("idempotent-replayed") == "true" and rankr.list("events")["total"] == 1
        finally:
            sb.close()
