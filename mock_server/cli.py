"""The `ghl-sandbox` command line (click: well-kept, gives help, validation and subcommands for free)."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mock_server import __version__
from mock_server.acuity.actions import ACTIONS as ACUITY_ACTIONS
from mock_server.ghl.actions import ACTIONS
from mock_server.ratelimit import PROFILES
from mock_server.workflows.actions import ACTIONS as WORKFLOW_ACTIONS

if TYPE_CHECKING:  # the client (and httpx) are imported only by the commands that use them: `serve` starts fast
    from mock_server.client import SandboxClient
    from mock_server.runtime import Runtime


class _Commands(click.Group):
    """`check` and `init` live in the harness package, which pulls in jsonschema, rich and hypothesis:
    load them only when they are asked for, so `serve` starts fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "check", "init"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "check":
            # Only when `check` is what runs: `ghl-sandbox --help` asks for every command to list it.
            if "check" in sys.argv and _runs_jobs(sys.argv[sys.argv.index("check") + 1:]):
                from mock_server.testing import prestart_fork_server

                prestart_fork_server()  # its warm-up runs while the harness is imported and reads its files
            from scenarios.cli import check

            return check
        if name == "init":
            from scenarios.cli import init

            return init
        return super().get_command(ctx, name)


def _runs_jobs(args: list[str]) -> bool:
    """Whether `check` with these arguments will likely run jobs (sandboxes forked by a fork server): not
    for help, a sandbox the user runs, or `--jobs 1`. A guess, made before click reads the options; a
    wrong one costs a second of another core (`run_check` stops a fork server it does not use)."""
    if any(a in ("--help", "-h", "--sandbox-url") or a.startswith("--sandbox-url=") for a in args):
        return False
    for i, arg in enumerate(args):
        value = arg.partition("=")[2] if arg.startswith("--jobs=") else (
            args[i + 1] if arg == "--jobs" and i + 1 < len(args) else None)
        if value is not None and value.strip() == "1":
            return False
    return True


@click.group(cls=_Commands)
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
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer the control plane and dashboard when addressed by this host name "
                   "(besides loopback names and --host; repeatable).")
@click.option("--rate-limit", "rate_limit", default="default", show_default=True,
              type=click.Choice(sorted(PROFILES)), help="Rate-limit profile.")
@click.option("--journal-capacity", default=10_000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="How many API requests the journal keeps.")
@click.option("--server", "server_kind", default="uvicorn", show_default=True,
              type=click.Choice(["uvicorn", "granian"]), help="ASGI server (granian needs the `granian` extra).")
@click.option("--webhook-url", "webhook_urls", multiple=True, metavar="URL",
              help="Register a webhook target at start (repeatable).")
@click.option("--webhook-policy", default="ghl", show_default=True, type=click.Choice(["ghl", "exponential"]),
              help="Retry policy: ghl retries only a 429; exponential also 5xx, timeouts and connection errors.")
@click.option("--webhook-retry-interval", default=600.0, show_default=True, type=click.FloatRange(0, 86400),
              metavar="S", help="Seconds (sandbox clock) before a retry; the first interval for exponential.")
@click.option("--webhook-max-retries", default=6, show_default=True, type=click.IntRange(0, 100))
@click.option("--webhook-timeout", default=10.0, show_default=True, type=click.FloatRange(0.05, 300),
              metavar="S", help="Per-attempt timeout in seconds.")
@click.option("--extension-events", is_flag=True,
              help="Also send sandbox-only transaction and subscription webhooks (not sent by GHL).")
@click.option("--response-cache/--no-response-cache", default=True, show_default=True,
              help="Cache rendered GET answers until the next write (turn off to measure the store itself).")
@click.option("--response-cache-mb", default=32, show_default=True, type=click.IntRange(0, 1_000_000), metavar="N",
              help="Memory budget of the GET answer cache in MB (least recently used answers go first); 0 turns it off.")
@click.option("--fragment-cache/--no-fragment-cache", default=True, show_default=True,
              help="Keep each record's rendered JSON until the record changes, so a read after a write is assembled "
                   "from ready parts (turn off to measure rendering).")
@click.option("--fragment-cache-mb", default=32, show_default=True, type=click.IntRange(0, 1_000_000), metavar="N",
              help="Memory budget of the record fragment cache in MB (least recently used first); 0 turns it off.")
@click.option("--ghl-signature/--no-ghl-signature", default=True, show_default=True,
              help="Sign webhooks with Ed25519 in x-ghl-signature.")
