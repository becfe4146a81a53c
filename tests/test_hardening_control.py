"""Issue 10, items 2 and 3, over real HTTP (raw `http.client`, so the Host header and header bytes are
exactly what the test writes):

* no input makes the control plane or the dashboard answer 500: stream and dashboard query values that
  `str.isdigit()` takes but `int()` refuses (`²`, 5,000 digits), a non-ASCII `Last-Event-ID`, a token link
  to a non-ASCII path;
* DNS rebinding: the control plane and the dashboard answer only loopback names, the bound address and
  `--allowed-host` names; the APIs answer any name; an IPv4 client of a server bound to `::` is loopback;
  a non-ASCII `--admin-token` works in a header, the query and the session cookie.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from mock_server.testing import DEFAULT_VERSION, SandboxProcess

BIG = "9" * 5000  # past int()'s 4,300-digit limit


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(url: str, method: str, path: str, headers: dict[str, str | bytes] | None = None,
         body: bytes | None = None, host: str | bytes | None = "default", read: int = -1) -> Answer:
    """One request on a fresh connection. `host`: the Host header to send ("default": host:port of `url`;
    None: no Host header at all); header values given as bytes go out as they are."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
    try:
        conn.putrequest(method, path, skip_host=host != "default", skip_accept_encoding=True)
        if host is not None and host != "default":
            conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read() if read < 0 else response.read(read)
        return Answer(response.status, response.headers, data)
    finally:
        conn.close()


def assert_ghl_error(answer: Answer, status: int) -> dict[str, Any]:
    assert answer.status == status, (answer.status, answer.body[:300])
    body = answer.json()
    assert set(body) == {"statusCode", "message", "error", "traceId"} and body["statusCode"] == status, body
    return body


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--orders", "5", "--allowed-host", "Sandbox.Test", "--allowed-host", "[fd00::5]"]) as proc:
        yield proc


# ---- item 2: 4xx, never 500 ---------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["since=%C2%B2", f"since={BIG}", "since=abc", "since=-1", "backlog=%C2%B2",
                                   "heartbeat=%C2%B9", f"metrics={BIG}", "duration=-1", f"backlog={BIG}"])
def test_bad_stream_query_values_are_422(server: SandboxProcess, query: str) -> None:
    name = query.split("=")[0]
    body = assert_ghl_error(call(server.url, "GET", f"/_sandbox/stream?{query}"), 422)
    assert body["message"][0].startswith(f"{name} must be "), body


@pytest.mark.parametrize("value", [b"\xb2", "é".encode(), b"1\xb3", b"12a", BIG.encode()])
def test_a_bad_last_event_id_is_422(server: SandboxProcess, value: bytes) -> None:
    body = assert_ghl_error(call(server.url, "GET", "/_sandbox/stream", {"Last-Event-ID": value}), 422)
    assert body["message"] == ["Last-Event-ID must be a non-negative integer"]


def test_a_stream_with_a_duration_ends_and_resumes_after_since(server: SandboxProcess) -> None:
    call(server.url, "GET", "/payments/orders")  # a journaled request: one `request` event
    started = time.monotonic()
    answer = call(server.url, "GET", "/_sandbox/stream?duration=0.3&backlog=0")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert time.monotonic() - started < 5 and b"event: hello" in answer.body and b"event: request" not in answer.body
    last = json.loads(answer.body.split(b"event: hello\ndata: ")[1].split(b"\n")[0])["lastEventId"]
    assert last >= 1
    # Resuming before the last event replays it; a huge `since` (valid, ids are unbounded) replays nothing.
    for resume, replayed in ((f"since={last - 1}", True), ("since=" + "9" * 4000, False)):
        answer = call(server.url, "GET", f"/_sandbox/stream?duration=0&{resume}")
        assert answer.status == 200 and (f"id: {last}\n".encode() in answer.body) is replayed, resume
    answer = call(server.url, "GET", "/_sandbox/stream?duration=0", {"Last-Event-ID": str(last - 1)})
    assert f"id: {last}\n".encode() in answer.body


