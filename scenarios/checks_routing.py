"""`routed_correctly` (design §3): when the account has Rankr providers, every fully paid, uncancelled order
of the location is assigned to exactly one eligible provider (its service areas cover the order's address;
it was available with capacity left, which Rankr enforces with 409s), a provider that went unavailable
keeps none of them while another provider could take them, an order nobody can take has a routing alert,
a cancelled order has no assignment, and no provider is over-booked.

Everything is read over HTTP: GHL's orders through the control plane (`GET /_sandbox/locations/{id}/state`,
the order-form addresses from `GET /_sandbox/state`), Rankr's truth through `/_sandbox/rankr/...`. The
judging itself is the pure `routing_problems` (unit-tested on crafted data)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scenarios.checks import Verdict, check
from scenarios.context import HarnessError, ScenarioContext
from scenarios.steps_routing import PROVIDERS_PATH, provider_list

ROUTING_CHECKS = ("routed_correctly",)
ROUTING_ALERT_SEVERITIES = ("warning", "critical")


@dataclass(frozen=True)
class Address:
    country: str = ""
    state: str = ""
    postal_code: str = ""

    def __str__(self) -> str:
        return " ".join(p for p in (self.state, self.postal_code, self.country) if p) or "no address"


@dataclass(frozen=True)
class RoutedOrder:
    """What routing needs of a GHL order."""

    order_id: str
    payment_status: str  # unpaid | partially_paid | paid | refunded
    cancelled: bool
    address: Address = field(default_factory=Address)

    @property
    def needs_routing(self) -> bool:
        return self.payment_status == "paid" and not self.cancelled


def _norm(value: Any) -> str:
    return "".join(str(value or "").split()).upper()


def address_of(raw: Any) -> Address:
    """An address in any of the shapes GHL uses: the order form's `postalCode`, the contact document's
    `postal_code`, a webhook snapshot's `postalCode`."""
    if not isinstance(raw, dict):
        return Address()
    postal = raw.get("postalCode", raw.get("postal_code", ""))
    return Address(_norm(raw.get("country")), _norm(raw.get("state")), _norm(postal))


def area_covers(area: dict[str, Any], address: Address) -> bool:
    """Design §3: country equal, state equal when the area names one, the postal code starting with one of
    the prefixes when the area lists any."""
    if not address.country or _norm(area.get("country")) != address.country:
        return False
    if area.get("state") and _norm(area.get("state")) != address.state:
        return False
    prefixes = [_norm(p) for p in area.get("postalCodePrefixes") or [] if _norm(p)]
    return not prefixes or any(address.postal_code.startswith(p) for p in prefixes)


def covers(provider: dict[str, Any], address: Address) -> bool:
    return any(isinstance(a, dict) and area_covers(a, address) for a in provider.get("serviceAreas") or [])


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def remaining_today(provider: dict[str, Any]) -> int:
    if "remainingToday" in provider:
        return _int(provider["remainingToday"])
    return max(0, _int(provider.get("dailyCapacity")) - _int(provider.get("assignedToday")))


def switched_on(provider: dict[str, Any]) -> bool:
    """The on/off switch that provider.unavailable / provider.available flip."""
    return provider.get("available", True) is not False


def takes_orders_now(provider: dict[str, Any]) -> bool:
    """Available now (switched on and inside an availability window) with capacity left today."""
    now = provider.get("availableNow", switched_on(provider))
    return switched_on(provider) and now is not False and remaining_today(provider) > 0


def _describe(provider: dict[str, Any]) -> str:
    return f"{provider.get('providerId')} ({remaining_today(provider)} of {provider.get('dailyCapacity')} left today)"


def _areas(provider: dict[str, Any]) -> str:
    parts = []
    for a in provider.get("serviceAreas") or []:
        prefixes = "/".join(a.get("postalCodePrefixes") or []) if isinstance(a, dict) else ""
        if isinstance(a, dict):
            parts.append(" ".join(p for p in (a.get("country"), a.get("state"), prefixes and f"{prefixes}*") if p))
    return "; ".join(parts) or "none"


