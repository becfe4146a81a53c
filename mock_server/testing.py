"""Run a real sandbox server in a subprocess and talk to it over loopback HTTP, as a user would.

Used by the pytest plugin (`ghl_sandbox` fixture), this project's tests, benchmarks and the harness.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

import httpx

DEFAULT_VERSION = "2021-07-28"


class SandboxProcess:
    """`ghl-sandbox serve --port 0 ...` in a child process; `url` is known once it printed its banner."""

    def __init__(self, args: Sequence[str] = (), env: dict[str, str] | None = None, start_timeout: float = 60.0) -> None:
        self.args = list(args)
        self.env = env
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.banner: list[str] = []
        self._output: list[str] = []

    def start(self) -> SandboxProcess:
        cmd = [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(self.env or {})}, start_new_session=True)
        # Output is read by a thread from the start, so `start_timeout` holds even when the child hangs
        # without printing (a blocking readline here would wait forever), and the pipe never fills.
        self._settled = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._settled.wait(self.start_timeout):
            self.stop()
            raise RuntimeError("sandbox did not start in time:\n" + "".join(self.banner))
        if not self.url:
            self.proc.wait(10)
            raise RuntimeError("sandbox exited during start:\n" + "".join(self.banner))
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if not self.url:
                self.banner.append(line)
                if line.startswith("GHL_SANDBOX_READY "):
                    self.url = line.split()[1]
                    self._settled.set()
                continue
            self._output.append(line)
            if len(self._output) > 2000:
                del self._output[:1000]
        self._settled.set()  # end of output: the child is gone

    @property
    def output(self) -> str:
        return "".join(self.banner + self._output)

    def kill(self) -> None:
        """SIGKILL, no chance to flush anything: what `kill -9` does."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, admin_token: str | None = None) -> SandboxClient:
        return SandboxClient(self.url, admin_token=admin_token)


class SandboxClient:
    """Thin helpers over the public HTTP API and control plane of a running sandbox."""

    def __init__(self, url: str, admin_token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    # control plane
    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, "/_sandbox" + path, **kwargs)
        r.raise_for_status()
        return r.json()

    def locations(self) -> list[dict[str, Any]]:
        return self.control("GET", "/locations")

    def location(self, index: int = 0) -> dict[str, Any]:
        return self.locations()[index]

    def new_location(self, **body: Any) -> dict[str, Any]:
        return self.control("POST", "/locations", json=body)

    def reset(self, **body: Any) -> dict[str, Any]:
        return self.control("POST", "/reset", json=body)

    def journal(self, **params: Any) -> list[dict[str, Any]]:
        return self.control("GET", "/journal", params=params)["entries"]

    def clear_journal(self) -> None:
        self.control("DELETE", "/journal")

    def token(self, location_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", "/tokens", json={"locationId": location_id, **body})

    def simulate(self, action: str, **body: Any) -> dict[str, Any]:
        """`POST /_sandbox/simulate/{action}`, e.g. `simulate("order.pay", orderId=..., amount=5)`."""
        return self.control("POST", f"/simulate/{action}", json=body)

    def fault(self, match: dict[str, Any], effect: dict[str, Any], **limits: Any) -> dict[str, Any]:
        """Add a fault rule, e.g. `fault({"method": "GET", "path": "/payments/orders"}, {"status": 503}, times=1)`."""
        return self.control("POST", "/faults", json={"match": match, "effect": effect, **limits})

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    def webhook_target(self, url: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", "/webhooks/targets", json={"url": url, **body})

    def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        return self.control("GET", "/webhooks/deliveries", params=params)["deliveries"]

    def wait_settled(self, timeout: float = 10.0) -> bool:
        r = self.http.get("/_sandbox/wait", params={"for": "deliveries-settled", "timeout": str(timeout)})
        return r.status_code == 200

    def advance_clock(self, seconds: float | str) -> dict[str, Any]:
        return self.control("POST", "/clock", json={"advance": seconds})

    # GHL API
    def api(self, method: str, path: str, token: str, version: str | None = DEFAULT_VERSION,
            **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers.setdefault("Authorization", f"Bearer {token}")
        if version is not None:
            headers.setdefault("Version", version)
        return self.http.request(method, path, headers=headers, **kwargs)
