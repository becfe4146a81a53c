"""API fault injection: rules (`/_sandbox/faults`) and the `X-Sandbox-Fault` header inject a status, a
429, latency, a dropped connection or commit-then-drop; every injected fault is marked in the journal."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from api_support import ORDERS, TRANSACTIONS, assert_ghl_error, get, ok, second_location
from sim_support import new_order, one, order, simulate

from mock_server.testing import SandboxClient, SandboxProcess

ORDER_PATH = "/payments/orders/{orderId}"
FULFILLMENTS_PATH = "/payments/orders/{orderId}/fulfillments"
# What a client sees when the server drops the connection without answering.
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)


def add_rule(sb: SandboxClient, **rule: Any) -> dict[str, Any]:
    r = sb.http.post("/_sandbox/faults", json=rule)
    assert r.status_code == 201, r.text
    return r.json()


def rules(sb: SandboxClient) -> list[dict[str, Any]]:
    return sb.control("GET", "/faults")


def journal_entry(sb: SandboxClient, path: str | None = None) -> dict[str, Any]:
    entries = sb.journal(path=path) if path else sb.journal()
    assert entries, "nothing journaled"
    return entries[-1]


def fulfil(sb: SandboxClient, loc: dict[str, Any], order_id: str, price_id: str, *, notify: bool = False,
           headers: dict[str, str] | None = None) -> httpx.Response:
    return sb.api("POST", f"{ORDERS}/{order_id}/fulfillments", loc["token"], headers=headers,
                  json={"altId": loc["id"], "altType": "location", "trackings": [],
                        "items": [{"priceId": price_id, "qty": 1}], "notifyCustomer": notify})


def fulfillments(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> list[dict[str, Any]]:
    return ok(get(sb, loc, f"{ORDERS}/{order_id}/fulfillments"))["data"]


@pytest.fixture
def an_order(ghl_sandbox: SandboxClient) -> dict[str, Any]:
    """A fresh order with its first item's price id (a target for fulfillments)."""
    created = one(simulate(ghl_sandbox, "order.create"), "order")
    return {"id": created["_id"], "price_id": created["items"][0]["price"]["_id"]}


# ---- rules ----------------------------------------------------------------------------------------


def test_status_rule_hits_only_the_matching_method_and_path(ghl_sandbox: SandboxClient, loc: dict[str, Any],
                                                            an_order: dict[str, Any]) -> None:
    rule = add_rule(ghl_sandbox, match={"method": "GET", "path": ORDER_PATH},
                    effect={"status": 503, "message": "upstream down"})
    assert rule["id"] and rule["match"] == {"method": "GET", "path": ORDER_PATH}
    body = assert_ghl_error(get(ghl_sandbox, loc, f"{ORDERS}/{an_order['id']}"), 503, "upstream down")
    assert body["error"] == "Service Unavailable"
    assert_ghl_error(get(ghl_sandbox, loc, f"{ORDERS}/0123456789abcdef01234567"), 503)
    # Other paths and other methods on the template are untouched.
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))
    ok(get(ghl_sandbox, loc, f"{ORDERS}/{an_order['id']}/fulfillments"))
    ok(get(ghl_sandbox, loc, TRANSACTIONS, limit=1))
    ok(fulfil(ghl_sandbox, loc, an_order["id"], an_order["price_id"]))
    faulted = [(e["method"], e["status"]) for e in ghl_sandbox.journal() if e["fault"] == "status 503"]
    assert faulted == [("GET", 503), ("GET", 503)]
    [listed] = rules(ghl_sandbox)
    assert (listed["matched"], listed["applied"], listed["exhausted"]) == (2, 2, False)


def test_default_message_is_the_reason_phrase_and_any_method_matches(ghl_sandbox: SandboxClient,
                                                                     loc: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, match={"path": "/payments/transactions"}, effect={"status": 500})
    assert_ghl_error(get(ghl_sandbox, loc, TRANSACTIONS), 500, "Internal Server Error")
    assert_ghl_error(get(ghl_sandbox, loc, TRANSACTIONS + "/"), 500)  # the trailing-slash form too
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))


