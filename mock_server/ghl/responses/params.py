"""Query and body validation with class-validator style messages, as GHL's NestJS services answer.

Numbers are parsed leniently (`20.0` is 20), as the official Python SDK sends whatever type it is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from mock_server.clock import parse_iso
from mock_server.http.errors import unprocessable


class Validator:
    """Collects every problem in a request, then raises one 422 listing them all."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        # A plain dict (the same last-one-wins values as Starlette's QueryParams): its `get` of an absent
        # name is a lookup, where a Mapping's raises and catches a KeyError (most names are absent).
        self.source = source if type(source) is dict else dict(source.items())
        self.errors: list[str] = []

    def done(self) -> None:
        if self.errors:
            raise unprocessable(self.errors)

    def string(self, name: str, required: bool = False, max_length: int = 1000) -> str | None:
        value = self.source.get(name)
        if value is None or value == "":
            if required:
                self.errors += [f"{name} should not be empty", f"{name} must be a string"]
            return None
        if not isinstance(value, str):
            self.errors.append(f"{name} must be a string")
            return None
        if len(value) > max_length:
            self.errors.append(f"{name} must be shorter than or equal to {max_length} characters")
            return None
        return value

    def enum(self, name: str, allowed: tuple[str, ...], required: bool = False) -> str | None:
        value = self.source.get(name)
        if value is None or value == "":
            if required:
                self.errors += [f"{name} should not be empty",
                                f"{name} must be one of the following values: {', '.join(allowed)}"]
            return None
        if value not in allowed:
            self.errors.append(f"{name} must be one of the following values: {', '.join(allowed)}")
            return None
        return str(value)

    def number(self, name: str, default: float | None = None, minimum: float | None = None,
               maximum: float | None = None, integer: bool = False) -> float | None:
        raw = self.source.get(name)
        if raw is None:
            return default
        value: float | None
        if isinstance(raw, bool):
            value = None
        elif isinstance(raw, (int, float)):
            value = float(raw)
        else:
            try:
                value = float(str(raw).strip())
            except ValueError:
                value = None
        if value is None or math.isnan(value) or math.isinf(value):
            self.errors.append(f"{name} must be a number conforming to the specified constraints")
            return None
        if integer and value != int(value):
            self.errors.append(f"{name} must be an integer number")
            return None
        if minimum is not None and value < minimum:
            self.errors.append(f"{name} must not be less than {minimum:g}")
            return None
        if maximum is not None and value > maximum:
            self.errors.append(f"{name} must not be greater than {maximum:.0f}")
            return None
        return value

    def boolean(self, name: str, required: bool = False) -> bool | None:
        raw = self.source.get(name)
        if raw is None or raw == "":
            if required:
                self.errors += [f"{name} should not be empty", f"{name} must be a boolean value"]
            return None
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        self.errors.append(f"{name} must be a boolean value")
        return None

    def date(self, name: str, end_of_day: bool = False) -> float | None:
        raw = self.string(name)
        if raw is None:
            return None
        try:
            ts = parse_iso(raw)
        except ValueError:
            self.errors.append(f"{name} must be a valid ISO 8601 date string")
            return None
        if end_of_day and _plain_date(raw):
            ts += 86400 - 0.001  # a plain date as the end of a range includes that whole day
        return ts

    def array(self, name: str, required: bool = False) -> list[Any] | None:
        value = self.source.get(name)
        if value is None:
            if required:
                self.errors += [f"{name} should not be empty", f"{name} must be an array"]
            return None
        if not isinstance(value, list):
            self.errors.append(f"{name} must be an array")
            return None
        return value


def _plain_date(text: str) -> bool:
    """A calendar date without a time (`2024-02-13`, `20240213`, `2024-W07-2`)."""
    try:
        date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


# JavaScript's Number.MAX_SAFE_INTEGER: larger values cannot be paged (SQLite integers are 64-bit).
MAX_PAGING = 2**53 - 1


def paging(v: Validator, default_limit: int | None) -> tuple[int | None, int]:
    limit = v.number("limit", minimum=0, maximum=MAX_PAGING, integer=True)
    offset = v.number("offset", minimum=0, maximum=MAX_PAGING, integer=True)
    lim = int(limit) if limit is not None else default_limit
    return lim, int(offset) if offset is not None else 0
