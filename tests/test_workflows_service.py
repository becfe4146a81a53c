"""The no-code workflows service end to end: a real `ghl-sandbox serve` subprocess fires workflows on
simulated payment activity and delivers their Webhook and Custom Webhook actions to real local receivers
(tests/receiver.py), through the shared outbox (retries, chaos, `GET /_sandbox/webhooks/deliveries`).
Also: documents refused at save time naming the field, drafts that never fire, workflows that survive a
reset, the shipped templates, the `ghl-sandbox workflows` CLI and managed OAuth2 tokens."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from receiver import Received, Receiver
from workflow_support import SIGNATURE_HEADERS, Sandbox, TokenEndpoint, running

ROOT = Path(__file__).resolve().parent.parent
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
STANDARD_HEADERS = {"content-type": "application/json", "accept": "application/json, text/plain, */*",
                    "accept-encoding": "gzip, compress, deflate, br", "user-agent": "axios/1.13.2"}

# trigger -> (the root object of its standard body, its Custom Webhook body template)
TRIGGERS: dict[str, tuple[str, str]] = {
    "payment_received": ("payment", '{"id": "{{payment.transaction_id}}", "amount": {{payment.total_amount}}, '
                                    '"status": "{{payment.payment_status}}", "email": "{{contact.email}}"}'),
    "order_submitted": ("order", '{"id": "{{order.id}}", "total": {{order.total}}, "currency": "{{order.currency_code}}"}'),
    "order_form_submission": ("order", '{"id": "{{order.id}}", "total": {{order.total}}}'),
    "refund": ("refund", '{"transaction": "{{refund.transaction_id}}", "order": "{{refund.order_id}}", '
                         '"amount": "{{refund.amount}}", "type": "{{refund.type}}"}'),
    "subscription": ("subscription", '{"id": "{{subscription.id}}", "status": "{{subscription.status}}"}'),
    "invoice": ("invoice", '{"id": "{{invoice.id}}", "status": "{{invoice.status}}", "total": "{{invoice.total_amount}}"}'),
}


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    # --legacy-wh-signature: marketplace webhooks carry both GHL signatures, so the checks that workflow
    # deliveries carry none of them (SIGNATURE_HEADERS) hold against a server that does send both.
    with running("--webhook-retry-interval", "0.05", "--legacy-wh-signature") as sb:
        yield sb


@pytest.fixture
def sb(server: Sandbox) -> Iterator[Sandbox]:
    server.clean()
    server.ok("PUT", "/_sandbox/webhooks/chaos", json={})
    yield server
    server.clean()


def std_action(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": "standard", "method": "POST", "url": url,
            "customData": [{"key": "secret", "value": "{{custom_values.shared_secret}}"},
                           {"key": "where", "value": "{{location.id}}"}], **extra}


def custom_action(url: str, body: str, method: str = "PUT", **extra: Any) -> dict[str, Any]:
    return {"type": "custom_webhook", "name": "custom", "method": method, "url": url,
            "auth": {"type": "bearer", "token": "{{custom_values.api_key}}"},
            "headers": [{"key": "X-Workflow-Secret", "value": "{{custom_values.shared_secret}}"}],
            "query": [{"key": "source", "value": "ghl"}], "contentType": "application/json", "body": body, **extra}


def at(rx: Receiver, prefix: str) -> list[Received]:
    return [r for r in rx.requests if r.path.startswith(prefix)]


def resource(result: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(r for r in result["resources"] if r["type"] == kind)


def assert_standard(req: Received, workflow: dict[str, Any], loc: str, obj: str) -> dict[str, Any]:
    assert req.method == "POST"
    for name, value in STANDARD_HEADERS.items():
        assert req.headers.get(name) == value, (name, req.headers)
    assert TRACEPARENT.match(req.headers["traceparent"]), req.headers
    assert not any(h in req.headers for h in SIGNATURE_HEADERS), req.headers
    body: dict[str, Any] = req.json
    assert "webhookId" not in body and "timestamp" not in body and "type" not in body
    assert body["workflow"] == {"id": workflow["id"], "name": workflow["name"]}
    assert body["location"]["id"] == loc and body["triggerData"] == {}
    assert body["customData"] == {"secret": "s3cret", "where": loc}
    assert isinstance(body["tags"], str) and body["contact_id"]
    assert isinstance(body[obj], dict) and body[obj], body
    return body


def assert_custom(req: Received) -> dict[str, Any]:
    assert req.method == "PUT" and req.path.endswith("?source=ghl"), req.path
    assert req.headers["authorization"] == "Bearer key-123"
    assert req.headers["x-workflow-secret"] == "s3cret"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"] == "axios/1.13.2"
    assert not any(h in req.headers for h in SIGNATURE_HEADERS), req.headers
    found: dict[str, Any] = req.json
    return found


def test_each_trigger_delivers_its_standard_and_custom_webhooks(sb: Sandbox) -> None:
    sb.ok("PUT", "/_sandbox/workflows/custom-values",
          json={"locationId": sb.loc, "values": {"shared_secret": "s3cret", "api_key": "key-123"}})
    with Receiver() as rx:
        flows = {t: sb.workflow(t, [std_action(f"{rx.url}/std/{t}"), custom_action(f"{rx.url}/custom/{t}", body)])
                 for t, (_, body) in TRIGGERS.items()}

        def check(trigger: str) -> dict[str, Any]:
            std, custom = at(rx, f"/webhooks/std/{trigger}"), at(rx, f"/webhooks/custom/{trigger}")
            assert len(std) == 1 and len(custom) == 1, (trigger, [r.path for r in rx.requests])
            assert_standard(std[0], flows[trigger], sb.loc, TRIGGERS[trigger][0])
            return assert_custom(custom[0])

        order = resource(sb.sim("order.create"), "order")["data"]
        sb.settle()
        assert check("order_form_submission") == {"id": order["_id"], "total": order["amount"]}
        assert not at(rx, "/webhooks/std/payment_received")  # creating an order is no payment

        paid = sb.sim("order.pay", orderId=order["_id"])
        txn = resource(paid, "transaction")["data"]
        sb.settle()
        payment = check("payment_received")
        assert payment["id"] == txn["_id"] and payment["amount"] == txn["amount"] and payment["status"] == "succeeded"
        assert payment["email"] == order["contactSnapshot"]["email"]
        std_payment = at(rx, "/webhooks/std/payment_received")[0].json["payment"]
        assert std_payment["transaction_id"] == txn["_id"] and std_payment["payment_status"] == "succeeded"
        assert check("order_submitted") == {"id": order["_id"], "total": order["amount"], "currency": order["currency"]}
        # every action event is in the deliveries, as `service=workflows`, addressed to its own target
        events = {d["event"] for d in sb.deliveries()}
        assert {"WorkflowOrderFormSubmission", "WorkflowPaymentReceived", "WorkflowOrderSubmitted"} <= events

        sb.sim("order.refund", orderId=order["_id"], amount=1)
        sb.settle()
        assert check("refund") == {"transaction": txn["_id"], "order": order["_id"], "amount": "1.00", "type": "partial"}

        sub = resource(sb.sim("subscription.create"), "subscription")["data"]
        sb.settle()
        assert check("subscription") == {"id": sub["_id"], "status": "active"}

        invoice = resource(sb.sim("invoice.update", status="paid", amount=12.5), "invoice")["data"]
        sb.settle()
        assert check("invoice") == {"id": invoice["id"], "status": "paid", "total": "12.50"}
    deliveries = sb.deliveries(locationId=sb.loc)
    assert deliveries and all(d["service"] == "workflows" and d["status"] == "delivered" for d in deliveries)
    targets = {t["id"]: t for t in sb.ok("GET", "/_sandbox/webhooks/targets")}
    for d in deliveries:
        assert targets[d["targetId"]]["service"] == "workflows"


def test_methods_query_and_auth_modes_of_custom_webhooks(sb: Sandbox) -> None:
    sb.ok("PUT", "/_sandbox/workflows/custom-values", json={"locationId": sb.loc, "values": {"pw": "p@ss"}})
    with Receiver() as rx:
        sb.workflow("payment_received", [
            {"type": "custom_webhook", "name": "get", "method": "GET", "url": rx.url + "/get",
             "auth": {"type": "basic", "username": "me", "password": "{{custom_values.pw}}"},
             "query": [{"key": "tx", "value": "{{payment.transaction_id}}"}, {"key": "a b", "value": "c&d"}]},
            {"type": "custom_webhook", "name": "delete", "method": "DELETE", "url": rx.url + "/del",
             "auth": {"type": "api_key", "keyName": "X-Api-Key", "keyValue": "k-{{location.id}}"}},
            {"type": "custom_webhook", "name": "form", "method": "POST", "url": rx.url + "/form",
             "contentType": "application/x-www-form-urlencoded",
             "body": "tx={{payment.transaction_id}}&status={{payment.payment_status}}"},
        ])
        order = resource(sb.sim("order.create"), "order")["data"]
        txn = resource(sb.sim("order.fail_payment", orderId=order["_id"]), "transaction")["data"]
        sb.settle()
        get, delete, form = at(rx, "/webhooks/get")[0], at(rx, "/webhooks/del")[0], at(rx, "/webhooks/form")[0]
    assert get.method == "GET" and get.path == f"/webhooks/get?tx={txn['_id']}&a+b=c%26d" and get.body == b""
    assert get.headers["authorization"] == "Basic " + base64.b64encode(b"me:p@ss").decode()
    assert "content-type" not in get.headers
    assert delete.method == "DELETE" and delete.headers["x-api-key"] == f"k-{sb.loc}" and delete.body == b""
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form.body.decode() == f"tx={txn['_id']}&status=failed"  # Payment Received fires on failures too


@pytest.mark.parametrize(("doc", "wanted"), [
    ({"trigger": {"type": "payment_received"}, "actions": [
        {"type": "custom_webhook", "name": "a", "method": "POST", "url": "http://127.0.0.1:9/x",
         "body": '{"id": "{{order.id}}"}'}]}, "actions[0].body"),
    ({"trigger": {"type": "payment_received"}, "actions": [
        {"type": "webhook", "name": "a", "method": "POST", "url": "http://127.0.0.1:9/x"},
        {"type": "custom_webhook", "name": "b", "method": "POST", "url": "http://127.0.0.1:9/x",
         "contentType": "application/json", "body": '{"amount": {{payment.total_amount}'}]}, "actions[1].body"),
    ({"trigger": {"type": "refund", "filters": [{"field": "paymentStatus", "operator": "is", "value": "x"}]},
      "actions": []}, "trigger.filters[0]"),
    ({"trigger": {"type": "paid"}, "actions": []}, "trigger.type"),
    ({"trigger": {"type": "payment_received"}, "actions": [
        {"type": "custom_webhook", "name": "a", "method": "PATCH", "url": "http://127.0.0.1:9/x"}]}, "actions[0].method"),
])
def test_bad_documents_are_refused_at_save_naming_the_field(sb: Sandbox, doc: dict[str, Any], wanted: str) -> None:
    r = sb.http.post("/_sandbox/workflows", json={"name": "bad", **doc})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["statusCode"] == 422 and body["error"] == "Unprocessable Entity"
    assert any(m.startswith(wanted) for m in body["message"]), body
    assert sb.ok("GET", "/_sandbox/workflows")["total"] == 0  # nothing saved, no target made
    assert not [t for t in sb.ok("GET", "/_sandbox/webhooks/targets") if t["service"] == "workflows"]


def test_a_failed_delivery_is_retried_then_delivered(sb: Sandbox) -> None:
    with Receiver() as rx:
        rx.script(503)
        sb.workflow("order_form_submission", [std_action("{{custom_values.hook}}")])
        sb.ok("PUT", "/_sandbox/workflows/custom-values", json={"values": {"hook": rx.url + "/r"}})
        sb.sim("order.create")
        sb.settle()
        assert [r.path for r in rx.requests] == ["/webhooks/r", "/webhooks/r"]
        assert rx.requests[0].body == rx.requests[1].body  # rendered once, at fire time
    [d] = sb.deliveries()
    assert d["status"] == "delivered" and [a["status"] for a in d["attempts"]] == [503, 200]
    assert [a["outcome"] for a in d["attempts"]] == ["retry", "delivered"]
    # the dashboard's live feed shows both attempts, at the URL the action rendered
    feed = [e["data"] for e in sb.ok("GET", "/_sandbox/dashboard/events", params={"limit": 200})["events"]
            if e["kind"] == "delivery" and e["data"]["deliveryId"] == d["id"] and e["data"]["url"].startswith(rx.url)]
    assert [(e["service"], e["url"], e["outcome"]) for e in feed] == [
        ("workflows", rx.url + "/r", "retry"), ("workflows", rx.url + "/r", "delivered")]


def test_retries_none_fails_then_skips() -> None:
    with running("--webhook-retry-interval", "0.05", env={**os.environ, "GHL_SANDBOX_WORKFLOW_WEBHOOK_RETRIES": "none"}) as sb, \
            Receiver(503) as rx:
        sb.workflow("order_form_submission", [std_action(rx.url + "/r")])
        sb.sim("order.create")
        sb.settle()
        assert len(rx.requests) == 1
        [d] = sb.deliveries()
        assert d["status"] == "failed" and d["attemptCount"] == 1


def test_delivery_chaos_duplicates_and_drops_workflow_actions(sb: Sandbox) -> None:
    with Receiver() as rx:
        flow = sb.workflow("order_form_submission", [std_action(rx.url + "/dup"), std_action(rx.url + "/drop")])
        dup, drop = (flow["targetIds"][a["id"]] for a in flow["actions"])
        sb.ok("PUT", f"/_sandbox/webhooks/targets/{dup}/chaos", json={"duplicate": 1.0, "duplicateCount": 1})
        sb.ok("PUT", f"/_sandbox/webhooks/targets/{drop}/chaos", json={"drop": 1.0})
        sb.sim("order.create")
        sb.settle()
        dups = at(rx, "/webhooks/dup")
        assert len(dups) == 2 and dups[0].body == dups[1].body and not at(rx, "/webhooks/drop")
    by_target = {t: [d["status"] for d in sb.deliveries(targetId=t)] for t in (dup, drop)}
    assert by_target == {dup: ["delivered", "delivered"], drop: ["dropped"]}


def test_workflows_custom_values_and_targets_survive_a_reset(sb: Sandbox) -> None:
    sb.ok("PUT", "/_sandbox/workflows/custom-values", json={"locationId": sb.loc, "values": {"shared_secret": "s3cret"}})
    with Receiver() as rx:
        flow = sb.workflow("order_form_submission", [std_action(rx.url + "/a")])
        sb.sim("order.create")
        sb.settle()
        assert sb.ok("GET", "/_sandbox/workflows/runs")["total"] == 1
        sb.ok("POST", "/_sandbox/reset", json={})
        assert [w["id"] for w in sb.ok("GET", "/_sandbox/workflows")["workflows"]] == [flow["id"]]
        assert sb.ok("GET", "/_sandbox/workflows/custom-values")["values"] == {"shared_secret": "s3cret"}
        targets = {t["id"] for t in sb.ok("GET", "/_sandbox/webhooks/targets")}
        assert set(flow["targetIds"].values()) <= targets
        assert sb.ok("GET", "/_sandbox/workflows/runs")["total"] == 0  # runs are data
        sb.ok("POST", f"/_sandbox/locations/{sb.loc}/reset")
        assert sb.ok("GET", "/_sandbox/workflows")["total"] == 1
        sb.sim("order.create")
        sb.settle()
        assert len(at(rx, "/webhooks/a")) == 2
        assert at(rx, "/webhooks/a")[1].json["customData"]["secret"] == "s3cret"


def test_drafts_and_unmatched_filters_never_fire(sb: Sandbox) -> None:
    with Receiver() as rx:
        draft = sb.workflow("payment_received", [std_action(rx.url + "/draft")], status="draft")
        sb.workflow("payment_received", [std_action(rx.url + "/failed")],
                    filters=[{"field": "paymentStatus", "operator": "is", "value": "failed"}])
        sb.workflow("payment_received", [std_action(rx.url + "/ok")],
                    filters=[{"field": "paymentStatus", "operator": "is", "value": "success"}])
        order = resource(sb.sim("order.create"), "order")["data"]
        sb.sim("order.pay", orderId=order["_id"])
        sb.settle()
        assert [r.path for r in rx.requests] == ["/webhooks/ok"]
        # published again, the draft fires on the next payment
        doc = {k: draft[k] for k in ("name", "trigger", "actions")}
        sb.ok("PUT", f"/_sandbox/workflows/{draft['id']}", json={**doc, "status": "published"})
        order = resource(sb.sim("order.create"), "order")["data"]
        sb.sim("order.pay", orderId=order["_id"])
        sb.settle()
        assert sorted(r.path for r in rx.requests) == ["/webhooks/draft", "/webhooks/ok", "/webhooks/ok"]
    sb.ok("DELETE", f"/_sandbox/workflows/{draft['id']}")
    assert sb.http.get(f"/_sandbox/workflows/{draft['id']}").status_code == 404


def test_templates_list_and_load(sb: Sandbox) -> None:
    found = {t["name"]: t for t in sb.ok("GET", "/_sandbox/workflows/templates")["templates"]}
    assert set(found) == {"payment-received-to-catch-hook", "order-submitted-to-rankr", "refund-to-rankr"}
    assert found["order-submitted-to-rankr"]["trigger"] == "order_submitted"
    assert set(found["order-submitted-to-rankr"]["needs"]) == {"rankr_base_url", "rankr_api_key"}
    with Receiver() as rx:
        created = sb.ok("POST", "/_sandbox/workflows/templates/payment-received-to-catch-hook",
                        json={"customValues": {"catch_hook_url": rx.url + "/zap", "workflow_secret": "w-1"}})
        assert created["trigger"]["type"] == "payment_received" and created["locationId"] == sb.loc
        order = resource(sb.sim("order.create"), "order")["data"]
        txn = resource(sb.sim("order.pay", orderId=order["_id"]), "transaction")["data"]
        sb.settle()
        [hook] = rx.requests
    assert hook.path == "/webhooks/zap" and hook.json["customData"]["secret"] == "w-1"
    assert hook.json["customData"]["transaction_id"] == txn["_id"]
    assert sb.http.post("/_sandbox/workflows/templates/nope", json={}).status_code == 404


def test_rankr_template_puts_the_order_into_rankr(sb: Sandbox) -> None:
    rankr = sb.locations[0]["rankr"]
    sb.ok("POST", "/_sandbox/workflows/templates/order-submitted-to-rankr", json={"customValues": {
        "rankr_base_url": sb.url + rankr["basePath"], "rankr_api_key": rankr["apiKey"]}})
    order = resource(sb.sim("order.create"), "order")["data"]
    sb.sim("order.pay", orderId=order["_id"])
    sb.settle()
    [d] = sb.deliveries()
    assert d["status"] == "delivered", d
    stored = sb.http.get(f"/rankr/v1/orders/{order['_id']}", headers={"Authorization": f"Bearer {rankr['apiKey']}"})
    assert stored.status_code == 200, stored.text
    assert stored.json()["amount"] == order["amount"] and stored.json()["source"] == "ghl"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_cli_workflows_load_and_list(sb: Sandbox, tmp_path: Path) -> None:
    loaded = cli("workflows", "load", "refund-to-rankr", "--url", sb.url)
    assert loaded.returncode == 0, loaded.stderr
    assert "refund" in loaded.stdout and "warning" not in loaded.stdout
    rankr = sb.locations[0]["rankr"]
    assert sb.ok("GET", "/_sandbox/workflows/custom-values")["values"] == {
        "rankr_base_url": sb.url + rankr["basePath"], "rankr_api_key": rankr["apiKey"]}
    path = tmp_path / "flows.json"
    path.write_text(json.dumps([{"name": "From a file", "trigger": {"type": "inbound_webhook"}, "actions": [
        {"type": "webhook", "name": "a", "method": "POST", "url": "{{custom_values.target}}"}]}]))
    other = sb.locations[1]["locationId"]
    loaded = cli("workflows", "load", str(path), "--location", other, "--set", "target=http://127.0.0.1:9/t", "--url", sb.url)
    assert loaded.returncode == 0, loaded.stderr
    assert f"/hooks/{other}/webhook-trigger/" in loaded.stdout
    assert sb.ok("GET", "/_sandbox/workflows/custom-values", params={"locationId": other})["values"] == {
        "target": "http://127.0.0.1:9/t"}
    listed = cli("workflows", "list", "--url", sb.url)
    assert listed.returncode == 0, listed.stderr
    assert "Refund to Rankr" in listed.stdout and "From a file" in listed.stdout
    bad = cli("workflows", "load", "no-such-template", "--url", sb.url)
    assert bad.returncode != 0 and "neither a file nor a template" in bad.stderr
    invoice = cli("trigger", "invoice.update", "--status", "sent", "--url", sb.url)
    assert invoice.returncode == 0 and "invoice" in invoice.stdout, invoice.stderr


def test_managed_oauth2_token_is_fetched_and_used(sb: Sandbox) -> None:
    with TokenEndpoint("cid", "csecret") as endpoint, Receiver() as rx:
        made = sb.ok("POST", "/_sandbox/workflows/tokens", json={
            "name": "rankr", "tokenUrl": endpoint.url, "clientId": "cid", "clientSecret": "csecret", "scope": "write"})
        assert made["accessToken"] == "token-1" and made["managed"] and made["expiresAt"]
        assert "clientSecret" not in made
        assert endpoint.forms == [{"grant_type": "client_credentials", "client_id": "cid", "client_secret": "csecret",
                                   "scope": "write"}]
        bad = sb.http.post("/_sandbox/workflows/tokens", json={
            "name": "bad", "tokenUrl": endpoint.url, "clientId": "cid", "clientSecret": "wrong"})
        assert bad.status_code == 422 and "401" in bad.text
        sb.workflow("order_form_submission", [{"type": "custom_webhook", "name": "o", "method": "POST",
                                               "url": rx.url + "/o", "auth": {"type": "oauth2", "tokenName": "rankr"},
                                               "contentType": "application/json", "body": '{"id": "{{order.id}}"}'}])
        sb.sim("order.create")
        sb.settle()
        refreshed = sb.ok("POST", "/_sandbox/workflows/tokens/rankr/refresh")
        assert refreshed["accessToken"] == "token-3"
        sb.sim("order.create")
        sb.settle()
        assert [r.headers["authorization"] for r in rx.requests] == ["Bearer token-1", "Bearer token-3"]
    assert [t["name"] for t in sb.ok("GET", "/_sandbox/workflows/tokens")["tokens"]] == ["rankr"]
    sb.ok("DELETE", "/_sandbox/workflows/tokens/rankr")
    assert sb.ok("GET", "/_sandbox/workflows/tokens")["total"] == 0


def test_per_product_order_submitted_and_no_payload_objects() -> None:
    env = {**os.environ, "GHL_SANDBOX_WORKFLOW_ORDER_SUBMITTED": "product"}
    with running("--workflow-payload-objects", "none", "--workflow-user-agent", "axios/0.21.4", env=env) as sb, \
            Receiver() as rx:
        sb.workflow("order_submitted", [std_action(rx.url + "/o")])
        order = resource(sb.sim("order.create", qty=1), "order")["data"]
        assert len(order["items"]) == 2
        sb.sim("order.pay", orderId=order["_id"])
        sb.settle()
        assert len(rx.requests) == 2  # one run per product line
        assert all("order" not in r.json and r.headers["user-agent"] == "axios/0.21.4" for r in rx.requests)
        assert len(sb.ok("GET", "/_sandbox/workflows/runs")["runs"]) == 2