def test_times_limits_a_rule_then_requests_are_normal(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    rule = add_rule(ghl_sandbox, match={"path": "/payments/orders"}, effect={"status": 500}, times=2)
    statuses = [get(ghl_sandbox, loc, ORDERS, limit=1).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    [listed] = rules(ghl_sandbox)
    assert listed["id"] == rule["id"] and listed["applied"] == 2 and listed["exhausted"] is True


def test_after_skips_the_first_matches(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, match={"path": "/payments/orders"}, effect={"status": 502}, after=1, times=1)
    statuses = [get(ghl_sandbox, loc, ORDERS, limit=1).status_code for _ in range(3)]
    assert statuses == [200, 502, 200]


def _hit_pattern(sb: SandboxClient, n: int = 24) -> list[int]:
    location = sb.location(0)
    loc = {"id": location["locationId"], "token": location["tokens"][0]["token"]}
    add_rule(sb, match={"path": "/payments/orders"}, effect={"status": 503}, probability=0.5)
    return [get(sb, loc, ORDERS, limit=1).status_code for _ in range(n)]


def test_probability_is_reproducible_with_the_same_seed(ghl_sandbox: SandboxClient) -> None:
    procs = [SandboxProcess(["--seed", "7", "--orders", "3", "--rate-limit", "off"]) for _ in range(2)]
    try:
        with ThreadPoolExecutor(len(procs)) as pool:  # two fresh servers, started side by side
            list(pool.map(SandboxProcess.start, procs))
        clients = [p.client() for p in procs]
        first, second = (_hit_pattern(c) for c in clients)
        for c in clients:
            c.close()
    finally:
        for p in procs:
            p.stop()
    assert first == second
    assert set(first) == {200, 503}  # some hit, some not
    assert _hit_pattern(ghl_sandbox) != first  # the pattern comes from the seed (42 here)


def test_rate_limited_rule_answers_429_with_an_exhausted_window(ghl_sandbox: SandboxClient,
                                                                loc: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, match={"path": "/payments/orders"}, effect={"rateLimited": True}, times=1)
    r = get(ghl_sandbox, loc, ORDERS, limit=1)
    assert_ghl_error(r, 429)
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert r.headers["x-ratelimit-max"] and r.headers["x-ratelimit-interval-milliseconds"]
    assert journal_entry(ghl_sandbox)["fault"] == "rateLimited"
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))


def test_delay_adds_latency(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, match={"path": "/payments/orders"}, effect={"delayMs": 300})
    started = time.perf_counter()
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))
    assert time.perf_counter() - started >= 0.3
    entry = journal_entry(ghl_sandbox)
    assert entry["status"] == 200 and entry["latencyMs"] >= 300 and entry["fault"] == "delay 300ms"


def test_delay_combines_with_a_status(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, match={"path": "/payments/orders"}, effect={"delayMs": 150, "status": 504})
    assert_ghl_error(get(ghl_sandbox, loc, ORDERS), 504)
    entry = journal_entry(ghl_sandbox)
    assert entry["latencyMs"] >= 150 and entry["status"] == 504
    assert "delay 150ms" in entry["fault"] and "status 504" in entry["fault"]


def test_reset_drops_the_connection_without_a_response(ghl_sandbox: SandboxClient, loc: dict[str, Any],
                                                       an_order: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, match={"method": "GET", "path": ORDER_PATH}, effect={"reset": True}, times=1)
    with pytest.raises(DROPPED):
        get(ghl_sandbox, loc, f"{ORDERS}/{an_order['id']}")
    entry = journal_entry(ghl_sandbox)
    assert (entry["status"], entry["fault"], entry["committedStatus"]) == (0, "reset", None)
    # The server lives on, and the next request is answered.
    assert order(ghl_sandbox, loc, an_order["id"])["_id"] == an_order["id"]