@click.option("--legacy-wh-signature", is_flag=True, envvar="GHL_SANDBOX_LEGACY_WH_SIGNATURE",
              help="Also sign webhooks with GHL's retired RSA-SHA256 in x-wh-signature (GHL sends x-ghl-signature "
                   "only since the 2026 retirement), for clients still migrating.")
@click.option("--wh-signature/--no-wh-signature", "wh_signature", default=None,
              help="Deprecated: --wh-signature is --legacy-wh-signature; --no-wh-signature is the default "
                   "(no x-wh-signature) and overrides GHL_SANDBOX_LEGACY_WH_SIGNATURE.")
@click.option("--acuity-webhook-retries", default="none", show_default=True, type=click.Choice(["none", "exponential"]),
              envvar="GHL_SANDBOX_ACUITY_WEBHOOK_RETRIES",
              help="Acuity webhooks: one attempt (none), or up to 5 retries on a non-2xx answer or none at all "
                   "(exponential, from --webhook-retry-interval). Acuity's real policy is undocumented.")
@click.option("--acuity-rate-limit", default="on", show_default=True, type=click.Choice(["on", "off", "edge403"]),
              envvar="GHL_SANDBOX_ACUITY_RATE_LIMIT",
              help="The fake Acuity's limit (10 requests/s and 20 at once per client IP): on, off, or on with every "
                   "third refusal a 403 HTML page as Acuity's edge sometimes answers. A reset comes back to it.")
@click.option("--workflow-webhook-retries", default="exponential", show_default=True,
              type=click.Choice(["exponential", "none"]), envvar="GHL_SANDBOX_WORKFLOW_WEBHOOK_RETRIES",
              help="Workflow Webhook / Custom Webhook actions: retry 429, 5xx, timeouts and no answer up to 5 times "
                   "(exponential, from --webhook-retry-interval, doubling), or fail then skip (none). GHL's real "
                   "policy is undocumented.")
@click.option("--workflow-order-submitted", default="order", show_default=True, type=click.Choice(["order", "product"]),
              envvar="GHL_SANDBOX_WORKFLOW_ORDER_SUBMITTED",
              help="The Order Submitted trigger fires once per order, or once per product line (sources disagree).")
@click.option("--workflow-payload-objects", default="nested", show_default=True, type=click.Choice(["nested", "none"]),
              envvar="GHL_SANDBOX_WORKFLOW_PAYLOAD_OBJECTS",
              help="The standard Webhook body carries the trigger's object (payment, order, ...) at its root, or "
                   "contact and location data only (no capture of a payment trigger's body exists).")
@click.option("--workflow-user-agent", default="axios/1.13.2", show_default=True, metavar="UA",
              envvar="GHL_SANDBOX_WORKFLOW_USER_AGENT",
              help="The user-agent header of workflow webhook deliveries (captures show several axios versions).")
def serve(host: str, port: int, seed: int, state_file: str | None, orders: int, admin_token: str | None,
          allowed_hosts: tuple[str, ...],
          rate_limit: str, journal_capacity: int, server_kind: str, webhook_urls: tuple[str, ...],
          webhook_policy: str, webhook_retry_interval: float, webhook_max_retries: int, webhook_timeout: float,
          extension_events: bool, ghl_signature: bool, legacy_wh_signature: bool, wh_signature: bool | None,
          response_cache: bool,
          response_cache_mb: int, fragment_cache: bool, fragment_cache_mb: int, acuity_webhook_retries: str, acuity_rate_limit: str, workflow_webhook_retries: str,
          workflow_order_submitted: str, workflow_payload_objects: str, workflow_user_agent: str) -> None:
    """Start the sandbox and print a banner with the base URL, locations, tokens and webhook keys."""
    from mock_server.app import build_app, new_runtime
    from mock_server.settings import Settings

    for url in webhook_urls:
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="--webhook-url")
    sign_rsa = _legacy_wh_signature(click.get_current_context(), legacy_wh_signature, wh_signature)
    settings = Settings(host=host, port=port, seed=seed, state_file=state_file, orders=orders,
                        allowed_hosts=list(allowed_hosts),
                        admin_token=admin_token, rate_limit=rate_limit, journal_capacity=journal_capacity,
                        webhook_urls=list(webhook_urls), webhook_policy=webhook_policy,
                        webhook_retry_interval=webhook_retry_interval, webhook_max_retries=webhook_max_retries,
                        webhook_timeout=webhook_timeout, extension_events=extension_events,
                        sign_ed25519=ghl_signature, sign_rsa=sign_rsa, response_cache=response_cache,
                        response_cache_mb=response_cache_mb, fragment_cache=fragment_cache,
                        fragment_cache_mb=fragment_cache_mb, acuity_webhook_retries=acuity_webhook_retries,
                        acuity_rate_limit=acuity_rate_limit, workflow_webhook_retries=workflow_webhook_retries,
                        workflow_order_submitted=workflow_order_submitted,
                        workflow_payload_objects=workflow_payload_objects, workflow_user_agent=workflow_user_agent)
    sock = _bind(host, port)
    settings.port = sock.getsockname()[1]
    if server_kind == "granian":
        # granian binds the port itself and builds the app in its worker (see _granian_app).
        sock.close()
        _run_granian(settings)
        return
    sandbox = _open_sandbox(new_runtime, settings)
    app = build_app(sandbox)
    _banner(sandbox)
    import gc

    import uvicorn

    gc.collect()
    gc.freeze()  # the seeded world lives for the whole run: keep it out of every later GC pass
    # timeout_graceful_shutdown: a backstop for requests still open after 2 s (a long /_sandbox/wait).
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", server_header=False,
                            proxy_headers=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    sandbox.bus.stopping = lambda: server.should_exit  # dashboard streams end themselves on shutdown
    server.run(sockets=[sock])


