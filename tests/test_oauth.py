"""POST /oauth/token: authorization_code, refresh_token and client_credentials grants, in the
snake_case (v2, npm SDK) and camelCase (v3, Python SDK) spellings, form-encoded or JSON."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mock_server.testing import SandboxClient

TOKEN = "/oauth/token"
ORDERS = "/payments/orders"
SNAKE_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "scope", "locationId", "userType"}
CAMEL_KEYS = {"accessToken", "tokenType", "expiresIn", "refreshToken", "scope", "locationId", "userType"}


@pytest.fixture
def app(ghl_sandbox: SandboxClient) -> dict[str, Any]:
    apps = ghl_sandbox.control("GET", "/apps")
    assert len(apps) >= 1
    assert {"clientId", "clientSecret"} <= set(apps[0])
    return apps[0]


@pytest.fixture
def locs(ghl_sandbox: SandboxClient) -> list[str]:
    return [v["locationId"] for v in ghl_sandbox.locations()]


def code_for(sb: SandboxClient, app: dict[str, Any], location_id: str) -> str:
    r = sb.http.post("/_sandbox/oauth/authorize", json={"clientId": app["clientId"], "locationId": location_id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] and body["expiresAt"]
    return body["code"]


def snake(app: dict[str, Any], grant_type: str, **extra: str) -> dict[str, str]:
    return {"client_id": app["clientId"], "client_secret": app["clientSecret"], "grant_type": grant_type, **extra}


def camel(app: dict[str, Any], grant_type: str, **extra: str) -> dict[str, str]:
    return {"clientId": app["clientId"], "clientSecret": app["clientSecret"], "grantType": grant_type, **extra}


def reads_orders(sb: SandboxClient, token: str, location_id: str) -> int:
    return sb.api("GET", ORDERS, token, params={"altId": location_id, "limit": 1}).status_code


def test_authorization_code_snake_case_form(ghl_sandbox: SandboxClient, app: dict[str, Any], locs: list[str]) -> None:
    code = code_for(ghl_sandbox, app, locs[0])
    r = ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code", code=code, user_type="Location"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= SNAKE_KEYS
    assert not {"accessToken", "refreshToken", "expiresIn"} & set(body)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86399
    assert body["locationId"] == locs[0]
    assert body["userType"] == "Location"
    assert "payments/orders.readonly" in body["scope"].split(" ")
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]
    assert reads_orders(ghl_sandbox, body["access_token"], locs[0]) == 200
    # The token is for that location only.
    assert reads_orders(ghl_sandbox, body["access_token"], locs[1]) == 403


def test_authorization_code_camel_case_form(ghl_sandbox: SandboxClient, app: dict[str, Any], locs: list[str]) -> None:
    code = code_for(ghl_sandbox, app, locs[1])
    r = ghl_sandbox.http.post(TOKEN, data=camel(app, "authorization_code", code=code, userType="Location"),
                              headers={"Version": "v3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= CAMEL_KEYS
    assert not {"access_token", "refresh_token", "expires_in", "token_type"} & set(body)
    assert body["expiresIn"] == 86399 and body["tokenType"] == "Bearer"
    assert body["locationId"] == locs[1]
    assert reads_orders(ghl_sandbox, body["accessToken"], locs[1]) == 200
    assert reads_orders(ghl_sandbox, body["accessToken"], locs[0]) == 403


@pytest.mark.parametrize("style", ["snake", "camel"])
def test_json_bodies(ghl_sandbox: SandboxClient, app: dict[str, Any], locs: list[str], style: str) -> None:
    code = code_for(ghl_sandbox, app, locs[0])
    body = (snake(app, "authorization_code", code=code) if style == "snake"
            else camel(app, "authorization_code", code=code))
    r = ghl_sandbox.http.post(TOKEN, json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (SNAKE_KEYS if style == "snake" else CAMEL_KEYS) <= set(answer)
    access = answer["access_token" if style == "snake" else "accessToken"]
    assert reads_orders(ghl_sandbox, access, locs[0]) == 200


def test_a_code_is_single_use(ghl_sandbox: SandboxClient, app: dict[str, Any], locs: list[str]) -> None:
    code = code_for(ghl_sandbox, app, locs[0])
    assert ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code", code=code)).status_code == 200
    again = ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code", code=code))
    assert again.status_code == 401, again.text
    assert "already been used" in again.json()["message"]
    unknown = ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code", code="not-a-code"))
    assert unknown.status_code == 401


def test_refresh_rotates_and_a_used_refresh_token_is_refused(ghl_sandbox: SandboxClient, app: dict[str, Any],
                                                             locs: list[str]) -> None:
    first = ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code",
                                                    code=code_for(ghl_sandbox, app, locs[0]))).json()
    r = ghl_sandbox.http.post(TOKEN, data=snake(app, "refresh_token", refresh_token=first["refresh_token"]))
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 86399 and second["locationId"] == locs[0]
    assert reads_orders(ghl_sandbox, second["access_token"], locs[0]) == 200

    reused = ghl_sandbox.http.post(TOKEN, data=snake(app, "refresh_token", refresh_token=first["refresh_token"]))
    assert reused.status_code == 401, reused.text
    assert "already been used" in reused.json()["message"]

    # The rotated one works once, camelCase this time.
    r = ghl_sandbox.http.post(TOKEN, data=camel(app, "refresh_token", refreshToken=second["refresh_token"]))
    assert r.status_code == 200, r.text
    third = r.json()
    assert third["refreshToken"] not in (first["refresh_token"], second["refresh_token"])
    assert reads_orders(ghl_sandbox, third["accessToken"], locs[0]) == 200
    # A code is not a refresh token, nor the reverse.
    assert ghl_sandbox.http.post(TOKEN, data=snake(app, "refresh_token",
                                                   refresh_token=code_for(ghl_sandbox, app, locs[0]))).status_code == 401
    assert ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code",
                                                   code=third["refreshToken"])).status_code == 401


def test_client_credentials(ghl_sandbox: SandboxClient, app: dict[str, Any], locs: list[str]) -> None:
    r = ghl_sandbox.http.post(TOKEN, data=snake(app, "client_credentials"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= SNAKE_KEYS and body["expires_in"] == 86399
    assert body["locationId"] == locs[0]
    assert reads_orders(ghl_sandbox, body["access_token"], locs[0]) == 200
    r = ghl_sandbox.http.post(TOKEN, json=camel(app, "client_credentials"))
    assert r.status_code == 200 and set(r.json()) >= CAMEL_KEYS


def test_wrong_client_secret_or_id_is_401(ghl_sandbox: SandboxClient, app: dict[str, Any], locs: list[str]) -> None:
    code = code_for(ghl_sandbox, app, locs[0])
    r = ghl_sandbox.http.post(TOKEN, data={**snake(app, "authorization_code", code=code), "client_secret": "nope"})
    assert r.status_code == 401, r.text
    assert r.json()["statusCode"] == 401
    r = ghl_sandbox.http.post(TOKEN, data={**snake(app, "client_credentials"), "client_id": "no-such-client"})
    assert r.status_code == 401
    # The refused attempt did not burn the code.
    assert ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code", code=code)).status_code == 200


@pytest.mark.parametrize("body, expected", [
    ({}, ["client_id should not be empty", "client_secret should not be empty", "grant_type should not be empty"]),
    ({"client_id": "x"}, ["client_secret should not be empty", "grant_type should not be empty"]),
    ({"clientId": "x", "clientSecret": "y"}, ["grantType should not be empty"]),
])
def test_missing_fields_are_422(ghl_sandbox: SandboxClient, body: dict[str, str], expected: list[str]) -> None:
    r = ghl_sandbox.http.post(TOKEN, data=body)
    assert r.status_code == 422, r.text
    assert r.json()["message"] == expected


def test_missing_code_or_refresh_token_is_422(ghl_sandbox: SandboxClient, app: dict[str, Any]) -> None:
    r = ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code"))
    assert r.status_code == 422, r.text
    assert r.json()["message"] == ["code should not be empty"]
    r = ghl_sandbox.http.post(TOKEN, data=snake(app, "refresh_token"))
    assert r.status_code == 422, r.text
    assert r.json()["message"] == ["refresh_token should not be empty"]
    r = ghl_sandbox.http.post(TOKEN, data=camel(app, "refresh_token"))
    assert r.status_code == 422, r.text
    assert r.json()["message"] == ["refreshToken should not be empty"]


def test_unknown_grant_type_is_422(ghl_sandbox: SandboxClient, app: dict[str, Any]) -> None:
    r = ghl_sandbox.http.post(TOKEN, data=snake(app, "password"))
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert isinstance(message, list) and "grant_type must be one of" in message[0]
    r = ghl_sandbox.http.post(TOKEN, json=camel(app, "implicit"))
    assert r.status_code == 422, r.text
    assert "grantType must be one of" in r.json()["message"][0]


def test_garbage_bodies_are_client_errors(ghl_sandbox: SandboxClient) -> None:
    for content, ctype in ((b"{oops", "application/json"), (b"[1, 2]", "application/json"),
                           (b"\xff\xfe\x00", "application/x-www-form-urlencoded"), (b"", "text/plain")):
        r = ghl_sandbox.http.post(TOKEN, content=content, headers={"content-type": ctype})
        assert 400 <= r.status_code < 500, (content, r.status_code, r.text)
        assert r.json()["statusCode"] == r.status_code


def test_authorize_refuses_unknown_client_or_location(ghl_sandbox: SandboxClient, app: dict[str, Any],
                                                     locs: list[str]) -> None:
    r = ghl_sandbox.http.post("/_sandbox/oauth/authorize", json={"clientId": "nope", "locationId": locs[0]})
    assert r.status_code == 404
    r = ghl_sandbox.http.post("/_sandbox/oauth/authorize", json={"clientId": app["clientId"], "locationId": "nope"})
    assert r.status_code == 404
    assert ghl_sandbox.http.post("/_sandbox/oauth/authorize", json={}).status_code == 422


def test_exchanges_are_journaled_without_secrets(ghl_sandbox: SandboxClient, app: dict[str, Any],
                                                 locs: list[str]) -> None:
    code = code_for(ghl_sandbox, app, locs[0])
    body = ghl_sandbox.http.post(TOKEN, data=snake(app, "authorization_code", code=code)).json()
    entries = ghl_sandbox.journal(path=TOKEN)
    assert [(e["method"], e["status"]) for e in entries] == [("POST", 200)]
    raw = ghl_sandbox.http.get("/_sandbox/journal").text
    for secret in (app["clientSecret"], code, body["access_token"], body["refresh_token"]):
        assert secret not in raw


def test_access_token_expires(ghl_sandbox: SandboxClient, locs: list[str]) -> None:
    token = ghl_sandbox.token(locs[0], expiresIn=1)
    assert token["expiresAt"] is not None
    assert reads_orders(ghl_sandbox, token["token"], locs[0]) == 200
    time.sleep(1.2)
    r = ghl_sandbox.api("GET", ORDERS, token["token"], params={"altId": locs[0]})
    assert r.status_code == 401
    assert r.json()["message"] == "Invalid token: access token is expired"
