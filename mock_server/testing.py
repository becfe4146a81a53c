"""Run a real sandbox server in a subprocess and talk to it over loopback HTTP, as a user would.

`SandboxProcess` starts `ghl-sandbox serve` and waits for its `GHL_SANDBOX_READY <url>` line; its
base, `ReadyProcess`, does the same for any server that prints such a line (the benchmarks' own).
Used by the pytest plugin (`ghl_sandbox` fixture), this project's tests, the demo and the benchmarks.
`SandboxClient` (mock_server.client) is re-exported here, where tests have always found it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mock_server.client import DEFAULT_VERSION, SandboxClient, SandboxError

__all__ = ["DEFAULT_VERSION", "READY_MARKER", "ForkServer", "ForkedChild", "ReadyProcess", "SandboxClient", "SandboxError",
           "SandboxProcess", "discard_prestarted_fork_server", "prestart_fork_server", "start_fork_server"]

READY_MARKER = "GHL_SANDBOX_READY"


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when its parent dies (no orphan even on the parent's kill -9)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ReadyProcess:
    """A server in a child process (its own session, so the whole group stops) that prints
    `<marker> <url>` once it serves; `url` is known once `start()` returned."""

    def __init__(self, cmd: Sequence[str], marker: str, env: dict[str, str] | None = None,
                 start_timeout: float = 60.0, *, name: str = "server", cwd: str | None = None,
                 on_output: Callable[[str], None] | None = None, die_with_parent: bool = False) -> None:
        self.cmd = list(cmd)
        self.marker = marker
        self.env = env
        self.start_timeout = start_timeout
        self.name = name
        self.cwd = cwd
        self.on_output = on_output  # sees each line printed after the ready line
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.banner: list[str] = []  # the lines up to and with the ready line
        self._output: list[str] = []
        self.spawned_at = 0.0  # time.perf_counter() at spawn
        self.ready_s = 0.0  # spawn -> ready line, seconds

    def start(self) -> ReadyProcess:
        self.spawn()
        self.wait_ready()
        return self

    def spawn(self) -> None:
        """Start the process without waiting for its ready line (`wait_ready`), so several can start at once."""
        self.spawned_at = time.perf_counter()
        self.proc = self._launch()
        # Output is read by a thread from the start, so `start_timeout` holds even when the child hangs
        # without printing (a blocking readline here would wait forever), and the pipe never fills.
        self._settled = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _launch(self) -> subprocess.Popen[str]:
        """The child process, its output (stdout and stderr) on a text pipe."""
        die = self.die_with_parent and sys.platform.startswith("linux")
        return subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(self.env or {})},
                                cwd=self.cwd, start_new_session=True,
                                preexec_fn=die_with_parent if die else None)

    def wait_ready(self) -> None:
        assert self.proc is not None, "spawn() first"
        if not self._settled.wait(self.start_timeout):
            self.stop()
            raise RuntimeError(f"{self.name} did not start in time:\n" + "".join(self.banner))
        if not self.url:
            self.proc.wait(10)
            raise RuntimeError(f"{self.name} exited during start:\n" + "".join(self.banner))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if not self.url:
                self.banner.append(line)
                if line.startswith(self.marker + " "):
                    self.url = line.split()[1].rstrip("/")
                    self.ready_s = time.perf_counter() - self.spawned_at
                    self._settled.set()
                continue
            self._output.append(line)
            if len(self._output) > 2000:
                del self._output[:1000]
            if self.on_output is not None:
                self.on_output(line)
        self._settled.set()  # end of output: the child is gone

    @property
    def output(self) -> str:
        return "".join(self.banner + self._output)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, no chance to flush anything: what `kill -9` does."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the process group; SIGKILL when it has not exited after `grace` seconds."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ReadyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxProcess(ReadyProcess):
    """`ghl-sandbox serve --port 0 ...` in a child process (`port` to pick one; `prefix` goes before the
    interpreter, e.g. `taskset -c 0`)."""

    def __init__(self, args: Sequence[str] = (), env: dict[str, str] | None = None, start_timeout: float = 60.0,
                 *, port: int = 0, prefix: Sequence[str] = (), name: str = "sandbox", cwd: str | None = None,
                 on_output: Callable[[str], None] | None = None, die_with_parent: bool = False) -> None:
        self.args = list(args)
        cmd = [*prefix, sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port), *self.args]
        super().__init__(cmd, READY_MARKER, env, start_timeout, name=name, cwd=cwd, on_output=on_output,
                         die_with_parent=die_with_parent)

    def start(self) -> SandboxProcess:
        super().start()
        return self

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def client(self, admin_token: str | None = None, timeout: float = 30.0) -> SandboxClient:
        return SandboxClient(self.url, admin_token=admin_token, timeout=timeout)


# ---- a fork server for many sandboxes at once (`check --jobs`) ------------------------------------

FORK_TIMEOUT_S = 60.0  # for the fork server's answer (the first waits for its imports and warm-up)
PID = struct.Struct("!q")  # the fork server's answer: the forked sandbox's pid, 0 when it could not fork


def repo_pythonpath() -> str:
    """A child must import this very copy of the packages (a worktree, an editable install)."""
    here = str(Path(__file__).resolve().parent.parent)
    rest = os.environ.get("PYTHONPATH", "")
    return here + (os.pathsep + rest if rest else "")


class ForkedChild:
    """What `ReadyProcess` needs of a `Popen`, for a sandbox the fork server forked: not our child, so it
    is watched through a pidfd, and its exit status is not ours to know (`returncode` 0 once gone)."""

    def __init__(self, pid: int, output: int, command: list[str]) -> None:
        self.pid = pid
        self.args = command
        self.returncode: int | None = None
        self.stdout = os.fdopen(output, "r", encoding="utf-8", errors="replace")
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # gone already
            self._pidfd = None
            self.returncode = 0

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd is not None and select.select([self._pidfd], [], [], 0)[0]:
            self._gone()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self._pidfd is not None:
            if not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self._gone()
        return self.returncode or 0

    def _gone(self) -> None:
        self.returncode = 0
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class ForkServer:
    """`python -m mock_server.forkserver`, started once per `check`; `fork()` asks it for a sandbox."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.command = [sys.executable, "-m", "mock_server.forkserver", str(theirs.fileno())]
        try:
            self.proc = subprocess.Popen(self.command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": repo_pythonpath()},
                                         start_new_session=True, preexec_fn=die_with_parent)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(FORK_TIMEOUT_S)  # its first answer waits for its imports
        self.channel = ours
        self.broken = False  # it failed once (gone, or no answer in time): the jobs start fresh interpreters
        self._lock = threading.Lock()

    def fork(self, payload: str) -> ForkedChild:
        """A sandbox serving `payload` (Settings JSON), its output on a pipe; RuntimeError if the server
        could not fork one."""
        if self.broken:
            raise RuntimeError("the fork server failed before")
        output, child_output = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self.channel, [payload.encode()], [child_output])
                answer = self.channel.recv(PID.size)
        except OSError as exc:
            os.close(output)
            self.broken = True  # one wait for an answer that does not come is enough
            raise RuntimeError(f"the fork server did not answer: {exc}") from None
        finally:
            os.close(child_output)
        pid = PID.unpack(answer)[0] if len(answer) == PID.size else 0
        if pid <= 0:
            os.close(output)
            self.broken = not answer  # no answer at all: the server is gone
            raise RuntimeError("the fork server could not fork a sandbox")
        return ForkedChild(pid, output, self.command)

    def close(self) -> None:
        """It exits when its socket closes (its sandboxes are stopped apart)."""
        self.channel.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


