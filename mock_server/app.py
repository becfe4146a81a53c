"""Builds the ASGI app: the runtime with its services, their routes beside the control plane's and
the dashboard's, middleware and error handlers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router, get_route_path
from starlette.types import Receive, Scope, Send

from mock_server.acuity.plugin import SERVICE as ACUITY
from mock_server.control.handlers import AdminGuard
from mock_server.control.routes import control_routes
from mock_server.dashboard.routes import dashboard_routes
from mock_server.faults import FaultMiddleware
from mock_server.ghl.plugin import SERVICE as GHL
from mock_server.http.context import context_of
from mock_server.http.errors import EXCEPTION_HANDLERS, ApiError, error_response, reason
from mock_server.http.gateway import Gateway
from mock_server.rankr.plugin import SERVICE as RANKR
from mock_server.reports.routes import report_routes
from mock_server.runtime import Runtime
from mock_server.service import Service
from mock_server.settings import Settings
from mock_server.workflows.plugin import SERVICE as WORKFLOWS

# The fake services this sandbox serves; a new one is a package with a `plugin.SERVICE`, added here.
SERVICES: tuple[Service, ...] = (GHL, RANKR, ACUITY, WORKFLOWS)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc, context_of(request.scope).trace)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # NestJS words unknown routes as "Cannot GET /path".
    message = f"Cannot {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
    return error_response(ApiError(exc.status_code, message, reason(exc.status_code), dict(exc.headers or {})),
                          context_of(request.scope).trace)


def _lifespan(runtime: Runtime) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The webhook worker and the clock-driven scheduler run beside the server.
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return lifespan


class SegmentRouter(Router):
    """Starlette's router, trying for each request only the routes whose path starts with the request
    path's first segment (`/_sandbox/simulate/x` is not matched against the 70 routes before it), in the
    same order: no other route can match that path, fully or partly, so the answer is the one the full
    scan gives. Routes whose first segment is a parameter (or that have no path) are tried for every
    path. A path that is exactly a route's fixed path (`/payments/orders`) is tried only against the
    routes whose pattern matches it, in the same order. Lifespan, websockets and slash redirects go
    through Starlette's own scan."""

    _by_segment: dict[str, list[BaseRoute]]
    _by_two: dict[tuple[str, str], list[BaseRoute]]
    _any_segment: list[BaseRoute]
    _exact: dict[str, list[BaseRoute]]
    _indexed: list[BaseRoute] | None = None

    def _candidates(self, path: str) -> list[BaseRoute]:
        if self._indexed is not self.routes:  # built on first use, again if the list is replaced
            by_segment: dict[str, list[BaseRoute]] = {}
            anywhere: list[BaseRoute] = []
            for route in self.routes:
                segment = _first_segment(getattr(route, "path", None))
                if segment is None:
                    anywhere.append(route)
                    for routes in by_segment.values():
                        routes.append(route)
                else:
                    by_segment.setdefault(segment, list(anywhere)).append(route)
            exact: dict[str, list[BaseRoute]] = {}
            for route in self.routes:
                fixed = getattr(route, "path", None)
                if isinstance(fixed, str) and "{" not in fixed and fixed not in exact:
                    exact[fixed] = [r for r in self.routes if _may_match(r, fixed)]
            # Under a first segment, the routes a fixed second segment leaves (`/_sandbox/simulate/...`
            # is not matched against the other control-plane routes): those with that second segment
            # and those with none fixed, in order, less the fixed two-segment routes (`/_sandbox/reset`),
            # which match their own path only, and it has no third segment.
            by_two: dict[tuple[str, str], list[BaseRoute]] = {}
            for segment, routes in by_segment.items():
                seconds = {_second_segment(getattr(r, "path", None)) for r in routes}
                for second in (s for s in seconds if s is not None):
                    by_two[(segment, second)] = [r for r in routes if not _fixed_two_segments(r)
                                                 and _second_segment(getattr(r, "path", None)) in (None, second)]
            self._by_segment, self._by_two, self._any_segment, self._exact = by_segment, by_two, anywhere, exact
            self._indexed = self.routes
        found = self._exact.get(path)
        if found is not None:
            return found
        if not path.startswith("/"):
            return self._by_segment.get("\0", self._any_segment)
        parts = path.split("/", 3)
        if len(parts) > 3:  # a third segment follows: the second is whole
            found = self._by_two.get((parts[1], parts[2]))
            if found is not None:
                return found
        return self._by_segment.get(parts[1], self._any_segment)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.redirect_slashes:
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in self._candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:  # e.g. 405 Method Not Allowed
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await self.default(scope, receive, send)


def _may_match(route: BaseRoute, path: str) -> bool:
    """Whether the route's pattern can match `path` (a route without one is tried on every path)."""
    pattern = getattr(route, "path_regex", None)
    return pattern is None or pattern.match(path) is not None


def _fixed_two_segments(route: BaseRoute) -> bool:
    """A plain route of a fixed path of two segments (`/_sandbox/reset`): its pattern matches that path
    alone, never one with a third segment (a mount matches below its path, so it is not one)."""
    path = getattr(route, "path", None)
    return (type(route) is Route and isinstance(path, str) and path.startswith("/") and "{" not in path
            and path.count("/") == 2 and not path.endswith("/"))


def _second_segment(path: str | None) -> str | None:
    """`/_sandbox/simulate/{action}` -> `simulate`; None when the route has no fixed, whole second segment
    followed by another (a parameter, `{name}.json`, a route of one or two segments): such a route is
    tried whatever the second segment."""
    if path is None or not path.startswith("/"):
        return None
    parts = path.split("/", 3)
    if len(parts) < 4 or "{" in parts[2]:
        return None
    return parts[2]


def _first_segment(path: str | None) -> str | None:
    """`/payments/orders/{orderId}` -> `payments`; None when the first segment is a parameter or unknown."""
    if path is None or not path.startswith("/"):
        return None
    segment = path.split("/", 2)[1]
    return None if "{" in segment else segment


def new_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or Settings(), SERVICES)


def build_app(runtime: Runtime) -> Starlette:
    handlers: dict[Any, Callable[[Request, Exception], Any]] = {ApiError: _api_error, HTTPException: _http_error,
                                                            **EXCEPTION_HANDLERS}
    app = Starlette(
        routes=[*(r for s in runtime.services for r in s.routes()), *control_routes(),
                *(r for s in runtime.services for r in s.control_routes()), *report_routes(),
                *dashboard_routes()],
        middleware=[Middleware(Gateway, runtime=runtime),
                    Middleware(AdminGuard, admin_token=runtime.settings.admin_token,
                               allowed_hosts=runtime.settings.allowed_hosts, bound_host=runtime.settings.host),
                    Middleware(FaultMiddleware, runtime=runtime)],
        lifespan=_lifespan(runtime),
        exception_handlers=handlers,
    )
    app.router.redirect_slashes = False
    # The same router (routes, lifespan), matched by first segment. Its stack is the scan itself (no router
    # middleware), bound when it was made: bound again to the new scan.
    app.router.__class__ = SegmentRouter
    if getattr(app.router.middleware_stack, "__func__", None) is Router.app:
        app.router.middleware_stack = app.router.app
    app.state.runtime = runtime
    return app


def create_app(settings: Settings | None = None) -> Starlette:
    return build_app(new_runtime(settings))

