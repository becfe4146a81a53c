"""The dashboard: its event stream and JSON views over real HTTP, the admin guard around it, the
harness report it shows, and the page itself in a real browser (the system's Chromium, Playwright)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from receiver import Receiver

from mock_server.bus import EventBus
from mock_server.control.handlers import AdminGuard
from mock_server.dashboard import harness_results
from mock_server.testing import SandboxClient, SandboxProcess

ADMIN = "dash-admin-token"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("GHL_SANDBOX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VERSION = {"Version": "2021-07-28"}

SAMPLE_REPORT = {
    "passed": False,
    "scenarios": [
        {"name": "new paid order synced", "path": "scenarios/library/01_new_paid_order_synced.yaml", "ok": True,
         "seconds": 2.4, "error": None, "replayFile": None, "steps": [],
         "checks": [{"check": "sync_complete", "kind": "eventual", "ok": True, "summary": "ok", "evidence": []},
                    {"check": "no_duplicate_effects", "kind": "safety", "ok": True, "summary": "ok", "evidence": []}]},
        {"name": "property run (minimal failing program)", "path": "<property>", "ok": False, "seconds": 7.9,
         "error": None, "replayFile": "/tmp/failures/property-42.yaml", "steps": [],
         "checks": [{"check": "sync_complete", "kind": "eventual", "ok": True, "summary": "ok", "evidence": []},
                    {"check": "no_duplicate_effects", "kind": "safety", "ok": False,
                     "summary": "eventId evt_1 recorded twice in Rankr events",
                     "evidence": ["POST /rankr/v1/events eventId=evt_1 at 12:00:01.120",
                                  "POST /rankr/v1/events eventId=evt_1 at 12:00:01.480"]}]},
    ],
}


def _location(client: SandboxClient) -> dict[str, Any]:
    loc = client.location(0)
    return {"id": loc["locationId"], "token": loc["tokens"][0]["token"]}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ghl-sandbox-home")


@pytest.fixture(scope="module")
def sandbox(home: Path) -> Iterator[SandboxClient]:
    """Its own server: the test registers webhook targets, which a reset keeps."""
    with SandboxProcess(["--orders", "20", "--webhook-retry-interval", "0.2", "--rate-limit", "default"],
                        env={"GHL_SANDBOX_HOME": str(home)}) as proc:
        client = proc.client()
        yield client
        client.close()


class Stream:
    """Reads `GET /_sandbox/stream` in a thread: events land in a queue as (event, data, id)."""

    def __init__(self, url: str, params: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[tuple[str, Any, str | None]] = queue.Queue()
        self.content_type = ""
        self._ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(url, params, headers or {}), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the stream did not answer"

    def _run(self, url: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server went away at the end of the module
            self._read(url, params, headers)

    def _read(self, url: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        with httpx.Client(timeout=httpx.Timeout(30, read=30)) as http, \
                http.stream("GET", url + "/_sandbox/stream", params=params, headers=headers) as response:
            self.content_type = response.headers.get("content-type", "")
            self._ready.set()
            event, data, event_id = "message", [], None
            for line in response.iter_lines():
                if self._stop:
                    return
                if line.startswith(":"):
                    self.events.put(("comment", line[1:].strip(), None))
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif not line:
                    if data:
                        self.events.put((event, json.loads("\n".join(data)), event_id))
                    event, data, event_id = "message", [], None

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> tuple[str, Any, str | None]:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(item[0])
            if predicate(*item):
                return item
        raise AssertionError(f"no matching event within {timeout} s; saw {seen[-30:]}")

    def close(self) -> None:
        self._stop = True


# ---- the stream ----------------------------------------------------------------------------------------


def test_stream_carries_requests_actions_deliveries_metrics_and_heartbeats(sandbox: SandboxClient) -> None:
    loc = _location(sandbox)
    with Receiver() as rx:
        target = sandbox.control("POST", "/webhooks/targets", json={"url": rx.url, "locationId": loc["id"]})
        try:
            stream = Stream(sandbox.url, {"backlog": 0, "metrics": 0.3, "heartbeat": 0.2})
            assert stream.content_type.startswith("text/event-stream")
            hello = stream.wait_for(lambda e, d, i: e == "hello")[1]
            assert hello["rateLimit"]["burst"] == 100 and "clock" in hello

            sandbox.api("GET", "/payments/orders", loc["token"], params={"altId": loc["id"], "limit": 1})
            _, request, _ = stream.wait_for(lambda e, d, i: e == "request")
            assert request["method"] == "GET" and request["path"] == "/payments/orders"
            assert request["status"] == 200 and request["locationId"] == loc["id"] and request["fault"] is None
            assert request["query"] == f"altId={loc['id']}&limit=1" and request["latencyMs"] >= 0
            sandbox.api("GET", "/payments/orders", loc["token"], params={"altId": loc["id"], "limit": 1},
                        headers={"X-Sandbox-Fault": "status=503"})
            _, request, request_id = stream.wait_for(lambda e, d, i: e == "request")
            assert request["status"] == 503 and request["fault"] == "status 503"
            assert request_id and request_id.isdigit()

            created = sandbox.control("POST", "/simulate/order.create", json={"locationId": loc["id"]})
            _, action, _ = stream.wait_for(lambda e, d, i: e == "action")
            assert action["action"] == "order.create" and action["locationId"] == loc["id"]
            assert action["resources"][0]["id"] == created["resources"][0]["id"]
            assert [w["event"] for w in action["webhooks"]] == ["OrderCreate"]

            _, delivery, _ = stream.wait_for(lambda e, d, i: e == "delivery")
            assert delivery["event"] == "OrderCreate" and delivery["url"] == rx.url
            assert delivery["attempt"] == 1 and delivery["status"] == 200 and delivery["outcome"] == "delivered"
            signatures = delivery["signatures"]
            assert set(signatures) == {"x-ghl-signature"}  # GHL retired x-wh-signature: --legacy-wh-signature only
            assert all(v.endswith("…") and len(v) == 17 for v in signatures.values())  # truncated

            _, metrics, _ = stream.wait_for(lambda e, d, i: e == "metrics" and d["deliveries"]["buckets"])
            assert sum(b["total"] for b in metrics["requests"]["seconds"]) >= 1
            assert sum(b["delivered"] for b in metrics["deliveries"]["buckets"]) >= 1
            assert metrics["rateLimit"]["burst"] == 100
            stream.close()

            quiet = Stream(sandbox.url, {"backlog": 0, "metrics": 300, "heartbeat": 0.1})
            quiet.wait_for(lambda e, d, i: e == "comment" and d == "heartbeat", timeout=5)
            quiet.close()

            # A reconnecting EventSource sends Last-Event-ID: it gets what it missed, and only that.
            resumed = Stream(sandbox.url, {"metrics": 300}, headers={"Last-Event-ID": str(int(request_id))})
            _, replayed, replayed_id = resumed.wait_for(lambda e, d, i: i is not None)
            assert int(replayed_id or 0) == int(request_id) + 1 and replayed["action"] == "order.create"
            resumed.close()
        finally:
            sandbox.control("DELETE", f"/webhooks/targets/{target['id']}")


def test_an_open_stream_does_not_hold_the_servers_shutdown() -> None:
    with SandboxProcess(["--orders", "0"]) as proc:
        stream = Stream(proc.url, {"backlog": 0})
        stream.wait_for(lambda e, d, i: e == "hello")
        started = time.monotonic()
        assert proc.proc is not None
        proc.proc.terminate()
        proc.proc.wait(10)
        assert time.monotonic() - started < 1.5  # not the 2 s graceful-shutdown backstop
        time.sleep(0.2)
        assert "Traceback" not in proc.output and "timeout graceful shutdown" not in proc.output


def test_stream_query_is_validated(sandbox: SandboxClient) -> None:
    r = sandbox.http.get("/_sandbox/stream", params={"heartbeat": "soon"})
    assert r.status_code == 422 and "heartbeat" in r.json()["message"][0]


def test_a_slow_client_cannot_grow_the_servers_memory() -> None:
    """A stream that never reads keeps at most `queue_size` events and is told how many it lost."""

    async def scenario() -> tuple[int, int, int]:
        bus = EventBus(queue_size=50)
        sub = bus.subscribe()
        for i in range(5000):
            bus.publish("request", {"n": i})
        # Publishing from another thread goes through the subscriber's loop, bounded all the same.
        worker = threading.Thread(target=lambda: [bus.publish("request", {"n": -1}) for _ in range(500)])
        worker.start()
        worker.join()
        await asyncio.sleep(0.05)
        size, dropped = sub.queue.qsize(), sub.dropped
        bus.unsubscribe(sub)
        return size, dropped, bus.subscribers

    size, dropped, left = asyncio.run(scenario())
    assert size == 50 and dropped == 5500 - 50 and left == 0


def test_recent_events_resume_and_report_what_was_forgotten() -> None:
    bus = EventBus(recent=10)
    for i in range(25):
        bus.publish("action", {"n": i})
    events, missed = bus.recent(after=20)
    assert [e["data"]["n"] for e in events] == [20, 21, 22, 23, 24] and missed == 0
    events, missed = bus.recent(after=3)
    assert len(events) == 10 and missed == 12  # ids 4..15 are gone from the ring
    events, missed = bus.recent(limit=3)
    assert [e["id"] for e in events] == [23, 24, 25] and missed == 0


# ---- the JSON views --------------------------------------------------------------------------------


def test_views_overview_metrics_events(sandbox: SandboxClient) -> None:
    loc = _location(sandbox)
    overview = sandbox.control("GET", "/dashboard/overview")
    assert [x["locationId"] for x in overview["locations"]][0] == loc["id"]
    assert {"health", "targets", "faults", "chaos", "policy", "deliveryCounts", "actions"} <= set(overview)
    assert "token" not in json.dumps(overview["locations"])  # no secrets for the page
    for _ in range(3):
        sandbox.api("GET", "/payments/transactions", loc["token"], params={"altId": loc["id"], "altType": "location"})
    metrics = sandbox.control("GET", "/dashboard/metrics")
    mine = sum(b["byLocation"].get(loc["id"], [0, 0])[0] for b in metrics["requests"]["seconds"])
    assert mine >= 3 and metrics["requests"]["windowS"] == 300 and metrics["deliveries"]["bucketS"] == 10
    events = sandbox.control("GET", "/dashboard/events", params={"limit": 2})
    assert len(events["events"]) == 2 and events["events"][-1]["data"]["path"] == "/payments/transactions"


def test_resource_view_is_the_api_get_by_id_answer(sandbox: SandboxClient) -> None:
    loc = _location(sandbox)
    sub = sandbox.control("POST", "/simulate/subscription.create", json={"locationId": loc["id"]})
    by_type = {r["type"]: r["id"] for r in sub["resources"]}
    order_id = by_type["order"]
    sandbox.control("POST", "/simulate/order.fulfill", json={"locationId": loc["id"], "orderId": order_id})
    before = len(sandbox.journal())
    calls = {
        "orders": (order_id, f"/payments/orders/{order_id}"),
        "transactions": (by_type["transaction"], f"/payments/transactions/{by_type['transaction']}"),
        "subscriptions": (by_type["subscription"], f"/payments/subscriptions/{by_type['subscription']}"),
    }
    for kind, (rid, path) in calls.items():
        view = sandbox.control("GET", f"/locations/{loc['id']}/resources/{kind}/{rid}")
        # The journal and rate limit only see the API calls below, not the views above.
        api = sandbox.api("GET", path, loc["token"], params={"altId": loc["id"], "altType": "location"})
        assert api.status_code == 200 and view == api.json(), kind
    fulfillments = sandbox.api("GET", f"/payments/orders/{order_id}/fulfillments", loc["token"],
                               params={"altId": loc["id"], "altType": "location"}).json()["data"]
    view = sandbox.control("GET", f"/locations/{loc['id']}/resources/fulfillments/{fulfillments[0]['_id']}")
    assert view == fulfillments[0]
    assert len(sandbox.journal()) == before + 4
    other = sandbox.location(1)["locationId"]
    for path in (f"/locations/{other}/resources/orders/{order_id}", f"/locations/{loc['id']}/resources/orders/nope",
                 f"/locations/{loc['id']}/resources/contacts/{order_id}", f"/locations/nope/resources/orders/{order_id}"):
        assert sandbox.http.get("/_sandbox" + path).status_code == 404, path


# ---- harness results --------------------------------------------------------------------------------


def test_harness_latest_empty_then_saved(sandbox: SandboxClient, home: Path) -> None:
    (home / harness_results.FILE_NAME).unlink(missing_ok=True)
    r = sandbox.http.get("/_sandbox/harness/latest")
    assert r.status_code == 404 and r.json()["file"] == str(home / "last-check.json")
    (home / "last-check.json").write_text(json.dumps({**SAMPLE_REPORT, "client": "python c.py", "seed": 7}))
    report = sandbox.control("GET", "/harness/latest")
    assert report["passed"] is False and report["scenarios"][1]["replayFile"] == "/tmp/failures/property-42.yaml"
    assert report["client"] == "python c.py" and report["file"] == str(home / "last-check.json")


def test_harness_results_path_and_atomic_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GHL_SANDBOX_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert harness_results.latest_path() == tmp_path / "user" / ".cache" / "ghl-sandbox" / "last-check.json"
    monkeypatch.setenv("GHL_SANDBOX_HOME", str(tmp_path / "home"))
    assert harness_results.load_latest() == (None, tmp_path / "home" / "last-check.json")
    path = harness_results.save_latest({"passed": True, "scenarios": []}, client="x", seed=1)
    assert path == tmp_path / "home" / "last-check.json" and os.listdir(tmp_path / "home") == ["last-check.json"]
    data, _ = harness_results.load_latest()
    assert data is not None and data["passed"] is True and data["client"] == "x" and data["savedAt"].endswith("Z")
    # An unwritable home is reported, never raised: the check's verdict must not depend on it.
    monkeypatch.setenv("GHL_SANDBOX_HOME", str(path / "not-a-dir"))
    assert harness_results.save_latest({"passed": True}) is None


def test_check_saves_its_report_for_the_dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from scenarios.cli import run_check

    monkeypatch.setenv("GHL_SANDBOX_HOME", str(tmp_path))
    code = run_check(Console(file=io.StringIO()), client_command="true", scenarios=[], examples=0, seed=42,
                     only_checks=None, junit_path=None, json_path=None, save_dir=None, sandbox_url=None,
                     admin_token=None)
    saved = json.loads((tmp_path / "last-check.json").read_text())
    assert code == 0 and saved["passed"] is True and saved["scenarios"] == [] and saved["client"] == "true"


# ---- the guard --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin_sandbox(home: Path) -> Iterator[SandboxProcess]:
    with SandboxProcess(["--orders", "20", "--webhook-retry-interval", "0.2", "--admin-token", ADMIN],
                        env={"GHL_SANDBOX_HOME": str(home)}) as proc:
        yield proc


def test_admin_token_guards_the_dashboard_and_a_token_link_sets_a_cookie(admin_sandbox: SandboxProcess) -> None:
    url = admin_sandbox.url
    with httpx.Client(base_url=url, follow_redirects=False) as http:
        for path in ("/", "/dashboard", "/dashboard/static/app.js", "/static/x", "/_sandbox/stream",
                     "/_sandbox/dashboard/overview", "/?token=wrong"):
            assert http.get(path).status_code == 401, path
        assert "?token=" in http.get("/").json()["message"]
        login = http.get("/", params={"token": ADMIN, "tab": "faults"})
        assert login.status_code == 303 and login.headers["location"] == "/?tab=faults"  # the token leaves the URL
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and ADMIN not in cookie
        assert http.cookies.get("ghl_sandbox_admin")
        page = http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        asset = page.text.split('src="')[1].split('"')[0]
        assert http.get(asset).status_code == 200 and http.get("/dashboard/static/app.css").status_code == 200
        assert http.get("/_sandbox/dashboard/overview").json()["adminToken"] is True
        # Cookie-authenticated writes need the page's own header (a cross-site form cannot send it).
        rule = {"match": {"path": "/payments/orders"}, "effect": {"status": 503}, "times": 1}
        assert http.post("/_sandbox/faults", json=rule).status_code == 403
        added = http.post("/_sandbox/faults", json=rule, headers={"X-Sandbox-Dashboard": "1"})
        assert added.status_code == 201
        assert http.delete("/_sandbox/faults", headers={"X-Sandbox-Dashboard": "1"}).status_code == 200
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}) as http:
        assert http.get("/").status_code == 200 and http.post("/_sandbox/faults", json=rule).status_code == 201
        http.delete("/_sandbox/faults")


def test_without_admin_token_the_dashboard_only_answers_loopback() -> None:
    async def status(path: str, host: str) -> int:
        sent: list[dict[str, Any]] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "path": path, "method": "GET", "headers": [], "query_string": b"",
                 "client": (host, 5555)}
        await AdminGuard(app, None)(scope, None, send)  # type: ignore[arg-type]
        return sent[0]["status"]

    for path in ("/", "/dashboard", "/dashboard/static/app.js", "/static/app.js", "/_sandbox/stream"):
        assert asyncio.run(status(path, "10.1.2.3")) == 403, path
        assert asyncio.run(status(path, "127.0.0.1")) == 200, path
    assert asyncio.run(status("/payments/orders", "10.1.2.3")) == 200  # the API is not the guard's business


# ---- the page in a real browser -------------------------------------------------------------------------


def _chromium_or_skip() -> Any:
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the `playwright` package is not installed (pip install -e '.[dev]')"
    if problem is None and not os.access(CHROMIUM, os.X_OK):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
    if problem is not None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"the dashboard browser test must run in CI: {problem}")
        pytest.skip(problem)
    return sync_playwright


def open_dashboard(pw: Any, url: str, errors: list[str], height: int = 1100) -> tuple[Any, Any]:
    """Chromium on `url`, a page error collected into `errors`: (browser, page). The caller closes the browser."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=120_000)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": height})
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
    except BaseException:
        browser.close()
        raise
    return browser, page


