"""GHL rate limits on real servers: `--rate-limit sandbox-account` (25 per 10 s), `default` (100 per
10 s) and `off`; headers on every API response, 429 past the burst, one bucket per (app, location)
where a private integration token counts as its own app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server.testing import SandboxClient, SandboxProcess

ORDERS = "/payments/orders"
HEADERS = ("x-ratelimit-limit-daily", "x-ratelimit-daily-remaining", "x-ratelimit-interval-milliseconds",
           "x-ratelimit-max", "x-ratelimit-remaining")


def _server(profile: str) -> Iterator[SandboxClient]:
    with SandboxProcess(["--rate-limit", profile, "--orders", "20"]) as proc:
        client = proc.client()
        yield client
        client.close()


@pytest.fixture(scope="module")
def sandbox_account() -> Iterator[SandboxClient]:
    yield from _server("sandbox-account")


@pytest.fixture(scope="module")
def default() -> Iterator[SandboxClient]:
    yield from _server("default")


@pytest.fixture(scope="module")
def off() -> Iterator[SandboxClient]:
    yield from _server("off")


def fresh(sb: SandboxClient) -> list[dict[str, Any]]:
    """Reset (which empties every bucket); each location's OAuth token and PIT."""
    sb.reset()
    out = []
    for view in sb.locations():
        by_type = {t["tokenType"]: t["token"] for t in reversed(view["tokens"]) if t["tokenClass"] == "location"}
        out.append({"id": view["locationId"], "token": view["tokens"][0]["token"], "pit": by_type["pit"]})
    return out


def hit(sb: SandboxClient, loc: dict[str, Any], token: str | None = None) -> httpx.Response:
    return sb.api("GET", ORDERS, token or loc["token"], params={"altId": loc["id"], "limit": 1})


def limits(r: httpx.Response) -> dict[str, int]:
    missing = [h for h in HEADERS if h not in r.headers]
    assert not missing, f"{r.request.method} {r.request.url.path} -> {r.status_code} lacks {missing}"
    return {h: int(r.headers[h]) for h in HEADERS}


def test_headers_on_every_api_response(sandbox_account: SandboxClient) -> None:
    a, b = fresh(sandbox_account)
    responses = [
        hit(sandbox_account, a),
        sandbox_account.api("GET", f"{ORDERS}/ffffffffffffffffffffffff", a["token"],
                            params={"altId": a["id"], "altType": "location"}),
        sandbox_account.api("GET", ORDERS, a["token"]),  # altId missing: 422
        hit(sandbox_account, b, token=a["token"]),  # another location: 403
        sandbox_account.api("GET", "/payments/transactions", a["pit"], params={"altId": a["id"], "altType": "location"}),
        sandbox_account.api("POST", f"{ORDERS}/ffffffffffffffffffffffff/fulfillments", a["token"], json={}),
    ]
    assert sorted({r.status_code for r in responses}) == [200, 400, 403, 422]
    for r in responses:
        got = limits(r)
        assert got["x-ratelimit-limit-daily"] == 10_000
        assert got["x-ratelimit-interval-milliseconds"] == 10_000
        assert got["x-ratelimit-max"] == 25
        assert 0 <= got["x-ratelimit-remaining"] < 25


def test_sandbox_account_burst_is_25(sandbox_account: SandboxClient) -> None:
    a, _ = fresh(sandbox_account)
    seen = [limits(hit(sandbox_account, a)) for _ in range(25)]
    assert [s["x-ratelimit-remaining"] for s in seen] == list(range(24, -1, -1))
    assert [s["x-ratelimit-daily-remaining"] for s in seen] == list(range(9_999, 9_974, -1))

    r = hit(sandbox_account, a)
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["statusCode"] == 429
    assert body["message"] and body["error"] == "Too Many Requests"
    assert body["traceId"]
    got = limits(r)
    assert got["x-ratelimit-remaining"] == 0
    assert got["x-ratelimit-max"] == 25
    assert got["x-ratelimit-daily-remaining"] == 9_975, "a refused request does not count against the day"
    assert hit(sandbox_account, a).status_code == 429
    assert [e["status"] for e in sandbox_account.journal(limit=2)] == [429, 429]

    # A reset empties the buckets.
    fresh(sandbox_account)
    assert hit(sandbox_account, a).status_code == 200


def test_buckets_are_per_app_and_location(sandbox_account: SandboxClient) -> None:
    a, b = fresh(sandbox_account)
    for _ in range(25):
        assert hit(sandbox_account, a).status_code == 200
    assert hit(sandbox_account, a).status_code == 429

    # Location 2, same app: its own bucket.
    r = hit(sandbox_account, b)
    assert r.status_code == 200 and limits(r)["x-ratelimit-remaining"] == 24
    # A private integration token of location 1 counts as its own app.
    r = hit(sandbox_account, a, token=a["pit"])
    assert r.status_code == 200 and limits(r)["x-ratelimit-remaining"] == 24
    minted_pit = sandbox_account.token(a["id"], tokenType="pit")["token"]
    r = hit(sandbox_account, a, token=minted_pit)
    assert r.status_code == 200 and limits(r)["x-ratelimit-remaining"] == 24
    # Another OAuth token of the same app and location shares the exhausted bucket.
    minted_oauth = sandbox_account.token(a["id"])["token"]
    assert hit(sandbox_account, a, token=minted_oauth).status_code == 429
    app = sandbox_account.control("GET", "/apps")[0]
    grant = sandbox_account.http.post("/oauth/token", data={
        "client_id": app["clientId"], "client_secret": app["clientSecret"], "grant_type": "client_credentials",
        "location_id": a["id"]})
    assert grant.status_code == 200, grant.text
    assert hit(sandbox_account, a, token=grant.json()["access_token"]).status_code == 429
    # The control plane is never rate limited.
    assert all(sandbox_account.http.get("/_sandbox/health").status_code == 200 for _ in range(30))


def test_default_burst_is_100(default: SandboxClient) -> None:
    a, b = fresh(default)
    seen = [hit(default, a) for _ in range(100)]
    assert {r.status_code for r in seen} == {200}
    first, last = limits(seen[0]), limits(seen[-1])
    assert first["x-ratelimit-max"] == 100 and first["x-ratelimit-limit-daily"] == 200_000
    assert first["x-ratelimit-remaining"] == 99 and last["x-ratelimit-remaining"] == 0
    assert last["x-ratelimit-daily-remaining"] == 199_900
    r = hit(default, a)
    assert r.status_code == 429
    assert r.json()["statusCode"] == 429
    assert limits(r)["x-ratelimit-remaining"] == 0
    assert hit(default, b).status_code == 200
    assert hit(default, a, token=a["pit"]).status_code == 200


def test_off_never_limits(off: SandboxClient) -> None:
    a, _ = fresh(off)
    statuses = set()
    for _ in range(130):
        r = hit(off, a)
        statuses.add(r.status_code)
        limits(r)  # headers are still sent
    assert statuses == {200}
    assert off.control("GET", "/ratelimit")["enforced"] is False
