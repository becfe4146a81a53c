"""`make demo` (`python -m mock_server.demo`): the sandbox, the reference client and a generator of
simulated payment activity, with the dashboard URL printed. Ctrl-C (or SIGTERM) stops all of it.

- the sandbox: `ghl-sandbox serve` in a child process (mock_server.testing.SandboxProcess: its own
  session, stopped with SIGTERM, then SIGKILL), webhook retries compressed to a few seconds so a 429
  retry shows in a demo; the generator drives it through mock_server.client.SandboxClient;
- the client: `examples/clients/reference_client.py` (or `--client CMD`) with the environment of
  contracts/CLIENT_CONTRACT.md §1, built by scenarios.runner.client_env as the harness does, and
  registered as the location's webhook target; when it has a workflow route, the location gets its GHL
  workflows (the project's `[workflows]`, else the library's Payment Received workflow) as a workflow
  scenario would;
- the generator: orders, payments (full and partial), refunds, subscriptions, fulfilments requested
  through Rankr events (`POST /_sandbox/rankr/events`, so the client creates them), and now and then
  a fault rule on the API.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from mock_server.client import SandboxClient, SandboxError
from mock_server.testing import SandboxProcess
from scenarios import project as projects
from scenarios import steps_workflows as workflows
from scenarios import templates
from scenarios.client import ClientError, ClientProcess, free_port
from scenarios.runner import client_env, render_env, template_values

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_CLIENT = ROOT / "examples" / "clients" / "reference_client.py"

FAULTS = (
    ("GHL 503 on list orders (twice)",
     {"match": {"method": "GET", "path": "/payments/orders"}, "effect": {"status": 503}, "times": 2}),
    ("GHL 429 on list transactions",
     {"match": {"method": "GET", "path": "/payments/transactions"}, "effect": {"rateLimited": True}, "times": 1}),
    ("slow list subscriptions (1.2 s)",
     {"match": {"method": "GET", "path": "/payments/subscriptions"}, "effect": {"delayMs": 1200}, "times": 2}),
    ("commit-then-drop on the next fulfilment",
     {"match": {"method": "POST", "path": "/payments/orders/{orderId}/fulfillments"},
      "effect": {"commitThenDrop": True}, "times": 1}),
    ("Rankr 503 on an order upsert",
     {"match": {"method": "PUT", "path": "/rankr/v1/orders/{orderId}"}, "effect": {"status": 503}, "times": 1}),
)


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


def short(identifier: str) -> str:
    return identifier[:8] + "…" if len(identifier) > 9 else identifier


# ---- the processes --------------------------------------------------------------------------------


def echo_sandbox(line: str) -> None:
    """The sandbox's output after its banner: warnings and tracebacks, if any."""
    print(f"[sandbox] {line}", end="", flush=True)


