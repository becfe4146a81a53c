"""Property-based runs: Hypothesis generates programs (sequences of payment actions, Rankr events,
client crashes, delivery chaos and API faults) from one seed. Each example runs on a fresh sandbox
state and a fresh client. On a failure Hypothesis shrinks the program, and the minimal failing one is
written as a scenario YAML file that replays it deterministically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from scenarios.loader import Scenario, parse
from scenarios.runner import Harness, ScenarioResult

FAULTS: dict[str, dict[str, Any]] = {
    "ghl_5xx_on_reads": {"match": {"method": "GET", "path": "/payments/*"}, "effect": {"status": 503}, "times": 2},
    "commit_then_drop_fulfillment": {"match": {"method": "POST", "path": "/payments/orders/{orderId}/fulfillments"},
                                     "effect": {"commitThenDrop": True}, "times": 1},
    "rankr_503": {"match": {"method": "*", "path": "/rankr/v1/*"}, "effect": {"status": 503}, "times": 2},
    "commit_then_drop_rankr_event": {"match": {"method": "POST", "path": "/rankr/v1/events"},
                                     "effect": {"commitThenDrop": True}, "times": 1},
}
CHAOS: dict[str, dict[str, Any]] = {
    "duplicates": {"duplicate": 1.0, "duplicateCount": 1},
    "reorder": {"reorderWindow": 3, "reorderHoldMs": 300},
    "drop_some": {"drop": 0.5},
}


ACUITY_OPS = ("acuity_schedule", "acuity_pay", "acuity_tip", "acuity_reschedule", "acuity_cancel", "acuity_refund",
              "acuity_order", "acuity_forged", "acuity_lose_deliveries")


def _acuity_choices(appointments: list[dict[str, bool]], webhooks: bool) -> list[str]:
    """The Acuity actions valid for the appointments so far (a canceled one cannot be paid or moved)."""
    live = [a for a in appointments if not a["canceled"]]
    choices = ["acuity_schedule", "acuity_order", "acuity_lose_deliveries"]
    if any(not a["paid"] for a in live):
        choices.append("acuity_pay")
    if live:
        choices += ["acuity_tip", "acuity_reschedule", "acuity_cancel"]
    if any(a["paid"] for a in appointments):
        choices.append("acuity_refund")
    if webhooks and appointments:
        choices.append("acuity_forged")
    return choices


def _acuity_step(draw: st.DrawFn, op: str, appointments: list[dict[str, bool]]) -> dict[str, Any]:
    """One Acuity step of a program, updating the model of its appointments."""
    if op == "acuity_schedule":
        pay = draw(st.sampled_from(["none", "full", "deposit"]))
        appointments.append({"paid": pay == "full", "canceled": False})
        return {"acuity": "schedule", "pay": pay, "as": f"a{len(appointments) - 1}"}
    if op == "acuity_order":
        return {"acuity": "order", "kind": draw(st.sampled_from(["package", "gift"]))}
    if op == "acuity_lose_deliveries":
        return {"acuityChaos": draw(st.sampled_from([{"drop": 1.0}, {"drop": 0.5}, None]))}
    if op == "acuity_forged":
        return {"acuityWebhook": draw(st.sampled_from(["forged", "wrong-key", "tampered", "reserialised"]))}
    if op == "acuity_pay":
        pick = [i for i, a in enumerate(appointments) if not a["canceled"] and not a["paid"]]
    elif op == "acuity_refund":
        pick = [i for i, a in enumerate(appointments) if a["paid"]]
    else:
        pick = [i for i, a in enumerate(appointments) if not a["canceled"]]
    i = draw(st.sampled_from(pick))
    step: dict[str, Any] = {"acuity": op.removeprefix("acuity_"), "appointment": f"$a{i}"}
    if op == "acuity_pay":
        appointments[i]["paid"] = True
    elif op == "acuity_tip":
        step.update({"acuity": "pay", "kind": "tip", "amount": 5})
    elif op == "acuity_cancel":
        appointments[i]["canceled"] = True
        step["noShow"] = draw(st.booleans())
    return step


# Order routing (design §3): service areas and order-form addresses drawn from small pools, so that
# providers and orders meet (and sometimes do not: nobody eligible).
ROUTING_AREAS: tuple[dict[str, Any], ...] = (
    {"country": "US", "state": "CA", "postalCodePrefixes": ["940", "941"]},
    {"country": "US", "state": "CA"},
    {"country": "US", "state": "NY", "postalCodePrefixes": ["100"]},
    {"country": "US", "state": "TX", "postalCodePrefixes": ["787", "750"]},
    {"country": "US", "postalCodePrefixes": ["9"]},
)
ROUTING_ADDRESSES: tuple[dict[str, str], ...] = (
    {"city": "San Francisco", "state": "CA", "postalCode": "94105", "country": "US"},
    {"city": "Sacramento", "state": "CA", "postalCode": "95814", "country": "US"},
    {"city": "New York", "state": "NY", "postalCode": "10001", "country": "US"},
    {"city": "Austin", "state": "TX", "postalCode": "78701", "country": "US"},
    {"city": "Portland", "state": "OR", "postalCode": "97205", "country": "US"},
    {"city": "Boston", "state": "MA", "postalCode": "02108", "country": "US"},
)


@st.composite
def provider_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One to three providers, each with one or two service areas from ROUTING_AREAS, a small daily
    capacity (0 included: always full) and, now and then, switched off."""
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        areas = draw(st.lists(st.sampled_from(range(len(ROUTING_AREAS))), min_size=1, max_size=2, unique=True))
        provider: dict[str, Any] = {"providerId": f"prov-{i + 1}", "name": f"Provider {i + 1}",
                                    "serviceAreas": [ROUTING_AREAS[a] for a in areas],
                                    "dailyCapacity": draw(st.integers(min_value=0, max_value=3))}
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            provider["available"] = False
        out.append(provider)
    return out


