"""The README's official-SDK examples work verbatim as printed.

The section "Using GHL's official Python SDK against the sandbox" is read from README.md: its shell
block (the command that puts TOKEN, LOCATION and GHL_SANDBOX_URL in the shell), its Python block and its
JavaScript block. A real bash runs the shell block exactly as printed (its `ghl-sandbox` is this
checkout's CLI) against a real sandbox subprocess, then the Python example with GHL's Python SDK, and
the JavaScript one with GHL's npm SDK (tests/node's install), in that same shell. Each must print the
first order of the location as the API itself shows it, having used the location's private integration
token. Also `ghl-sandbox token` itself: the token types, the location by id or number, a clear error."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_node_sdk_webhooks import node_with_sdk  # noqa: F401  (the session fixture that installs the SDK)

from mock_server.testing import SandboxClient, SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTION = "### Using GHL's official Python SDK against the sandbox"
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"


def section_blocks(text: str = "") -> dict[str, str]:
    """The fenced code blocks of the README's SDK section, by language (sh, python, js)."""
    text = text or README.read_text()
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    body = text.split(SECTION, 1)[1]
    body = re.split(r"^#{1,3} ", body, maxsplit=1, flags=re.MULTILINE)[0]
    blocks: dict[str, str] = {}
    for lang, code in re.findall(r"^```(\w+)\n(.*?)^```$", body, flags=re.MULTILINE | re.DOTALL):
        assert lang not in blocks, f"two {lang} blocks in the README's SDK section"
        blocks[lang] = code
    return blocks


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess() as proc:
        yield proc


@pytest.fixture(scope="module")
def truth(sandbox: SandboxProcess) -> Iterator[dict[str, Any]]:
    """The first location, its tokens and its first order, as the control plane and the API show them."""
    with sandbox.client() as client:
        location = client.locations()[0]
        pit = next(t for t in location["tokens"] if t["tokenType"] == "pit" and t["tokenClass"] == "location")
        first = client.api("GET", "/payments/orders", pit["token"],
                           params={"altId": location["locationId"], "limit": 1}).json()["data"][0]
        order = client.api("GET", f"/payments/orders/{first['_id']}", pit["token"],
                           params={"altId": location["locationId"], "altType": "location"}).json()
        yield {"location": location, "pit": pit, "order": order, "locations": client.locations()}


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose `ghl-sandbox` is this checkout's CLI (what `pip install` puts on the PATH)."""
    where = tmp_path_factory.mktemp("bin")
    script = where / "ghl-sandbox"
    script.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m mock_server.cli "$@"\n')
    script.chmod(0o755)
    return where