@pytest.mark.parametrize("query", ["limit=%C2%B2", "after=%C2%B2", f"limit={BIG}", f"after={BIG}", "limit=-1"])
def test_bad_dashboard_event_queries_are_422(server: SandboxProcess, query: str) -> None:
    body = assert_ghl_error(call(server.url, "GET", f"/_sandbox/dashboard/events?{query}"), 422)
    assert body["message"] == [f"{query.split('=')[0]} must be a non-negative integer"]


def test_journal_queries_past_ints_digit_limit(server: SandboxProcess) -> None:
    call(server.url, "GET", "/payments/orders")
    answer = call(server.url, "GET", f"/_sandbox/journal?since={BIG}")
    assert answer.status == 200 and answer.json()["entries"] == []
    assert_ghl_error(call(server.url, "GET", f"/_sandbox/journal?limit={BIG}"), 422)


ADMIN = "clé"  # non-ASCII on purpose


@pytest.fixture(scope="module")
def admin_server() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--orders", "5", "--admin-token", ADMIN]) as proc:
        yield proc


def test_a_token_link_to_a_non_ascii_path_redirects_percent_encoded(admin_server: SandboxProcess) -> None:
    url = admin_server.url
    login = call(url, "GET", "/dashboard/%E2%80%A8?token=cl%C3%A9&q=%C3%A9+x")
    assert login.status == 303 and login.headers["location"] == "/dashboard/%E2%80%A8?q=%C3%A9+x"
    cookie = login.headers["set-cookie"].split(";")[0]
    # Where it leads does not exist: the API-shaped 404, for a holder of the cookie.
    assert_ghl_error(call(url, "GET", "/dashboard/%E2%80%A8?q=%C3%A9+x", {"Cookie": cookie}), 404)


# ---- item 3: hosts ----------------------------------------------------------------------------------------

GUARDED = [("GET", "/_sandbox/locations"), ("GET", "/_sandbox/state"), ("POST", "/_sandbox/clock"),
           ("GET", "/_sandbox/stream?duration=0"), ("GET", "/"), ("GET", "/dashboard"),
           ("GET", "/dashboard/static/app.js"), ("GET", "/_sandbox/dashboard/overview")]


@pytest.mark.parametrize(("host", "named"), [
    ("evil.example", "evil.example"), ("Evil.Example:8080", "evil.example"), ("127.0.0.1.nip.io", "127.0.0.1.nip.io"),
    ("localhost.evil.example", "localhost.evil.example"), ("sandbox.test.evil:80", "sandbox.test.evil"),
    ("[fd00::6]:1", "fd00::6"), ("10.0.0.1", "10.0.0.1"), ("0.0.0.0:1", "0.0.0.0")])
def test_a_foreign_host_is_refused_by_the_control_plane_and_dashboard(server: SandboxProcess, host: str,
                                                                      named: str) -> None:
    before = call(server.url, "GET", "/_sandbox/clock").json()["offsetSeconds"]
    for method, path in GUARDED:
        body = b'{"advance": "30d"}' if method == "POST" else None
        message = assert_ghl_error(call(server.url, method, path, body=body, host=host), 403)["message"]
        assert f"Host '{named}' is not allowed" in message and "--allowed-host" in message, (path, message)
    assert call(server.url, "GET", "/_sandbox/clock").json()["offsetSeconds"] == before  # the write was refused


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:1234", "localhost.", "app.localhost:9", "127.0.0.1",
                                  "127.9.8.7:80", "[::1]", "[::1]:8080", "sandbox.test", "SANDBOX.TEST:443",
                                  "[fd00::5]:8080", None])
