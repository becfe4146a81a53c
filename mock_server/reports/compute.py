"""Every report as a pure function of the facts `sources.py` reads (model.py): no store, no HTTP, no clock.

Conventions: days are UTC dates on the sandbox clock; a window is [from 00:00, day after `to` 00:00);
sums are integer minor units per currency, written out as decimal major units (`money.major`); rates are
fractions from 0 to 1 rounded to 4 places (null when nothing was counted); percentiles are nearest-rank.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mock_server.clock import iso_ms
from mock_server.reports import money
from mock_server.reports.model import (
    Assignment,
    Column,
    DeliveryFact,
    DestinationRecord,
    DestinationWrite,
    Payment,
    Provider,
    Refund,
    SourceEvent,
    SourceRecord,
    Subscription,
    TargetFact,
    Window,
)

DAY = 86400.0
MAX_DAYS = 3660  # a daily series covers at most ten years (the latest ones)
SOURCE_LABELS: dict[tuple[str, str], str] = {
    ("ghl", "order"): "GHL orders", ("ghl", "subscription"): "GHL subscriptions",
    ("acuity", "appointment"): "Acuity appointments", ("acuity", "store-order"): "Acuity store orders"}

Rows = list[dict[str, Any]]
Result = tuple[tuple[Column, ...], Rows, dict[str, Any], list[str]]


# ---- small helpers -----------------------------------------------------------------------------------


def day_of(at: float) -> date:
    return datetime.fromtimestamp(at, tz=timezone.utc).date()


def day_start(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of ascending values (p in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def span(window: Window, seen: Iterable[float], today: date) -> tuple[list[date], list[str]]:
    """The days of a daily series: from the window's first day (else the first day with data, else today)
    to its last day (else today, or the last day with data if later), at most MAX_DAYS (the latest)."""
    days_seen = [day_of(at) for at in seen]
    first = date.fromisoformat(window.first_day) if window.first_day else min(days_seen, default=today)
    last = date.fromisoformat(window.last_day) if window.last_day else max([today, *days_seen])
    notes = []
    if (last - first).days + 1 > MAX_DAYS:
        first = last - timedelta(days=MAX_DAYS - 1)
        notes.append(f"the series shows the last {MAX_DAYS} days of the window")
    out: list[date] = []
    d = first
    while d <= last:
        out.append(d)
        if d == date.max:
            break
        d += timedelta(days=1)
    return out, notes


def _currencies(*groups: Iterable[Any]) -> list[str]:
    return sorted({x.currency for g in groups for x in g})


# ---- revenue -----------------------------------------------------------------------------------------


REVENUE_DAY_COLUMNS = (
    Column("date", "day", "date"), Column("currency", "currency"), Column("ghl", "GHL", "money"),
    Column("acuity", "Acuity", "money"), Column("gross", "gross", "money"), Column("refunds", "refunds", "money"),
    Column("net", "net", "money"), Column("payments", "payments", "num"))


def revenue_by_day(payments: list[Payment], refunds: list[Refund], window: Window, today: date) -> Result:
    paid = [p for p in payments if p.status == "succeeded" and window.contains(p.at)]
    back = [r for r in refunds if window.contains(r.at)]
    days, notes = span(window, [p.at for p in paid] + [r.at for r in back], today)
    gross: dict[tuple[date, str, str], int] = defaultdict(int)
    count: dict[tuple[date, str], int] = defaultdict(int)
    refunded: dict[tuple[date, str], int] = defaultdict(int)
    for p in paid:
        gross[(day_of(p.at), p.currency, p.source)] += p.amount_minor
        count[(day_of(p.at), p.currency)] += 1
    for r in back:
        refunded[(day_of(r.at), r.currency)] += r.amount_minor
    rows: Rows = []
    summary: dict[str, Any] = {"currencies": []}
    for cur in _currencies(paid, back):
        totals: dict[str, int] = defaultdict(int)
        for d in days:
            g, a = gross[(d, cur, "ghl")], gross[(d, cur, "acuity")]
            rf = refunded[(d, cur)]
            rows.append({"date": d.isoformat(), "currency": cur, "ghl": money.major(g, cur),
                         "acuity": money.major(a, cur), "gross": money.major(g + a, cur),
                         "refunds": money.major(rf, cur), "net": money.major(g + a - rf, cur),
                         "payments": count[(d, cur)]})
            totals["ghl"] += g
            totals["acuity"] += a
            totals["refunds"] += rf
            totals["payments"] += count[(d, cur)]
        summary["currencies"].append({
            "currency": cur, "ghl": money.major(totals["ghl"], cur), "acuity": money.major(totals["acuity"], cur),
            "gross": money.major(totals["ghl"] + totals["acuity"], cur), "refunds": money.major(totals["refunds"], cur),
            "net": money.major(totals["ghl"] + totals["acuity"] - totals["refunds"], cur),
            "payments": totals["payments"]})
    summary["days"] = len(days)
    if days:
        summary["firstDay"], summary["lastDay"] = days[0].isoformat(), days[-1].isoformat()
    notes.append("revenue is money taken (succeeded payments, dated when paid); refunds are dated when given back")
    return REVENUE_DAY_COLUMNS, rows, summary, notes


REVENUE_SOURCE_COLUMNS = (
    Column("label", "source"), Column("source", "service"), Column("kind", "kind"), Column("currency", "currency"),
    Column("payments", "payments", "num"), Column("gross", "gross", "money"), Column("refunds", "refunds", "money"),
    Column("net", "net", "money"), Column("share", "share of gross", "rate"))


def revenue_by_source(payments: list[Payment], refunds: list[Refund], window: Window) -> Result:
    paid = [p for p in payments if p.status == "succeeded" and window.contains(p.at)]
    back = [r for r in refunds if window.contains(r.at)]
    rows: Rows = []
    for cur in _currencies(paid, back):
        keys = list(SOURCE_LABELS) + sorted({(p.source, p.kind) for p in paid if p.currency == cur} - set(SOURCE_LABELS))
        total = sum(p.amount_minor for p in paid if p.currency == cur)
        for source, kind in keys:
            mine = [p for p in paid if (p.source, p.kind, p.currency) == (source, kind, cur)]
            g = sum(p.amount_minor for p in mine)
            rf = sum(r.amount_minor for r in back if (r.source, r.kind, r.currency) == (source, kind, cur))
            rows.append({"label": SOURCE_LABELS.get((source, kind), f"{source} {kind}"), "source": source,
                         "kind": kind, "currency": cur, "payments": len(mine), "gross": money.major(g, cur),
                         "refunds": money.major(rf, cur), "net": money.major(g - rf, cur), "share": rate(g, total)})
    return REVENUE_SOURCE_COLUMNS, rows, {"sources": len(rows)}, [
        "GHL orders: transactions of orders; GHL subscriptions: first payments and renewals of subscriptions; "
        "Acuity: appointment payments and paid store orders"]


# ---- payment rates -----------------------------------------------------------------------------------


RATE_COLUMNS = (
    Column("source", "source"), Column("currency", "currency"), Column("attempts", "attempts", "num"),
    Column("succeeded", "succeeded", "num"), Column("failed", "failed", "num"), Column("pending", "pending", "num"),
    Column("refunded", "refunded", "num"), Column("successRate", "success rate", "rate"),
    Column("failureRate", "failure rate", "rate"), Column("refundRate", "refund rate", "rate"),
    Column("captured", "captured", "money"), Column("refundedAmount", "refunded amount", "money"),
    Column("refundAmountRate", "refunded share", "rate"))


def _rates_row(source: str, currency: str, mine: list[Payment]) -> dict[str, Any]:
    ok = [p for p in mine if p.status == "succeeded"]
    failed = sum(1 for p in mine if p.status == "failed")
    pending = sum(1 for p in mine if p.status == "pending")
    refunded = [p for p in ok if p.refunded_minor > 0]
    captured = sum(p.amount_minor for p in ok)
    back = sum(min(p.refunded_minor, p.amount_minor) for p in ok)
    return {"source": source, "currency": currency, "attempts": len(ok) + failed, "succeeded": len(ok),
            "failed": failed, "pending": pending, "refunded": len(refunded),
            "successRate": rate(len(ok), len(ok) + failed), "failureRate": rate(failed, len(ok) + failed),
            "refundRate": rate(len(refunded), len(ok)), "captured": money.major(captured, currency),
            "refundedAmount": money.major(back, currency), "refundAmountRate": rate(back, captured)}


def payment_rates(payments: list[Payment], window: Window) -> Result:
    mine = [p for p in payments if window.contains(p.at)]
    rows: Rows = []
    for cur in _currencies(mine):
        of_currency = [p for p in mine if p.currency == cur]
        for source in sorted({p.source for p in of_currency}):
            rows.append(_rates_row(source, cur, [p for p in of_currency if p.source == source]))
        rows.append(_rates_row("all", cur, of_currency))
    return RATE_COLUMNS, rows, {"payments": len(mine)}, [
        "attempts = succeeded + failed (pending ones are not decided yet); success and failure rates are of "
        "attempts; the refund rate is the share of succeeded payments with any refund, whenever given back",
        "Acuity records only payments that went through: its failures are never seen"]


# ---- subscriptions -----------------------------------------------------------------------------------


SUBSCRIPTION_COLUMNS = (
    Column("date", "day", "date"), Column("currency", "currency"), Column("active", "active", "num"),
    Column("new", "new", "num"), Column("canceled", "canceled", "num"), Column("mrr", "MRR", "money"))


def _live(s: Subscription, at: float) -> bool:
    return s.status != "incomplete" and s.created_at < at and (s.canceled_at is None or s.canceled_at >= at)


def subscriptions(subs: list[Subscription], window: Window, today: date) -> Result:
    days, notes = span(window, [s.created_at for s in subs if window.contains(s.created_at)], today)
    rows: Rows = []
    summary: dict[str, Any] = {"currencies": []}
    for cur in _currencies(subs):
        mine = [s for s in subs if s.currency == cur and s.status != "incomplete"]
        # A sweep over starts and cancellations: each day's end sees what is live then.
        changes = sorted([(s.created_at, 1, money.monthly(s.amount_minor, s.interval, s.interval_count)) for s in mine]
                         + [(s.canceled_at, -1, -money.monthly(s.amount_minor, s.interval, s.interval_count))
                            for s in mine if s.canceled_at is not None], key=lambda c: (c[0], -c[1]))
        created: dict[date, int] = defaultdict(int)
        canceled: dict[date, int] = defaultdict(int)
        for s in mine:
            created[day_of(s.created_at)] += 1
            if s.canceled_at is not None:
                canceled[day_of(s.canceled_at)] += 1
        i, active, mrr = 0, 0, Decimal(0)
        for d in days:
            end = day_start(d) + DAY
            while i < len(changes) and changes[i][0] < end:
                active += changes[i][1]
                mrr += changes[i][2]
                i += 1
            rows.append({"date": d.isoformat(), "currency": cur, "active": active, "new": created[d],
                         "canceled": canceled[d], "mrr": money.major(money.rounded(mrr), cur)})
        start = day_start(days[0]) if days else window.start or 0.0
        end = day_start(days[-1]) + DAY if days else window.end or 0.0
        at_start = [s for s in mine if _live(s, start)]
        churned = [s for s in at_start if s.canceled_at is not None and s.canceled_at < end]

        def mrr_of(group: list[Subscription], currency: str = cur) -> float:
            total = sum((money.monthly(s.amount_minor, s.interval, s.interval_count) for s in group), Decimal(0))
            return money.major(money.rounded(total), currency)

        summary["currencies"].append({
            "currency": cur, "activeAtStart": len(at_start), "activeAtEnd": sum(1 for s in mine if _live(s, end)),
            "new": sum(1 for s in mine if start <= s.created_at < end),
            "canceled": sum(1 for s in mine if s.canceled_at is not None and start <= s.canceled_at < end),
            "churned": len(churned), "churnRate": rate(len(churned), len(at_start)),
            "mrrStart": mrr_of(at_start), "mrrEnd": mrr_of([s for s in mine if _live(s, end)]),
            "churnedMrr": mrr_of(churned)})
    summary["days"] = len(days)
    notes.append("MRR: the monthly amount of every subscription started and not canceled at the day's end "
                 "(a year is 12 months, a week 12/52 of one); churn rate: the share of subscriptions live at the "
                 "window's start that were canceled in it")
    return SUBSCRIPTION_COLUMNS, rows, summary, notes


# ---- sync health -------------------------------------------------------------------------------------


SYNC_COLUMNS = (
    Column("collection", "collection"), Column("recordId", "record", "id"), Column("state", "state"),
    Column("fields", "fields"), Column("detail", "detail"), Column("source", "source"))


def _shown(name: str, value: Any, record: SourceRecord) -> Any:
    return money.major(value, record.currency) if name in record.money and isinstance(value, int) else value


def _same(name: str, want: Any, got: Any, record: SourceRecord) -> bool:
    if name in record.money:
        return money.minor_of(got, record.currency) == want
    return bool(got == want)


def destination_key(record: DestinationRecord) -> str:
    if record.collection == "payments":
        b = record.body
        return f"{b.get('source', '')}|{b.get('sourceKind', '')}|{b.get('sourceId', '')}"
    return record.record_id


def sync_health(sources: list[SourceRecord], destination: list[DestinationRecord], window: Window,
                collections: Sequence[str]) -> Result:
    have: dict[tuple[str, str], list[DestinationRecord]] = defaultdict(list)
    for r in destination:
        have[(r.collection, destination_key(r))].append(r)
    compared = {c: any(r.collection == c for r in destination) for c in collections}
    known = {(s.collection, s.key) for s in sources}
    stats = {c: {"compared": compared[c], "sources": 0, "destination": sum(1 for r in destination if r.collection == c),
                 "inSync": 0, "differs": 0, "missing": 0, "duplicated": 0, "extra": 0} for c in collections}
    rows: Rows = []
    for s in sources:
        if s.collection not in stats or not window.contains(s.created_at):
            continue
        st = stats[s.collection]
        st["sources"] += 1
        copies = have.get((s.collection, s.key), [])
        if not copies:
            st["missing"] += 1
            if compared[s.collection]:
                rows.append({"collection": s.collection, "recordId": s.key, "state": "missing",
                             "fields": list(s.fields), "detail": "no record in the destination",
                             "source": s.label, "currency": s.currency,
                             "differences": [{"field": f, "source": _shown(f, v, s), "destination": None}
                                             for f, v in s.fields.items()]})
            continue
        got = copies[0]
        diffs = [{"field": f, "source": _shown(f, v, s), "destination": got.body.get(f)}
                 for f, v in s.fields.items() if not _same(f, v, got.body.get(f), s)]
        state = "duplicated" if len(copies) > 1 else "differs" if diffs else "in-sync"
        st["inSync" if state == "in-sync" else state] += 1
        if state != "in-sync":
            detail = "; ".join(f"{d['field']}: source {d['source']!r} vs destination {d['destination']!r}" for d in diffs)
            if len(copies) > 1:
                detail = (f"{len(copies)} records copy it ({', '.join(c.record_id for c in copies)})"
                          + (f"; {detail}" if detail else ""))
            rows.append({"collection": s.collection, "recordId": got.record_id, "state": state,
                         "fields": [d["field"] for d in diffs], "detail": detail, "source": s.label,
                         "currency": s.currency, "differences": diffs})
    for r in destination:
        if compared.get(r.collection) and (r.collection, destination_key(r)) not in known and window.contains(r.created_at):
            stats[r.collection]["extra"] += 1
            rows.append({"collection": r.collection, "recordId": r.record_id, "state": "extra", "fields": [],
                         "detail": "no such source record", "source": "", "currency": str(r.body.get("currency", "")),
                         "differences": []})
    total = {k: sum(st[k] for st in stats.values()) for k in ("sources", "inSync", "differs", "missing", "duplicated",
                                                                "extra")}
    notes = ["a collection the destination holds no record of is not compared record by record (its sources all "
             "count as missing in the summary)",
             "fields compared: orders status, fulfillmentStatus, amount, currency, contactId; transactions orderId, "
             "status, amount, amountRefunded, currency; subscriptions status, amount, currency; payments (keyed by "
             "source, sourceKind, sourceId) amount, currency"]
    return SYNC_COLUMNS, rows, {"collections": stats, "total": total}, notes


# ---- sync lag ----------------------------------------------------------------------------------------


LAG_COLUMNS = (
    Column("eventType", "event"), Column("resourceId", "resource", "id"), Column("collection", "collection"),
    Column("recordId", "record", "id"), Column("eventAt", "event at", "time"), Column("writtenAt", "written at", "time"),
    Column("lagSeconds", "lag (s)", "seconds"))


def _lag_stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"pairs": len(ordered), "p50": percentile(ordered, 50), "p95": percentile(ordered, 95),
            "max": ordered[-1] if ordered else None,
            "mean": round(sum(ordered) / len(ordered), 3) if ordered else None}


def sync_lag(events: list[SourceEvent], destination: list[DestinationRecord], writes: list[DestinationWrite],
             window: Window) -> Result:
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for w in writes:
        times[(w.collection, w.record_id)].append(w.at)
    for v in times.values():
        v.sort()
    by_collection: dict[str, list[DestinationRecord]] = defaultdict(list)
    for r in destination:
        by_collection[r.collection].append(r)
    rows: Rows = []
    considered = unmatched = unwritten = 0
    for e in events:
        if not window.contains(e.at):
            continue
        considered += 1
        copies = [r for c in e.copies for r in by_collection.get(c.collection, []) if c.matches(r)]
        if not copies:
            unmatched += 1
            continue
        paired = False
        for r in copies:
            at = times.get((r.collection, r.record_id), [])
            i = bisect.bisect_left(at, e.at)
            if i == len(at):
                continue
            paired = True
            rows.append({"eventId": e.id, "eventType": e.type, "service": e.service, "resourceKind": e.resource_kind,
                         "resourceId": e.resource_id, "collection": r.collection, "recordId": r.record_id,
                         "eventAt": iso_ms(e.at), "writtenAt": iso_ms(at[i]), "lagSeconds": round(at[i] - e.at, 3)})
        if not paired:
            unwritten += 1
    lags = [r["lagSeconds"] for r in rows]
    summary: dict[str, Any] = {**_lag_stats(lags), "events": considered, "eventsWithoutCopy": unmatched,
                               "eventsWithoutLaterWrite": unwritten,
                               "byCollection": {c: _lag_stats([r["lagSeconds"] for r in rows if r["collection"] == c])
                                                for c in sorted({r["collection"] for r in rows})}}
    return LAG_COLUMNS, rows, summary, [
        "one pair per source event and destination record copying what it changed: from the event (as recorded) to "
        "the record's first accepted write at or after it, on the sandbox clock; p50/p95 are nearest-rank"]


# ---- webhook delivery --------------------------------------------------------------------------------


DELIVERY_COLUMNS = (
    Column("url", "target"), Column("service", "service"), Column("deliveries", "deliveries", "num"),
    Column("delivered", "delivered", "num"), Column("failed", "failed", "num"), Column("dropped", "dropped", "num"),
    Column("pending", "pending", "num"), Column("attempts", "attempts", "num"),
    Column("successRate", "success rate", "rate"), Column("p50LatencyMs", "p50 ms", "num"),
    Column("p95LatencyMs", "p95 ms", "num"), Column("targetId", "target id", "id"))


def webhook_delivery(targets: list[TargetFact], deliveries: list[DeliveryFact], window: Window) -> Result:
    mine = [d for d in deliveries if window.contains(d.event_at)]
    by_target: dict[str, list[DeliveryFact]] = defaultdict(list)
    for d in mine:
        by_target[d.target_id].append(d)
    known = {t.id: t for t in targets}
    order = [t.id for t in targets if t.id in by_target] + sorted(set(by_target) - set(known))
    rows: Rows = []
    for tid in order:
        ds = by_target[tid]
        t = known.get(tid)
        delivered = sum(1 for d in ds if d.status == "delivered")
        failed = sum(1 for d in ds if d.status == "failed")
        dropped = sum(1 for d in ds if d.status == "dropped")
        latencies = sorted(x for d in ds for x in d.latencies_ms)
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        rows.append({"targetId": tid, "url": t.url if t else "(deleted target)", "service": t.service if t else "",
                     "deliveries": len(ds), "delivered": delivered, "failed": failed, "dropped": dropped,
                     "pending": len(ds) - delivered - failed - dropped, "duplicates": sum(1 for d in ds if d.duplicate),
                     "attempts": sum(d.attempts for d in ds),
                     "successRate": rate(delivered, delivered + failed + dropped),
                     "p50LatencyMs": None if p50 is None else round(p50, 1),
                     "p95LatencyMs": None if p95 is None else round(p95, 1)})
    finished = sum(r["delivered"] + r["failed"] + r["dropped"] for r in rows)
    summary = {"targets": len(rows), "deliveries": len(mine), "delivered": sum(r["delivered"] for r in rows),
               "successRate": rate(sum(r["delivered"] for r in rows), finished)}
    return DELIVERY_COLUMNS, rows, summary, [
        "one delivery per event and target (a chaos duplicate is a delivery of its own); the success rate is of "
        "finished deliveries (delivered, failed or dropped); latencies are of every attempt"]


# ---- routing load ------------------------------------------------------------------------------------


ROUTING_COLUMNS = (
    Column("providerId", "provider", "id"), Column("name", "name"), Column("dailyCapacity", "daily capacity", "num"),
    Column("assignedToday", "today", "num"), Column("remainingToday", "left today", "num"),
    Column("assigned", "assigned", "num"), Column("days", "days", "num"), Column("peakDay", "peak day", "date"),
    Column("peakDayCount", "peak", "num"), Column("peakUtilisation", "peak / capacity", "rate"),
    Column("available", "available"))


def _today_in(tz: str, now: float) -> str:
    try:
        zone: Any = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = timezone.utc
    return datetime.fromtimestamp(now, tz=zone).date().isoformat()


def routing_load(providers: list[Provider], assignments: list[Assignment], window: Window, now: float) -> Result:
    mine = [a for a in assignments if window.contains(a.assigned_at)]
    known = {p.id: p for p in providers}
    ids = [p.id for p in providers] + sorted({a.provider_id for a in mine} - set(known))
    rows: Rows = []
    for pid in ids:
        p = known.get(pid)
        theirs = [a for a in mine if a.provider_id == pid]
        per_day: dict[str, int] = defaultdict(int)
        for a in theirs:
            per_day[a.day] += 1
        today = _today_in(p.timezone if p else "UTC", now)
        today_count = sum(1 for a in assignments if a.provider_id == pid and a.day == today)
        peak_day = max(per_day, key=lambda d: (per_day[d], d)) if per_day else None
        capacity = p.daily_capacity if p else None
        rows.append({"providerId": pid, "name": p.name if p else "(unknown provider)", "dailyCapacity": capacity,
                     "assignedToday": today_count,
                     "remainingToday": None if capacity is None else max(0, capacity - today_count),
                     "assigned": len(theirs), "days": len(per_day), "peakDay": peak_day,
                     "peakDayCount": per_day[peak_day] if peak_day else 0,
                     "peakUtilisation": rate(per_day[peak_day], capacity) if peak_day and capacity else None,
                     "available": p.available if p else None})
    notes = ["days are the provider's own (its timezone) on the sandbox clock"]
    if not providers and not assignments:
        notes.append("the location has no providers: routing does nothing")
    return ROUTING_COLUMNS, rows, {"providers": len(providers), "assignments": len(mine)}, notes
