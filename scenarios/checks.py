"""The contract checks: small named functions in a registry, each returning a verdict that names the
record and shows the evidence. `eventual` checks are polled until they hold or the scenario's deadline
passes; `safety` checks must hold throughout (evaluated after every step and at the end).

Checks read what the client wrote through the destination view (`ctx.records(kind)`), never a
destination directly: a kind the destination does not expose makes the check "not evaluated", never a
pass. Plugins register their own checks with the same `check` decorator (scenarios.plugin)."""

from __future__ import annotations

import bisect
import functools
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from scenarios.context import ScenarioContext, ViewProblems, parse_time
from scenarios.destinations import NotExposed
from scenarios.destinations.rankr import RankrDestination

Status = Literal["pass", "fail", "not_evaluated", "error"]


@dataclass
class Verdict:
    ok: bool
    summary: str = ""
    evidence: list[str] = field(default_factory=list)
    status: Status | None = None  # derived from `ok` unless given

    def __post_init__(self) -> None:
        if self.status is None:
            self.status = "pass" if self.ok else "fail"

    @property
    def settled(self) -> bool:
        """Nothing more to wait for: it holds, or it cannot be evaluated at all."""
        return self.status in ("pass", "not_evaluated")

    @classmethod
    def passed(cls, summary: str = "") -> Verdict:
        return cls(True, summary)

    @classmethod
    def failed(cls, summary: str, evidence: list[str]) -> Verdict:
        return cls(False, summary, evidence[:12])

    @classmethod
    def not_evaluated(cls, reason: str) -> Verdict:
        return cls(False, f"not evaluated: {reason}", [], "not_evaluated")

    @classmethod
    def error(cls, summary: str, evidence: list[str]) -> Verdict:
        return cls(False, summary, evidence[:12], "error")


CheckFn = Callable[[ScenarioContext], Verdict]
Kind = Literal["eventual", "safety"]


@dataclass(frozen=True)
class Check:
    name: str
    kind: Kind
    fn: CheckFn
    doc: str
    hint: str = ""


REGISTRY: dict[str, Check] = {}
DEFAULT_CHECKS = ("sync_complete", "no_duplicate_effects", "no_lost_events", "respects_rate_limits",
                  "rejects_forged_webhooks", "accepts_genuine_webhooks", "api_hygiene")


def _guarded(fn: CheckFn) -> CheckFn:
    """What the destination cannot show is "not evaluated"; a mapping that does not fit is an error."""

    @functools.wraps(fn)
    def run(ctx: ScenarioContext) -> Verdict:
        try:
            return fn(ctx)
        except NotExposed as exc:
            return Verdict.not_evaluated(str(exc))
        except ViewProblems as exc:
            return Verdict.error(f"the destination's {exc.kind} do not fit the mapping", exc.problems)

    return run


def check(name: str, kind: Kind, hint: str = "") -> Callable[[CheckFn], CheckFn]:
    """Register a check: `fn(ctx) -> Verdict`. `hint` is the one-line usual fix shown when it fails."""
    if kind not in ("eventual", "safety"):
        raise ValueError(f"check {name}: kind must be 'eventual' or 'safety', not {kind!r}")

    def register(fn: CheckFn) -> CheckFn:
        REGISTRY[name] = Check(name, kind, _guarded(fn), (fn.__doc__ or "").strip(), hint)
        return fn

    return register


ORDER_FIELDS = ("status", "fulfillmentStatus", "amount", "currency", "contactId")
TXN_FIELDS = ("orderId", "status", "amount", "amountRefunded", "currency")
SUB_FIELDS = ("status", "amount", "currency")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) < 0.005
    return a == b


def _compare(kind: str, expected: dict[str, dict[str, Any]], actual: list[dict[str, Any]], id_field: str,
             fields: tuple[str, ...]) -> list[str]:
    have = {r.get(id_field): r for r in actual}
    problems = []
    for rid, want in expected.items():
        got = have.get(rid)
        if got is None:
            problems.append(f"{kind} {rid}: missing in the destination (GHL has "
                            f"{', '.join(f'{f}={want[f]!r}' for f in fields)})")
            continue
        diffs = [f"{f}: GHL {want[f]!r} vs destination {got.get(f)!r}" for f in fields if not _same(want[f], got.get(f))]
        if diffs:
            problems.append(f"{kind} {rid}: " + "; ".join(diffs))
    return problems


@check("sync_complete", "eventual",
       hint="page every list to the end (offset until totalCount) and store GHL's values as the API returns them, "
            "in the unit the destination mapping declares")
