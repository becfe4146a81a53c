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
    app.state.runtime = runtime
    return app


def create_app(settings: Settings | None = None) -> Starlette:
    return build_app(new_runtime(settings))

