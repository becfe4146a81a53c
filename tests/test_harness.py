"""The contract harness from outside: `ghl-sandbox check` as a real subprocess driving real client
processes. The reference client passes the library and a property run; each broken variant fails
with the check you would expect; bad scenario files are reported with path and line (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "examples" / "clients"
LIBRARY = ROOT / "scenarios" / "library"


def client(name: str) -> str:
    return f"{sys.executable} {CLIENTS / name}.py"


def check(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "check", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def failed_checks(report: Path) -> dict[str, set[str]]:
    data = json.loads(report.read_text())
    return {s["name"]: {c["check"] for c in s["checks"] if not c["ok"]} for s in data["scenarios"]}


def test_reference_client_passes_the_whole_library_and_a_property_run(tmp_path: Path) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    result = check("--client", client("reference_client"), "--examples", "5", "--junit", str(junit),
                   "--json", str(report))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    data = json.loads(report.read_text())
    assert len(data["scenarios"]) >= 16 and all(s["ok"] for s in data["scenarios"])
    assert "property run: 5 examples" in result.stdout
    suite = ET.parse(junit).getroot()
    assert int(suite.get("tests", "0")) >= 16 * 3 and suite.get("failures") == "0"
    n = len(list(LIBRARY.glob("*.yaml")))  # the Acuity scenarios (17 on) included: the reference client takes Acuity
    assert f"{n} of {n} scenarios passed" in result.stdout


# variant, the scenarios that expose its bug, the check that must fail
BROKEN = [
    ("broken_no_signature_check", ["11_forged_signature.yaml", "12_replayed_old_webhook.yaml"], "rejects_forged_webhooks"),
    ("broken_no_dedupe", ["03_duplicate_webhooks.yaml"], "no_duplicate_effects"),
    ("broken_memory_dedupe", ["13_client_crash_restart.yaml"], "no_duplicate_effects"),
    ("broken_no_retry_no_reconcile", ["05_dropped_webhook_repaired.yaml"], "sync_complete"),
    ("broken_hammers_on_429", ["08_rate_limit_429_burst.yaml"], "respects_rate_limits"),
    ("broken_first_page_only", ["06_backfill_250_orders.yaml"], "sync_complete"),
    ("broken_blind_fulfillment_retry", ["09_commit_then_drop_fulfillment.yaml"], "no_duplicate_effects"),
    ("broken_no_idempotency_key", ["10_rankr_503_and_commit_then_drop.yaml"], "no_duplicate_effects"),
    ("broken_refuses_genuine_webhooks", ["01_new_paid_order_synced.yaml"], "accepts_genuine_webhooks"),
    ("broken_acks_without_recording", ["02_status_changes_in_order.yaml"], "no_lost_events"),
    # GHL sends x-ghl-signature only since it retired x-wh-signature (2026), and so does the sandbox by default.
    ("broken_rsa_only", ["01_new_paid_order_synced.yaml"], "accepts_genuine_webhooks"),
    ("broken_skips_without_rsa", ["11_forged_signature.yaml"], "rejects_forged_webhooks"),
]


@pytest.mark.parametrize(("variant", "scenarios", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_broken_variant_fails_the_check_you_would_expect(tmp_path: Path, variant: str, scenarios: list[str],
                                                              expected: str) -> None:
    report = tmp_path / "report.json"
    args = ["--client", client(variant), "--examples", "0", "--json", str(report)]
    for name in scenarios:
        args += ["--scenarios", str(LIBRARY / name)]
    result = check(*args)
    assert result.returncode == 1, result.stdout[-3000:]
    failures = failed_checks(report)
    assert any(expected in checks for checks in failures.values()), failures
    # The failure names the record and shows the evidence.
    data = json.loads(report.read_text())
    evidence = [e for s in data["scenarios"] for c in s["checks"] if c["check"] == expected and not c["ok"]
                for e in c["evidence"]]
    assert evidence and all(isinstance(e, str) and e for e in evidence)


def test_the_reference_client_passes_the_scenarios_that_catch_each_variant(tmp_path: Path) -> None:
    names = sorted({name for _, scenarios, _ in BROKEN for name in scenarios})
    args = ["--client", client("reference_client"), "--examples", "0"]
    for name in names:
        args += ["--scenarios", str(LIBRARY / name)]
    result = check(*args)
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.mark.parametrize("how", ["project file", "flag"])
def test_an_rsa_only_client_passes_only_when_the_sandbox_sends_the_legacy_header(tmp_path: Path, how: str) -> None:
    """`broken_rsa_only` fails against the default sandbox (above) and passes when `check` starts it with the
    legacy RSA header: `[harness] legacy_wh_signature = true`, or `--legacy-wh-signature`."""
    project = tmp_path / "ghl-sandbox.toml"
    flag = how == "project file"
    project.write_text(f"[client]\ncommand = {json.dumps(client('broken_rsa_only'))}\n\n"
                       f"[harness]\nlegacy_wh_signature = {str(flag).lower()}\n")
    args = ["--project", str(project), "--examples", "0", "--scenarios", str(LIBRARY / "01_new_paid_order_synced.yaml")]
    result = check(*args, *([] if flag else ["--legacy-wh-signature"]))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "signatures: x-ghl-signature + legacy x-wh-signature" in result.stdout


def test_the_legacy_header_cannot_be_asked_of_a_running_sandbox_that_does_not_send_it() -> None:
    from mock_server.testing import SandboxProcess

    with SandboxProcess(["--orders", "0"]) as proc:
        result = check("--client", client("reference_client"), "--sandbox-url", proc.url, "--legacy-wh-signature",
                       "--examples", "0", "--scenarios", str(LIBRARY / "01_new_paid_order_synced.yaml"))
    assert result.returncode == 2, result.stdout[-2000:]
    assert f"the sandbox at {proc.url} does not send x-wh-signature" in result.stdout


def test_property_run_shrinks_a_failure_into_a_replayable_scenario(tmp_path: Path) -> None:
    save = tmp_path / "failures"
    first = check("--client", client("broken_no_signature_check"), "--scenarios", str(LIBRARY / "01_new_paid_order_synced.yaml"),
                  "--examples", "12", "--shrink-seconds", "20", "--save-failures", str(save), "--seed", "7")
    assert first.returncode == 1, first.stdout[-3000:]
    files = list(save.glob("*.yaml"))
    assert len(files) == 1, first.stdout[-2000:]
    text = files[0].read_text()
    assert "webhook:" in text and "seed: 7" in text
    # Replaying the written file fails again, deterministically, on the same check.
    report = tmp_path / "replay.json"
    replay = check("--client", client("broken_no_signature_check"), "--scenarios", str(files[0]), "--examples", "0",
                   "--seed", "7", "--json", str(report))
    assert replay.returncode == 1
    assert any("rejects_forged_webhooks" in c for c in failed_checks(report).values())
    # ... and the reference client passes it.
    assert check("--client", client("reference_client"), "--scenarios", str(files[0]), "--examples", "0",
                 "--seed", "7").returncode == 0


@pytest.mark.parametrize(("content", "line", "fragment"), [
    ("name: x\nsteps:\n  - simulate: order.crate\n", 3, "steps.0.simulate"),
    ("name: x\nsteps:\n  - simulate: order.create\n    as: a\n  - simulate: order.pay\n    order: $b\n", 6,
     "$b is not bound"),
    ("name: x\nsetup:\n  orders: many\nsteps: []\n", 3, "setup.orders"),
    ("name: x\nsteps: [\n", 3, "invalid YAML"),
    ("steps: []\n", 1, "'name' is a required property"),
])
def test_a_bad_scenario_file_is_reported_with_path_and_line_and_exits_2(tmp_path: Path, content: str, line: int,
                                                                         fragment: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    result = check("--client", "true", "--scenarios", str(bad), "--examples", "0", timeout=60)
    assert result.returncode == 2
    out = result.stdout + result.stderr
    assert f"{bad}:{line}:" in out.replace("\n", ""), out
    assert fragment in out.replace("\n", ""), out
    assert "Traceback" not in out


def test_unknown_check_names_and_missing_paths_exit_2(tmp_path: Path) -> None:
    assert check("--client", "true", "--checks", "no_such_check", "--examples", "0", timeout=60).returncode == 2
    missing = check("--client", "true", "--scenarios", str(tmp_path / "nope.yaml"), timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stdout


def test_a_client_that_never_becomes_ready_fails_with_its_log(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = check("--client", f"{sys.executable} -c \"print('booting'); raise SystemExit(3)\"", "--scenarios",
                   str(LIBRARY / "01_new_paid_order_synced.yaml"), "--examples", "0", "--json", str(report))
    assert result.returncode == 1
    data = json.loads(report.read_text())
    assert "exited with code 3" in data["scenarios"][0]["error"]
    assert "booting" in result.stdout
