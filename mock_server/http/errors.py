"""GHL-shaped errors (NestJS `HttpException` serialisation): `{statusCode, message, error, traceId}`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server import jsjson
from mock_server.errors import Conflict, DomainError, Invalid, NotFound
from mock_server.http.context import context_of

JSON = "application/json; charset=utf-8"


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ApiError(Exception):
    """Raised anywhere in a request; the gateway turns it into a GHL-shaped JSON response."""

    def __init__(self, status: int, message: str | list[str], error: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message if isinstance(message, str) else "; ".join(message))
        self.status = status
        self.message = message
        self.error = error or reason(status)
        self.headers = headers or {}


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, "Unauthorized")


def forbidden(message: str = "The token does not have access to this location.") -> ApiError:
    return ApiError(403, message, "Forbidden")


def unprocessable(messages: list[str]) -> ApiError:
    return ApiError(422, messages, "Unprocessable Entity")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "Bad Request")


def error_body(status: int, message: str | list[str], error: str, trace_id: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "error": error, "traceId": trace_id}


def error_response(exc: ApiError, trace_id: str) -> Response:
    body = jsjson.dumps(error_body(exc.status, exc.message, exc.error, trace_id))
    return Response(body, status_code=exc.status, media_type=JSON, headers=exc.headers)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(jsjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


# The one mapping from a domain error's type to its HTTP status (the first type the error is an instance of).
DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = ((NotFound, 404), (Invalid, 422), (Conflict, 409))


def domain_error(exc: DomainError) -> ApiError:
    status = next((code for kind, code in DOMAIN_STATUS if isinstance(exc, kind)), 500)
    # A 422 lists its problems (as NestJS validation does); other statuses carry one sentence.
    message: str | list[str] = exc.messages if isinstance(exc, Invalid) else str(exc)
    return ApiError(status, message)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(domain_error(exc), context_of(request.scope).trace)


# For `Starlette(exception_handlers=...)`: Starlette picks a handler by the exception's class hierarchy, so
# every DomainError subclass (ghl.errors.NotFound, InvalidOperation, ...) lands here.
EXCEPTION_HANDLERS = {DomainError: _domain_error}
