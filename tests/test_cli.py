"""The `ghl-sandbox` command line: the serve banner, --help, and clear one-line errors (never a
traceback) for bad option values, unusable state files and a port already in use."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mock_server.ghl.models import PAYMENTS_SCOPES
from mock_server.testing import SandboxProcess

CLI = [sys.executable, "-m", "mock_server.cli"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_serve_prints_a_banner_with_url_locations_tokens_and_control_plane() -> None:
    with SandboxProcess(["--rate-limit", "off", "--orders", "20"]) as proc:
        banner = "".join(proc.banner)
        url = proc.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert int(url.rsplit(":", 1)[1]) != 0, "--port 0 shows the port actually bound"
        assert f"API base URL   {url}" in banner
        assert f"{url}/_sandbox" in banner
        assert banner.rstrip().endswith(f"GHL_SANDBOX_READY {url}")

        client = proc.client()
        views = client.locations()
        for view in views:
            assert view["locationId"] in banner
            assert view["name"] in banner
        head = views[0]["tokens"][0]
        assert f"token ({head['tokenClass']}, {head['tokenType']}): {head['token']}" in banner
        scope_lines = [line for line in banner.splitlines() if line.strip().startswith("scopes:")]
        assert scope_lines and set(PAYMENTS_SCOPES) <= set(scope_lines[0].split()[1:])
        # What the banner shows works as printed.
        r = client.api("GET", "/payments/orders", head["token"], params={"altId": views[0]["locationId"]})
        assert r.status_code == 200
        assert client.http.get("/_sandbox/health").json()["status"] == "ok"
        client.close()


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"]])
def test_help(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    if args[0] == "serve":
        for option in ("--port", "--seed", "--state", "--orders", "--admin-token", "--rate-limit",
                       "--journal-capacity"):
            assert option in result.stdout
        assert "sandbox-account" in result.stdout
    else:
        assert "serve" in result.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "ghl-sandbox"
    if not script.exists():
        pytest.skip("the package is not installed in this environment")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "ghl-sandbox" in result.stdout


def assert_clean_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert "Error:" in output, output
    for fragment in fragments:
        assert fragment in output, (fragment, output)


@pytest.mark.parametrize("args, fragments", [
    (["--port", "abc"], ["--port", "abc"]),
    (["--port", "70000"], ["--port", "70000"]),
    (["--seed", "x"], ["--seed"]),
    (["--orders", "-1"], ["--orders"]),
    (["--rate-limit", "unlimited"], ["--rate-limit", "sandbox-account"]),
    (["--journal-capacity", "0"], ["--journal-capacity"]),
    (["--server", "gunicorn"], ["--server"]),
    (["--no-such-option"], ["--no-such-option"]),
])
def test_bad_option_values(args: list[str], fragments: list[str]) -> None:
    result = run("serve", "--port", "0", *args, timeout=30)
    assert_clean_failure(result, *fragments)
    assert result.returncode == 2


def test_unusable_state_files(tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("this is not a database\n" * 50)
    missing_dir = tmp_path / "no" / "such" / "dir" / "state.db"
    assert_clean_failure(run("serve", "--port", "0", "--state", str(tmp_path), timeout=30), "--state")
    assert_clean_failure(run("serve", "--port", "0", "--state", str(not_a_db), timeout=30), str(not_a_db))
    assert_clean_failure(run("serve", "--port", "0", "--state", str(missing_dir), timeout=30), str(missing_dir))
    assert not_a_db.read_text().startswith("this is not a database"), "a refused file is left as it was"


def test_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run("serve", "--port", str(port), "--orders", "0", timeout=30)
    assert_clean_failure(result, f"127.0.0.1:{port}", "in use")


def test_sandbox_process_reports_a_failed_start() -> None:
    with pytest.raises(RuntimeError, match="exited during start") as failure:
        SandboxProcess(["--rate-limit", "unlimited"], start_timeout=30).start()
    assert "--rate-limit" in str(failure.value)


def test_sandbox_process_start_timeout_holds_for_a_silent_child(tmp_path: Path) -> None:
    # A child that hangs before printing anything: start() gives up after start_timeout and ends it.
    (tmp_path / "sitecustomize.py").write_text("import time\ntime.sleep(120)\n")
    proc = SandboxProcess([], env={"PYTHONPATH": str(tmp_path)}, start_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="did not start in time"):
        proc.start()
    assert time.monotonic() - started < 15
    assert proc.proc is not None and proc.proc.poll() is not None
