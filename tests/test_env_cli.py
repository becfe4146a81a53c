"""`ghl-sandbox env` against a real sandbox subprocess: its exports are evaluated by a real bash and
used by a real curl; the fish and JSON shapes carry the same values. Also the CI recipes of docs/ci:
both parse as YAML and the command they run works as written."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mock_server.cli import _fish_quote, _sh_quote
from mock_server.testing import SandboxClient, SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "mock_server.cli"]
CLI_SH = " ".join(shlex.quote(word) for word in CLI)
EXPECTED = {"GHL_SANDBOX_URL", "GHL_API_BASE_URL", "GHL_API_VERSION", "GHL_LOCATION_ID", "GHL_ACCESS_TOKEN",
            "GHL_LOCATION_ID_2", "GHL_ACCESS_TOKEN_2", "GHL_APP_ID", "GHL_CLIENT_ID", "GHL_CLIENT_SECRET",
            "GHL_WEBHOOK_PUBLIC_KEY", "GHL_WEBHOOK_RSA_PUBLIC_KEY", "WEBHOOK_SIGNATURE_PUBLIC_KEY",
            "WEBHOOK_PUBLIC_KEY", "RANKR_API_BASE_URL", "RANKR_API_KEY", "RANKR_WEBHOOK_SECRET"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess() as proc:
        yield proc


@pytest.fixture(scope="module")
def truth(sandbox: SandboxProcess) -> Iterator[dict[str, Any]]:
    """What the control plane itself says, to compare the exports with."""
    client = SandboxClient(sandbox.url)
    try:
        yield {"locations": client.locations(), "keys": client.control("GET", "/keys"),
               "app": client.control("GET", "/apps")[0]}
    finally:
        client.close()


def _bash(script: str, env_url: str) -> subprocess.CompletedProcess[bytes]:
    # A clean environment: only what the script needs, and the sandbox URL through GHL_SANDBOX_URL.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "GHL_SANDBOX_URL": env_url, "HOME": "/tmp"}
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, timeout=60)


def _env(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [*CLI, "env", *([f"--url={url}"] if url else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_eval_in_bash_exports_everything_exactly(sandbox: SandboxProcess, truth: dict[str, Any]) -> None:
    # `eval "$(ghl-sandbox env)"` in a real bash, the URL from GHL_SANDBOX_URL; then every variable, raw.
    result = _bash(f'set -euo pipefail; eval "$({CLI_SH} env)"; env -0', sandbox.url)
    assert result.returncode == 0, result.stderr.decode()
    exported = dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
    missing = EXPECTED - set(exported)
    assert not missing, missing
    first, second = truth["locations"][:2]
    keys, app = truth["keys"], truth["app"]
    assert exported["GHL_SANDBOX_URL"] == exported["GHL_API_BASE_URL"] == sandbox.url
    assert exported["GHL_LOCATION_ID"] == first["locationId"]
    assert exported["GHL_ACCESS_TOKEN"] == first["tokens"][0]["token"]
    assert exported["GHL_LOCATION_ID_2"] == second["locationId"]
    assert exported["GHL_ACCESS_TOKEN_2"] == second["tokens"][0]["token"]
    assert (exported["GHL_APP_ID"], exported["GHL_CLIENT_ID"], exported["GHL_CLIENT_SECRET"]) == (
        app["appId"], app["clientId"], app["clientSecret"])
    # Multi-line PEMs survive the quoting byte for byte.
    assert exported["GHL_WEBHOOK_PUBLIC_KEY"] == exported["WEBHOOK_SIGNATURE_PUBLIC_KEY"] == keys["ed25519PublicKey"]
    assert exported["GHL_WEBHOOK_RSA_PUBLIC_KEY"] == exported["WEBHOOK_PUBLIC_KEY"] == keys["rsaPublicKey"]
    assert keys["rsaPublicKey"].count("\n") > 3
    assert exported["RANKR_API_BASE_URL"] == sandbox.url + "/rankr"
    assert exported["RANKR_API_KEY"] == first["rankr"]["apiKey"]
    assert exported["RANKR_WEBHOOK_SECRET"] == first["rankr"]["webhookSecret"]


def test_readme_curl_works_with_the_exports(sandbox: SandboxProcess) -> None:
    """The README's curl, copied with the exported names: 200; the second location with its own token
    too, and the first token on the second location is refused (they really are two locations)."""
    request = ('-sS -o /dev/null -w "%{{http_code}}\\n" -H "Authorization: Bearer ${tok}" '
               '-H "Version: $GHL_API_VERSION" "$GHL_API_BASE_URL/payments/orders?altId=${loc}&limit=5"')
    calls = [("GHL_ACCESS_TOKEN", "GHL_LOCATION_ID"), ("GHL_ACCESS_TOKEN_2", "GHL_LOCATION_ID_2"),
             ("GHL_ACCESS_TOKEN", "GHL_LOCATION_ID_2")]
    if shutil.which("curl"):
        script = f'set -euo pipefail; eval "$({CLI_SH} env)"\n' + "\n".join(
            "curl " + request.format(tok=tok, loc=loc) for tok, loc in calls)
        result = _bash(script, sandbox.url)
        assert result.returncode == 0, result.stderr.decode()
        codes = result.stdout.decode().split()
    else:  # no curl on this machine: the same requests with httpx, from the variables bash exported
        import httpx

        dumped = _bash(f'set -euo pipefail; eval "$({CLI_SH} env)"; env -0', sandbox.url)
        env = dict(item.split("=", 1) for item in dumped.stdout.decode().split("\0") if "=" in item)
        codes = [str(httpx.get(f"{env['GHL_API_BASE_URL']}/payments/orders",
                               params={"altId": env[loc], "limit": 5},
                               headers={"Authorization": f"Bearer {env[tok]}", "Version": env["GHL_API_VERSION"]},
                               timeout=30).status_code) for tok, loc in calls]
    assert codes == ["200", "200", "403"]


def _parse_fish(text: str) -> dict[str, str]:
    """`set -gx NAME 'value'` lines, fish's single-quote rules: only \\\\ and \\' are escapes."""
    out = {}
    for m in re.finditer(r"^set -gx ([A-Z_0-9]+) '((?:[^'\\]|\\.)*)'$", text, re.M | re.S):
        out[m.group(1)] = re.sub(r"\\([\\'])", r"\1", m.group(2))
    return out


def test_fish_and_json_shapes(sandbox: SandboxProcess) -> None:
    as_json = _env("--shell", "json", url=sandbox.url)
    assert as_json.returncode == 0, as_json.stderr
    values = json.loads(as_json.stdout)
    assert set(values) >= EXPECTED and all(isinstance(v, str) for v in values.values())
    as_sh = _env(url=sandbox.url)
    assert len(re.findall(r"^export [A-Z_0-9]+='", as_sh.stdout, re.M)) == len(values)
    as_fish = _env("--shell", "fish", url=sandbox.url)
    assert as_fish.returncode == 0, as_fish.stderr
    assert _parse_fish(as_fish.stdout) == values
    if shutil.which("fish"):  # the real shell, where there is one
        names = sorted(values)
        script = f"{CLI_SH} env --shell fish --url {sandbox.url} | source; " + "; ".join(
            f"printf '%s\\0' ${name}" for name in names)
        result = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr.decode()
        assert dict(zip(names, result.stdout.decode().split("\0")[:-1], strict=True)) == values


@pytest.mark.parametrize("value", ["it's", "a\nb\n", "$HOME `id` \\ \"q\" $(x)", "", "'''", "tab\there"])
def test_quoting_is_literal_in_real_shells(value: str) -> None:
    bash = subprocess.run(["bash", "-c", f"export X={_sh_quote(value)}; printf '%s' \"$X\""],
                          capture_output=True, timeout=30)
    assert bash.stdout.decode() == value
    if shutil.which("fish"):
        fish = subprocess.run(["fish", "--no-config", "-c", f"set -gx X {_fish_quote(value)}; printf '%s' \"$X\""],
                              capture_output=True, timeout=30)
        assert fish.stdout.decode() == value


def test_location_option(sandbox: SandboxProcess, truth: dict[str, Any]) -> None:
    values = json.loads(_env("--shell", "json", "--location", "1", url=sandbox.url).stdout)
    first, second = truth["locations"][:2]
    assert values["GHL_LOCATION_ID"] == second["locationId"]
    assert values["GHL_ACCESS_TOKEN"] == second["tokens"][0]["token"]
    assert values["GHL_LOCATION_ID_2"] == first["locationId"]
    assert values["RANKR_API_KEY"] == second["rankr"]["apiKey"]
    bad = _env("--location", "9", url=sandbox.url)
    assert bad.returncode == 2 and "--location: 9: the sandbox has 2 location(s)" in bad.stderr


def test_sandbox_not_running_is_one_line() -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _env(url=f"http://127.0.0.1:{port}")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"Error: cannot reach the sandbox at http://127.0.0.1:{port}")


def test_admin_token() -> None:
    with SandboxProcess(["--admin-token", "s3cret", "--orders", "5"]) as proc:
        refused = _env(url=proc.url)
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
        assert refused.stderr.startswith("Error: 401")
        values = json.loads(_env("--shell", "json", "--admin-token", "s3cret", url=proc.url).stdout)
        assert values["GHL_SANDBOX_ADMIN_TOKEN"] == "s3cret" and set(values) >= EXPECTED


# ---- docs/ci ---------------------------------------------------------------------------------------

CI = ROOT / "docs" / "ci"


def _documented_command() -> str:
    readme = (CI / "README.md").read_text()
    block = re.search(r"```sh\n(ghl-sandbox check [^\n]+)\n```", readme)
    assert block, "docs/ci/README.md shows the command in a ```sh block"
    return block.group(1)


def test_ci_recipes_parse_and_run_the_documented_command() -> None:
    command = _documented_command()
    github = yaml.safe_load((CI / "github-actions.yml").read_text())
    steps = github["jobs"]["ghl-sandbox"]["steps"]
    uses = {step.get("uses", "").split("@")[0]: step for step in steps}
    assert "actions/checkout" in uses and uses["actions/setup-python"]["with"]["python-version"] == "3.11"
    assert any(step.get("run") == "pip install ghl-sandbox" for step in steps)
    assert [step["run"] for step in steps if "ghl-sandbox check" in step.get("run", "")] == [command]
    junit = shlex.split(command)[shlex.split(command).index("--junit") + 1]
    upload, report = uses["actions/upload-artifact"], uses["mikepenz/action-junit-report"]
    assert upload["if"] == report["if"] == "always()"
    assert junit.startswith(upload["with"]["path"]) and report["with"]["report_paths"] == junit
    assert github["permissions"]["checks"] == "write"

    gitlab = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["ghl-sandbox"]
    assert gitlab["image"].startswith("python:3.11")
    assert "pip install ghl-sandbox" in gitlab["before_script"] and gitlab["script"] == [command]
    assert gitlab["artifacts"]["when"] == "always" and gitlab["artifacts"]["reports"]["junit"] == junit


def test_documented_command_gates_a_project(tmp_path: Path) -> None:
    """The CI command as written, in a repository holding a project file: the reference client on one
    scenario. Exit 0, and both reports where the recipes pick them up."""
    client = shlex.join([sys.executable, str(ROOT / "examples" / "clients" / "reference_client.py")])
    scenario = ROOT / "scenarios" / "library" / "01_new_paid_order_synced.yaml"
    (tmp_path / "ghl-sandbox.toml").write_text(
        f"[client]\ncommand = {json.dumps(client)}\n\n[harness]\nscenarios = [{json.dumps(str(scenario))}]\n"
        "examples = 0\n")
    words = shlex.split(_documented_command())
    assert words[0] == "ghl-sandbox"
    result = subprocess.run([*CLI, *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    suite = ET.parse(tmp_path / "reports" / "ghl-sandbox.xml").getroot()
    assert int(suite.get("tests", "0")) > 0 and suite.get("failures") == "0" and suite.get("errors") == "0"
    assert json.loads((tmp_path / "reports" / "ghl-sandbox.json").read_text())
