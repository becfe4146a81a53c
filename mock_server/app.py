"""Builds the ASGI app: routing tables, middleware and error handlers around one Sandbox."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from mock_server.control.handlers import AdminGuard
from mock_server.control.routes import control_routes
from mock_server.dashboard.routes import dashboard_routes
from mock_server.faults import FaultMiddleware
from mock_server.ghl.urls import api_routes
from mock_server.http.errors import EXCEPTION_HANDLERS, ApiError, error_response, reason
from mock_server.http.gateway import Gateway
from mock_server.rankr.urls import rankr_routes
from mock_server.sandbox import Sandbox
from mock_server.settings import Settings


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc, request.scope.get("ghl.trace", ""))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # NestJS words unknown routes as "Cannot GET /path".
    message = f"Cannot {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
    return error_response(ApiError(exc.status_code, message, reason(exc.status_code), dict(exc.headers or {})),
                          request.scope.get("ghl.trace", ""))


def _lifespan(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The webhook worker and the clock-driven scheduler run beside the server.
        await sandbox.webhooks.start()
        try:
            yield
        finally:
            await sandbox.webhooks.stop()
            sandbox.store.close()

    return lifespan


def build_app(sandbox: Sandbox) -> Starlette:
    app = Starlette(
        routes=[*api_routes(), *control_routes(), *rankr_routes(), *dashboard_routes()],
        middleware=[Middleware(Gateway, sandbox=sandbox), Middleware(AdminGuard, admin_token=sandbox.settings.admin_token),
                    Middleware(FaultMiddleware, sandbox=sandbox)],
        lifespan=_lifespan(sandbox),
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, **EXCEPTION_HANDLERS},
    )
    app.router.redirect_slashes = False
    app.state.sandbox = sandbox
    return app


def create_app(settings: Settings | None = None) -> Starlette:
    return build_app(Sandbox(settings or Settings()))
