"""The Node integration (examples/clients/node, on GHL's official npm SDK) gated as a team would gate it:
`ghl-sandbox check --project` over the whole scenario library plus a property run, as a real
subprocess, with its own command, variable names and routes taken from its ghl-sandbox.toml."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from node_support import ensure_node_client

ROOT = Path(__file__).resolve().parent.parent
NODE_CLIENT = ROOT / "examples" / "clients" / "node"
PROJECT = NODE_CLIENT / "ghl-sandbox.toml"
LIBRARY = ROOT / "scenarios" / "library"
EXAMPLES = 5


@pytest.fixture(scope="module")
def node_client() -> Path:
    return ensure_node_client()


@pytest.mark.timeout(900)
def test_node_client_passes_the_whole_library_and_a_property_run(node_client: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "mock_server.cli", "check", "--project", str(PROJECT),
               "--examples", str(EXAMPLES), "--json", str(report)]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=ROOT)
    wall = time.monotonic() - started
    print(f"\nghl-sandbox check --project {PROJECT.relative_to(ROOT)} --examples {EXAMPLES}: {wall:.1f} s wall")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]

    data = json.loads(report.read_text())
    assert data["passed"] is True
    scenarios = [s for s in data["scenarios"] if not s.get("property")]
    properties = [s for s in data["scenarios"] if s.get("property")]
    library = sorted(LIBRARY.glob("*.yaml"))
    assert len(scenarios) == len(library) >= 16, [s["name"] for s in scenarios]
    assert len(properties) == 1 and f"{EXAMPLES} examples" in properties[0]["name"], properties
    # Every scenario ran (none skipped as not applicable) and every check was evaluated and held.
    not_passed = [(s["name"], s["status"], c["check"], c["status"], c["summary"])
                  for s in data["scenarios"] for c in s["checks"] if s["status"] != "pass" or c["status"] != "pass"]
    assert not not_passed, not_passed
    assert all(s["checks"] for s in data["scenarios"])
    # The property run judged the default checks, the genuine-webhook one included: the SDK's middleware
    # verified every delivery over JSON.stringify of the parsed body.
    property_checks = {c["check"] for c in properties[0]["checks"]}
    assert {"sync_complete", "no_duplicate_effects", "no_lost_events", "respects_rate_limits",
            "rejects_forged_webhooks", "accepts_genuine_webhooks", "api_hygiene"} <= property_checks
