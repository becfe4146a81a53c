"""The Node integration (examples/clients/node) and GHL's two webhook signatures, gated with
`ghl-sandbox check --project` as a real subprocess: against the default sandbox (Ed25519
`x-ghl-signature` only, as GHL sends them since it retired `x-wh-signature`) the SDK's middleware
verifies every delivery; against a running sandbox that sends only the legacy RSA `x-wh-signature`
(`--no-ghl-signature --legacy-wh-signature`) its fallback (WEBHOOK_PUBLIC_KEY) takes the genuine
deliveries and still refuses forged, tampered and unsigned ones. The whole library runs in
tests/test_node_client.py; here only the scenarios about signatures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from node_support import ensure_node_client

from mock_server.testing import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "clients" / "node" / "ghl-sandbox.toml"
LIBRARY = ROOT / "scenarios" / "library"
SCENARIOS = ("01_new_paid_order_synced.yaml", "11_forged_signature.yaml")


@pytest.fixture(scope="module")
def node_client() -> Path:
    return ensure_node_client()


def check(report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mock_server.cli", "check", "--project", str(PROJECT), "--examples", "0",
               "--json", str(report), *args]
    for name in SCENARIOS:
        command += ["--scenarios", str(LIBRARY / name)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)


def checks_held(report: Path) -> dict[str, str]:
    data = json.loads(report.read_text())
    return {f"{s['name']}: {c['check']}": c["status"] for s in data["scenarios"] for c in s["checks"]}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("how", ["default", "rsa only"])
def test_node_client_takes_genuine_and_refuses_forged_webhooks(node_client: Path, tmp_path: Path, how: str) -> None:
    report = tmp_path / "report.json"
    if how == "default":
        result = check(report)
    else:
        with SandboxProcess(["--no-ghl-signature", "--legacy-wh-signature", "--orders", "8",
                             "--webhook-retry-interval", "0.5", "--webhook-timeout", "5"]) as proc:
            keys = proc.client().keys()
            assert keys["signatures"] == {"x-ghl-signature": False, "x-wh-signature": True}
            result = check(report, "--sandbox-url", proc.url)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    held = checks_held(report)
    assert held and set(held.values()) == {"pass"}, held
    assert any(k.endswith("rejects_forged_webhooks") for k in held) and any(
        k.endswith("accepts_genuine_webhooks") for k in held), held
