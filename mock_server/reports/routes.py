"""`GET /_sandbox/reports` (the names) and `GET /_sandbox/reports/{name}?locationId=&from=&to=&format=`
**(contract)**, under the control plane's admin guard, documented in contracts/sandbox-control.openapi.yaml.

JSON by default; CSV with `?format=csv`, or `Accept: text/csv` when `format` is not given. `locationId`
defaults to the first location (unknown: 404); `from`/`to` are ISO dates (`YYYY-MM-DD`) on the sandbox
clock, both days included (unreadable, or `from` after `to`: 422); an unknown report is a 404."""

from __future__ import annotations

from datetime import date, datetime, timezone

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mock_server.control.common import sandbox
from mock_server.control.routes import RouteTable, table_routes
from mock_server.control.validation import validated_query
from mock_server.errors import Invalid, NotFound
from mock_server.http.errors import json_response
from mock_server.reports.model import Window
from mock_server.reports.registry import REPORTS, SPECS, run
from mock_server.reports.render import to_csv
from mock_server.reports.sources import Sources

DAY = 86400.0


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be an ISO date (YYYY-MM-DD)") from None


def window_of(first: str | None, last: str | None) -> Window:
    """[first 00:00 UTC, the day after last 00:00 UTC) on the sandbox clock."""
    start, end = _day(first, "from"), _day(last, "to")
    if start is not None and end is not None and start > end:
        raise Invalid("from must not be after to")

    def at(d: date) -> float:
        return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()

    return Window(start=at(start) if start else None, end=at(end) + DAY if end else None,
                  first_day=start.isoformat() if start else None, last_day=end.isoformat() if end else None)


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "").lower()
    return "text/csv" in accept and "application/json" not in accept.split("text/csv")[0]


async def list_reports(request: Request) -> Response:
    return json_response({"reports": [s.to_json() for s in SPECS]})


async def get_report(request: Request) -> Response:
    sb = sandbox(request)
    name = request.path_params["name"]
    spec = REPORTS.get(name)
    if spec is None:
        raise NotFound(f"Unknown report {name}; known: {', '.join(REPORTS)}")
    q = validated_query(request, "sandbox-get-report")
    location_id = q.get("locationId")
    if location_id:
        if sb.location(location_id) is None:
            raise NotFound(f"Location {location_id} not found")
    else:
        locations = sb.locations()
        if not locations:
            raise NotFound("The sandbox has no locations")
        location_id = locations[0].id
    window = window_of(q.get("from"), q.get("to"))
    report = run(spec, Sources(sb, location_id), window)
    if _wants_csv(request, q.get("format")):
        filename = f"{name}-{location_id}" + (f"-{window.first_day}" if window.first_day else "") + \
                   (f"-to-{window.last_day}" if window.last_day else "") + ".csv"
        return Response(to_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return json_response(report.to_json())


REPORT_TABLE: RouteTable = (
    ("/_sandbox/reports", ["GET"], list_reports),
    ("/_sandbox/reports/{name}", ["GET"], get_report),
)


def report_routes() -> list[BaseRoute]:
    return table_routes(REPORT_TABLE)
