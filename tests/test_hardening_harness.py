"""Hostile input to the harness and the server, from outside (issue 10, items 8, 9 and 10a).

- Scenario and project files that nest too deeply, refer to themselves, expand aliases into billions
  of values or are simply huge: `ghl-sandbox check` refuses each with `path:line: what is wrong`,
  exit 2, no traceback, in well under a second of work (the alias bomb used to take gigabytes).
- The client under test never outlives `ghl-sandbox check`: not on SIGTERM, SIGINT or SIGHUP, and
  not when a scenario fails in its setup or a plugin's step raises.
- A caller that disconnects mid-request costs the server no traceback and no "unhandled error" line.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from mock_server.testing import SandboxProcess
from scenarios.loader import load_file

ROOT = Path(__file__).resolve().parent.parent
MEMORY_CAP = 1 << 30  # address space for the harness in the hostile-file runs: a bomb fails, not the box


def _cap_memory() -> None:  # pragma: no cover - runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def check(*args: str, timeout: float = 60, cap_memory: bool = False) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    try:
        result = subprocess.run([sys.executable, "-m", "mock_server.cli", "check", *args], capture_output=True,
                                text=True, timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL,
                                preexec_fn=_cap_memory if cap_memory else None)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`ghl-sandbox check {' '.join(args)}` did not finish within {timeout:g} s")
    return result, time.monotonic() - started


# ---- item 8: hostile scenario and project files --------------------------------------------------------

def _bomb() -> str:
    """The billion laughs: nine levels of nine aliases each, 9**9 strings from ~400 bytes."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\nname: bomb\nsteps: *i\n"


HOSTILE = [
    # name, file text, line, what the message says
    ("deep", "name: deep\nsteps: " + "[" * 5000 + "]" * 5000 + "\n", 2, "values are nested more than 64 levels deep"),
    ("deep-mapping", "name: deep\nsteps:\n  - " + "{a: " * 100 + "1" + "}" * 100 + "\n", 3,
     "values are nested more than 64 levels deep"),
    ("recursive", "name: recursive\nsteps: &loop\n  - simulate: order.create\n  - *loop\n", 4,
     "the alias *loop refers to a collection that contains it"),
    ("recursive-mapping", "name: recursive\nsetup: &s\n  chaos: *s\nsteps: []\n", 3,
     "the alias *s refers to a collection that contains it"),
    ("bomb", _bomb(), 6, "the document expands to more than 100,000 values"),
    ("deep-by-alias", "a: &a " + "[" * 40 + "]" * 40 + "\nb: [" + "[" * 30 + "*a" + "]" * 30 + "]\nname: x\nsteps: []\n",
     2, "the alias *a nests values more than 64 levels deep"),
    ("huge-integer", "name: x\nsteps:\n  - simulate: order.create\n    repeat: " + "9" * 5000 + "\n", 4,
     "invalid YAML: cannot read this value: Exceeds the limit (4300 digits)"),
    ("impossible-date", "name: x\nsteps:\n  - simulate: order.create\n    eventId: 2001-02-30\n", 4,
     "invalid YAML: cannot read this value: day is out of range for month"),
    ("huge-file", "name: x\nsteps: []\n#" + "x" * (1 << 20) + "\n", 1, "the file is larger than 1 MiB"),
]


