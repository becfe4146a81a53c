"""Server processes for the benchmarks: spawn (optionally pinned to one CPU), wait for the ready line,
read resident memory and CPU time, stop (mock_server.testing's process helper, measured). Each server
runs in its own session so the whole process group stops."""

from __future__ import annotations

import http.client
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from mock_server.client import DEFAULT_VERSION as API_VERSION
from mock_server.client import SandboxClient
from mock_server.testing import ReadyProcess, SandboxProcess


def cpu_prefix(cpu: int | None) -> list[str]:
    """`taskset -c N` when it exists and the machine has that CPU; else nothing (unpinned)."""
    if cpu is None or not shutil.which("taskset") or (os.cpu_count() or 1) <= cpu:
        return []
    return ["taskset", "-c", str(cpu)]


class ServerProcess(ReadyProcess):
    """A benchmarked server (mock_server.testing.ReadyProcess: spawn, wait for the ready line, stop),
    whose resident memory and CPU time can be read."""

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


class SandboxServer(ServerProcess, SandboxProcess):
    """`ghl-sandbox serve` (mock_server.testing.SandboxProcess), measured."""


START_TIMEOUT = 180.0  # seeding 100,000 orders on a slow machine


def server(name: str, args: Sequence[str], marker: str, cpu: int | None = None) -> ServerProcess:
    """`python ARGS` (pinned to `cpu` when it can be), ready once it prints `<marker> <url>`."""
    return ServerProcess([*cpu_prefix(cpu), sys.executable, *args], marker, name=name, start_timeout=START_TIMEOUT,
                         cwd=_repo_root())


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


def sandbox(args: Sequence[str] = (), cpu: int | None = None, name: str = "sandbox") -> SandboxServer:
    """`ghl-sandbox serve --port 0 --rate-limit off ...` (auth and journal on, one worker)."""
    return SandboxServer(["--rate-limit", "off", *args], prefix=cpu_prefix(cpu), name=name,
                         start_timeout=START_TIMEOUT, cwd=_repo_root())


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- tiny HTTP client (stdlib: nothing to skew the numbers) --------------------------------------
# For what is timed (API requests, the reset and simulate calls measured one by one) and the receiver;
# control-plane set-up goes through mock_server.client.SandboxClient.


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
    with SandboxClient(url) as control:
        loc = control.location(0)
    return loc["locationId"], loc["tokens"][0]["token"]
