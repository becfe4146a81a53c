"""The fake Rankr as the runtime sees it: its tables and routes; its per-world state is the service."""

from __future__ import annotations

from pathlib import Path

from mock_server.rankr import tables
from mock_server.rankr.control import rankr_control_routes
from mock_server.rankr.service import RankrService
from mock_server.rankr.urls import rankr_routes
from mock_server.service import Service, WorldContext


def _start(context: WorldContext) -> RankrService:
    return RankrService(context.store, context.clock, context.seed)


SERVICE = Service(name="rankr", tables=tables.TABLES, routes=rankr_routes, start=_start,
                  control_routes=rankr_control_routes,
                  contracts=(Path(__file__).with_name("rankr.openapi.yaml"),))

