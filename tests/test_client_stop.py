"""Stopping a client waits for its whole process group, and watches the members it found instead of
reading all of /proc every 20 ms while the client shuts down."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from scenarios.client import ClientProcess, free_port

# On SIGTERM the client takes a while, then starts a helper in its own process group and exits; the
# helper outlives it and marks a file when it is done.
SLOW_STOPPER = textwrap.dedent("""
    import http.server, os, signal, sys, time
    mark = sys.argv[1]
    def on_term(*_):
        time.sleep(0.4)
        if os.fork() == 0:
            time.sleep(0.6)
            open(mark, "w").write("done")
            os._exit(0)
        os._exit(0)
    signal.signal(signal.SIGTERM, on_term)
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", int(os.environ["CLIENT_PORT"])), Health).serve_forever()
""")


def test_stop_waits_for_a_process_started_while_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script, mark = tmp_path / "client.py", tmp_path / "helper-done"
    script.write_text(SLOW_STOPPER)
    port = free_port()
    client = ClientProcess(f"{sys.executable} {script} {mark}", {"CLIENT_PORT": str(port)}, tmp_path / "client.log",
                           port=port, health="/health", ready_timeout=20)
    scans = 0
    members = ClientProcess._group_members

    def counted(self: ClientProcess) -> set[int]:
        nonlocal scans
        scans += 1
        return members(self)

    monkeypatch.setattr(ClientProcess, "_group_members", counted)
    client.start()
    began = time.monotonic()
    client.stop(grace=10)
    took = time.monotonic() - began
    assert mark.read_text() == "done"  # the helper had ended when stop() returned
    assert took >= 0.9
    # About a second of stopping: a scan of /proc at the start, one each GROUP_RESCAN_S and one when
    # the watched members are gone; not one each 20 ms (some 50).
    assert scans <= 2 + took / 0.25 + 2, scans
