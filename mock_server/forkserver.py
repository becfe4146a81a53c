"""A process that imports the sandbox once and forks a sandbox server per request.

`ghl-sandbox check --jobs N` runs N sandbox processes with the same code. A fresh interpreter spends
about 0.7 s of CPU importing the app before it serves, more than it takes to seed its world: on 2 cores
eight of them were a tenth of a library run's CPU, and they held back every job's first scenario. The
fork server pays the import once. `python -m mock_server.forkserver <fd>` reads requests on the unix
socket `fd` (SOCK_SEQPACKET: one message a request): the `Settings` JSON, with the write end of a pipe
attached. It forks a child that serves exactly as `python -m mock_server.inprocess <settings>` does,
in a session of its own, its output on that pipe, and answers the child's pid (8 bytes; 0 when it
could not fork). The server is single-threaded, so a fork copies no lock held by another thread. It
reaps its children, and exits when the socket's other end closes; a child gets SIGTERM when the server
dies, as a directly spawned sandbox does when the harness dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import traceback
from types import FrameType
from typing import NoReturn

from mock_server.testing import PID, die_with_parent

MAX_REQUEST = 1 << 16


def _reap(_signum: int, _frame: FrameType | None) -> None:
    """No zombie children: the harness watches them with a pidfd, not by waiting for them."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(channel: socket.socket, output: int, payload: str) -> NoReturn:
    """In the forked child: a session of its own, output to the pipe, then serve until SIGTERM."""
    code = 1
    try:
        channel.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        die_with_parent()
        nothing = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nothing, 0)
        os.close(nothing)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        from mock_server import inprocess  # imported by the server before its first fork: no cost here

        inprocess.serve_settings(payload)
        code = 0
    except BaseException:  # noqa: BLE001 - reported on the pipe, and the child ends here whatever happened
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(channel: socket.socket) -> None:
    """Fork a sandbox for each request until the other end closes the socket."""
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(channel, MAX_REQUEST, 1)
        except ConnectionResetError:
            return
        if not message and not fds:
            return  # the harness is done (or gone)
        if len(fds) != 1 or threading.active_count() != 1:
            for fd in fds:
                os.close(fd)
            channel.send(PID.pack(0))
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(channel, fds[0], message.decode())
        os.close(fds[0])
        channel.send(PID.pack(pid))


def warm_up() -> None:
    """Load once, before any fork, what a sandbox otherwise loads at its start or first requests: the app
    and what it imports on first use (uvicorn's protocol and loop modules, httpx's transport, the seed's
    Faker providers), the compiled control-plane contract, the TLS context and the signing keys. A
    sandbox built and dropped here does most of it; its store is closed before any fork (no SQLite
    connection crosses one), and it started no thread (the server forks only while single-threaded)."""
    import ctypes  # noqa: F401 - die_with_parent's, in each child

    import httpx
    import uvicorn

    from mock_server.app import build_app, new_runtime
    from mock_server.control import validation
    from mock_server.http.tls import client_context
    from mock_server.settings import Settings
    from mock_server.webhooks import signing

    validation.compile_contract()
    runtime = new_runtime(Settings(port=0))
    try:
        config = uvicorn.Config(build_app(runtime), log_level="error", access_log=False, lifespan="on")
        config.load()
        config.get_loop_factory()
        httpx.AsyncClient(verify=client_context())
    finally:
        runtime.store.close()
    signing.prepare_keys()


if __name__ == "__main__":
    warm_up()
    serve(socket.socket(fileno=int(sys.argv[1])))
