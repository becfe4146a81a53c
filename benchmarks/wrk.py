"""wrk, the load generator: make sure it is installed (Debian package `wrk`), run it, read its numbers.

A small Lua `done()` hook prints the summary as one JSON line, so percentiles come straight from wrk's
own latency histogram (microseconds) instead of from its rounded text report."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from benchmarks.procs import cpu_prefix

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,' ..
    '"mean_us":%.1f,"max_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,' ..
    '"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


class WrkMissing(RuntimeError):
    pass


def ensure_wrk(log=print) -> str:  # type: ignore[no-untyped-def]
    """Path of `wrk`; installs the Debian package when it is missing (needs root and apt-get)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if not apt:
        raise WrkMissing("wrk is not installed and apt-get is not available: install wrk by hand")
    sudo: list[str] = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else [])
    if os.geteuid() != 0 and not sudo:
        raise WrkMissing("wrk is not installed; `apt-get install -y wrk` needs root (or sudo)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in ([*sudo, apt, "update"], [*sudo, apt, "install", "-y", "wrk"]):
        log(f"wrk not found: running {' '.join(step)}")
        done = subprocess.run(step, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
            raise WrkMissing(f"`{' '.join(step)}` failed (exit {done.returncode}):\n" + "\n".join(tail))
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("apt-get install -y wrk succeeded but `wrk` is still not on PATH")
    log(f"installed {found}")
    return found


@dataclass
class WrkResult:
    requests: int
    duration_us: int
    bytes: int
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    max_us: float
    err_connect: int
    err_read: int
    err_write: int
    err_status: int
    err_timeout: int

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def errors(self) -> int:
        return self.err_connect + self.err_read + self.err_write + self.err_status + self.err_timeout

    def as_dict(self) -> dict[str, Any]:
        return {"rps": round(self.rps, 1), "p50_ms": round(self.p50_us / 1000, 3),
                "p90_ms": round(self.p90_us / 1000, 3), "p99_ms": round(self.p99_us / 1000, 3),
                "mean_ms": round(self.mean_us / 1000, 3), "max_ms": round(self.max_us / 1000, 3),
                "requests": self.requests, "errors": self.errors, "raw": asdict(self)}


class Wrk:
    def __init__(self, binary: str, threads: int = 1, connections: int = 32, cpu: int | None = 1) -> None:
        self.binary = binary
        self.threads = threads
        self.connections = connections
        self.cpu = cpu
        self._dir = tempfile.TemporaryDirectory(prefix="ghl-bench-wrk-")
        self.script = os.path.join(self._dir.name, "done.lua")
        with open(self.script, "w") as fh:
            fh.write(LUA_DONE)

    def command(self, url: str, seconds: int, headers: dict[str, str], script: str | None = None) -> list[str]:
        cmd = [*cpu_prefix(self.cpu), self.binary, f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s",
               "--timeout", "10s", "-s", script or self.script]
        for k, v in headers.items():
            cmd += ["-H", f"{k}: {v}"]
        return [*cmd, url]

    def run(self, url: str, seconds: int, headers: dict[str, str], lua: str | None = None) -> WrkResult:
        """One run; `lua` (a `request()` function and what it needs) is loaded before the summary hook."""
        script = None
        if lua is not None:
            script = os.path.join(self._dir.name, "custom.lua")
            with open(script, "w") as fh:
                fh.write(lua + "\n" + LUA_DONE)
        cmd = self.command(url, seconds, headers, script)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        for line in done.stdout.splitlines():
            if line.startswith("WRK_JSON "):
                return WrkResult(**orjson.loads(line[len("WRK_JSON "):]))
        raise RuntimeError(f"wrk gave no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")

    def close(self) -> None:
        self._dir.cleanup()
