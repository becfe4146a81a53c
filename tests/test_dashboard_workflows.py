"""The dashboard's Workflows panel in a real browser (the system's Chromium), against a real sandbox
subprocess and a real local receiver: custom values edited through the panel, a Custom Webhook workflow
created through the form (a bad template's 422 shown next to its field, then fixed), a simulated payment
delivered to the receiver as the workflow says and shown in the timeline and the workflow's last runs,
the publish/draft switch, an Inbound Webhook workflow's URL, a shipped template loaded with its custom
values, and a delete. Expected values come from the control plane (`/_sandbox/workflows…`, the GHL
state) and from what the receiver got, never from the page's code."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from receiver import Receiver
from test_dashboard import ARTIFACTS, _chromium_or_skip, open_dashboard

from mock_server.testing import SandboxClient, SandboxProcess
from mock_server.workflows.merge import template_problems
from mock_server.workflows.triggers import TRIGGERS

BAD_BODY = '{"transactionId": "{{payment.transaction_id}}", "amount": {{payment.amount}}, "status": "{{ payment.payment_status }}"}'
GOOD_BODY = BAD_BODY.replace("{{payment.amount}}", "{{payment.total_amount}}")


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxClient]:
    with SandboxProcess(["--orders", "10", "--webhook-retry-interval", "0.2"]) as proc:
        client = proc.client()
        yield client
        client.close()


def workflows(sb: SandboxClient, location_id: str) -> list[dict[str, Any]]:
    answer = sb.control("GET", "/workflows", params={"locationId": location_id})
    assert answer["total"] == len(answer["workflows"])
    return list(answer["workflows"])


def custom_values(sb: SandboxClient, location_id: str) -> dict[str, Any]:
    answer = sb.control("GET", "/workflows/custom-values", params={"locationId": location_id})
    values = answer.get("values", answer) if isinstance(answer, dict) else answer
    if isinstance(values, list):
        return {v["key"]: v["value"] for v in values}
    return dict(values)


def templates(sb: SandboxClient) -> list[dict[str, Any]]:
    answer = sb.control("GET", "/workflows/templates")
    return list(answer["templates"] if isinstance(answer, dict) else answer)


def simulate(sb: SandboxClient, action: str, body: dict[str, Any]) -> dict[str, Any]:
    return sb.control("POST", f"/simulate/{action}", json=body)


def resource(result: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(r for r in result["resources"] if r["type"] == kind)


def wait_until(predicate: Any, timeout: float = 10, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def test_workflows_panel_in_a_browser(sb: SandboxClient) -> None:
    sync_playwright = _chromium_or_skip()
    assert "workflows" in sb.control("GET", "/dashboard/overview")["services"]
    location_id = sb.location(0)["locationId"]
    sb.http.delete("/_sandbox/workflows", params={"locationId": location_id})
    token = "tok-" + secrets.token_hex(8)
    secret = "sec-" + secrets.token_hex(8)
    errors: list[str] = []
    with Receiver() as rx, sync_playwright() as pw:
        browser, page = open_dashboard(pw, sb.url + "/", errors, height=1100)
        try:
            page.locator("#live.on").wait_for()
            page.select_option("#location", location_id)
            panel = page.locator("[data-testid=workflows-panel]")
            panel.locator("[data-testid=wf-list]").wait_for()

            # A custom value, through the panel's editor.
            panel.locator("[data-testid=wf-tab-values]").click()
            panel.locator("[data-testid=wf-value-add]").click()
            panel.locator("[data-testid=wf-value-key]").last.fill("rx_token")
            panel.locator("[data-testid=wf-value-value]").last.fill(token)
            panel.locator("[data-testid=wf-values-save]").click()
            panel.locator("[data-testid=wf-result].ok", has_text="saved").wait_for()
            assert custom_values(sb, location_id)["rx_token"] == token

            # A Custom Webhook workflow through the form: PUT, bearer from a custom value, a header, a
            # query parameter, and a JSON body naming a merge field Payment Received does not offer.
            panel.locator("[data-testid=wf-tab-editor]").click()
            form = panel.locator("[data-testid=wf-form]")
            form.locator("[data-testid=wf-name]").fill("Payments to the receiver")
            form.locator("[data-testid=wf-trigger-type]").select_option("payment_received")
            form.locator("[data-testid=wf-add-filter]").click()
            row = form.locator(".wf-filter").first
            row.locator("[data-part=field]").select_option("paymentStatus")
            row.locator("[data-part=operator]").select_option("is")
            row.locator("[data-part=value]").select_option("success")
            action = form.locator("[data-testid=wf-action-form]").first
            assert action.get_attribute("data-type") == "custom_webhook"
            action.locator("[data-testid=wf-action-name]").fill("PUT to the receiver")
            action.locator("[data-testid=wf-method]").select_option("PUT")
            action.locator("[data-testid=wf-url]").fill(rx.url + "/payments/ghl-{{payment.transaction_id}}")
            action.locator("[data-testid=wf-auth-type]").select_option("bearer")
            action.locator("[data-testid=wf-auth-token]").fill("{{custom_values.rx_token}}")
            action.locator("[data-add=headers]").click()
            action.locator("[data-kv-set=headers] [data-part=key]").fill("X-Workflow-Secret")
            action.locator("[data-kv-set=headers] [data-part=value]").fill(secret)
            action.locator("[data-add=query]").click()
            action.locator("[data-kv-set=query] [data-part=key]").fill("source")
            action.locator("[data-kv-set=query] [data-part=value]").fill("ghl")
            action.locator("[data-testid=wf-content-type]").select_option("application/json")
            action.locator("[data-testid=wf-body]").fill(BAD_BODY)
            form.locator("[data-testid=wf-save]").click()

            problem = form.locator("[data-testid=wf-problem]", has_text="payment.amount")
            problem.wait_for()
            assert problem.get_attribute("data-path") == "actions[0].body"
            # Shown next to the body field (the element right after the body's label), not only on top.
            assert action.locator("label[data-part=body] + [data-testid=wf-problem]").count() == 1
            assert action.locator("[data-testid=wf-body].invalid").count() == 1
            panel.locator("[data-testid=wf-result].err").wait_for()
            assert workflows(sb, location_id) == []

            action.locator("[data-testid=wf-body]").fill(GOOD_BODY)
            form.locator("[data-testid=wf-save]").click()
            card = panel.locator("[data-testid=wf-card]", has_text="Payments to the receiver")
            card.wait_for()
            assert form.locator("[data-testid=wf-problem]").count() == 0
            assert panel.locator("[data-testid=wf-unset]").count() == 0  # rx_token is set
            [created] = workflows(sb, location_id)
            assert created["name"] == "Payments to the receiver" and created["status"] == "published"
            assert created["trigger"]["type"] == "payment_received"
            assert created["trigger"]["filters"] == [{"field": "paymentStatus", "operator": "is", "value": "success"}]
            [put] = created["actions"]
            assert (put["type"], put["method"], put["url"]) == \
                ("custom_webhook", "PUT", rx.url + "/payments/ghl-{{payment.transaction_id}}")
            assert put["auth"]["type"] == "bearer" and put["auth"]["token"] == "{{custom_values.rx_token}}"
            assert put["headers"] == [{"key": "X-Workflow-Secret", "value": secret}]
            assert put["query"] == [{"key": "source", "value": "ghl"}]
            assert put["contentType"] == "application/json" and put["body"] == GOOD_BODY
            assert card.get_attribute("data-workflow-id") == created["id"]
            assert card.locator("[data-testid=wf-status]").inner_text() == "published"
            assert "paymentStatus is success" in card.locator("[data-testid=wf-filters]").inner_text()
            assert card.locator("[data-testid=wf-action-url]").inner_text() == put["url"]

            # A failed payment does not pass the filter; a paid one reaches the receiver as configured.
            order = resource(simulate(sb, "order.create", {"locationId": location_id}), "order")
            simulate(sb, "order.fail_payment", {"locationId": location_id, "orderId": order["id"], "amount": 1})
            paid = resource(simulate(sb, "order.pay", {"locationId": location_id, "orderId": order["id"]}), "transaction")
            [got] = rx.wait_for(1)
            time.sleep(1.0)  # a delivery for the failed payment, had it passed the filter, would be here by now
            assert len(rx.requests) == 1, [r.path for r in rx.requests]
            url = urlsplit(got.path)
            assert got.method == "PUT" and url.path == f"/webhooks/payments/ghl-{paid['id']}"
            assert parse_qs(url.query) == {"source": ["ghl"]}
            assert got.headers["authorization"] == f"Bearer {token}"
            assert got.headers["x-workflow-secret"] == secret
            assert got.headers["content-type"].startswith("application/json")
            body = json.loads(got.body)
            assert body["transactionId"] == paid["id"]
            assert body["amount"] == pytest.approx(float(paid["data"]["amount"]))
            assert body["status"]

            # The timeline tags it `workflows`, with its method and the URL it went to.
            row_in_timeline = page.locator(".ev.delivery[data-service=workflows][data-outcome=delivered]").first
            row_in_timeline.wait_for()
            text = row_in_timeline.inner_text()
            assert "WORKFLOWS" in text.upper() and "PUT" in text and f"/payments/ghl-{paid['id']}" in text
            # ... and the workflow's last runs show the delivery the control plane lists.
            run = card.locator(".wf-run[data-status=delivered]")
            run.wait_for()
            deliveries = sb.control("GET", "/webhooks/deliveries", params={"service": "workflows", "locationId": location_id})
            [delivery] = deliveries["deliveries"]
            assert delivery["status"] == "delivered" and run.get_attribute("data-delivery-id") == delivery["id"]

            # Publish / draft.
            card.locator("[data-testid=wf-status-toggle]").click()
            page.locator(f"[data-testid=wf-card][data-workflow-id='{created['id']}'][data-status=draft]").wait_for()
            assert sb.control("GET", f"/workflows/{created['id']}")["status"] == "draft"
            card.locator("[data-testid=wf-status-toggle]").click()
            page.locator(f"[data-testid=wf-card][data-workflow-id='{created['id']}'][data-status=published]").wait_for()
            assert sb.control("GET", f"/workflows/{created['id']}")["status"] == "published"

            # Edit: the form gets the workflow back; a save replaces it and keeps its action's id.
            card.locator("[data-testid=wf-edit]").click()
            assert form.locator("[data-testid=wf-body]").input_value() == GOOD_BODY
            assert form.locator("[data-kv-set=headers] [data-part=value]").input_value() == secret
            form.locator("[data-testid=wf-name]").fill("Payments to the receiver (PUT)")
            form.locator("[data-testid=wf-save]").click()
            card = panel.locator("[data-testid=wf-card]", has_text="Payments to the receiver (PUT)")
            card.wait_for()
            edited = sb.control("GET", f"/workflows/{created['id']}")
            assert edited["name"] == "Payments to the receiver (PUT)"
            assert [a["id"] for a in edited["actions"]] == [put["id"]] and edited["actions"][0]["body"] == GOOD_BODY

            # An Inbound Webhook workflow with a standard Webhook action: its URL is shown once saved.
            panel.locator("[data-testid=wf-tab-editor]").click()
            form.locator("[data-testid=wf-name]").fill("Inbound to the receiver")
            form.locator("[data-testid=wf-trigger-type]").select_option("inbound_webhook")
            form.locator("[data-testid=wf-action-form] button.link").first.click()  # drop the default action
            form.locator("[data-testid=wf-add-webhook]").click()
            hook = form.locator("[data-testid=wf-action-form]").first
            assert hook.get_attribute("data-type") == "webhook"
            hook.locator("[data-testid=wf-url]").fill(rx.url + "/inbound")
            hook.locator("[data-add=customData]").click()
            hook.locator("[data-kv-set=customData] [data-part=key]").fill("pet")
            hook.locator("[data-kv-set=customData] [data-part=value]").fill("{{inboundWebhookRequest.body.pet}}")
            hook.locator("[data-add=customData]").click()
            hook.locator("[data-kv-set=customData] [data-part=key]").last.fill("tag")
            hook.locator("[data-kv-set=customData] [data-part=value]").last.fill("{{custom_values.inbound_tag}}")
            form.locator("[data-testid=wf-save]").click()
            warning = panel.locator("[data-testid=wf-unset]")
            warning.wait_for()
            assert "custom_values.inbound_tag" in warning.inner_text() and "rx_token" not in warning.inner_text()
            inbound_card = panel.locator("[data-testid=wf-card]", has_text="Inbound to the receiver")
            inbound_card.wait_for()
            [inbound] = [w for w in workflows(sb, location_id) if w["name"] == "Inbound to the receiver"]
            inbound_url = inbound["trigger"]["inboundUrl"]
            assert inbound_card.locator("[data-testid=wf-inbound-url]").inner_text() == inbound_url
            assert f"/hooks/{location_id}/webhook-trigger/" in inbound_url
            answer = httpx.post(inbound_url if inbound_url.startswith("http") else sb.url + inbound_url, json={"pet": "snowy"})
            assert answer.status_code == 200 and answer.json()["id"], answer.text
            got = wait_until(lambda: [r for r in rx.requests if r.path.startswith("/webhooks/inbound")], what="the inbound run")[0]
            assert got.method == "POST" and json.loads(got.body)["customData"] == {"pet": "snowy", "tag": ""}

            # A shipped template, with the custom values it needs.
            shipped = {t["name"]: t for t in templates(sb)}
            assert "payment-received-to-catch-hook" in shipped
            needs = shipped["payment-received-to-catch-hook"]["needs"]
            panel.locator("[data-testid=wf-tab-templates]").click()
            # A Rankr template offers the location's own Rankr account (as `ghl-sandbox workflows load` does).
            rankr = sb.location(0)["rankr"]
            to_rankr = panel.locator("[data-testid=wf-template][data-template='order-submitted-to-rankr']")
            assert to_rankr.locator("input[name=rankr_api_key]").input_value() == rankr["apiKey"]
            assert to_rankr.locator("input[name=rankr_base_url]").input_value() == sb.url + rankr["basePath"]
            template = panel.locator("[data-testid=wf-template][data-template='payment-received-to-catch-hook']")
            entered = {}
            for key in needs:
                entered[key] = rx.url + "/catch" if "url" in key else f"{key}-{secrets.token_hex(4)}"
                template.locator(f"input[name='{key}']").fill(entered[key])
            template.locator("[data-testid=wf-template-load]").click()
            panel.locator("[data-testid=wf-result].ok", has_text="payment-received-to-catch-hook").wait_for()
            values = custom_values(sb, location_id)
            assert {k: values[k] for k in needs} == entered
            names_before = {"Payments to the receiver (PUT)", "Inbound to the receiver"}
            [loaded] = [w for w in workflows(sb, location_id) if w["name"] not in names_before]
            loaded_card = page.locator(f"[data-testid=wf-card][data-workflow-id='{loaded['id']}']")
            loaded_card.wait_for()
            assert loaded_card.locator("[data-testid=wf-trigger]").inner_text() == "Payment Received"
            assert panel.locator("[data-testid=wf-card]").count() == 3

            page.wait_for_timeout(2200)  # one more metrics event, so the charts show the traffic
            ARTIFACTS.mkdir(exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(ARTIFACTS / "workflows.png"), full_page=True)

            # Delete (a second click confirms), even when the list is rendered again between the clicks, as
            # it is every few seconds and after each workflow run (here: a run announced on the live feed).
            delete = loaded_card.locator("[data-testid=wf-delete]")
            delete.click()
            assert delete.inner_text() == "Really delete?"
            loaded_card.evaluate("node => { node.dataset.before = '1'; }")
            page.evaluate("""() => document.dispatchEvent(new CustomEvent('sandbox:event',
                { detail: { kind: 'delivery', data: { service: 'workflows' } } }))""")
            page.locator(f"[data-testid=wf-card][data-workflow-id='{loaded['id']}']:not([data-before])").wait_for()
            assert delete.inner_text() == "Really delete?"
            delete.click()
            loaded_card.wait_for(state="detached")
            assert loaded["id"] not in {w["id"] for w in workflows(sb, location_id)}
            assert panel.locator("[data-testid=wf-card]").count() == 2
        finally:
            browser.close()
            sb.http.delete("/_sandbox/workflows", params={"locationId": location_id})
    assert not errors, errors


def test_the_form_offers_each_triggers_filters(sb: SandboxClient) -> None:
    """The form's trigger list, filter fields, operators and fixed values are the domain's (triggers.TRIGGERS)."""
    sync_playwright = _chromium_or_skip()
    assert "workflows" in sb.control("GET", "/dashboard/overview")["services"]
    errors: list[str] = []
    offered: dict[str, dict[str, Any]] = {}
    with sync_playwright() as pw:
        browser, page = open_dashboard(pw, sb.url + "/", errors, height=1100)
        try:
            form = page.locator("[data-testid=wf-form]")
            form.locator("[data-testid=wf-trigger-type]").wait_for()
            kinds = form.locator("[data-testid=wf-trigger-type] option").evaluate_all("os => os.map(o => o.value)")
            for kind in kinds:
                form.locator("[data-testid=wf-trigger-type]").select_option(kind)
                offered[kind] = {}
                # The merge fields listed under the form are ones this trigger offers (placeholders aside).
                hint = form.locator("#wf-merge-hint").inner_text()
                named = [t for t in re.findall(r"\{\{[^}]*\}\}", hint) if "<" not in t]
                assert len(named) >= 4 and template_problems(" ".join(named), kind) == [], (kind, hint)
                if form.locator("[data-testid=wf-add-filter]").is_hidden():
                    continue
                form.locator("[data-testid=wf-add-filter]").click()
                row = form.locator(".wf-filter").first
                for name in row.locator("[data-part=field] option").evaluate_all("os => os.map(o => o.value)"):
                    row.locator("[data-part=field]").select_option(name)
                    operators = row.locator("[data-part=operator] option").evaluate_all("os => os.map(o => o.value)")
                    value = row.locator("[data-part=value]")
                    tag = value.evaluate("v => v.tagName + ':' + (v.type || '')")
                    values = value.locator("option").evaluate_all("os => os.map(o => o.value)") if tag.startswith("SELECT") \
                        else None
                    offered[kind][name] = (tuple(operators), tuple(values) if values else None, tag == "INPUT:number")
                row.locator("button.link").click()
        finally:
            browser.close()
    assert not errors, errors
    expected = {kind: {name: (f.operators, f.values, f.numeric) for name, f in spec.filters.items()}
                for kind, spec in TRIGGERS.items()}
    assert offered == expected