def run_in_shell(script: str, cli_dir: Path, sandbox_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """bash -c `script` in a clean environment: only the CLI on the PATH and the sandbox's URL."""
    environment = {"PATH": f"{cli_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(cli_dir),
                   "GHL_SANDBOX_URL": sandbox_url, **env}
    return subprocess.run(["bash", "-c", script], env=environment, capture_output=True, text=True, timeout=120,
                          cwd=cli_dir, check=False)


def assert_printed_the_first_order(done: subprocess.CompletedProcess[str], truth: dict[str, Any],
                                   sandbox: SandboxProcess) -> None:
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    order = truth["order"]
    assert done.stdout.strip().splitlines()[-1] == f"{order['_id']} {order['status']} {order['paymentStatus']}"
    with sandbox.client() as client:
        calls = [e for e in client.journal() if e["path"].startswith("/payments/orders")][-2:]
        client.clear_journal()
    assert [(e["method"], e["status"], e["tokenId"]) for e in calls] == [("GET", 200, truth["pit"]["tokenId"])] * 2


def test_the_section_has_the_command_and_both_examples() -> None:
    blocks = section_blocks()
    assert set(blocks) == {"sh", "python", "js"}
    assert "ghl-sandbox token" in blocks["sh"]
    assert "private_integration_token=TOKEN" in blocks["python"] and "location_access_token" not in blocks["python"]
    assert "privateIntegrationToken: TOKEN" in blocks["js"]


def test_python_example_runs_verbatim(sandbox: SandboxProcess, truth: dict[str, Any], cli_dir: Path) -> None:
    blocks = section_blocks()
    (cli_dir / "example.py").write_text(blocks["python"])
    done = run_in_shell(f"set -eu\n{blocks['sh']}\n{sys.executable} example.py\n", cli_dir, sandbox.url)
    assert_printed_the_first_order(done, truth, sandbox)


def test_npm_example_runs_verbatim(sandbox: SandboxProcess, truth: dict[str, Any], cli_dir: Path,
                                   node_with_sdk: str) -> None:  # noqa: F811
    blocks = section_blocks()
    (cli_dir / "example.js").write_text(blocks["js"])
    done = run_in_shell(f"set -eu\n{blocks['sh']}\n{node_with_sdk} example.js\n", cli_dir, sandbox.url,
                        NODE_PATH=str(NODE_MODULES))
    assert_printed_the_first_order(done, truth, sandbox)


def test_a_broken_example_fails(sandbox: SandboxProcess, truth: dict[str, Any], cli_dir: Path) -> None:
    """The old example (`HighLevel(location_access_token=...)`) is what this test exists to catch."""
    blocks = section_blocks()
    old = blocks["python"].replace("private_integration_token=TOKEN", "location_access_token=TOKEN")
    (cli_dir / "broken.py").write_text(old)
    done = run_in_shell(f"set -eu\n{blocks['sh']}\n{sys.executable} broken.py\n", cli_dir, sandbox.url)
    assert done.returncode != 0 and "Invalid configuration" in done.stderr


# ---- ghl-sandbox token ----------------------------------------------------------------------------


def token_cli(cli_dir: Path, sandbox_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_in_shell(" ".join(["ghl-sandbox", "token", *args]), cli_dir, sandbox_url)


def test_token_prints_each_kind_for_each_location(sandbox: SandboxProcess, truth: dict[str, Any],
                                                  cli_dir: Path) -> None:
    for number, location in enumerate(truth["locations"]):
        for kind in ("pit", "oauth"):
            want = next(t["token"] for t in location["tokens"]
                        if t["tokenType"] == kind and t["tokenClass"] == "location")
            for pick in (str(number), location["locationId"]):
                done = token_cli(cli_dir, sandbox.url, "--location", pick, "--type", kind)
                assert done.returncode == 0, done.stderr
                assert done.stdout == want + "\n"
    assert token_cli(cli_dir, sandbox.url).stdout == truth["pit"]["token"] + "\n"  # default: first location, PIT


def test_token_export_is_evaluated_by_bash_and_works(sandbox: SandboxProcess, truth: dict[str, Any],
                                                      cli_dir: Path) -> None:
    second = truth["locations"][1]
    script = ('eval "$(ghl-sandbox token --export --location 1 --url "$SANDBOX")"\n'
              'printf "%s\\n" "$TOKEN" "$LOCATION" "$GHL_SANDBOX_URL"\n'
              'curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $TOKEN" -H "Version: 2021-07-28" '
              '"$GHL_SANDBOX_URL/payments/orders?altId=$LOCATION&limit=1"\n')
    done = run_in_shell(script, cli_dir, "http://127.0.0.1:9", SANDBOX=sandbox.url + "/")
    assert done.returncode == 0, done.stderr
    pit = next(t["token"] for t in second["tokens"] if t["tokenType"] == "pit")
    assert done.stdout.splitlines() == [pit, second["locationId"], sandbox.url, "200"]


def test_token_errors_are_one_clear_line(sandbox: SandboxProcess, cli_dir: Path) -> None:
    done = token_cli(cli_dir, sandbox.url, "--location", "nope")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'nope' is neither the id nor the number of a location" in done.stderr
    done = token_cli(cli_dir, sandbox.url, "--location", "7")
    assert done.returncode == 2 and "neither the id nor the number" in done.stderr
    done = token_cli(cli_dir, "http://127.0.0.1:9")
    assert done.returncode == 1 and "cannot reach the sandbox at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_client_helper_sees_the_same_tokens(sandbox: SandboxProcess, truth: dict[str, Any]) -> None:
    """The control plane's list (what the command reads) carries a PIT for every seeded location."""
    with SandboxClient(sandbox.url) as client:
        for location in client.locations():
            assert any(t["tokenType"] == "pit" and t["token"].startswith("pit-") for t in location["tokens"])
