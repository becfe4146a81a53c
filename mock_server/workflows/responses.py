"""The Inbound Webhook trigger's URL on the sandbox's API host (contract: contracts/workflows.openapi.yaml):
`POST|GET|PUT /hooks/{locationId}/webhook-trigger/{triggerId}`. Answers as GHL does: 200 whatever the id
(a live trigger's answer carries an `id`; a draft's too, though nothing runs; an unknown id's does not);
a body that is not a JSON object → 400; more than 1 MB → 413 (both `{"status": ...}`)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mock_server import jsjson
from mock_server.http.context import runtime_of
from mock_server.workflows.world import workflows_world

MAX_BODY_BYTES = 1024 * 1024
NOT_AN_OBJECT = "Invalid request: the body must be a JSON object"
TOO_LARGE = "Request entity too large: the body must be at most 1 MB"


def _answer(data: dict[str, Any], status: int = 200) -> Response:
    return Response(jsjson.dumps(data), status_code=status, media_type="application/json; charset=utf-8")


async def inbound_webhook(request: Request) -> Response:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return _answer({"status": TOO_LARGE}, 413)
    data: Any = {}
    if raw.strip():
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _answer({"status": NOT_AN_OBJECT}, 400)
    if not isinstance(data, dict):
        return _answer({"status": NOT_AN_OBJECT}, 400)
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = dict(request.query_params.items())
    answer = workflows_world(runtime_of(request)).inbound(
        request.path_params["locationId"], request.path_params["triggerId"], data, query, headers)
    return _answer(answer)
