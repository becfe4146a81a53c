"""Reports (`GET /_sandbox/reports/{name}`) over real HTTP on loopback, against what the test itself did.

One sandbox; a fresh location without seeded GHL orders. With the sandbox clock frozen, the test creates,
pays, fails and refunds GHL orders, starts subscriptions, books and pays an Acuity appointment and
refunds part of it at the processor, while two webhook targets (one answering 200, one 400) receive the
location's events; then it moves the clock and writes Rankr records through the Rankr API (some right,
some wrong, one made up), and a day later cancels a subscription. Every expected number is computed here
from the actions' answers and the services' own truth (`/_sandbox/locations/{id}/state`,
`/_sandbox/acuity/state`), never from the reports' code."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from receiver import Receiver

from mock_server.testing import SandboxClient, SandboxProcess

LAG_A, LAG_B = 7.0, 12.0  # seconds between the order events and the Rankr writes of orders A and B


def cents(value: Any) -> int:
    return int((Decimal(str(value)) * 100).quantize(Decimal(1), ROUND_HALF_UP))


def day_of(iso: str) -> str:
    return iso[:10]


@dataclass
class World:
    sb: SandboxClient
    location_id: str
    day: str  # the frozen day of the actions
    next_day: str
    orders: dict[str, str] = field(default_factory=dict)  # name -> order id
    events: dict[str, list[str]] = field(default_factory=dict)  # order id -> its GHL event ids (the actions' answers)
    ghl_refund: int = 0
    acuity_refund: int = 0
    failed: int = 0
    subscriptions: list[str] = field(default_factory=list)
    canceled: str = ""
    targets: dict[str, str] = field(default_factory=dict)  # "ok"/"bad" -> target id
    deliveries: dict[str, int] = field(default_factory=dict)  # target id -> deliveries the answers listed
    appointment: dict[str, Any] = field(default_factory=dict)

    def report(self, name: str, **params: Any) -> dict[str, Any]:
        r = self.sb.http.get(f"/_sandbox/reports/{name}", params={"locationId": self.location_id, **params})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        data: dict[str, Any] = r.json()
        assert data["report"] == name and data["locationId"] == self.location_id and data["count"] == len(data["rows"])
        return data

    def ghl_state(self) -> dict[str, Any]:
        return self.sb.control("GET", f"/locations/{self.location_id}/state")

    def acuity_state(self) -> dict[str, Any]:
        return self.sb.control("GET", "/acuity/state", params={"locationId": self.location_id})


def _note(w: World, answer: dict[str, Any]) -> dict[str, Any]:
    for hook in answer["webhooks"]:
        w.events.setdefault(hook["resourceId"], []).append(hook["eventId"])
        for d in hook["deliveries"]:
            w.deliveries[d["targetId"]] = w.deliveries.get(d["targetId"], 0) + 1
    return answer


def _order_id(answer: dict[str, Any]) -> str:
    return next(r["id"] for r in answer["resources"] if r["type"] == "order")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with SandboxProcess(["--orders", "3", "--webhook-retry-interval", "0.2"]) as proc, \
            Receiver() as ok, Receiver(default=400) as bad:
        sb = proc.client()
        location = sb.control("POST", "/locations", json={"orders": 0, "name": "Reports Test"})
        lid = location["locationId"]
        clock = sb.set_clock(freeze=True)
        today = date.fromisoformat(day_of(clock["now"]))
        w = World(sb, lid, today.isoformat(), (today + timedelta(days=1)).isoformat())
        w.targets = {"ok": sb.webhook_target(ok.url, locationId=lid)["id"],
                     "bad": sb.webhook_target(bad.url, locationId=lid)["id"]}

        def sim(action: str, **body: Any) -> dict[str, Any]:
            return _note(w, sb.simulate(action, locationId=lid, **body))

        for name in ("A", "B", "C"):
            w.orders[name] = _order_id(sim("order.create"))
        sim("order.pay", orderId=w.orders["A"])
        sim("order.fail_payment", orderId=w.orders["B"])
        sim("order.pay", orderId=w.orders["B"])
        sim("order.fail_payment", orderId=w.orders["C"])
        w.failed = 2
        sim("order.refund", orderId=w.orders["A"], amount=1.25)
        w.ghl_refund = 125
        for _ in range(2):
            answer = sim("subscription.create")
            w.subscriptions.append(next(r["id"] for r in answer["resources"] if r["type"] == "subscription"))
        booked = sim("acuity.schedule", pay="full")
        appointment_id = next(r["id"] for r in booked["resources"] if r["type"] == "appointment")
        sim("acuity.refund", appointmentId=appointment_id, amount=2.5)
        w.acuity_refund = 250
        w.appointment = {"id": appointment_id}
        assert sb.wait_settled(20)

        # The destination, written later (on the sandbox clock) through the Rankr API.
        rankr = Rankr(sb, location)
        state = w.ghl_state()
        orders = {o["_id"]: o for o in state["orders"]}
        sb.advance_clock(LAG_A)
        rankr.put("orders", w.orders["A"], order_body(orders[w.orders["A"]]))
        sb.advance_clock(LAG_B - LAG_A)
        wrong = {**order_body(orders[w.orders["B"]]), "status": "refunded", "amount": orders[w.orders["B"]]["amount"] + 1}
        rankr.put("orders", w.orders["B"], wrong)
        rankr.put("orders", "made-up-order", {**order_body(orders[w.orders["A"]]), "orderId": "made-up-order"})
        txn_a = next(t for t in state["transactions"] if t["entityId"] == w.orders["A"])
        rankr.put("transactions", txn_a["_id"], transaction_body(txn_a))
        acuity = w.acuity_state()
        [appt] = [a for a in acuity["appointments"] if a["id"] == appointment_id]
        [payment] = appt["payments"]
        w.appointment = {**appt, "payment": payment}
        rankr.put("payments", f"acuity:{payment['transactionID']}", {
            "paymentKey": f"acuity:{payment['transactionID']}", "source": "acuity", "sourceKind": "appointment",
            "sourceId": payment["transactionID"], "parentId": str(appointment_id),
            "amount": float(payment["amount"]) + 5, "currency": "USD", "status": "paid",
            "customerEmail": appt["email"], "paidAt": clock["now"]})

        # A day later: one subscription is canceled.
        sb.advance_clock("1d")
        w.canceled = w.subscriptions[0]
        sim("subscription.cancel", subscriptionId=w.canceled)
        yield w
        sb.close()


class Rankr:
    def __init__(self, sb: SandboxClient, location: dict[str, Any]) -> None:
        self.sb, self.key, self.base = sb, location["rankr"]["apiKey"], location["rankr"]["basePath"]

    def put(self, collection: str, record_id: str, body: dict[str, Any]) -> None:
        r = self.sb.http.put(f"{self.base}/v1/{collection}/{record_id}", json=body,
                             headers={"Authorization": f"Bearer {self.key}"})
        assert r.status_code in (200, 201), r.text


def order_body(o: dict[str, Any]) -> dict[str, Any]:
    return {"orderId": o["_id"], "source": "ghl", "status": o["status"], "fulfillmentStatus": o["fulfillmentStatus"],
            "amount": o["amount"], "currency": o["currency"], "contactId": o["contactId"], "updatedAt": o["updatedAt"]}


def transaction_body(t: dict[str, Any]) -> dict[str, Any]:
    return {"transactionId": t["_id"], "orderId": t["entityId"], "status": t["status"], "amount": t["amount"],
            "amountRefunded": t["amountRefunded"], "currency": t["currency"], "updatedAt": t["updatedAt"]}


def monthly_cents(s: dict[str, Any]) -> Decimal:
    plan = s["subscriptionSnapshot"]["plan"]
    per_year = {"day": 365, "week": 52, "month": 12, "year": 1}[plan["interval"]]
    return Decimal(cents(s["amount"]) * per_year) / 12 / max(1, plan["interval_count"])


def major(value: Decimal | int) -> float:
    return float((Decimal(value) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP))


# ---- the list, and bad requests --------------------------------------------------------------------


NAMES = ["revenue-by-day", "revenue-by-source", "payment-rates", "subscriptions", "sync-health", "sync-lag",
         "webhook-delivery", "routing-load"]


def test_the_reports_are_listed_and_each_answers(world: World) -> None:
    listed = world.sb.control("GET", "/reports")["reports"]
    assert [r["name"] for r in listed] == NAMES
    assert all(r["path"] == f"/_sandbox/reports/{r['name']}" and r["title"] for r in listed)
    for name in NAMES:
        data = world.report(name)
        assert {c["key"] for c in data["columns"]} <= set().union(*(r.keys() for r in data["rows"])) | {
            c["key"] for c in data["columns"]}
    # No locationId: the first location.
    first = world.sb.location(0)["locationId"]
    assert world.sb.control("GET", "/reports/payment-rates")["locationId"] == first


@pytest.mark.parametrize("params, expected", [
    ({"from": "2026-13-01"}, "from must be an ISO date (YYYY-MM-DD)"),
    ({"to": "yesterday"}, "to must be an ISO date (YYYY-MM-DD)"),
    ({"from": "2026-11-02", "to": "2026-11-01"}, "from must not be after to"),
    ({"format": "xml"}, "format must be one of the following values: json, csv"),
])
def test_bad_parameters_are_422_in_the_sandbox_shape(world: World, params: dict[str, str], expected: str) -> None:
    r = world.sb.http.get("/_sandbox/reports/revenue-by-day", params={"locationId": world.location_id, **params})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["statusCode"] == 422 and body["error"] == "Unprocessable Entity" and body["traceId"]
    assert body["message"] == [expected]


def test_unknown_report_and_location_are_404(world: World) -> None:
    r = world.sb.http.get("/_sandbox/reports/revenue-by-week")
    assert r.status_code == 404 and r.json()["statusCode"] == 404 and "revenue-by-week" in r.json()["message"]
    r = world.sb.http.get("/_sandbox/reports/sync-health", params={"locationId": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["message"]


# ---- revenue and rates --------------------------------------------------------------------------------


def test_revenue_by_day_is_what_was_paid_and_refunded(world: World) -> None:
    state = world.ghl_state()
    ghl = sum(cents(t["amount"]) for t in state["transactions"] if t["status"] in ("succeeded", "refunded"))
    acuity = cents(world.appointment["payment"]["amount"])
    paid = sum(1 for t in state["transactions"] if t["status"] in ("succeeded", "refunded")) + 1
    assert sum(cents(t["amountRefunded"]) for t in state["transactions"]) == world.ghl_refund
    data = world.report("revenue-by-day", **{"from": world.day, "to": world.day})
    assert data["from"] == data["to"] == world.day
    [row] = data["rows"]
    assert row == {"date": world.day, "currency": "USD", "ghl": major(ghl), "acuity": major(acuity),
                   "gross": major(ghl + acuity), "refunds": major(world.ghl_refund + world.acuity_refund),
                   "net": major(ghl + acuity - world.ghl_refund - world.acuity_refund), "payments": paid}
    # A window with nothing in it: no rows. Both days: the next one is all zeros (the subscription was
    # canceled then, nothing was paid).
    assert world.report("revenue-by-day", **{"from": "2020-01-01", "to": "2020-01-31"})["rows"] == []
    two = world.report("revenue-by-day", **{"from": world.day, "to": world.next_day})["rows"]
    assert [r["date"] for r in two] == [world.day, world.next_day] and two[1]["gross"] == 0 and two[1]["payments"] == 0


def test_revenue_by_day_as_csv(world: World) -> None:
    params = {"locationId": world.location_id, "from": world.day, "to": world.day}
    for extra, headers in (({"format": "csv"}, {}), ({}, {"Accept": "text/csv"})):
        r = world.sb.http.get("/_sandbox/reports/revenue-by-day", params={**params, **extra}, headers=headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"] and "revenue-by-day" in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0] == ["date", "currency", "ghl", "acuity", "gross", "refunds", "net", "payments"]
        [json_row] = world.report("revenue-by-day", **{"from": world.day, "to": world.day})["rows"]
        assert len(rows) == 2
        assert rows[1] == [world.day, "USD", *(f"{json_row[k]:.2f}" for k in ("ghl", "acuity", "gross", "refunds", "net")),
                           str(json_row["payments"])]
    # format=json wins over the Accept header.
    r = world.sb.http.get("/_sandbox/reports/revenue-by-day", params={**params, "format": "json"},
                          headers={"Accept": "text/csv"})
    assert r.headers["content-type"].startswith("application/json")


def test_revenue_by_source_splits_orders_subscriptions_and_acuity(world: World) -> None:
    state = world.ghl_state()
    sub_orders = {s["entityId"] for s in state["subscriptions"]}
    paid = [t for t in state["transactions"] if t["status"] in ("succeeded", "refunded")]
    of_orders = sum(cents(t["amount"]) for t in paid if t["entityId"] not in sub_orders)
    of_subs = sum(cents(t["amount"]) for t in paid if t["entityId"] in sub_orders)
    acuity = cents(world.appointment["payment"]["amount"])
    rows = {r["label"]: r for r in world.report("revenue-by-source", **{"from": world.day, "to": world.day})["rows"]}
    assert set(rows) == {"GHL orders", "GHL subscriptions", "Acuity appointments", "Acuity store orders"}
    assert rows["GHL orders"]["gross"] == major(of_orders) and rows["GHL orders"]["refunds"] == major(world.ghl_refund)
    assert rows["GHL orders"]["net"] == major(of_orders - world.ghl_refund)
    assert rows["GHL subscriptions"]["gross"] == major(of_subs) and rows["GHL subscriptions"]["payments"] == 2
    assert rows["Acuity appointments"]["gross"] == major(acuity) and rows["Acuity appointments"]["payments"] == 1
    assert rows["Acuity appointments"]["refunds"] == major(world.acuity_refund)
    assert rows["Acuity store orders"]["gross"] == 0
    total = of_orders + of_subs + acuity
    assert rows["GHL orders"]["share"] == round(of_orders / total, 4)


def test_payment_rates_count_successes_failures_and_refunds(world: World) -> None:
    state = world.ghl_state()
    ok = sum(1 for t in state["transactions"] if t["status"] in ("succeeded", "refunded"))
    failed = sum(1 for t in state["transactions"] if t["status"] == "failed")
    assert failed == world.failed
    rows = {r["source"]: r for r in world.report("payment-rates", **{"from": world.day, "to": world.day})["rows"]}
    ghl = rows["ghl"]
    assert (ghl["succeeded"], ghl["failed"], ghl["attempts"], ghl["pending"], ghl["refunded"]) == (ok, failed, ok + failed, 0, 1)
    assert ghl["successRate"] == round(ok / (ok + failed), 4) and ghl["failureRate"] == round(failed / (ok + failed), 4)
    assert ghl["refundRate"] == round(1 / ok, 4) and ghl["refundedAmount"] == major(world.ghl_refund)
    acuity = rows["acuity"]
    assert (acuity["succeeded"], acuity["failed"], acuity["refunded"]) == (1, 0, 1)
    assert acuity["refundAmountRate"] == round(world.acuity_refund / cents(world.appointment["payment"]["amount"]), 4)
    both = rows["all"]
    assert both["attempts"] == ok + failed + 1 and both["failed"] == failed and both["refunded"] == 2


def test_subscriptions_mrr_and_churn(world: World) -> None:
    subs = {s["_id"]: s for s in world.ghl_state()["subscriptions"]}
    assert set(subs) == set(world.subscriptions) and subs[world.canceled]["status"] == "canceled"
    both = sum((monthly_cents(s) for s in subs.values()), Decimal(0))
    kept = sum((monthly_cents(s) for i, s in subs.items() if i != world.canceled), Decimal(0))
    data = world.report("subscriptions", **{"from": world.day, "to": world.next_day})
    first, second = data["rows"]
    assert (first["date"], first["active"], first["new"], first["canceled"]) == (world.day, 2, 2, 0)
    assert first["mrr"] == major(both.quantize(Decimal(1), ROUND_HALF_UP))
    assert (second["date"], second["active"], second["new"], second["canceled"]) == (world.next_day, 1, 0, 1)
    assert second["mrr"] == major(kept.quantize(Decimal(1), ROUND_HALF_UP))
    # Churn over the next day alone: both were live at its start, one was canceled.
    [summary] = world.report("subscriptions", **{"from": world.next_day, "to": world.next_day})["summary"]["currencies"]
    assert (summary["activeAtStart"], summary["churned"], summary["churnRate"], summary["activeAtEnd"]) == (2, 1, 0.5, 1)
    assert summary["mrrStart"] == major(both.quantize(Decimal(1), ROUND_HALF_UP))
    assert summary["mrrEnd"] == major(kept.quantize(Decimal(1), ROUND_HALF_UP))


# ---- sync --------------------------------------------------------------------------------------------


def test_sync_health_names_the_differing_fields_and_the_missing_records(world: World) -> None:
    state = world.ghl_state()
    acuity = world.acuity_state()
    data = world.report("sync-health")
    rows = {(r["collection"], r["recordId"]): r for r in data["rows"]}
    a, b, c = (world.orders[n] for n in "ABC")
    assert ("orders", a) not in rows  # written right
    differs = rows[("orders", b)]
    assert differs["state"] == "differs" and differs["fields"] == ["status", "amount"]
    order_b = next(o for o in state["orders"] if o["_id"] == b)
    assert {d["field"]: (d["source"], d["destination"]) for d in differs["differences"]} == {
        "status": (order_b["status"], "refunded"), "amount": (order_b["amount"], order_b["amount"] + 1)}
    assert rows[("orders", c)]["state"] == "missing"
    assert rows[("orders", "made-up-order")]["state"] == "extra"
    others = {o["_id"] for o in state["orders"]} - {a, b}
    assert {rid for (col, rid), r in rows.items() if col == "orders" and r["state"] == "missing"} == others
    txn_a = next(t["_id"] for t in state["transactions"] if t["entityId"] == a)
    assert {rid for (col, rid), r in rows.items() if col == "transactions"} == \
        {t["_id"] for t in state["transactions"]} - {txn_a}
    # Payments are compared (Rankr holds one): the Acuity payment written with a wrong amount differs, every
    # other payment of the sources is missing.
    payment = world.appointment["payment"]
    differing = rows[("payments", f"acuity:{payment['transactionID']}")]
    assert differing["state"] == "differs" and differing["fields"] == ["amount"]
    assert differing["differences"] == [{"field": "amount", "source": float(payment["amount"]),
                                         "destination": float(payment["amount"]) + 5}]
    missing_payments = {rid for (col, rid), r in rows.items() if col == "payments" and r["state"] == "missing"}
    paid_orders = [o for o in acuity["orders"] if o["status"] in ("paid", "delivered")]
    assert missing_payments == {f"ghl|transaction|{t['_id']}" for t in state["transactions"]} | \
        {f"acuity|order|{o['id']}" for o in paid_orders}
    counts = data["summary"]["collections"]
    assert counts["orders"] == {"compared": True, "sources": len(state["orders"]), "destination": 3, "inSync": 1,
                                "differs": 1, "missing": len(state["orders"]) - 2, "duplicated": 0, "extra": 1}
    # Rankr holds no subscription: counted, not listed.
    assert counts["subscriptions"]["compared"] is False and counts["subscriptions"]["missing"] == 2
    assert not any(col == "subscriptions" for col, _ in rows)

    r = world.sb.http.get("/_sandbox/reports/sync-health", params={"locationId": world.location_id, "format": "csv"})
    lines = list(csv.DictReader(io.StringIO(r.text)))
    assert list(lines[0]) == ["collection", "recordId", "state", "fields", "detail", "source"]
    [line] = [x for x in lines if x["recordId"] == b]
    assert line["state"] == "differs" and line["fields"] == "status;amount" and "refunded" in line["detail"]


def test_sync_lag_pairs_each_event_with_the_first_write_after_it(world: World) -> None:
    a, b = world.orders["A"], world.orders["B"]
    booked = world.events[str(world.appointment["id"])]  # the Acuity payment record copies the appointment
    assert len(booked) >= 1
    data = world.report("sync-lag", **{"from": world.day, "to": world.day})
    expected = sorted([LAG_A] * len(world.events[a]) + [LAG_B] * (len(world.events[b]) + len(booked)))
    assert sorted(r["lagSeconds"] for r in data["rows"]) == expected
    assert {r["resourceId"] for r in data["rows"]} == {a, b, str(world.appointment["id"])}
    assert {r["eventId"] for r in data["rows"]} == set(world.events[a]) | set(world.events[b]) | set(booked)
    s = data["summary"]
    assert s["pairs"] == len(expected) and s["pairs"] >= 5
    assert s["p50"] == expected[(len(expected) + 1) // 2 - 1] and s["p95"] == LAG_B and s["max"] == LAG_B
    assert s["byCollection"]["orders"]["pairs"] == len(world.events[a]) + len(world.events[b])
    assert s["byCollection"]["payments"] == {"pairs": len(booked), "p50": LAG_B, "p95": LAG_B, "max": LAG_B,
                                             "mean": LAG_B}
    every = sum(len(v) for v in world.events.values())
    assert s["events"] == every
    assert s["eventsWithoutCopy"] == every - len(world.events[a]) - len(world.events[b]) - len(booked)
    # Before the writes (the day before): no events, no pairs.
    before = (date.fromisoformat(world.day) - timedelta(days=1)).isoformat()
    assert world.report("sync-lag", **{"from": before, "to": before})["summary"]["pairs"] == 0


# ---- webhook delivery and routing ---------------------------------------------------------------------


def test_webhook_delivery_by_target(world: World) -> None:
    rows = {r["targetId"]: r for r in world.report("webhook-delivery")["rows"]}
    ok, bad = world.targets["ok"], world.targets["bad"]
    assert world.deliveries[ok] == world.deliveries[bad] > 0
    assert rows[ok]["deliveries"] == world.deliveries[ok] and rows[ok]["delivered"] == world.deliveries[ok]
    assert rows[ok]["successRate"] == 1 and rows[ok]["failed"] == 0 and rows[ok]["p50LatencyMs"] is not None
    assert rows[bad]["failed"] == world.deliveries[bad] and rows[bad]["successRate"] == 0
    assert rows[bad]["attempts"] == world.deliveries[bad]  # a 400 is final: one attempt each
    deliveries = world.sb.deliveries(targetId=ok)
    assert len([d for d in deliveries if d["locationId"] == world.location_id]) == rows[ok]["deliveries"]


def test_routing_load_counts_assignments_against_capacity(world: World) -> None:
    data = world.report("routing-load")
    assert data["rows"] == [] and data["summary"] == {"providers": 0, "assignments": 0}
    location = next(x for x in world.sb.locations() if x["locationId"] == world.location_id)
    r = world.sb.http.put("/_sandbox/rankr/providers", params={"locationId": world.location_id}, json={"providers": [
        {"providerId": "p1", "name": "First", "dailyCapacity": 2, "timezone": "UTC"},
        {"providerId": "p2", "name": "Second", "dailyCapacity": 3, "timezone": "UTC"}]})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {location['rankr']['apiKey']}"}

    def assign(order_id: str, provider_id: str) -> int:
        return world.sb.http.put(f"/rankr/v1/assignments/{order_id}", json={"providerId": provider_id},
                                 headers=headers).status_code

    assert [assign(world.orders["A"], "p1"), assign(world.orders["B"], "p1"), assign(world.orders["C"], "p2")] == \
        [201, 201, 201]
    assert assign("one-too-many", "p1") == 409  # p1 is full today
    assert assign(world.orders["A"], "p1") == 200  # the same provider again counts once
    rows = {r["providerId"]: r for r in world.report("routing-load")["rows"]}
    assert list(rows) == ["p1", "p2"]
    assert {k: rows["p1"][k] for k in ("name", "dailyCapacity", "assignedToday", "remainingToday", "assigned",
                                        "days", "peakDay", "peakDayCount", "peakUtilisation")} == {
        "name": "First", "dailyCapacity": 2, "assignedToday": 2, "remainingToday": 0, "assigned": 2, "days": 1,
        "peakDay": world.next_day, "peakDayCount": 2, "peakUtilisation": 1.0}
    assert (rows["p2"]["assignedToday"], rows["p2"]["remainingToday"], rows["p2"]["peakUtilisation"]) == (1, 2, 0.3333)
    # The day before the assignments: none in the window (today's counts stay what they are).
    rows = {r["providerId"]: r for r in world.report("routing-load", **{"from": world.day, "to": world.day})["rows"]}
    assert rows["p1"]["assigned"] == 0 and rows["p1"]["assignedToday"] == 2
    truth = world.sb.control("GET", "/rankr/records/assignments", params={"locationId": world.location_id})
    assert sorted(a["orderId"] for a in truth["data"]) == sorted(world.orders.values())


def test_dates_are_days_of_the_sandbox_clock(world: World) -> None:
    now = world.sb.control("GET", "/clock")["now"]
    assert datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(timezone.utc).date().isoformat() == world.next_day
    data = world.report("revenue-by-day")
    assert data["rows"][-1]["date"] == world.next_day and data["from"] is None and data["to"] is None
    assert httpx.get(world.sb.url + "/_sandbox/reports").status_code == 200
