"""The fake Rankr's routing table, served under /rankr (documented in contracts/rankr.openapi.yaml).

Each path is one Starlette route taking every method, so that unknown paths (404) and wrong methods
(405) are answered in Rankr's error shape rather than the GHL one of the rest of the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_server.rankr import responses as api
from mock_server.rankr.service import POSTS, RECORDS, RankrError

Handler = Callable[[Request, str], Awaitable[Response]]
PREFIX = "/rankr/v1"
# Every route takes all of these, so that a wrong one gets Rankr's 405 (not Starlette's).
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

RANKR_TABLE: tuple[tuple[str, str, Handler, str], ...] = (
    *((f"{PREFIX}/{c}", "GET", api.list_items, c) for c in (*RECORDS, *POSTS)),
    *((f"{PREFIX}/{c}/{{itemId}}", "GET", api.get_item, c) for c in (*RECORDS, *POSTS)),
    *((f"{PREFIX}/{c}/{{itemId}}", "PUT", api.put_record, c) for c in RECORDS),
    *((f"{PREFIX}/{c}", "POST", api.create_post, c) for c in POSTS),
    # Routing (design i12 §3).
    (f"{PREFIX}/providers", "GET", api.list_providers, "providers"),
    (f"{PREFIX}/assignments", "GET", api.list_assignments, "assignments"),
    (f"{PREFIX}/assignments/{{orderId}}", "GET", api.get_assignment, "assignments"),
    (f"{PREFIX}/assignments/{{orderId}}", "PUT", api.put_assignment, "assignments"),
    (f"{PREFIX}/assignments/{{orderId}}", "DELETE", api.delete_assignment, "assignments"),
)


def _endpoint(by_method: dict[str, tuple[Handler, str]]) -> Callable[[Request], Awaitable[Response]]:
    allowed = ", ".join(sorted(by_method))

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        try:
            if method not in by_method:
                raise RankrError(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}",
                                 headers={"Allow": allowed})
            handler, collection = by_method[method]
            return await handler(request, collection)
        except RankrError as exc:
            return api.error(exc)

    return endpoint


def rankr_routes() -> list[Route]:
    merged: dict[str, dict[str, tuple[Handler, str]]] = {}
    for path, method, handler, collection in RANKR_TABLE:
        merged.setdefault(path, {})[method] = (handler, collection)
    routes = [Route(path, _endpoint(by_method), methods=ALL_METHODS) for path, by_method in merged.items()]
    # Anything else under /rankr: Rankr's own 404.
    routes += [Route(path, api.not_found, methods=ALL_METHODS) for path in ("/rankr", "/rankr/{rest:path}")]
    return routes
