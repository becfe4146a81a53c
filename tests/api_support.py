"""Helpers shared by the API behaviour tests (test_api_*.py, test_sdk.py): real HTTP against the
`ghl_sandbox` server, GHL-format regexes and a few assertions."""

from __future__ import annotations

import re
from typing import Any

import httpx

from mock_server.testing import SandboxClient

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
SHORT_ID = re.compile(r"^[A-Za-z0-9]{20}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

ORDERS = "/payments/orders"
TRANSACTIONS = "/payments/transactions"
SUBSCRIPTIONS = "/payments/subscriptions"
WHITELABEL = "/payments/integrations/provider/whitelabel"

# Lists whose query demands altType=location (orders accepts but no longer requires it).
ALT_TYPE_REQUIRED = (TRANSACTIONS, SUBSCRIPTIONS, WHITELABEL)

# The keys of a GHL 422 body, in the order the live API sends them (reference §1.4).
UNPROCESSABLE_KEYS = ["status", "options", "message", "name", "error", "statusCode", "traceId"]

EVERYTHING = 100_000  # a page size larger than any seeded list


def params_for(path: str, loc: dict[str, Any], **params: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"altId": loc["id"]}
    if path.startswith(ALT_TYPE_REQUIRED) or path.rstrip("/").count("/") > 2:
        out["altType"] = "location"
    out.update({k: v for k, v in params.items() if v is not None})
    return out


def get(sb: SandboxClient, loc: dict[str, Any], path: str, **params: Any) -> httpx.Response:
    """GET with the location's token, its altId (and altType where the endpoint demands it)."""
    return sb.api("GET", path, loc["token"], params=params_for(path, loc, **params))


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, f"{r.request.method} {r.request.url} -> {r.status_code} {r.text[:500]}"
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def listing(sb: SandboxClient, loc: dict[str, Any], path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """One page: (data, totalCount)."""
    body = ok(get(sb, loc, path, **params))
    assert set(body) == {"data", "totalCount"}
    assert isinstance(body["totalCount"], int)
    return body["data"], body["totalCount"]


def everything(sb: SandboxClient, loc: dict[str, Any], path: str, **params: Any) -> list[dict[str, Any]]:
    """The whole filtered list in one page; asserts totalCount agrees with it."""
    rows, total = listing(sb, loc, path, limit=EVERYTHING, **params)
    assert total == len(rows)
    return rows


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["_id"] for r in rows]


def assert_newest_first(rows: list[dict[str, Any]]) -> None:
    stamps = [r["createdAt"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


def page_through(sb: SandboxClient, loc: dict[str, Any], path: str, size: int, **params: Any) -> list[str]:
    """Every id by walking offset/limit; each page reports the same totalCount as the walk yields."""
    seen: list[str] = []
    totals = set()
    offset = 0
    while True:
        rows, total = listing(sb, loc, path, limit=size, offset=offset, **params)
        totals.add(total)
        assert len(rows) <= size
        seen += ids(rows)
        if len(rows) < size:
            break
        offset += size
    assert totals == {len(seen)}, (totals, len(seen))
    return seen


def assert_ghl_error(r: httpx.Response, status: int, message: str | None = None) -> dict[str, Any]:
    """A GHL-shaped error: {statusCode, message, error, traceId} with the given status (and message,
    which for 422 must be one of the listed sentences). A 422 of the GHL API is the live API's NestJS
    serialisation, key for key in its order: {status, options, message, name, error, statusCode, traceId}."""
    assert r.status_code == status, f"{r.request.method} {r.request.url} -> {r.status_code} {r.text[:500]}"
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    if status == 422 and not r.request.url.path.startswith("/_sandbox"):  # the control plane keeps its own
        assert list(body) == UNPROCESSABLE_KEYS, body
        assert (body["status"], body["options"], body["name"]) == (422, {}, "UnprocessableEntityException"), body
    else:
        assert set(body) == {"statusCode", "message", "error", "traceId"}, body
    assert body["statusCode"] == status
    assert isinstance(body["error"], str) and body["error"]
    assert UUID.match(body["traceId"]), body["traceId"]
    if status == 422:
        assert isinstance(body["message"], list) and all(isinstance(m, str) for m in body["message"])
        if message is not None:
            assert message in body["message"], body["message"]
    else:
        assert isinstance(body["message"], str)
        if message is not None:
            assert body["message"] == message, body["message"]
    return body


def second_location(sb: SandboxClient) -> dict[str, Any]:
    location = sb.location(1)
    return {"id": location["locationId"], "token": location["tokens"][0]["token"], "view": location}


def token_of(loc: dict[str, Any], token_type: str, token_class: str = "location") -> str:
    for t in loc["view"]["tokens"]:
        if t["tokenType"] == token_type and t["tokenClass"] == token_class:
            return t["token"]
    raise AssertionError(f"no {token_class} {token_type} token on {loc['id']}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
