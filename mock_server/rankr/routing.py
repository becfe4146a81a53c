"""Routing on the fake Rankr, HTTP-free and store-free: providers' days, windows and availability on the
sandbox clock, and the semantic checks of a provider set the contract's schema cannot express.

"Today" for a provider is its timezone's calendar day at the sandbox clock's now; a window
`{"days": ["mon", ...], "from": "08:00", "to": "18:00"}` holds from `from` (included) to `to`
(excluded) on those days, in the provider's timezone; no window at all means always.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mock_server.rankr.models import RankrProvider

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@functools.lru_cache(maxsize=256)
def zone(name: str) -> tzinfo | None:
    """The time zone of an IANA name (`UTC` included), or None when there is no such zone."""
    if name == "UTC":
        return timezone.utc
    if not name or name.startswith(("/", ".")) or ".." in name or "\\" in name or "\0" in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local(ts: float, tz_name: str) -> datetime:
    return datetime.fromtimestamp(ts, tz=zone(tz_name) or timezone.utc)


def day_of(ts: float, tz_name: str) -> str:
    """The provider-timezone calendar day of an instant, `YYYY-MM-DD`."""
    return local(ts, tz_name).date().isoformat()


def minutes(hhmm: str) -> int:
    hours, _, mins = hhmm.partition(":")
    return int(hours) * 60 + int(mins)


def in_windows(windows: list[dict[str, Any]], ts: float, tz_name: str) -> bool:
    if not windows:
        return True
    at = local(ts, tz_name)
    day, now = DAYS[at.weekday()], at.hour * 60 + at.minute
    return any(day in w["days"] and minutes(w["from"]) <= now < minutes(w["to"]) for w in windows)


def available_now(provider: RankrProvider, now: float) -> bool:
    return provider.available and in_windows(provider.availability, now, provider.timezone)


@dataclass(frozen=True)
class ProviderSpec:
    """One provider of a `PUT /_sandbox/rankr/providers` body, after the schema and `problems` passed."""

    provider_id: str
    name: str
    service_areas: list[dict[str, Any]]
    daily_capacity: int
    availability: list[dict[str, Any]]
    timezone: str
    available: bool


def problems(providers: list[dict[str, Any]]) -> list[str]:
    """What the schema cannot say: a known time zone, windows that end after they start, unique ids."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, p in enumerate(providers):
        pid = p["providerId"]
        if pid in seen:
            out.append(f"providers.{i}.providerId {pid} is already used by providers.{seen[pid]}")
        seen.setdefault(pid, i)
        tz = p.get("timezone")
        if tz is not None and zone(tz) is None:
            out.append(f"providers.{i}.timezone must be an IANA time zone such as America/New_York or UTC")
        for j, w in enumerate(p.get("availability") or []):
            if minutes(w["to"]) <= minutes(w["from"]):
                out.append(f"providers.{i}.availability.{j}.to must be later than from ({w['from']})")
    return out


def specs(providers: list[dict[str, Any]]) -> list[ProviderSpec]:
    """The providers of a checked body, defaults filled in (areas and windows keep only their own fields)."""
    def area(a: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"country": a["country"]}
        if a.get("state") is not None:
            out["state"] = a["state"]
        out["postalCodePrefixes"] = list(a.get("postalCodePrefixes") or [])
        return out

    def window(w: dict[str, Any]) -> dict[str, Any]:
        days = [d for d in DAYS if d in w["days"]]  # week order, no repeats
        return {"days": days, "from": w["from"], "to": w["to"]}

    return [ProviderSpec(provider_id=p["providerId"], name=p.get("name") or p["providerId"],
                         service_areas=[area(a) for a in p.get("serviceAreas") or []],
                         daily_capacity=int(p["dailyCapacity"]),
                         availability=[window(w) for w in p.get("availability") or []],
                         timezone=p.get("timezone") or "UTC",
                         available=p.get("available", True) is not False)
            for p in providers]
