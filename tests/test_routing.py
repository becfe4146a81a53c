"""The app's router tries only some routes for each path (by first segment, or the routes whose pattern
matches an exact fixed path): for every path the app routes, and paths around them, it picks the route
Starlette's full scan picks, with the same match (full, partial: the method is not allowed, none)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.routing import BaseRoute, Match

from mock_server.app import SegmentRouter, build_app, new_runtime
from mock_server.settings import Settings


def _scan(routes: list[BaseRoute], scope: dict[str, Any]) -> tuple[BaseRoute | None, Match]:
    partial: BaseRoute | None = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route, match
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial, (Match.PARTIAL if partial is not None else Match.NONE)


def _paths(routes: list[BaseRoute]) -> list[str]:
    paths = {"/", "/nope", "/payments", "/payments/", "/payments/orders/x/y/z", "/_sandbox", "//payments/orders"}
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        filled = re.sub(r"{[^}]+}", "abc123", path)
        paths.update({filled, filled + "/", filled + "/extra", filled.rsplit("/", 1)[0] or "/"})
    return sorted(paths)


@pytest.fixture(scope="module")
def router() -> SegmentRouter:
    app = build_app(new_runtime(Settings(orders=5, rate_limit="off")))
    assert isinstance(app.router, SegmentRouter)
    return app.router


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "HEAD"])
def test_each_path_gets_the_route_the_full_scan_gets(router: SegmentRouter, method: str) -> None:
    checked = 0
    for path in _paths(router.routes):
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        expected = _scan(router.routes, scope)
        assert _scan(router._candidates(path), scope) == expected, (method, path)
        checked += 1
    assert checked > 100
