"""BROKEN on purpose: reconciliation lists Acuity appointments with one `GET /appointments?showall=true`,
without `minDate`/`maxDate`. Acuity has no paging and `max` defaults to 100, so the answer is silently
cut at 100 appointments: the payments of any appointment beyond those (and a webhook that was lost for
one) never reach Rankr. Everything else is the reference client."""

from __future__ import annotations

from datetime import date
from typing import Any

from reference_client import ReferenceClient, main


class NoDateWindows(ReferenceClient):
    def acuity_appointments(self, start: date, end: date) -> list[dict[str, Any]]:
        page = self.acuity("/appointments", {"showall": "true"})  # the bug: no date windows, default max
        return [a for a in page if isinstance(a, dict) and "id" in a] if isinstance(page, list) else []


if __name__ == "__main__":
    main(NoDateWindows)
