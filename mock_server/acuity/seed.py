"""Seeding of the fake Acuity (filled in after milestone 1)."""

from __future__ import annotations

from mock_server.ids import IdFactory
from mock_server.locations import Location
from mock_server.service import LocationSeed
from mock_server.store import Store


def seeded_location(store: Store, spec: LocationSeed) -> Location:
    """The location GHL's seeding (which runs first) just made or re-made for `spec`."""
    if spec.location_id is not None:
        found = store.table(Location).get(spec.location_id)
    else:  # GHL names a fresh location by the first id of its (seed, index) stream
        found = store.table(Location).get(IdFactory(f"{spec.seed}-{spec.index}").short_id())
        if found is None:
            named = [loc for loc in store.table(Location).all() if loc.name == spec.name]
            found = named[-1] if named else None
    if found is None:
        raise LookupError(f"no seeded location for {spec.name!r}")
    return found


def seed_world(store: Store, seed: int, orders: int) -> None:
    """Every location GHL seeded gets its Acuity account's data."""


def seed_location(store: Store, spec: LocationSeed) -> Location:
    return seeded_location(store, spec)