@pytest.mark.parametrize("name, text, line, message", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_scenario_files_are_refused_with_path_and_line(tmp_path: Path, name: str, text: str, line: int,
                                                                message: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    result, seconds = check("--client", "true", "--scenarios", str(path), "--examples", "0", timeout=30,
                            cap_memory=True)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert f"error: {path}:{line}: {message}" in " ".join(output.split()), output[-3000:]
    assert seconds < 15, f"{seconds:.1f} s to refuse {name}"  # parsing only: no sandbox, no client


def test_an_endless_or_binary_scenario_file_is_refused(tmp_path: Path) -> None:
    result, _ = check("--client", "true", "--scenarios", "/dev/zero", timeout=30, cap_memory=True)
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr, result.stdout[-2000:]
    assert "error: /dev/zero:1: the file is larger than 1 MiB" in result.stdout
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: x\nsteps: []\n\xff\xfe\n")
    result, _ = check("--client", "true", "--scenarios", str(binary), timeout=30, cap_memory=True)
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr, result.stdout[-2000:]
    assert f"error: {binary}:3: not UTF-8 text" in result.stdout


def test_scenario_files_within_the_limits_still_load(tmp_path: Path) -> None:
    """Anchors, aliases and merge keys that stay within the limits work as before."""
    path = tmp_path / "aliases.yaml"
    path.write_text("name: aliases\nsetup:\n  chaos: &chaos {drop: 0.5}\nsteps:\n"
                    "  - chaos: *chaos\n  - chaos: {<<: *chaos, duplicate: 0.1}\n  - wait: {seconds: 0}\n")
    scenario = load_file(path)
    assert scenario.steps[0] == {"chaos": {"drop": 0.5}}
    assert scenario.steps[1] == {"chaos": {"drop": 0.5, "duplicate": 0.1}}


@pytest.mark.parametrize("text, line, message", [
    ('[client]\ncommand = "x"\n# [[[[ in a comment\nnote = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["\n'
     "deep = " + "[" * 5000 + "]" * 5000 + "\n", 5, "arrays and inline tables are nested more than 32 levels deep"),
    ('[client]\ncommand = """two\nlines [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["""\nenv = ' + "{a = " * 40 + "1"
     + "}" * 40 + "\n", 4, "arrays and inline tables are nested more than 32 levels deep"),
    ("# " + "x" * (1 << 20) + "\n", 1, "the file is larger than 1 MiB"),
])
def test_hostile_project_files_are_refused_with_path_and_line(tmp_path: Path, text: str, line: int,
                                                               message: str) -> None:
    project = tmp_path / "ghl-sandbox.toml"
    project.write_text(text)
    result, _ = check("--project", str(project), timeout=30, cap_memory=True)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output, output[-3000:]
    assert f"error: {project}:{line}: {message}" in " ".join(output.split()), output[-3000:]


# ---- item 9: the client under test never outlives the harness ------------------------------------------

# A client that answers 200 to everything and keeps a second process in its group (as a real client's
# worker would); it writes both pids once it runs.
CLIENT = '''
import http.server, os, subprocess, sys
worker = subprocess.Popen(["sleep", "300"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {os.getpgid(0)} {worker.pid}")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])

class Ok(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["CLIENT_PORT"])), Ok).serve_forever()
'''

WAITING = "name: waiting\nsteps:\n  - wait: {seconds: 120}\n"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _default_stop_signals() -> None:
    """The harness starts with the stop signals' default handling, whatever this test run inherited (a
    suite started under `nohup` ignores SIGHUP, and the harness rightly keeps an ignored signal ignored)."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


class ClientRun:
    """`ghl-sandbox check` in its own session with the pid-writing client; `kill_leftovers` ends
    whatever of the client survived, so a failing test leaves nothing behind."""

    def __init__(self, tmp_path: Path, scenario_text: str, *extra: str) -> None:
        self.script = tmp_path / "client.py"
        self.script.write_text(CLIENT)
        self.pid_file = tmp_path / "client.pid"
        self.scenario = tmp_path / "scenario.yaml"
        self.scenario.write_text(scenario_text)
        self.extra = extra
        self.pgid: int | None = None
        self.proc: subprocess.Popen[str] | None = None

    def start(self, preexec_fn: Callable[[], object] | None = None) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "mock_server.cli", "check", "--client",
               f"{sys.executable} {self.script} {self.pid_file}", "--scenarios", str(self.scenario),
               "--examples", "0", *self.extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=preexec_fn or _default_stop_signals)
        return self.proc

    def wait_for_client(self, timeout: float = 60) -> int:
        """The client's process group, once the client runs (or ran)."""
        deadline = time.monotonic() + timeout
        while not self.pid_file.exists():
            assert self.proc is not None and self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, "the client never started"
            time.sleep(0.05)
        self.pgid = int(self.pid_file.read_text().split()[1])
        return self.pgid

    def assert_client_gone(self, within: float = 5.0) -> None:
        assert self.pgid is not None
        deadline = time.monotonic() + within
        while group_members(self.pgid):
            assert time.monotonic() < deadline, f"the client's process group is still running: {group_members(self.pgid)}"
            time.sleep(0.05)

    def kill_leftovers(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.pgid is not None and group_members(self.pgid):
            os.killpg(self.pgid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_to_the_harness_stops_the_client(tmp_path: Path, sig: signal.Signals) -> None:
    run = ClientRun(tmp_path, WAITING)
    proc = run.start()
    try:
        pgid = run.wait_for_client()
        assert len(group_members(pgid)) >= 2  # the client and its worker
        time.sleep(0.5)  # into the scenario (or still in the client's start: either way it must stop)
        os.kill(proc.pid, sig)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the harness did not end within 30 s of {sig.name}")
        run.assert_client_gone()
        # It ends as the signal would have ended it, says why, and shows no traceback.
        assert proc.returncode == -sig, (proc.returncode, out[-2000:], err[-2000:])
        assert f"interrupted by {sig.name}; the client under test was stopped" in err
        assert "sandbox http://127.0.0.1:" in out  # what it printed before the signal is not lost
        assert "Traceback" not in out + err, err[-3000:]
    finally:
        run.kill_leftovers()


def test_a_signal_ignored_at_start_stays_ignored(tmp_path: Path) -> None:
    """Under `nohup` SIGHUP is ignored: the harness keeps it so (and still stops on SIGTERM)."""
    run = ClientRun(tmp_path, WAITING)
    proc = run.start(preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        pgid = run.wait_for_client()
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGHUP)
        time.sleep(1.5)
        assert proc.poll() is None and group_members(pgid), "SIGHUP ended a run started under nohup"
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)
        run.assert_client_gone()
        assert proc.returncode == -signal.SIGTERM
    finally:
        run.kill_leftovers()


def test_a_setup_error_after_the_client_started_stops_it(tmp_path: Path) -> None:
    """The sandbox refuses the webhook target (a delay past its maximum) after the client started:
    the scenario is an ERROR and the client is stopped with it, not left running."""
    run = ClientRun(tmp_path, "name: refused target\nsetup:\n  chaos: {delayMs: 99999999999}\n"
                              "steps:\n  - simulate: order.create\n")
    proc = run.start()
    try:
        out, err = proc.communicate(timeout=120)
        run.wait_for_client(timeout=0)
        run.assert_client_gone(within=1.0)
        assert proc.returncode == 1, out[-3000:] + err[-3000:]
        assert "chaos.delayMs must be an integer" in " ".join(out.split()), out[-3000:]
    finally:
        run.kill_leftovers()


def test_a_plugin_step_that_raises_does_not_leave_the_client_running(tmp_path: Path) -> None:
    plugin = tmp_path / "exploding.py"
    plugin.write_text("from scenarios.plugin import step\n\n\n@step('explode', schema={'type': 'string'})\n"
                      "def explode(ctx, spec):\n    raise RuntimeError('the plugin broke')\n")
    run = ClientRun(tmp_path, "name: exploding\nsteps:\n  - explode: now\n", "--plugin", str(plugin))
    proc = run.start()
    try:
        out, err = proc.communicate(timeout=120)
        run.wait_for_client(timeout=0)
        run.assert_client_gone(within=1.0)
        assert proc.returncode == 1 and "the plugin broke" in err, out[-2000:] + err[-3000:]
    finally:
        run.kill_leftovers()


# ---- item 10a: a caller that goes away mid-request -----------------------------------------------------

def test_a_client_disconnecting_mid_request_is_no_unhandled_error() -> None:
    with SandboxProcess(["--orders", "300"]) as sandbox:
        url = urlparse(sandbox.url)
        address = (url.hostname or "127.0.0.1", url.port or 80)
        # A body announced and never sent: the handler is reading it when the caller goes.
        for path in ("/_sandbox/reset", "/_sandbox/state", "/_sandbox/locations"):
            with socket.create_connection(address) as s:
                s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: 100000\r\n\r\n{\"seed\": ".encode())
                time.sleep(0.2)
        # A large answer asked for and never read: the connection is reset under the response.
        for path in ("/_sandbox/state", "/_sandbox/journal?limit=1000"):
            s = socket.create_connection(address)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            time.sleep(0.2)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            s.close()
        time.sleep(1.0)
        # The server still answers, and said nothing about any of it.
        assert httpx.get(sandbox.url + "/_sandbox/health", timeout=10).status_code == 200
        assert httpx.post(sandbox.url + "/_sandbox/reset", json={"seed": 7}, timeout=30).status_code == 200
        after_ready = sandbox.output.split("GHL_SANDBOX_READY", 1)[1]
        assert "Traceback" not in after_ready and "unhandled error" not in after_ready, after_ready[-3000:]