def test_commit_then_drop_stores_the_fulfillment_but_drops_the_answer(ghl_sandbox: SandboxClient,
                                                                      loc: dict[str, Any],
                                                                      an_order: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, match={"method": "POST", "path": FULFILLMENTS_PATH}, effect={"commitThenDrop": True},
             times=1)
    assert fulfillments(ghl_sandbox, loc, an_order["id"]) == []
    with pytest.raises(DROPPED):
        fulfil(ghl_sandbox, loc, an_order["id"], an_order["price_id"])
    entry = journal_entry(ghl_sandbox, f"{ORDERS}/{an_order['id']}/fulfillments")
    assert entry["method"] == "POST"
    assert (entry["status"], entry["committedStatus"], entry["fault"]) == (0, 200, "commitThenDrop")
    # The client saw nothing, yet the write happened: a retry must not fulfil twice.
    [stored] = fulfillments(ghl_sandbox, loc, an_order["id"])
    assert [(i["_id"], i["qty"]) for i in stored["items"]] == [(an_order["price_id"], 1)]
    assert order(ghl_sandbox, loc, an_order["id"])["fulfillmentStatus"] in ("partially_fulfilled", "fulfilled")


def test_location_match_hits_only_that_location(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    other = second_location(ghl_sandbox)
    add_rule(ghl_sandbox, match={"path": "/payments/orders", "locationId": other["id"]}, effect={"status": 503})
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))
    assert_ghl_error(get(ghl_sandbox, other, ORDERS, limit=1), 503)
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))


def test_body_match_hits_only_requests_with_that_field(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    oid = new_order(ghl_sandbox, items=[{"priceId": one(simulate(ghl_sandbox, "order.create"), "order")
                                         ["items"][0]["price"]["_id"], "qty": 3}])
    price_id = order(ghl_sandbox, loc, oid)["items"][0]["price"]["_id"]
    add_rule(ghl_sandbox, match={"method": "POST", "path": FULFILLMENTS_PATH, "body": {"notifyCustomer": True}},
             effect={"status": 500})
    assert_ghl_error(fulfil(ghl_sandbox, loc, oid, price_id, notify=True), 500)
    ok(fulfil(ghl_sandbox, loc, oid, price_id, notify=False))
    assert len(fulfillments(ghl_sandbox, loc, oid)) == 1  # the faulted request never reached the API


def test_list_delete_and_clear_rules(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    assert rules(ghl_sandbox) == []
    first = add_rule(ghl_sandbox, match={"path": "/payments/orders"}, effect={"status": 500})
    second = add_rule(ghl_sandbox, match={"path": "/payments/transactions"}, effect={"status": 502}, times=3,
                      after=1, probability=0.5)
    listed = rules(ghl_sandbox)
    assert [r["id"] for r in listed] == [first["id"], second["id"]]
    assert listed[1] == second
    assert (listed[1]["times"], listed[1]["after"], listed[1]["probability"]) == (3, 1, 0.5)

    assert ghl_sandbox.control("DELETE", f"/faults/{first['id']}") == {"deleted": True, "id": first["id"]}
    assert [r["id"] for r in rules(ghl_sandbox)] == [second["id"]]
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))
    assert_ghl_error(ghl_sandbox.http.delete(f"/_sandbox/faults/{first['id']}"), 404)

    add_rule(ghl_sandbox, effect={"status": 500})
    assert ghl_sandbox.control("DELETE", "/faults") == {"cleared": 2}
    assert rules(ghl_sandbox) == []
    ok(get(ghl_sandbox, loc, TRANSACTIONS, limit=1))


def test_the_control_plane_is_never_faulted(ghl_sandbox: SandboxClient) -> None:
    add_rule(ghl_sandbox, match={"path": "*"}, effect={"status": 500})
    assert ghl_sandbox.control("GET", "/clock")["frozen"] is False
    assert len(ghl_sandbox.locations()) >= 2
    r = ghl_sandbox.http.get("/_sandbox/health", headers={"X-Sandbox-Fault": "status=503"})
    assert r.status_code == 200


def test_reset_clears_the_rules(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, effect={"status": 500})
    assert_ghl_error(get(ghl_sandbox, loc, ORDERS), 500)
    ghl_sandbox.reset()
    assert rules(ghl_sandbox) == []
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))


