"""The sandbox clock (`GET/POST /_sandbox/clock`): real time by default, freeze, advance; renewals,
pending settlements and token expiry follow it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_support import ORDERS, TRANSACTIONS, assert_ghl_error, everything, get
from sim_support import clock, epoch, one, simulate, subscription, wait_for

from mock_server.testing import SandboxClient

DAY = 86400
PERIOD_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


def test_real_time_by_default(ghl_sandbox: SandboxClient) -> None:
    now = clock(ghl_sandbox)
    assert now["frozen"] is False and now["offsetSeconds"] == 0
    assert epoch(now["now"]) == pytest.approx(time.time(), abs=5)
    time.sleep(0.05)
    assert epoch(clock(ghl_sandbox)["now"]) > epoch(now["now"])


def test_freeze_holds_now_and_new_resources_take_it(ghl_sandbox: SandboxClient) -> None:
    frozen = clock(ghl_sandbox, freeze=True)
    assert frozen["frozen"] is True
    time.sleep(0.05)
    assert clock(ghl_sandbox)["now"] == frozen["now"]
    first = one(simulate(ghl_sandbox, "order.create"), "order")
    time.sleep(0.02)
    second = one(simulate(ghl_sandbox, "order.create"), "order")
    assert first["createdAt"] == second["createdAt"] == frozen["now"]

    thawed = clock(ghl_sandbox, freeze=False)
    assert thawed["frozen"] is False
    time.sleep(0.05)
    assert epoch(clock(ghl_sandbox)["now"]) > epoch(frozen["now"])
    assert one(simulate(ghl_sandbox, "order.create"), "order")["createdAt"] > frozen["now"]


@pytest.mark.parametrize(("advance", "seconds"), [
    (3600, 3600), (90.5, 90.5), ("90", 90), ("30s", 30), ("15m", 900), ("2h", 7200), ("30d", 30 * DAY),
    ("1w", 7 * DAY), ("0", 0),
])
def test_advance_moves_the_clock(ghl_sandbox: SandboxClient, advance: Any, seconds: float) -> None:
    before = clock(ghl_sandbox, freeze=True)
    after = clock(ghl_sandbox, advance=advance)
    assert epoch(after["now"]) - epoch(before["now"]) == pytest.approx(seconds, abs=0.002)
    assert after["frozen"] is True
    assert after["offsetSeconds"] == pytest.approx(seconds, abs=1)
    assert clock(ghl_sandbox)["now"] == after["now"]


def test_advance_on_a_running_clock_keeps_it_running(ghl_sandbox: SandboxClient) -> None:
    after = clock(ghl_sandbox, advance="1d")
    assert after["frozen"] is False and after["offsetSeconds"] == DAY
    assert epoch(after["now"]) == pytest.approx(time.time() + DAY, abs=5)
    created = one(simulate(ghl_sandbox, "order.create"), "order")
    assert epoch(created["createdAt"]) == pytest.approx(time.time() + DAY, abs=5)


@pytest.mark.parametrize("body", [
    {"advance": -1}, {"advance": "-5d"}, {"advance": "abc"}, {"advance": "5y"}, {"advance": ""}, {"advance": "d"},
    {"advance": True}, {"advance": [1]}, {"advance": {"days": 1}}, {"advance": "1e400"}, {"advance": "nan"},
    {"freeze": "yes"}, {"freeze": 1},
])
def test_bad_clock_requests_are_422_and_change_nothing(ghl_sandbox: SandboxClient, body: dict[str, Any]) -> None:
    before = clock(ghl_sandbox, freeze=True)
    assert_ghl_error(ghl_sandbox.http.post("/_sandbox/clock", json=body), 422)
    after = clock(ghl_sandbox)
    assert (after["now"], after["frozen"]) == (before["now"], True)


def test_malformed_clock_body_is_400(ghl_sandbox: SandboxClient) -> None:
    r = ghl_sandbox.http.post("/_sandbox/clock", content=b"{advance", headers={"content-type": "application/json"})
    assert_ghl_error(r, 400)


def _renewals(sb: SandboxClient, loc: dict[str, Any], provider_id: str) -> list[dict[str, Any]]:
    txns = everything(sb, loc, TRANSACTIONS, subscriptionId=provider_id)
    return [t for t in txns if t["entityType"] == "subscription"]


def _period_days(sub: dict[str, Any]) -> int:
    rec = sub["recurringProduct"]["price"]["recurring"]
    return PERIOD_DAYS[rec["interval"]] * rec["intervalCount"]


def test_a_due_renewal_fires_as_the_clock_passes_it(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    clock(ghl_sandbox, freeze=True)
    sub = one(simulate(ghl_sandbox, "subscription.create"), "subscription")
    days = _period_days(sub)
    due = epoch(sub["schedule"]["executeAt"])

    clock(ghl_sandbox, advance=f"{days - 1}d")
    time.sleep(0.3)  # a few scheduler ticks: nothing is due yet
    assert _renewals(ghl_sandbox, loc, sub["subscriptionId"]) == []

    clock(ghl_sandbox, advance="2d")
    [renewal] = wait_for(lambda: _renewals(ghl_sandbox, loc, sub["subscriptionId"]))
    assert (renewal["status"], renewal["entityId"], renewal["amount"]) == ("succeeded", sub["_id"], sub["amount"])
    got = subscription(ghl_sandbox, loc, sub["_id"])
    assert got["status"] == "active"
    assert epoch(got["schedule"]["executeAt"]) == pytest.approx(due + days * DAY, abs=0.01)
    assert got["paymentsCollectedCount"] == 2
    time.sleep(0.3)  # and it fires once
    assert len(_renewals(ghl_sandbox, loc, sub["subscriptionId"])) == 1


def test_several_periods_bring_several_renewals(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    clock(ghl_sandbox, freeze=True)
    sub = one(simulate(ghl_sandbox, "subscription.create"), "subscription")
    days = _period_days(sub)
    clock(ghl_sandbox, advance=f"{3 * days + 1}d")
    renewals = wait_for(lambda: len(_renewals(ghl_sandbox, loc, sub["subscriptionId"])) >= 3 and
                        _renewals(ghl_sandbox, loc, sub["subscriptionId"]))
    assert len(renewals) == 3
    got = subscription(ghl_sandbox, loc, sub["_id"])
    assert got["paymentsCollectedCount"] == 4
    # Billed period by period: the next billing date is the fourth period's end, not "now + period".
    assert epoch(got["schedule"]["executeAt"]) == pytest.approx(epoch(sub["schedule"]["executeAt"]) + 3 * days * DAY,
                                                                abs=0.01)


def test_a_canceled_or_past_due_subscription_does_not_renew(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    clock(ghl_sandbox, freeze=True)
    canceled = one(simulate(ghl_sandbox, "subscription.create"), "subscription")
    past_due = one(simulate(ghl_sandbox, "subscription.create"), "subscription")
    simulate(ghl_sandbox, "subscription.cancel", subscriptionId=canceled["_id"])
    simulate(ghl_sandbox, "subscription.fail_renewal", subscriptionId=past_due["_id"])
    clock(ghl_sandbox, advance="400d")
    time.sleep(0.3)
    assert _renewals(ghl_sandbox, loc, canceled["subscriptionId"]) == []
    assert [t["status"] for t in _renewals(ghl_sandbox, loc, past_due["subscriptionId"])] == ["failed"]


def test_token_expiry_follows_the_clock(ghl_sandbox: SandboxClient, loc: dict[str, Any]) -> None:
    clock(ghl_sandbox, freeze=True)
    token = ghl_sandbox.token(loc["id"], expiresIn=3600)
    assert token["expiresAt"] is not None

    def orders() -> int:
        return get(ghl_sandbox, {**loc, "token": token["token"]}, ORDERS, limit=1).status_code

    assert orders() == 200
    clock(ghl_sandbox, advance=3599)
    assert orders() == 200
    clock(ghl_sandbox, advance=2)
    r = get(ghl_sandbox, {**loc, "token": token["token"]}, ORDERS, limit=1)
    assert_ghl_error(r, 401)
    assert get(ghl_sandbox, loc, ORDERS, limit=1).status_code == 200  # the seeded token never expires


def test_reset_brings_the_clock_back_to_real_time(ghl_sandbox: SandboxClient) -> None:
    clock(ghl_sandbox, freeze=True, advance="30d")
    ghl_sandbox.reset()
    now = clock(ghl_sandbox)
    assert now["frozen"] is False and now["offsetSeconds"] == 0
    assert epoch(now["now"]) == pytest.approx(time.time(), abs=5)


def test_timestamps_are_written_with_milliseconds_truncated_and_z() -> None:
    """`iso_ms` as it was first written (strftime, then the milliseconds cut down), for random times and
    the ones that round at the edges of a millisecond or a second."""
    import random
    from datetime import datetime, timezone

    from mock_server.clock import iso_instant, iso_ms

    def by_strftime(ts: float) -> str:
        dt = datetime.fromtimestamp(ts, tz=timezone.utc)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

    rng = random.Random("iso-ms")
    edges = [0.0, 0.0005, 0.0009999, 0.9995, 0.9999995, 1.5, 1e9 + 0.9999996, 1764481234.5678, 253402300799.999]
    for ts in edges + [rng.uniform(0, 4e9) for _ in range(20_000)]:
        assert iso_ms(ts) == iso_instant(ts) == by_strftime(ts), ts
    assert iso_ms(0.0) == "1970-01-01T00:00:00.000Z"