def addresses() -> st.SearchStrategy[dict[str, str]]:
    """An order-form address from ROUTING_ADDRESSES (some are in no provider's area)."""
    return st.sampled_from(ROUTING_ADDRESSES)


def _routing_draws(draw: st.DrawFn, steps: list[dict[str, Any]], setup: dict[str, Any]) -> bool:
    """Maybe give the program providers (setup), an address for every order it creates, and provider
    events between its steps; True when it did. Drawn after everything else, so a seed draws the rest of
    its program as it did before routing existed."""
    if not draw(st.booleans()):
        return False
    providers = draw(provider_sets())
    setup["providers"] = providers
    for s in steps:
        if s.get("simulate") == "order.create":
            s["address"] = dict(draw(addresses()))
    ids = [p["providerId"] for p in providers]
    events = [{"providerEvent": {"providerId": draw(st.sampled_from(ids)),
                                 "eventType": draw(st.sampled_from(["provider.unavailable", "provider.available"]))}}
              for _ in range(draw(st.integers(min_value=0, max_value=2)))]
    if events:
        positions = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(steps)), min_size=len(events),
                                         max_size=len(events))))
        for offset, (at, event) in enumerate(zip(positions, events, strict=True)):
            steps.insert(at + offset, event)
    return True


@st.composite
def programs(draw: st.DrawFn, rankr_events: bool = True, webhooks: bool = True, acuity: bool = False,
             acuity_webhooks: bool = True, routing: bool = False) -> dict[str, Any]:
    """A scenario document: setup (chaos, faults) and steps that are always valid for the state they
    meet (the generator keeps a small model of each order and appointment). Steps the client has no
    route for (Rankr requests, forged webhooks) are not generated; Acuity actions only when `acuity`
    (the client takes Acuity webhooks and the sandbox has Acuity), and then the program declares it;
    routing (providers, order addresses, provider events) only when `routing` (the client takes Rankr
    events and the sandbox's Rankr has providers)."""
    chaos = draw(st.one_of(st.none(), st.sampled_from(sorted(CHAOS))))
    faults = draw(st.lists(st.sampled_from(sorted(FAULTS)), max_size=2, unique=True))
    orders: list[dict[str, bool]] = []
    appointments: list[dict[str, bool]] = []
    uses_acuity = False
    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        live = [i for i, o in enumerate(orders) if not o["cancelled"]]
        choices = ["create"]
        if any(not orders[i]["paid"] for i in live):
            choices += ["pay", "pay_part"]
        if any(orders[i]["paid"] and not orders[i]["refunded"] for i in live):
            choices.append("refund")
        if rankr_events and any(not orders[i]["fulfilled"] for i in live):
            choices.append("rankr_fulfil")
        if any(not orders[i]["paid"] for i in live):
            choices.append("cancel")
        choices += (["crash", "forged"] if webhooks else ["crash"]) if orders else []
        op = draw(st.sampled_from(choices))
        if op == "create":
            steps.append({"simulate": "order.create", "as": f"o{len(orders)}"})
            orders.append({"paid": False, "refunded": False, "fulfilled": False, "cancelled": False, "part": False})
            continue
        if op in ("pay", "pay_part", "cancel"):
            i = draw(st.sampled_from([i for i in live if not orders[i]["paid"]]))
        elif op == "refund":
            i = draw(st.sampled_from([i for i in live if orders[i]["paid"] and not orders[i]["refunded"]]))
        elif op == "rankr_fulfil":
            i = draw(st.sampled_from([i for i in live if not orders[i]["fulfilled"]]))
        else:
            i = draw(st.sampled_from(range(len(orders))))
        ref = f"$o{i}"
        if op == "pay":
            steps.append({"simulate": "order.pay", "order": ref})
            orders[i]["paid"] = True
        elif op == "pay_part":
            if orders[i]["part"]:
                steps.append({"simulate": "order.pay", "order": ref})
                orders[i]["paid"] = True
            else:
                steps.append({"simulate": "order.pay", "order": ref, "amount": 1})
                orders[i]["part"] = True
        elif op == "refund":
            steps.append({"simulate": "order.refund", "order": ref})
            orders[i]["refunded"] = True
        elif op == "cancel":
            steps.append({"simulate": "order.cancel", "order": ref})
            orders[i]["cancelled"] = True
        elif op == "rankr_fulfil":
            repeat = draw(st.integers(min_value=1, max_value=3))
            step: dict[str, Any] = {"rankr": "fulfillment.requested", "order": ref, "as": f"f{len(steps)}"}
            steps.append(step)
            if repeat > 1:  # the same Rankr event again (same eventId): it must fulfil once
                step["repeat"] = repeat
            orders[i]["fulfilled"] = True
        elif op == "crash":
            steps.append({"client": "crash"})
        elif op == "forged":
            steps.append({"webhook": draw(st.sampled_from(["forged", "tampered", "replayed"])), "order": ref})
    if acuity:
        # Drawn after the GHL steps (which one seed thus draws as it did before Acuity existed), then
        # interleaved with them in their own order (an appointment is booked before it is used).
        acuity_steps = []
        for _ in range(draw(st.integers(min_value=0, max_value=4))):
            op = draw(st.sampled_from(_acuity_choices(appointments, acuity_webhooks)))
            acuity_steps.append(_acuity_step(draw, op, appointments))
        if acuity_steps:
            uses_acuity = True
            positions = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(steps)),
                                             min_size=len(acuity_steps), max_size=len(acuity_steps))))
            for offset, (at, acuity_step) in enumerate(zip(positions, acuity_steps, strict=True)):
                steps.insert(at + offset, acuity_step)
    setup: dict[str, Any] = {"orders": 3, "reconcileInterval": 0.5, "deadline": 12}
    if chaos:
        setup["chaos"] = CHAOS[chaos]
    if faults:
        setup["faults"] = [FAULTS[f] for f in faults]
    doc: dict[str, Any] = {"name": "property example", "description": "generated by ghl-sandbox check --examples"}
    if uses_acuity:
        doc["services"] = ["acuity"]
        setup["deadline"] = 20
    if routing and _routing_draws(draw, steps, setup):
        setup["deadline"] = max(setup["deadline"], 20)
    return {**doc, "setup": setup, "steps": steps}