def sync_complete(ctx: ScenarioContext) -> Verdict:
    """Every order, transaction and subscription of the location matches its Rankr record on the key fields."""
    state = ctx.ghl_state()
    orders = {o["_id"]: {f: o[f] for f in ORDER_FIELDS} for o in state["orders"]}
    txns = {t["_id"]: {"orderId": t["entityId"], **{f: t[f] for f in TXN_FIELDS if f != "orderId"}}
            for t in state["transactions"]}
    subs = {s["_id"]: {f: s[f] for f in SUB_FIELDS} for s in state["subscriptions"]}
    problems = (_compare("order", orders, ctx.records("orders"), "orderId", ORDER_FIELDS)
                + _compare("transaction", txns, ctx.records("transactions"), "transactionId", TXN_FIELDS)
                + _compare("subscription", subs, ctx.records("subscriptions"), "subscriptionId", SUB_FIELDS))
    total = len(orders) + len(txns) + len(subs)
    if problems:
        return Verdict.failed(f"{len(problems)} of {total} records out of sync", problems)
    return Verdict.passed(f"{total} records in sync")


def _optional(ctx: ScenarioContext, kind: str, missing: list[str]) -> list[dict[str, Any]]:
    try:
        return ctx.records(kind)
    except NotExposed:
        missing.append(kind)
        return []


@check("no_duplicate_effects", "safety",
       hint="dedupe webhooks by webhookId in durable state written with the effect, send an Idempotency-Key on "
            "POSTs, and list an order's fulfillments before retrying a POST whose answer was lost")
def no_duplicate_effects(ctx: ScenarioContext) -> Verdict:
    """No eventId twice in the destination's events; no second GHL fulfillment for one Rankr event."""
    problems = []
    missing: list[str] = []
    events = _optional(ctx, "events", missing)
    for event_id, n in Counter(e.get("eventId") for e in events).items():
        if n > 1:
            problems.append(f"event eventId={event_id} recorded {n} times in the destination")
    alerts = Counter((a.get("severity"), a.get("message"), a.get("orderId")) for a in _optional(ctx, "alerts", missing))
    for (severity, message, order_id), n in alerts.items():
        if n > 3:  # an alert repeated many times for the same thing is a duplicate storm
            problems.append(f"alert {severity} {message!r} (order {order_id}) recorded {n} times")
    if isinstance(ctx.destination, RankrDestination):
        problems += _reprocessed_rankr_events(ctx)
    problems += _extra_fulfillments(ctx)
    if problems:
        return Verdict.failed(f"{len(problems)} duplicate effect(s)", problems)
    if "events" in missing:
        return Verdict.not_evaluated("the destination does not expose events")
    return Verdict.passed(f"{len(events)} events, no duplicates")


def _reprocessed_rankr_events(ctx: ScenarioContext) -> list[str]:
    """A webhook processed again after Rankr had acknowledged its event: the client does not dedupe
    (an Idempotency-Key hides the duplicate record, not the duplicate processing)."""
    problems = []
    acked_at: dict[str, dict[str, Any]] = {}
    for e in sorted(ctx.journal("/rankr/v1/events"), key=lambda e: e["id"]):
        key = e.get("idempotencyKey")
        if e["method"] != "POST" or not key or parse_time(e["time"]) - e.get("latencyMs", 0) / 1000 < ctx.started_at:
            continue
        if key in acked_at:
            first = acked_at[key]
            problems.append(f"Rankr event {key} was posted again at {e['time']} after Rankr had acknowledged it "
                            f"at {first['time']} (request #{first['id']}): the webhook was processed twice")
        elif 200 <= e["status"] < 300:
            acked_at[key] = e
    return problems


def _extra_fulfillments(ctx: ScenarioContext) -> list[str]:
    """More GHL fulfillments made for an order than distinct Rankr requests (and simulated ones) asked for."""
    problems: list[str] = []
    if ctx.rankr_sent:
        allowed: Counter[str] = Counter()
        for sent in {s["eventId"]: s for s in ctx.rankr_sent}.values():
            allowed[sent["orderId"]] += 1
        for order_id, n in ctx.simulated_fulfils.items():
            allowed[order_id] += n
        made: dict[str, list[str]] = defaultdict(list)
        for f in ctx.ghl_state()["fulfillments"]:
            if f["_id"] not in ctx.baseline_fulfillments:
                made[f["orderId"]].append(f["_id"])
        for order_id, ids in made.items():
            if len(ids) > allowed[order_id]:
                problems.append(f"order {order_id}: {len(ids)} fulfillments created for {allowed[order_id]} "
                                f"distinct Rankr fulfillment request(s): {', '.join(ids)}")
    return problems


