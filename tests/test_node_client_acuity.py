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
from node_support import ensure_node_client

ROOT = Path(__file__).resolve().parent.parent
NODE_CLIENT = ROOT / "examples" / "clients" / "node"

# The fact sheet's vectors (§3.4): key abc123.
VECTORS = [
    ("action=scheduled&id=54321&calendarID=27238&appointmentTypeID=1", "N2vF6ucyA+NCDiiwsdXBpIxFok9pGGS4/gMB2ComFwA="),
    ("action=order.completed&id=1234", "4/Sn094sk1yY2+j0oRpZDHbotS0i32CizLwxS17CqXM="),
]


@pytest.fixture(scope="module")
def node() -> str:
    ensure_node_client()  # node, npm and the client's packages (acuity.js and index.js require them)
    found = shutil.which("node")
    assert found is not None
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
        const {{ AcuityApi, AcuityLimiter, HIGH, LOW }} = require('./acuity');
        const {{ Unavailable }} = require('./common');
        const pause = (ms, deadline) => new Promise((r) => setTimeout(r, ms));
        // When the limiter lets each call go (the client's own clock): what its limit is about.
        const limiter = new AcuityLimiter();
        const sent = [];
        const acquire = limiter.acquire.bind(limiter);
        limiter.acquire = (...args) => acquire(...args).then((v) => {{ sent.push(performance.now()); return v; }});
        const api = new AcuityApi({{ baseUrl: '{base}', userId: '12345678', apiKey: 'k3y' }}, pause, limiter);
        const jobs = [];
        for (let i = 0; i < {count}; i++) {{
          const priority = i % 2 ? HIGH : LOW;
          jobs.push(api.get('/appointments/' + i, {{ priority, query: {{ p: priority }} }})
            .then((body) => ({{ ok: true, i, priority, path: body.path }}), (err) => ({{ ok: false, i, error: String(err) }})));
        }}
        Promise.all(jobs).then((results) => console.log(JSON.stringify({{ results, calls: api.calls, limited: api.limited, sent }})));
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
    # The client lets at most 8 calls go in any second (its margin under Acuity's 10) ...
    sent = [ms / 1000 for ms in got["sent"]]
    assert len(sent) == 24 and _max_per_second(sent) <= 8, sent
    # ... so the server never sees more than Acuity's 10, even when a loaded machine delays some calls
    # (a CI run saw the first call reach the recorder 125 ms late, 1.5 ms before the second).
    assert _max_per_second(times) <= 10, times
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



# ---- the sync logic against a scripted Acuity on loopback (Rankr calls captured) -----------------------

APPOINTMENT_TEMPLATE = {"firstName": "Ann", "lastName": "Lee", "phone": "", "price": "50.00", "priceSold": "50.00",
                        "calendarID": 7, "appointmentTypeID": 3, "canceled": False, "duration": "60"}


