"""The Node integration (examples/clients/node, on GHL's official npm SDK) gated as a team would gate it:
`ghl-sandbox check --project` over the whole scenario library plus a property run, as a real
subprocess, with its own command, variable names and routes taken from its ghl-sandbox.toml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_CLIENT = ROOT / "examples" / "clients" / "node"
PROJECT = NODE_CLIENT / "ghl-sandbox.toml"
LIBRARY = ROOT / "scenarios" / "library"
EXAMPLES = 5
# npm failing for these reasons means the registry cannot be reached: the packages cannot be had.
OFFLINE = re.compile(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|ENETUNREACH")


def installed_matches_lock() -> bool:
    """node_modules holds exactly what package-lock.json pins (npm's hidden lockfile mirrors the install)."""
    hidden = NODE_CLIENT / "node_modules" / ".package-lock.json"
    if not hidden.exists():
        return False

    def versions(path: Path) -> dict[str, str]:
        packages = json.loads(path.read_text()).get("packages", {})
        return {name: entry.get("version", "") for name, entry in packages.items() if name}

    return versions(hidden) == versions(NODE_CLIENT / "package-lock.json")


@pytest.fixture(scope="module")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the Node client cannot run")
    major = int(subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
                .strip().lstrip("v").split(".")[0])
    if major < 20:
        pytest.skip(f"the Node client needs Node 20 or later, this machine has Node {major}")
    if not installed_matches_lock():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_CLIENT, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0 and OFFLINE.search(done.stdout + done.stderr):
            pytest.skip(f"npm ci cannot reach the registry: {(done.stdout + done.stderr)[-500:]}")
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert installed_matches_lock(), "npm ci left node_modules different from package-lock.json"
    return NODE_CLIENT


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
