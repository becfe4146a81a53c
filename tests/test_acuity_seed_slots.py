"""Seeded Acuity appointments: `Slots.pick` keeps the starts it has computed, and must draw exactly what
the plain computation draws (the same seed, the same world), in small worlds and in full calendars."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.acuity.models import Calendar
from mock_server.acuity.seed import DAY, Slots
from mock_server.acuity.views import zone
from mock_server.ghl.seed import SEED_EPOCH

# Zones with and without daylight saving, one with a half-hour offset; "Nowhere/Else" falls back to UTC.
ZONES = ("America/New_York", "Europe/London", "Australia/Adelaide", "Asia/Kolkata", "UTC", "Nowhere/Else")


def _plain_pick(taken: set[tuple[int, int]], rng: random.Random, cal: Calendar, minutes: int,
                day_from: float, day_to: float) -> float | None:
    """The computation as it reads most plainly: every start built as an aware datetime, sets compared."""
    tz = zone(cal.timezone)
    halves = (cal.work_end_hour - cal.work_start_hour) * 2 - (minutes + 29) // 30
    if halves < 0 or not cal.work_days:
        return None
    for attempt in range(1000):
        day = datetime.fromtimestamp(SEED_EPOCH + rng.uniform(day_from, day_to) * DAY, tz).date()
        if day.weekday() not in cal.work_days:
            continue
        half = rng.randint(0, halves)
        start_local = datetime(day.year, day.month, day.day, cal.work_start_hour, tzinfo=tz) + timedelta(minutes=30 * half)
        start = start_local.timestamp()
        keys = {(cal.id, int(start // 1800) + k) for k in range((minutes + 29) // 30)}
        if keys & taken and attempt < 60:
            continue
        taken |= keys
        return start
    return None


def _calendar(i: int, tz: str, days: list[int], start: int, end: int) -> Calendar:
    return Calendar(id=i, location_id="loc", name=f"cal {i}", email="", reply_to="", description="", location="",
                    timezone=tz, thumbnail="", image="", work_days=days, work_start_hour=start, work_end_hour=end)


calendars = st.lists(
    st.tuples(st.sampled_from(ZONES), st.lists(st.integers(0, 6), max_size=7, unique=True),
              st.integers(0, 12), st.integers(1, 12)),
    min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), shapes=calendars, window=st.tuples(st.floats(-200, 0), st.floats(0.5, 200)),
       durations=st.lists(st.sampled_from((15, 30, 45, 60, 90, 120)), min_size=1, max_size=4),
       picks=st.integers(1, 400))
def test_pick_draws_what_the_plain_computation_draws(seed: int, shapes: list[tuple[str, list[int], int, int]],
                                                      window: tuple[float, float], durations: list[int],
                                                      picks: int) -> None:
    cals = [_calendar(i + 1, tz, days, start, min(24, start + length))
            for i, (tz, days, start, length) in enumerate(shapes)]
    day_from, span = window
    slots, plain_taken = Slots(), set()
    fast, plain = random.Random(seed), random.Random(seed)
    for n in range(picks):  # enough picks on a short window to fill it: the overlapping fallback runs too
        cal, minutes = cals[n % len(cals)], durations[n % len(durations)]
        assert slots.pick(fast, cal, minutes, day_from, day_from + span) == _plain_pick(
            plain_taken, plain, cal, minutes, day_from, day_from + span)
    assert slots.taken == plain_taken
    assert fast.random() == plain.random()  # the same number of draws: what the seed draws next is the same


def test_a_full_calendar_falls_back_to_overlapping_starts_as_before() -> None:
    cal = _calendar(1, "America/New_York", [0, 1, 2, 3, 4], 9, 11)  # 4 half-hours a weekday
    slots, plain_taken = Slots(), set()
    fast, plain = random.Random(7), random.Random(7)
    starts = []
    for _ in range(60):  # a 3-day window holds a dozen at most
        start = slots.pick(fast, cal, 30, 0, 3)
        assert start == _plain_pick(plain_taken, plain, cal, 30, 0, 3)
        starts.append(start)
    assert len(set(starts)) < len(starts)  # some overlap: the fallback, not a None or an endless search
    assert None not in starts