@pytest.mark.parametrize("rule", [
    {},
    {"effect": {}},
    {"effect": "status=500"},
    {"effect": {"status": 200}},
    {"effect": {"status": "503"}},
    {"effect": {"status": 503.0}},
    {"effect": {"status": 600}},
    {"effect": {"delayMs": -1}},
    {"effect": {"delayMs": "250"}},
    {"effect": {"reset": "yes"}},
    {"effect": {"commitThenDrop": 1}},
    {"effect": {"status": 500, "reset": True}},
    {"effect": {"explode": True}},
    {"effect": {"status": 500, "message": 5}},
    {"match": [], "effect": {"status": 500}},
    {"match": {"path": 5}, "effect": {"status": 500}},
    {"match": {"url": "/payments"}, "effect": {"status": 500}},
    {"match": {"body": ["a"]}, "effect": {"status": 500}},
    {"effect": {"status": 500}, "times": -1},
    {"effect": {"status": 500}, "times": 1.5},
    {"effect": {"status": 500}, "after": "1"},
    {"effect": {"status": 500}, "probability": 1.5},
    {"effect": {"status": 500}, "probability": True},
    {"effect": {"status": 500}, "time": 2},
])
def test_bad_rules_are_422(ghl_sandbox: SandboxClient, rule: dict[str, Any]) -> None:
    assert_ghl_error(ghl_sandbox.http.post("/_sandbox/faults", json=rule), 422)
    assert rules(ghl_sandbox) == []


def test_malformed_rule_bodies_are_400(ghl_sandbox: SandboxClient) -> None:
    for raw in (b"{", b"[]", b"42"):
        r = ghl_sandbox.http.post("/_sandbox/faults", content=raw, headers={"content-type": "application/json"})
        assert_ghl_error(r, 400)
    assert rules(ghl_sandbox) == []


# ---- the X-Sandbox-Fault header -------------------------------------------------------------------


def test_header_status_affects_that_request_only(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    assert_ghl_error(_with_header(ghl_sandbox, loc, "status=503"), 503)
    assert journal_entry(ghl_sandbox)["fault"] == "status 503"
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))
    assert journal_entry(ghl_sandbox)["fault"] is None


def _with_header(sb: SandboxClient, loc: dict[str, Any], value: str) -> httpx.Response:
    return sb.api("GET", ORDERS, loc["token"], params={"altId": loc["id"], "limit": 1},
                  headers={"X-Sandbox-Fault": value})


def test_header_rate_limited_delay_and_reset(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    r = _with_header(ghl_sandbox, loc, "rate-limited")
    assert_ghl_error(r, 429)
    assert r.headers["x-ratelimit-remaining"] == "0"

    started = time.perf_counter()
    ok(_with_header(ghl_sandbox, loc, "delay=200"))
    assert time.perf_counter() - started >= 0.2
    assert journal_entry(ghl_sandbox)["latencyMs"] >= 200

    with pytest.raises(DROPPED):
        _with_header(ghl_sandbox, loc, "reset")
    entry = journal_entry(ghl_sandbox)
    assert (entry["status"], entry["fault"]) == (0, "reset")
    ok(get(ghl_sandbox, loc, ORDERS, limit=1))


def test_header_commit_then_drop(ghl_sandbox: SandboxClient, loc: dict[str, Any], an_order: dict[str, Any]) -> None:
    with pytest.raises(DROPPED):
        fulfil(ghl_sandbox, loc, an_order["id"], an_order["price_id"], headers={"X-Sandbox-Fault": "commit-then-drop"})
    entry = journal_entry(ghl_sandbox)
    assert (entry["status"], entry["committedStatus"], entry["fault"]) == (0, 200, "commitThenDrop")
    assert len(fulfillments(ghl_sandbox, loc, an_order["id"])) == 1


@pytest.mark.parametrize("value", ["bogus", "status=200", "status=abc", "delay=x", "", "status=503;reset"])
def test_bad_header_value_is_400(ghl_sandbox: SandboxClient, loc: dict[str, Any], value: str) -> None:
    body = assert_ghl_error(_with_header(ghl_sandbox, loc, value), 400)
    assert body["message"].startswith("Bad X-Sandbox-Fault header")


def test_every_injected_fault_is_marked_in_the_journal(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    add_rule(ghl_sandbox, match={"path": "/payments/transactions"}, effect={"status": 500}, times=1)
    get(ghl_sandbox, loc, TRANSACTIONS)
    get(ghl_sandbox, loc, TRANSACTIONS)
    _with_header(ghl_sandbox, loc, "status=418")
    entries = ghl_sandbox.journal()
    assert [(e["status"], e["fault"]) for e in entries] == [(500, "status 500"), (200, None), (418, "status 418")]