def is_routing_alert(alert: dict[str, Any], order_id: str) -> bool:
    """A warning (or critical) alert naming the order whose message is about routing."""
    return (alert.get("orderId") == order_id and alert.get("severity") in ROUTING_ALERT_SEVERITIES
            and "rout" in str(alert.get("message", "")).lower())


def routing_problems(orders: list[RoutedOrder], providers: list[dict[str, Any]], assignments: list[dict[str, Any]],
                     alerts: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the routing of `orders` (the location's GHL orders) given Rankr's `providers` (with
    `available`, `availableNow`, `assignedToday`, `remainingToday`), current `assignments` ({orderId,
    providerId}) and `alerts`; each problem names the order, the provider and the rule broken."""
    problems: list[str] = []
    by_order = {o.order_id: o for o in orders}
    by_provider = {str(p.get("providerId")): p for p in providers}
    assigned: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in assignments:
        assigned[str(a.get("orderId"))].append(a)

    def alerted(order_id: str) -> bool:
        return any(is_routing_alert(a, order_id) for a in alerts)

    for order_id, rows in sorted(assigned.items()):
        providers_named = ", ".join(str(r.get("providerId")) for r in rows)
        order = by_order.get(order_id)
        if order is None:
            problems.append(f"order {order_id}: assigned to provider {providers_named} but it is not an order of "
                            "the location (rule: route the location's orders only)")
            continue
        if len(rows) > 1:
            problems.append(f"order {order_id}: assigned to {len(rows)} providers at once ({providers_named}) "
                            "(rule: exactly one provider per order)")
        if order.cancelled:
            problems.append(f"order {order_id}: cancelled, but still assigned to provider {providers_named} "
                            "(rule: a cancelled order's assignment is deleted)")
        elif order.payment_status in ("unpaid", "partially_paid"):
            problems.append(f"order {order_id}: {order.payment_status}, but assigned to provider {providers_named} "
                            "(rule: route fully paid orders only)")

    for order in sorted(orders, key=lambda o: o.order_id):
        if not order.needs_routing:
            continue
        rows = assigned.get(order.order_id, [])
        eligible = [p for p in providers if covers(p, order.address) and takes_orders_now(p)]
        others = ", ".join(_describe(p) for p in eligible[:4])
        where = f"order {order.order_id} (paid, address {order.address})"
        if not rows:
            if eligible:
                problems.append(f"{where}: not assigned, though provider {others} covers it and takes orders now "
                                "(rule: route every paid order; on a 409 try the next provider)")
            elif not alerted(order.order_id):
                problems.append(f"{where}: not assigned, no provider can take it, and no warning alert names the "
                                "order and routing (rule: alert when nobody is eligible)")
            continue
        row = rows[0]
        provider_id = str(row.get("providerId"))
        provider = by_provider.get(provider_id)
        if provider is None:
            problems.append(f"{where}: assigned to provider {provider_id}, which the account does not have "
                            "(rule: assign to one of GET /v1/providers)")
            continue
        if not covers(provider, order.address):
            problems.append(f"{where}: assigned to provider {provider_id}, whose service areas ({_areas(provider)}) "
                            "do not cover the address (rule: the provider's area must match the order's address)")
        if not switched_on(provider):
            movable = [p for p in eligible if str(p.get("providerId")) != provider_id]
            if movable:
                problems.append(f"{where}: still with provider {provider_id}, which is unavailable, though provider "
                                f"{', '.join(_describe(p) for p in movable[:4])} could take it (rule: on "
                                "provider.unavailable move that provider's orders)")
            elif not alerted(order.order_id):
                problems.append(f"{where}: still with provider {provider_id}, which is unavailable; no other provider "
                                "can take it and no warning alert names the order and routing (rule: alert when "
                                "nobody is eligible)")

    for provider in providers:
        capacity, today = provider.get("dailyCapacity"), provider.get("assignedToday")
        if isinstance(capacity, int) and isinstance(today, int) and today > capacity:
            problems.append(f"provider {provider.get('providerId')}: {today} orders assigned today for a daily "
                            f"capacity of {capacity} (rule: never over-book)")
        for day, count in sorted(_day_counts(provider).items()):
            if isinstance(capacity, int) and count > capacity:
                problems.append(f"provider {provider.get('providerId')}: {count} orders assigned on {day} for a "
                                f"daily capacity of {capacity} (rule: never over-book)")
    return problems


def _day_counts(provider: dict[str, Any]) -> dict[str, int]:
    """Rankr's per-day assignment counts of a provider (the truth endpoint's `assignmentsByDay`, or a list of
    `{day, count}`), when it shows them."""
    raw = provider.get("assignmentsByDay", provider.get("countsByDay"))
    if isinstance(raw, dict):
        return {str(k): _int(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(r.get("day", r.get("date"))): _int(r.get("count", r.get("assigned")))
                for r in raw if isinstance(r, dict)}
    return {}


# ---- reading the world ---------------------------------------------------------------------------------


def _rankr_truth(ctx: ScenarioContext, path: str) -> Any:
    return ctx.control("GET", path, params={"locationId": ctx.location_id})


def order_addresses(ctx: ScenarioContext, state: dict[str, Any]) -> dict[str, Address]:
    """Each order's address: from the location state's rows when they carry one, else from the state export's
    order rows (`contact_snapshot`, the address typed on the order form)."""
    found: dict[str, Address] = {}
    for o in state.get("orders", []):
        raw = o.get("address") or o.get("contactSnapshot") or o.get("contactAddress")
        if isinstance(raw, dict):
            found[str(o["_id"])] = address_of(raw)
    if len(found) < len(state.get("orders", [])):
        export = ctx.control("GET", "/state")
        rows = (export.get("tables") or {}).get("orders") or []
        for row in rows:
            if isinstance(row, dict) and row.get("location_id") == ctx.location_id and str(row.get("id")) not in found:
                found[str(row.get("id"))] = address_of(row.get("contact_snapshot"))
    return found


def routed_orders(ctx: ScenarioContext) -> list[RoutedOrder]:
    state = ctx.ghl_state()
    addresses = order_addresses(ctx, state)
    return [RoutedOrder(str(o["_id"]), str(o.get("paymentStatus", "")),
                        o.get("status") == "cancelled" or bool(o.get("cancelled")),
                        addresses.get(str(o["_id"]), Address()))
            for o in state.get("orders", [])]


def assignment_list(answer: Any) -> list[dict[str, Any]]:
    rows = answer.get("data", answer.get("assignments")) if isinstance(answer, dict) else answer
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


@check("routed_correctly", "eventual",
       hint="GET /v1/providers, pick a provider whose area covers the order's contactSnapshot address with "
            "remainingToday > 0 and availableNow, PUT /v1/assignments/{orderId}; on a 409 try the next; alert "
            "(warning, orderId) when nobody fits; move a provider's orders on provider.unavailable; delete a "
            "cancelled order's assignment")
def routed_correctly(ctx: ScenarioContext) -> Verdict:
    """Every fully paid, uncancelled order is assigned to exactly one provider whose area covers its address
    (a provider that went unavailable keeps none while another could take them); an order nobody can take
    has a warning alert naming it and routing; cancelled and unpaid orders have no assignment; no provider
    holds more orders on a day than its daily capacity."""
    try:
        providers = provider_list(_rankr_truth(ctx, PROVIDERS_PATH))
    except HarnessError as exc:
        if "404" in str(exc):
            return Verdict.not_evaluated("the sandbox serves no Rankr providers (GET /_sandbox/rankr/providers)")
        raise
    if not providers:
        return Verdict.not_evaluated("the account has no Rankr providers: routing does nothing")
    assignments = assignment_list(_rankr_truth(ctx, "/rankr/records/assignments"))
    orders = routed_orders(ctx)
    problems = routing_problems(orders, providers, assignments, ctx.rankr("alerts"))
    paid = sum(1 for o in orders if o.needs_routing)
    if problems:
        return Verdict.failed(f"{len(problems)} routing problem(s) over {paid} paid order(s) and "
                              f"{len(providers)} provider(s)", problems)
    needing = {o.order_id for o in orders if o.needs_routing}
    routed = len(needing & {str(a.get("orderId")) for a in assignments})
    return Verdict.passed(f"{paid} paid order(s) over {len(providers)} provider(s): {routed} assigned"
                          + (f", {paid - routed} with a routing alert (nobody eligible)" if paid > routed else ""))
