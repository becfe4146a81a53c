"""The pytest plugin's settings, proven end to end: pytest runs in a subprocess on generated test files,
ini files and project files; the generated tests record what the sandbox they got says about itself
(seed, ids, rate-limit headers, retry policy, its URL) and the assertions here compare the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = "pytester"

# The generated tests' shared helper: `observe(sb)` asks the sandbox about itself and saves the answer
# as out/<test name>.json for the assertions of this file.
CONFTEST = '''
import dataclasses
import json
import pathlib

import pytest

OUT = pathlib.Path(__file__).parent / "out"


@pytest.fixture
def observe(request):
    def run(sb, burst=False, simulate=False, **extra):
        loc = sb.location(0)
        token = loc["tokens"][0]["token"]

        def hit():
            return sb.api("GET", "/payments/orders", token, params={"altId": loc["locationId"], "limit": 1})

        first = hit()
        body = first.json()
        data = {"url": sb.url, "seed": sb.control("GET", "/health")["seed"], "location": loc["locationId"],
                "token": token, "status": first.status_code, "max": first.headers.get("x-ratelimit-max"),
                "firstOrder": body["data"][0]["_id"] if body.get("data") else None,
                "total": body.get("totalCount"), "profile": sb.control("GET", "/ratelimit")["profile"],
                "policy": sb.control("GET", "/webhooks/policy"), "settings": dataclasses.asdict(sb.settings),
                **extra}
        if burst:  # 100 more: the 101st request in 10 s is over GHL's default burst
            data["burst"] = [hit().status_code for _ in range(100)]
        if simulate:
            data["events"] = sorted({h["event"] for h in sb.simulate("subscription.create")["webhooks"]})
        OUT.mkdir(exist_ok=True)
        (OUT / f"{request.node.name}.json").write_text(json.dumps(data))
        return data
    return run
'''


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, dict[str, Any]]]:
    """pytest in a subprocess; the records its tests saved. The other installed plugins (hypothesis,
    schemathesis: seconds of imports) stay out and ours is named with -p; that the pytest11 entry point
    loads it is proven by this suite itself, whose tests get `ghl_sandbox` from it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "mock_server.pytest_plugin", *args,
                                               timeout=120)
    out = pytester.path / "out"
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")} if out.is_dir() else {}
    return result, records


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The generated tests must not inherit a URL or token meant for another sandbox.
    for name in ("GHL_SANDBOX_URL", "GHL_SANDBOX_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def _setup(pytester: pytest.Pytester, tests: str, ini: str = "") -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_generated=tests)
    pytester.makeini("[pytest]\n" + ini)


DEFAULTS_AND_MARKERS = '''
import pytest
from mock_server.testing import SandboxClient


def test_a_default(ghl_sandbox, observe):
    observe(ghl_sandbox, burst=True, simulate=True)


@pytest.mark.ghl_sandbox(rate_limit="off")
def test_b_off(ghl_sandbox, observe):
    observe(ghl_sandbox, burst=True)


def test_c_after_off(ghl_sandbox, observe):
    observe(ghl_sandbox)


@pytest.mark.ghl_sandbox(seed=7, orders=20)
def test_d_seed7(ghl_sandbox, observe):
    observe(ghl_sandbox)


def test_d2_process_after_seed7(ghl_sandbox_process, observe):
    client = SandboxClient(ghl_sandbox_process.url)
    try:
        health = client.control("GET", "/health")
    finally:
        client.close()
    import json, pathlib
    out = pathlib.Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "test_d2_process_after_seed7.json").write_text(json.dumps({"url": ghl_sandbox_process.url,
                                                                      "seed": health["seed"]}))


@pytest.mark.ghl_sandbox(seed=42)
def test_e_seed42(ghl_sandbox, observe):
    observe(ghl_sandbox)


@pytest.mark.ghl_sandbox(webhook_policy="exponential", retry_interval=0.2)
def test_f_policy(ghl_sandbox, observe):
    observe(ghl_sandbox)


def test_g_after_policy(ghl_sandbox, observe):
    observe(ghl_sandbox)


@pytest.mark.ghl_sandbox(serve_args=["--extension-events"])
class TestExtensionEvents:
    def test_h1(self, ghl_sandbox, observe):
        observe(ghl_sandbox, simulate=True)

    @pytest.mark.ghl_sandbox(seed=7)
    def test_h2(self, ghl_sandbox, observe):
        observe(ghl_sandbox)
'''


def test_defaults_and_per_test_markers(pytester: pytest.Pytester) -> None:
    _setup(pytester, DEFAULTS_AND_MARKERS)
    result, rec = _run(pytester, "--strict-markers")  # the marker is registered
    result.assert_outcomes(passed=10)
    a, b, c = rec["test_a_default"], rec["test_b_off"], rec["test_c_after_off"]
    # Default: GHL's real profile, enforced: 100 per 10 s, then 429.
    assert (a["profile"], a["max"], a["status"]) == ("default", "100", 200)
    assert a["burst"][:99] == [200] * 99 and a["burst"][99] == 429
    # rate_limit="off" for one test: nothing refused; the next test is back on the default profile.
    assert b["profile"] == "off" and set(b["burst"]) == {200}
    assert c["profile"] == "default" and c["url"] == a["url"] == b["url"]
    # seed=7 changes the ids and is then undone; seed=42 (the default) gives the default's ids back.
    d, e = rec["test_d_seed7"], rec["test_e_seed42"]
    assert d["seed"] == 7 and d["total"] == 20 and d["url"] == a["url"]
    assert d["location"] != a["location"] and d["firstOrder"] != a["firstOrder"]
    assert (e["location"], e["firstOrder"]) == (a["location"], a["firstOrder"])
    assert rec["test_d2_process_after_seed7"] == {"url": a["url"], "seed": 42}
    # The retry policy for one test, then the server's own again.
    f, g = rec["test_f_policy"], rec["test_g_after_policy"]
    assert (f["policy"]["name"], f["policy"]["retryIntervalS"]) == ("exponential", 0.2)
    assert (g["policy"]["name"], g["policy"]["retryIntervalS"]) == (a["policy"]["name"], a["policy"]["retryIntervalS"])
    assert a["policy"]["name"] == "ghl"
    # Other serve args: another server, shared by the tests that ask for the same args, and the flag
    # really applies there (extension webhooks that the default server does not send).
    h1, h2 = rec["test_h1"], rec["test_h2"]
    assert h1["url"] != a["url"] and h2["url"] == h1["url"]
    assert set(h1["events"]) > set(a["events"])
    assert h1["settings"]["serve_args"] == ["--extension-events"]
    # The class's serve_args with the method's seed.
    assert h2["seed"] == 7 and h2["location"] == d["location"]


INI_TESTS = '''
import pytest


def test_ini(ghl_sandbox, observe):
    observe(ghl_sandbox)


@pytest.mark.ghl_sandbox(rate_limit="default", orders=3)
def test_marker_over_ini(ghl_sandbox, observe):
    observe(ghl_sandbox)
'''


def test_ini_options_and_marker_over_ini(pytester: pytest.Pytester) -> None:
    _setup(pytester, INI_TESTS, ini="ghl_sandbox_seed = 7\nghl_sandbox_orders = 5\n"
                                    "ghl_sandbox_rate_limit = sandbox-account\n"
                                    "ghl_sandbox_webhook_policy = exponential\nghl_sandbox_retry_interval = 1.5\n"
                                    "ghl_sandbox_serve_args = --webhook-max-retries 2 --admin-token 's3 cret'\n")
    # A project file's seed is below the ini option.
    (pytester.path / "ghl-sandbox.toml").write_text("[harness]\nseed = 11\n")
    result, rec = _run(pytester)
    result.assert_outcomes(passed=2)
    ini, marked = rec["test_ini"], rec["test_marker_over_ini"]
    assert (ini["seed"], ini["total"], ini["profile"], ini["max"]) == (7, 5, "sandbox-account", "25")
    assert (ini["policy"]["name"], ini["policy"]["retryIntervalS"], ini["policy"]["maxRetries"]) == (
        "exponential", 1.5, 2)
    assert (marked["seed"], marked["total"], marked["profile"], marked["max"]) == (7, 3, "default", "100")
    assert marked["url"] == ini["url"]
    assert marked["policy"]["maxRetries"] == 2  # what serve_args set survives the per-test policy
    # The control plane wants the admin token from serve_args: the fixture passes it on its own.
    assert ini["settings"]["serve_args"] == ["--webhook-max-retries", "2", "--admin-token", "s3 cret"]


BAD_USAGE = '''
import pytest


@pytest.mark.ghl_sandbox(sed=7)
def test_unknown_keyword(ghl_sandbox):
    pass


@pytest.mark.ghl_sandbox(rate_limit="unlimited")
def test_bad_rate_limit(ghl_sandbox):
    pass


@pytest.mark.ghl_sandbox(7)
def test_positional(ghl_sandbox):
    pass


@pytest.mark.ghl_sandbox(retry_interval="soon", seed=True)
def test_bad_interval(ghl_sandbox):
    pass


@pytest.mark.ghl_sandbox(serve_args=["--seed", "3"])
def test_managed_serve_arg(ghl_sandbox):
    pass


@pytest.mark.ghl_sandbox(serve_args=["--no-such-option"])
def test_bad_serve_args(ghl_sandbox):
    pass


def test_fine(ghl_sandbox):
    assert ghl_sandbox.locations()
'''


def test_bad_marker_usage_is_reported_per_test(pytester: pytest.Pytester) -> None:
    _setup(pytester, BAD_USAGE)
    result, _ = _run(pytester)
    result.assert_outcomes(passed=1, errors=6)
    out = result.stdout.str()
    assert "Traceback" not in out and "raise SettingError" not in out
    expected = {
        "test_unknown_keyword": "@pytest.mark.ghl_sandbox: unknown keyword 'sed' (known: seed, orders,",
        "test_bad_rate_limit": "rate_limit must be one of default, off, sandbox-account, not 'unlimited'",
        "test_positional": "takes keyword arguments only",
        "test_bad_interval": "seed must be a whole number",
        "test_managed_serve_arg": "serve_args: --seed is set by the plugin (use the seed= keyword",
        "test_bad_serve_args": "could not start `ghl-sandbox serve --no-such-option`",
    }
    for test, message in expected.items():
        lines = [line for line in out.splitlines() if f"test_generated.py::{test}: " in line]
        assert any(message in line for line in lines), (test, message, out)
    assert "No such option" in out and "During handling" not in out

    # A bad ini value stops the run at once, with a usage error rather than a traceback.
    bad_ini, _ = _run(pytester, "-o", "ghl_sandbox_retry_interval=-1")
    assert bad_ini.ret == pytest.ExitCode.USAGE_ERROR
    err = bad_ini.stderr.str()
    assert "ghl_sandbox_retry_interval must be a number of seconds from 0 to 86400, not -1" in err
    assert "Traceback" not in err


PROJECT_TESTS = '''
import pytest


def test_project(ghl_sandbox, observe, tmp_path):
    observe(ghl_sandbox, project=str(ghl_sandbox.project.path),
            env=ghl_sandbox.client_env(4321, tmp_path / "state", environ={"APP_MODE": "ci"}),
            env2=ghl_sandbox.client_env(4322, tmp_path / "state2", location_index=1, environ={"APP_MODE": "ci"}),
            second=ghl_sandbox.location(1), app=ghl_sandbox.control("GET", "/apps")[0],
            keys=ghl_sandbox.control("GET", "/keys"), state=str(tmp_path / "state"))


@pytest.mark.ghl_sandbox(seed=42)
def test_marker_over_project(ghl_sandbox, observe):
    observe(ghl_sandbox)
'''

PROJECT_FILE = '''
[client]
command = "node server.js"

[client.env]
SHOP_GHL_TOKEN = "{ghl.access_token}"
SHOP_LOCATION = "{ghl.location_id}"
SHOP_CLIENT_SECRET = "{ghl.client_secret}"
SHOP_KEY = "{ghl.webhook_public_key}"
DATABASE_URL = "sqlite:///{client.state_dir}/app.db"
PORT = "{client.port}"
MODE = "{env.APP_MODE}-{{literal}}"

[harness]
seed = 7
'''


def test_project_file_seed_and_client_env(pytester: pytest.Pytester) -> None:
    _setup(pytester, PROJECT_TESTS)
    (pytester.path / "ghl-sandbox.toml").write_text(PROJECT_FILE)
    result, rec = _run(pytester)
    result.assert_outcomes(passed=2)
    p, marked = rec["test_project"], rec["test_marker_over_project"]
    assert p["seed"] == 7 and marked["seed"] == 42 and p["location"] != marked["location"]
    assert Path(p["project"]).name == "ghl-sandbox.toml"
    env = p["env"]
    # The user's own names, rendered for this sandbox and location...
    assert env["SHOP_GHL_TOKEN"] == p["token"] and env["SHOP_LOCATION"] == p["location"]
    assert env["SHOP_CLIENT_SECRET"] == p["app"]["clientSecret"]
    assert env["SHOP_KEY"] == p["keys"]["ed25519PublicKey"] and env["SHOP_KEY"].startswith("-----BEGIN")
    assert env["DATABASE_URL"] == f"sqlite:///{p['state']}/app.db" and env["PORT"] == "4321"
    assert env["MODE"] == "ci-{literal}"
    # ...beside the client contract's variables (contract_env defaults to true).
    assert env["GHL_ACCESS_TOKEN"] == p["token"] and env["GHL_API_BASE_URL"] == p["url"]
    assert env["CLIENT_PORT"] == "4321" and env["RANKR_API_BASE_URL"] == p["url"] + "/rankr"
    second = p["env2"]
    assert second["SHOP_LOCATION"] == p["second"]["locationId"] != p["location"]
    assert second["SHOP_GHL_TOKEN"] == second["GHL_ACCESS_TOKEN"] == p["second"]["tokens"][0]["token"]


def test_project_file_in_pyproject_without_contract_env_and_a_bad_one(pytester: pytest.Pytester) -> None:
    _setup(pytester, '''
def test_env(ghl_sandbox, observe):
    observe(ghl_sandbox, env=ghl_sandbox.client_env(5000, "/tmp/state"))
''')
    (pytester.path / "pyproject.toml").write_text(
        '[tool.ghl-sandbox.client]\ncommand = "x"\ncontract_env = false\n'
        '[tool.ghl-sandbox.client.env]\nTOKEN = "{ghl.access_token}"\n[tool.ghl-sandbox.harness]\nseed = 3\n')
    result, rec = _run(pytester)
    result.assert_outcomes(passed=1)
    assert rec["test_env"]["seed"] == 3
    assert rec["test_env"]["env"] == {"TOKEN": rec["test_env"]["token"]}  # no contract variables

    # A wrong key in the project file: every test that needs the sandbox says where, no traceback.
    (pytester.path / "pyproject.toml").write_text('[tool.ghl-sandbox.harness]\nseed = 3\nsed = 4\n')
    result, _ = _run(pytester)
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "pyproject.toml:3: harness.sed: unknown key" in out and "Traceback" not in out