def _legacy_wh_signature(ctx: click.Context, legacy: bool, alias: bool | None) -> bool:
    """Whether webhooks also carry the retired RSA `x-wh-signature`. `--wh-signature` and
    `--no-wh-signature` are the old names, kept for scripts: `--wh-signature` is `--legacy-wh-signature`,
    `--no-wh-signature` the default; on the command line it overrides GHL_SANDBOX_LEGACY_WH_SIGNATURE, and
    contradicts --legacy-wh-signature (an error)."""
    if alias is None:
        return legacy
    if alias:
        return True
    if legacy and ctx.get_parameter_source("legacy_wh_signature") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--no-wh-signature contradicts --legacy-wh-signature: give one of them")
    return False


def _open_sandbox(factory: Any, settings: Any) -> Any:
    """The sandbox, or a one-line error (not a traceback) when `--state` names an unusable file."""
    import sqlite3

    try:
        return factory(settings)
    except sqlite3.DatabaseError as exc:  # also OperationalError: a missing folder, no permission
        if not settings.state_file:
            raise
        raise click.ClickException(f"cannot use state file {settings.state_file}: {exc}") from None


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


def _banner(sandbox: Runtime, ready: bool = True) -> None:
    """Print the banner; its last line, `GHL_SANDBOX_READY <url>`, only when `ready` (the port accepts)."""
    from mock_server.control.handlers import location_view

    s = sandbox.settings
    host = f"[{s.host}]" if ":" in s.host else s.host
    base = f"http://{host}:{s.port}"
    lines = [
        f"ghl-sandbox {__version__}: GoHighLevel Payments API sandbox",
        f"  API base URL   {base}",
        f"  Control plane  {base}/_sandbox   (seed {sandbox.seed}, rate limit {s.rate_limit})",
        f"  Dashboard      {base}/" + ("?token=<admin token>" if s.admin_token else ""),
    ]
    for loc in sandbox.locations():
        view = location_view(sandbox, loc.id)
        lines.append(f"  Location {view['name']}: {view['locationId']}")
        token = view["tokens"][0]
        lines.append(f"    token ({token['tokenClass']}, {token['tokenType']}): {token['token']}")
        lines.append(f"    scopes: {' '.join(token['scopes'])}")
    for target in sandbox.webhooks.targets():
        lines.append(f"  Webhook target {target.url} (policy {s.webhook_policy})")
    signer = sandbox.signer
    lines.append("  Webhook public key, Ed25519 (x-ghl-signature):")
    lines += ["    " + line for line in signer.ed25519_public_pem.strip().splitlines()]
    if signer.sign_rsa:
        lines.append(f"  Webhook public key, RSA (legacy x-wh-signature, --legacy-wh-signature): GET {base}/_sandbox/keys")
    lines.append(f"  Try: curl -H 'Authorization: Bearer <token>' -H 'Version: 2021-07-28' "
                 f"'{base}/payments/orders?altId=<locationId>&limit=5'")
    if ready:
        lines.append(f"GHL_SANDBOX_READY {base}")
    click.echo("\n".join(lines))
    sys.stdout.flush()