def serves_routing(harness: Harness) -> bool:
    """Whether the sandbox's Rankr has providers (`GET /_sandbox/rankr/providers` answers)."""
    try:
        harness.sandbox.control("GET", "/rankr/providers", params={"locationId": harness.sandbox.location(0)["locationId"]})
    except Exception:  # noqa: BLE001 - an older sandbox (404), or none at all: no routing in the programs
        return False
    return True


class _ClientDown(BaseException):
    """An example could not run at all (the client never became healthy): stop at once, since shrinking
    a program cannot help. A BaseException, so that Hypothesis does not shrink it."""


@dataclass
class PropertyOutcome:
    examples_run: int
    failure: ScenarioResult | None
    replay_file: str
    seconds: float
    statuses: dict[str, set[str]] = field(default_factory=dict)  # check -> the statuses it had across examples
    evaluated: dict[str, int] = field(default_factory=dict)  # check -> how many examples ran it (Acuity: some)


# `check --jobs`: runs programs on the jobs (named "property example <n>" from 1), handing out nothing
# more after one that failed; None for a program not run.
Parallel = Callable[[list[dict[str, Any]], Callable[[str], None]], list[ScenarioResult | None]]
HYPOTHESIS_SETTINGS: dict[str, Any] = {"deadline": None, "database": None, "print_blob": False,
                                       "suppress_health_check": list(HealthCheck)}


