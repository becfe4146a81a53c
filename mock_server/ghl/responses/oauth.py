"""POST /oauth/token: snake_case (v2, npm SDK) and camelCase (v3, Python SDK) fields, form or JSON,
answered in the matching style."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mock_server.ghl.auth import ACCESS_TOKEN_SECONDS, OAuthFailure
from mock_server.ghl.world import ghl_of
from mock_server.http.context import runtime_of
from mock_server.http.errors import ApiError, json_response

FIELDS = {  # snake -> camel
    "client_id": "clientId", "client_secret": "clientSecret", "grant_type": "grantType", "code": "code",
    "refresh_token": "refreshToken", "user_type": "userType", "redirect_uri": "redirectUri",
    "location_id": "locationId",
}


async def _fields(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if "application/json" in ctype:
        raw = await request.body()
        try:
            data = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"Unexpected token in JSON at position {exc.pos}", "Bad Request") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Request body must be an object", "Bad Request")
        return {k: v for k, v in data.items() if isinstance(v, (str, int, float))}
    # Form bodies are parsed here: Starlette's form parser needs python-multipart, which is not a
    # dependency, and both SDKs send application/x-www-form-urlencoded.
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "Request body must be UTF-8", "Bad Request") from None
    return dict(parse_qsl(text, keep_blank_values=True))


async def token(request: Request) -> Response:
    data = await _fields(request)
    camel = any(k in data for k in FIELDS.values() if k != "code") and not any(
        k in data for k in FIELDS if k != "code")

    def get(snake: str) -> str | None:
        value = data.get(snake, data.get(FIELDS[snake]))
        return None if value is None else str(value)

    missing = [f"{FIELDS[n] if camel else n} should not be empty"
               for n in ("client_id", "client_secret", "grant_type") if not get(n)]
    user_type = get("user_type")
    if user_type not in (None, "Location", "Company"):  # a typo must not silently mint a location token
        missing.append(f"{FIELDS['user_type'] if camel else 'user_type'} must be one of the following values: "
                       "Location, Company")
    if missing:
        raise ApiError(422, missing, "Unprocessable Entity")
    runtime = runtime_of(request)
    auth = ghl_of(request).auth
    try:
        grant = auth.exchange(client_id=get("client_id") or "", client_secret=get("client_secret") or "",
                                      grant_type=get("grant_type") or "", code=get("code"),
                                      refresh_token=get("refresh_token"), user_type=get("user_type"),
                                      location_id=get("location_id"))
    except OAuthFailure as exc:
        description = exc.description
        if camel:  # name the fields as the request spelled them
            description = description.replace("refresh_token", "refreshToken").replace("grant_type", "grantType")
        # A 422 carries a list of messages, as everywhere else (class-validator style).
        raise ApiError(exc.status, [description] if exc.status == 422 else description, exc.error) from None
    t = grant.token
    user_type = "Location" if t.token_class == "location" else "Company"
    if camel:
        body: dict[str, Any] = {"accessToken": t.secret, "tokenType": "Bearer", "expiresIn": ACCESS_TOKEN_SECONDS,
                                "refreshToken": grant.refresh_token, "scope": " ".join(t.scopes),
                                "userType": user_type, "companyId": t.company_id, "userId": t.user_id,
                                "isBulkInstallation": False}
    else:
        body = {"access_token": t.secret, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                "refresh_token": grant.refresh_token, "scope": " ".join(t.scopes), "userType": user_type,
                "companyId": t.company_id, "userId": t.user_id, "isBulkInstallation": False}
    if t.token_class == "location":
        body["locationId"] = t.location_id
    else:
        body["approvedLocations"] = [loc.id for loc in runtime.locations()]
    return json_response(body)
