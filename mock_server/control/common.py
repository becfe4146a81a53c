"""Small helpers shared by the control-plane handler modules."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
from starlette.requests import Request

from mock_server.http.context import runtime_of
from mock_server.http.errors import ApiError, bad_request
from mock_server.runtime import Runtime


def sandbox(request: Request) -> Runtime:
    return runtime_of(request)


async def body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"Malformed JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object")
    return data


def invalid(message: str) -> ApiError:
    return ApiError(422, [message], "Unprocessable Entity")


def not_found(message: str) -> ApiError:
    return ApiError(404, message, "Not Found")


def number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    # A JSON number only: float() would also take "5", "nan" and "inf" (a NaN amount got stored).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(f"{name} must be a number")
    return float(value)


def string(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid(f"{name} must be a non-empty string")
    return value


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_TEXT = re.compile(r"[ \t]*([0-9]+(?:\.[0-9]+)?)[ \t]*([smhdwSMHDW]?)[ \t]*")
# One move of the clock is at most a century: timestamps must stay printable dates (1e300 s overflowed).
MAX_DURATION = 100 * 365.25 * 86400


def duration(value: Any, name: str = "advance") -> float:
    """Seconds as a number, or a string like `90`, `30s`, `15m`, `2h`, `30d`, `1w`; at most 100 years."""
    if isinstance(value, bool):
        raise invalid(f"{name} must be seconds or a duration like 30d")
    if isinstance(value, (int, float)):
        seconds = float(value)
        if seconds < 0 or not math.isfinite(seconds):
            raise invalid(f"{name} must be a non-negative duration (the clock only moves forward)")
    elif isinstance(value, str) and value.strip():
        found = DURATION_TEXT.fullmatch(value)
        if found is None:
            if value.strip().startswith("-"):
                raise invalid(f"{name} must be a non-negative duration (the clock only moves forward)")
            raise invalid(f"{name} must be seconds or a duration like 30d")
        seconds = float(found[1]) * DURATION_UNITS[(found[2] or "s").lower()]
    else:
        raise invalid(f"{name} must be seconds or a duration like 30d")
    if seconds > MAX_DURATION:
        raise invalid(f"{name} must be at most 100 years")
    return seconds
