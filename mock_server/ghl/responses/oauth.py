"""POST /oauth/token: snake_case (v2, npm SDK) and camelCase (v3, Python SDK) fields, form or JSON,
answered in the matching style. POST /oauth/locationToken (v2) and /oauth/location-token (v3): a Company
token mints a location token."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mock_server.ghl.auth import ACCESS_TOKEN_SECONDS, OAuthFailure, TokenGrant
from mock_server.ghl.models import Token
from mock_server.ghl.world import ghl_of
from mock_server.http.errors import ApiError, json_response, unprocessable

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
    company = grant.token.token_class == "agency"
    approved = [loc.id for loc in auth.installed_locations(grant.token.company_id)] if company else []
    return json_response(token_answer(grant, camel, approved))


def token_answer(grant: TokenGrant, camel: bool, approved_locations: list[str]) -> dict[str, Any]:
    """The token endpoint's answer, keys in the official spec's order: a Location token names its
    `locationId`; a Company token its `approvedLocations` and no location. `planId` only when the app has one."""
    t = grant.token
    location = t.token_class == "location"
    body: dict[str, Any] = {
        "accessToken" if camel else "access_token": t.secret,
        "tokenType" if camel else "token_type": "Bearer",
        "expiresIn" if camel else "expires_in": ACCESS_TOKEN_SECONDS,
        "refreshToken" if camel else "refresh_token": grant.refresh_token,
        "scope": " ".join(t.scopes),
        "userType": "Location" if location else "Company",
    }
    if location:
        body["locationId"] = t.location_id
    body["companyId"] = t.company_id
    if not location:
        body["approvedLocations"] = approved_locations
    body["userId"] = t.user_id
    if grant.app is not None and grant.app.plan_id:
        body["planId"] = grant.app.plan_id
    body["isBulkInstallation"] = False
    return body


async def _location_token(request: Request, token: Token, v3: bool) -> Response:
    data = await _fields(request)

    def get(camel: str, snake: str) -> str:
        value = data.get(camel, data.get(snake))
        return "" if value is None else str(value)

    company_id, location_id = get("companyId", "company_id"), get("locationId", "location_id")
    missing = [f"{name} should not be empty" for name, value in (("companyId", company_id),
                                                                  ("locationId", location_id)) if not value]
    if missing:
        raise unprocessable(missing)
    try:
        grant = ghl_of(request).auth.location_token(token, company_id, location_id)
    except OAuthFailure as exc:
        raise ApiError(exc.status, exc.description, exc.error) from None
    t, app = grant.token, grant.app
    # v2 (spec `GetLocationAccessTokenSuccessfulResponseDto`) and v3 (camelCase, with a refresh token).
    body: dict[str, Any] = {
        "accessToken" if v3 else "access_token": t.secret,
        "tokenType" if v3 else "token_type": "Bearer",
        "expiresIn" if v3 else "expires_in": ACCESS_TOKEN_SECONDS,
        "scope": " ".join(t.scopes),
        "locationId": t.location_id,
    }
    if app is not None and app.plan_id:
        body["planId"] = app.plan_id
    body["userId"] = t.user_id
    if app is not None:
        body.update(appId=app.id, versionId=app.version_id)
    if v3:
        body["refreshToken"] = grant.refresh_token
    return json_response(body, status=201)  # 201, as the live API answers this POST


async def location_token(request: Request, token: Token) -> Response:
    """POST /oauth/locationToken (v2 generation, the npm SDK's `getLocationAccessToken`)."""
    return await _location_token(request, token, v3=False)


async def location_token_v3(request: Request, token: Token) -> Response:
    """POST /oauth/location-token (v3 generation, the Python SDK's `get_location_access_token`)."""
    return await _location_token(request, token, v3=True)
