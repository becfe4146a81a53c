"""Small helpers shared by the control-plane handler modules."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from mock_server.errors import Invalid
from mock_server.http.bodies import json_object
from mock_server.http.context import runtime_of

if TYPE_CHECKING:
    from mock_server.runtime import Runtime


def sandbox(request: Request) -> Runtime:
    return runtime_of(request)


async def body(request: Request) -> dict[str, Any]:
    """The JSON object the request carries (`{}` for an empty body); 400 when it is not one. The contract's
    schema is checked by control/validation.py `validated_body`."""
    return await json_object(request, "Malformed JSON")


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_TEXT = re.compile(r"[ \t]*([0-9]+(?:\.[0-9]+)?)[ \t]*([smhdwSMHDW]?)[ \t]*")
# One move of the clock is at most a century: timestamps must stay printable dates (1e300 s overflowed).
MAX_DURATION = 100 * 365.25 * 86400


def duration(value: float | str, name: str = "advance") -> float:
    """Seconds from a value the contract's `Duration` admitted: a number, or a string like `90`, `30s`,
    `15m`, `2h`, `30d`, `1w`. A string may still name more than 100 years, which the pattern cannot say."""
    if isinstance(value, str):
        found = DURATION_TEXT.fullmatch(value)
        if found is None:  # the pattern lets a trailing newline through (`$`); fullmatch does not
            raise Invalid(f"{name} must be seconds or a duration like 30d")
        seconds = float(found[1]) * DURATION_UNITS[(found[2] or "s").lower()]
    else:
        seconds = float(value)
    if seconds > MAX_DURATION:
        raise Invalid(f"{name} must be at most 100 years")
    return seconds