def stop_group(pgid: int, grace: float = 8.0) -> None:
    """Wait until every process of the group is gone (the client runs through a shell, which exits
    before the client does); SIGKILL what is left after `grace`."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


# ---- the generator ---------------------------------------------------------------------------------


class Generator:
    """Picks a plausible next step from what it knows of the location's orders and subscriptions."""

    def __init__(self, sandbox: SandboxClient, location_id: str, rankr_url: str | None, rng: random.Random,
                 fault_every: float) -> None:
        self.sandbox = sandbox
        self.location_id = location_id
        self.rankr_url = rankr_url  # where the client takes Rankr requests (None: it takes none)
        self.rng = rng
        self.fault_every = fault_every
        self.next_fault = time.monotonic() + min(fault_every, 8.0)
        self.orders: dict[str, dict[str, Any]] = {}
        self.subscriptions: list[str] = []
        self.fulfil_requested: set[str] = set()
        self.steps = 0

    def load(self) -> None:
        state = self.sandbox.state(self.location_id)
        for order in state["orders"][:60]:
            self._remember(order)
        self.subscriptions = [s["_id"] for s in state["subscriptions"] if s["status"] in ("active", "trialing")][:20]

    def _remember(self, data: dict[str, Any]) -> None:
        items = [{"priceId": i.get("priceId") or (i.get("price") or {}).get("_id"), "qty": i.get("qty", 1)}
                 for i in data.get("items", [])]
        known = self.orders.setdefault(data["_id"], {})
        known.update({"amount": data.get("amount", 0), "status": data.get("status"),
                      "paymentStatus": data.get("paymentStatus"), "fulfillmentStatus": data.get("fulfillmentStatus")})
        if items and all(i["priceId"] for i in items):
            known["items"] = items

    def _simulate(self, action: str, **body: Any) -> dict[str, Any] | None:
        try:
            result = self.sandbox.simulate(action, locationId=self.location_id, **body)
        except SandboxError as exc:
            if exc.status in (404, 409):  # the order moved on meanwhile: not worth a word
                return None
            raise
        for resource in result["resources"]:
            if resource["type"] == "order":
                self._remember(resource["data"])
            elif (resource["type"] == "subscription" and resource["data"]["status"] == "active"
                  and resource["id"] not in self.subscriptions):
                self.subscriptions.append(resource["id"])
        hooks = ", ".join(w["event"] for w in result["webhooks"]) or "no webhook"
        ids = ", ".join(f"{r['type']} {short(r['id'])}" for r in result["resources"][:2])
        say(f"{action:<22} {ids}  ({hooks})")
        return result

    def _pick(self, **wanted: Any) -> str | None:
        matches = [oid for oid, o in self.orders.items()
                   if o.get("status") != "cancelled" and all(o.get(k) in v for k, v in wanted.items())]
        return self.rng.choice(matches[-25:]) if matches else None

    def step(self) -> None:
        self.steps += 1
        if self.fault_every and time.monotonic() >= self.next_fault:
            self.next_fault = time.monotonic() + self.fault_every
            label, rule = self.rng.choice(FAULTS)
            self.sandbox.add_fault(rule)
            say(f"{'fault rule':<22} {label}")
            return
        roll = self.rng.random()
        if roll < 0.22 or not self.orders:
            self._simulate("order.create")
        elif roll < 0.50:
            order_id = self._pick(paymentStatus=("unpaid", "partially_paid"))
            if order_id is None:
                self._simulate("order.create")
            elif self.orders[order_id]["paymentStatus"] == "unpaid" and self.rng.random() < 0.3:
                amount = round(max(1.0, float(self.orders[order_id]["amount"]) * 0.4), 2)
                self._simulate("order.pay", orderId=order_id, amount=amount)
            else:
                self._simulate("order.pay", orderId=order_id)
        elif roll < 0.70:
            if self.rankr_url is None:
                self._simulate("order.create")
            else:
                self._fulfil()
        elif roll < 0.80:
            order_id = self._pick(paymentStatus=("paid",))
            if order_id is not None:
                part = self.rng.random() < 0.5
                refund = round(float(self.orders[order_id]["amount"]) * 0.5, 2) if part else None
                self._simulate("order.refund", orderId=order_id, **({"amount": refund} if refund else {}))
        elif roll < 0.86:
            self._simulate("subscription.create")
        elif roll < 0.92 and self.subscriptions:
            self._simulate("subscription.renew", subscriptionId=self.rng.choice(self.subscriptions[-10:]))
        elif roll < 0.95:
            order_id = self._pick(paymentStatus=("unpaid",))
            if order_id is not None:
                self._simulate("order.cancel", orderId=order_id)
        else:
            order_id = self._pick(paymentStatus=("unpaid", "partially_paid"))
            if order_id is not None:
                self._simulate("order.fail_payment", orderId=order_id)

    def _fulfil(self) -> None:
        """Ask the client, through a signed Rankr event, to fulfil a paid order: it creates the GHL
        fulfillment itself (exactly once per eventId)."""
        candidates = [oid for oid, o in self.orders.items()
                      if o.get("paymentStatus") == "paid" and o.get("fulfillmentStatus") == "unfulfilled"
                      and o.get("items") and oid not in self.fulfil_requested]
        if not candidates:
            self._simulate("order.create")
            return
        order_id = self.rng.choice(candidates[-25:])
        self.fulfil_requested.add(order_id)
        sent = self.sandbox.send_rankr_event(
            locationId=self.location_id, url=self.rankr_url, orderId=order_id, items=self.orders[order_id]["items"],
            trackings=[{"trackingNumber": f"1Z{self.rng.randrange(10**9):09d}", "shippingCarrier": "UPS",
                        "trackingUrl": "https://example.com/track"}])
        self.orders[order_id]["fulfillmentStatus"] = "requested"
        say(f"{'rankr fulfilment':<22} order {short(order_id)}  (client answered {sent.get('status')})")


# ---- main ------------------------------------------------------------------------------------------


