"""`POST /_sandbox/simulate/acuity.schedule` with `count`: a burst booked in one control-plane call, through
real HTTP against a `ghl-sandbox serve` subprocess. For one seed it makes the very records (ids, slots,
clients, payments, transaction ids, webhooks) that as many single calls make; it is all or none; a bad
`count` is refused in the control plane's envelope, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server.testing import SandboxProcess

SEED = 7
VOLATILE = {"dateCreated", "datetimeCreated", "created", "updated"}  # wall-clock stamps of the moment


class Sandbox:
    def __init__(self, proc: SandboxProcess) -> None:
        self.http = httpx.Client(base_url=proc.url, timeout=60)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def fresh(self) -> str:
        """Reset to SEED with a webhook target for every Acuity event; the first location's id."""
        self.ok("POST", "/_sandbox/reset", json={"seed": SEED, "orders": 2})
        location_id: str = self.ok("GET", "/_sandbox/locations")[0]["locationId"]
        self.ok("PUT", "/_sandbox/acuity/webhooks/static", json={
            "locationId": location_id, "actionStyle": "short",
            "urls": {"scheduled": "http://127.0.0.1:9/hook", "changed": "http://127.0.0.1:9/hook"}})
        return location_id

    def schedule(self, **body: Any) -> httpx.Response:
        return self.http.post("/_sandbox/simulate/acuity.schedule", json=body)

    def state(self, location_id: str) -> dict[str, Any]:
        state: dict[str, Any] = self.ok("GET", "/_sandbox/acuity/state", params={"locationId": location_id})
        return state


