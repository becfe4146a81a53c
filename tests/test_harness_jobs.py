"""`ghl-sandbox check --jobs N`: the same report as `--jobs 1`, from outside: real `check` subprocesses,
real sandbox processes (one per job) and the real example clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from mock_server.testing import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "scenarios" / "library"
CLIENTS = ROOT / "examples" / "clients"
REFERENCE = f"{sys.executable} {CLIENTS / 'reference_client.py'}"
NO_DEDUPE = f"{sys.executable} {CLIENTS / 'broken_no_dedupe.py'}"
# Six scenarios of the library, in its order; the no-dedupe client fails "duplicate webhooks".
SUBSET = ["01_new_paid_order_synced.yaml", "02_status_changes_in_order.yaml", "03_duplicate_webhooks.yaml",
          "11_forged_signature.yaml", "26_routing_simple_match.yaml", "40_workflow_payment_synced.yaml"]


def check(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "check", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env=os.environ.copy())


def scenario_args(names: list[str]) -> list[str]:
    return [arg for name in names for arg in ("--scenarios", str(LIBRARY / name))]


def without_timings(document: dict[str, Any]) -> dict[str, Any]:
    """The JSON report less what differs between two runs of the same seed, serial ones too: seconds, and
    a check's summary and evidence (wall-clock times, journal request numbers, how many duplicates a
    broken client managed); and less the `jobs` note."""
    def row(r: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in r.items() if k not in ("seconds", "clientSeconds")},
                "checks": [{k: v for k, v in c.items() if k not in ("summary", "evidence")} for c in r["checks"]]}

    return {**{k: v for k, v in document.items() if k != "jobs"}, "scenarios": [row(r) for r in document["scenarios"]]}


def junit_cases(path: Path) -> list[tuple[str, str, str]]:
    root = ET.parse(path).getroot()
    return [(case.get("classname", ""), case.get("name", ""), ",".join(child.tag for child in case))
            for case in root.iter("testcase")]


def test_jobs_4_reports_what_jobs_1_reports_in_the_library_order(tmp_path: Path) -> None:
    runs = {}
    for jobs in ("1", "4"):
        report, junit = tmp_path / f"j{jobs}.json", tmp_path / f"j{jobs}.xml"
        done = check("--client", NO_DEDUPE, *scenario_args(SUBSET), "--examples", "0", "--jobs", jobs,
                     "--json", str(report), "--junit", str(junit))
        runs[jobs] = (done, json.loads(report.read_text()), junit_cases(junit))
    (serial, serial_doc, serial_junit), (parallel, parallel_doc, parallel_junit) = runs["1"], runs["4"]
    assert serial.returncode == parallel.returncode == 1, parallel.stdout[-3000:]
    assert without_timings(serial_doc) == without_timings(parallel_doc)
    assert serial_junit == parallel_junit
    rows = parallel_doc["scenarios"]
    assert [Path(r["path"]).name for r in rows] == SUBSET  # the library's order, whatever finished first
    # Each row's client start-up and stop (what reusing clients could save) is part of its time.
    assert all(0 < r["clientSeconds"] <= r["seconds"] for doc in (serial_doc, parallel_doc)
               for r in doc["scenarios"]), [(r["seconds"], r["clientSeconds"]) for r in rows]
    statuses = {Path(r["path"]).name: r["status"] for r in rows}
    assert statuses["03_duplicate_webhooks.yaml"] == "fail" and list(statuses.values()).count("pass") == 5
    failed = next(r for r in rows if r["status"] == "fail")
    assert "--scenarios" in failed["replayCommand"] and "--jobs" not in failed["replayCommand"]
    assert serial_doc["jobs"] == {"count": 1, "isolation": "one sandbox, scenarios one at a time"}
    assert parallel_doc["jobs"] == {"count": 4, "isolation": "a sandbox process per job"}
    assert "jobs: 4 (each job a sandbox process and client of its own" in parallel.stdout
    assert "no serial phase" in parallel.stdout
    # The console report's rows in the library's order too.
    table = parallel.stdout[parallel.stdout.index("ghl-sandbox check"):]
    positions = [table.index(r["name"][:20]) for r in rows]
    assert positions == sorted(positions)


def test_property_examples_on_jobs_fail_and_save_what_a_serial_run_does(tmp_path: Path) -> None:
    """The no-dedupe client fails a generated program (duplicate deliveries); with no shrinking time
    the first failing program is the saved one: the same example, verdict and replay file either way."""
    runs = {}
    for jobs in ("1", "3"):
        report, saved = tmp_path / f"p{jobs}.json", tmp_path / f"failures-{jobs}"
        done = check("--client", NO_DEDUPE, "--scenarios", str(LIBRARY / "11_forged_signature.yaml"),
                     "--examples", "12", "--seed", "3", "--shrink-seconds", "0", "--jobs", jobs,
                     "--json", str(report), "--save-failures", str(saved))
        files = sorted(saved.glob("*.yaml"))
        runs[jobs] = (done, json.loads(report.read_text()), [f.read_text() for f in files])
    (serial, serial_doc, serial_files), (parallel, parallel_doc, parallel_files) = runs["1"], runs["3"]
    assert serial.returncode == parallel.returncode == 1, serial.stdout[-3000:]
    prop = [r for r in serial_doc["scenarios"] if r["property"]]
    assert prop and prop[0]["status"] == "fail", serial.stdout[-3000:]
    assert serial_files and serial_files == parallel_files
    assert [r["name"] for r in serial_doc["scenarios"]] == [r["name"] for r in parallel_doc["scenarios"]]

    def comparable(doc: dict[str, Any]) -> dict[str, Any]:
        out = without_timings(doc)
        for row in out["scenarios"]:  # the saved file's folder differs (--save-failures)
            row.pop("replayFile", None)
            row.pop("replayCommand", None)
            # Once a safety check fails the example stops at once, and its eventual checks report what held
            # at that moment: how far the client had got, which two serial runs on a loaded machine do not
            # agree on either. The verdict (which safety checks failed) is what must match.
            if any(c["kind"] == "safety" and not c["ok"] for c in row["checks"]):
                row["checks"] = [c if c["kind"] == "safety" else {"check": c["check"], "kind": c["kind"]}
                                 for c in row["checks"]]
        return out

    assert comparable(serial_doc) == comparable(parallel_doc)
    line = next(x for x in serial.stdout.splitlines() if "property run: a program failed after" in x)
    assert line.split("(")[0] in parallel.stdout  # the same number of runs


def test_project_file_jobs_and_a_bad_jobs_value(tmp_path: Path) -> None:
    (tmp_path / "ghl-sandbox.toml").write_text(f'[client]\ncommand = "{REFERENCE}"\n[harness]\nexamples = 0\njobs = 3\n')
    report = tmp_path / "r.json"
    done = check(*scenario_args(SUBSET[:3]), "--json", str(report), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert json.loads(report.read_text())["jobs"]["count"] == 3
    assert "sandbox: 3 processes (one per job)" in done.stdout

    bad = check("--client", REFERENCE, "--jobs", "0", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stdout.strip().splitlines() == ["error: --jobs must be between 1 and 64, not 0"]

    (tmp_path / "ghl-sandbox.toml").write_text(f'[client]\ncommand = "{REFERENCE}"\n[harness]\njobs = 0\n')
    bad = check(cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stdout.strip().splitlines()) == 1
    assert "ghl-sandbox.toml:4: harness.jobs: must be between 1 and 64, not 0" in bad.stdout


def test_a_sandbox_the_user_runs_takes_its_scenarios_one_at_a_time(tmp_path: Path) -> None:
    with SandboxProcess(["--orders", "8", "--journal-capacity", "500000", "--webhook-retry-interval", "0.5",
                         "--webhook-timeout", "5"]) as sandbox:
        report = tmp_path / "r.json"
        done = check("--client", REFERENCE, *scenario_args(SUBSET[:2]), "--examples", "0", "--jobs", "4",
                     "--sandbox-url", sandbox.url, "--json", str(report))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "jobs: 1 (--sandbox-url: one sandbox, so scenarios run one at a time)" in done.stdout
    assert json.loads(report.read_text())["jobs"]["count"] == 1


def test_scenarios_are_dealt_longest_first_as_far_as_they_tell() -> None:
    from scenarios.jobs import deal_order
    from scenarios.loader import Scenario, load_paths

    def scenario(name: str, **data: Any) -> Scenario:
        return Scenario(name, f"{name}.yaml", data)

    few_steps = scenario("a", steps=[{"wait": "deliveries-settled"}])
    many_steps = scenario("b", steps=[{"simulate": "order.create"}] * 4)
    acuity = scenario("c", services=["acuity"], steps=[{"acuity": "schedule"}])
    routing = scenario("d", setup={"providers": [{"providerId": "p"}]}, steps=[])
    waits_out = scenario("e", setup={"deadline": 40}, steps=[])
    tie = scenario("f", steps=[{"simulate": "order.create"}])
    assert deal_order([few_steps, many_steps, acuity, routing, waits_out, tie]) == [4, 2, 3, 1, 0, 5]
    library = load_paths(None)
    dealt = [library[i] for i in deal_order(library)]
    deadlines = [float(s.setup.get("deadline", 0)) for s in dealt]
    assert deadlines == sorted(deadlines, reverse=True) and all(deadlines[:8]) and not any(deadlines[8:])
    last = dealt[-1]  # a short one ends the run, not an Acuity or routing one
    assert not last.data.get("services") and not last.setup.get("providers") and len(last.steps) <= 2
