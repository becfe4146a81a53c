"""The client's port: parallel jobs never share one, and a port another process already listens on is
refused before the client starts (its health route would answer for the client)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from scenarios import client as clients
from scenarios.client import ClientError, ClientProcess, free_port, port_in_use


class _ScriptedSocket:
    """A socket whose bind to port 0 gets the next port of a script: the kernel handing the same free
    port to two callers, which a real kernel does only now and then."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._port = 0

    def __enter__(self) -> _ScriptedSocket:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self._port = self._ports.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self._port)


def test_a_port_handed_out_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    first = free_port()
    script = [first, first, first + 1]
    monkeypatch.setattr(clients.socket, "socket", lambda *a: _ScriptedSocket(script))
    assert free_port() == first + 1  # the kernel offered `first` twice more: it is skipped
    assert script == []


def test_handed_out_ports_are_forgotten_past_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "PORTS_KEPT", 2)
    monkeypatch.setattr(clients, "_handed_out", clients.collections.deque())
    monkeypatch.setattr(clients, "_handed_set", set())
    script = [40001, 40002, 40003, 40001]
    monkeypatch.setattr(clients.socket, "socket", lambda *a: _ScriptedSocket(script))
    assert [free_port() for _ in range(4)] == [40001, 40002, 40003, 40001]
    assert clients._handed_set == {40003, 40001}


def test_real_ports_in_a_burst_are_distinct() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)


def test_a_port_someone_listens_on_is_refused_before_the_client_starts(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_in_use(port)
        marker = tmp_path / "started"
        command = f"{sys.executable} -c \"open('{marker}', 'w').close()\""
        client = ClientProcess(command, {}, tmp_path / "client.log", port=port, ready_timeout=5)
        with pytest.raises(ClientError, match=f"port {port} is already taken"):
            client.start()
        assert not marker.exists()  # never spawned
        assert client.starts == 0
    assert not port_in_use(port)
