"""The users (staff) of a location: who cancels a subscription, records a payment or places a manual
order. GHL user ids are 20-character ids like location ids; they are derived from the location id, so
they are stable for the location's life (and across `--seed` runs) without a table of their own."""

from __future__ import annotations

from mock_server.ids import IdFactory

USERS_PER_LOCATION = 2


def location_users(location_id: str) -> tuple[str, ...]:
    """The location's user ids; the first is its owner (admin)."""
    ids = IdFactory(f"users-{location_id}")
    return tuple(ids.short_id() for _ in range(USERS_PER_LOCATION))


def owner(location_id: str) -> str:
    return location_users(location_id)[0]
