"""`SandboxClient.control` decodes answers with orjson, and takes what only the standard library's
decoder takes (NaN, integers past 64 bits) the way it always did; a body that is no JSON is a
SandboxError."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mock_server.client import SandboxClient, SandboxError

BODIES = {
    "/_sandbox/plain": b'{"a": [1, 2.5, "x", null, true], "b": {"c": "\\u00e9"}}',
    "/_sandbox/nan": b'{"value": NaN, "big": 123456789012345678901234567890}',
    "/_sandbox/not-json": b"<html>oops</html>",
}


class _Fixed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = BODIES[self.path]
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client() -> Iterator[SandboxClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox = SandboxClient(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield sandbox
    finally:
        sandbox.close()
        server.shutdown()
        server.server_close()


def test_answers_decode_as_before(client: SandboxClient) -> None:
    assert client.control("GET", "/plain") == {"a": [1, 2.5, "x", None, True], "b": {"c": "é"}}
    odd = client.control("GET", "/nan")
    assert odd["value"] != odd["value"] and odd["big"] == 123456789012345678901234567890
    with pytest.raises(SandboxError):
        client.control("GET", "/not-json")
