"""A reset goes back to a seeded world from a kept snapshot of it: the last few worlds (seed, orders) a
harness alternates between are kept, so each is seeded once, and a restored world is the seeded one."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server import runtime as runtime_module
from mock_server.app import new_runtime
from mock_server.settings import Settings


def test_the_last_few_worlds_are_restored_without_seeding_them_again(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = new_runtime(Settings(port=0, orders=3))
    seeded: list[tuple[int, int]] = []
    seed_world = sandbox._seed_world

    def counting(seed: int, orders: int) -> None:
        seeded.append((seed, orders))
        seed_world(seed, orders)

    monkeypatch.setattr(sandbox, "_seed_world", counting)
    first: dict[int, Any] = {}
    for orders in (0, 4, 3, 0, 4, 3, 4):
        sandbox.reset(seed=42, orders=orders)
        tables = sandbox.export_state()["tables"]
        assert first.setdefault(orders, tables) == tables  # restored, it is the world as seeded
    assert seeded == [(42, 0), (42, 4)]  # (42, 3) is the startup world
    for orders in (1, 2, 5):  # more worlds than are kept: the least recently used go
        sandbox.reset(seed=42, orders=orders)
    seeded.clear()
    sandbox.reset(seed=42, orders=4)  # among the last four
    sandbox.reset(seed=42, orders=0)  # not any more
    assert seeded == [(42, 0)]
    sandbox.store.close()


def test_the_kept_snapshots_stay_within_the_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "SNAPSHOT_IN_MEMORY_MAX", 1)  # every world is "big": only the newest kept
    sandbox = new_runtime(Settings(port=0, orders=3))
    for orders in (0, 4):
        sandbox.reset(seed=42, orders=orders)
    assert list(sandbox._snapshots) == [(42, 4)]
    sandbox.store.close()
