"""Request bodies every service reads the same way: a JSON object, `{}` when the body is empty."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from mock_server.http.errors import bad_request


async def json_object(request: Request, malformed: str) -> dict[str, Any]:
    """The JSON object the request carries; 400 when it is not JSON (`<malformed>: <why> at position N`,
    each service words it as its real counterpart does) or not an object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"{malformed}: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object")
    return data
