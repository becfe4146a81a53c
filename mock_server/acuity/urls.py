"""The fake Acuity's routing table (filled in after milestone 1)."""

from __future__ import annotations

from starlette.routing import Route


def acuity_routes() -> list[Route]:
    return []
