"""A real local webhook receiver for the end-to-end webhook tests.

An HTTP server on 127.0.0.1:<free port> in a background thread. It records every request (raw body
bytes, lower-cased headers, arrival order and time) and answers each one as programmed:

    with Receiver() as rx:                      # default answer: 200
        rx.script(429, 429)                     # the next two requests get 429, then the default
        rx.default = Reply(500, delay=0.5)      # every later one: 500 after half a second
        rx.script(CLOSE)                        # queued after those: a connection closed unanswered
        rx.down()                               # stop listening: connections are refused ...
        rx.up()                                 # ... until it listens again on the same port

HTTP/1.0 answers (one request per connection), so `down()` really refuses the next attempt.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Reply:
    status: int = 200
    delay: float = 0.0  # seconds before answering
    close: bool = False  # close the connection without any answer


CLOSE = Reply(close=True)


@dataclass
class Received:
    index: int  # arrival order, from 0
    at: float  # time.time() on arrival
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes  # exactly the bytes on the wire

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


def _reply(answer: int | Reply) -> Reply:
    return answer if isinstance(answer, Reply) else Reply(int(answer))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    receiver: Receiver


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.receiver._record(self.command, self.path, dict(self.headers.items()), body)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.close:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = b'{"ok":true}'
        self.send_response(answer.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_GET = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


class Receiver:
    def __init__(self, default: int | Reply = 200, port: int = 0) -> None:
        self.default: int | Reply = default
        self._script: deque[int | Reply] = deque()
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    # ---- lifecycle ----------------------------------------------------------------------------

    def up(self) -> Receiver:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.receiver = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening: from now on a connection to the port is refused."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Receiver:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    # ---- programming answers ------------------------------------------------------------------

    def script(self, *answers: int | Reply) -> None:
        """Answers for the next requests, in order (after that: `default`)."""
        with self._lock:
            self._script.extend(answers)

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            req = Received(len(self._requests), time.time(), method, path,
                           {k.lower(): v for k, v in headers.items()}, body)
            self._requests.append(req)
            return _reply(self._script.popleft() if self._script else self.default)

    # ---- what arrived -------------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def bodies(self) -> list[dict[str, Any]]:
        return [r.json for r in self.requests]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """At least `count` requests (or AssertionError after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests
            if len(got) >= count:
                return got
            time.sleep(0.02)
        got = self.requests
        assert len(got) >= count, f"expected {count} webhook requests within {timeout}s, got {len(got)}"
        return got
