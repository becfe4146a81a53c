"""`ghl-sandbox check --project` gating an integration that is not ours: examples/clients/own_db/, a GHL ->
own-database sync service with its own environment names, routes, tables, cents and status words,
read back through the `sql` destination adapter.

Everything is real: `ghl-sandbox check` as a subprocess (its in-process sandbox on loopback), the
service as the harness's subprocess, SQLite files and a throwaway PostgreSQL server. The broken variants
must each be caught by the check that names their bug, with evidence that shows it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from pg_support import PostgresServer, postgres_server  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
OWN = ROOT / "examples" / "clients" / "own_db"
PROJECT = OWN / "ghl-sandbox.toml"
PG_PROJECT = OWN / "ghl-sandbox.postgres.toml"
LIBRARY = ROOT / "scenarios" / "library"
VENV_BIN = Path(sys.executable).parent  # not resolved: the venv's bin, not the base interpreter's
# Names of the client contract (and our PG variables): the service must not need them, so none leak in.
OUR_NAMES = re.compile(r"^(GHL_|RANKR_|CLIENT_)")
Run = tuple[int, str, dict[str, Any]]  # exit code, output, JSON report


def check_command() -> list[str]:
    script = VENV_BIN / "ghl-sandbox"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mock_server.cli"]


def check_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of `check`: the venv's bin first on PATH, because the project file's command
    (`python3 sync_service.py`) runs with the PATH of the shell that runs `check`."""
    env = {k: v for k, v in os.environ.items() if not OUR_NAMES.match(k) or k == "GHL_SANDBOX_HOME"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **(extra or {})}


def start_check(args: list[str], report: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*check_command(), "check", *args, "--json", str(report)], cwd=ROOT, env=check_env(extra_env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str]:
    """Its exit code and output; a run that hangs is killed and reported."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"ghl-sandbox check did not finish within {timeout:g} s:\n{out[-4000:]}")
    return proc.returncode, out


def failed_checks(scenario: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in scenario["checks"] if not c["ok"]}


def needs_rankr_route(path: Path) -> bool:
    """A scenario that sends Rankr fulfilment requests, or routes orders (providers, provider events): the
    service has no route for Rankr events."""
    doc = yaml.safe_load(path.read_text()) or {}
    steps = doc.get("steps") or []
    return "providers" in (doc.get("setup") or {}) or any(
        isinstance(s, dict) and {"rankr", "providers", "providerEvent"} & set(s) for s in steps)


def uses_acuity(path: Path) -> bool:
    """An Acuity scenario: the service syncs no Acuity (its project file says `acuity_webhook = ""`)."""
    return "acuity" in ((yaml.safe_load(path.read_text()) or {}).get("services") or [])


def uses_workflows(path: Path) -> bool:
    """A GHL workflow scenario: the service takes no workflow deliveries (`workflow_webhook = ""`)."""
    return "workflows" in ((yaml.safe_load(path.read_text()) or {}).get("services") or [])


VARIANTS: dict[str, dict[str, Any]] = {
    "double_write": {"command": "python3 broken_double_write.py",
                     "scenarios": [OWN / "scenarios" / "duplicate_webhooks.yaml"],
                     "caught_by": {"no_duplicate_effects"}},
    "dollars": {"command": "python3 broken_dollars.py",
                "scenarios": [LIBRARY / "01_new_paid_order_synced.yaml"],
                "caught_by": {"sync_complete"}},
    "first_page": {"command": "python3 broken_first_page.py",
                   "scenarios": [LIBRARY / "06_backfill_250_orders.yaml"],
                   "caught_by": {"sync_complete", "assert destination.orders"}},
}


def sqlite_runs_args() -> dict[str, list[str]]:
    """`check` arguments per run: the whole library (and our GHL-side-only scenarios) for the correct
    service, the one or two scenarios that expose it for each broken variant."""
    project = str(PROJECT.relative_to(ROOT))
    runs = {"library": ["--project", project, "--scenarios", str(LIBRARY.relative_to(ROOT)),
                        "--scenarios", str((OWN / "scenarios").relative_to(ROOT)), "--examples", "3"]}
    for name, variant in VARIANTS.items():
        runs[name] = ["--project", project, "--client", variant["command"], "--examples", "0"]
        for path in variant["scenarios"]:
            runs[name] += ["--scenarios", str(path.relative_to(ROOT))]
    return runs


@pytest.fixture(scope="module")
def sqlite_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every SQLite run at once, each its own `check` process with its own sandbox: they mostly wait
    (deadlines, the advertised 429 interval), so side by side they take the time of the longest.
    name -> (exit code, output, JSON report)."""
    base = tmp_path_factory.mktemp("own-db")
    started = time.monotonic()
    procs = {name: (start_check(args, base / f"{name}.json"), base / f"{name}.json")
             for name, args in sqlite_runs_args().items()}

    def collect(name: str) -> Run:
        proc, report = procs[name]
        code, out = finish(proc, timeout=240)
        print(f"\nown_db run {name}: exit {code}, {time.monotonic() - started:.1f} s wall\n"
              f"  ghl-sandbox check {' '.join(sqlite_runs_args()[name])}")
        assert report.exists(), f"{name}: no JSON report (exit {code})\n{out[-4000:]}"
        return code, out, json.loads(report.read_text())

    with ThreadPoolExecutor(len(procs)) as pool:  # read every pipe at once: none may fill up and block
        results = dict(zip(procs, pool.map(collect, procs), strict=True))
    print(f"own_db SQLite runs, side by side: {time.monotonic() - started:.1f} s wall")
    return results


