"""The client under test: a real process started from the user's command with the contract's
environment (contracts/CLIENT_CONTRACT.md), which scenarios may stop, restart or kill.

The client runs in its own session (a terminal's Ctrl-C must not reach it mid-scenario), so nothing
stops it when the harness goes away: every started client is kept in `_LIVE` until it is stopped,
and `stop_all` (at exit, and on SIGTERM, SIGINT or SIGHUP once `handle_signals` is installed) ends
what is left.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PORT_RELEASE_S = 2.0  # how long a restart waits for the client's port to be let go of
GROUP_RESCAN_S = 0.25  # while a client stops: how often all of /proc is read again for its process group


class Interrupted(BaseException):
    """One of STOP_SIGNALS arrived: unwinds everything (a BaseException, so no `except Exception`
    swallows it) and every `finally` stops what it started."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_LIVE: set[ClientProcess] = set()  # started, not yet known to be stopped
_critical = 0  # > 0 while a client is being spawned and registered
_pending: int | None = None  # a signal that arrived meanwhile
# `check --jobs` starts clients from worker threads: spawning and registering is one step under this
# lock, and once `refuse_new_clients` ran (the run is ending) no thread starts another client.
_spawn_lock = threading.RLock()
_refusing = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _critical:
        _pending = signum  # raised once the new client is registered, so it cannot be missed
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Defer `Interrupted` while a client is spawned: between fork and registration it would leak.
    Signals reach the main thread only: a worker thread spawns under `_spawn_lock` instead."""
    global _critical, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _critical += 1
    try:
        yield
    finally:
        _critical -= 1
    if not _critical and _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)


def handle_signals() -> Callable[[], None]:
    """Turn STOP_SIGNALS into `Interrupted` (main thread only); returns what restores the old handlers.
    A signal ignored at start stays ignored (`nohup`, a background job's SIGINT)."""
    previous = {sig: signal.signal(sig, _on_signal) for sig in STOP_SIGNALS
                if signal.getsignal(sig) is not signal.SIG_IGN}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def refuse_new_clients(refuse: bool = True) -> None:
    """From now on (until called with False) `ClientProcess.start` fails instead of spawning: worker
    threads of `check --jobs` still running when the run ends cannot leave a client behind."""
    global _refusing
    with _spawn_lock:
        _refusing = refuse


def stop_all(grace: float = 2.0) -> None:
    """Stop every client still running (SIGTERM to its group, SIGKILL after `grace`)."""
    for client in list(_LIVE):
        with contextlib.suppress(Exception):
            client.stop(grace)
        _LIVE.discard(client)


atexit.register(stop_all)  # an uncaught exception or sys.exit: the client goes too


# Ports `free_port` handed out, oldest first. The kernel may give the same free port to two jobs
# before either's client has bound it (the socket that found it is closed at once): a port handed
# out stays out of reach for the next PORTS_KEPT calls in this process.
PORTS_KEPT = 4096
_handed_out: collections.deque[int] = collections.deque()
_handed_set: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A loopback port no one listens on, not handed out by the last PORTS_KEPT calls of this process."""
    with _ports_lock:
        for _ in range(256):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port in _handed_set:
                continue
            _handed_out.append(port)
            _handed_set.add(port)
            if len(_handed_out) > PORTS_KEPT:
                _handed_set.discard(_handed_out.popleft())
            return port
    raise OSError("no free loopback port that was not handed out already")


def port_in_use(port: int) -> bool:
    """Whether something already accepts connections on the loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _live_in_group(stat: Path, group: int) -> bool:
    """Whether the process whose /proc stat file this is still runs (is no zombie) in process group `group`."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z" and int(fields[2]) == group
    except (OSError, IndexError, ValueError):
        return False


class ClientProcess:
    def __init__(self, command: str, env: dict[str, str], log_path: Path, port: int | None = None,
                 cwd: Path | None = None, health: str = "/healthz", ready_timeout: float = 30.0) -> None:
        self.command = command
        self.env = env
        self.log_path = log_path
        self.port = port if port is not None else int(env["CLIENT_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.cwd = cwd
        self.health = health
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_at: list[float] = []  # wall time of each start (a check counts each process's calls apart)
        self.lifecycle_s = 0.0  # seconds spent starting (until ready) and stopping it: what reuse could save

    def start(self, ready_timeout: float | None = None) -> None:
        began = time.monotonic()
        try:
            self._start(ready_timeout)
        finally:
            self.lifecycle_s += time.monotonic() - began

    def _start(self, ready_timeout: float | None) -> None:
        timeout = self.ready_timeout if ready_timeout is None else ready_timeout
        if self._port_taken():
            # Its health route would answer for it: a check would judge another process's calls.
            raise ClientError(f"port {self.port} is already taken by another process: the client cannot listen "
                              "on it (is a client of another run, or an old one, still running?)")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        log.write(f"\n--- start #{self.starts + 1}: {self.command}\n".encode())
        log.flush()
        self.started_at.append(time.time())
        try:
            with _uninterrupted(), _spawn_lock:
                if _refusing:
                    raise ClientError("the run is ending: no new client is started")
                self.proc = subprocess.Popen(self.command, shell=True, env={**os.environ, **self.env}, stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True, cwd=self.cwd)
                _LIVE.add(self)
        except OSError as exc:  # a working directory that does not exist, say
            raise ClientError(f"the client could not be started: {exc}") from None
        finally:
            log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ClientError(f"the client exited with code {self.proc.returncode} before it was ready",
                                  self.log_tail())
            if self.healthy():
                return
            time.sleep(0.05)
        self._kill_group()  # never leave a half-started client behind
        raise ClientError(f"the client did not answer 200 on {self.health} within {timeout:g} s", self.log_tail())

    def _port_taken(self) -> bool:
        """Whether another process listens on the client's port. After a stop or a crash of this client,
        its port may take a moment to be let go of: up to PORT_RELEASE_S."""
        deadline = time.monotonic() + (PORT_RELEASE_S if self.starts else 0.0)
        while port_in_use(self.port):
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.05)
        return False

    def healthy(self) -> bool:
        """One GET of the health route on loopback. The standard library's plain HTTP connection, not an
        httpx call: each of those builds a TLS context (the CA bundle read and parsed, ~30 ms of CPU), and
        with every job polling its client's start-up that was a tenth of a whole library's CPU."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            connection.request("GET", self.health)
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, grace: float = 5.0) -> None:
        if self.proc is None:
            return
        began = time.monotonic()
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
            self._wait_group(grace)
        except subprocess.TimeoutExpired:
            self._kill_group()
        _LIVE.discard(self)
        self.lifecycle_s += time.monotonic() - began

    def _group_alive(self) -> bool:
        """Any live (non-zombie) process left in the client's process group?"""
        return bool(self._group_members())

    def _group_members(self) -> set[int]:
        """The live (non-zombie) processes of the client's process group: a scan of all of /proc."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return set()
        proc_dir = Path("/proc")
        if not proc_dir.exists():
            return {self.proc.pid}
        members = set()
        for stat in proc_dir.glob("[0-9]*/stat"):
            if _live_in_group(stat, self.proc.pid):
                members.add(int(stat.parent.name))
        return members

    def _wait_group(self, timeout: float) -> None:
        """The shell may exit before the client it started: wait for the whole process group. The
        members found by one scan of /proc are watched alone (a scan reads every process's stat, and
        a client takes a while to stop); the whole of /proc again only every GROUP_RESCAN_S, for a
        process a member started meanwhile."""
        deadline = time.monotonic() + timeout
        members = self._group_members()
        scanned = time.monotonic()
        while members:
            if time.monotonic() > deadline:
                self._kill_group()
                return
            time.sleep(0.02)
            assert self.proc is not None
            members = {pid for pid in members if _live_in_group(Path(f"/proc/{pid}/stat"), self.proc.pid)}
            if not members or time.monotonic() - scanned >= GROUP_RESCAN_S:
                members = self._group_members()
                scanned = time.monotonic()

    def _kill_group(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        deadline = time.monotonic() + 5
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        _LIVE.discard(self)

    def crash(self) -> None:
        """SIGKILL, as a crash: no chance to flush anything."""
        if self.proc is None:
            return
        self._kill_group()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ClientError(Exception):
    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail
