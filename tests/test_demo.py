"""`make demo`: the sandbox, the reference client and the activity generator start, the dashboard
URL is printed, activity flows, and SIGINT (Ctrl-C) stops every process it started."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_make_demo_target_runs_the_demo_module() -> None:
    dry = subprocess.run(["make", "-n", "demo", "PORT=0", "ARGS=--interval 1"], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    assert "-m mock_server.demo --host 127.0.0.1 --port 0 --interval 1" in dry.stdout


def test_demo_generates_activity_and_ctrl_c_stops_everything() -> None:
    cmd = [sys.executable, "-m", "mock_server.demo", "--port", "0", "--orders", "10", "--interval", "0.2",
           "--fault-every", "1.5", "--reconcile-interval", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Processes" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.1)
        out = "".join(lines)
        url = re.search(r"Dashboard\s+(http://\S+)/", out)
        found = re.search(r"sandbox pid (\d+), client pid (\d+)", out)
        assert url and found, out
        pids = [int(found.group(1)), int(found.group(2))]
        base = url.group(1)
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "ghl-sandbox dashboard" in page.text

        # Activity: generated actions, the client's API calls, webhooks delivered to it, a fault now and then.
        with httpx.Client(base_url=base + "/_sandbox", timeout=10) as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                counts = http.get("/webhooks/deliveries").json()["counts"]
                journal = http.get("/journal").json()["entries"]
                faults = http.get("/faults").json()
                # The reference client takes GHL workflow deliveries: the demo gave it the library's workflow.
                workflow = http.get("/webhooks/deliveries", params={"service": "workflows"}).json()["deliveries"]
                if (counts["delivered"] >= 2 and any(e["locationId"] for e in journal) and faults
                        and any(d["status"] == "delivered" for d in workflow)):
                    break
                time.sleep(0.3)
            else:
                raise AssertionError(f"no activity: {counts}, {len(journal)} requests, {faults}, workflow deliveries "
                                     f"{[d['status'] for d in workflow]}\n{''.join(lines)}")
            kinds = {e["kind"] for e in http.get("/dashboard/events").json()["events"]}
            assert {"request", "delivery", "action"} <= kinds

        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, "".join(lines)
        reader.join(5)
        assert "demo stopped" in "".join(lines)
        for name, pid in zip(("sandbox", "client"), pids, strict=True):  # each in its own process group: all gone
            assert _gone(pid), f"the {name}'s process group {pid} survived the demo"
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(base + "/_sandbox/health", timeout=2)
            raise AssertionError("the sandbox still answers after Ctrl-C")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