@check("no_lost_events", "eventual",
       hint="record the event in the destination before answering 2xx; answer 429 or 5xx when that fails")
def no_lost_events(ctx: ScenarioContext) -> Verdict:
    """Every GHL webhook the client acknowledged with a 2xx is in the destination's events (eventId = webhookId)."""
    recorded = {e.get("eventId") for e in ctx.records("events")}
    acked = {d["webhookId"]: d for d in ctx.deliveries()
             if d["status"] == "delivered" and d.get("lastStatus") is not None and 200 <= d["lastStatus"] < 300}
    missing = [f"webhook {wid} ({d['event']}, delivered {d['attempts'][-1]['time'] if d['attempts'] else '?'} "
               f"with {d['lastStatus']}) is not in the destination's events"
               for wid, d in acked.items() if wid not in recorded]
    if missing:
        return Verdict.failed(f"{len(missing)} of {len(acked)} acknowledged webhooks lost", missing)
    return Verdict.passed(f"{len(acked)} acknowledged webhooks all recorded")


def _request_key(e: dict[str, Any]) -> tuple[str, str, str]:
    return (e["method"], e["path"].rstrip("/"), e.get("query", ""))


@check("respects_rate_limits", "safety",
       hint="follow X-RateLimit-Remaining; after a 429 wait X-RateLimit-Interval-Milliseconds; back off with "
            "growing, jittered delays")
def respects_rate_limits(ctx: ScenarioContext) -> Verdict:
    """Never over the burst limit; after a 429 waits the advertised interval; retries back off."""
    entries = sorted(ctx.client_requests(), key=lambda e: e["id"])
    problems = []
    interval_ms = ctx.rate_interval_ms
    for e in entries:
        if e["status"] == 429 and not e.get("fault"):
            problems.append(f"request #{e['id']} {e['method']} {e['path']} at {e['time']} went over the burst limit (429)")
    def started(e: dict[str, Any]) -> float:
        return parse_time(e["time"]) - e.get("latencyMs", 0) / 1000

    for e in entries:
        if e["status"] != 429:
            continue
        answered = parse_time(e["time"])
        # The first call the client started after it had the 429 (calls already in flight do not count).
        later = [n for n in entries if n["id"] != e["id"] and started(n) >= answered - 0.0005]
        if later:
            nxt = min(later, key=started)
            gap = (started(nxt) - answered) * 1000
            if gap < interval_ms * 0.9:
                problems.append(f"after the 429 on request #{e['id']} at {e['time']}, request #{nxt['id']} came "
                                f"{gap:.0f} ms later (advertised interval {interval_ms} ms)")
    # Retries of one failing call must be spaced and the spacing must grow.
    failing = [e for e in entries if e["status"] in (0, 429) or e["status"] >= 500]
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in failing:
        runs[_request_key(e)].append(e)
    for key, run in runs.items():
        times = [parse_time(e["time"]) for e in run]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        tight = [g for g in gaps if g < 0.1]
        if len(tight) >= 2:
            problems.append(f"{key[0]} {key[1]} failed {len(run)} times with {len(tight)} retries under 100 ms apart "
                            f"(gaps {', '.join(f'{g * 1000:.0f}' for g in gaps[:8])} ms)")
        elif len(gaps) >= 3 and gaps[-1] < gaps[0] * 0.5:
            problems.append(f"{key[0]} {key[1]}: retry gaps shrink ({', '.join(f'{g * 1000:.0f}' for g in gaps[:8])} ms)")
    if problems:
        return Verdict.failed(f"{len(problems)} rate-limit violation(s) in {len(entries)} calls", problems)
    return Verdict.passed(f"{len(entries)} GHL calls within limits")


@check("rejects_forged_webhooks", "safety",
       hint="verify x-ghl-signature (Ed25519) over the raw body and refuse a timestamp older than 5 minutes")
