"""Order routing steps (design §3): the location's Rankr providers (`providers:`, a setup key and a step)
and provider events sent to the client (`providerEvent:`). `simulate: order.create` takes `address:`
(scenarios/steps.py passes it on). Everything goes through the sandbox's control plane."""

from __future__ import annotations

from typing import Any

from scenarios.context import HarnessError, ScenarioContext
from scenarios.steps import step

PROVIDERS_PATH = "/rankr/providers"
PROVIDER_EVENTS = ("provider.unavailable", "provider.available")
# Steps and setup keys that make a scenario a routing scenario.
ROUTING_STEPS = frozenset({"providers", "providerEvent"})


def uses_routing(data: dict[str, Any]) -> bool:
    """A scenario document (or a generated program) that gives the location providers or sends provider
    events: the client must route its orders, and `routed_correctly` judges it."""
    if "providers" in (data.get("setup") or {}):
        return True
    return any(isinstance(s, dict) and ROUTING_STEPS & set(s) for s in data.get("steps") or [])


def put_providers(ctx: ScenarioContext, providers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace the location's provider set (`PUT /_sandbox/rankr/providers?locationId=`); the set as the
    sandbox now has it."""
    answer = ctx.control("PUT", PROVIDERS_PATH, params={"locationId": ctx.location_id},
                         json={"providers": providers})
    return provider_list(answer)


def provider_list(answer: Any) -> list[dict[str, Any]]:
    """The providers of a `GET|PUT /_sandbox/rankr/providers` answer (`providers` or `data`)."""
    if isinstance(answer, list):
        return [p for p in answer if isinstance(p, dict)]
    if isinstance(answer, dict):
        found = answer.get("providers", answer.get("data"))
        if isinstance(found, list):
            return [p for p in found if isinstance(p, dict)]
    raise HarnessError(f"GET /_sandbox{PROVIDERS_PATH}: unexpected answer {str(answer)[:200]}")


def setup_routing(ctx: ScenarioContext, setup: dict[str, Any]) -> None:
    """Before the client starts: the scenario's `setup.providers` (a reset left the location none)."""
    if "providers" in setup:
        put_providers(ctx, setup["providers"])


@step("providers")
def providers(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """`- providers: [...]`: replace the location's providers mid-scenario (`[]` removes them all)."""
    now = put_providers(ctx, spec["providers"])
    return f"providers -> {', '.join(str(p.get('providerId')) for p in now) or 'none'}"


@step("providerEvent")
def provider_event(ctx: ScenarioContext, spec: dict[str, Any]) -> str:
    """`- providerEvent: {providerId, eventType}`: Rankr flips the provider (`provider.unavailable` turns it
    off, `provider.available` on) and sends the signed event to the client's Rankr route."""
    event = spec["providerEvent"]
    if event["eventType"] not in PROVIDER_EVENTS:
        raise HarnessError(f"providerEvent: eventType must be one of {', '.join(PROVIDER_EVENTS)}")
    body = {"locationId": ctx.location_id, "url": ctx.client_url(ctx.routes.rankr_events, "Rankr event"),
            "eventType": event["eventType"], "providerId": event["providerId"]}
    # Not kept in ctx.rankr_sent (fulfilment requests, which no_duplicate_effects counts per order): the
    # provider's availability history in Rankr's truth is what routed_correctly reads.
    answer = ctx.sandbox.send_rankr_event(**body)
    return (f"rankr {event['eventType']} {answer.get('eventId')} for provider {event['providerId']} -> "
            f"{answer.get('status') or answer.get('error')}")
