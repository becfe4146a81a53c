"""Sandbox locations: the tenants every service keys its data by (a GHL sub-account, its Rankr
account, its Acuity account)."""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.store import TableSpec, by_created, column


@dataclass(slots=True)
class Location:
    id: str
    name: str
    company_id: str
    seed: int
    orders: int
    created_at: float
    email: str = ""
    phone: str = ""
    timezone: str = "UTC"


LOCATIONS = TableSpec("locations", Location, (column("created_at", "REAL", by_created),), read_mostly=True)
