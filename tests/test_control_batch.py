"""`POST /_sandbox/batch` (several control-plane GETs in one request), the client's `read_many`, and a
harness round that asks up front what the round before it read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.testing import SandboxClient, SandboxError
from scenarios.client import ClientProcess
from scenarios.context import HarnessSandbox, ScenarioContext
from scenarios.destinations.rankr import RankrDestination
from scenarios.project import Table


def _batch(sb: SandboxClient, *items: dict[str, str]) -> list[dict[str, Any]]:
    response = sb.request("POST", "/batch", json={"requests": list(items)})
    assert response.status_code == 200, response.text
    answers: list[dict[str, Any]] = response.json()["responses"]
    return answers


def test_each_read_is_answered_as_its_own_get_would_be(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    state = f"/locations/{loc['id']}/state"
    alone = ghl_sandbox.request("GET", state)
    answers = _batch(ghl_sandbox, {"path": "/health"}, {"path": state}, {"path": state, "ifNoneMatch": alone.headers["etag"]},
                     {"path": "/journal?limit=1&path=/payments"}, {"path": "/nowhere"}, {"path": "/locations/nope/state"},
                     {"path": "/wait?for=deliveries-settled"}, {"path": "/openapi/sandbox-control"})
    assert [a["status"] for a in answers] == [200, 200, 304, 200, 404, 404, 422, 200]
    assert answers[0]["body"]["seed"] == ghl_sandbox.control("GET", "/health")["seed"]
    assert answers[1]["body"] == alone.json() and answers[1]["etag"] == alone.headers["etag"]
    assert "body" not in answers[2] and answers[2]["etag"] == alone.headers["etag"]
    assert answers[3]["body"] == ghl_sandbox.control("GET", "/journal", params={"limit": 1, "path": "/payments"})
    assert answers[4]["body"]["statusCode"] == 404 and answers[5]["body"]["message"] == "Location nope not found"
    assert "waits" in answers[6]["body"]["message"][0]
    assert answers[7]["body"].startswith("openapi:")  # not JSON: its text


def test_a_batch_is_refused_whole_only_when_it_is_malformed(ghl_sandbox: SandboxClient) -> None:
    for body in ({}, {"requests": []}, {"requests": [{"path": "health"}]}, {"requests": [{"path": "/health", "x": 1}]},
                 {"requests": [{"path": "/health"}] * 65}):
        response = ghl_sandbox.request("POST", "/batch", json=body)
        assert response.status_code == 422 and response.json()["statusCode"] == 422, body
    assert ghl_sandbox.request("POST", "/batch", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert ghl_sandbox.request("GET", "/batch").status_code in (404, 405)


def test_read_many_revalidates_and_answers_in_order(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    client = SandboxClient(ghl_sandbox.url)
    try:
        state = f"/locations/{loc['id']}/state"
        reads: list[tuple[str, dict[str, Any] | None]] = [(state, None), ("/journal", {"path": "/payments", "limit": 5}),
                                                          ("/locations/nope/state", None)]
        first = client.read_many(reads)
        assert [r.status_code for r in first] == [200, 200, 404]
        assert first[0].json() == client.state(loc["id"])  # that GET was asked with the batch's tag: a 304
        sent: list[bytes] = []
        client.http.event_hooks["request"].append(lambda request: sent.append(request.content))
        again = client.read_many(reads)
        assert b'"ifNoneMatch"' in sent[-1] and again[0].json() == first[0].json()
        assert again[1].json() == client.control("GET", "/journal", params={"path": "/payments", "limit": 5})
    finally:
        client.close()


def test_a_round_asks_up_front_what_the_last_round_of_its_name_read(ghl_sandbox: SandboxClient,
                                                                     loc: dict[str, Any]) -> None:
    harness = HarnessSandbox(ghl_sandbox.url)
    asked: list[str] = []
    harness.http.event_hooks["request"].append(lambda request: asked.append(f"{request.method} {request.url.path}"))
    state, deliveries = f"/_sandbox/locations/{loc['id']}/state", "/_sandbox/webhooks/deliveries"
    try:
        with harness.one_look("poll"):
            harness.state(loc["id"])
            harness.control("GET", "/webhooks/deliveries")
        assert asked == [f"GET {state}", f"GET {deliveries}"]
        asked.clear()
        with harness.one_look("poll"):
            assert asked == ["POST /_sandbox/batch"]  # both, at the round's start
            harness.state(loc["id"])
            harness.control("GET", "/webhooks/deliveries")
            harness.control("GET", "/keys")  # not foreseen: asked now, foreseen next time
        assert asked == ["POST /_sandbox/batch", "GET /_sandbox/keys"]
        asked.clear()
        with harness.one_look("safety"):  # another name: nothing foreseen
            harness.state(loc["id"])
        assert asked == [f"GET {state}"]
        asked.clear()
        with harness.one_look("poll"):
            ghl_sandbox.control("POST", "/simulate/order.create", json={"locationId": loc["id"]})
            fresh = harness.state(loc["id"])  # foreseen at the round's start: before that write
        with harness.one_look("poll"):
            assert len(harness.state(loc["id"])["orders"]) == len(fresh["orders"]) + 1
        harness.forget_looks()
        asked.clear()
        with harness.one_look("poll"):
            harness.control("GET", "/keys")
        assert asked == ["GET /_sandbox/keys"]
    finally:
        harness.close()


def test_a_journal_read_is_foreseen_from_where_the_scenario_last_read(ghl_sandbox: SandboxClient, loc: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    harness = HarnessSandbox(ghl_sandbox.url)
    ctx = ScenarioContext(sandbox_url=ghl_sandbox.url, sandbox=harness, location_id=loc["id"], token=loc["token"],
                          token_id="", rankr_key="", rankr_secret="",
                          client=ClientProcess("true", {}, tmp_path / "client.log", port=1), deadline_s=1.0,
                          destination=RankrDestination(Table({}, "destination")))
    harness.forget_looks(ctx.read_now)
    api = httpx.Client(base_url=ghl_sandbox.url, headers={"Authorization": f"Bearer {loc['token']}",
                                                          "Version": "2021-07-28"})
    batches: list[bytes] = []
    harness.http.event_hooks["request"].append(
        lambda request: batches.append(request.content) if request.url.path.endswith("/batch") else None)
    try:
        with harness.one_look("poll"):
            ctx.journal()
            harness.control("GET", "/keys")
        api.get("/payments/orders", params={"altId": loc["id"], "altType": "location"})
        with harness.one_look("poll"):
            seen = ctx.journal()
            harness.control("GET", "/keys")
        assert len(batches) == 1 and b'"/journal?' in batches[0]
        assert [e["path"] for e in seen] == ["/payments/orders"]  # foreseen from the last entry read, not before
        last = seen[-1]["id"]
        assert f"since={last}".encode() not in batches[0]
        with harness.one_look("poll"):
            assert ctx.journal() == seen
        assert len(batches) == 2 and f"since={last}".encode() in batches[-1]
    finally:
        api.close()
        harness.close()


def test_a_sandbox_that_refuses_batches_is_read_one_by_one(ghl_sandbox: SandboxClient, loc: dict[str, Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    harness = HarnessSandbox(ghl_sandbox.url)
    refused: list[int] = []

    def older_sandbox(reads: Any) -> Any:  # as a sandbox from before /batch answers it
        refused.append(len(reads))
        response = httpx.Response(404, json={"statusCode": 404}, request=httpx.Request("POST", ghl_sandbox.url))
        raise SandboxError("POST", "/batch", response)

    monkeypatch.setattr(harness, "read_many", older_sandbox)
    try:
        for _ in range(3):
            with harness.one_look("poll"):
                assert harness.state(loc["id"])["locationId"] == loc["id"]
                harness.control("GET", "/keys")
        assert refused == [2]  # asked once, then never again
    finally:
        harness.close()
