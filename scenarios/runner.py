"""Runs scenarios against a running sandbox and a client.

For each scenario: reset the sandbox to a seeded state sized by the scenario, install the scenario's
fault rules, start the destination adapter and a fresh client with its environment (the contract's
and the project file's own names), register it as the webhook target, run the steps (checking safety
after each), then poll the eventual checks and assertions until they hold or the deadline passes.
Everything goes through the sandbox's public HTTP control plane and APIs.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scenarios import steps_workflows as workflows
from scenarios import templates
from scenarios.assertions import evaluate as evaluate_assertion
from scenarios.checks import ACUITY_DEFAULT_CHECKS, DEFAULT_CHECKS, REGISTRY, Verdict
from scenarios.checks_routing import ROUTING_CHECKS
from scenarios.checks_workflows import WORKFLOW_DEFAULT_CHECKS
from scenarios.client import ClientError, ClientProcess, free_port
from scenarios.context import ACUITY, HarnessError, HarnessSandbox, NotApplicable, ScenarioContext
from scenarios.destinations import Binding, Destination, DestinationError
from scenarios.destinations.rankr import RankrDestination
from scenarios.loader import ACUITY_STEPS, Scenario
from scenarios.project import ClientSpec, Table
from scenarios.steps import acuity_burst, run_step
from scenarios.steps_routing import setup_routing, uses_routing

DEFAULT_DEADLINE = 20.0
DEFAULT_RECONCILE = 1.0
DEFAULT_ORDERS = 8
GRACE_S = 0.35  # after the eventual checks hold, before the last safety evaluation
SETTLED_GRACE_S = 2.0  # after deliveries settle, for the eventual checks to hold again
HARNESS_RETRY_INTERVAL = 0.5  # GHL retries 429s ~10 minutes apart; the harness compresses that
RATE_INTERVALS = {"default": 10_000, "sandbox-account": 10_000, "off": 10_000}
# Acuity: the static webhooks the runner sets for a scenario that uses it, and the rate limit it restores.
ACUITY_EVENTS = ("scheduled", "rescheduled", "canceled", "changed", "order.completed")
ACUITY_RATE_LIMIT = {"enabled": True, "perSecond": 10, "concurrent": 20, "edge403": False}


@dataclass
class CheckOutcome:
    check: str
    kind: str
    ok: bool
    summary: str
    evidence: list[str] = field(default_factory=list)
    status: str = ""  # pass | fail | not_evaluated | error (derived from ok when empty)

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "pass" if self.ok else "fail"

    @classmethod
    def of(cls, check: str, kind: str, verdict: Verdict) -> CheckOutcome:
        return cls(check, kind, verdict.ok, verdict.summary, verdict.evidence, verdict.status or "")

    @property
    def failing(self) -> bool:
        return self.status in ("fail", "error")


@dataclass
class ScenarioResult:
    name: str
    path: str
    outcomes: list[CheckOutcome] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    error: str = ""
    client_log: str = ""
    seconds: float = 0.0
    client_seconds: float = 0.0  # of `seconds`, starting and stopping the client process(es)
    replay_file: str = ""
    skipped: str = ""  # why the scenario does not apply to this client
    is_property: bool = False  # the property-based run's row

    @property
    def ok(self) -> bool:
        return not self.error and not any(o.failing for o in self.outcomes)

    @property
    def status(self) -> str:
        """pass | fail | error (the client or the harness could not run it) | skipped."""
        if self.skipped:
            return "skipped"
        if self.error:
            return "error"
        return "pass" if self.ok else "fail"


def template_values(sandbox_url: str, location: dict[str, Any], keys: dict[str, Any], app: dict[str, Any],
                    port: int, state_dir: Path, reconcile_interval: float = DEFAULT_RECONCILE,
                    scenario_id: str = "") -> dict[str, str]:
    """The values of contracts/PROJECT_FILE.md's templates, from the same control-plane answers."""
    return {
        "ghl.base_url": sandbox_url, "ghl.access_token": location["tokens"][0]["token"],
        "ghl.location_id": location["locationId"], "ghl.api_version": "2021-07-28", "ghl.app_id": app["appId"],
        "ghl.client_id": app["clientId"], "ghl.client_secret": app["clientSecret"],
        "ghl.webhook_public_key": keys["ed25519PublicKey"], "ghl.webhook_rsa_public_key": keys["rsaPublicKey"],
        "rankr.base_url": sandbox_url + "/rankr", "rankr.api_key": location["rankr"]["apiKey"],
        "rankr.webhook_secret": location["rankr"]["webhookSecret"], "client.port": str(port),
        "client.url": f"http://127.0.0.1:{port}", "client.state_dir": str(state_dir),
        "client.reconcile_interval": f"{reconcile_interval:g}", "scenario.id": scenario_id,
    }


