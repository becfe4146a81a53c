"""The no-code recipe (examples/nocode): `ghl-sandbox check --project examples/nocode/ghl-sandbox.toml` runs a
real Node-RED 4.1.8 (installed by a locked `npm ci`) through the library, and the report says what such a
recipe can and cannot do: the workflow scenarios for a payment, duplicates with a Rankr 503 and forged
posts pass; the lost delivery fails `workflow_payments_synced` (a workflow never redelivers and the flow
cannot poll); every scenario without workflows does not apply (the recipe sees GHL only through them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from node_support import ensure_nodered

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples" / "nocode" / "ghl-sandbox.toml"
WORKFLOW_CHECKS = {"workflow_payments_synced", "rejects_forged_workflow_webhooks", "accepts_genuine_workflow_webhooks"}


def test_the_nodered_recipe_passes_what_a_workflow_can_do_and_fails_the_lost_delivery(tmp_path: Path) -> None:
    ensure_nodered()
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "mock_server.cli", "check", "--project", str(PROJECT),
                             "--json", str(report)], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "COLUMNS": "140"})
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    scenarios = json.loads(report.read_text())["scenarios"]
    ran = {s["name"]: s for s in scenarios if s["status"] != "skipped"}
    skipped = [s for s in scenarios if s["status"] == "skipped"]
    rows = {name: (s["status"], s.get("error"), {c["check"]: c["status"] for c in s["checks"]}) for name, s in ran.items()}
    assert set(ran) == {"workflow payment synced", "workflow duplicates and a Rankr 503", "workflow delivery lost",
                        "workflow forged posts"}, rows
    for name in ("workflow payment synced", "workflow duplicates and a Rankr 503", "workflow forged posts"):
        status, error, checks = rows[name]
        assert status == "pass" and error is None and set(checks) <= WORKFLOW_CHECKS, rows
        assert set(checks.values()) == {"pass"}, rows
    status, _, checks = rows["workflow delivery lost"]
    assert status == "fail" and checks == {"workflow_payments_synced": "fail", "accepts_genuine_workflow_webhooks": "pass"}
    lost = next(c for c in ran["workflow delivery lost"]["checks"] if c["check"] == "workflow_payments_synced")
    assert lost["evidence"] and all("no payment in the destination (source=ghl, sourceKind=transaction" in e
                                    for e in lost["evidence"]), lost
    # The secret check held against posts without it or with a wrong one, and genuine deliveries all got 2xx,
    # duplicates included (and a retry after the flow answered Rankr's 503 with a 502).
    forged = {c["check"]: c["summary"] for c in ran["workflow forged posts"]["checks"]}
    assert "3 forged workflow posts rejected" in forged["rejects_forged_workflow_webhooks"]
    dup = {c["check"]: c["summary"] for c in ran["workflow duplicates and a Rankr 503"]["checks"]}
    attempts = int(dup["accepts_genuine_workflow_webhooks"].split("held throughout: ")[1].split()[0])
    assert attempts >= 8, dup  # 2 payments x 3 deliveries, and the 2 answered 502 while Rankr failed, retried
    # Everything else does not apply: the recipe sees GHL only through workflows.
    assert len(skipped) == len(scenarios) - 4 >= 25
    assert all("workflows.only" in s["skipped"] for s in skipped), [s["skipped"] for s in skipped]
    assert "3 of 4 scenarios passed" in result.stdout and "not applicable" in result.stdout
