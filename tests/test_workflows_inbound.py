"""The Inbound Webhook trigger over real HTTP: `POST|GET|PUT /hooks/{locationId}/webhook-trigger/{id}` on the
sandbox's API host answers as GHL does for a live, a draft and an unknown trigger, refuses what is not a
JSON object, and runs the live workflow's actions with `inboundWebhookRequest.*` merge values and the
contact found by the body's email."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from receiver import Receiver
from workflow_support import Sandbox, running

LIVE = "Success: request sent to trigger execution server"
TEST = "Success: test request received"


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with running("--webhook-retry-interval", "0.05") as sb:
        yield sb


@pytest.fixture
def sb(server: Sandbox) -> Iterator[Sandbox]:
    server.clean()
    yield server
    server.clean()


def inbound_flow(sb: Sandbox, url: str, status: str = "published") -> dict[str, Any]:
    return sb.workflow("inbound_webhook", [
        {"type": "custom_webhook", "name": "echo", "method": "POST", "url": url,
         "headers": [{"key": "X-Pet", "value": "{{inboundWebhookRequest.body.pet.name}}"}],
         "contentType": "application/json",
         "body": '{"pet": "{{inboundWebhookRequest.body.pet.name}}", "q": "{{inboundWebhookRequest.query.ref}}", '
                 '"ua": "{{inboundWebhookRequest.headers.x-caller}}", "email": "{{contact.email}}", '
                 '"first": "{{contact.first_name}}", "wf": "{{workflow.name}}"}'},
        {"type": "webhook", "name": "standard", "method": "POST", "url": url + "/std",
         "customData": [{"key": "pet", "value": "{{inboundWebhookRequest.body.pet.name}}"}]},
    ], status=status, name=f"Inbound {status}")


def test_a_live_trigger_runs_its_actions_with_the_request_and_the_contact(sb: Sandbox) -> None:
    order = next(r for r in sb.sim("order.create")["resources"] if r["type"] == "order")["data"]
    person = order["contactSnapshot"]
    with Receiver() as rx:
        flow = inbound_flow(sb, rx.url + "/in")
        url = flow["trigger"]["inboundUrl"]
        assert re.fullmatch(rf"{re.escape(sb.url)}/hooks/{sb.loc}/webhook-trigger/[0-9a-f-]{{36}}", url), url
        r = sb.http.post(url, params={"ref": "r-7"}, headers={"X-Caller": "zap"},
                         json={"email": person["email"].upper(), "pet": {"name": "snowy"}})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["status"] == LIVE and re.fullmatch(r"[A-Za-z0-9]{20}", answer["id"])
        sb.settle()
        custom = next(q for q in rx.requests if q.path == "/webhooks/in")
        standard = next(q for q in rx.requests if q.path == "/webhooks/in/std")
    assert custom.headers["x-pet"] == "snowy"
    assert custom.json == {"pet": "snowy", "q": "r-7", "ua": "zap", "email": person["email"],
                           "first": person["first_name"], "wf": "Inbound published"}
    assert standard.json["customData"] == {"pet": "snowy"} and standard.json["email"] == person["email"]
    [run] = sb.ok("GET", "/_sandbox/workflows/runs", params={"workflowId": flow["id"]})["runs"]
    assert run["source"] == "inbound" and len(run["eventIds"]) == 2
    assert {d["event"] for d in sb.deliveries()} == {"WorkflowInboundWebhook"}


def test_get_and_put_reach_the_trigger_too_and_a_contactless_run_renders_empty(sb: Sandbox) -> None:
    with Receiver() as rx:
        url = inbound_flow(sb, rx.url + "/in")["trigger"]["inboundUrl"]
        assert sb.http.get(url, params={"ref": "g"}).json()["status"] == LIVE
        assert sb.http.put(url, json={"pet": {"name": "rex"}}).json()["status"] == LIVE
        sb.settle()
        bodies = [q.json for q in rx.requests if q.path == "/webhooks/in"]
    assert sorted((b["pet"], b["q"], b["email"]) for b in bodies) == [("", "g", ""), ("rex", "", "")]


def test_a_draft_answers_the_same_and_runs_nothing(sb: Sandbox) -> None:
    with Receiver() as rx:
        url = inbound_flow(sb, rx.url + "/in", status="draft")["trigger"]["inboundUrl"]
        r = sb.http.post(url, json={"pet": {"name": "snowy"}})
        assert r.status_code == 200 and r.json()["status"] == LIVE and len(r.json()["id"]) == 20
        sb.settle()
        assert rx.requests == []
    assert sb.ok("GET", "/_sandbox/workflows/runs")["total"] == 0


@pytest.mark.parametrize("path", [
    "/hooks/{loc}/webhook-trigger/00000000-0000-4000-8000-000000000000",  # unknown id
    "/hooks/nowhere/webhook-trigger/{id}",  # a live id under another location
])
def test_an_unknown_trigger_is_a_test_request(sb: Sandbox, path: str) -> None:
    with Receiver() as rx:
        flow = inbound_flow(sb, rx.url + "/in")
        trigger_id = flow["trigger"]["inboundUrl"].rsplit("/", 1)[1]
        r = sb.http.post(path.format(loc=sb.loc, id=trigger_id), json={"a": 1})
        assert r.status_code == 200 and r.json() == {"status": TEST}
        sb.settle()
        assert rx.requests == []


@pytest.mark.parametrize("content", [b"[1, 2]", b"not json", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_refused(sb: Sandbox, content: bytes) -> None:
    with Receiver() as rx:
        url = inbound_flow(sb, rx.url + "/in")["trigger"]["inboundUrl"]
        r = sb.http.post(url, content=content, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "JSON object" in r.json()["status"]
        sb.settle()
        assert rx.requests == []


def test_more_than_a_megabyte_is_refused(sb: Sandbox) -> None:
    url = inbound_flow(sb, "http://127.0.0.1:9/in")["trigger"]["inboundUrl"]
    r = sb.http.post(url, json={"blob": "x" * (1024 * 1024 + 10)})
    assert r.status_code == 413


def test_replacing_keeps_the_trigger_url_and_deleting_ends_it(sb: Sandbox) -> None:
    """Replacing the document keeps the trigger's id (its URL); deleting the workflow makes it a test request."""
    with Receiver() as rx:
        flow = inbound_flow(sb, rx.url + "/in")
        url = flow["trigger"]["inboundUrl"]
        doc = {k: flow[k] for k in ("name", "status", "trigger", "actions")}
        replaced = sb.ok("PUT", f"/_sandbox/workflows/{flow['id']}", json={**doc, "name": "renamed"})
        assert replaced["trigger"]["inboundUrl"] == url
        assert sb.http.post(url, json={}).json()["status"] == LIVE
        sb.settle()  # deleting the workflow drops what its actions still have queued
        sb.ok("DELETE", f"/_sandbox/workflows/{flow['id']}")
        assert sb.http.post(url, json={}).json() == {"status": TEST}
        sb.settle()
        assert [q.json["wf"] for q in rx.requests if q.path == "/webhooks/in"] == ["renamed"]
