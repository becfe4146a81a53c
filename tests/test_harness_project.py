"""The project file, routes, environment mapping, plugins and reports of `ghl-sandbox check`, from
outside: real `check` subprocesses driving the real reference client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scenarios import project as projects

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "scenarios" / "library"
REFERENCE = f"{sys.executable} {ROOT / 'examples' / 'clients' / 'reference_client.py'}"


def check(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "check", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})})


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---- errors name the file, the line and the key ------------------------------------------------------

@pytest.mark.parametrize(("text", "line", "fragment"), [
    ('[client]\ncommand = "x"\n\n[client.routes]\nhelth = "/h"\n', 5, "client.routes.helth: unknown key"),
    ('[client]\ncommand = "x"\nstartup_timeout = "soon"\n', 3, "client.startup_timeout: must be a number"),
    ('[client]\ncommand = "x"\n[client.env]\nTOKEN = "{ghl.acces_token}"\n', 4, "unknown template name {ghl.acces_token}"),
    ('[client]\ncommand = "x"\n[client.routes]\nhealth = "healthz"\n', 4, "must be a path starting with '/'"),
    ('[harness]\nchecks = ["sync_complete", "no_such_check"]\n[client]\ncommand = "x"\n', 2, "unknown check(s) no_such_check"),
    ('[client]\ncommand = "x"\n[destination]\nadapter = "s3"\n', 4, "unknown adapter 's3'"),
    ('[client]\ncommand = "x"\n[destination]\nadapter = "rankr"\nurl = "x"\n', 5, "destination.url: unknown key"),
    ('[client]\ncommand = "x"\n[clients]\n', 3, "clients: unknown key"),
    ('[client]\ncommand = "x\n', 2, "invalid TOML"),
    ('[client]\ncommand = "x"\n[client.env]\nDB = "{env.GHL_SANDBOX_SURELY_UNSET}"\n', 4,
     "the environment variable GHL_SANDBOX_SURELY_UNSET is not set"),
    ('[harness]\nplugins = ["./missing_plugin.py"]\n[client]\ncommand = "x"\n', 2, "no such file"),
])
def test_a_bad_project_file_names_file_line_and_key_and_exits_2(tmp_path: Path, text: str, line: int,
                                                               fragment: str) -> None:
    path = write(tmp_path / "ghl-sandbox.toml", text)
    result = check("--examples", "0", cwd=tmp_path, timeout=60)
    out = (result.stdout + result.stderr).replace("\n", "")
    assert result.returncode == 2, out
    assert f"{path}:{line}:" in out, out
    assert fragment in out, out
    assert "Traceback" not in out


def test_pyproject_table_is_read_and_its_lines_counted_from_the_file(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.ghl-sandbox.client]\ncommand = "x"\n'
                                       'startup_timeout = -1\n')
    result = check("--examples", "0", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert f"{tmp_path / 'pyproject.toml'}:6: client.startup_timeout: must be between" in result.stdout.replace("\n", "")


def test_init_writes_a_starter_that_loads_and_refuses_to_overwrite(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "mock_server.cli", "init"]
    first = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert first.returncode == 0, first.stderr
    loaded = projects.load(tmp_path / "ghl-sandbox.toml")
    assert loaded.command == "python my_sync_service.py" and loaded.destination["adapter"] == "rankr"
    again = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert again.returncode == 2 and "exists already" in again.stderr


def test_key_lines_follow_tables_dotted_keys_and_inline_tables() -> None:
    text = ('[client]\ncommand = "x"\n[client.env]\nA = "1"\n[destination]\nadapter = "sql"\n'
            '[destination.orders.fields]\namount = { column = "c", unit = "cents" }\nclient.cwd = "."\n')
    lines = projects.key_lines(text)
    assert lines["client.command"] == 2 and lines["client.env.A"] == 4
    assert lines["destination.orders.fields.amount.unit"] == 8
    assert projects.line_of(lines, "destination.orders.fields.amount.map") == 8
    assert projects.line_of(lines, "harness.checks[1]") == 1


# ---- a client with its own names and routes, configured instead of rewritten ---------------------

def test_env_mapping_without_the_contract_env_and_a_wrong_health_route(tmp_path: Path) -> None:
    """The reference client started with NONE of our contract's variables passed by us: the project
    maps every one of them from templates (as a team maps its own names). Then a health route the client
    does not serve: an ERROR with the client's log and the hint, not a column of FAILs."""
    names = {"GHL_API_BASE_URL": "{ghl.base_url}", "GHL_ACCESS_TOKEN": "{ghl.access_token}",
             "GHL_LOCATION_ID": "{ghl.location_id}", "GHL_API_VERSION": "{ghl.api_version}",
             "GHL_APP_ID": "{ghl.app_id}", "GHL_WEBHOOK_PUBLIC_KEY": "{ghl.webhook_public_key}",
             "GHL_WEBHOOK_RSA_PUBLIC_KEY": "{ghl.webhook_rsa_public_key}", "RANKR_API_BASE_URL": "{rankr.base_url}",
             "RANKR_API_KEY": "{rankr.api_key}", "RANKR_WEBHOOK_SECRET": "{rankr.webhook_secret}",
             "CLIENT_PORT": "{client.port}", "CLIENT_STATE_DIR": "{client.state_dir}",
             "CLIENT_RECONCILE_INTERVAL": "{client.reconcile_interval}"}
    env_lines = "\n".join(f'{k} = "{v}"' for k, v in names.items())
    write(tmp_path / "ghl-sandbox.toml", f'[client]\ncommand = "{REFERENCE}"\ncontract_env = false\n'
                                         f'startup_timeout = 20\n[client.env]\n{env_lines}\n'
                                         '[harness]\nexamples = 0\nseed = 7\n')
    report = tmp_path / "r.json"
    result = check("--scenarios", str(LIBRARY / "01_new_paid_order_synced.yaml"), "--json", str(report), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    data = json.loads(report.read_text())
    assert data["seed"] == 7 and data["scenarios"][0]["status"] == "pass"

    junit = tmp_path / "r.xml"
    bad = check("--scenarios", str(LIBRARY / "01_new_paid_order_synced.yaml"), "--json", str(report),
                "--junit", str(junit), "--startup-timeout", "3", cwd=tmp_path,
                env={"GHL_SANDBOX_TEST_UNUSED": "1"})
    assert bad.returncode == 0  # the right health route: still fine with a shorter timeout
    write(tmp_path / "ghl-sandbox.toml", (tmp_path / "ghl-sandbox.toml").read_text().replace(
        "[harness]", '[client.routes]\nhealth = "/ready"\n[harness]'))
    bad = check("--scenarios", str(LIBRARY / "01_new_paid_order_synced.yaml"), "--json", str(report),
                "--junit", str(junit), "--startup-timeout", "3", cwd=tmp_path)
    assert bad.returncode == 1
    scenario = json.loads(report.read_text())["scenarios"][0]
    assert scenario["status"] == "error" and scenario["checks"] == []
    assert "did not answer 200 on /ready within 3 s" in scenario["error"]
    assert "ERROR" in bad.stdout and "hint:" in bad.stdout and "FAIL " not in bad.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("errors") == "1" and suite.get("failures") == "0"


def test_a_client_without_a_rankr_route_skips_the_scenarios_that_need_one(tmp_path: Path) -> None:
    write(tmp_path / "ghl-sandbox.toml", f'[client]\ncommand = "{REFERENCE}"\n[client.routes]\nrankr_events = ""\n')
    report = tmp_path / "r.json"
    result = check("--scenarios", str(LIBRARY / "09_commit_then_drop_fulfillment.yaml"),
                   "--scenarios", str(LIBRARY / "01_new_paid_order_synced.yaml"), "--examples", "2",
                   "--json", str(report), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    data = json.loads(report.read_text())
    by_name = {s["name"]: s for s in data["scenarios"]}
    skipped = [s for s in data["scenarios"] if s["status"] == "skipped"]
    assert len(skipped) == 1 and "Rankr" in skipped[0]["skipped"]
    assert by_name["new paid order synced"]["status"] == "pass"
    prop = [s for s in data["scenarios"] if s["property"]]
    assert len(prop) == 1 and prop[0]["ok"] and prop[0]["checks"], "a passing property run is in the report too"
    assert "1 skipped (not applicable to this client)" in result.stdout


# ---- plugins -----------------------------------------------------------------------------------------

PLUGIN = '''
from scenarios.plugin import ScenarioContext, Verdict, check, step

@check("first_call_meets_setup_fault", "safety", hint="n/a")
def first_call_meets_setup_fault(ctx: ScenarioContext) -> Verdict:
    """The scenario's setup fault (times: 1) is hit by the client's very first GHL call."""
    calls = sorted(ctx.client_requests(), key=lambda e: e["id"])
    if calls and not calls[0].get("fault"):
        return Verdict.failed("the first call missed the setup fault", [repr(calls[0])])
    return Verdict.passed(f"{len(calls)} calls, the first one faulted")

@step("note", schema={"type": "string", "minLength": 1})
def note(ctx: ScenarioContext, spec: dict) -> str:
    return f"note: {spec['note']}"
'''

SCENARIO = '''name: setup faults meet the first call
setup:
  orders: 3
  faults:
    - match: {method: GET, path: "/payments/*"}
      effect: {status: 503}
      times: 1
  checks: [first_call_meets_setup_fault, sync_complete]
steps:
  - note: plugin steps validate and run like built-in ones
  - wait: synced
'''


def test_plugins_register_checks_and_steps_and_setup_faults_meet_the_first_call(tmp_path: Path) -> None:
    write(tmp_path / "my_checks.py", PLUGIN)
    scenario = write(tmp_path / "first_call.yaml", SCENARIO)
    write(tmp_path / "ghl-sandbox.toml", f'[client]\ncommand = "{REFERENCE}"\n[harness]\nplugins = ["my_checks"]\n'
                                         f'scenarios = ["first_call.yaml"]\nexamples = 0\n')
    report = tmp_path / "r.json"
    for _ in range(2):  # the first call must meet the fault every time, not by luck
        result = check("--json", str(report), cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-3000:]
        data = json.loads(report.read_text())
        checks = {c["check"]: c for c in data["scenarios"][0]["checks"]}
        assert checks["first_call_meets_setup_fault"]["ok"], checks
        assert "note: plugin steps validate" in data["scenarios"][0]["steps"][0]
    # The plugin's step schema is enforced like a built-in one's.
    write(scenario, SCENARIO.replace("  - note: plugin steps validate and run like built-in ones", "  - note: ''"))
    bad = check(cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and f"{scenario}:10:" in bad.stdout.replace("\n", ""), bad.stdout
    # --plugin from the command line, and a broken plugin is a clear exit 2 with where it failed.
    write(tmp_path / "broken.py", "import math\nraise RuntimeError('boom')\n")
    broken = check("--plugin", "./broken.py", "--client", "true", cwd=tmp_path, timeout=60)
    assert broken.returncode == 2 and "broken.py:2: RuntimeError: boom" in broken.stdout.replace("\n", "")


def test_make_demo_reads_the_project_file(tmp_path: Path) -> None:
    """`make demo` runs the project's client with its own environment names and routes."""
    import signal
    import time

    import httpx

    write(tmp_path / "ghl-sandbox.toml", f'[client]\ncommand = "{REFERENCE}"\ncontract_env = false\n[client.env]\n'
                                         + "\n".join(f'{k} = "{{{v}}}"' for k, v in [
                                             ("GHL_API_BASE_URL", "ghl.base_url"), ("GHL_ACCESS_TOKEN", "ghl.access_token"),
                                             ("GHL_LOCATION_ID", "ghl.location_id"), ("GHL_APP_ID", "ghl.app_id"),
                                             ("GHL_API_VERSION", "ghl.api_version"),
                                             ("GHL_WEBHOOK_PUBLIC_KEY", "ghl.webhook_public_key"),
                                             ("RANKR_API_BASE_URL", "rankr.base_url"), ("RANKR_API_KEY", "rankr.api_key"),
                                             ("RANKR_WEBHOOK_SECRET", "rankr.webhook_secret"),
                                             ("CLIENT_PORT", "client.port"), ("CLIENT_STATE_DIR", "client.state_dir"),
                                             ("CLIENT_RECONCILE_INTERVAL", "client.reconcile_interval")])
                                         + '\n[client.routes]\nrankr_events = ""\n')
    proc = subprocess.Popen([sys.executable, "-m", "mock_server.demo", "--port", "0", "--orders", "5", "--interval", "0.2",
                             "--fault-every", "0", "--reconcile-interval", "1"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = ""
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "Processes" not in out:
            line = proc.stdout.readline()
            assert line, out
            out += line
        assert f"starting the client: {REFERENCE}" in out
        base = out.split("API", 1)[1].split()[0]
        with httpx.Client(base_url=base + "/_sandbox", timeout=10) as http:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                delivered = [d for d in http.get("/webhooks/deliveries").json()["deliveries"] if d["status"] == "delivered"]
                if delivered:
                    break
                time.sleep(0.3)
            assert delivered, "the project's client took no webhook"
            assert not http.get("/rankr/events").json()["data"], "no Rankr requests to a client without that route"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def test_a_client_that_never_becomes_healthy_is_one_error_per_row_and_stops_the_property_run(tmp_path: Path) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    result = check("--client", "echo booting; sleep 60", "--startup-timeout", "2", "--scenarios",
                   str(LIBRARY / "01_new_paid_order_synced.yaml"), "--examples", "5", "--json", str(report),
                   "--junit", str(junit), timeout=120)
    assert result.returncode == 1
    rows = json.loads(report.read_text())["scenarios"]
    assert [r["status"] for r in rows] == ["error", "error"] and rows[1]["property"]
    assert all(r["checks"] == [] for r in rows)
    assert "--examples 0" in rows[0]["replayCommand"] and "--seed 42" in rows[0]["replayCommand"]
    suite = ET.parse(junit).getroot()
    assert (suite.get("errors"), suite.get("failures"), suite.get("tests")) == ("2", "0", "2")
    assert result.stdout.count("--- start #1") == 2, "the property run stops at its first example that cannot run"


def test_http_destination_through_check_and_not_evaluated_checks(tmp_path: Path) -> None:
    """The `http` adapter reading the fake Rankr's own API gives the same verdicts as the built-in
    view; a kind it does not expose (alerts) makes its check "not evaluated", never a pass."""
    kinds = "".join(f'[destination.{k}]\nurl = "{{rankr.base_url}}/v1/{k}"\nlist = "data"\n'
                    for k in ("orders", "transactions", "subscriptions", "events"))
    write(tmp_path / "ghl-sandbox.toml", f'[client]\ncommand = "{REFERENCE}"\n[destination]\nadapter = "http"\n'
                                         'headers = { Authorization = "Bearer {rankr.api_key}" }\n' + kinds)
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    result = check("--scenarios", str(LIBRARY / "02_status_changes_in_order.yaml"), "--scenarios",
                   str(LIBRARY / "16_ghl_down_raises_alert.yaml"), "--examples", "0", "--json", str(report),
                   "--junit", str(junit), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    rows = {r["name"]: {c["check"]: c for c in r["checks"]} for r in json.loads(report.read_text())["scenarios"]}
    synced = rows["status changes in order"]
    assert synced["sync_complete"]["status"] == "pass" and "in sync" in synced["sync_complete"]["summary"]
    assert synced["no_lost_events"]["status"] == "pass"
    alerts = rows["GHL down for good raises an alert"]["alerts_on_permanent_failure"]
    assert alerts["status"] == "not_evaluated" and alerts["summary"] == \
        "not evaluated: the destination does not expose alerts"
    assert "not evaluated (the destination does not expose their data): alerts_on_permanent_failure" in \
        result.stdout.replace("\n", "")
    assert ET.parse(junit).getroot().get("skipped") == "1"