class _ScriptedAcuity(BaseHTTPRequestHandler):
    """GET /acuity/api/v1/...: /me, /appointments (minDate/maxDate/max honoured, no paging, as Acuity),
    /appointments/:id, /appointments/:id/payments, /orders, /orders/:id. Records every request."""

    appointments: dict[int, dict[str, Any]] = {}
    payments: dict[int, list[dict[str, Any]]] = {}
    orders: dict[int, dict[str, Any]] = {}
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        from urllib.parse import parse_qs, urlsplit

        self.seen.append(self.path)
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.removeprefix("/acuity/api/v1/").split("/")
        body: Any = None
        if parts == ["me"]:
            body = {"currency": "EUR", "timezone": "Europe/Berlin"}
        elif parts == ["appointments"]:
            assert q.get("showall") == "true"
            found = sorted((a for a in self.appointments.values()
                            if q.get("minDate", "0000") <= a["_day"] <= q.get("maxDate", "9999")),
                           key=lambda a: (a["datetime"], a["id"]), reverse=q.get("direction", "DESC") == "DESC")
            body = [{k: v for k, v in a.items() if k != "_day"} for a in found][:int(q.get("max", "100"))]
        elif parts[0] == "appointments" and int(parts[1]) in self.appointments:
            a = self.appointments[int(parts[1])]
            body = self.payments.get(a["id"], []) if parts[2:] == ["payments"] else {
                k: v for k, v in a.items() if k != "_day"}
        elif parts == ["orders"]:
            body = list(self.orders.values())
        elif parts[0] == "orders" and int(parts[1]) in self.orders:
            body = self.orders[int(parts[1])]
        data = json.dumps(body if body is not None else {"status_code": 404, "message": "Not Found",
                                                         "error": "not_found"}).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def scripted() -> Iterator[tuple[str, type[_ScriptedAcuity]]]:
    handler = type("Scripted", (_ScriptedAcuity,), {"appointments": {}, "payments": {}, "orders": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/acuity/api/v1", handler
    finally:
        server.shutdown()
        server.server_close()


def _sync_script(base: str, state_dir: Path, steps: str) -> str:
    """A Node program: AcuitySync over a real State journal, its Rankr calls captured; `steps` runs
    with `sync`, `sign` and `hook(body, signature?)` in scope and leaves its results in `out`."""
    return f"""
        const {{ AcuitySync, acuitySignature }} = require('./acuity');
        const {{ State, KeyedLock }} = require('./index');
        const puts = [];
        const state = new State({json.dumps(str(state_dir))});
        const service = {{
          state, recordLocks: new KeyedLock(), stopping: false, log: () => {{}},
          pauseWithin: (ms) => new Promise((r) => setTimeout(r, ms)),
          waitOrStop: (ms) => new Promise((r) => setTimeout(() => r(false), ms)),
          rankr: async (method, path, body) => {{ puts.push({{ method, path, body }}); return body; }},
        }};
        const key = 'k3y-of-the-account';
        const sync = new AcuitySync(service, {{ baseUrl: '{base}', userId: '42', apiKey: key, anchor: '2026-10-01', months: 6 }});
        const sign = (body) => acuitySignature(key, Buffer.from(body));
        const hook = (body, sig = sign(body)) => sync.handleWebhook(Buffer.from(body), sig);
        const out = {{}};
        (async () => {{
          {steps}
          state.close();
          console.log(JSON.stringify({{ out, puts }}));
        }})().catch((err) => {{ console.error(err.stack); process.exit(1); }});
    """


def _appointment(handler: type[_ScriptedAcuity], aid: int, day: str, email: str, amount_paid: str,
                 paid: str, payments: list[str]) -> None:
    handler.appointments[aid] = {**APPOINTMENT_TEMPLATE, "id": aid, "email": email, "amountPaid": amount_paid,
                                 "paid": paid, "datetime": f"{day}T10:00:00+0200", "_day": day}
    handler.payments[aid] = [{"transactionID": f"pi_{aid}_{n}", "created": f"{day}T09:00:0{n}+0200",
                              "processor": "stripe", "amount": amount} for n, amount in enumerate(payments)]


def test_webhooks_fetch_write_then_answer_and_dedupe(node: str, scripted: tuple[str, type[_ScriptedAcuity]],
                                                     tmp_path: Path) -> None:
    base, handler = scripted
    _appointment(handler, 1, "2026-10-05", " Ann.Lee@Example.COM ", "50.00", "yes", ["50.00"])
    _appointment(handler, 2, "2026-10-06", "ann.lee@example.com", "20.00", "no", ["20.00"])  # a deposit: paid "no"
    _appointment(handler, 3, "2026-10-07", "free@example.com", "0.00", "no", [])
    handler.orders[9] = {"id": 9, "total": "80.00", "status": "paid", "time": "2026-07-01 14:22", "firstName": "Gift",
                         "lastName": "Buyer", "email": "Gift@Example.com", "phone": "", "title": "Gift", "notes": ""}
    got = run_node(node, _sync_script(base, tmp_path / "state", """
        out.scheduled = await hook('action=scheduled&id=1&calendarID=7&appointmentTypeID=3');
        out.changed = await hook('action=changed&id=1&calendarID=7&appointmentTypeID=3');
        out.full = await hook('action=appointment.scheduled&id=2&calendarID=7&appointmentTypeID=3');
        out.free = await hook('action=scheduled&id=3&calendarID=7&appointmentTypeID=3');
        out.order = await hook('action=order.completed&id=9');
        out.forged = await hook('action=scheduled&id=77&calendarID=7&appointmentTypeID=3', 'bm90IGEgc2lnbmF0dXJl');
        out.unsigned = await hook('action=scheduled&id=77', null);
        out.noId = await hook('action=scheduled');
        out.unknown = await hook('action=scheduled&id=404');
    """))
    out, puts = got["out"], got["puts"]
    assert out == {"scheduled": 200, "changed": 200, "full": 200, "free": 200, "order": 200, "forged": 401,
                   "unsigned": 401, "noId": 400, "unknown": 200}
    seen = handler.seen
    assert not any("/77" in p for p in seen), "acted on a forged delivery"
    assert seen.count("/acuity/api/v1/appointments/1") == 2  # scheduled and changed both fetch
    assert seen.count("/acuity/api/v1/appointments/1/payments") == 1  # amountPaid unchanged: not again
    assert "/acuity/api/v1/appointments/3/payments" not in seen  # amountPaid "0.00": nothing to fetch
    assert seen.count("/acuity/api/v1/me") == 1
    payments = {p["body"]["paymentKey"]: p["body"] for p in puts if p["path"].startswith("/v1/payments/")}
    assert [p["path"] for p in puts].count("/v1/payments/acuity%3Api_1_0") == 1  # the changed duplicate wrote nothing
    assert payments["acuity:pi_1_0"] == {
        "paymentKey": "acuity:pi_1_0", "source": "acuity", "sourceKind": "appointment", "sourceId": "pi_1_0",
        "parentId": "1", "amount": 50, "currency": "EUR", "status": "paid", "customerEmail": "ann.lee@example.com",
        "paidAt": "2026-10-05T09:00:00+02:00"}
    assert payments["acuity:pi_2_0"]["amount"] == 20 and payments["acuity:pi_2_0"]["parentId"] == "2"
    assert payments["acuity-order:9"] == {
        "paymentKey": "acuity-order:9", "source": "acuity", "sourceKind": "order", "sourceId": "9", "parentId": "9",
        "amount": 80, "currency": "EUR", "status": "paid", "customerEmail": "gift@example.com",
        "paidAt": "2026-07-01T14:22:00+02:00"}
    assert set(payments) == {"acuity:pi_1_0", "acuity:pi_2_0", "acuity-order:9"}
    customers: dict[str, dict[str, Any]] = {}
    for p in puts:
        if p["path"].startswith("/v1/customers/"):
            customers[p["body"]["customerId"]] = p["body"]  # the last body written wins
    ann = customers["ann.lee@example.com"]
    assert ann["emails"] == ["ann.lee@example.com"] and ann["lifetimeValue"] == 70
    assert ann["acuityEmails"] == ["Ann.Lee@Example.COM", "ann.lee@example.com"] and ann["ghlContactIds"] == []
    assert customers["free@example.com"]["lifetimeValue"] == 0
    assert customers["gift@example.com"]["lifetimeValue"] == 80
    assert set(customers) == {"ann.lee@example.com", "free@example.com", "gift@example.com"}

    # After a restart (the journal reopened), a `changed` for an unchanged appointment writes nothing at all.
    before = len(handler.seen)
    again = run_node(node, _sync_script(base, tmp_path / "state", """
        out.changed = await hook('action=changed&id=1&calendarID=7&appointmentTypeID=3');
    """))
    assert again["out"] == {"changed": 200} and again["puts"] == []
    assert "/acuity/api/v1/appointments/1/payments" not in handler.seen[before:]


def test_reconciliation_splits_full_windows_and_finds_every_appointment(
        node: str, scripted: tuple[str, type[_ScriptedAcuity]], tmp_path: Path) -> None:
    base, handler = scripted
    days = [f"2026-10-{d:02d}" for d in range(5, 11)]
    for n in range(150):  # 150 in six days of one month: the month's list is cut at 100; every 5th one paid
        paid = n % 5 == 0
        _appointment(handler, 1000 + n, days[n % len(days)], f"p{n}@example.com", "10.00" if paid else "0.00",
                     "yes" if paid else "no", ["10.00"] if paid else [])
    for n in range(120):  # 120 on ONE day: a window that cannot be split; asked again with a larger max
        _appointment(handler, 2000 + n, "2027-01-15", f"q{n}@example.com", "0.00", "no", [])
    # Far outside six months of today and of the anchor: found because the sweep widens to the edges.
    _appointment(handler, 3000, "2024-02-10", "early@example.com", "15.00", "yes", ["15.00"])
    _appointment(handler, 3001, "2029-11-20", "late@example.com", "0.00", "no", [])
    got = run_node(node, _sync_script(base, tmp_path / "state", """
        out.changed = await sync.reconcileOnce();
        out.again = await sync.reconcileOnce();
    """), timeout=180)
    written = {p["body"]["paymentKey"] for p in got["puts"] if p["path"].startswith("/v1/payments/")}
    assert written == {f"acuity:pi_{1000 + n}_0" for n in range(0, 150, 5)} | {"acuity:pi_3000_0"}
    customers = {p["body"]["customerId"] for p in got["puts"] if p["path"].startswith("/v1/customers/")}
    assert customers == ({f"p{n}@example.com" for n in range(150)} | {f"q{n}@example.com" for n in range(120)}
                         | {"early@example.com", "late@example.com"})
    assert got["out"] == {"changed": 272, "again": 0}
    from urllib.parse import parse_qs, urlsplit

    every = [{k: v[0] for k, v in parse_qs(urlsplit(p).query).items()} for p in handler.seen
             if urlsplit(p).path == "/acuity/api/v1/appointments"]
    assert all(q["showall"] == "true" for q in every)
    lists = [q for q in every if "minDate" in q]
    assert len(every) - len(lists) == 4 and all(q["max"] == "1" for q in every if "minDate" not in q)
    october = [q for q in lists if q["minDate"] <= "2026-10-05" <= q["maxDate"]]
    assert any(q["minDate"] == "2026-10-01" and q["maxDate"] == "2026-10-31" for q in october)  # full: split
    assert any(q["maxDate"] < "2026-10-31" for q in october)
    assert any(q["minDate"] == q["maxDate"] == "2027-01-15" and int(q["max"]) > 120 for q in lists)
    # The second sweep goes straight to the split windows: October is not asked whole again.
    assert sum(1 for q in october if q["minDate"] == "2026-10-01" and q["maxDate"] == "2026-10-31") == 1
    # Payments only where amountPaid is not "0.00", once each across both sweeps.
    payment_calls = [p for p in handler.seen if p.endswith("/payments")]
    assert len(payment_calls) == 31 and len(set(payment_calls)) == 31


# ---- end to end: the client as a real subprocess, the sandbox's fake Acuity and Rankr ------------------


def eventually(probe: Any, timeout: float = 40.0, every: float = 0.25) -> Any:
    """Poll until `probe()` returns something truthy and return it; fail with the last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = probe()
    assert value, f"gave up after {timeout} s: {value!r}"
    return value


class Stack:
    """A sandbox (3 orders: a small world) and the Node client started the way the harness starts it:
    its own variable names rendered from its ghl-sandbox.toml."""

    def __init__(self, sandbox: Any, client: Any, control: Any, location: dict[str, Any]) -> None:
        self.sandbox, self.client, self.control, self.location = sandbox, client, control, location
        self.location_id: str = location["locationId"]
        self.acuity: dict[str, Any] = location["acuity"]
        self.webhook_url = client.url + "/webhooks/acuity"

    def rankr(self, kind: str) -> list[dict[str, Any]]:
        answer = self.control.control("GET", f"/rankr/records/{kind}", params={"locationId": self.location_id})
        return list(answer["data"] if isinstance(answer, dict) else answer)

    def acuity_state(self) -> dict[str, Any]:
        return dict(self.control.control("GET", "/acuity/state", params={"locationId": self.location_id}))

    def simulate(self, action: str, **body: Any) -> dict[str, Any]:
        return dict(self.control.simulate(action, locationId=self.location_id, **body))

    def rankr_puts(self, kind: str, record_id: str) -> list[dict[str, Any]]:
        from urllib.parse import quote

        paths = {f"/rankr/v1/{kind}/{record_id}", f"/rankr/v1/{kind}/{quote(record_id, safe='')}"}
        return [e for e in self.control.journal(path=f"/rankr/v1/{kind}") if e["method"] == "PUT" and e["path"] in paths]

    def sign(self, body: str, key: str | None = None) -> str:
        secret = (key or self.acuity["apiKey"]).encode()
        return base64.b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()).decode()

    def post(self, body: str, signature: str | None) -> int:
        import httpx

        headers = {"content-type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["x-acuity-signature"] = signature
        return httpx.post(self.webhook_url, content=body.encode(), headers=headers, timeout=15).status_code


@pytest.fixture(scope="module")
def stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from mock_server.testing import SandboxProcess
    from scenarios import project as project_file
    from scenarios import runner
    from scenarios.client import ClientProcess, free_port

    work = tmp_path_factory.mktemp("node-acuity")
    with SandboxProcess(["--orders", "3"]) as sb:
        control = sb.client()
        location = control.location(0)
        if not isinstance(location.get("acuity"), dict):
            pytest.skip("this sandbox has no fake Acuity")
        spec = project_file.load(NODE_CLIENT / "ghl-sandbox.toml").client()
        port = free_port()
        values = runner.template_values(sb.url, location, control.keys(), control.apps()[0], port, work / "state", 1.0)
        values.update(runner.acuity_values(sb.url, location["acuity"]))
        env = runner.render_env(spec, values, {})
        assert {"ACUITY_API_BASE_URL", "ACUITY_USER_ID", "ACUITY_API_KEY"} <= set(env), env.keys()
        client = ClientProcess(spec.command, env, work / "client.log", port=port, cwd=spec.cwd,
                               health=spec.routes.health)
        client.start()
        try:
            s = Stack(sb, client, control, location)
            control.control("PUT", "/acuity/webhooks/static", json={
                "locationId": s.location_id, "actionStyle": "short",
                "urls": dict.fromkeys(("scheduled", "rescheduled", "canceled", "changed", "order.completed"),
                                      s.webhook_url)})
            yield s
        finally:
            client.stop()
            print((work / "client.log").read_text(errors="replace")[-4000:])


def _normal(email: Any) -> str:
    return str(email or "").strip().lower()


def _reconciled(stack: Stack) -> list[str]:
    """What is missing or wrong in Rankr against the sandbox's truth ([] when all is there)."""
    truth, ghl = stack.acuity_state(), stack.control.state(stack.location_id)
    currency = truth["account"]["currency"]
    want: dict[tuple[str, str, str], float] = {}
    for a in truth["appointments"]:
        for p in a["payments"]:
            want[("acuity", "appointment", str(p["transactionID"]))] = float(p["amount"])
    for o in truth["orders"]:
        if o["status"] in ("paid", "delivered"):
            want[("acuity", "order", str(o["id"]))] = float(o["total"])
    for t in ghl["transactions"]:
        want[("ghl", "transaction", str(t["_id"]))] = float(t["amount"])
    have: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in stack.rankr("payments"):
        have.setdefault((r["source"], r["sourceKind"], r["sourceId"]), []).append(r)
    problems = [f"missing {k}" for k in want if k not in have]
    problems += [f"extra {k}" for k in have if k not in want]
    problems += [f"{k} x{len(v)}" for k, v in have.items() if len(v) > 1]
    problems += [f"{k} amount {v[0]['amount']} != {want[k]}" for k, v in have.items()
                 if k in want and abs(float(v[0]["amount"]) - want[k]) > 0.001]
    problems += [f"{k} currency {v[0]['currency']}" for k, v in have.items()
                 if k[0] == "acuity" and v[0]["currency"] != currency]
    emails = {_normal(a["email"]) for a in truth["appointments"]} | {_normal(o["email"]) for o in truth["orders"]}
    emails |= {_normal(o.get("contactEmail")) for o in ghl["orders"]}
    emails.discard("")
    holders: dict[str, list[str]] = {}
    for c in stack.rankr("customers"):
        for e in c["emails"]:
            holders.setdefault(e, []).append(c["customerId"])
        if len(c["emails"]) != 1:
            problems.append(f"customer {c['customerId']} spans {c['emails']}")
    problems += [f"no customer for {e}" for e in emails if e not in holders]
    problems += [f"{e} in customers {ids}" for e, ids in holders.items() if len(ids) > 1]
    return problems


def test_e2e_reconciliation_writes_every_payment_and_customer(stack: Stack) -> None:
    truth = stack.acuity_state()
    assert any(a["payments"] for a in truth["appointments"]), "the seed has paid appointments to reconcile"
    last: list[str] = []

    def done() -> bool:
        nonlocal last
        last = _reconciled(stack)
        return not last

    try:
        eventually(done, timeout=60)
    except AssertionError:
        raise AssertionError(last) from None


def test_e2e_paid_booking_answered_once_written_and_written_once(stack: Stack) -> None:
    ghl_contact = stack.control.state(stack.location_id)["orders"][0]
    email = str(ghl_contact["contactEmail"]).upper()  # the same person, the email in capitals
    answer = stack.simulate("acuity.schedule", pay="full", email=email, firstName="Test", lastName="Person")
    appointment = next(r for r in answer["resources"] if r["type"] == "appointment")
    payment = next(r for r in answer["resources"] if r["type"] == "payment")
    key = f"acuity:{payment['data']['transactionID']}"
    ids = {d["id"] for w in answer["webhooks"] for d in w["deliveries"]}
    assert stack.control.wait_for("deliveries-settled", 30).status_code == 200
    deliveries = [d for d in stack.control.deliveries(locationId=stack.location_id, service="acuity") if d["id"] in ids]
    assert {d["event"] for d in deliveries} >= {"appointment.scheduled", "appointment.changed"}, deliveries
    assert all(d["status"] == "delivered" for d in deliveries), deliveries
    # Read right after the answers, no waiting: the client answered 2xx only once Rankr had it.
    payments = {r["paymentKey"]: r for r in stack.rankr("payments")}
    assert key in payments, "answered 2xx before Rankr had the payment"
    record = payments[key]
    assert (record["source"], record["sourceKind"], record["sourceId"], record["parentId"]) == (
        "acuity", "appointment", payment["data"]["transactionID"], str(appointment["id"]))
    assert record["amount"] == float(payment["data"]["amount"]) and record["status"] == "paid"
    assert record["customerEmail"] == _normal(email) and ":" in record["paidAt"][-6:]
    customer = next(c for c in stack.rankr("customers") if c["customerId"] == _normal(email))
    assert customer["emails"] == [_normal(email)]
    assert email in customer["acuityEmails"] and ghl_contact["contactId"] in customer["ghlContactIds"]
    time.sleep(3)  # a few reconciliations later: still written once (scheduled, changed and sweeps alike)
    assert len(stack.rankr_puts("payments", key)) == 1


def test_e2e_signatures(stack: Stack) -> None:
    appt = next(a for a in stack.acuity_state()["appointments"] if a["payments"])
    body = f"action=changed&id={appt['id']}&calendarID={appt['calendarID']}&appointmentTypeID={appt['appointmentTypeID']}"
    other = "0" * 32 if stack.acuity["apiKey"] != "0" * 32 else "1" * 32
    assert stack.post(body, None) == 401
    assert stack.post(body, "") == 401
    assert stack.post(body, stack.sign(body, other)) == 401
    assert stack.post(body + "&x=1", stack.sign(body)) == 401  # tampered after signing
    reordered = f"id={appt['id']}&action=changed&calendarID={appt['calendarID']}&appointmentTypeID={appt['appointmentTypeID']}"
    assert stack.post(reordered, stack.sign(body)) == 401  # the signature is over bytes, not fields
    assert stack.post(body, stack.sign(body)) == 200
    odd = f"id={appt['id']}&action=appointment%2Echanged&calendarID={appt['calendarID']}"
    assert stack.post(odd, stack.sign(odd)) == 200  # genuine: raw bytes as sent, the full action style
    assert stack.post("action=changed", stack.sign("action=changed")) == 400


def test_e2e_lost_webhook_repaired_by_reconciliation(stack: Stack) -> None:
    stack.control.control("PUT", "/acuity/webhooks/static", json={
        "locationId": stack.location_id,
        "urls": dict.fromkeys(("scheduled", "rescheduled", "canceled", "changed", "order.completed"))})
    try:
        answer = stack.simulate("acuity.schedule", pay="deposit", email="lost.hook@example.com",
                                firstName="Lost", lastName="Hook")
        payment = next(r for r in answer["resources"] if r["type"] == "payment")["data"]
        order = stack.simulate("acuity.order", kind="gift", email="gift.buyer@example.com",
                               firstName="Gift", lastName="Buyer")
        order_id = next(r["id"] for r in order["resources"] if r["type"] == "order")
        eventually(lambda: {f"acuity:{payment['transactionID']}", f"acuity-order:{order_id}"}
                   <= {r["paymentKey"] for r in stack.rankr("payments")}, timeout=40)
        # The client writes a payment before its customer (two requests), so the customer may land a
        # moment after the payment: wait for it rather than read once.
        eventually(lambda: {"lost.hook@example.com", "gift.buyer@example.com"}
                   <= {c["customerId"] for c in stack.rankr("customers")}, timeout=10)
    finally:
        stack.control.control("PUT", "/acuity/webhooks/static", json={
            "locationId": stack.location_id,
            "urls": dict.fromkeys(("scheduled", "rescheduled", "canceled", "changed", "order.completed"),
                                  stack.webhook_url)})


# ---- the harness's Acuity scenarios, as `ghl-sandbox check --project` runs them ---------------------------


@pytest.mark.timeout(900)
def test_node_client_passes_the_acuity_scenarios(node: str, tmp_path: Path) -> None:
    import sys

    library = sorted((ROOT / "scenarios" / "library").glob("*acuity*.yaml"))
    if not library:
        pytest.skip("this tree has no Acuity scenarios")
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "mock_server.cli", "check", "--project", str(NODE_CLIENT / "ghl-sandbox.toml"),
               "--examples", "0", "--json", str(report)]
    for path in library:
        command += ["--scenarios", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=ROOT)
    assert report.exists(), result.stdout[-6000:] + result.stderr[-3000:]
    data = json.loads(report.read_text())
    assert len(data["scenarios"]) == len(library), [s["name"] for s in data["scenarios"]]
    failing = [(s["name"], s["status"], c["check"], c["status"], c["summary"])
               for s in data["scenarios"] for c in s["checks"] if s["status"] != "pass" or c["status"] != "pass"]
    assert not failing, failing
    assert result.returncode == 0 and data["passed"] is True, result.stdout[-6000:]
    # Each scenario judged the Acuity checks it names, none skipped as not evaluated.
    judged = {c["check"] for s in data["scenarios"] for c in s["checks"]}
    assert {"payments_reconciled", "customers_merged", "respects_acuity_rate_limits",
            "rejects_forged_acuity_webhooks", "accepts_genuine_acuity_webhooks"} <= judged