def draw_examples(strategy: st.SearchStrategy[dict[str, Any]], examples: int, seed: int) -> list[dict[str, Any]]:
    """The programs a serial run generates, in its order, as long as every one passes: Hypothesis's
    generation depends on the seed and the draws, not on what the test did with a passing example."""
    docs: list[dict[str, Any]] = []

    @settings(max_examples=examples, phases=[Phase.generate], **HYPOTHESIS_SETTINGS)
    @hypothesis_seed(seed)
    @given(strategy)
    def record(doc: dict[str, Any]) -> None:
        docs.append(doc)

    record()
    return docs


def run_property(harness: Harness, examples: int, seed: int, save_dir: Path | None,
                 progress: Callable[[str], None] = lambda _m: None, shrink_budget_s: float = 120.0,
                 parallel: Parallel | None = None) -> PropertyOutcome:
    """Run `examples` generated programs; shrink the first failing one. With `parallel`, the programs are
    drawn first and run on the jobs up to the first failure; then the serial run below goes through
    them again taking those results (it runs only what follows: the shrinking), so its verdict, counts
    and saved program are the serial run's."""
    started = time.monotonic()
    strategy = programs(rankr_events=harness.spec.routes.rankr_events is not None,
                        webhooks=harness.spec.routes.ghl_webhook is not None,
                        acuity=harness.spec.routes.acuity_webhook is not None and harness.has_acuity(),
                        routing=harness.spec.routes.rankr_events is not None and serves_routing(harness))
    ahead: list[tuple[dict[str, Any], ScenarioResult]] = []  # run already, in the serial order
    if parallel is not None and examples > 1:
        docs = draw_examples(strategy, examples, seed)
        for doc, done in zip(docs, parallel(docs, progress), strict=True):
            if done is None:
                break
            ahead.append((doc, done))
            if not done.ok:
                break
    runs = 0
    first_failure_at: float | None = None
    last_failure: tuple[dict[str, Any], ScenarioResult] | None = None
    statuses: dict[str, set[str]] = {}
    evaluated: dict[str, int] = {}

    def run_one(doc: dict[str, Any]) -> None:
        nonlocal runs, first_failure_at, last_failure
        if first_failure_at is not None and time.monotonic() - first_failure_at > shrink_budget_s:
            return  # shrinking budget spent: keep the smallest failure found so far
        runs += 1
        if runs <= len(ahead) and ahead[runs - 1][0] == doc:
            result = ahead[runs - 1][1]
        else:
            ahead.clear()  # (a program other than the one drawn ahead: run everything from here)
            named = {**doc, "name": f"property example {runs}"}
            result = harness.run(Scenario(name=named["name"], path="<generated>", data=named))
        for o in result.outcomes:
            statuses.setdefault(o.check, set()).add(o.status)
            evaluated[o.check] = evaluated.get(o.check, 0) + 1
        if result.status == "error":
            last_failure = (doc, result)
            raise _ClientDown
        progress(f"example {runs}: {'ok' if result.ok else 'FAILED'} ({len(doc['steps'])} steps, {result.seconds:.1f} s)")
        if not result.ok:
            if first_failure_at is None:
                first_failure_at = time.monotonic()
            last_failure = (doc, result)
            raise AssertionError(f"{result.name} failed")

    @settings(max_examples=examples, phases=[Phase.generate, Phase.shrink], **HYPOTHESIS_SETTINGS)
    @hypothesis_seed(seed)
    @given(strategy)
    def property_test(doc: dict[str, Any]) -> None:
        run_one(doc)

    replay = ""
    failure: ScenarioResult | None = None
    aborted = False
    try:
        property_test()
    except _ClientDown:
        aborted = True
    except AssertionError:
        pass
    except Exception as exc:  # Hypothesis wraps multiple distinct failures
        if last_failure is None:
            raise exc
    if last_failure is not None:
        doc, failure = last_failure
        failure.name = "property run (could not run)" if aborted else "property run (minimal failing program)"
        if save_dir is not None and not aborted:
            replay = str(save_failure(save_dir, doc, seed))
            failure.replay_file = replay
    return PropertyOutcome(runs, failure, replay, round(time.monotonic() - started, 2), statuses,
                           evaluated)


