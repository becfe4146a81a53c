"""One `--seed` gives the same world byte for byte: two servers, the same requests, the same bytes;
another seed gives other ids; `--orders` scales the first location; `POST /_sandbox/reset {seed}`
equals a fresh server started with that seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mock_server.testing import SandboxClient, SandboxProcess

SEED = "1234"
OTHER_SEED = "99"


def _client(args: list[str]) -> Iterator[SandboxClient]:
    with SandboxProcess(["--rate-limit", "off", *args]) as proc:
        client = proc.client()
        yield client
        client.close()


@pytest.fixture(scope="module")
def server_a() -> Iterator[SandboxClient]:
    yield from _client(["--seed", SEED])


@pytest.fixture(scope="module")
def server_b() -> Iterator[SandboxClient]:
    yield from _client(["--seed", SEED])


@pytest.fixture(scope="module")
def server_c() -> Iterator[SandboxClient]:
    yield from _client(["--seed", OTHER_SEED])


def sequence(sb: SandboxClient) -> list[tuple[str, int, bytes]]:
    """A fixed sequence of requests, each answer's (label, status, body bytes). Later requests use ids
    read from earlier answers, so two servers agree only if every id agrees."""
    out: list[tuple[str, int, bytes]] = []

    def record(label: str, r: Any) -> Any:
        out.append((label, r.status_code, r.content))
        assert r.status_code < 500, (label, r.text)
        return r.json()

    views = record("locations", sb.http.get("/_sandbox/locations"))
    loc = {"id": views[0]["locationId"], "token": views[0]["tokens"][0]["token"]}
    second = {"id": views[1]["locationId"], "token": views[1]["tokens"][0]["token"]}

    def get(label: str, path: str, who: dict[str, Any] = loc, **params: Any) -> Any:
        return record(label, sb.api("GET", path, who["token"], params={"altId": who["id"], **params}))

    orders = get("orders page 1", "/payments/orders", limit=25)
    get("orders page 3", "/payments/orders", limit=25, offset=50)
    get("orders paid", "/payments/orders", paymentStatus="paid", limit=15)
    get("orders completed live", "/payments/orders", status="completed", paymentMode="live", limit=15)
    get("orders dated", "/payments/orders", startAt="2026-07-01", endAt="2026-08-31", limit=100)
    get("orders contact", "/payments/orders", contactId=orders["data"][0]["contactId"])
    get("orders search", "/payments/orders", search=orders["data"][1]["contactName"].split()[0])
    get("orders location 2", "/payments/orders", who=second, limit=100)
    for o in orders["data"][:6]:
        get(f"order {o['_id']}", f"/payments/orders/{o['_id']}", altType="location")
        get(f"fulfillments {o['_id']}", f"/payments/orders/{o['_id']}/fulfillments", altType="location")
    fulfilled = get("orders fulfilled", "/payments/orders", limit=5, paymentStatus="paid")["data"]
    for o in fulfilled:
        get(f"fulfillments {o['_id']}", f"/payments/orders/{o['_id']}/fulfillments", altType="location")

    txns = get("transactions", "/payments/transactions", altType="location", limit=30)
    get("transactions filtered", "/payments/transactions", altType="location", entitySourceType="funnel",
        paymentMode="live", limit=30)
    for t in txns["data"][:5]:
        get(f"transaction {t['_id']}", f"/payments/transactions/{t['_id']}", altType="location")
    subs = get("subscriptions", "/payments/subscriptions", altType="location", limit=20,
               getPaymentsCollectedCount="true")
    get("subscriptions page 2", "/payments/subscriptions", altType="location", limit=20, offset=20)
    for s in subs["data"][:5]:
        get(f"subscription {s['_id']}", f"/payments/subscriptions/{s['_id']}", altType="location")
    get("whitelabel", "/payments/integrations/provider/whitelabel", altType="location")
    get("whitelabel 2", "/payments/integrations/provider/whitelabel", who=second, altType="location")
    # Errors carry a traceId, itself drawn from the seed.
    get("unknown order", "/payments/orders/ffffffffffffffffffffffff", altType="location")
    # Run-time ids (tokens minted now) follow the seed too.
    record("token", sb.http.post("/_sandbox/tokens", json={"locationId": loc["id"], "scopes": ["payments/orders.readonly"]}))
    record("pit", sb.http.post("/_sandbox/tokens", json={"locationId": second["id"], "tokenType": "pit"}))
    record("locations again", sb.http.get("/_sandbox/locations"))
    return out


@pytest.fixture(scope="module")
def baseline(server_a: SandboxClient) -> list[tuple[str, int, bytes]]:
    return sequence(server_a)


def assert_same(got: list[tuple[str, int, bytes]], want: list[tuple[str, int, bytes]]) -> None:
    assert [label for label, _, _ in got] == [label for label, _, _ in want]
    for (label, status, body), (_, want_status, want_body) in zip(got, want, strict=True):
        assert (status, body) == (want_status, want_body), f"{label} differs"


def test_same_seed_same_bytes(baseline: list[tuple[str, int, bytes]], server_b: SandboxClient) -> None:
    assert len(baseline) > 40
    assert {status for _, status, _ in baseline} == {200, 201, 400}
    assert_same(sequence(server_b), baseline)


def test_other_seed_other_ids(baseline: list[tuple[str, int, bytes]], server_c: SandboxClient) -> None:
    import orjson

    mine = server_c.locations()
    theirs = orjson.loads(baseline[0][2])
    assert {v["locationId"] for v in mine}.isdisjoint({v["locationId"] for v in theirs})
    assert {t["token"] for v in mine for t in v["tokens"]}.isdisjoint({t["token"] for v in theirs for t in v["tokens"]})
    loc = {"id": mine[0]["locationId"], "token": mine[0]["tokens"][0]["token"]}
    ids = {o["_id"] for o in server_c.api("GET", "/payments/orders", loc["token"],
                                          params={"altId": loc["id"], "limit": 25}).json()["data"]}
    theirs_orders = {o["_id"] for o in orjson.loads(baseline[1][2])["data"]}
    assert len(ids) == 25 and ids.isdisjoint(theirs_orders)


def test_reset_to_a_seed_equals_a_fresh_server(baseline: list[tuple[str, int, bytes]], server_c: SandboxClient) -> None:
    r = server_c.http.post("/_sandbox/reset", json={"seed": int(SEED)})
    assert r.status_code == 200, r.text
    assert r.json()["seed"] == int(SEED)
    # Nothing in between: trace ids (in error bodies) are drawn per request from the seed too.
    assert_same(sequence(server_c), baseline)
    assert server_c.http.get("/_sandbox/health").json()["seed"] == int(SEED)
    # And back: the other seed's world again.
    server_c.reset(seed=int(OTHER_SEED))
    assert server_c.location(0)["locationId"] not in baseline[0][2].decode()


def test_orders_option_scales_the_first_location() -> None:
    for client in _client(["--seed", SEED, "--orders", "30"]):
        first, second = client.locations()
        assert first["orders"] == 30
        for view, expected in ((first, 30), (second, 30)):
            r = client.api("GET", "/payments/orders", view["tokens"][0]["token"],
                           params={"altId": view["locationId"], "limit": 1})
            assert r.json()["totalCount"] == expected
        health = client.http.get("/_sandbox/health").json()
        assert health["seed"] == int(SEED)


def test_default_order_count(server_a: SandboxClient) -> None:
    first, second = server_a.locations()
    totals = [server_a.api("GET", "/payments/orders", v["tokens"][0]["token"],
                           params={"altId": v["locationId"], "limit": 1}).json()["totalCount"] for v in (first, second)]
    assert totals == [260, 40]
