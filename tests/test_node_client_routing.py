"""The Node integration (examples/clients/node) routes orders (routing.js): `ghl-sandbox check --project`
over the library's routing scenarios plus a property run whose programs may route, as a real subprocess
with the project's own command, variable names and routes; and routing.js's area rule as plain Node."""

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
ROUTING_FILES = sorted(p for p in LIBRARY.glob("*.yaml") if 26 <= int(p.name.split("_")[0]) <= 39)
EXAMPLES = 6


@pytest.fixture(scope="module")
def node_client() -> Path:
    return ensure_node_client()


def test_the_area_rule_matches_the_harness(node_client: Path) -> None:
    from scenarios.checks_routing import address_of, area_covers

    cases = [({"country": "US", "state": "CA", "postalCodePrefixes": ["940", "941"]}, {"country": "us", "state": "CA",
              "postal_code": "94105"}),
             ({"country": "US", "state": "CA"}, {"country": "US", "state": "NV", "postalCode": "94105"}),
             ({"country": "US", "postalCodePrefixes": ["9"]}, {"country": "US", "state": "WA", "postalCode": "98101"}),
             ({"country": "GB", "postalCodePrefixes": ["SW1"]}, {"country": "GB", "postalCode": "sw1a 1aa"}),
             ({"country": "US", "postalCodePrefixes": ["100"]}, {"country": "US", "state": "NY", "postalCode": "02108"}),
             ({"country": "US"}, {})]
    script = ("const r = require('./routing.js'); const cases = JSON.parse(process.argv[1]);"
              "console.log(JSON.stringify(cases.map(([a, s]) => r.areaCovers(a, r.routingAddress(s)))));")
    done = subprocess.run(["node", "-e", script, json.dumps(cases)], cwd=node_client, capture_output=True, text=True,
                          timeout=30, check=True)
    assert json.loads(done.stdout) == [area_covers(a, address_of(s)) for a, s in cases] == \
        [True, False, True, True, False, False]


@pytest.mark.timeout(900)
def test_node_client_passes_the_routing_scenarios_and_a_property_run(node_client: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "mock_server.cli", "check", "--project", str(PROJECT),
               "--examples", str(EXAMPLES), "--json", str(report)]
    for path in ROUTING_FILES:
        command += ["--scenarios", str(path)]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=ROOT)
    print(f"\nghl-sandbox check --project {PROJECT.relative_to(ROOT)} (routing scenarios, --examples {EXAMPLES}): "
          f"{time.monotonic() - started:.1f} s wall")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    data = json.loads(report.read_text())
    scenarios = [s for s in data["scenarios"] if not s.get("property")]
    assert len(scenarios) == len(ROUTING_FILES) >= 5
    not_passed = [(s["name"], s["status"], c["check"], c["status"], c["summary"])
                  for s in data["scenarios"] for c in s["checks"] if s["status"] != "pass" or c["status"] != "pass"]
    assert not not_passed, not_passed
    for s in scenarios:  # judged, not skipped: routed_correctly evaluated and held in each
        routed = next(c for c in s["checks"] if c["check"] == "routed_correctly")
        assert routed["status"] == "pass" and "paid order(s)" in routed["summary"], routed
