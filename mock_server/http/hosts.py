"""Who may reach the control plane and the dashboard: loopback clients, and requests addressed to a
loopback name (the `Host` header).

The `Host` check stops DNS rebinding: a page on another site that re-points its own name at 127.0.0.1
reaches the sandbox from the user's browser with that name in `Host` (and its own origin, so no CORS or
Origin check sees anything amiss). Loopback names (`localhost`, `*.localhost`, 127.0.0.0/8, `[::1]`, any
port), the address the server was bound to (`--host`, as its banner prints it) and the names given with
`serve --allowed-host` are answered; any other name is not. A request without `Host` (HTTP/1.0) names
nothing a page could have rebound. The GHL and Rankr APIs are not restricted: clients may reach the
sandbox by any name (from a container, say).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

MEMO_SIZE = 1024  # distinct client addresses and Host values whose answers are kept (pure functions)


@functools.lru_cache(maxsize=MEMO_SIZE)
def loopback_address(address: str) -> bool:
    """A client address on this machine: 127.0.0.0/8, ::1, and an IPv4 loopback client of a server bound
    to `::` (it shows as `::ffff:127.0.0.1`). `testclient` is Starlette's TestClient."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address in ("localhost", "testclient")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def host_name(host: str) -> str:
    """The name of a `Host` value without its port, lower case, without a trailing dot or IPv6 brackets:
    `LocalHost.:8080` -> `localhost`, `[::1]:80` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, port = host.rpartition(":")
    if colon and ":" not in name and (port.isascii() and port.isdigit() or not port):
        host = name
    return host.removesuffix(".")


def loopback_name(name: str) -> bool:
    """`localhost`, `*.localhost` (RFC 6761: always loopback), or a loopback IP literal."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    return loopback_address(str(ip))


class HostCheck:
    """Decides whether a `Host` header names this sandbox: loopback names, the bound address, the allowed."""

    def __init__(self, allowed: Iterable[str] = (), bound: str | None = None) -> None:
        names = {host_name(a) for a in allowed if a.strip()}
        if bound:
            names.add(host_name(bound if ":" not in bound else f"[{bound}]"))
        self.allowed = frozenset(names)
        self._answers: dict[bytes | None, str | None] = {}  # Host value -> refuses() (the first MEMO_SIZE)

    def refuses(self, host: bytes | None) -> str | None:
        """None when `host` may be answered, else the name refused (what the 403 names)."""
        if host in self._answers:
            return self._answers[host]
        found = self._refuses(host)
        if len(self._answers) < MEMO_SIZE and (host is None or len(host) <= 255):  # short names only: bounded
            self._answers[host] = found
        return found

    def _refuses(self, host: bytes | None) -> str | None:
        if host is None:
            return None
        name = host_name(host.decode("latin-1"))
        if loopback_name(name) or name in self.allowed:
            return None
        return name


def refused_message(name: str) -> str:
    shown = name if len(name) <= 100 else name[:100] + "…"
    allow = f"[{shown}]" if ":" in shown else shown
    return (f"Host {shown!r} is not allowed: the control plane and the dashboard answer only loopback names "
            f"(localhost, 127.0.0.1, [::1]) and the names given with --allowed-host "
            f"(start the sandbox with --allowed-host {allow} to allow this one)")
