"""Server processes for the benchmarks: spawn (optionally pinned to one CPU), wait for the ready line,
read resident memory, stop. Each server runs in its own session so the whole process group stops."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

API_VERSION = "2021-07-28"


def cpu_prefix(cpu: int | None) -> list[str]:
    """`taskset -c N` when it exists and the machine has that CPU; else nothing (unpinned)."""
    if cpu is None or not shutil.which("taskset") or (os.cpu_count() or 1) <= cpu:
        return []
    return ["taskset", "-c", str(cpu)]


class ServerProcess:
    """A child process that prints `<marker> <url>` once it serves."""

    def __init__(self, name: str, args: Sequence[str], marker: str, cpu: int | None = None,
                 start_timeout: float = 180.0) -> None:
        self.name = name
        self.cmd = [*cpu_prefix(cpu), sys.executable, *args]
        self.marker = marker
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.lines: list[str] = []
        self.spawned_at = 0.0
        self.ready_s = 0.0  # spawn -> ready line, seconds

    def start(self) -> ServerProcess:
        self.spawned_at = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True, cwd=_repo_root())
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        timer = threading.Timer(self.start_timeout, self._kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                self.lines.append(line)
                if line.startswith(self.marker + " "):
                    self.url = line.split()[1].rstrip("/")
                    self.ready_s = time.perf_counter() - self.spawned_at
                    break
        finally:
            timer.cancel()
        if not self.url:
            self.stop()
            why = "did not start in time" if time.monotonic() >= deadline else "exited during start"
            raise RuntimeError(f"{self.name} {why}: {' '.join(self.cmd)}\n{''.join(self.lines[-40:])}")
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if len(self.lines) > 400:
                del self.lines[:200]

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def pids(self) -> list[int]:
        """This process and its descendants (granian serves from a child worker)."""
        out = [self.pid]
        frontier = [self.pid]
        while frontier:
            parent = frontier.pop()
            try:
                with open(f"/proc/{parent}/task/{parent}/children") as fh:
                    kids = [int(p) for p in fh.read().split()]
            except OSError:
                kids = []
            out += kids
            frontier += kids
        return out

    def rss_mib(self) -> float:
        """VmRSS of the process and its children, MiB."""
        return round(sum(rss_kib(p) for p in self.pids()) / 1024, 1)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the process and its children have used so far: unlike wall
        time, not inflated when other work competes for the CPU."""
        return round(sum(cpu_seconds(p) for p in self.pids()), 3)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sandbox(args: Sequence[str] = (), cpu: int | None = None, name: str = "sandbox") -> ServerProcess:
    """`ghl-sandbox serve --port 0 --rate-limit off ...` (auth and journal on, one worker)."""
    return ServerProcess(name, ["-m", "mock_server.cli", "serve", "--port", "0", "--rate-limit", "off", *args],
                         "GHL_SANDBOX_READY", cpu=cpu)


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- tiny HTTP client (stdlib: nothing to skew the numbers) --------------------------------------


class Http:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return self.request("GET", path, headers=headers)

    def request(self, method: str, path: str, json: object = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request on the kept-alive connection; `json` (when not None) is sent as the JSON body."""
        hdrs = dict(headers or {})
        body = None
        if json is not None:
            body = orjson.dumps(json)
            hdrs["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            r = self.conn.getresponse()
            return r.status, r.read()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()
            raise

    def call(self, method: str, path: str, json: object = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        """A control-plane call that must succeed: the decoded JSON answer (RuntimeError otherwise)."""
        status, body = self.request(method, path, json)
        if status not in ok:
            raise RuntimeError(f"{method} {path} answered {status}: {body[:300]!r}")
        return orjson.loads(body) if body else None

    def close(self) -> None:
        self.conn.close()


def api_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Version": API_VERSION}


def first_location(url: str) -> tuple[str, str]:
    """(location id, its full-scope token) of the first seeded location, from the control plane."""
    client = Http(url)
    try:
        status, body = client.get("/_sandbox/locations")
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"GET /_sandbox/locations answered {status}: {body[:200]!r}")
    loc = orjson.loads(body)[0]
    return loc["locationId"], loc["tokens"][0]["token"]