def rejects_forged_webhooks(ctx: ScenarioContext) -> Verdict:
    """Forged, tampered or replayed webhooks get a non-2xx answer and change nothing."""
    bad = [f for f in ctx.forged if f["kind"] != "valid"]
    if not bad:
        return Verdict.passed("no forged webhooks sent")
    problems = []
    missing: list[str] = []
    recorded = {e.get("eventId") for e in _optional(ctx, "events", missing)}
    for f in bad:
        if f.get("status") is not None and 200 <= f["status"] < 300:
            problems.append(f"{f['kind']} webhook {f['webhookId']} for order {f['orderId']} was accepted with {f['status']}")
        if f["webhookId"] in recorded:
            problems.append(f"{f['kind']} webhook {f['webhookId']} for order {f['orderId']} reached the "
                            "destination's events")
    if problems:
        return Verdict.failed(f"{len(problems)} forged webhook(s) accepted", problems)
    return Verdict.passed(f"{len(bad)} forged webhooks rejected"
                          + (" (answers only: the destination does not expose events)" if missing else ""))


def _refusal(status: Any) -> bool:
    """A 4xx other than 429 refuses a webhook for good (GHL retries only a 429; a 5xx asks for nothing)."""
    return isinstance(status, int) and 400 <= status < 500 and status != 429


@check("accepts_genuine_webhooks", "safety",
       hint="verify the signature over the exact raw body bytes with GHL's public key, and answer 2xx (or 429/5xx "
            "to ask for a retry) to every genuine delivery, duplicates included")
def accepts_genuine_webhooks(ctx: ScenarioContext) -> Verdict:
    """No genuine, validly signed, in-window delivery is refused with a 4xx other than 429."""
    problems = []
    attempts = 0
    for d in ctx.deliveries():
        if ctx.target_id and d.get("targetId") != ctx.target_id:
            continue
        for a in d["attempts"]:
            attempts += 1
            if _refusal(a.get("status")):
                problems.append(f"genuine {d['event']} {d['webhookId']} (attempt {a['attempt']} at {a['time']}) "
                                f"refused with {a['status']}")
    for f in ctx.forged:
        if f["kind"] == "valid":
            attempts += 1
            if _refusal(f.get("status")):
                problems.append(f"valid {f.get('event', 'webhook')} {f['webhookId']} for order {f['orderId']} "
                                f"refused with {f['status']}")
    if problems:
        return Verdict.failed(f"{len(problems)} genuine webhook(s) refused", problems)
    return Verdict.passed(f"{attempts} genuine delivery attempts, none refused")


@check("api_hygiene", "safety",
       hint="send Authorization: Bearer and Version on every GHL call, with altId and altType=location")
def api_hygiene(ctx: ScenarioContext) -> Verdict:
    """Version header and bearer token on every GHL call; no 4xx caused by the client."""
    problems = []
    entries = ctx.client_requests()
    for e in entries:
        where = f"request #{e['id']} {e['method']} {e['path']}{'?' + e['query'] if e.get('query') else ''}"
        if not e.get("hasVersion"):
            problems.append(f"{where}: no Version header")
        if not e.get("hasBearer"):
            problems.append(f"{where}: no bearer token")
        status = e["status"]
        if 400 <= status < 500 and status != 429 and not e.get("fault"):
            problems.append(f"{where}: answered {status} (a request the client got wrong)")
    if problems:
        return Verdict.failed(f"{len(problems)} hygiene problem(s) in {len(entries)} calls", problems)
    return Verdict.passed(f"{len(entries)} GHL calls well formed")


@check("alerts_on_permanent_failure", "eventual",
       hint="after repeated GHL failures, raise one critical alert per outage and keep retrying")
def alerts_on_permanent_failure(ctx: ScenarioContext) -> Verdict:
    """When GHL stays down, the client raises an alert (critical or warning) in the destination."""
    every = ctx.records("alerts")
    alerts = [a for a in every if a.get("severity") in ("critical", "warning")]
    if not alerts:
        return Verdict.failed("no alert raised while GHL is down", [f"alerts: {every!r}"[:300]])
    return Verdict.passed(f"{len(alerts)} alert(s): {alerts[0].get('message', '')[:80]}")


# ---- Acuity (scenarios that declare `services: [acuity]`; design §6) --------------------------------

ACUITY_DEFAULT_CHECKS = ("payments_reconciled", "customers_merged", "respects_acuity_rate_limits",
                         "rejects_forged_acuity_webhooks", "accepts_genuine_acuity_webhooks")
ACUITY_CHECKS = frozenset(ACUITY_DEFAULT_CHECKS)
PAID_ORDER_STATUSES = ("paid", "delivered")
PaymentKey = tuple[str, str, str]  # (source, sourceKind, sourceId)