# ---- the correct service ---------------------------------------------------------------------------

def test_service_passes_the_library_on_sqlite(sqlite_runs: dict[str, Run]) -> None:
    code, out, data = sqlite_runs["library"]
    assert code == 0, out[-5000:]
    assert "destination: sql sqlite:///" in out, out[-3000:]
    by_path = {Path(s["path"]).name: s for s in data["scenarios"] if not s.get("property")}
    summary = "\n".join(f"{s['status']:8} {name} {sorted(failed_checks(s))} {s.get('error') or ''}"
                        for name, s in by_path.items())
    for path in [*sorted(LIBRARY.glob("*.yaml")), *sorted((OWN / "scenarios").glob("*.yaml"))]:
        scenario = by_path.get(path.name)
        assert scenario is not None, f"{path.name} was not run:\n{summary}"
        skipped_for = ("acuity_webhook" if uses_acuity(path) else "workflow_webhook" if uses_workflows(path)
                       else "rankr_events" if needs_rankr_route(path) else None)
        expected = "skipped" if skipped_for else "pass"
        assert scenario["status"] == expected, f"{path.name}: {scenario['status']}, expected {expected}:\n{summary}\n" \
                                               f"{out[-4000:]}"
        if expected == "skipped":
            assert skipped_for in scenario["skipped"], scenario["skipped"]
        else:  # judged on the destination view, not trivially: every check of the scenario evaluated
            assert scenario["checks"] and all(c["status"] == "pass" for c in scenario["checks"]), scenario["checks"]
    passed = [s for s in by_path.values() if s["status"] == "pass"]
    assert len(passed) >= 13, summary
    backfill = by_path["06_backfill_250_orders.yaml"]
    sync = next(c for c in backfill["checks"] if c["check"] == "sync_complete")
    assert int(sync["summary"].split()[0]) >= 250 + 250, sync  # orders + their transactions, all in sync
    prop = [s for s in data["scenarios"] if s.get("property")]
    assert prop and all(s["status"] == "pass" for s in prop), prop
    assert data["passed"] is True


def test_service_passes_on_postgresql(postgres_server: PostgresServer, tmp_path: Path) -> None:  # noqa: F811
    report = tmp_path / "report.json"
    picked = ["01_new_paid_order_synced", "02_status_changes_in_order", "05_dropped_webhook_repaired",
              "14_refunds_partial_payments"]
    args = ["--project", str(PG_PROJECT.relative_to(ROOT)), "--examples", "0"]
    for name in picked:
        args += ["--scenarios", str((LIBRARY / f"{name}.yaml").relative_to(ROOT))]
    pg_env = {"GHL_SANDBOX_PG_USER": postgres_server.user, "GHL_SANDBOX_PG_HOST": postgres_server.host,
              "GHL_SANDBOX_PG_PORT": str(postgres_server.port)}
    started = time.monotonic()
    code, out = finish(start_check(args, report, pg_env), timeout=240)
    wall = time.monotonic() - started
    print(f"\nown_db PostgreSQL run ({len(picked)} scenarios): {wall:.1f} s wall\n"
          f"  {' '.join(f'{k}={v}' for k, v in pg_env.items())} ghl-sandbox check {' '.join(args)}")
    assert code == 0, out[-5000:]
    assert "destination: sql postgresql://" in out, out[-3000:]
    data = json.loads(report.read_text())
    assert [Path(s["path"]).stem for s in data["scenarios"]] == picked
    for s in data["scenarios"]:
        assert s["status"] == "pass" and s["checks"], s
    # One database per scenario, created for it and dropped after it.
    left = postgres_server.execute("SELECT datname FROM pg_database WHERE datname LIKE 'ghls%'")
    assert left == [], left


