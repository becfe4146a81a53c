"""The custom payment provider operations (`/payments/custom-provider/...`): over real HTTP, through the
official Python SDK (`gohighlevel-api-client`) and the official npm SDK (`@gohighlevel/api-client`)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from api_support import ISO_MS, OBJECT_ID, assert_ghl_error, ok, second_location
from highlevel import HighLevel
from test_sdk import assert_sdk_error, ghl_error, oauth_config, run

from mock_server.testing import SandboxClient

PROVIDER = "/payments/custom-provider/provider"
CONNECT = "/payments/custom-provider/connect"
DISCONNECT = "/payments/custom-provider/disconnect"
CAPABILITIES = "/payments/custom-provider/capabilities"
# GetCustomProvidersResponseSchema's required fields (the create and connect answers share the schema).
REQUIRED = {"name", "description", "paymentsUrl", "queryUrl", "imageUrl", "_id", "locationId", "marketplaceAppId",
            "deleted", "createdAt", "updatedAt"}
LIVE = {"apiKey": "live_api_key_1", "publishableKey": "live_pub_key_1"}
TEST = {"apiKey": "test_api_key_1", "publishableKey": "test_pub_key_1"}


def body(**overrides: Any) -> dict[str, Any]:
    return {"name": "Company Paypal Integration", "description": "Payments in India via UPI and cards",
            "paymentsUrl": "https://pay.example.com/session", "queryUrl": "https://pay.example.com/query",
            "imageUrl": "https://pay.example.com/logo.png", "supportsSubscriptionSchedule": True, **overrides}


def call(sb: SandboxClient, loc: dict[str, Any], method: str, path: str, json_body: Any = None,
         location_id: str | None = None, token: str | None = None) -> Any:
    params = {"locationId": location_id if location_id is not None else loc["id"]}
    kwargs: dict[str, Any] = {"params": params}
    if json_body is not None:
        kwargs["json"] = json_body
    return sb.api(method, path, token or loc["token"], **kwargs)


def assert_provider(p: dict[str, Any], loc: dict[str, Any]) -> None:
    assert set(p) >= REQUIRED, REQUIRED - set(p)
    assert OBJECT_ID.match(p["_id"]) and p["locationId"] == loc["id"] and p["deleted"] is False
    assert ISO_MS.match(p["createdAt"]) and ISO_MS.match(p["updatedAt"])
    assert isinstance(p["paymentProvider"], dict) and isinstance(p["marketplaceAppId"], str) and p["marketplaceAppId"]


def test_lifecycle_over_http(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    assert_ghl_error(call(sb, loc, "GET", CONNECT), 400, "Custom provider not found")
    created = ok(call(sb, loc, "POST", PROVIDER, body()))
    assert_provider(created, loc)
    assert created["name"] == "Company Paypal Integration" and created["paymentProvider"] == {}
    assert created["marketplaceAppId"] == sb.apps()[0]["appId"]  # the app whose token created it
    fetched = ok(call(sb, loc, "GET", CONNECT))
    assert fetched == created

    connected = ok(call(sb, loc, "POST", CONNECT, {"live": LIVE, "test": TEST}))
    assert connected["_id"] == created["_id"]
    assert connected["paymentProvider"] == {"live": {"liveMode": True, **LIVE}, "test": {"liveMode": False, **TEST}}
    assert ok(call(sb, loc, "GET", CONNECT))["paymentProvider"] == connected["paymentProvider"]

    assert ok(call(sb, loc, "POST", DISCONNECT, {"liveMode": True})) == {"success": True}
    assert ok(call(sb, loc, "GET", CONNECT))["paymentProvider"] == {"test": {"liveMode": False, **TEST}}
    # the live side is gone: disconnecting it again is refused
    assert_ghl_error(call(sb, loc, "POST", DISCONNECT, {"liveMode": True}), 400,
                     "No live config is connected for this custom provider")
    # connecting only live keeps the test configuration
    ok(call(sb, loc, "POST", CONNECT, {"live": {"apiKey": "k2", "publishableKey": "p2"}}))
    shown = ok(call(sb, loc, "GET", CONNECT))["paymentProvider"]
    assert shown == {"live": {"liveMode": True, "apiKey": "k2", "publishableKey": "p2"},
                     "test": {"liveMode": False, **TEST}}
    assert ok(call(sb, loc, "POST", DISCONNECT, {"liveMode": False})) == {"success": True}
    assert set(ok(call(sb, loc, "GET", CONNECT))["paymentProvider"]) == {"live"}

    # creating again updates the details, keeps id and configurations
    again = ok(call(sb, loc, "POST", PROVIDER, body(name="Renamed")))
    assert again["_id"] == created["_id"] and again["name"] == "Renamed" and set(again["paymentProvider"]) == {"live"}

    assert ok(call(sb, loc, "DELETE", PROVIDER)) == {"success": True}
    assert_ghl_error(call(sb, loc, "GET", CONNECT), 400, "Custom provider not found")
    assert_ghl_error(call(sb, loc, "DELETE", PROVIDER), 400, "Custom provider not found")


def test_capabilities(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    caps = {"locationId": loc["id"], "supportsSubscriptionSchedules": False}
    assert_ghl_error(sb.api("PUT", CAPABILITIES, loc["token"], json=caps), 400, "Custom provider not found")
    ok(call(sb, loc, "POST", PROVIDER, body()))
    assert ok(call(sb, loc, "GET", CONNECT))["supportsSubscriptionSchedule"] is True
    assert ok(sb.api("PUT", CAPABILITIES, loc["token"], json=caps)) == {"success": True}
    assert ok(call(sb, loc, "GET", CONNECT))["supportsSubscriptionSchedule"] is False
    company_id = loc["view"]["companyId"]
    assert ok(sb.api("PUT", CAPABILITIES, loc["token"],
                     json={"companyId": company_id, "supportsSubscriptionSchedules": True})) == {"success": True}
    assert ok(call(sb, loc, "GET", CONNECT))["supportsSubscriptionSchedule"] is True
    # errors: neither id, a bad boolean, another location, another company
    r = sb.api("PUT", CAPABILITIES, loc["token"], json={"supportsSubscriptionSchedules": True})
    assert_ghl_error(r, 422, "locationId should not be empty when companyId is not provided")
    r = sb.api("PUT", CAPABILITIES, loc["token"], json={"locationId": loc["id"], "supportsSubscriptionSchedules": "x"})
    assert_ghl_error(r, 422, "supportsSubscriptionSchedules must be a boolean value")
    other = second_location(sb)
    r = sb.api("PUT", CAPABILITIES, loc["token"], json={"locationId": other["id"], "supportsSubscriptionSchedules": True})
    assert_ghl_error(r, 403)
    r = sb.api("PUT", CAPABILITIES, loc["token"], json={"companyId": "notMyCompany0000000", "supportsSubscriptionSchedules": True})
    assert_ghl_error(r, 403)


def test_errors_over_http(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    # config before provider
    assert_ghl_error(call(sb, loc, "POST", CONNECT, {"live": LIVE, "test": TEST}), 400, "Custom provider not found")
    assert_ghl_error(call(sb, loc, "POST", DISCONNECT, {"liveMode": False}), 400, "Custom provider not found")
    # missing locationId
    r = sb.api("GET", CONNECT, loc["token"])
    assert_ghl_error(r, 422, "locationId should not be empty")
    r = sb.api("POST", PROVIDER, loc["token"], json=body())
    assert_ghl_error(r, 422, "locationId should not be empty")
    # another location than the token's
    other = second_location(sb)
    assert_ghl_error(call(sb, loc, "POST", PROVIDER, body(), location_id=other["id"]), 403)
    assert_ghl_error(call(sb, loc, "GET", CONNECT, location_id=other["id"]), 403)
    # bad bodies: every problem listed
    r = call(sb, loc, "POST", PROVIDER, {"name": 5, "paymentsUrl": "ftp://x", "supportsSubscriptionSchedule": "yes"})
    msgs = assert_ghl_error(r, 422)["message"]
    for m in ("name must be a string", "description should not be empty", "paymentsUrl must be a URL address",
              "queryUrl should not be empty", "imageUrl should not be empty",
              "supportsSubscriptionSchedule must be a boolean value"):
        assert m in msgs, msgs
    # a URL whose host does not parse (an unclosed IPv6 bracket) is refused, never stored and echoed back
    r = call(sb, loc, "POST", PROVIDER, {**body(), "imageUrl": "https://[::1/logo.png", "queryUrl": "http:// spaced"})
    msgs = assert_ghl_error(r, 422)["message"]
    assert "imageUrl must be a URL address" in msgs and "queryUrl must be a URL address" in msgs, msgs
    ok(call(sb, loc, "POST", PROVIDER, body()))
    assert_ghl_error(call(sb, loc, "POST", CONNECT, {}), 422, "live should not be empty")
    r = call(sb, loc, "POST", CONNECT, {"live": {"apiKey": "k"}, "test": "nope"})
    msgs = assert_ghl_error(r, 422)["message"]
    assert "live.publishableKey should not be empty" in msgs and "test must be an object" in msgs
    assert_ghl_error(call(sb, loc, "POST", DISCONNECT, {}), 422, "liveMode should not be empty")
    assert_ghl_error(sb.api("POST", CONNECT, loc["token"], params={"locationId": loc["id"]}, content=b"{oops",
                            headers={"content-type": "application/json"}), 400)
    # nothing changed by the refused calls
    assert ok(call(sb, loc, "GET", CONNECT))["paymentProvider"] == {}
    # the provider is the location's own: the second location sees none
    assert_ghl_error(call(sb, other, "GET", CONNECT), 400, "Custom provider not found")


def test_scopes(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    read_only = sb.token(loc["id"], scopes=["payments/custom-provider.readonly"])["token"]
    ok(call(sb, loc, "POST", PROVIDER, body()))
    assert ok(call(sb, loc, "GET", CONNECT, token=read_only))["name"] == "Company Paypal Integration"
    for method, path, payload in (("POST", PROVIDER, body()), ("DELETE", PROVIDER, None),
                                  ("POST", CONNECT, {"live": LIVE}), ("POST", DISCONNECT, {"liveMode": True})):
        r = call(sb, loc, method, path, payload, token=read_only)
        assert r.status_code == 401, (method, path, r.text)
    r = sb.api("PUT", CAPABILITIES, read_only, json={"locationId": loc["id"], "supportsSubscriptionSchedules": True})
    assert r.status_code == 401
    write_only = sb.token(loc["id"], scopes=["payments/custom-provider.write"])["token"]
    assert call(sb, loc, "GET", CONNECT, token=write_only).status_code == 401


def test_reset_with_the_location(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    ok(call(sb, loc, "POST", PROVIDER, body()))
    other = second_location(sb)
    ok(call(sb, other, "POST", PROVIDER, body(name="Other")))
    sb.control("POST", f"/locations/{loc['id']}/reset")
    assert_ghl_error(call(sb, loc, "GET", CONNECT), 400, "Custom provider not found")
    assert ok(call(sb, other, "GET", CONNECT))["name"] == "Other"


# ---- the official Python SDK ----------------------------------------------------------------------


def test_python_sdk(ghl_sandbox: SandboxClient, loc: dict) -> None:
    sb = ghl_sandbox
    config = oauth_config(sb, loc)
    lid = loc["id"]

    async def lifecycle(ghl: HighLevel) -> list[Any]:
        p = ghl.payments
        out: list[Any] = [await p.create_integration(lid, body())]
        out.append(await p.create_config(lid, {"live": LIVE, "test": TEST}))
        out.append(await p.fetch_config(lid))
        out.append(await p.disconnect_config(lid, {"liveMode": False}))
        out.append(await p.fetch_config(lid))
        out.append(await p.custom_provider_marketplace_app_update_capabilities(
            {"locationId": lid, "supportsSubscriptionSchedules": False}))
        out.append(await p.fetch_config(lid))
        out.append(await p.delete_integration(lid))
        return out

    results, sent = run(sb, lifecycle, **config)
    created, connected, fetched, disconnected, after, caps, after_caps, deleted = results
    assert_provider(created, loc)
    assert connected["paymentProvider"] == {"live": {"liveMode": True, **LIVE}, "test": {"liveMode": False, **TEST}}
    assert fetched == connected
    assert disconnected == {"success": True} and after["paymentProvider"] == {"live": {"liveMode": True, **LIVE}}
    assert caps == {"success": True} and after_caps["supportsSubscriptionSchedule"] is False
    assert deleted == {"success": True}
    assert [(r.method, r.url.path) for r in sent] == [
        ("POST", PROVIDER), ("POST", CONNECT), ("GET", CONNECT), ("POST", DISCONNECT), ("GET", CONNECT),
        ("PUT", CAPABILITIES), ("GET", CONNECT), ("DELETE", PROVIDER)]
    assert all(r.url.params.get("locationId") == lid for r in sent if r.method != "PUT")

    err = ghl_error(sb, lambda ghl: ghl.payments.fetch_config(lid), **config)
    assert_sdk_error(err, 400, "Custom provider not found")
    err = ghl_error(sb, lambda ghl: ghl.payments.create_config(lid, {"live": LIVE}), **config)
    assert_sdk_error(err, 400, "Custom provider not found")
    err = ghl_error(sb, lambda ghl: ghl.payments.create_integration(lid, {"name": "x"}), **config)
    assert err.status_code == 422 and "paymentsUrl should not be empty" in str(err.response)
    other = second_location(sb)["id"]
    err = ghl_error(sb, lambda ghl: ghl.payments.fetch_config(other), **config)
    assert err.status_code == 403


# ---- the official npm SDK -------------------------------------------------------------------------


# tests/node, installed exactly as tests/test_node_sdk_webhooks.py's `node_with_sdk` does it (same lock file and
# stamp, so the two never run `npm ci` at once). Not imported from there: importing that module (and
# test_js_json's Hypothesis tests) into this one changed what the Schemathesis run in the same process generates.
NODE_DIR = Path(__file__).resolve().parent / "node"
LOCK = NODE_DIR / "package-lock.json"
STAMP = NODE_DIR / "node_modules" / ".ghl-sandbox-lock.sha256"


@pytest.fixture(scope="session")
def node_sdk() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not on PATH (`make node` installs them)")
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    guard = Path(tempfile.gettempdir()) / f"ghl-sandbox-npm-{hashlib.sha256(bytes(NODE_DIR)).hexdigest()[:12]}.lock"
    with guard.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (STAMP.exists() and STAMP.read_text() == digest):
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                                  capture_output=True, text=True, timeout=600, check=False)
            output = (done.stdout + done.stderr)[-3000:]
            if done.returncode != 0 and any(code in output for code in ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT")):
                pytest.skip(f"npm ci in tests/node could not reach the npm registry:\n{output}")
            assert done.returncode == 0, output
            STAMP.write_text(digest)
    installed = json.loads((NODE_DIR / "node_modules" / "@gohighlevel" / "api-client" / "package.json").read_text())
    assert installed["version"] == "3.1.0"
    return node


def node_steps(node: str, sb: SandboxClient, loc: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    app = sb.apps()[0]
    env = {**os.environ, "BASE_URL": sb.url, "CLIENT_ID": app["clientId"], "CLIENT_SECRET": app["clientSecret"],
           "TOKEN": loc["token"]}
    done = subprocess.run([node, str(NODE_DIR / "custom_provider_sdk.js"), json.dumps(steps)], cwd=NODE_DIR, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(results) == len(steps)
    return results


def test_npm_sdk(ghl_sandbox: SandboxClient, loc: dict, node_sdk: str) -> None:
    sb = ghl_sandbox
    lid = {"locationId": loc["id"]}
    other = {"locationId": second_location(sb)["id"]}
    steps: list[dict[str, Any]] = [
        {"op": "fetchConfig", "params": lid},
        {"op": "createConfig", "params": lid, "body": {"live": LIVE, "test": TEST}},
        {"op": "createIntegration", "params": lid, "body": body()},
        {"op": "createConfig", "params": lid, "body": {"live": LIVE, "test": TEST}},
        {"op": "fetchConfig", "params": lid},
        {"op": "disconnectConfig", "params": lid, "body": {"liveMode": True}},
        {"op": "fetchConfig", "params": lid},
        {"op": "customProviderMarketplaceAppUpdateCapabilities",
         "body": {"locationId": loc["id"], "supportsSubscriptionSchedules": False}},
        {"op": "fetchConfig", "params": lid},
        {"op": "createIntegration", "params": lid, "body": {"name": 3}},
        {"op": "fetchConfig", "params": other},
        {"op": "disconnectConfig", "params": lid, "body": {}},
        {"op": "deleteIntegration", "params": lid},
        {"op": "fetchConfig", "params": lid},
    ]
    r = node_steps(node_sdk, sb, loc, steps)
    assert [s["ok"] for s in r] == [False, False, True, True, True, True, True, True, True, False, False, False,
                                   True, False]
    assert r[0]["status"] == 400 and r[0]["body"]["message"] == "Custom provider not found"
    assert r[1]["status"] == 400
    assert_provider(r[2]["data"], loc)
    both = {"live": {"liveMode": True, **LIVE}, "test": {"liveMode": False, **TEST}}
    assert r[3]["data"]["paymentProvider"] == both and r[4]["data"]["paymentProvider"] == both
    assert r[5]["data"] == {"success": True}
    assert r[6]["data"]["paymentProvider"] == {"test": {"liveMode": False, **TEST}}
    assert r[7]["data"] == {"success": True} and r[8]["data"]["supportsSubscriptionSchedule"] is False
    assert r[9]["status"] == 422 and "name must be a string" in r[9]["body"]["message"]
    assert r[10]["status"] == 403
    assert r[11]["status"] == 422 and "liveMode should not be empty" in r[11]["body"]["message"]
    assert r[12]["data"] == {"success": True}
    assert r[13]["status"] == 400
    # what the SDK did is what the sandbox holds now
    assert_ghl_error(call(sb, loc, "GET", CONNECT), 400, "Custom provider not found")


def test_saved_state_and_trailing_slash(ghl_sandbox: SandboxClient, loc: dict) -> None:
    """The provider travels with an exported world, and the slash-ended paths answer the same."""
    sb = ghl_sandbox
    ok(sb.api("POST", PROVIDER + "/", loc["token"], params={"locationId": loc["id"]}, json=body()))
    ok(sb.api("POST", CONNECT + "/", loc["token"], params={"locationId": loc["id"]}, json={"test": TEST}))
    saved = sb.control("GET", "/state")
    assert [row["name"] for row in saved["tables"]["custom_providers"]] == ["Company Paypal Integration"]
    ok(call(sb, loc, "DELETE", PROVIDER))
    assert_ghl_error(call(sb, loc, "GET", CONNECT), 400, "Custom provider not found")
    sb.control("PUT", "/state", json=saved)
    restored = ok(sb.api("GET", CONNECT + "/", loc["token"], params={"locationId": loc["id"]}))
    assert restored["paymentProvider"] == {"test": {"liveMode": False, **TEST}}