def property_result(harness: Harness, outcome: PropertyOutcome) -> ScenarioResult:
    """The property run as one row of the report, whether it passed or failed."""
    if outcome.failure is not None:
        outcome.failure.is_property = True
        return outcome.failure
    from scenarios.checks import REGISTRY
    from scenarios.runner import CheckOutcome

    n = outcome.examples_run
    result = ScenarioResult(f"property run ({n} example{'' if n == 1 else 's'})", "<property>", seconds=outcome.seconds, is_property=True)
    for check, seen in outcome.statuses.items():
        kind = REGISTRY[check].kind if check in REGISTRY else "assertion"
        if seen == {"not_evaluated"}:
            result.outcomes.append(CheckOutcome(check, kind, False, "not evaluated in any example",
                                                status="not_evaluated"))
        else:
            k = outcome.evaluated.get(check, n)
            where = f"all {n} examples" if k >= n else f"the {k} of {n} examples that use it"
            result.outcomes.append(CheckOutcome(check, kind, True, f"held in {where}"))
    return result


def save_failure(save_dir: Path, doc: dict[str, Any], seed: int) -> Path:
    save_dir.mkdir(parents=True, exist_ok=True)
    out = {"name": f"minimal failing program (seed {seed})",
           "description": "Shrunk by Hypothesis; replays deterministically with the same --seed.",
           **({"services": doc["services"]} if doc.get("services") else {}),
           "setup": {**doc.get("setup", {}), "seed": seed}, "steps": doc["steps"]}
    path = save_dir / f"property-failure-seed-{seed}.yaml"
    text = yaml.safe_dump(out, sort_keys=False)
    parse(text, str(path))  # what we write must load
    path.write_text(text)
    return path