def test_loopback_and_allowed_hosts_are_answered(server: SandboxProcess, host: str | None) -> None:
    for method, path in GUARDED:
        if method == "POST":
            answer = call(server.url, method, path, body=b'{"advance": 0}', host=host)
        else:
            answer = call(server.url, method, path, host=host)
        assert answer.status == 200, (host, path, answer.body[:200])


def test_the_apis_answer_any_host(server: SandboxProcess) -> None:
    control = call(server.url, "GET", "/_sandbox/locations").json()[0]
    token, location_id = control["tokens"][0]["token"], control["locationId"]
    headers: dict[str, str | bytes] = {"Authorization": f"Bearer {token}", "Version": DEFAULT_VERSION}
    for host in ("evil.example", "sandbox-in-a-container:8080", "host.docker.internal"):
        answer = call(server.url, "GET", f"/payments/orders?altId={location_id}&altType=location&limit=1",
                      headers, host=host)
        assert answer.status == 200 and answer.json()["data"], host
        assert call(server.url, "GET", "/payments/orders", host=host).status == 401  # its own auth, not ours
        assert call(server.url, "GET", "/rankr/v1/orders", host=host).status != 403


def test_a_valid_admin_token_does_not_open_a_foreign_host(admin_server: SandboxProcess) -> None:
    url = admin_server.url
    auth: dict[str, str | bytes] = {"Authorization": b"Bearer " + ADMIN.encode()}
    assert call(url, "GET", "/_sandbox/locations", auth).status == 200
    assert_ghl_error(call(url, "GET", "/_sandbox/locations", auth, host="evil.example"), 403)
    assert_ghl_error(call(url, "GET", "/?token=cl%C3%A9", host="evil.example"), 403)


def test_a_non_ascii_admin_token_works_in_headers_query_and_cookie(admin_server: SandboxProcess) -> None:
    url = admin_server.url
    for headers in ({"X-Sandbox-Admin-Token": ADMIN.encode()}, {"Authorization": b"Bearer " + ADMIN.encode()},
                    {"X-Sandbox-Admin-Token": ADMIN.encode("latin-1")}):  # as `requests` would send it
        assert call(url, "GET", "/_sandbox/health", headers).status == 200, headers  # type: ignore[arg-type]
    for wrong in ({"X-Sandbox-Admin-Token": b"cle"}, {"X-Sandbox-Admin-Token": "CLÉ".encode()},
                  {"Authorization": b"Bearer cl\xc3"}, {}):
        assert call(url, "GET", "/_sandbox/health", wrong).status == 401, wrong  # type: ignore[arg-type]
    for query in ("token=cl%C3%A9", "token=cl%E9"):
        login = call(url, "GET", f"/?{query}")
        assert login.status == 303 and login.headers["location"] == "/", query
        cookie = login.headers["set-cookie"].split(";")[0]
        assert call(url, "GET", "/_sandbox/dashboard/overview", {"Cookie": cookie}).json()["adminToken"] is True
    assert call(url, "GET", "/?token=cle").status == 401
    # Our own client sends it too (httpx refuses a non-ASCII str header).
    client = admin_server.client(admin_token=ADMIN)
    try:
        assert client.control("GET", "/health")["status"] == "ok"
    finally:
        client.close()


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_available(), reason="no IPv6 on this machine")
def test_an_ipv4_client_of_a_server_bound_to_the_ipv6_any_address_is_loopback() -> None:
    with SandboxProcess(["--orders", "0", "--host", "::"]) as proc:
        port = urlsplit(proc.url).port
        # Reached over IPv4: the server sees ::ffff:127.0.0.1.
        v4 = f"http://127.0.0.1:{port}"
        assert call(v4, "GET", "/_sandbox/health").status == 200
        assert call(v4, "POST", "/_sandbox/clock", body=b'{"advance": 0}').status == 200
        # The address the banner prints (`http://[::]:port`) is a name the dashboard answers.
        assert call(v4, "GET", "/", host=f"[::]:{port}").status == 200
        assert call(v4, "GET", "/", host="evil.example").status == 403
