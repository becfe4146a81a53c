"""Run a real sandbox server in a subprocess and talk to it over loopback HTTP, as a user would.

`SandboxProcess` starts `ghl-sandbox serve` and waits for its `GHL_SANDBOX_READY <url>` line; its
base, `ReadyProcess`, does the same for any server that prints such a line (the benchmarks' own).
Used by the pytest plugin (`ghl_sandbox` fixture), this project's tests, the demo and the benchmarks.
`SandboxClient` (mock_server.client) is re-exported here, where tests have always found it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from mock_server.client import DEFAULT_VERSION, SandboxClient, SandboxError

__all__ = ["DEFAULT_VERSION", "READY_MARKER", "ReadyProcess", "SandboxClient", "SandboxError", "SandboxProcess"]

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
