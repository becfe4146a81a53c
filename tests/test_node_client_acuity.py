"""The Node integration's Acuity support (examples/clients/node/acuity.js), run by Node itself:
the signature over the raw body against the fact sheet's test vectors, the date windows of the
reconciliation, the client-side rate limit and 429 backoff against a real loopback HTTP server, and,
end to end, the client as a real subprocess against the sandbox's fake Acuity and Rankr."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_CLIENT = ROOT / "examples" / "clients" / "node"

# The fact sheet's vectors (§3.4): key abc123.
VECTORS = [
    ("action=scheduled&id=54321&calendarID=27238&appointmentTypeID=1", "N2vF6ucyA+NCDiiwsdXBpIxFok9pGGS4/gMB2ComFwA="),
    ("action=order.completed&id=1234", "4/Sn094sk1yY2+j0oRpZDHbotS0i32CizLwxS17CqXM="),
]


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed")
    return found


def run_node(node: str, script: str, timeout: float = 60) -> Any:
    """Run `script` in the client's directory (so `require('./acuity')` works); it prints one JSON line."""
    done = subprocess.run([node, "-e", script], cwd=NODE_CLIENT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- signatures ------------------------------------------------------------------------------


def test_signature_matches_the_fact_sheet_vectors_and_python_hmac(node: str) -> None:
    bodies = [body for body, _ in VECTORS]
    got = run_node(node, f"""
        const a = require('./acuity');
        const bodies = {json.dumps(bodies)};
        console.log(JSON.stringify(bodies.map((b) => a.acuitySignature('abc123', Buffer.from(b)))));
    """)
    for (body, expected), signature in zip(VECTORS, got, strict=True):
        mine = base64.b64encode(hmac.new(b"abc123", body.encode(), hashlib.sha256).digest()).decode()
        assert signature == expected == mine


def test_verification_is_over_the_raw_bytes(node: str) -> None:
    body, signature = VECTORS[0]
    cases = {
        "genuine": (body, signature, "abc123"),
        "header with whitespace": (body, f" {signature} ", "abc123"),
        "wrong key": (body, signature, "abc124"),
        # The same form, re-encoded: another field order, and what a parser + re-serialiser would write.
        "reordered": ("id=54321&action=scheduled&calendarID=27238&appointmentTypeID=1", signature, "abc123"),
        "trailing newline": (body + "\n", signature, "abc123"),
        "empty header": (body, "", "abc123"),
        "truncated signature": (body, signature[:-2], "abc123"),
        "other body's signature": (body, VECTORS[1][1], "abc123"),
    }
    got = run_node(node, f"""
        const a = require('./acuity');
        const cases = {json.dumps(cases)};
        const out = {{}};
        for (const [name, [body, sig, key]] of Object.entries(cases)) out[name] = a.verifyAcuitySignature(key, Buffer.from(body), sig);
        out['no header'] = a.verifyAcuitySignature('abc123', Buffer.from(cases.genuine[0]), undefined);
        console.log(JSON.stringify(out));
    """)
    assert got == {name: name in ("genuine", "header with whitespace") for name in [*cases, "no header"]}


def test_helpers_handle_acuity_formats(node: str) -> None:
    got = run_node(node, """
        const a = require('./acuity');
        console.log(JSON.stringify({
          actions: ['scheduled', 'appointment.scheduled', 'appointment.changed', 'order.completed'].map(a.normaliseAction),
          emails: [' Jane.Doe@X.com ', 'jane.doe@x.com'].map(a.normaliseEmail),
          minor: ['0.00', '10.00', '12.5', '0', 'x', ''].map(a.toMinor),
          iso: a.isoWithColon('2016-01-22T09:27:51-0800'),
          isoPlus: a.isoWithColon('2022-06-28T14:00:00+0800'),
          local: [a.localToIso('2014-09-23 14:22', 'America/New_York'), a.localToIso('2026-01-15 09:05', 'America/New_York'),
                  a.localToIso('2026-01-15 09:05', 'Asia/Kolkata'), a.localToIso('2026-01-15 09:05', 'Not/AZone'),
                  a.localToIso('2026-01-15 09:05', '')],
        }));
    """)
    assert got["actions"] == ["scheduled", "scheduled", "changed", "order.completed"]
    assert got["emails"] == ["jane.doe@x.com", "jane.doe@x.com"]
    assert got["minor"] == [0, 1000, 1250, 0, None, None]
    assert got["iso"] == "2016-01-22T09:27:51-08:00"
    assert got["isoPlus"] == "2022-06-28T14:00:00+08:00"
    assert got["local"] == ["2014-09-23T14:22:00-04:00", "2026-01-15T09:05:00-05:00", "2026-01-15T09:05:00+05:30",
                            "2026-01-15T09:05:00", "2026-01-15T09:05:00"]


@pytest.mark.parametrize("today", ["2026-11-29", "2026-10-01", "2025-02-28", "2027-08-31"])
def test_windows_cover_both_anchors_contiguously(node: str, today: str) -> None:
    got = run_node(node, f"""
        const a = require('./acuity');
        const range = a.sweepRange('{today}');
        const windows = a.monthWindows(range);
        console.log(JSON.stringify({{ range, windows, halves: windows.map(a.splitWindow) }}));
    """)
    first, last = min(date.fromisoformat(today), date(2026, 10, 1)), max(date.fromisoformat(today), date(2026, 10, 1))
    start, end = date.fromisoformat(got["range"]["from"]), date.fromisoformat(got["range"]["to"])
    assert start <= first - timedelta(days=181) and end >= last + timedelta(days=181)
    assert start >= first - timedelta(days=200) and end <= last + timedelta(days=200)
    windows = [(date.fromisoformat(w["from"]), date.fromisoformat(w["to"])) for w in got["windows"]]
    assert windows[0][0] == start and windows[-1][1] == end
    for (_, a_to), (b_from, _) in zip(windows, windows[1:], strict=False):
        assert b_from == a_to + timedelta(days=1)  # contiguous, no day twice, no day missed
    for (w_from, w_to), halves in zip(windows, got["halves"], strict=True):
        assert w_from <= w_to and (w_to - w_from).days <= 31
        if w_from == w_to:
            assert halves is None
            continue
        (h1_from, h1_to), (h2_from, h2_to) = [(date.fromisoformat(h["from"]), date.fromisoformat(h["to"])) for h in halves]
        assert h1_from == w_from and h2_to == w_to and h2_from == h1_to + timedelta(days=1) and h1_to >= h1_from


# ---- rate limit and backoff, against a loopback server ------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    starts: list[tuple[float, str, str]] = []
    limited_every = 0  # every Nth request answers 429
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        with self.lock:
            self.starts.append((time.monotonic(), self.path, self.headers.get("authorization", "")))
            n = len(self.starts)
        time.sleep(0.02)
        if self.limited_every and n % self.limited_every == 0:
            body = json.dumps({"status_code": 429, "message": "Rate limit reached.", "error": "too_many_requests"})
            self.send_response(429)
        else:
            body = json.dumps({"id": n, "path": self.path})
            self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def recorder() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"starts": [], "limited_every": 0, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/acuity/api/v1", handler
    finally:
        server.shutdown()
        server.server_close()


def _burst(node: str, base: str, count: int) -> Any:
    return run_node(node, f"""
        const {{ AcuityApi, HIGH, LOW }} = require('./acuity');
        const {{ Unavailable }} = require('./common');
        const pause = (ms, deadline) => new Promise((r) => setTimeout(r, ms));
        const api = new AcuityApi({{ baseUrl: '{base}', userId: '12345678', apiKey: 'k3y' }}, pause);
        const jobs = [];
        for (let i = 0; i < {count}; i++) {{
          const priority = i % 2 ? HIGH : LOW;
          jobs.push(api.get('/appointments/' + i, {{ priority, query: {{ p: priority }} }})
            .then((body) => ({{ ok: true, i, priority, path: body.path }}), (err) => ({{ ok: false, i, error: String(err) }})));
        }}
        Promise.all(jobs).then((results) => console.log(JSON.stringify({{ results, calls: api.calls, limited: api.limited }})));
    """, timeout=120)


def _max_per_second(times: list[float]) -> int:
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


def test_client_side_limit_keeps_under_eight_per_second_and_serves_webhooks_first(
        node: str, recorder: tuple[str, type[_Recorder]]) -> None:
    base, handler = recorder
    got = _burst(node, base, 24)
    assert all(r["ok"] for r in got["results"]), got
    times = [t for t, _, _ in handler.starts]
    assert len(times) == 24 and got["limited"] == 0
    assert _max_per_second(times) <= 8, times
    expected_auth = "Basic " + base64.b64encode(b"12345678:k3y").decode()
    assert {auth for _, _, auth in handler.starts} == {expected_auth}
    # HIGH (webhook) calls queued behind the first LOW ones are all served before the remaining LOW ones.
    order = ["p=1" in path for _, path, _ in handler.starts]  # True = LOW (1), False = HIGH (0)
    first_low_after_high = order.index(True, order.index(False))
    assert not any(order[order.index(False):first_low_after_high]) and all(order[first_low_after_high:]), order
    assert first_low_after_high - order.index(False) == 12, order


def test_429_blocks_every_call_with_growing_jittered_backoff(node: str, recorder: tuple[str, type[_Recorder]]) -> None:
    base, handler = recorder
    handler.limited_every = 5
    got = _burst(node, base, 12)
    assert all(r["ok"] for r in got["results"]), got
    assert got["limited"] >= 2
    times = [t for t, _, _ in handler.starts]
    assert _max_per_second(times) <= 8
    limited_at = [i for i in range(len(times)) if (i + 1) % 5 == 0]
    gaps = [times[i + 1] - times[i] for i in limited_at if i + 1 < len(times)]
    # After a 429 nothing at all is sent for at least the first backoff step (500 ms, plus jitter).
    assert gaps and all(gap >= 0.45 for gap in gaps), gaps
