"""Thin Starlette handlers for the fake Rankr API: authenticate, parse, call the service, answer.
Errors are Rankr's own shape `{error, message, fields?}`, never GHL's."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mock_server import jsjson
from mock_server.http.context import context_of, runtime_of
from mock_server.rankr.models import Account
from mock_server.rankr.service import RankrError, RankrService, rankr

JSON = "application/json; charset=utf-8"
MISSING = object()


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(jsjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def error(exc: RankrError) -> Response:
    return json(exc.body(), exc.status, exc.headers)


def service(request: Request) -> RankrService:
    return rankr(runtime_of(request))


def authenticate(request: Request, svc: RankrService) -> Account:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise RankrError(401, "unauthorized", "Missing API key: send Authorization: Bearer <apiKey>",
                         headers={"WWW-Authenticate": "Bearer"})
    account = svc.authenticate(key.strip())
    if account is None:
        raise RankrError(401, "unauthorized", "Invalid API key", headers={"WWW-Authenticate": "Bearer"})
    context_of(request.scope).location_id = account.location_id  # the journal shows whose call it was
    return account


async def parse_json(request: Request) -> Any:
    """The parsed body, or MISSING when it is empty or not JSON (the caller answers 400)."""
    raw = await request.body()
    if not raw.strip():
        return MISSING
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return MISSING


def _malformed(raw_empty: bool) -> RankrError:
    return RankrError(400, "invalid_json", "Request body is empty: send a JSON object" if raw_empty
                      else "Malformed JSON in the request body")


async def _body_or_400(request: Request, svc: RankrService, account: Account, collection: str,
                       key: str | None) -> Any:
    data = await parse_json(request)
    if data is MISSING:
        svc.log_write(account.location_id, request.method, request.url.path, collection, key, None, 400, "malformed")
        raise _malformed(not (await request.body()).strip())
    return data


def _window(request: Request) -> tuple[int | None, int]:
    values: dict[str, int | None] = {"limit": None, "offset": 0}
    for name in values:
        raw = request.query_params.get(name)
        if raw is None:
            continue
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            raise RankrError(400, "invalid_parameter", f"{name} must be a non-negative integer")
        values[name] = int(raw)
    return values["limit"], values["offset"] or 0


# ---- handlers: (request, collection) -> Response ---------------------------------------------------

async def list_items(request: Request, collection: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    limit, offset = _window(request)
    data, total = svc.list(account.location_id, collection, limit, offset)
    return json({"data": data, "total": total})


async def get_item(request: Request, collection: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    item_id = request.path_params["itemId"]
    found = svc.get(account.location_id, collection, item_id)
    if found is None:
        raise RankrError(404, "not_found", f"No {collection[:-1]} {item_id} in this account")
    return json(found)


async def put_record(request: Request, collection: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    record_id = request.path_params["itemId"]
    data = await _body_or_400(request, svc, account, collection, record_id)
    answer = svc.upsert(account.location_id, collection, record_id, data, request.url.path)
    return json(answer.body, answer.status)


async def create_post(request: Request, collection: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    key = request.headers.get("idempotency-key") or None
    data = await _body_or_400(request, svc, account, collection, key)
    answer = svc.post(account.location_id, collection, data, key, request.url.path)
    return json(answer.body, answer.status, {"Idempotent-Replayed": "true"} if answer.replayed else None)


async def not_found(request: Request) -> Response:
    return error(RankrError(404, "not_found", f"No such endpoint: {request.method} {request.url.path}"))


# ---- routing (design i12 §3): (request, _) -> Response ----------------------------------------------

async def list_providers(request: Request, _: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    data = svc.providers(account.location_id)
    return json({"data": data, "total": len(data)})


async def list_assignments(request: Request, _: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    limit, offset = _window(request)
    provider_id = request.query_params.get("providerId") or None
    data, total = svc.assignments(account.location_id, provider_id, limit, offset)
    return json({"data": data, "total": total})


async def get_assignment(request: Request, _: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    order_id = request.path_params["orderId"]
    found = svc.assignment(account.location_id, order_id)
    if found is None:
        raise RankrError(404, "not_found", f"Order {order_id} is not assigned in this account")
    return json(found)


async def put_assignment(request: Request, _: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    data = await parse_json(request)
    if data is MISSING:
        raise _malformed(not (await request.body()).strip())
    answer = svc.assign(account.location_id, request.path_params["orderId"], data)
    return json(answer.body, answer.status)


async def delete_assignment(request: Request, _: str) -> Response:
    svc = service(request)
    account = authenticate(request, svc)
    order_id = request.path_params["orderId"]
    if not svc.unassign(account.location_id, order_id):
        raise RankrError(404, "not_found", f"Order {order_id} is not assigned in this account")
    return Response(status_code=204)
