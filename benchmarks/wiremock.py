"""WireMock, the peer the fake is compared with: stubs that answer the fake's exact bytes.

WireMock comes from the npm package `wiremock` (it ships the standalone jar), installed with `npm
install` into a cache directory outside the repository (`$XDG_CACHE_HOME/ghl-sandbox/bench/wiremock`,
else `~/.cache/...`); it needs Java: when `java` is missing, `apt-get install -y default-jre-headless`
runs (as root, or with `sudo -n`), as for wrk. Anything that fails raises `WireMockMissing` with the
reason, so the benchmark reports it and goes on without the peer.

The server runs `java -jar wiremock-standalone-*.jar --port N --disable-banner --no-request-journal`
(the request journal off: an unbounded journal is not what a load test should measure), pinned like
the fake, with one stub mapping per path (`urlPath` equal, GET) whose body is the fake's answer.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable

import orjson

from benchmarks.procs import Http, cpu_prefix, rss_kib

START_TIMEOUT = 90.0


class WireMockMissing(RuntimeError):
    pass


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ghl-sandbox", "bench", "wiremock")


def _apt_install(package: str, log: Callable[[str], None]) -> None:
    apt = shutil.which("apt-get")
    if not apt:
        raise WireMockMissing(f"java is not installed and apt-get is not available: install {package} by hand")
    sudo: list[str] = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else [])
    if os.geteuid() != 0 and not sudo:
        raise WireMockMissing(f"java is not installed; `apt-get install -y {package}` needs root (or sudo)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in ([*sudo, apt, "update"], [*sudo, apt, "install", "-y", package]):
        log(f"  java not found: running {' '.join(step)}")
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-10:]
            raise WireMockMissing(f"`{' '.join(step)}` failed (exit {done.returncode}):\n" + "\n".join(tail))


def ensure_wiremock(log: Callable[[str], None] = print) -> tuple[str, str]:
    """(java, jar): installs Java and the npm package `wiremock` when missing."""
    java = shutil.which("java")
    if not java:
        _apt_install("default-jre-headless", log)
        java = shutil.which("java")
        if not java:
            raise WireMockMissing("default-jre-headless is installed but `java` is still not on PATH")
    directory = cache_dir()
    pattern = os.path.join(directory, "node_modules", "wiremock", "build", "wiremock-standalone-*.jar")
    jars = sorted(glob.glob(pattern))
    if not jars:
        npm = shutil.which("npm")
        if not npm:
            raise WireMockMissing("npm is not installed (make node): cannot install the npm package wiremock")
        os.makedirs(directory, exist_ok=True)
        log(f"  installing WireMock: npm install wiremock (into {directory})")
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", directory, "wiremock"],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise WireMockMissing(f"npm install wiremock failed: {(done.stdout + done.stderr).strip()[-400:]}")
        jars = sorted(glob.glob(pattern))
        if not jars:
            raise WireMockMissing(f"npm install wiremock gave no jar matching {pattern}")
    return java, jars[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class WireMockServer:
    """WireMock answering GET `path` with `bodies[path]` (bytes, content-type JSON) for each path."""

    def __init__(self, java: str, jar: str, bodies: dict[str, bytes], cpu: int | None = None) -> None:
        self.name = "wiremock"
        self.version = os.path.basename(jar).removeprefix("wiremock-standalone-").removesuffix(".jar")
        self._root = tempfile.TemporaryDirectory(prefix="ghl-bench-wiremock-")
        mappings = os.path.join(self._root.name, "mappings")
        os.makedirs(mappings)
        os.makedirs(os.path.join(self._root.name, "__files"))
        for i, (path, body) in enumerate(bodies.items()):
            stub = {"request": {"method": "GET", "urlPath": path},
                    "response": {"status": 200, "body": body.decode(),
                                 "headers": {"Content-Type": "application/json; charset=utf-8"}}}
            with open(os.path.join(mappings, f"stub-{i}.json"), "wb") as fh:
                fh.write(orjson.dumps(stub))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [*cpu_prefix(cpu), java, "-jar", jar, "--port", str(self.port), "--bind-address", "127.0.0.1",
                    "--root-dir", self._root.name, "--disable-banner", "--no-request-journal"]
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    def start(self, probe_path: str) -> WireMockServer:
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise WireMockMissing(f"WireMock exited with {self.proc.returncode}: "
                                      f"{self._log.read().decode(errors='replace')[-400:]}")
            client = Http(self.url, timeout=5)
            try:
                status, _ = client.get(probe_path)
                if status == 200:
                    return self
            except OSError:
                pass
            finally:
                client.close()
            time.sleep(0.1)
        self.stop()
        raise WireMockMissing(f"WireMock did not answer within {START_TIMEOUT:.0f} s")

    def rss_mib(self) -> float:
        return round(rss_kib(self.proc.pid) / 1024, 1) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        self._root.cleanup()
