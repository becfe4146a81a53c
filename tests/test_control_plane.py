"""The /_sandbox control plane over real HTTP: health, locations, per-location reset, tokens, reset,
state export/import, the request journal, the admin token and rate-limit profiles."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from mock_server.ghl.models import PAYMENTS_SCOPES
from mock_server.testing import SandboxClient, SandboxProcess

ORDERS = "/payments/orders"


def first(location: dict[str, Any]) -> dict[str, Any]:
    """{id, token} of a location view: its first (all-scopes) token."""
    return {"id": location["locationId"], "token": location["tokens"][0]["token"]}


def orders(sb: SandboxClient, loc: dict[str, Any], token: str | None = None, **params: Any) -> Any:
    return sb.api("GET", ORDERS, token or loc["token"], params={"altId": loc["id"], **params})


def order(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> dict[str, Any]:
    r = sb.api("GET", f"{ORDERS}/{order_id}", loc["token"], params={"altId": loc["id"], "altType": "location"})
    assert r.status_code == 200, r.text
    return r.json()


def fulfillment_ids(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> list[str]:
    r = sb.api("GET", f"{ORDERS}/{order_id}/fulfillments", loc["token"],
               params={"altId": loc["id"], "altType": "location"})
    assert r.status_code == 200, r.text
    return [f["_id"] for f in r.json()["data"]]


def fulfil(sb: SandboxClient, loc: dict[str, Any]) -> tuple[str, str]:
    """Fully fulfil one paid, unfulfilled order of the location: (orderId, fulfillmentId)."""
    rows = orders(sb, loc, paymentStatus="paid", limit=100).json()["data"]
    target = next(o for o in rows if o["fulfillmentStatus"] == "unfulfilled")
    items = [{"priceId": i["price"]["_id"], "qty": i["qty"]} for i in order(sb, loc, target["_id"])["items"]]
    r = sb.api("POST", f"{ORDERS}/{target['_id']}/fulfillments", loc["token"],
               json={"altId": loc["id"], "altType": "location", "items": items, "notifyCustomer": False,
                     "trackings": [{"trackingNumber": "1Z999", "shippingCarrier": "UPS"}]})
    assert r.status_code == 200, r.text
    assert order(sb, loc, target["_id"])["fulfillmentStatus"] == "fulfilled"
    return target["_id"], r.json()["data"]["_id"]


@pytest.fixture
def two(ghl_sandbox: SandboxClient) -> list[dict[str, Any]]:
    return [first(v) for v in ghl_sandbox.locations()]


# ---- health and locations -------------------------------------------------------------------------


def test_health(ghl_sandbox: SandboxClient) -> None:
    r = ghl_sandbox.http.get("/_sandbox/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["seed"] == 42
    assert body["locations"] == 2
    assert isinstance(body["version"], str) and body["version"]


def test_locations_list_with_tokens_first_holds_every_payments_scope(ghl_sandbox: SandboxClient) -> None:
    views = ghl_sandbox.http.get("/_sandbox/locations").json()
    assert isinstance(views, list) and len(views) == 2
    assert len({v["locationId"] for v in views}) == 2
    for view in views:
        assert len(view["locationId"]) == 20 and view["locationId"].isalnum()
        assert isinstance(view["name"], str) and view["name"]
        assert view["tokens"], "every location comes with a token"
        for token in view["tokens"]:
            assert {"token", "scopes", "tokenClass", "expiresAt", "tokenId", "tokenType"} <= set(token)
        head = view["tokens"][0]
        assert set(PAYMENTS_SCOPES) <= set(head["scopes"])
        assert head["tokenClass"] == "location"
        assert head["expiresAt"] is None
        loc = first(view)
        r = orders(ghl_sandbox, loc)
        assert r.status_code == 200, r.text
        assert {o["altId"] for o in r.json()["data"]} == {loc["id"]}


def test_new_location_is_isolated_with_its_own_data_and_token(ghl_sandbox: SandboxClient,
                                                                two: list[dict[str, Any]]) -> None:
    r = ghl_sandbox.http.post("/_sandbox/locations", json={"name": "Isolation Gym"})
    assert r.status_code == 201, r.text
    view = r.json()
    new = first(view)
    assert view["name"] == "Isolation Gym"
    assert new["id"] not in {loc["id"] for loc in two}
    assert set(PAYMENTS_SCOPES) <= set(view["tokens"][0]["scopes"])
    assert new["token"] not in {loc["token"] for loc in two}

    mine = orders(ghl_sandbox, new, limit=100)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["totalCount"] > 0
    assert {o["altId"] for o in body["data"]} == {new["id"]}
    theirs = orders(ghl_sandbox, two[0], limit=100).json()["data"]
    assert not {o["_id"] for o in body["data"]} & {o["_id"] for o in theirs}

    # Its token cannot read location 1, and location 1's token cannot read it.
    cross = orders(ghl_sandbox, two[0], token=new["token"])
    assert cross.status_code == 403
    assert cross.json()["message"] == "The token does not have access to this location."
    assert orders(ghl_sandbox, new, token=two[0]["token"]).status_code == 403

    # Listed in the order they were made.
    assert [v["locationId"] for v in ghl_sandbox.locations()] == [two[0]["id"], two[1]["id"], new["id"]]


def test_reset_one_location_leaves_the_other_alone(ghl_sandbox: SandboxClient, two: list[dict[str, Any]]) -> None:
    a, b = two
    order_a, ful_a = fulfil(ghl_sandbox, a)
    order_b, ful_b = fulfil(ghl_sandbox, b)
    token_a = ghl_sandbox.token(a["id"])["token"]

    r = ghl_sandbox.http.post(f"/_sandbox/locations/{a['id']}/reset")
    assert r.status_code == 200, r.text
    assert r.json()["locationId"] == a["id"]

    assert order(ghl_sandbox, a, order_a)["fulfillmentStatus"] == "unfulfilled"
    assert ful_a not in fulfillment_ids(ghl_sandbox, a, order_a)
    assert orders(ghl_sandbox, a, token=token_a).status_code == 401, "tokens minted since seeding are gone"
    # The seeded token is the same one as before.
    assert orders(ghl_sandbox, a).status_code == 200
    # Location b kept its change.
    assert order(ghl_sandbox, b, order_b)["fulfillmentStatus"] == "fulfilled"
    assert ful_b in fulfillment_ids(ghl_sandbox, b, order_b)

    missing = ghl_sandbox.http.post("/_sandbox/locations/NoSuchLocation000000/reset")
    assert missing.status_code == 404
    assert "NoSuchLocation000000" in missing.json()["message"]


# ---- tokens -------------------------------------------------------------------------------------------


def test_issue_token_with_scopes_class_and_type(ghl_sandbox: SandboxClient, two: list[dict[str, Any]]) -> None:
    loc = two[0]
    r = ghl_sandbox.http.post("/_sandbox/tokens", json={"locationId": loc["id"],
                                                        "scopes": ["payments/orders.readonly"]})
    assert r.status_code == 201, r.text
    narrow = r.json()
    assert narrow["scopes"] == ["payments/orders.readonly"]
    assert narrow["tokenClass"] == "location" and narrow["tokenType"] == "oauth"
    assert narrow["locationId"] == loc["id"] and narrow["expiresAt"] is None
    assert orders(ghl_sandbox, loc, token=narrow["token"]).status_code == 200
    no_scope = ghl_sandbox.api("GET", "/payments/transactions", narrow["token"],
                               params={"altId": loc["id"], "altType": "location"})
    assert no_scope.status_code == 401
    assert no_scope.json()["message"] == "The token is not authorized for this scope."

    agency = ghl_sandbox.token(loc["id"], tokenClass="agency")
    assert agency["tokenClass"] == "agency"
    wrong_class = orders(ghl_sandbox, loc, token=agency["token"])
    assert wrong_class.status_code == 401  # an OAuth Company token: refused by its authClass
    assert wrong_class.json()["message"].startswith("This authClass type is not allowed to access this scope.")
    agency_pit = ghl_sandbox.token(loc["id"], tokenClass="agency", tokenType="pit")
    wrong_class = orders(ghl_sandbox, loc, token=agency_pit["token"])
    assert wrong_class.status_code == 401
    assert wrong_class.json()["message"] == "Token's user type mismatch!"

    pit = ghl_sandbox.token(loc["id"], tokenType="pit")
    assert pit["tokenType"] == "pit" and pit["token"].startswith("pit-")
    assert orders(ghl_sandbox, loc, token=pit["token"]).status_code == 200

    expiring = ghl_sandbox.token(loc["id"], expiresIn=3600)
    assert expiring["expiresAt"] is not None


@pytest.mark.parametrize("body, status, fragment", [
    ({}, 422, "locationId"),
    ({"locationId": "NoSuchLocation000000"}, 404, "NoSuchLocation000000"),
    ({"scopes": "payments/orders.readonly"}, 422, "scopes"),
    ({"tokenClass": "user"}, 422, "tokenClass"),
    ({"tokenType": "apikey"}, 422, "tokenType"),
    ({"expiresIn": "soon"}, 422, "expiresIn"),
])
def test_issue_token_refuses_bad_bodies(ghl_sandbox: SandboxClient, two: list[dict[str, Any]],
                                        body: dict[str, Any], status: int, fragment: str) -> None:
    payload = {"locationId": two[0]["id"], **body} if body and "locationId" not in body else body
    r = ghl_sandbox.http.post("/_sandbox/tokens", json=payload)
    assert r.status_code == status, r.text
    message = r.json()["message"]
    assert fragment in (" ".join(message) if isinstance(message, list) else message)


def test_revoke_by_delete_then_401(ghl_sandbox: SandboxClient, two: list[dict[str, Any]]) -> None:
    loc = two[0]
    token = ghl_sandbox.token(loc["id"])
    assert orders(ghl_sandbox, loc, token=token["token"]).status_code == 200
    r = ghl_sandbox.http.delete(f"/_sandbox/tokens/{token['token']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"revoked": True, "tokenId": token["tokenId"]}
    refused = orders(ghl_sandbox, loc, token=token["token"])
    assert refused.status_code == 401
    assert refused.json()["message"] == "Invalid token: access token is invalid"
    # The seeded token of the same location is unaffected.
    assert orders(ghl_sandbox, loc).status_code == 200
    assert ghl_sandbox.http.delete("/_sandbox/tokens/no-such-token").status_code == 404


@pytest.mark.parametrize("key", ["token", "tokenId"])
def test_revoke_by_post_then_401(ghl_sandbox: SandboxClient, two: list[dict[str, Any]], key: str) -> None:
    loc = two[1]
    token = ghl_sandbox.token(loc["id"], tokenType="pit")
    assert orders(ghl_sandbox, loc, token=token["token"]).status_code == 200
    r = ghl_sandbox.http.post("/_sandbox/tokens/revoke", json={key: token[key]})
    assert r.status_code == 200, r.text
    assert r.json()["tokenId"] == token["tokenId"]
    assert orders(ghl_sandbox, loc, token=token["token"]).status_code == 401
    views = {t["tokenId"]: t for v in ghl_sandbox.locations() for t in v["tokens"]}
    assert views[token["tokenId"]]["revoked"] is True
    assert ghl_sandbox.http.post("/_sandbox/tokens/revoke", json={}).status_code == 422


# ---- reset and state ------------------------------------------------------------------------------


def test_reset_returns_to_the_seeded_state_quickly(ghl_sandbox: SandboxClient, two: list[dict[str, Any]]) -> None:
    loc = two[0]
    before = orders(ghl_sandbox, loc, limit=100).content
    order_id, ful_id = fulfil(ghl_sandbox, loc)
    extra = ghl_sandbox.new_location()
    minted = ghl_sandbox.token(loc["id"])
    assert orders(ghl_sandbox, loc, limit=100).content != before

    r = ghl_sandbox.http.post("/_sandbox/reset", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seed"] == 42
    assert 0 <= body["resetMs"] < 1000, body

    assert ful_id not in fulfillment_ids(ghl_sandbox, loc, order_id)
    assert order(ghl_sandbox, loc, order_id)["fulfillmentStatus"] == "unfulfilled"
    assert orders(ghl_sandbox, loc, limit=100).content == before
    assert extra["locationId"] not in {v["locationId"] for v in ghl_sandbox.locations()}
    assert orders(ghl_sandbox, loc, token=minted["token"]).status_code == 401


@pytest.mark.parametrize("body", [{"seed": -1}, {"seed": "seven"}, {"seed": 1.5}, {"orders": -3}])
def test_reset_refuses_bad_values(ghl_sandbox: SandboxClient, body: dict[str, Any]) -> None:
    r = ghl_sandbox.http.post("/_sandbox/reset", json=body)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["message"], list)
    assert ghl_sandbox.http.get("/_sandbox/health").json()["seed"] == 42


def test_state_export_import_round_trip(ghl_sandbox: SandboxClient, two: list[dict[str, Any]]) -> None:
    loc = two[0]
    exported = ghl_sandbox.http.get("/_sandbox/state")
    assert exported.status_code == 200
    state = exported.json()
    assert state["format"] == "ghl-sandbox-state" and state["version"] == 2
    before = orders(ghl_sandbox, loc, limit=100).content

    order_id, ful_id = fulfil(ghl_sandbox, loc)
    minted = ghl_sandbox.token(loc["id"])

    r = ghl_sandbox.http.put("/_sandbox/state", content=exported.content,
                             headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["imported"] is True
    assert r.json()["counts"]["orders"] == len(state["tables"]["orders"])

    assert ful_id not in fulfillment_ids(ghl_sandbox, loc, order_id)
    assert order(ghl_sandbox, loc, order_id)["fulfillmentStatus"] == "unfulfilled"
    assert orders(ghl_sandbox, loc, limit=100).content == before
    assert orders(ghl_sandbox, loc, token=minted["token"]).status_code == 401
    # The seeded token came back with the state.
    assert orders(ghl_sandbox, loc).status_code == 200


def test_writes_after_an_import_do_not_overwrite_imported_records(ghl_sandbox: SandboxClient,
                                                                   two: list[dict[str, Any]]) -> None:
    loc = two[0]
    order_id, ful_id = fulfil(ghl_sandbox, loc)
    r = ghl_sandbox.http.put("/_sandbox/state", content=ghl_sandbox.http.get("/_sandbox/state").content)
    assert r.status_code == 200, r.text
    other_order, other_ful = fulfil(ghl_sandbox, loc)
    assert other_ful != ful_id
    assert fulfillment_ids(ghl_sandbox, loc, order_id) == [ful_id]
    assert other_ful in fulfillment_ids(ghl_sandbox, loc, other_order)


def test_reset_after_importing_another_seed_reseeds_that_seed(ghl_sandbox: SandboxClient) -> None:
    try:
        ghl_sandbox.reset(seed=7)
        seven = ghl_sandbox.http.get("/_sandbox/state").content
        seven_locations = ghl_sandbox.http.get("/_sandbox/locations").content
        ghl_sandbox.reset(seed=42)
        assert ghl_sandbox.http.get("/_sandbox/locations").content != seven_locations
        assert ghl_sandbox.http.put("/_sandbox/state", content=seven).status_code == 200
        assert ghl_sandbox.http.get("/_sandbox/health").json()["seed"] == 7
        loc = first(ghl_sandbox.location(0))
        fulfil(ghl_sandbox, loc)
        # A plain reset now goes back to the seeded world of seed 7, not to the startup snapshot.
        assert ghl_sandbox.reset()["seed"] == 7
        assert ghl_sandbox.http.get("/_sandbox/locations").content == seven_locations
    finally:
        ghl_sandbox.reset(seed=42)


def _bad_states(good: dict[str, Any]) -> list[tuple[Any, str]]:
    row = good["tables"]["orders"][0]
    doc = {"format": "ghl-sandbox-state", "version": 1}
    return [
        ({}, "format"),
        ({"format": "something-else", "version": 1, "tables": {}}, "format"),
        ({"format": "ghl-sandbox-state", "version": 99, "tables": {}}, "version"),
        (doc, "tables"),
        ({**doc, "tables": []}, "tables"),
        ({**doc, "tables": {"no_such_table": []}}, "no_such_table"),
        ({**doc, "tables": {"orders": {}}}, "orders"),
        ({**doc, "tables": {"orders": [42]}}, "orders[0]"),
        ({**doc, "tables": {"orders": [{"id": "x"}]}}, "orders[0]"),
        ({**doc, "tables": {"orders": [{**row, "unknown_field": 1}]}}, "unknown_field"),
        ({**doc, "tables": {"orders": [{**row, "source": 7}]}}, "source"),
        ({**doc, "tables": {"orders": [{**row, "created_at": "yesterday"}]}}, "created_at"),
        ({**doc, "tables": {"orders": [{**row, "id": 12}]}}, "id"),
        ({**doc, "tables": {}, "meta": []}, "meta"),
        ({**doc, "tables": {}, "meta": {"seed": "abc"}}, "seed"),
    ]


def test_bad_state_bodies_are_422_and_change_nothing(ghl_sandbox: SandboxClient, two: list[dict[str, Any]]) -> None:
    loc = two[0]
    good = ghl_sandbox.http.get("/_sandbox/state").json()
    order_id, ful_id = fulfil(ghl_sandbox, loc)
    for body, fragment in _bad_states(good):
        r = ghl_sandbox.http.put("/_sandbox/state", content=orjson.dumps(body))
        assert r.status_code == 422, (body if len(str(body)) < 300 else fragment, r.status_code, r.text)
        message = r.json()["message"]
        assert isinstance(message, list) and message
        assert fragment in " ".join(message), (fragment, message)
    for raw in (b"{not json", b"[]", b"\"state\""):
        r = ghl_sandbox.http.put("/_sandbox/state", content=raw)
        assert r.status_code in (400, 422), (raw, r.status_code, r.text)
        assert r.json()["message"]
    # Nothing was replaced, not even partly.
    assert len(ghl_sandbox.locations()) == 2
    assert fulfillment_ids(ghl_sandbox, loc, order_id) == [ful_id]
    assert orders(ghl_sandbox, loc).status_code == 200


# ---- journal --------------------------------------------------------------------------------------


def test_journal_records_api_requests_without_secrets(ghl_sandbox: SandboxClient, two: list[dict[str, Any]]) -> None:
    loc = two[0]
    token_id = ghl_sandbox.locations()[0]["tokens"][0]["tokenId"]
    bogus = "Bogus-Bearer-Secret-123456789"
    t0 = time.time()
    assert orders(ghl_sandbox, loc, limit=3).status_code == 200
    assert ghl_sandbox.api("GET", f"{ORDERS}/ffffffffffffffffffffffff", loc["token"],
                           params={"altId": loc["id"], "altType": "location"}).status_code in (400, 404)
    assert orders(ghl_sandbox, loc, token=bogus).status_code == 401
    order_id, _ = fulfil(ghl_sandbox, loc)
    ghl_sandbox.http.get("/_sandbox/health")  # control-plane calls are not journaled

    r = ghl_sandbox.http.get("/_sandbox/journal")
    assert r.status_code == 200
    raw = r.text
    journal = r.json()
    entries = journal["entries"]
    assert journal["total"] == len(entries)
    assert journal["dropped"] == 0
    assert all(e["path"].startswith("/payments") for e in entries)
    for e in entries:
        assert {"id", "time", "method", "path", "query", "status", "latencyMs", "tokenId"} <= set(e)
        assert isinstance(e["latencyMs"], (int, float)) and e["latencyMs"] >= 0
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)

    listed = entries[0]
    assert (listed["method"], listed["path"], listed["status"]) == ("GET", ORDERS, 200)
    assert "limit=3" in listed["query"] and f"altId={loc['id']}" in listed["query"]
    assert listed["tokenId"] == token_id
    assert abs(_epoch(listed["time"]) - t0) < 60
    assert entries[2]["status"] == 401 and entries[2]["tokenId"] is None
    posts = [e for e in entries if e["method"] == "POST"]
    assert [(e["path"], e["status"]) for e in posts] == [(f"{ORDERS}/{order_id}/fulfillments", 200)]

    secrets = [v["tokens"][i]["token"] for v in ghl_sandbox.locations() for i in range(len(v["tokens"]))]
    for secret in [*secrets, bogus]:
        assert secret not in raw


def _epoch(iso: str) -> float:
    from mock_server.clock import parse_iso

    return parse_iso(iso)


def test_journal_filters_and_clear(ghl_sandbox: SandboxClient, two: list[dict[str, Any]]) -> None:
    loc = two[0]
    for _ in range(3):
        orders(ghl_sandbox, loc, limit=1)
    order_id, _ = fulfil(ghl_sandbox, loc)
    ghl_sandbox.api("GET", "/payments/transactions", loc["token"], params={"altId": loc["id"], "altType": "location"})
    everything = ghl_sandbox.journal()
    assert len(everything) >= 7

    posts = ghl_sandbox.journal(method="post")
    assert [e["path"] for e in posts] == [f"{ORDERS}/{order_id}/fulfillments"]
    txns = ghl_sandbox.journal(path="/payments/transactions")
    assert len(txns) == 1 and txns[0]["path"] == "/payments/transactions"
    by_order = ghl_sandbox.journal(path=f"{ORDERS}/{order_id}")
    assert by_order and all(e["path"].startswith(f"{ORDERS}/{order_id}") for e in by_order)
    assert len(by_order) < len(ghl_sandbox.journal(path=ORDERS))
    get_posts = ghl_sandbox.journal(method="GET", path=f"{ORDERS}/{order_id}/fulfillments")
    assert all(e["method"] == "GET" for e in get_posts)

    pivot = everything[3]
    after_id = ghl_sandbox.journal(since=str(pivot["id"]))
    assert [e["id"] for e in after_id] == [e["id"] for e in everything if e["id"] > pivot["id"]]
    after_iso = ghl_sandbox.journal(since=pivot["time"])
    assert {e["id"] for e in after_iso} >= {e["id"] for e in everything if e["id"] >= pivot["id"]}
    assert all(e["time"] >= pivot["time"] for e in after_iso)
    assert ghl_sandbox.journal(since="2000-01-01T00:00:00Z") == everything
    assert ghl_sandbox.journal(since="2999-01-01T00:00:00.000Z") == []
    assert ghl_sandbox.journal(limit=2) == everything[-2:]
    bad = ghl_sandbox.http.get("/_sandbox/journal", params={"since": "last tuesday"})
    assert bad.status_code == 422

    cleared = ghl_sandbox.http.delete("/_sandbox/journal")
    assert cleared.status_code == 200
    assert cleared.json()["cleared"] == len(everything)
    assert ghl_sandbox.journal() == []
    orders(ghl_sandbox, loc)
    assert len(ghl_sandbox.journal()) == 1


def test_journal_is_bounded() -> None:
    with SandboxProcess(["--journal-capacity", "50", "--rate-limit", "off", "--orders", "20"]) as proc:
        sb = proc.client()
        loc = first(sb.location(0))
        for i in range(120):
            r = sb.api("GET", ORDERS, loc["token"], params={"altId": loc["id"], "limit": 1, "offset": i % 5})
            assert r.status_code == 200
        journal = sb.control("GET", "/journal")
        assert journal["capacity"] == 50
        assert len(journal["entries"]) == 50 == journal["total"]
        assert journal["dropped"] == 70
        assert [e["id"] for e in journal["entries"]] == list(range(71, 121))
        sb.close()


# ---- admin token and rate-limit profiles (their own server) ---------------------------------------

ADMIN = "s3cret-admin-token"


@pytest.fixture(scope="module")
def admin_server() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--admin-token", ADMIN, "--orders", "20"]) as proc:
        yield proc


def test_admin_token_guards_the_control_plane_only(admin_server: SandboxProcess) -> None:
    anon = admin_server.client()
    try:
        for path in ("/_sandbox/health", "/_sandbox/locations", "/_sandbox/journal", "/_sandbox/state"):
            r = anon.http.get(path)
            assert r.status_code == 401, (path, r.text)
            assert r.json()["statusCode"] == 401
        assert anon.http.post("/_sandbox/reset", json={}).status_code == 401
        assert anon.http.get("/_sandbox/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert anon.http.get("/_sandbox/health", headers={"X-Sandbox-Admin-Token": "wrong"}).status_code == 401

        assert anon.http.get("/_sandbox/health", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
        assert anon.http.get("/_sandbox/health", headers={"X-Sandbox-Admin-Token": ADMIN}).status_code == 200
        admin = admin_server.client(admin_token=ADMIN)
        loc = first(admin.location(0))
        admin.close()

        # The GHL API takes its own bearer tokens, with or without the admin token around.
        r = anon.api("GET", ORDERS, loc["token"], params={"altId": loc["id"]})
        assert r.status_code == 200, r.text
        r = anon.api("GET", ORDERS, loc["token"], params={"altId": loc["id"]}, headers={"X-Sandbox-Admin-Token": ADMIN})
        assert r.status_code == 200
        assert anon.api("GET", ORDERS, ADMIN, params={"altId": loc["id"]}).status_code == 401
    finally:
        anon.close()


def test_ratelimit_profiles_switch(admin_server: SandboxProcess) -> None:
    sb = admin_server.client(admin_token=ADMIN)
    try:
        sb.reset()
        loc = first(sb.location(0))
        assert sb.control("GET", "/ratelimit")["profile"] == "default"
        r = sb.api("GET", ORDERS, loc["token"], params={"altId": loc["id"]})
        assert r.headers["x-ratelimit-max"] == "100"

        switched = sb.http.put("/_sandbox/ratelimit", json={"profile": "sandbox-account"})
        assert switched.status_code == 200
        assert switched.json()["profile"] == "sandbox-account" and switched.json()["burst"] == 25
        assert sb.control("GET", "/ratelimit")["profile"] == "sandbox-account"
        r = sb.api("GET", ORDERS, loc["token"], params={"altId": loc["id"]})
        assert r.headers["x-ratelimit-max"] == "25"
        assert r.headers["x-ratelimit-remaining"] == "24"
        assert r.headers["x-ratelimit-limit-daily"] == "10000"
        statuses = [sb.api("GET", ORDERS, loc["token"], params={"altId": loc["id"]}).status_code for _ in range(25)]
        assert statuses.count(429) == 1 and statuses[-1] == 429

        off = sb.http.put("/_sandbox/ratelimit", json={"profile": "off"})
        assert off.json()["enforced"] is False
        statuses = [sb.api("GET", ORDERS, loc["token"], params={"altId": loc["id"]}).status_code for _ in range(30)]
        assert set(statuses) == {200}

        bad = sb.http.put("/_sandbox/ratelimit", json={"profile": "unlimited"})
        assert bad.status_code == 422
        assert "sandbox-account" in bad.json()["message"][0]
        assert sb.control("GET", "/ratelimit")["profile"] == "off"
    finally:
        sb.http.put("/_sandbox/ratelimit", json={"profile": "default"})
        sb.close()
