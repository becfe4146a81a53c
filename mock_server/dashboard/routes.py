"""The dashboard's routing table: the page at `/` (and `/dashboard`), its static files under
`/dashboard/static`, the live stream and its JSON views under `/_sandbox`. The admin guard
(control/handlers.py AdminGuard) covers all of them."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mock_server import __version__
from mock_server.dashboard import stream, views

STATIC_DIR = Path(__file__).parent / "static"


def _asset_version() -> str:
    """Changes whenever a static file does, so browsers never keep a stale app.js."""
    stamps = [int(p.stat().st_mtime) for p in STATIC_DIR.glob("*") if p.is_file()]
    return f"{__version__}-{max(stamps, default=0)}"


async def index(request: Request) -> Response:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace("__ASSET_VERSION__", _asset_version())
    return HTMLResponse(html, headers={"Cache-Control": "no-cache",
                                       "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                                                  "style-src 'self'; script-src 'self'",
                                       "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"})


DASHBOARD_TABLE = (
    ("/_sandbox/stream", ["GET"], stream.stream),
    ("/_sandbox/dashboard/overview", ["GET"], views.overview),
    ("/_sandbox/dashboard/metrics", ["GET"], views.metrics),
    ("/_sandbox/dashboard/events", ["GET"], views.events),
    ("/_sandbox/dashboard/tables", ["GET"], views.tables),
    ("/_sandbox/dashboard/customer", ["GET"], views.customer),
    ("/_sandbox/harness/latest", ["GET"], views.harness_latest),
)


def dashboard_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route(path, endpoint, methods=methods) for path, methods, endpoint in DASHBOARD_TABLE]
    routes += [
        Route("/", index, methods=["GET"]),
        Route("/dashboard", index, methods=["GET"]),
        Route("/dashboard/", index, methods=["GET"]),
        Mount("/dashboard/static", app=StaticFiles(directory=STATIC_DIR), name="dashboard-static"),
    ]
    return routes
