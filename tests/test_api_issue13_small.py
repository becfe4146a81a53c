"""Issue 13, small items: `Version: legacy` is accepted; fulfilment `qty` is a positive integer; the
running sandbox serves its own OpenAPI documents under `/_sandbox/openapi/`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from api_support import ORDERS, assert_ghl_error, everything, get, ok

from mock_server.testing import SandboxClient, SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = {
    "sandbox-control": ROOT / "contracts" / "sandbox-control.openapi.yaml",
    "ghl-payments": ROOT / "contracts" / "ghl-payments.openapi.yaml",
    "rankr": ROOT / "contracts" / "rankr.openapi.yaml",
    "acuity": ROOT / "contracts" / "acuity.openapi.yaml",
    "workflows": ROOT / "contracts" / "workflows.openapi.yaml",
}


# ---- 1. Version: legacy ------------------------------------------------------------------------------


def test_legacy_version_is_accepted(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    params = {"altId": loc["id"], "altType": "location"}
    for path in (ORDERS, "/payments/transactions", "/payments/subscriptions"):
        r = ghl_sandbox.api("GET", path, loc["token"], version="legacy", params=params)
        assert r.status_code == 200, (path, r.text[:300])
        assert r.json() == ok(ghl_sandbox.api("GET", path, loc["token"], version="v3", params=params))
    for near_miss in ("Legacy", "LEGACY", "legacy-v1", "legacy,v3"):
        r = ghl_sandbox.api("GET", ORDERS, loc["token"], version=near_miss, params=params)
        assert_ghl_error(r, 401, "version header is invalid")


def test_contract_lists_legacy() -> None:
    doc = yaml.safe_load(CONTRACTS["ghl-payments"].read_text())
    enums = [p["schema"]["enum"] for p in doc["components"]["parameters"].values()
             if p.get("in") == "header" and p.get("name") == "Version"]
    # Every multi-version parameter lists it; the v3 generation's own paths (`/oauth/location-token`) exist
    # under `v3` only, as the live API routes them.
    assert enums and all("legacy" in e for e in enums if e != ["v3"])
    assert ["v3"] in enums and any("legacy" in e for e in enums)


# ---- 2. fulfilment qty: a positive integer -------------------------------------------------------------


def _unfulfilled(sb: SandboxClient, loc: dict[str, Any]) -> dict[str, Any]:
    for row in everything(sb, loc, ORDERS, paymentStatus="paid"):
        if row["fulfillmentStatus"] == "unfulfilled":
            full = ok(get(sb, loc, f"{ORDERS}/{row['_id']}"))
            if any(i["qty"] >= 1 for i in full["items"]):
                return full
    raise AssertionError("no unfulfilled paid order in the seeded data")


def _post(sb: SandboxClient, loc: dict[str, Any], order_id: str, qty: Any, price_id: str) -> httpx.Response:
    body = {"altId": loc["id"], "altType": "location", "trackings": [], "notifyCustomer": False,
            "items": [{"priceId": price_id, "qty": qty}]}
    return sb.api("POST", f"{ORDERS}/{order_id}/fulfillments", loc["token"], json=body)


@pytest.mark.parametrize(("qty", "message"), [
    (0.5, "items.0.qty must be an integer number"),
    (1.5, "items.0.qty must be an integer number"),
    (1e-320, "items.0.qty must be an integer number"),
    (0, "items.0.qty must be a positive number"),
    (-1, "items.0.qty must be a positive number"),
    (-1.0, "items.0.qty must be a positive number"),
    ("1", "items.0.qty must be an integer number"),
    ("1", "items.0.qty must be a number conforming to the specified constraints"),
    (None, "items.0.qty must be an integer number"),
    (True, "items.0.qty must be an integer number"),
    (2**53, "items.0.qty must not be greater than 9007199254740991"),
])
def test_fractional_or_non_positive_qty_is_422(ghl_sandbox: SandboxClient, loc: dict[str, Any], qty: Any,
                                               message: str) -> None:
    full = _unfulfilled(ghl_sandbox, loc)
    price_id = full["items"][0]["price"]["_id"]
    assert_ghl_error(_post(ghl_sandbox, loc, full["_id"], qty, price_id), 422, message)
    # Nothing was recorded.
    listed = ok(get(ghl_sandbox, loc, f"{ORDERS}/{full['_id']}/fulfillments"))
    assert listed["data"] == []


def test_integer_valued_float_qty_is_one_unit(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    full = _unfulfilled(ghl_sandbox, loc)
    price_id = full["items"][0]["price"]["_id"]
    r = _post(ghl_sandbox, loc, full["_id"], 1.0, price_id)
    created = ok(r)["data"]
    assert created["items"][0]["qty"] == 1
    assert '"qty":1,' in r.text.replace(" ", "") or '"qty":1}' in r.text.replace(" ", "")
    listed = ok(get(ghl_sandbox, loc, f"{ORDERS}/{full['_id']}/fulfillments"))["data"]
    assert [f["_id"] for f in listed] == [created["_id"]]
    assert isinstance(listed[0]["items"][0]["qty"], int)


# ---- 3. the sandbox serves its own contracts ---------------------------------------------------------


def test_lists_every_contract(ghl_sandbox: SandboxClient) -> None:
    r = ghl_sandbox.http.get("/_sandbox/openapi/")
    body = ok(r)
    assert set(body) == {"contracts"}
    listed = {c["name"]: c for c in body["contracts"]}
    assert set(listed) == set(CONTRACTS)
    assert body["contracts"][0]["name"] == "sandbox-control"
    for name, c in listed.items():
        assert set(c) == {"name", "path", "title"}
        assert c["path"] == f"/_sandbox/openapi/{name}"
        assert c["title"] == yaml.safe_load(CONTRACTS[name].read_text())["info"]["title"]


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_serves_each_document_as_yaml_and_json(ghl_sandbox: SandboxClient, name: str) -> None:
    on_disk = CONTRACTS[name].read_bytes()
    r = ghl_sandbox.http.get(f"/_sandbox/openapi/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/yaml")
    assert r.content == on_disk
    as_json = ghl_sandbox.http.get(f"/_sandbox/openapi/{name}", params={"format": "json"})
    assert ok(as_json)["paths"].keys() == yaml.safe_load(on_disk)["paths"].keys()
    by_accept = ghl_sandbox.http.get(f"/_sandbox/openapi/{name}", headers={"Accept": "application/json"})
    assert ok(by_accept) == as_json.json()
    # `format` wins over Accept.
    forced = ghl_sandbox.http.get(f"/_sandbox/openapi/{name}", params={"format": "yaml"},
                                  headers={"Accept": "application/json"})
    assert forced.headers["content-type"].startswith("application/yaml") and forced.content == on_disk
    # A valid OpenAPI document, as a loader reads it (schemathesis checks the document on load).
    assert list(schemathesis.openapi.from_dict(as_json.json()).get_all_operations())


def test_unknown_names_and_formats(ghl_sandbox: SandboxClient) -> None:
    for name in ("nope", "ghl-payments.openapi.yaml", "..%2Fcontracts%2Fghl-payments", "GHL-PAYMENTS"):
        r = ghl_sandbox.http.get(f"/_sandbox/openapi/{name}")
        assert r.status_code == 404, (name, r.text)
        body = r.json()
        assert body["statusCode"] == 404
    r = ghl_sandbox.http.get("/_sandbox/openapi/nope")
    assert "ghl-payments" in r.json()["message"]
    r = ghl_sandbox.http.get("/_sandbox/openapi/ghl-payments", params={"format": "xml"})
    assert r.status_code == 422, r.text
    assert r.json()["message"] == ["format must be one of the following values: yaml, json"]


def test_schemathesis_loads_the_served_documents(ghl_sandbox: SandboxClient) -> None:
    url = ghl_sandbox.url
    ghl = schemathesis.openapi.from_url(f"{url}/_sandbox/openapi/ghl-payments")
    ghl_ops = {(op.method.upper(), op.path) for op in (r.ok() for r in ghl.get_all_operations())}
    assert ("POST", "/payments/orders/{orderId}/fulfillments") in ghl_ops
    assert ("GET", "/payments/orders") in ghl_ops
    control_doc = ok(ghl_sandbox.http.get("/_sandbox/openapi/sandbox-control", params={"format": "json"}))
    control = schemathesis.openapi.from_dict(control_doc)
    control_ops = {(op.method.upper(), op.path) for op in (r.ok() for r in control.get_all_operations())}
    assert ("GET", "/_sandbox/openapi/{name}") in control_ops
    assert ("GET", "/_sandbox/openapi/") in control_ops
    # The served operations answer as documented: one served operation, checked against its document.
    op = control["/_sandbox/openapi/"]["GET"]
    r = ghl_sandbox.http.get("/_sandbox/openapi/")
    op.validate_response(r)


ADMIN = "i13-admin-token"


@pytest.fixture(scope="module")
def admin_server() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--admin-token", ADMIN, "--orders", "5"]) as proc:
        yield proc


def test_admin_token_guards_the_contracts(admin_server: SandboxProcess) -> None:
    with httpx.Client(base_url=admin_server.url, timeout=30) as http:
        for path in ("/_sandbox/openapi/", "/_sandbox/openapi/ghl-payments", "/_sandbox/openapi/nope"):
            r = http.get(path)
            assert r.status_code == 401, (path, r.text)
            assert http.get(path, headers={"X-Sandbox-Admin-Token": "wrong"}).status_code == 401
        r = http.get("/_sandbox/openapi/ghl-payments", headers={"X-Sandbox-Admin-Token": ADMIN})
        assert r.status_code == 200 and r.content == CONTRACTS["ghl-payments"].read_bytes()
        r = http.get("/_sandbox/openapi/nope", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 404


@pytest.mark.timeout(300)
def test_a_built_package_serves_the_same_documents(tmp_path: Path) -> None:
    """What a wheel holds: setuptools' build_py copies the package data (the packages' symlinks into
    contracts/ become regular files). A sandbox run from that tree alone, with no contracts/ beside it,
    serves every document byte for byte."""
    build = tmp_path / "build"
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "egg_info", "--egg-base", str(tmp_path), "build_py",
                    "--build-lib", str(build)], cwd=ROOT, check=True, capture_output=True, timeout=240)
    assert not (build / "contracts").exists()
    env = {"PYTHONPATH": str(build)}
    with SandboxProcess(["--orders", "3"], env=env, cwd=str(tmp_path)) as proc, \
            httpx.Client(base_url=proc.url, timeout=30) as http:
        listed = ok(http.get("/_sandbox/openapi/"))["contracts"]
        assert [c["name"] for c in listed][0] == "sandbox-control" and {c["name"] for c in listed} == set(CONTRACTS)
        for name, file in CONTRACTS.items():
            r = http.get(f"/_sandbox/openapi/{name}")
            assert r.status_code == 200 and r.content == file.read_bytes(), name
    shipped = {p.name for p in build.rglob("*.openapi.yaml")}
    assert shipped == {f.name for f in CONTRACTS.values()}
    assert not any(p.is_symlink() for p in build.rglob("*.openapi.yaml"))