def test_dashboard_in_a_browser(admin_sandbox: SandboxProcess, home: Path) -> None:
    sync_playwright = _chromium_or_skip()
    (home / "last-check.json").write_text(json.dumps({**SAMPLE_REPORT, "client": "python examples/clients/x.py",
                                                       "seed": 42, "savedAt": "2026-01-01T00:00:00Z"}))
    control = admin_sandbox.client(admin_token=ADMIN)
    control.reset()
    loc = _location(control)
    errors: list[str] = []
    with Receiver() as rx, sync_playwright() as pw:
        browser, page = open_dashboard(pw, f"{admin_sandbox.url}/?token={ADMIN}", errors, height=1000)
        try:
            assert "token=" not in page.url
            page.locator("#live.on").wait_for()

            # Register the local receiver as a webhook target, through the form.
            page.click("nav[data-tabs=actions] button[data-tab=webhooks]")
            page.fill("[data-testid=target-url]", rx.url)
            page.click("[data-testid=add-target]")
            page.locator("[data-testid=target-list]", has_text=rx.url).wait_for()

            # Create an order, then pay it in full, through the forms.
            page.click("nav[data-tabs=actions] button[data-tab=orders]")
            page.click("[data-testid=create-order]")
            page.locator("[data-testid=action-result]", has_text="order.create").wait_for()
            order_id = page.input_value("[data-testid=order-id]")
            assert len(order_id) == 24
            page.click("[data-testid=pay-order]")
            page.locator("[data-testid=action-result]", has_text="order.pay").wait_for()

            # Both deliveries appear live, delivered, with their signature headers (truncated).
            created = page.locator(".ev.delivery[data-event=OrderCreate][data-outcome=delivered]")
            updated = page.locator(".ev.delivery[data-event=OrderStatusUpdate][data-outcome=delivered]")
            created.first.wait_for()
            updated.first.wait_for()
            shown = updated.first.inner_text()
            assert "x-ghl-signature" in shown and "x-wh-signature" not in shown  # as GHL signs now (Ed25519 only)
            page.locator(".ev.action", has_text="order.pay").first.wait_for()
            assert {json.loads(r.body)["type"] for r in rx.requests} >= {"OrderCreate", "OrderStatusUpdate"}

            # A fault rule, added through the form, is marked in the timeline when it fires.
            page.click("nav[data-tabs=actions] button[data-tab=faults]")
            page.fill("[data-testid=fault-path]", "/payments/orders")
            page.select_option("[data-testid=fault-effect]", "status")
            page.fill("[data-testid=fault-value]", "503")
            page.click("[data-testid=add-fault]")
            page.locator("[data-testid=fault-list]", has_text="/payments/orders").wait_for()
            r = control.api("GET", "/payments/orders", loc["token"], params={"altId": loc["id"], "limit": 5})
            assert r.status_code == 503
            marked = page.locator(".ev.request.fault", has_text="fault: status 503").first
            marked.wait_for()
            assert "/payments/orders" in marked.inner_text()

            # The state table shows the order as paid; its row opens the API's JSON.
            row = page.locator(f"#state-table tbody tr[data-id='{order_id}']")
            row.wait_for()
            page.locator(f"#state-table tbody tr[data-id='{order_id}']", has_text="paid").wait_for()
            row.click()
            page.locator("#drawer-json", has_text=f'"_id": "{order_id}"').wait_for()
            assert '"paymentStatus": "paid"' in page.inner_text("#drawer-json")
            page.click("#drawer-close")

            # The latest check: scenario by check, the failure with its evidence and replay file.
            harness = page.locator("[data-testid=harness]")
            harness.locator(".matrix").wait_for()
            text = harness.inner_text()
            assert "1 of 2 scenarios passed" in text and "eventId evt_1 recorded twice" in text
            assert "/tmp/failures/property-42.yaml" in text

            page.wait_for_timeout(2500)  # one more metrics event, so the charts show the traffic
            page.evaluate("window.scrollTo(0, 0)")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
            control.http.delete("/_sandbox/faults")
            for target in control.control("GET", "/webhooks/targets"):
                control.control("DELETE", f"/webhooks/targets/{target['id']}")
            control.close()
    assert not errors, errors
