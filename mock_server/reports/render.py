"""A report as CSV: one header line of the columns' keys, one line per row (RFC 4180 quoting, CRLF).
Money cells carry the currency's decimals ("12.50"), rates and numbers as they are, lists joined by `;`,
null as an empty cell."""

from __future__ import annotations

import csv
import io
from typing import Any

from mock_server.reports import money
from mock_server.reports.model import Column, Report


def _cell(column: Column, row: dict[str, Any]) -> str:
    value = row.get(column.key)
    if value is None:
        return ""
    if column.type == "money" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return money.major_text(float(value), str(row.get("currency", "")))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.key for c in report.columns])
    for row in report.rows:
        writer.writerow([_cell(c, row) for c in report.columns])
    return out.getvalue()