# ---- broken variants: one bug each, caught by the check that names it -------------------------------

@pytest.mark.parametrize("name", list(VARIANTS))
def test_broken_variant_is_caught(name: str, sqlite_runs: dict[str, Run]) -> None:
    code, out, data = sqlite_runs[name]
    assert code == 1, f"{name}: exit {code}\n{out[-4000:]}"
    assert not data["passed"]
    [scenario] = data["scenarios"]
    assert scenario["status"] == "fail" and not scenario.get("error"), scenario  # caught, not crashed
    failed = failed_checks(scenario)
    # The expected check catches it. (Once a safety check fails the scenario stops polling, so an eventual
    # check that had not held yet may be reported too: that is timing, not the bug.)
    assert VARIANTS[name]["caught_by"] <= set(failed), f"{name}: failed {sorted(failed)}\n{out[-4000:]}"
    assert set(failed) <= VARIANTS[name]["caught_by"] | {"sync_complete", "no_lost_events"}, sorted(failed)
    for outcome in failed.values():
        assert outcome["evidence"], outcome


def test_double_write_evidence_names_each_repeated_webhook(sqlite_runs: dict[str, Run]) -> None:
    _, _, data = sqlite_runs["double_write"]
    evidence = failed_checks(data["scenarios"][0])["no_duplicate_effects"]["evidence"]
    repeated = [re.search(r"eventId=(\S+) recorded (\d+) times", line) for line in evidence]
    # A safety check stops the scenario at its first violation: at least one webhook, named, twice.
    assert repeated and all(m and int(m.group(2)) >= 2 for m in repeated), evidence


def test_dollars_evidence_shows_amounts_a_hundred_times_too_small(sqlite_runs: dict[str, Run]) -> None:
    _, _, data = sqlite_runs["dollars"]
    sync = failed_checks(data["scenarios"][0])["sync_complete"]
    # "order <id>: amount: GHL 184.81 vs destination 1.84[; field: GHL .. vs destination ..]"
    diffs = [d for line in sync["evidence"] if ": " in line for d in line.split(": ", 1)[1].split("; ")]
    assert diffs, sync["evidence"]
    for diff in diffs:
        found = re.fullmatch(r"(\w+): GHL ([\d.]+) vs destination ([\d.]+)", diff)
        assert found and found.group(1) in ("amount", "amountRefunded"), diff  # nothing else is wrong
        ghl, stored = float(found.group(2)), float(found.group(3))
        assert stored == pytest.approx(int(ghl) / 100), diff  # whole dollars stored as cents, read as cents


def test_first_page_evidence_shows_orders_missing_beyond_the_first_page(sqlite_runs: dict[str, Run]) -> None:
    _, _, data = sqlite_runs["first_page"]
    failed = failed_checks(data["scenarios"][0])
    sync = failed["sync_complete"]
    counts = re.match(r"(\d+) of (\d+) records", sync["summary"])
    assert counts, sync["summary"]
    out_of_sync, total = int(counts.group(1)), int(counts.group(2))
    assert total >= 500 and out_of_sync >= 150, sync["summary"]  # 250 orders, 100 read: 150+ orders missing
    assert all("missing in the destination" in line for line in sync["evidence"]), sync["evidence"]
    assert "is 100, expected at least 250" in failed["assert destination.orders"]["summary"]


# ---- bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"LEADCONNECTOR_TOKEN": ""}, "LEADCONNECTOR_TOKEN is not set"),
    ({"LC_SIGNING_KEY": "not a key"}, "LC_SIGNING_KEY is not a PEM public key"),
    ({"DATABASE_URL": "nonsense"}, "DATABASE_URL is not usable"),
    ({"POLL_SECONDS": "soon"}, "POLL_SECONDS must be a number"),
])
def test_service_reports_bad_configuration_clearly(change: dict[str, str], message: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    env = {"PATH": os.environ.get("PATH", ""), "LEADCONNECTOR_URL": "http://127.0.0.1:9", "LEADCONNECTOR_TOKEN": "t",
           "LC_LOCATION": "loc", "LC_APP_ID": "app", "LC_SIGNING_KEY": pem, "DATABASE_URL": "sqlite:///:memory:",
           "HTTP_PORT": "1", "POLL_SECONDS": "1", **change}
    result = subprocess.run([sys.executable, str(OWN / "sync_service.py")], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2, result
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