def stable(value: Any) -> Any:
    """The records without the wall-clock stamps of when they were made."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with SandboxProcess(["--orders", "0", "--rate-limit", "off"]) as proc:
        yield Sandbox(proc)


def test_a_burst_in_one_call_makes_the_records_of_single_calls(sb: Sandbox) -> None:
    location = sb.fresh()
    singles = [sb.schedule(locationId=location, pay="full", processor="square").json() for _ in range(12)]
    one_by_one = sb.state(location)

    location = sb.fresh()
    r = sb.schedule(locationId=location, pay="full", processor="square", count=12)
    assert r.status_code == 200, r.text
    batch = r.json()
    in_one_call = sb.state(location)

    assert batch["action"] == "acuity.schedule"
    appointments = [x["id"] for x in batch["resources"] if x["type"] == "appointment"]
    assert appointments == [s["resources"][0]["id"] for s in singles]
    assert len(set(appointments)) == 12
    assert [x["type"] for x in batch["resources"]] == ["appointment", "payment"] * 12
    assert stable(batch["resources"]) == stable([x for s in singles for x in s["resources"]])
    # each booking fires its own scheduled and changed, queued for the targets like single calls' are
    assert [(w["event"], w["resourceId"]) for w in batch["webhooks"]] == \
        [(w["event"], w["resourceId"]) for s in singles for w in s["webhooks"]]
    assert all(len(w["deliveries"]) == 1 for w in batch["webhooks"])
    assert len(batch["webhooks"]) == 24
    # the whole account: same appointments (slots, clients, prices), payments (transaction ids), clients
    assert stable(in_one_call) == stable(one_by_one)
    txns = [p["transactionID"] for a in in_one_call["appointments"] for p in a["payments"]]
    assert len(txns) == len(set(txns)) >= 12


def test_count_one_is_a_single_booking(sb: Sandbox) -> None:
    location = sb.fresh()
    single = sb.schedule(locationId=location, pay="deposit").json()
    location = sb.fresh()
    counted = sb.schedule(locationId=location, pay="deposit", count=1).json()
    assert stable(counted) == stable(single)


@pytest.mark.parametrize(("body", "field"), [
    ({"count": 0}, "count"), ({"count": 501}, "count"), ({"count": "many"}, "count"), ({"count": 2.5}, "count"),
    ({"count": True}, "count"), ({"count": 3, "datetime": "2027-01-05T10:00:00-0500"}, "datetime"),
])
def test_bad_counts_are_refused_in_the_envelope(sb: Sandbox, body: dict[str, Any], field: str) -> None:
    location = sb.fresh()
    before = sb.state(location)["appointments"]
    r = sb.schedule(locationId=location, **body)
    assert r.status_code == 422, r.text
    error = r.json()
    assert field in str(error)
    assert set(error) >= {"statusCode", "message"} or "error" in error, error
    assert sb.state(location)["appointments"] == before  # nothing booked


def test_a_refused_batch_books_nothing(sb: Sandbox) -> None:
    location = sb.fresh()
    before = sb.state(location)["appointments"]
    r = sb.schedule(locationId=location, count=5, certificate="NO-SUCH-CODE")
    assert r.status_code == 409, r.text
    assert sb.state(location)["appointments"] == before
    r = sb.schedule(locationId="nowhere", count=5)
    assert r.status_code == 404 and "nowhere" in r.text


# ---- the slot search: the same answers as a query per candidate -------------------------------------


def reference_next_free(store: Any, clock: Any, appt_type: Any, calendars: Any, after: float,
                        days: int = 60) -> Any:
    """The first free start as `is_free` decides it for each candidate in turn (the rule next_free keeps)."""
    from datetime import datetime, timedelta

    from mock_server.acuity import booking_slots
    from mock_server.acuity.views import zone

    best = None
    for calendar in [c for c in calendars if c.id in appt_type.calendar_ids]:
        tz = zone(calendar.timezone)
        day = datetime.fromtimestamp(after, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(days):
            for step in range(0, 24 * 60, booking_slots.SLOT_STEP_MIN):
                start = (day + timedelta(minutes=step)).replace(tzinfo=None).replace(tzinfo=tz).timestamp()
                if start >= after and (best is None or start < best[0]) and booking_slots.is_free(
                        store, clock, appt_type, calendar, start):
                    best = (start, calendar)
                    break
            if best is not None and best[1] is calendar:
                break
            day = (day.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
    return best


def test_next_free_answers_as_a_check_per_candidate(tmp_path: Any) -> None:
    from datetime import datetime, timezone

    from mock_server.acuity import booking_slots, queries, simulation
    from mock_server.acuity.models import Calendar
    from mock_server.acuity.world import acuity
    from mock_server.app import new_runtime
    from mock_server.settings import Settings

    rt = new_runtime(Settings(orders=2, state_file=str(tmp_path / "state.sqlite3")))
    rt.reset(seed=SEED, orders=2)
    location = rt.locations()[0].id
    simulation.run(rt, "acuity.schedule", {"locationId": location, "count": 40})
    world = acuity(rt)
    calendars = queries.of_location(world.store, Calendar, location)
    checked = 0
    # today's busy days, the seed's epoch, and the DST changes of both hemispheres' autumn and spring
    afters = [world.clock.now() + 86400 * k for k in (0, 1, 3)] + [
        datetime(*ymd, 5, tzinfo=timezone.utc).timestamp() for ymd in ((2026, 10, 1), (2026, 11, 1),
                                                                       (2027, 3, 14), (2026, 10, 4), (2027, 3, 28))]
    for appt_type in world.booking.types(location):
        for after in afters:
            for cals in (calendars, calendars[::-1], calendars[:1]):
                expected = reference_next_free(world.store, world.clock, appt_type, cals, after)
                got = booking_slots.next_free(world.store, world.clock, appt_type, cals, after)
                assert (got and (got[0], got[1].id)) == (expected and (expected[0], expected[1].id))
                if expected is not None:  # a hint at or before the answer changes nothing
                    hinted = booking_slots.next_free(world.store, world.clock, appt_type, cals, after,
                                                     none_before=expected[0])
                    assert hinted is not None and (hinted[0], hinted[1].id) == (expected[0], expected[1].id)
                checked += 1
    assert checked >= 40
