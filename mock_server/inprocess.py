"""Run the sandbox in this process (uvicorn in a background thread) on a free loopback port.

The harness still talks to it only over HTTP, as a user would; in-process just saves a start-up.
`python -m mock_server.inprocess '<Settings as JSON>'` serves the same in a process of its own (one
per job of `ghl-sandbox check --jobs N`) and prints `GHL_SANDBOX_READY <url>` once it listens.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from mock_server.app import build_app, new_runtime
from mock_server.settings import Settings


class InProcessSandbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> InProcessSandbox:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, 0))
        sock.listen(1024)
        self.settings.port = sock.getsockname()[1]
        app = build_app(new_runtime(self.settings))
        config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="ghl-sandbox")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the in-process sandbox did not start")
            time.sleep(0.01)
        self.url = f"http://{self.settings.host}:{self.settings.port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)


@contextlib.contextmanager
def running_sandbox(settings: Settings) -> Iterator[InProcessSandbox]:
    sandbox = InProcessSandbox(settings).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def serve_settings(payload: str) -> None:
    """Serve `Settings(**json.loads(payload))` (its port ignored: a free one) until SIGTERM."""
    import gc
    import json

    settings = Settings(**json.loads(payload))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, 0))
    sock.listen(1024)
    settings.port = sock.getsockname()[1]
    sandbox = new_runtime(settings)
    app = build_app(sandbox)
    gc.collect()
    gc.freeze()  # the seeded world lives for the whole run
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    sandbox.bus.stopping = lambda: server.should_exit
    print(f"GHL_SANDBOX_READY http://{settings.host}:{settings.port}", flush=True)  # the socket listens already
    server.run(sockets=[sock])


if __name__ == "__main__":
    import sys

    serve_settings(sys.argv[1])