_prestarted: ForkServer | None = None


def prestart_fork_server() -> None:
    """Start the fork server now, for the next `start_fork_server()`: `check` calls this before it
    imports the harness and reads its project and scenarios (half a second of one core), so the fork
    server's own warm-up (a second) runs meanwhile on another. One not taken dies with this process."""
    global _prestarted
    if _prestarted is None:
        _prestarted = _new_fork_server()


def discard_prestarted_fork_server() -> None:
    """The run needs no fork server after all (one job, a sandbox the user runs): stop the prestarted one."""
    global _prestarted
    if _prestarted is not None:
        _prestarted.close()
        _prestarted = None


def start_fork_server() -> ForkServer | None:
    """A fork server (the prestarted one if there is one), or None where one cannot run (no fork, no
    pidfd, no fd passing): then each job's sandbox is a fresh interpreter."""
    global _prestarted
    found, _prestarted = _prestarted, None
    if found is not None and found.proc.poll() is None:
        return found
    if found is not None:
        found.close()
    return _new_fork_server()


def _new_fork_server() -> ForkServer | None:
    if not (hasattr(os, "fork") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")):
        return None
    try:
        probe = os.pidfd_open(os.getpid())
    except OSError:  # a kernel older than 5.3
        return None
    os.close(probe)
    try:
        return ForkServer()
    except OSError:
        return None