def acuity_values(sandbox_url: str, account: dict[str, Any]) -> dict[str, str]:
    """The `acuity.*` template values, from the `acuity` object of a `GET /locations` item (design §1:
    `baseUrl` is relative to the sandbox)."""
    base = str(account.get("baseUrl") or "/acuity/api/v1")
    return {"acuity.base_url": base if base.startswith("http") else sandbox_url + base,
            "acuity.user_id": str(account["userId"]), "acuity.api_key": str(account["apiKey"])}


def acuity_env(values: dict[str, str]) -> dict[str, str]:
    """contracts/CLIENT_CONTRACT.md's Acuity variables (passed only in scenarios that use Acuity)."""
    return {"ACUITY_API_BASE_URL": values["acuity.base_url"], "ACUITY_USER_ID": values["acuity.user_id"],
            "ACUITY_API_KEY": values["acuity.api_key"]}


def render_env(spec: ClientSpec, values: dict[str, str], contract: dict[str, str]) -> dict[str, str]:
    """The client's environment: the contract's variables (unless switched off) and the project's own names.
    A name whose template uses `acuity.*` (`workflow.*`) is left out of scenarios that do not use Acuity
    (GHL workflows): there are no values."""
    env = dict(contract) if spec.contract_env else {}
    for name, value in spec.env.items():
        if any(n.startswith(("acuity.", "workflow.")) and n not in values for n in templates.names(value)):
            continue
        env[name] = templates.render(value, values)
    return env


def uses_acuity(scenario: Scenario) -> bool:
    """A scenario uses Acuity when it declares it: top-level `services: [acuity]` (the loader refuses
    Acuity steps or checks in a scenario that does not)."""
    return ACUITY in scenario.data.get("services", [])


def uses_workflows(scenario: Scenario) -> bool:
    """A scenario uses GHL workflows when it declares `services: [workflows]`."""
    return workflows.WORKFLOWS in scenario.data.get("services", [])


def client_env(sandbox_url: str, location: dict[str, Any], keys: dict[str, Any], app: dict[str, Any], port: int,
               state_dir: Path, reconcile_interval: float = DEFAULT_RECONCILE) -> dict[str, str]:
    """The environment of contracts/CLIENT_CONTRACT.md §1, from the control plane's `GET /locations`
    item, `GET /keys` and `GET /apps` item (also used by `make demo`, mock_server/demo.py)."""
    return {
        "GHL_API_BASE_URL": sandbox_url, "GHL_ACCESS_TOKEN": location["tokens"][0]["token"],
        "GHL_LOCATION_ID": location["locationId"], "GHL_API_VERSION": "2021-07-28", "GHL_APP_ID": app["appId"],
        "GHL_WEBHOOK_PUBLIC_KEY": keys["ed25519PublicKey"], "GHL_WEBHOOK_RSA_PUBLIC_KEY": keys["rsaPublicKey"],
        "RANKR_API_BASE_URL": sandbox_url + "/rankr", "RANKR_API_KEY": location["rankr"]["apiKey"],
        "RANKR_WEBHOOK_SECRET": location["rankr"]["webhookSecret"], "CLIENT_PORT": str(port),
        "CLIENT_STATE_DIR": str(state_dir), "CLIENT_RECONCILE_INTERVAL": str(reconcile_interval),
    }


def needs(scenario: Scenario, spec: ClientSpec) -> str:
    """Why the scenario cannot run against this client (a route it lacks), or ""."""
    kinds = {k for step in scenario.steps for k in step}
    if spec.workflows.only and not uses_workflows(scenario):
        return "workflows.only: the scenario uses no GHL workflows"
    if "rankr" in kinds and spec.routes.rankr_events is None:
        return "the client takes no Rankr fulfilment requests (client.routes.rankr_events is empty)"
    if uses_routing(scenario.data) and spec.routes.rankr_events is None:
        return ("the client takes no Rankr events, so it routes no orders (client.routes.rankr_events is empty; "
                "routing scenarios send provider events there)")
    if "webhook" in kinds and spec.routes.ghl_webhook is None:
        return "the client takes no GHL webhooks (client.routes.ghl_webhook is empty)"
    if (uses_acuity(scenario) or kinds & ACUITY_STEPS) and spec.routes.acuity_webhook is None:
        return "the client takes no Acuity webhooks (client.routes.acuity_webhook is empty)"
    if uses_workflows(scenario) and spec.routes.workflow_webhook is None:
        return "the client takes no GHL workflow webhooks (client.routes.workflow_webhook is empty)"
    return ""