def _announce_when_listening(host: str, port: int, timeout: float = 60.0) -> None:
    """granian binds its listening socket in the worker, after the app is built: a thread prints the
    ready line once a connection to the port succeeds."""
    import threading
    import time

    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    shown = f"[{host}]" if ":" in host else host

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((probe_host, port), timeout=1).close()
            except OSError:
                time.sleep(0.005)
                continue
            click.echo(f"GHL_SANDBOX_READY http://{shown}:{port}")
            sys.stdout.flush()
            return

    threading.Thread(target=wait, name="ghl-sandbox-ready", daemon=True).start()


def _run_granian(settings: Any) -> None:
    """One granian worker serving the same app as uvicorn would (lifespan on, no access log).

    The sandbox is built once, in the worker, which then prints the banner: the world, its tokens and
    its webhook signing keys are the ones that serve (not a second, separately seeded copy), and
    `GHL_SANDBOX_READY` comes only once the port accepts connections."""
    try:
        from granian import Granian  # type: ignore[import-not-found]
        from granian.constants import Interfaces  # type: ignore[import-not-found]
        from granian.log import LogLevels  # type: ignore[import-not-found]
    except ImportError:
        raise click.ClickException("granian is not installed: pip install 'ghl-sandbox[granian]'") from None
    import functools

    # The target string is only granian's label: the app comes from the loader (`mock_server.asgi`
    # remains the entry point for a `granian mock_server.asgi:app` started by hand).
    server = Granian("mock_server.asgi:app", address=settings.host, port=settings.port,
                     interface=Interfaces.ASGI, workers=1, log_access=False, log_level=LogLevels.warning)
    server.serve(target_loader=functools.partial(_granian_app, settings), wrap_loader=False)


def _granian_app(settings: Any) -> Any:
    """Runs in granian's worker process: build the sandbox and its app, print the banner."""
    from mock_server.app import build_app, new_runtime

    sandbox = _open_sandbox(new_runtime, settings)
    app = build_app(sandbox)
    _banner(sandbox, ready=False)
    _announce_when_listening(settings.host, settings.port)
    return app


# ---- commands against a running sandbox (through its public control plane) ------------------------

URL_OPTION = click.option("--url", default="http://127.0.0.1:8080", show_default=True, envvar="GHL_SANDBOX_URL",
                          help="Base URL of a running sandbox.")
ADMIN_OPTION = click.option("--admin-token", default=None, envvar="GHL_SANDBOX_ADMIN_TOKEN",
                            help="Admin token, if the sandbox was started with one.")