def load_workflows(control: SandboxClient, spec: projects.ClientSpec, values: dict[str, str], client_url: str,
                   location_id: str) -> None:
    """The client's GHL workflows, as a workflow scenario of the harness installs them: the location's custom
    values (its workflow URL and secret, the project's `[workflows.custom_values]`), then the project's
    `[workflows] files`, else the library's Payment Received workflow posting to the client."""
    control.control("PUT", "/workflows/custom-values", params={"locationId": location_id},
                    json={"values": workflows.custom_values(spec, values, client_url)})
    for document in workflows.documents(spec):
        made = control.control("POST", "/workflows", json={**document, "locationId": location_id})
        say(f"GHL workflow {made.get('name')!r} ({made.get('trigger', {}).get('type')}) loaded: it posts to the client")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mock_server.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="sandbox port (0: a free one)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--orders", type=int, default=60, help="orders seeded in the first location")
    parser.add_argument("--client", default=None,
                        help="command that starts the integration client (default: the project file's, else the "
                             "reference client)")
    parser.add_argument("--project", default=None,
                        help="project file (default: ./ghl-sandbox.toml, else [tool.ghl-sandbox] in ./pyproject.toml)")
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between generated actions")
    parser.add_argument("--fault-every", type=float, default=25.0, help="seconds between fault rules (0: none)")
    parser.add_argument("--reconcile-interval", type=float, default=5.0, help="the client's reconcile interval")
    parser.add_argument("--admin-token", default=None, help="protect the control plane and the dashboard")
    return parser.parse_args(argv)


def client_spec(args: argparse.Namespace) -> projects.ClientSpec:
    """The client to run: `--client` over the project file's over the reference client."""
    project = projects.load(projects.find(args.project))
    default = f"{shlex.quote(sys.executable)} {shlex.quote(str(REFERENCE_CLIENT))}"
    return project.client(args.client or project.command or default)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        spec = client_spec(args)
    except projects.ProjectError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _raise_interrupt)
    serve_args = ["--host", args.host, "--seed", str(args.seed), "--orders", str(args.orders),
                  "--webhook-retry-interval", "5"]
    if args.admin_token:
        serve_args += ["--admin-token", args.admin_token]
    sandbox = SandboxProcess(serve_args, port=args.port, name="the sandbox", on_output=echo_sandbox,
                             die_with_parent=True)
    client: ClientProcess | None = None
    work = Path(tempfile.mkdtemp(prefix="ghl-sandbox-demo-"))
    code = 0
    try:
        say("starting the sandbox …")
        url = sandbox.start().url
        with sandbox.client(args.admin_token) as control:
            location = control.location(0)
            keys = control.keys()
            app = control.apps()[0]
            state = work / "client-state"
            state.mkdir()
            port = free_port()
            values = template_values(url, location, keys, app, port, state, args.reconcile_interval, "demo")
            contract = client_env(url, location, keys, app, port, state, args.reconcile_interval)
            if spec.routes.workflow_webhook is not None:  # it takes GHL workflow deliveries: it gets their secret
                values["workflow.secret"] = contract["GHL_WORKFLOW_SECRET"] = workflows.new_secret()
            env = render_env(spec, values, contract)
            say(f"starting the client: {spec.command}")
            client = ClientProcess(spec.command, env, work / "client.log", port=port, cwd=spec.cwd,
                                   health=spec.routes.health, ready_timeout=spec.startup_timeout)
            client.start()
            if spec.routes.ghl_webhook is not None:
                control.webhook_target(client.url + spec.routes.ghl_webhook, locationId=location["locationId"])
            if spec.routes.workflow_webhook is not None:
                load_workflows(control, spec, values, client.url, location["locationId"])
            dashboard = url + "/" + (f"?token={args.admin_token}" if args.admin_token else "")
            assert sandbox.proc is not None and client.proc is not None
            print(f"\n  Dashboard   {dashboard}\n"
                  f"  API         {url}  (Authorization: Bearer {location['tokens'][0]['token']})\n"
                  f"  Location    {location['name']} ({location['locationId']})\n"
                  f"  Client      {client.url}  (log: {work / 'client.log'})\n"
                  f"  Processes   sandbox pid {sandbox.proc.pid}, client pid {client.proc.pid}\n"
                  f"  Ctrl-C stops the generator, the client and the sandbox.\n", flush=True)
            rankr_url = client.url + spec.routes.rankr_events if spec.routes.rankr_events else None
            generator = Generator(control, location["locationId"], rankr_url, random.Random(args.seed), args.fault_every)
            generator.load()
            while True:
                if not client.alive():
                    raise ClientError("the client exited", client.log_tail())
                try:
                    generator.step()
                except httpx.HTTPError as exc:
                    say(f"generator: {exc}")
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    except (ClientError, RuntimeError, httpx.HTTPError, projects.ProjectError, templates.TemplateError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        if isinstance(exc, ClientError) and exc.log_tail:
            print(exc.log_tail, file=sys.stderr)
        code = 1
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("stopping …")
        if client is not None and client.proc is not None:
            with contextlib.suppress(Exception):
                client.stop()
            stop_group(client.proc.pid)
        sandbox.stop()
        if sandbox.proc is not None:
            stop_group(sandbox.proc.pid)
        shutil.rmtree(work, ignore_errors=True)
        say("demo stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
