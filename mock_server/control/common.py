"""Small helpers shared by the control-plane handler modules."""

from __future__ import annotations

import math
from typing import Any

import orjson
from starlette.requests import Request

from mock_server.api.errors import ApiError, bad_request


def sandbox(request: Request) -> Any:
    return request.app.state.sandbox


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


def duration(value: Any, name: str = "advance") -> float:
    """Seconds as a number, or a string like `90`, `30s`, `15m`, `2h`, `30d`, `1w`."""
    if isinstance(value, bool):
        raise invalid(f"{name} must be seconds or a duration like 30d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        unit = text[-1] if text[-1] in DURATION_UNITS else "s"
        digits = text[:-1] if text[-1] in DURATION_UNITS else text
        try:
            seconds = float(digits) * DURATION_UNITS[unit]
        except ValueError:
            raise invalid(f"{name} must be seconds or a duration like 30d") from None
    else:
        raise invalid(f"{name} must be seconds or a duration like 30d")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise invalid(f"{name} must be a non-negative duration (the clock only moves forward)")
    return seconds
