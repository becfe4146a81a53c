"""When an appointment type can be booked on a calendar: the calendar's working days and hours (in its
own zone), slots every `SLOT_STEP_MIN` minutes from opening that end by closing time, not in the past, not
overlapping another non-canceled appointment on that calendar. HTTP-free; `POST /appointments` (client
mode), `PUT .../reschedule` and the simulator use it; it is the rule `GET /availability/times` lists by."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mock_server.acuity import queries
from mock_server.acuity.models import AppointmentType, Calendar
from mock_server.acuity.views import zone
from mock_server.clock import SandboxClock
from mock_server.store import Store

SLOT_STEP_MIN = 30


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


def next_free(store: Store, clock: SandboxClock, appt_type: AppointmentType, calendars: Sequence[Calendar],
              after: float, days: int = 60) -> tuple[float, Calendar] | None:
    """The first free start at or after `after` on any of `calendars` (in their order), within `days`."""
    best: tuple[float, Calendar] | None = None
    for calendar in [c for c in calendars if c.id in appt_type.calendar_ids]:
        tz = zone(calendar.timezone)
        day = datetime.fromtimestamp(after, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(days):
            for step in range(0, 24 * 60, SLOT_STEP_MIN):
                local = (day + timedelta(minutes=step)).replace(tzinfo=None).replace(tzinfo=tz)
                start = local.timestamp()
                if start >= after and (best is None or start < best[0]) and is_free(store, clock, appt_type,
                                                                                       calendar, start):
                    best = (start, calendar)
                    break
            if best is not None and best[1] is calendar:
                break
            day = (day.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
    return best
