"""OAuth Company (agency) tokens and POST /oauth/locationToken (v2) / /oauth/location-token (v3): a Company
token names its company and approved locations and no location, the payments endpoints refuse it by its
authClass, it mints working location tokens of its company's locations; `planId` follows the app; one
installation always answers the same `userId`. And the live API's 422 body on the GHL API (not on the
control plane's). Over real HTTP and through both official SDKs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import ORDERS, SHORT_ID, TRANSACTIONS, UNPROCESSABLE_KEYS, UUID, assert_ghl_error, token_of
from highlevel import HighLevel
from highlevel.error import GHLError
from sim_support import new_order, transactions_of
from test_node_sdk_webhooks import node_with_sdk  # noqa: F401  (the fixture)

from mock_server.testing import SandboxClient

TOKEN = "/oauth/token"
LOCATION_TOKEN = "/oauth/locationToken"
LOCATION_TOKEN_V3 = "/oauth/location-token"
NODE_SCRIPT = Path(__file__).parent / "node" / "oauth_location_token.js"
AUTH_CLASS = ("This authClass type is not allowed to access this scope. "
              "Please verify your IAM configuration if this is not the case.")


@pytest.fixture
def app(ghl_sandbox: SandboxClient) -> dict[str, Any]:
    return ghl_sandbox.control("GET", "/apps")[0]


@pytest.fixture
def locs(ghl_sandbox: SandboxClient) -> list[str]:
    return [v["locationId"] for v in ghl_sandbox.locations()]


def code_for(sb: SandboxClient, app: dict[str, Any], location_id: str, user_type: str = "Company") -> str:
    r = sb.http.post("/_sandbox/oauth/authorize", json={"clientId": app["clientId"], "locationId": location_id,
                                                        "userType": user_type})
    assert r.status_code == 200, r.text
    return str(r.json()["code"])


def creds(app: dict[str, Any], grant_type: str, **extra: str) -> dict[str, str]:
    return {"client_id": app["clientId"], "client_secret": app["clientSecret"], "grant_type": grant_type, **extra}


def exchange(sb: SandboxClient, data: dict[str, str]) -> dict[str, Any]:
    r = sb.http.post(TOKEN, data=data)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def company_token(sb: SandboxClient, app: dict[str, Any], location_id: str) -> dict[str, Any]:
    return exchange(sb, creds(app, "authorization_code", code=code_for(sb, app, location_id), user_type="Company"))


def mint(sb: SandboxClient, token: str, company_id: str, location_id: str, path: str = LOCATION_TOKEN,
         version: str = "2021-07-28") -> httpx.Response:
    return sb.api("POST", path, token, version=version, data={"companyId": company_id, "locationId": location_id})


def orders_status(sb: SandboxClient, token: str, location_id: str) -> httpx.Response:
    return sb.api("GET", ORDERS, token, params={"altId": location_id, "limit": 1})


def assert_company_answer(body: dict[str, Any], app: dict[str, Any], locs: list[str], camel: bool = False) -> None:
    access = "accessToken" if camel else "access_token"
    assert body["userType"] == "Company" and "locationId" not in body
    assert body["companyId"] == app["companyId"]
    assert body["approvedLocations"] == locs  # every location of the company has the app installed
    assert {"oauth.readonly", "oauth.write", "payments/orders.readonly"} <= set(body["scope"].split(" "))
    assert SHORT_ID.match(body["userId"]) and body["planId"] == app["planId"]
    assert body[access].count(".") == 2
    claims = json.loads(_b64(body[access].split(".")[1]))
    assert (claims["authClass"], claims["authClassId"]) == ("Company", app["companyId"])


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# ---- Company tokens -----------------------------------------------------------------------------------


def test_code_exchange_with_user_type_company_gives_a_company_token(ghl_sandbox: SandboxClient, app: dict,
                                                                    locs: list[str]) -> None:
    body = company_token(ghl_sandbox, app, locs[1])
    assert_company_answer(body, app, locs)
    assert list(body)[:6] == ["access_token", "token_type", "expires_in", "refresh_token", "scope", "userType"]
    # Every payments endpoint is Location-Access: the Company token is refused by its authClass.
    refused = orders_status(ghl_sandbox, body["access_token"], locs[1])
    assert_ghl_error(refused, 401, AUTH_CLASS)
    r = ghl_sandbox.api("GET", TRANSACTIONS, body["access_token"], params={"altId": locs[0], "altType": "location"})
    assert_ghl_error(r, 401, AUTH_CLASS)
    # Its refresh token gives a Company token again (camelCase this time).
    r = ghl_sandbox.http.post(TOKEN, data={"clientId": app["clientId"], "clientSecret": app["clientSecret"],
                                           "grantType": "refresh_token", "refreshToken": body["refresh_token"],
                                           "userType": "Company"})
    assert r.status_code == 200, r.text
    assert_company_answer(r.json(), app, locs, camel=True)
    assert r.json()["userId"] == body["userId"]


@pytest.mark.parametrize("spelling", ["snake", "camel"])
def test_client_credentials_company(ghl_sandbox: SandboxClient, app: dict, locs: list[str], spelling: str) -> None:
    if spelling == "snake":
        data = creds(app, "client_credentials", user_type="Company")
    else:
        data = {"clientId": app["clientId"], "clientSecret": app["clientSecret"], "grantType": "client_credentials",
                "userType": "Company"}
    body = exchange(ghl_sandbox, data)
    assert_company_answer(body, app, locs, camel=spelling == "camel")
    token = body["access_token" if spelling == "snake" else "accessToken"]
    assert_ghl_error(orders_status(ghl_sandbox, token, locs[0]), 401, AUTH_CLASS)


def test_an_agency_pit_is_refused_by_user_type_not_authclass(ghl_sandbox: SandboxClient, locs: list[str]) -> None:
    pit = ghl_sandbox.token(locs[0], tokenClass="agency", tokenType="pit")["token"]
    assert_ghl_error(orders_status(ghl_sandbox, pit, locs[0]), 401, "Token's user type mismatch!")
    # ... and cannot mint location tokens: it lacks oauth.write (as measured live).
    assert_ghl_error(mint(ghl_sandbox, pit, "any", locs[0]), 401, "The token is not authorized for this scope.")


# ---- POST /oauth/locationToken ------------------------------------------------------------------------


def test_location_token_mints_a_working_location_token(ghl_sandbox: SandboxClient, app: dict,
                                                       locs: list[str]) -> None:
    company = company_token(ghl_sandbox, app, locs[0])
    r = mint(ghl_sandbox, company["access_token"], company["companyId"], locs[1])
    assert r.status_code == 201, r.text
    body = r.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "scope", "locationId", "planId", "userId",
                          "appId", "versionId"]
    assert (body["token_type"], body["expires_in"], body["locationId"]) == ("Bearer", 86399, locs[1])
    assert (body["appId"], body["versionId"], body["planId"]) == (app["appId"], app["versionId"], app["planId"])
    assert set(body["scope"].split(" ")) == set(company["scope"].split(" "))  # oauth.* included, as live
    assert orders_status(ghl_sandbox, body["access_token"], locs[1]).status_code == 200
    assert_ghl_error(orders_status(ghl_sandbox, body["access_token"], locs[0]), 403,
                     "The token does not have access to this location.")
    claims = json.loads(_b64(body["access_token"].split(".")[1]))
    assert (claims["authClass"], claims["authClassId"]) == ("Location", locs[1])
    # The location token is not an agency token: it cannot mint more.
    assert_ghl_error(mint(ghl_sandbox, body["access_token"], company["companyId"], locs[0]), 401,
                     "Token's user type mismatch!")


def test_location_token_v3_path_answers_camel_case_with_a_refresh_token(ghl_sandbox: SandboxClient, app: dict,
                                                                        locs: list[str]) -> None:
    company = company_token(ghl_sandbox, app, locs[0])
    r = mint(ghl_sandbox, company["access_token"], company["companyId"], locs[0], path=LOCATION_TOKEN_V3,
             version="v3")
    assert r.status_code == 201, r.text
    body = r.json()
    assert {"accessToken", "tokenType", "expiresIn", "scope", "locationId", "userId", "refreshToken"} <= set(body)
    assert not {"access_token", "refresh_token"} & set(body)
    assert orders_status(ghl_sandbox, body["accessToken"], locs[0]).status_code == 200
    # Its refresh token works at /oauth/token and gives a location token of the same installation.
    refreshed = exchange(ghl_sandbox, creds(app, "refresh_token", refresh_token=body["refreshToken"]))
    assert (refreshed["userType"], refreshed["locationId"], refreshed["userId"]) == (
        "Location", locs[0], body["userId"])
    # The live API routes the v3 path under `Version: v3` only.
    r = mint(ghl_sandbox, company["access_token"], company["companyId"], locs[0], path=LOCATION_TOKEN_V3)
    assert_ghl_error(r, 404, f"Cannot POST {LOCATION_TOKEN_V3}")


def test_location_token_refusals(ghl_sandbox: SandboxClient, app: dict, locs: list[str]) -> None:
    company = company_token(ghl_sandbox, app, locs[0])
    token, company_id = company["access_token"], company["companyId"]
    assert_ghl_error(mint(ghl_sandbox, token, "AnotherCompany000001", locs[0]), 403,
                     "The token does not have access to this company.")
    assert_ghl_error(mint(ghl_sandbox, token, company_id, "NoSuchLocation000001"), 400,
                     "Location not found or the app is not installed in it")
    missing = ghl_sandbox.api("POST", LOCATION_TOKEN, token, data={})
    body = assert_ghl_error(missing, 422)
    assert body["message"] == ["companyId should not be empty", "locationId should not be empty"]
    r = ghl_sandbox.api("POST", LOCATION_TOKEN, token, data={"companyId": company_id})
    assert assert_ghl_error(r, 422)["message"] == ["locationId should not be empty"]
    # JSON bodies and snake_case names (what the Python SDK's own fallback sends) are read too.
    r = ghl_sandbox.api("POST", LOCATION_TOKEN, token, json={"company_id": company_id, "location_id": locs[1]})
    assert r.status_code == 201 and r.json()["locationId"] == locs[1]
    assert_ghl_error(ghl_sandbox.api("POST", LOCATION_TOKEN, token, version=None,
                                     data={"companyId": company_id, "locationId": locs[0]}),
                     401, "version header was not found.")
    assert_ghl_error(ghl_sandbox.api("POST", LOCATION_TOKEN, "nope", data={"companyId": company_id,
                                                                          "locationId": locs[0]}),
                     401, "Invalid token: access token is invalid")
    # A location token (and a location PIT) is the wrong user type here.
    loc_view = ghl_sandbox.location(0)
    assert_ghl_error(mint(ghl_sandbox, loc_view["tokens"][0]["token"], company_id, locs[0]), 401,
                     "Token's user type mismatch!")
    # Nothing was minted by the refusals: the location still lists only its own tokens.
    assert len(ghl_sandbox.location(0)["tokens"]) == len(loc_view["tokens"])


def test_seeded_agency_token_mints_location_tokens(ghl_sandbox: SandboxClient, app: dict, locs: list[str]) -> None:
    first = ghl_sandbox.location(0)
    loc = {"id": locs[0], "view": first}
    agency = token_of(loc, "oauth", "agency")
    r = mint(ghl_sandbox, agency, app["companyId"], locs[1])
    assert r.status_code == 201, r.text
    assert orders_status(ghl_sandbox, r.json()["access_token"], locs[1]).status_code == 200


# ---- planId and userId --------------------------------------------------------------------------------


def test_plan_id_present_then_absent(ghl_sandbox: SandboxClient, app: dict, locs: list[str]) -> None:
    assert app["planId"] and len(app["planId"]) == 24
    located = exchange(ghl_sandbox, creds(app, "authorization_code",
                                          code=code_for(ghl_sandbox, app, locs[0], "Location")))
    assert located["planId"] == app["planId"]
    # An app without a plan (as a state document from before plans holds it): every answer omits planId.
    doc = ghl_sandbox.control("GET", "/state")
    for row in doc["tables"]["apps"]:
        row.pop("plan_id", None)
    ghl_sandbox.control("PUT", "/state", json=doc)
    assert ghl_sandbox.control("GET", "/apps")[0]["planId"] is None
    for body in (exchange(ghl_sandbox, creds(app, "client_credentials")),
                 exchange(ghl_sandbox, creds(app, "client_credentials", user_type="Company"))):
        assert "planId" not in body and body["userId"]
    company = company_token(ghl_sandbox, app, locs[0])
    r = mint(ghl_sandbox, company["access_token"], company["companyId"], locs[0])
    assert r.status_code == 201 and "planId" not in r.json() and r.json()["appId"] == app["appId"]


def test_user_id_is_stable_per_installation(ghl_sandbox: SandboxClient, app: dict, locs: list[str]) -> None:
    def location_user(location_id: str) -> str:
        body = exchange(ghl_sandbox, creds(app, "authorization_code",
                                           code=code_for(ghl_sandbox, app, location_id, "Location")))
        again = exchange(ghl_sandbox, creds(app, "refresh_token", refresh_token=body["refresh_token"]))
        assert again["userId"] == body["userId"]
        return str(body["userId"])

    first, second = location_user(locs[0]), location_user(locs[1])
    assert first != second and location_user(locs[0]) == first  # a re-exchange: the same user
    cc = exchange(ghl_sandbox, creds(app, "client_credentials", location_id=locs[1]))
    assert cc["userId"] == second
    company = company_token(ghl_sandbox, app, locs[0])
    assert company["userId"] not in (first, second)
    assert company_token(ghl_sandbox, app, locs[1])["userId"] == company["userId"]  # one company installation
    assert exchange(ghl_sandbox, creds(app, "client_credentials", user_type="Company"))["userId"] == company["userId"]
    minted = mint(ghl_sandbox, company["access_token"], company["companyId"], locs[1]).json()
    assert minted["userId"] == second  # the (app, location) installation's user
    # Seeded: the same seed gives the same users after a reset.
    ghl_sandbox.reset()
    assert location_user(locs[0]) == first


def test_a_location_installations_user_is_the_user_its_payments_are_recorded_by(
        ghl_sandbox: SandboxClient, app: dict, locs: list[str]) -> None:
    """The installing user of a location is one of that location's users: a payment recorded with the
    installation's token names it in `createdBy`, as GHL's records name the staff user who acted."""
    body = exchange(ghl_sandbox, creds(app, "authorization_code", code=code_for(ghl_sandbox, app, locs[0], "Location")))
    order_id = new_order(ghl_sandbox, locationId=locs[0])
    r = ghl_sandbox.api("POST", f"{ORDERS}/{order_id}/record-payment", body["access_token"],
                        json={"altId": locs[0], "altType": "location", "mode": "cash"})
    assert r.status_code == 200, r.text
    [txn] = transactions_of(ghl_sandbox, {"id": locs[0], "token": body["access_token"]}, order_id)
    assert txn["createdBy"] == body["userId"]


# ---- both official SDKs -------------------------------------------------------------------------------


def test_python_sdk_get_location_access_token(ghl_sandbox: SandboxClient, app: dict, locs: list[str]) -> None:
    code = code_for(ghl_sandbox, app, locs[0])

    async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], GHLError, list[httpx.Request]]:
        sent: list[httpx.Request] = []

        async def record(request: httpx.Request) -> None:
            sent.append(request)

        def sdk(**config: Any) -> HighLevel:
            ghl = HighLevel(log_level="none", client_id=app["clientId"], client_secret=app["clientSecret"], **config)
            ghl.get_http_client().base_url = ghl_sandbox.url
            ghl.http_client.event_hooks = {"request": [record], "response": ghl.http_client.event_hooks["response"]}
            return ghl

        plain = sdk()
        company = await plain.oauth.get_access_token({"clientId": app["clientId"], "clientSecret": app["clientSecret"],
                                                      "grantType": "authorization_code", "code": code,
                                                      "userType": "Company"})
        await plain.close()
        agency = sdk(agency_access_token=company["accessToken"])
        try:
            located = await agency.oauth.get_location_access_token({"companyId": company["companyId"],
                                                                    "locationId": locs[1]})
            try:
                await agency.payments.list_orders(alt_id=locs[1])
                raise AssertionError("a Company token read orders")
            except GHLError as exc:
                refused = exc
        finally:
            await agency.close()
        reader = sdk(location_access_token=located["accessToken"])
        try:
            orders = await reader.payments.list_orders(alt_id=locs[1], limit=3)
        finally:
            await reader.close()
        return company, located, orders, refused, sent

    company, located, orders, refused, sent = asyncio.run(main())
    assert company["userType"] == "Company" and "locationId" not in company
    assert located["locationId"] == locs[1] and located["refreshToken"] and located["planId"] == app["planId"]
    assert len(orders["data"]) == 3 and orders["totalCount"] >= 3
    assert refused.status_code == 401 and refused.message == AUTH_CLASS
    minted = [r for r in sent if r.url.path == LOCATION_TOKEN_V3]
    assert len(minted) == 1 and minted[0].headers["Version"] == "v3"
    assert minted[0].headers["Authorization"] == f"Bearer {company['accessToken']}"


def test_npm_sdk_get_location_access_token(ghl_sandbox: SandboxClient, app: dict, locs: list[str],
                                           node_with_sdk: str) -> None:  # noqa: F811
    env = {**os.environ, "SANDBOX_URL": ghl_sandbox.url, "CLIENT_ID": app["clientId"],
           "CLIENT_SECRET": app["clientSecret"], "CODE": code_for(ghl_sandbox, app, locs[0]), "LOCATION": locs[1]}
    done = subprocess.run([node_with_sdk, str(NODE_SCRIPT)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=NODE_SCRIPT.parent)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["company"]["ok"], out
    assert_company_answer(out["company"]["data"], app, locs)
    assert out["refused"]["ok"] is False and out["refused"]["status"] == 401
    assert out["refused"]["name"] == "GHLAuthenticationError" and out["refused"]["body"]["message"] == AUTH_CLASS
    assert out["location"]["ok"], out["location"]
    assert out["location"]["data"]["locationId"] == locs[1] and out["location"]["data"]["planId"] == app["planId"]
    assert out["orders"]["ok"] and len(out["orders"]["data"]["data"]) == 2
    assert out["otherCompany"]["status"] == 403 and out["otherCompany"]["name"] == "GHLForbiddenError"
    assert out["missing"]["status"] == 422 and out["missing"]["name"] == "GHLValidationError"
    assert out["missing"]["body"]["name"] == "UnprocessableEntityException"
    entries = ghl_sandbox.journal(path=LOCATION_TOKEN)
    assert [e["status"] for e in entries] == [201, 403, 422]
    assert all(e["hasVersion"] and e["hasBearer"] for e in entries)


# ---- the live API's 422 body ----------------------------------------------------------------------------


def test_ghl_422_bodies_carry_the_live_apis_fields(ghl_sandbox: SandboxClient, app: dict, locs: list[str]) -> None:
    token = ghl_sandbox.location(0)["tokens"][0]["token"]
    refused = [
        ghl_sandbox.api("GET", f"{ORDERS}/0123456789abcdef01234567", token, params={"altId": locs[0]}),
        ghl_sandbox.api("GET", TRANSACTIONS, token, params={"altId": locs[0], "altType": "location", "limit": -1}),
        ghl_sandbox.api("POST", "/payments/coupon", token, json={"altId": locs[0], "altType": "location"}),
        ghl_sandbox.http.post(TOKEN, data={}),
    ]
    for r in refused:
        assert r.status_code == 422, r.text
        body = r.json()
        assert list(body) == UNPROCESSABLE_KEYS, body
        assert (body["status"], body["statusCode"], body["options"], body["name"]) == (
            422, 422, {}, "UnprocessableEntityException")
        assert isinstance(body["message"], list) and body["message"] and UUID.match(body["traceId"])
    assert refused[0].json()["message"] == ["altType should not be empty", "altType must be a string"]
    assert refused[0].json()["error"] == "Unprocessable Entity"


def test_control_plane_422_keeps_its_own_shape(ghl_sandbox: SandboxClient) -> None:
    r = ghl_sandbox.http.post("/_sandbox/oauth/authorize", json={})
    assert r.status_code == 422
    assert set(r.json()) == {"statusCode", "message", "error", "traceId"}
