"""Simple assertions a scenario can state on GHL state, the destination view, the fake Rankr's own
records and the journal:
`{that: <what>, order?: $ref, equals?: value, min?: n, max?: n}`."""

from __future__ import annotations

from typing import Any

from scenarios.checks import Verdict
from scenarios.context import ScenarioContext, ViewProblems
from scenarios.destinations import NotExposed


def _measure(ctx: ScenarioContext, that: str, order: str | None) -> Any:
    if that.startswith("destination."):
        return len(ctx.records(that.split(".", 1)[1]))
    if that.startswith("rankr."):
        return len(ctx.rankr(that.split(".", 1)[1]))
    if that == "ghl.orders":
        return len(ctx.ghl_state()["orders"])
    if that == "ghl.fulfillments":
        return len(ctx.ghl_state()["fulfillments"])
    if that == "journal.requests":
        return len(ctx.client_requests())
    if that == "journal.status_429":
        return sum(1 for e in ctx.client_requests() if e["status"] == 429)
    if that.startswith("order."):
        state = ctx.ghl_state()
        if that == "order.fulfillments":
            return sum(1 for f in state["fulfillments"] if f["orderId"] == order)
        found = next((o for o in state["orders"] if o["_id"] == order), None)
        if found is None:
            raise KeyError(f"order {order} not found")
        return found[that.split(".", 1)[1]]
    raise KeyError(that)


def evaluate(ctx: ScenarioContext, assertion: dict[str, Any]) -> Verdict:
    that = assertion["that"]
    order = ctx.resolve(assertion.get("order"))
    try:
        value = _measure(ctx, that, order)
    except KeyError as exc:
        return Verdict.failed(f"{that}: {exc}", [])
    except NotExposed as exc:
        return Verdict.not_evaluated(str(exc))
    except ViewProblems as exc:
        return Verdict.error(f"the destination's {exc.kind} do not fit the mapping", exc.problems)
    problems = []
    if "equals" in assertion and value != assertion["equals"]:
        problems.append(f"{that} is {value!r}, expected {assertion['equals']!r}")
    if "min" in assertion and value < assertion["min"]:
        problems.append(f"{that} is {value!r}, expected at least {assertion['min']}")
    if "max" in assertion and value > assertion["max"]:
        problems.append(f"{that} is {value!r}, expected at most {assertion['max']}")
    subject = f"{that}{f' of {order}' if order else ''}"
    if problems:
        return Verdict.failed(f"{subject}: {problems[0]}", problems)
    return Verdict.passed(f"{subject} = {value!r}")
