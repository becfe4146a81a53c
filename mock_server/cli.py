"""The `ghl-sandbox` command line (click: well-kept, gives help, validation and subcommands for free)."""

from __future__ import annotations

import socket
import sys

import click

from mock_server import __version__
from mock_server.ratelimit import PROFILES


@click.group()
@click.version_option(__version__, prog_name="ghl-sandbox")
def main() -> None:
    """A local, offline sandbox of the GoHighLevel Payments / Orders API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to bind; 0 picks a free one.")
@click.option("--seed", default=42, show_default=True, type=int, help="Seed for data, ids and schedules.")
@click.option("--state", "state_file", default=None, type=click.Path(dir_okay=False),
              help="SQLite file to keep state in (default: in memory).")
@click.option("--orders", default=260, show_default=True, type=click.IntRange(0, 1_000_000),
              help="Orders to seed in the first location.")
@click.option("--admin-token", default=None, help="Require this token on the /_sandbox control plane.")
@click.option("--rate-limit", "rate_limit", default="default", show_default=True,
              type=click.Choice(sorted(PROFILES)), help="Rate-limit profile.")
@click.option("--journal-capacity", default=10_000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="How many API requests the journal keeps.")
@click.option("--server", "server_kind", default="uvicorn", show_default=True,
              type=click.Choice(["uvicorn", "granian"]), help="ASGI server (granian needs the `granian` extra).")
def serve(host: str, port: int, seed: int, state_file: str | None, orders: int, admin_token: str | None,
          rate_limit: str, journal_capacity: int, server_kind: str) -> None:
    """Start the sandbox and print a banner with the base URL, locations and tokens."""
    from mock_server.app import build_app
    from mock_server.sandbox import Sandbox
    from mock_server.settings import Settings

    settings = Settings(host=host, port=port, seed=seed, state_file=state_file, orders=orders,
                        admin_token=admin_token, rate_limit=rate_limit, journal_capacity=journal_capacity)
    sock = _bind(host, port)
    settings.port = sock.getsockname()[1]
    sandbox = Sandbox(settings)
    app = build_app(sandbox)
    _banner(sandbox)
    if server_kind == "granian":
        sock.close()
        _run_granian(settings)
        return
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise click.ClickException(f"cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _banner(sandbox: object) -> None:
    from mock_server.control.handlers import location_view

    s = sandbox.settings  # type: ignore[attr-defined]
    host = f"[{s.host}]" if ":" in s.host else s.host
    base = f"http://{host}:{s.port}"
    lines = [
        f"ghl-sandbox {__version__}: GoHighLevel Payments API sandbox",
        f"  API base URL   {base}",
        f"  Control plane  {base}/_sandbox   (seed {sandbox.seed}, rate limit {s.rate_limit})",  # type: ignore[attr-defined]
    ]
    for loc in sandbox.locations():  # type: ignore[attr-defined]
        view = location_view(sandbox, loc.id)
        lines.append(f"  Location {view['name']}: {view['locationId']}")
        token = view["tokens"][0]
        lines.append(f"    token ({token['tokenClass']}, {token['tokenType']}): {token['token']}")
        lines.append(f"    scopes: {' '.join(token['scopes'])}")
    lines.append(f"  Try: curl -H 'Authorization: Bearer <token>' -H 'Version: 2021-07-28' "
                 f"'{base}/payments/orders?altId=<locationId>&limit=5'")
    lines.append(f"GHL_SANDBOX_READY {base}")
    click.echo("\n".join(lines))
    sys.stdout.flush()


def _run_granian(settings: object) -> None:
    try:
        from granian import Granian  # type: ignore[import-not-found]
        from granian.constants import Interfaces  # type: ignore[import-not-found]
    except ImportError:
        raise click.ClickException("granian is not installed: pip install 'ghl-sandbox[granian]'") from None
    import os

    os.environ["GHL_SANDBOX_SETTINGS"] = repr(vars(settings))
    Granian("mock_server.asgi:app", address=settings.host, port=settings.port,  # type: ignore[attr-defined]
            interface=Interfaces.ASGI, workers=1, log_access=False).serve()


if __name__ == "__main__":
    main()
