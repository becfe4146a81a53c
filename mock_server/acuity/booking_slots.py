"""When an appointment type can be booked on a calendar: the calendar's working days and hours (in its
own zone), slots every `SLOT_STEP_MIN` minutes from opening that end by closing time, not in the past, not
overlapping another non-canceled appointment on that calendar. HTTP-free; `POST /appointments` (client
mode), `PUT .../reschedule` and the simulator use it; it is the rule `GET /availability/times` lists by."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import datetime, timedelta

from mock_server.acuity import queries
from mock_server.acuity.models import AppointmentType, Calendar
from mock_server.acuity.views import zone
from mock_server.clock import SandboxClock
from mock_server.store import Store

SLOT_STEP_MIN = 30
BEYOND_S = 2 * 3600  # wall-clock slots run backwards at most an hour (a DST gap): past this, only later


def _in_hours(calendar: Calendar, appt_type: AppointmentType, start: float) -> bool:
    local = datetime.fromtimestamp(start, zone(calendar.timezone))
    if local.weekday() not in calendar.work_days or local.second or local.minute % SLOT_STEP_MIN:
        return False
    opens = local.replace(hour=calendar.work_start_hour, minute=0)
    closes = local.replace(hour=0, minute=0) + timedelta(hours=calendar.work_end_hour)
    return opens <= local and local + timedelta(minutes=appt_type.duration) <= closes


def is_free(store: Store, clock: SandboxClock, appt_type: AppointmentType, calendar: Calendar, start: float,
            ignore: Sequence[int] = ()) -> bool:
    """The same rule as `GET /availability/times` lists (responses.open_slots): a slot of the type's length
    inside working hours, in the future, overlapping no non-canceled appointment of the calendar."""
    if start <= clock.now() or calendar.id not in appt_type.calendar_ids or not _in_hours(calendar, appt_type, start):
        return False
    end = start + appt_type.duration * 60
    return not any(a.start < end and start < a.start + a.duration * 60
                   for a in queries.appointments_between(store, calendar.location_id, [calendar.id], start, end)
                   if a.id not in ignore)


class _Busy:
    """A calendar's non-canceled appointments starting in [lo, hi), loaded once: `is_free`'s overlap rule
    for many candidate starts inside that range without a query each."""

    def __init__(self, store: Store, calendar: Calendar, lo: float, hi: float) -> None:
        booked = queries.appointments_between(store, calendar.location_id, [calendar.id], lo + 86400, hi)
        self.starts = [a.start for a in booked]  # ordered by start
        self.ends = [a.start + a.duration * 60 for a in booked]

    def overlaps(self, start: float, end: float) -> bool:
        first, last = bisect_left(self.starts, start - 86400), bisect_left(self.starts, end)
        return any(start < self.ends[i] for i in range(first, last))


def next_free(store: Store, clock: SandboxClock, appt_type: AppointmentType, calendars: Sequence[Calendar],
              after: float, days: int = 60, none_before: float = 0.0) -> tuple[float, Calendar] | None:
    """The first free start at or after `after` on any of `calendars` (in their order), within `days`: the
    first start `is_free` admits (each calendar's appointments are read once, not per candidate).
    `none_before`: the caller knows no start before it is free (a burst's previous booking took the first
    free one), so the search begins there; the answer is the same, found sooner."""
    best: tuple[float, Calendar] | None = None
    for calendar in [c for c in calendars if c.id in appt_type.calendar_ids]:
        tz = zone(calendar.timezone)
        length = appt_type.duration * 60
        first = datetime.fromtimestamp(after, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        day = datetime.fromtimestamp(max(after, none_before), tz).replace(hour=0, minute=0, second=0, microsecond=0)
        skipped = (day.date() - first.date()).days
        busy = _Busy(store, calendar, day.timestamp() - 2 * 86400, after + (days + 2) * 86400)
        for _ in range(max(0, days - skipped)):
            for step in range(0, 24 * 60, SLOT_STEP_MIN):
                local = (day + timedelta(minutes=step)).replace(tzinfo=None).replace(tzinfo=tz)
                start = local.timestamp()
                if best is not None and start >= best[0] + BEYOND_S:
                    break  # later than an earlier calendar's free start: nothing here can win
                if start >= after and (best is None or start < best[0]) and start > clock.now() \
                        and _in_hours(calendar, appt_type, start) and not busy.overlaps(start, start + length):
                    best = (start, calendar)
                    break
            if best is not None and (best[1] is calendar or start >= best[0] + BEYOND_S):
                break
            day = (day.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
    return best