def _money(value: Any) -> float | None:
    """A decimal string ("10.00") or a number, as a float; None when it is neither."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def normal_email(value: Any) -> str:
    """The merge key of design §5: trimmed and lower-cased."""
    return str(value or "").strip().lower()


def expected_payments(acuity: dict[str, Any], ghl: dict[str, Any]) -> dict[PaymentKey, tuple[float, str, str]]:
    """Every payment a Rankr `payments` record must exist for: (source, sourceKind, sourceId) -> (amount,
    currency, what it is). Acuity: every appointment payment (canceled and rescheduled appointments too:
    refunds are processor-side and change nothing) and every paid order; GHL: every transaction."""
    currency = str(acuity.get("account", {}).get("currency", "USD"))
    out: dict[PaymentKey, tuple[float, str, str]] = {}
    for a in acuity.get("appointments", []):
        for p in a.get("payments", []):
            out[("acuity", "appointment", str(p["transactionID"]))] = (
                _money(p.get("amount")) or 0.0, currency, f"Acuity payment {p['transactionID']} of appointment {a['id']}")
    for o in acuity.get("orders", []):
        if o.get("status") in PAID_ORDER_STATUSES:
            out[("acuity", "order", str(o["id"]))] = (_money(o.get("total")) or 0.0, currency, f"Acuity order {o['id']}")
    for t in ghl.get("transactions", []):
        out[("ghl", "transaction", str(t["_id"]))] = (_money(t.get("amount")) or 0.0, str(t.get("currency", "")),
                                                      f"GHL transaction {t['_id']} (order {t.get('entityId')})")
    return out


def payment_problems(expected: dict[PaymentKey, tuple[float, str, str]], records: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the destination's payments against `expected` (pure: unit-tested on crafted data)."""
    have: dict[PaymentKey, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        have[(str(r.get("source")), str(r.get("sourceKind")), str(r.get("sourceId")))].append(r)
    problems = []
    for key, (amount, currency, what) in expected.items():
        got = have.get(key, [])
        if not got:
            problems.append(f"{what}: no payment in the destination (source={key[0]}, sourceKind={key[1]}, "
                            f"sourceId={key[2]}, amount {amount:.2f} {currency})")
            continue
        if len(got) > 1:
            problems.append(f"{what}: {len(got)} payments in the destination "
                            f"(paymentKeys {', '.join(str(r.get('paymentKey')) for r in got)}): counted more than once")
        r = got[0]
        diffs = []
        if not _same(amount, _money(r.get("amount"))):
            diffs.append(f"amount: source {amount:.2f} vs destination {r.get('amount')!r}")
        if currency and r.get("currency") != currency:
            diffs.append(f"currency: source {currency!r} vs destination {r.get('currency')!r}")
        if diffs:
            problems.append(f"{what} (paymentKey {r.get('paymentKey')}): " + "; ".join(diffs))
    for key, rs in have.items():
        if key not in expected:
            problems += [f"payment {r.get('paymentKey')!r} (source={key[0]}, sourceKind={key[1]}, sourceId={key[2]}, "
                         f"amount {r.get('amount')!r}) has no such source payment" for r in rs]
    return problems


def _uses_acuity(ctx: ScenarioContext) -> Verdict | None:
    if ctx.acuity is None:
        return Verdict.not_evaluated("the scenario does not use Acuity (services: [acuity])")
    return None


@check("payments_reconciled", "eventual",
       hint="upsert one Rankr payment per Acuity payment (key: its transactionID), per paid Acuity order and per "
            "GHL transaction; reconcile by listing appointments in date windows so a lost webhook is repaired")
def payments_reconciled(ctx: ScenarioContext) -> Verdict:
    """Every Acuity payment, paid Acuity order and GHL transaction has exactly one Rankr payment with its
    (source, sourceKind, sourceId), amount and currency; no Rankr payment without such a source."""
    if (skip := _uses_acuity(ctx)) is not None:
        return skip
    records = ctx.records("payments")
    expected = expected_payments(ctx.acuity_state(), ctx.ghl_state())
    problems = payment_problems(expected, records)
    if problems:
        return Verdict.failed(f"{len(problems)} of {len(expected)} payments not reconciled", problems)
    return Verdict.passed(f"{len(expected)} payments reconciled")


@dataclass
class Person:
    """Everyone with one normalised email: the GHL contacts and Acuity clients that share it."""

    email: str
    names: set[str] = field(default_factory=set)
    seen_as: list[str] = field(default_factory=list)
    acuity_total: float = 0.0  # Acuity payments and paid orders under this email
    ghl_total: float = 0.0  # GHL transactions (every status) of contacts with this email


def persons(acuity: dict[str, Any], ghl: dict[str, Any]) -> dict[str, Person]:
    """Design §6: the GHL contacts of the location's orders and the Acuity appointments' clients (and
    order buyers), grouped by normalised email."""
    out: dict[str, Person] = {}

    def add(email: Any, name: str, what: str) -> Person | None:
        key = normal_email(email)
        if not key:
            return None
        person = out.setdefault(key, Person(key))
        person.names.add(" ".join(name.split()))
        if len(person.seen_as) < 6:
            person.seen_as.append(what)
        return person

    for o in ghl.get("orders", []):
        add(o.get("contactEmail"), str(o.get("contactName", "")), f"GHL contact {o.get('contactId')} ({o.get('contactEmail')})")
    for t in ghl.get("transactions", []):
        p = out.get(normal_email(t.get("contactEmail")))
        if p is not None:
            p.ghl_total += _money(t.get("amount")) or 0.0
    for a in acuity.get("appointments", []):
        p = add(a.get("email"), f"{a.get('firstName', '')} {a.get('lastName', '')}", f"Acuity appointment {a.get('id')} "
                f"({a.get('email')})")
        if p is not None:
            p.acuity_total += sum(_money(x.get("amount")) or 0.0 for x in a.get("payments", []))
    for o in acuity.get("orders", []):
        p = add(o.get("email"), f"{o.get('firstName', '')} {o.get('lastName', '')}", f"Acuity order {o.get('id')} "
                f"({o.get('email')})")
        if p is not None and o.get("status") in PAID_ORDER_STATUSES:
            p.acuity_total += _money(o.get("total")) or 0.0
    return out


def _emails(record: dict[str, Any]) -> list[str]:
    value = record.get("emails")
    if isinstance(value, str):  # a mapped destination may keep them in one comma-separated column
        return [e.strip() for e in value.split(",") if e.strip()]
    return [str(e) for e in value] if isinstance(value, list) else []


def customer_problems(people: dict[str, Person], customers: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the destination's customers against `people` (pure: unit-tested on crafted data)."""
    problems = []
    holders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    loose: dict[str, list[dict[str, Any]]] = defaultdict(list)  # by normalised email, for the evidence
    for c in customers:
        for e in _emails(c):
            holders[e].append(c)
            loose[normal_email(e)].append(c)
    for email, person in sorted(people.items()):
        got = holders.get(email, [])
        who = f"{' / '.join(sorted(person.names))} <{email}> ({'; '.join(person.seen_as[:3])})"
        if not got:
            near = loose.get(email)
            problems.append(f"{who}: no customer has this email" + (
                f" (customer {near[0].get('customerId')!r} has it un-normalised: {_emails(near[0])})" if near else ""))
        elif len({id(c) for c in got}) > 1:
            problems.append(f"{who}: split over {len(got)} customers "
                            f"({', '.join(repr(c.get('customerId')) for c in got)})")
    for c in customers:
        spanned = sorted({normal_email(e) for e in _emails(c)} & set(people))
        if len(spanned) > 1:
            names = "; ".join(f"{' / '.join(sorted(people[e].names))} <{e}>" for e in spanned)
            problems.append(f"customer {c.get('customerId')!r} merges {len(spanned)} different people: {names}")
        ltv = _money(c.get("lifetimeValue"))
        if ltv is None or not spanned:
            continue
        low = sum(people[e].acuity_total for e in spanned)
        high = low + sum(people[e].ghl_total for e in spanned)
        if ltv < low - 0.005 or ltv > high + 0.005:
            problems.append(f"customer {c.get('customerId')!r}: lifetimeValue {ltv:.2f} is outside "
                            f"[{low:.2f}, {high:.2f}] (its Acuity payments, plus at most its GHL transactions): "
                            "a payment counted twice or missed")
    return problems


@check("customers_merged", "eventual",
       hint="merge customers by normalised email only (trim + lower-case): never by name, and keep a person's "
            "second email a second customer; count each payment once in lifetimeValue")
def customers_merged(ctx: ScenarioContext) -> Verdict:
    """Every person (GHL order contacts, Acuity clients, grouped by normalised email) is exactly one customer;
    no customer spans two people; each lifetimeValue is at least the person's Acuity payments and at most
    those plus their GHL transactions."""
    if (skip := _uses_acuity(ctx)) is not None:
        return skip
    customers = ctx.records("customers")
    people = persons(ctx.acuity_state(), ctx.ghl_state())
    problems = customer_problems(people, customers)
    if problems:
        return Verdict.failed(f"{len(problems)} customer problem(s) over {len(people)} people", problems)
    return Verdict.passed(f"{len(people)} people, each exactly one customer")


ACUITY_PER_SECOND = 10
ACUITY_CONCURRENT = 20
ACUITY_WINDOW_S = 0.95  # a second, less a little for the journal's and the client's clocks
ACUITY_MIN_PAUSE_MS = 100  # after a 429: at least one slot of a 10-per-second limit
JOURNAL_RESOLUTION_S = 0.001  # the journal writes each request's end time in whole milliseconds
# A call the sandbox sees start this soon after a 429 was answered may have been sent (or let through by the
# client's own limiter) before the client read the 429: on a loaded machine a sent request waits tens of
# milliseconds before the sandbox sees it. Only a retry of the 429'd request itself is judged that early.
ACUITY_IN_FLIGHT_S = 0.05


def _started(e: dict[str, Any]) -> float:
    return parse_time(e["time"]) - e.get("latencyMs", 0) / 1000


def calls_by_process(entries: list[dict[str, Any]], started_at: list[float]) -> list[list[dict[str, Any]]]:
    """Journal entries grouped by the client process that made them (by the start times of the client):
    a process restarted after a crash cannot know how many calls its predecessor made in the last second,
    so each is judged on its own."""
    starts = sorted(started_at)
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        groups[bisect.bisect_right(starts, _started(e))].append(e)
    return [groups[k] for k in sorted(groups)]


def acuity_rate_problems(entries: list[dict[str, Any]], per_second: int = ACUITY_PER_SECOND,
                         concurrent: int = ACUITY_CONCURRENT) -> list[str]:
    """Journal entries of Acuity calls -> violations of 10 per second (counted in any 0.95 s, for clock
    jitter), 20 at once, and pausing at least 100 ms after a 429 (pure: unit-tested on crafted data)."""
    entries = sorted(entries, key=_started)
    starts = [_started(e) for e in entries]
    problems = []
    first = 0
    reported_until = float("-inf")
    for i, s in enumerate(starts):
        while starts[first] <= s - ACUITY_WINDOW_S:
            first += 1
        n = i - first + 1
        if n > per_second and s > reported_until:
            e0 = entries[first]
            problems.append(f"{n} Acuity calls within {(s - starts[first]) * 1000:.0f} ms (limit {per_second} per second): "
                            f"request #{e0['id']} {e0['method']} {e0['path']} to #{entries[i]['id']} at {entries[i]['time']}")
            reported_until = s + 1.0  # one line per second of excess
    edges = sorted([(s, 1) for s in starts] + [(parse_time(e["time"]), -1) for e in entries], key=lambda x: (x[0], x[1]))
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    if peak > concurrent:
        problems.append(f"{peak} Acuity calls in flight at once (limit {concurrent})")
    for e in entries:
        if e["status"] != 429 or e.get("fault"):
            continue
        problem = _no_pause_after(e, entries)
        if problem:
            problems.append(problem)
    return problems


def _no_pause_after(throttled: dict[str, Any], entries: list[dict[str, Any]]) -> str | None:
    """The first call judged after a 429 that came less than ACUITY_MIN_PAUSE_MS after its answer, if any.
    A retry of the same request is judged from a millisecond after the answer (journal times are whole
    milliseconds, and a retry cannot be sent before its 429 is read); another call only from
    ACUITY_IN_FLIGHT_S on, since it may have been on its way already. A client that keeps calling without a
    pause is caught either way: by its retry, or by its first call after the in-flight allowance."""
    answered = parse_time(throttled["time"])
    key = _request_key(throttled)

    def judged(n: dict[str, Any]) -> bool:
        allowance = JOURNAL_RESOLUTION_S if _request_key(n) == key else ACUITY_IN_FLIGHT_S
        return n["id"] != throttled["id"] and _started(n) >= answered + allowance

    later = [n for n in entries if judged(n)]
    if not later:
        return None
    nxt = min(later, key=_started)
    gap = (_started(nxt) - answered) * 1000
    if gap >= ACUITY_MIN_PAUSE_MS:
        return None
    what = "its retry" if _request_key(nxt) == key else "request"
    return (f"after the 429 on request #{throttled['id']} {throttled['path']} at {throttled['time']}, {what} "
            f"#{nxt['id']} came {gap:.0f} ms later (no back-off)")


@check("respects_acuity_rate_limits", "safety",
       hint="throttle Acuity calls to at most 10 in any second and 20 at once (Acuity limits per IP); after a 429 "
            "(or an HTML 403 from the edge) wait and retry with growing delays")
def respects_acuity_rate_limits(ctx: ScenarioContext) -> Verdict:
    """Never more than 10 Acuity calls in any second (nor 20 at once); after a 429 the client pauses before
    its next call."""
    if (skip := _uses_acuity(ctx)) is not None:
        return skip
    entries = ctx.acuity_requests()
    if not entries and any(d.get("lastStatus") is not None and 200 <= d["lastStatus"] < 300 for d in ctx.acuity_deliveries()):
        # The client acknowledged deliveries it must have fetched: the journal does not record Acuity calls.
        return Verdict.not_evaluated("the sandbox's journal shows no Acuity calls (GET /_sandbox/journal?path=/acuity)")
    problems = [p for calls in calls_by_process(entries, ctx.client.started_at) for p in acuity_rate_problems(calls)]
    if problems:
        return Verdict.failed(f"{len(problems)} Acuity rate-limit violation(s) in {len(entries)} calls", problems)
    throttled = sum(1 for e in entries if e["status"] == 429)
    return Verdict.passed(f"{len(entries)} Acuity calls within limits" + (f" ({throttled} answered 429)" if throttled else ""))


GENUINE_ACUITY = ("valid", "reserialised")


def _acted_on(ctx: ScenarioContext, sent: dict[str, Any]) -> dict[str, Any] | None:
    """The client's first Acuity call for the id only a forged delivery named, made after it was sent."""
    bogus = sent.get("bogusId")
    if bogus is None:
        return None
    pattern = re.compile(rf"/(appointments|orders)/{bogus}(\.json)?(/|$)")
    return next((e for e in ctx.acuity_requests() if pattern.search(e["path"]) and _started(e) >= sent["sentAt"] - 0.01),
                None)


@check("rejects_forged_acuity_webhooks", "safety",
       hint="verify X-Acuity-Signature: base64 HMAC-SHA256 of the raw body bytes with ACUITY_API_KEY, compared "
            "in constant time, before parsing or acting on anything")
def rejects_forged_acuity_webhooks(ctx: ScenarioContext) -> Verdict:
    """Acuity deliveries signed with another key, tampered after signing, unsigned or forged get a non-2xx
    answer, and the client never fetches the appointment only they named."""
    if (skip := _uses_acuity(ctx)) is not None:
        return skip
    bad = [f for f in ctx.acuity_forged if f["kind"] not in GENUINE_ACUITY]
    problems = []
    for f in bad:
        if isinstance(f.get("status"), int) and 200 <= f["status"] < 300:
            problems.append(f"{f['kind']} Acuity delivery ({f['body']}) was accepted with {f['status']}")
        acted = _acted_on(ctx, f)
        if acted is not None:
            problems.append(f"{f['kind']} Acuity delivery for appointment {f['bogusId']} was acted on: request "
                            f"#{acted['id']} {acted['method']} {acted['path']} at {acted['time']}")
    if problems:
        return Verdict.failed(f"{len(problems)} forged Acuity deliveries accepted", problems)
    return Verdict.passed(f"{len(bad)} forged Acuity deliveries rejected" if bad else "no forged Acuity deliveries sent")


@check("accepts_genuine_acuity_webhooks", "safety",
       hint="hash the raw body bytes as received (not a re-encoded form or JSON of the parsed fields) and accept "
            "both action styles (`scheduled` and `appointment.scheduled`)")
def accepts_genuine_acuity_webhooks(ctx: ScenarioContext) -> Verdict:
    """No genuine Acuity delivery (the sandbox's, or a validly signed one with unusual but valid form encoding)
    is refused with a 4xx other than 429."""
    if (skip := _uses_acuity(ctx)) is not None:
        return skip
    problems = []
    attempts = 0
    for d in ctx.acuity_deliveries():
        for a in d["attempts"]:
            attempts += 1
            if _refusal(a.get("status")):
                problems.append(f"genuine Acuity {d['event']} delivery {d['id']} (attempt {a['attempt']} at {a['time']}) "
                                f"refused with {a['status']}")
    for f in ctx.acuity_forged:
        if f["kind"] in GENUINE_ACUITY:
            attempts += 1
            if _refusal(f.get("status")):
                problems.append(f"{f['kind']} Acuity delivery, validly signed ({f['body']}), refused with {f['status']}")
    if problems:
        return Verdict.failed(f"{len(problems)} genuine Acuity deliveries refused", problems)
    return Verdict.passed(f"{attempts} genuine Acuity deliveries, none refused")


# The workflow and order-routing checks live in their own modules; importing them registers them.
from scenarios import checks_routing, checks_workflows  # noqa: E402, F401
