"""A list query is validated once per query and location (`_list_query` in
mock_server/ghl/responses/payments.py): what is kept must never answer another location's token, never
turn a refused query into an accepted one, never hold the data, and never grow past its bounds."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import (
    ORDERS,
    SUBSCRIPTIONS,
    TRANSACTIONS,
    assert_ghl_error,
    get,
    listing,
    params_for,
    second_location,
)
from starlette.requests import Request

from mock_server.ghl.models import Token
from mock_server.ghl.payments import ListFilter
from mock_server.ghl.responses import payments as handlers
from mock_server.ghl.responses.params import Validator
from mock_server.testing import SandboxClient

# Every GET renders (no whole-response cache), so each read below goes through the kept validation.
pytestmark = pytest.mark.ghl_sandbox(serve_args=["--no-response-cache"])
NO_ACCESS = "The token does not have access to this location."


@pytest.mark.parametrize("path", [ORDERS, TRANSACTIONS, SUBSCRIPTIONS])
def test_the_same_query_from_another_locations_token_is_refused(ghl_sandbox: SandboxClient, loc: dict[str, Any],
                                                                path: str) -> None:
    other = second_location(ghl_sandbox)
    params = {**params_for(path, loc), "limit": 3}  # altId: the first location
    for _ in range(2):  # kept after the first answer: still each token's own
        assert ghl_sandbox.api("GET", path, loc["token"], params=params).status_code == 200
        assert_ghl_error(ghl_sandbox.api("GET", path, other["token"], params=params), 403, NO_ACCESS)
    mine = {**params_for(path, other), "limit": 3}
    assert ghl_sandbox.api("GET", path, other["token"], params=mine).status_code == 200
    assert_ghl_error(ghl_sandbox.api("GET", path, loc["token"], params=mine), 403, NO_ACCESS)


def test_a_refused_query_is_refused_every_time(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    for _ in range(3):
        assert_ghl_error(get(ghl_sandbox, loc, ORDERS, limit="x"), 422,
                         "limit must be a number conforming to the specified constraints")
    assert get(ghl_sandbox, loc, ORDERS, limit="2").status_code == 200


def test_the_same_query_reads_the_data_afresh(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    first, before = listing(ghl_sandbox, loc, ORDERS, limit=5)
    answer = ghl_sandbox.simulate("order.create", locationId=loc["id"])
    created = next(r["id"] for r in answer["resources"] if r["type"] == "order")
    data, after = listing(ghl_sandbox, loc, ORDERS, limit=5)
    assert after == before + 1
    assert data[0]["_id"] == created and [r["_id"] for r in data[1:]] == [r["_id"] for r in first[:4]]


# ---- the memo itself, in process ------------------------------------------------------------------------


def _request(query: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": ORDERS, "query_string": query, "headers": []})


def _token(location_id: str) -> Token:
    return Token(id="t", secret="s", location_id=location_id, company_id="c", app_id="a", token_class="location",
                 token_type="oauth", scopes=[], created_at=0.0)


def test_the_kept_queries_are_bounded_and_long_ones_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "_list_queries", {})
    parsed: list[str] = []

    def parse(v: Validator, token: Token) -> handlers.ListQuery:
        parsed.append(str(v.string("altId")))
        return handlers.ListQuery(10, 0, ListFilter(location_id=token.location_id))

    token = _token("loc")
    assert handlers._list_query(_request(b"altId=loc"), token, parse) is handlers._list_query(
        _request(b"altId=loc"), token, parse)
    assert parsed == ["loc"]  # validated once
    handlers._list_query(_request(b"altId=loc"), _token("other"), parse)
    assert len(parsed) == 2  # another location: validated again
    for i in range(handlers.LIST_QUERIES_MAX + 5):
        handlers._list_query(_request(b"altId=loc&offset=%d" % i), token, parse)
        assert len(handlers._list_queries) <= handlers.LIST_QUERIES_MAX
    long = b"altId=loc&search=" + b"x" * handlers.LIST_QUERY_MAX_BYTES
    before = len(parsed)
    handlers._list_query(_request(long), token, parse)
    handlers._list_query(_request(long), token, parse)
    assert len(parsed) == before + 2 and all(len(k[1]) <= handlers.LIST_QUERY_MAX_BYTES for k in handlers._list_queries)