@contextlib.contextmanager
def _sandbox(url: str, admin_token: str | None) -> Iterator[SandboxClient]:
    """The client of the sandbox at `url`; a call that fails ends the command with one clear line."""
    import httpx

    from mock_server.client import SandboxClient, SandboxError

    try:
        with SandboxClient(url, admin_token, timeout=60) as sandbox:
            yield sandbox
    except SandboxError as exc:
        if exc.envelope is None:
            raise click.ClickException(f"{exc.status} from {url}: {exc.response.text[:200]}") from None
        raise click.ClickException(f"{exc.status}: {exc.message}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise click.ClickException(f"cannot reach the sandbox at {url}: {exc}") from None


@main.command()
@click.argument("action", type=click.Choice(ACTIONS + ACUITY_ACTIONS + WORKFLOW_ACTIONS))
@click.option("--location", "location_id", default=None, help="Location id (default: the first).")
@click.option("--order", "order_id", default=None, help="Order id.")
@click.option("--subscription", "subscription_id", default=None, help="Subscription id.")
@click.option("--transaction", "transaction_id", default=None, help="Transaction id (refunds).")
@click.option("--contact", "contact_id", default=None, help="Contact id (order.create).")
@click.option("--coupon-code", "coupon_code", default=None, help="order.create: redeem this coupon of the location.")
@click.option("--source-id", "source_id", default=None,
              help="order.create: the funnel or store the order is placed in (a sourceId of the location).")
@click.option("--price", "price_id", default=None, help="Recurring price id (subscription.create).")
@click.option("--item", "items", multiple=True, metavar="PRICE_ID[:QTY]", help="Order item (repeatable).")
@click.option("--address-json", "address_json", default=None, metavar="JSON",
              help='order.create: the order form\'s address, e.g. \'{"state": "CA", "postalCode": "94105", '
                   '"country": "US"}\' (also address1, city).')
@click.option("--amount", type=float, default=None,
              help="Amount in major units (pay, fail, refund, record_payment).")
@click.option("--mode", default=None, type=click.Choice(["cash", "card", "cheque", "bank_transfer", "other"]),
              help="order.record_payment: the manual payment method (default cash).")
@click.option("--card-type", default=None, type=click.Choice(["visa", "mastercard", "other"]),
              help="order.record_payment --mode card: the card's type.")
@click.option("--last4", default=None, help="order.record_payment --mode card: the card's last four digits.")
@click.option("--cheque", "cheque_number", default=None, help="order.record_payment --mode cheque: the number.")
@click.option("--notes", default=None, help="order.record_payment: a note recorded with the payment.")
@click.option("--partial/--no-partial", "partial", default=None,
              help="order.record_payment: isPartialPayment (default: on when --amount is given).")
@click.option("--pending-polls", type=int, default=None, help="order.pay: stay pending for N polls of the order.")
@click.option("--pending-seconds", type=float, default=None, help="order.pay: stay pending for T seconds.")
@click.option("--settle", type=click.Choice(["succeeded", "failed"]), default="succeeded", show_default=True)
@click.option("--appointment-id", type=click.IntRange(1), default=None, help="acuity.*: the Acuity appointment id.")
@click.option("--kind", default=None, type=click.Choice(["full", "deposit", "tip", "package", "gift"]),
              help="acuity.pay: full | deposit | tip; acuity.order: package | gift.")
@click.option("--datetime", "when", default=None, metavar="ISO",
              help="acuity.schedule / acuity.reschedule: the start, e.g. 2026-10-05T10:00:00-0400.")
@click.option("--email", default=None, help="acuity.schedule / acuity.order: the client's email.")
@click.option("--pay", default=None, type=click.Choice(["none", "full", "deposit"]),
              help="acuity.schedule: pay at booking.")
@click.option("--processor", default=None, type=click.Choice(["stripe", "square", "paypal"]),
              help="acuity.schedule / acuity.pay: the payment processor.")
@click.option("--no-show", is_flag=True, default=None, help="acuity.cancel: mark it a no-show.")
@click.option("--status", "invoice_status", default=None, type=click.Choice(["sent", "paid", "partially_paid", "void"]),
              help="invoice.update: the invoice's new status.")
@click.option("--invoice", "invoice_id", default=None, help="invoice.update: the invoice id (default: a new invoice).")
@click.option("--currency", default=None, help="invoice.update: a three-letter currency code.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@URL_OPTION
@ADMIN_OPTION
def trigger(action: str, location_id: str | None, order_id: str | None, subscription_id: str | None,
            transaction_id: str | None, contact_id: str | None, coupon_code: str | None, source_id: str | None,
            price_id: str | None, items: tuple[str, ...], address_json: str | None,
            amount: float | None, mode: str | None, card_type: str | None, last4: str | None,
            cheque_number: str | None, notes: str | None, partial: bool | None, pending_polls: int | None, pending_seconds: float | None, settle: str,
            appointment_id: int | None, kind: str | None, when: str | None, email: str | None, pay: str | None,
            processor: str | None, no_show: bool | None, invoice_status: str | None, invoice_id: str | None,
            currency: str | None, as_json: bool, url: str, admin_token: str | None) -> None:
    """Run one simulated action on a running sandbox; print what changed and the webhooks queued."""
    import json

    body: dict = {k: v for k, v in {"locationId": location_id, "orderId": order_id,
                                    "subscriptionId": subscription_id, "transactionId": transaction_id,
                                    "contactId": contact_id, "couponCode": coupon_code, "sourceId": source_id,
                                    "priceId": price_id, "amount": amount,
                                    "appointmentId": appointment_id, "kind": kind, "datetime": when, "email": email,
                                    "pay": pay, "processor": processor, "noShow": True if no_show else None,
                                    "status": invoice_status, "invoiceId": invoice_id, "currency": currency}.items()
                  if v is not None}
    if action == "order.record_payment":
        manual = {"mode": mode or "cash", "notes": notes, "isPartialPayment": partial,
                  "card": {"type": card_type or "visa", "last4": last4 or ""} if (mode == "card") else None,
                  "cheque": {"number": cheque_number or ""} if mode == "cheque" else None}
        body.update({k: v for k, v in manual.items() if v is not None})
    if items:
        parsed = []
        for item in items:
            pid, _, qty = item.partition(":")
            try:
                parsed.append({"priceId": pid, "qty": float(qty) if qty else 1})
            except ValueError:
                raise click.BadParameter(f"{item!r}: QTY must be a number", param_hint="--item") from None
        body["items"] = parsed
    if address_json is not None:
        try:
            body["address"] = json.loads(address_json)
        except ValueError:
            raise click.BadParameter("must be a JSON object", param_hint="--address-json") from None
    if pending_polls is not None or pending_seconds is not None:
        body["pending"] = {k: v for k, v in {"polls": pending_polls, "seconds": pending_seconds,
                                             "outcome": settle}.items() if v is not None}
    with _sandbox(url, admin_token) as sandbox:
        data = sandbox.simulate(action, **body)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{data['action']}:")
    acuity = action.startswith("acuity.")
    shown = ("status", "paid", "amountPaid", "amount", "canceled", "datetime", "total") if acuity else (
        "status", "paymentStatus", "fulfillmentStatus", "amount", "currency")
    for res in data["resources"]:
        d = res["data"]
        status = ", ".join(f"{k}={d[k]}" for k in shown if k in d)
        click.echo(f"  {res['type']:<12} {res['id']}  {status}")
    if not data["webhooks"]:
        sender = "Acuity" if acuity else "no workflow" if action in WORKFLOW_ACTIONS else "GHL"
        click.echo(f"  no webhooks ({sender} sends none for this change)")
    for hook in data["webhooks"]:
        targets = ", ".join(f"{d['targetId']}:{d['status']}" for d in hook["deliveries"]) or "no target registered"
        click.echo(f"  webhook      {hook['event']} for {hook['resourceId']} -> {targets}")


@main.group()
def workflows() -> None:
    """Load and list the no-code workflows of a running sandbox."""


def _set_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: use KEY=VALUE", param_hint="--set")
        values[key] = value
    return values


@workflows.command("load")
@click.argument("source")
@click.option("--location", "location_id", default=None, help="Location id (default: the first).")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="Set this custom value of the location first (repeatable).")
@URL_OPTION
@ADMIN_OPTION
def workflows_load(source: str, location_id: str | None, pairs: tuple[str, ...], url: str,
                   admin_token: str | None) -> None:
    """Create workflows from SOURCE: a shipped template's name or a JSON file (one document or a list).
    `rankr_base_url` and `rankr_api_key` are filled from the sandbox when a template needs them and they
    are not set."""
    import json
    import re

    values = _set_pairs(pairs)
    path = Path(source)
    documents: list[Any] = []
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{source}: {exc}", param_hint="SOURCE") from None
        documents = loaded if isinstance(loaded, list) else [loaded]
    with _sandbox(url, admin_token) as sandbox:
        locations = sandbox.locations()
        location = next((loc for loc in locations if loc["locationId"] == location_id), None) if location_id \
            else (locations[0] if locations else None)
        if location is None:
            raise click.ClickException(f"no location {location_id or ''} in the sandbox at {url}".replace("  ", " "))
        loc = location["locationId"]
        if not documents:
            names = {t["name"]: t for t in sandbox.control("GET", "/workflows/templates")["templates"]}
            if source not in names:
                raise click.ClickException(f"{source!r} is neither a file nor a template; templates: {', '.join(names)}")
            needed = names[source]["needs"]
        else:
            needed = sorted(set(re.findall(r"\{\{\s*custom_values\.([A-Za-z0-9_.-]+)\s*\}\}", json.dumps(documents))))
        current = sandbox.control("GET", "/workflows/custom-values", params={"locationId": loc})["values"]
        rankr = location.get("rankr") or {}
        known = {"rankr_base_url": url.rstrip("/") + str(rankr.get("basePath") or "/rankr"),
                 "rankr_api_key": str(rankr.get("apiKey") or "")}
        for key, value in known.items():
            if key in needed and key not in current and key not in values and value:
                values[key] = value
        if values:
            sandbox.control("PUT", "/workflows/custom-values", json={"locationId": loc, "values": values})
        created = []
        if documents:
            for doc in documents:
                if not isinstance(doc, dict):
                    raise click.ClickException(f"{source}: each workflow must be a JSON object")
                created.append(sandbox.control("POST", "/workflows", json={**doc, "locationId": loc}))
        else:
            created.append(sandbox.control("POST", f"/workflows/templates/{source}", json={"locationId": loc}))
        missing = [k for k in needed if k not in current and k not in values]
    for w in created:
        inbound = (w.get("trigger") or {}).get("inboundUrl")
        click.echo(f"{w['id']}  {w['status']:<9} {w['trigger']['type']:<22} {w['name']}" + (f"  {inbound}" if inbound else ""))
    if missing:
        click.echo(f"warning: custom values not set: {', '.join(missing)} (they render empty)")


@workflows.command("list")
@click.option("--location", "location_id", default=None, help="Only this location's workflows.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@URL_OPTION
@ADMIN_OPTION
def workflows_list(location_id: str | None, as_json: bool, url: str, admin_token: str | None) -> None:
    """List the workflows of a running sandbox."""
    import json

    with _sandbox(url, admin_token) as sandbox:
        data = sandbox.control("GET", "/workflows", params={"locationId": location_id} if location_id else {})
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not data["workflows"]:
        click.echo("no workflows")
    for w in data["workflows"]:
        click.echo(f"{w['id']}  {w['locationId']}  {w['status']:<9} {w['trigger']['type']:<22} "
                   f"{len(w['actions'])} action(s)  {w['name']}")


@main.group()
def clock() -> None:
    """Show, freeze or advance the sandbox clock of a running sandbox."""


@clock.command("show")
@URL_OPTION
@ADMIN_OPTION
def clock_show(url: str, admin_token: str | None) -> None:
    with _sandbox(url, admin_token) as sandbox:
        data = sandbox.clock()
    click.echo(f"{data['now']}  frozen={data['frozen']}  offset={data['offsetSeconds']}s")


@clock.command("advance")
@click.argument("duration")
@URL_OPTION
@ADMIN_OPTION
def clock_advance(duration: str, url: str, admin_token: str | None) -> None:
    """Move the clock forward by DURATION: seconds, or 30s, 15m, 2h, 30d, 1w."""
    with _sandbox(url, admin_token) as sandbox:
        data = sandbox.advance_clock(duration)
    click.echo(f"{data['now']}  frozen={data['frozen']}  offset={data['offsetSeconds']}s")


def _freeze_command(name: str, frozen: bool) -> click.Command:
    """`clock freeze` and `clock unfreeze`: one body, the flag they send."""

    @URL_OPTION
    @ADMIN_OPTION
    def command(url: str, admin_token: str | None) -> None:
        with _sandbox(url, admin_token) as sandbox:
            data = sandbox.set_clock(freeze=frozen)
        click.echo(f"{data['now']}  frozen={data['frozen']}")

    return clock.command(name)(command)


clock_freeze = _freeze_command("freeze", True)
clock_unfreeze = _freeze_command("unfreeze", False)


# The second location's variables carry this suffix (isolation tests, two-account clients).
SECOND_SUFFIX = "_2"


@main.command("env")
@URL_OPTION
@ADMIN_OPTION
@click.option("--location", "location_index", default=0, show_default=True, type=click.IntRange(0),
              help="Which location (0: the first) the GHL_LOCATION_ID / GHL_ACCESS_TOKEN variables are for; "
                   "the _2 variables are for the next one.")
@click.option("--shell", "shell", default="sh", show_default=True, type=click.Choice(["sh", "fish", "json"]),
              help="Output for sh/bash/zsh (`eval \"$(ghl-sandbox env)\"`), fish (`ghl-sandbox env --shell fish "
                   "| source`) or JSON.")
def env_command(url: str, admin_token: str | None, location_index: int, shell: str) -> None:
    """Print the environment of a running sandbox as shell exports: base URL, location ids and tokens,
    OAuth client credentials, webhook public keys and the fake Rankr's credentials."""
    import json

    values = sandbox_env(url, admin_token, location_index)
    if shell == "json":
        click.echo(json.dumps(values, indent=2))
        return
    for name, value in values.items():
        click.echo(f"set -gx {name} {_fish_quote(value)}" if shell == "fish" else f"export {name}={_sh_quote(value)}")


def sandbox_env(url: str, admin_token: str | None, location_index: int = 0) -> dict[str, str]:
    """The variables of `ghl-sandbox env`, from the control plane of the sandbox at `url`."""
    from scenarios.runner import client_env

    base = url.rstrip("/")
    with _sandbox(base, admin_token) as sandbox:
        locations = sandbox.locations()
        if not isinstance(locations, list) or not locations:
            raise click.ClickException(f"{base} answered no locations: is it a ghl-sandbox?")
        if location_index >= len(locations):
            raise click.BadParameter(f"{location_index}: the sandbox has {len(locations)} location(s), "
                                     f"numbered from 0", param_hint="--location")
        keys = sandbox.keys()
        app = sandbox.apps()[0]
    location = locations[location_index]
    # The client contract's names (scenarios.runner.client_env), without the per-client CLIENT_* ones.
    contract = {k: v for k, v in client_env(base, location, keys, app, 0, Path(".")).items()
                if not k.startswith("CLIENT_")}
    values = {"GHL_SANDBOX_URL": base, **contract}
    if admin_token:
        values["GHL_SANDBOX_ADMIN_TOKEN"] = admin_token
    if len(locations) > 1:
        other = locations[(location_index + 1) % len(locations)]
        values["GHL_LOCATION_ID" + SECOND_SUFFIX] = other["locationId"]
        values["GHL_ACCESS_TOKEN" + SECOND_SUFFIX] = other["tokens"][0]["token"]
    values["GHL_CLIENT_ID"] = app["clientId"]
    values["GHL_CLIENT_SECRET"] = app["clientSecret"]
    # The names GHL's official Python SDK reads to verify webhooks: the app id is CLIENT_ID's part
    # before its first '-', the Ed25519 and RSA keys are PEMs.
    values["CLIENT_ID"] = app["clientId"]
    values["WEBHOOK_SIGNATURE_PUBLIC_KEY"] = keys["ed25519PublicKey"]
    values["WEBHOOK_PUBLIC_KEY"] = keys["rsaPublicKey"]
    rank = {name: i for i, name in enumerate(ENV_ORDER)}
    return dict(sorted(values.items(), key=lambda item: rank.get(item[0], len(rank))))


@main.command("token")
@URL_OPTION
@ADMIN_OPTION
@click.option("--location", "location", default="0", show_default=True, metavar="ID|N",
              help="The location: its id, or its number in the control plane's list (0: the first).")
@click.option("--type", "token_type", default="pit", show_default=True, type=click.Choice(["pit", "oauth"]),
              help="pit: the location's private integration token (what GHL's SDKs take on their own); "
                   "oauth: its marketplace-app token.")
@click.option("--export", "export", is_flag=True,
              help="Print `export TOKEN=… LOCATION=… GHL_SANDBOX_URL=…` lines for `eval \"$(ghl-sandbox token "
                   "--export)\"` instead of the bare token.")
def token_command(url: str, admin_token: str | None, location: str, token_type: str, export: bool) -> None:
    """Print a location's API token from a running sandbox (the bare token, or shell exports of it with
    the location id and the sandbox URL)."""
    base = url.rstrip("/")
    with _sandbox(base, admin_token) as sandbox:
        locations = sandbox.locations()
    if not isinstance(locations, list) or not locations:
        raise click.ClickException(f"{base} answered no locations: is it a ghl-sandbox?")
    chosen = next((loc for loc in locations if loc["locationId"] == location), None)
    if chosen is None and location.isdigit() and int(location) < len(locations):
        chosen = locations[int(location)]
    if chosen is None:
        known = ", ".join(f"{i} ({loc['locationId']})" for i, loc in enumerate(locations))
        raise click.BadParameter(f"{location!r} is neither the id nor the number of a location; the sandbox has "
                                 f"{known}", param_hint="--location")
    token = next((t["token"] for t in chosen["tokens"]
                  if t["tokenType"] == token_type and t["tokenClass"] == "location"), None)
    if token is None:
        raise click.ClickException(f"location {chosen['locationId']} has no {token_type} location token")
    if not export:
        click.echo(token)
        return
    for name, value in (("TOKEN", token), ("LOCATION", chosen["locationId"]), ("GHL_SANDBOX_URL", base)):
        click.echo(f"export {name}={_sh_quote(value)}")


# The order `env` prints in: the sandbox, the location, the app, the keys, Rankr.
ENV_ORDER = ("GHL_SANDBOX_URL", "GHL_SANDBOX_ADMIN_TOKEN", "GHL_API_BASE_URL", "GHL_API_VERSION", "GHL_LOCATION_ID",
             "GHL_ACCESS_TOKEN", "GHL_LOCATION_ID_2", "GHL_ACCESS_TOKEN_2", "GHL_APP_ID", "GHL_CLIENT_ID",
             "GHL_CLIENT_SECRET", "GHL_WEBHOOK_PUBLIC_KEY", "GHL_WEBHOOK_RSA_PUBLIC_KEY", "CLIENT_ID",
             "WEBHOOK_SIGNATURE_PUBLIC_KEY", "WEBHOOK_PUBLIC_KEY")


def _sh_quote(value: str) -> str:
    """POSIX single quotes: everything literal, newlines included; a quote is closed, escaped, reopened."""
    return "'" + value.replace("'", "'\\''") + "'"


def _fish_quote(value: str) -> str:
    """fish single quotes: only a backslash and a single quote are escaped; newlines stay literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


if __name__ == "__main__":
    main()