class Harness:
    def __init__(self, sandbox_url: str, client: ClientSpec | str, seed: int = 42,
                 only_checks: list[str] | None = None, work_dir: Path | None = None, admin_token: str | None = None,
                 progress: Callable[[str], None] | None = None, destination: Destination | None = None,
                 numbers: Iterator[int] | None = None) -> None:
        self.sandbox_url = sandbox_url.rstrip("/")
        self.spec = client if isinstance(client, ClientSpec) else ClientSpec(command=client)
        self.client_command = self.spec.command
        self.destination = destination or RankrDestination(Table({}, "destination"))
        self.seed = seed
        self.only_checks = only_checks
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="ghl-sandbox-check-"))
        self.sandbox = HarnessSandbox(self.sandbox_url, admin_token=admin_token, timeout=60.0)
        self.progress = progress or (lambda _msg: None)
        self._counter = 0
        # Harnesses that share a work directory (`check --jobs`) share one numbering: each scenario's
        # state directory, log and `scenario.id` stay unique.
        self._numbers = numbers if numbers is not None else itertools.count(1)
        self._workflows_loaded = False  # workflows survive a reset: the next scenario deletes them

    def close(self) -> None:
        self.sandbox.close()

    def has_acuity(self) -> bool:
        """Whether the sandbox runs the Acuity service (its locations carry an `acuity` account)."""
        try:
            return isinstance(self.sandbox.location(0).get(ACUITY), dict)
        except (HarnessError, httpx.HTTPError, IndexError):
            return False

    def checks_for(self, scenario: Scenario) -> list[str]:
        defaults = [*DEFAULT_CHECKS, *(ACUITY_DEFAULT_CHECKS if uses_acuity(scenario) else ()),
                    *(WORKFLOW_DEFAULT_CHECKS if uses_workflows(scenario) else ()),
                    *(ROUTING_CHECKS if uses_routing(scenario.data) else ())]
        wanted = scenario.expect.get("checks") or scenario.setup.get("checks") or defaults
        if self.only_checks:
            wanted = [c for c in wanted if c in self.only_checks]
        return wanted

    # ---- one scenario ---------------------------------------------------------------------------

    def run(self, scenario: Scenario) -> ScenarioResult:
        started = time.monotonic()
        result = ScenarioResult(scenario.name, scenario.path)
        result.skipped = needs(scenario, self.spec)
        if result.skipped:
            return result
        checks = self.checks_for(scenario)
        ctx: ScenarioContext | None = None
        try:
            ctx = self._setup(scenario)
            for spec in scenario.steps:
                result.steps.append(run_step(ctx, spec))
                self._safety(ctx, checks, result)
            self._settle(ctx, scenario, checks, result)
        except ClientError as exc:
            result.error = str(exc)
            result.client_log = exc.log_tail
        except NotApplicable as exc:
            result.skipped = str(exc)
        except (HarnessError, httpx.HTTPError, templates.TemplateError) as exc:
            result.error = f"harness: {exc}"
        except DestinationError as exc:
            result.error = f"destination: {exc}"
        finally:
            if ctx is not None:
                problem = self._stop(ctx)
                result.client_seconds = round(ctx.client.lifecycle_s, 2)
                result.error = result.error or problem
                if not result.ok and not result.client_log:
                    result.client_log = ctx.client.log_tail()
        if result.error:
            result.outcomes = []  # the scenario did not run to its verdict: an ERROR, not a column of FAILs
        result.seconds = round(time.monotonic() - started, 2)
        return result

    def _stop(self, ctx: ScenarioContext) -> str:
        """Stop the client and the destination adapter; why the client could not be stopped, or ""."""
        try:
            ctx.client.stop()
        except Exception as exc:  # noqa: BLE001 - never let a stuck client hide the verdict
            return f"could not stop the client: {exc}"
        finally:
            self.destination.stop()
        return ""

    def _setup(self, scenario: Scenario) -> ScenarioContext:
        setup = scenario.setup
        sandbox = self.sandbox
        profile = setup.get("rateLimit", "default")
        sandbox.set_rate_limit(profile)
        sandbox.set_webhook_policy(name=setup.get("webhookPolicy", "ghl"), retryIntervalS=HARNESS_RETRY_INTERVAL,
                                   maxRetries=6, timeoutS=5)
        reset_at = time.time()
        sandbox.reset(seed=int(setup.get("seed", self.seed)), orders=int(setup.get("orders", DEFAULT_ORDERS)))
        if uses_workflows(scenario) and not workflows.has_workflows(sandbox):
            raise NotApplicable("the sandbox has no workflows service (GET /_sandbox/workflows)")
        if self._workflows_loaded:  # before the targets: a workflow's actions are webhook targets
            workflows.clear(sandbox)
            self._workflows_loaded = False
        for target in sandbox.targets():
            sandbox.delete_target(target["id"])
        sandbox.clear_journal()
        locations = sandbox.locations()
        location = locations[0]
        acuity = location.get(ACUITY) if uses_acuity(scenario) else None
        if uses_acuity(scenario) and not isinstance(acuity, dict):
            raise NotApplicable("the sandbox has no Acuity service (no `acuity` account in GET /_sandbox/locations)")
        token = location["tokens"][0]
        keys = sandbox.keys()
        app = sandbox.apps()[0]
        self._counter = next(self._numbers)
        state_dir = self.work_dir / f"{self._counter:03d}-client-state"
        if state_dir.exists():
            shutil.rmtree(state_dir)
        state_dir.mkdir(parents=True)
        port = free_port()
        reconcile = float(setup.get("reconcileInterval", DEFAULT_RECONCILE))
        values = template_values(self.sandbox_url, location, keys, app, port, state_dir, reconcile,
                                 scenario_id=f"ghls_{os.getpid()}_{self._counter:03d}")
        contract = client_env(self.sandbox_url, location, keys, app, port, state_dir, reconcile)
        if acuity is not None:
            extra = acuity_values(self.sandbox_url, acuity)
            values.update(extra)
            contract.update(acuity_env(extra))
        if uses_workflows(scenario):
            values["workflow.secret"] = contract["GHL_WORKFLOW_SECRET"] = workflows.new_secret()
        env = render_env(self.spec, values, contract)
        client = ClientProcess(self.client_command, env, self.work_dir / f"{self._counter:03d}-client.log", port=port,
                               cwd=self.spec.cwd, health=self.spec.routes.health,
                               ready_timeout=self.spec.startup_timeout)
        ctx = ScenarioContext(sandbox_url=self.sandbox_url, sandbox=sandbox, location_id=location["locationId"],
                              token=token["token"], token_id=token["tokenId"], rankr_key=location["rankr"]["apiKey"],
                              rankr_secret=location["rankr"]["webhookSecret"], client=client,
                              deadline_s=float(setup.get("deadline", DEFAULT_DEADLINE)),
                              destination=self.destination, routes=self.spec.routes,
                              rate_interval_ms=RATE_INTERVALS.get(profile, 10_000), started_at=reset_at)
        sandbox.forget_looks(ctx.read_now)  # a round's journal read is foreseen from where it last read
        ctx.baseline_fulfillments = {f["_id"] for f in ctx.ghl_state()["fulfillments"]}
        if acuity is not None:
            ctx.acuity = acuity
            ctx.other_acuity_keys = [str(loc[ACUITY]["apiKey"]) for loc in locations[1:]
                                     if isinstance(loc.get(ACUITY), dict) and loc[ACUITY].get("apiKey")]
        try:
            # Fault rules are in place before the client starts: a rule meant for its first call must meet it.
            for rule in setup.get("faults", []):
                sandbox.add_fault(rule)
            setup_routing(ctx, setup)  # the location's Rankr providers, before the client lists them
            if acuity is not None:  # Acuity's rate limit as the scenario asks (on, 10 per second, by default)
                sandbox.control("PUT", "/acuity/ratelimit", json={**ACUITY_RATE_LIMIT, **setup.get("acuityRateLimit", {})})
                if "acuityBurst" in setup:  # bookings that exist before the client starts (no webhooks yet)
                    acuity_burst(ctx, {"acuityBurst": setup["acuityBurst"]})
            self.destination.start(Binding(values=values, env={**os.environ, **env}, cwd=self.spec.cwd,
                                           location_id=location["locationId"], control=sandbox.control))
            client.start()
            if self.spec.routes.ghl_webhook is not None:
                target = sandbox.webhook_target(client.url + self.spec.routes.ghl_webhook,
                                                locationId=location["locationId"], chaos=setup.get("chaos"))
                ctx.target_id = target["id"]
            if acuity is not None:
                self._setup_acuity(ctx, setup)
            if uses_workflows(scenario):
                self._workflows_loaded = True
                workflows.setup(ctx, self.spec, setup, values)
        except BaseException:
            # run() only stops what _setup returned: a client started before a failure here (the
            # sandbox refusing the webhook target, say) would otherwise outlive the scenario.
            self._stop(ctx)
            raise
        return ctx

    def _setup_acuity(self, ctx: ScenarioContext, setup: dict[str, Any]) -> None:
        """The account's static webhooks: all five events to the client's Acuity route, short actions
        (so `changed` duplicates arrive), and the scenario's chaos on its targets."""
        assert self.spec.routes.acuity_webhook is not None  # needs() skipped the scenario otherwise
        url = ctx.client.url + self.spec.routes.acuity_webhook
        self.sandbox.control("PUT", "/acuity/webhooks/static", json={
            "locationId": ctx.location_id, "urls": dict.fromkeys(ACUITY_EVENTS, url), "actionStyle": "short"})
        if setup.get("acuityChaos"):
            for target in ctx.acuity_targets():
                self.sandbox.control("PUT", f"/webhooks/targets/{target['id']}/chaos", json=setup["acuityChaos"])

    def _safety(self, ctx: ScenarioContext, checks: list[str], result: ScenarioResult) -> None:
        with ctx.sandbox.one_look("safety"):
            for name in checks:
                check = REGISTRY[name]
                if check.kind != "safety" or any(o.check == name and o.failing for o in result.outcomes):
                    continue
                verdict = check.fn(ctx)
                ctx.last_verdicts[name] = verdict
                if verdict.status in ("fail", "error"):
                    result.outcomes.append(CheckOutcome.of(name, check.kind, verdict))

    def _poll(self, ctx: ScenarioContext, eventual: list[str], assertions: list[dict[str, Any]], checks: list[str],
              result: ScenarioResult, deadline: float) -> tuple[dict[str, Verdict], list[Verdict]]:
        """Evaluate the eventual checks and assertions until they hold or the deadline passes."""
        while True:
            round_started = time.monotonic()
            with ctx.sandbox.one_look("eventual"):
                verdicts = {c: REGISTRY[c].fn(ctx) for c in eventual}
                assertion_verdicts = [evaluate_assertion(ctx, a) for a in assertions]
            if all(v.settled for v in verdicts.values()) and all(v.settled for v in assertion_verdicts):
                break
            if time.monotonic() >= deadline:
                break
            if result.outcomes:  # a safety check already failed: the verdict is in, report what holds now
                break
            self._safety(ctx, checks, result)
            # Poll often, but never spend more than half the time inspecting (big locations are slow to read).
            time.sleep(max(0.1, time.monotonic() - round_started))
        return verdicts, assertion_verdicts

    def _settle(self, ctx: ScenarioContext, scenario: Scenario, checks: list[str], result: ScenarioResult) -> None:
        deadline = time.monotonic() + ctx.deadline_s
        eventual = [c for c in checks if REGISTRY[c].kind == "eventual"]
        assertions = scenario.expect.get("assert", [])
        verdicts, assertion_verdicts = self._poll(ctx, eventual, assertions, checks, result, deadline)
        # Let in-flight work land (a retry after a dropped answer comes a backoff later), then check
        # safety once more: a late duplicate counts too.
        self.sandbox.wait_settled(5)
        time.sleep(GRACE_S)
        self._safety(ctx, checks, result)
        if not result.outcomes:
            # And the eventual checks once more: a webhook acknowledged after they first held must be
            # recorded too (a short grace for what is still being written).
            verdicts, assertion_verdicts = self._poll(ctx, eventual, assertions, checks, result,
                                                      max(deadline, time.monotonic() + SETTLED_GRACE_S))
        failed_safety = {o.check for o in result.outcomes}
        final: list[CheckOutcome] = []
        for name in checks:
            check = REGISTRY[name]
            if name in verdicts:
                final.append(CheckOutcome.of(name, check.kind, verdicts[name]))
            elif name in failed_safety:
                final.append(next(o for o in result.outcomes if o.check == name))
            else:
                # Safety held at every evaluation (or could not be evaluated at all).
                last = ctx.last_verdicts.get(name)
                held = (last if last is not None and last.status == "not_evaluated"
                        else Verdict.passed("held throughout" + (f": {last.summary}" if last and last.summary else "")))
                final.append(CheckOutcome.of(name, check.kind, held))
        for assertion, v in zip(assertions, assertion_verdicts, strict=True):
            final.append(CheckOutcome.of(f"assert {assertion['that']}", "assertion", v))
        result.outcomes = final

