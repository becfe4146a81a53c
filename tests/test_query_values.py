"""`query_values` (mock_server/http/query.py) gives what Starlette's `request.query_params` gives, on any
query string: its split without parse_qsl is taken only when nothing needs decoding."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from mock_server.http.query import query_values


def _request(raw: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": raw, "headers": []})


QUERY_BYTES = st.lists(st.sampled_from([b"&", b"=", b"%", b"+", b"a", b"b", b"altId", b"%20", b"%zz", b"\xe9",
                                        b"\xff", b"; ", b"", b"limit", b"20"]), max_size=24).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(QUERY_BYTES)
def test_query_values_are_starlettes_on_any_query(raw: bytes) -> None:
    assert query_values(_request(raw)) == dict(_request(raw).query_params.items())


def test_the_usual_cases() -> None:
    assert query_values(_request(b"altId=loc&limit=20")) == {"altId": "loc", "limit": "20"}
    assert query_values(_request(b"a=1&a=2&&b&c=x=y")) == {"a": "2", "b": "", "c": "x=y"}  # the last one wins
    assert query_values(_request(b"search=John+Doe%21")) == {"search": "John Doe!"}
    assert query_values(_request(b"")) == {}
