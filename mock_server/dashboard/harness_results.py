"""Where `ghl-sandbox check` leaves its latest JSON report for the dashboard:
`$GHL_SANDBOX_HOME/last-check.json`, by default `~/.cache/ghl-sandbox/last-check.json`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

FILE_NAME = "last-check.json"


def home() -> Path:
    configured = os.environ.get("GHL_SANDBOX_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "ghl-sandbox"


def latest_path() -> Path:
    return home() / FILE_NAME


def save_latest(report: dict[str, Any], **meta: Any) -> Path | None:
    """Write the report (scenarios.report.to_json) with `savedAt` and `meta`; atomic, so the dashboard
    never reads half a file. A failure to save is reported on stderr and never fails the check."""
    path = latest_path()
    document = {**report, "savedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **meta}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(document, indent=2, default=str))
        os.replace(tmp, path)
    except OSError as exc:
        print(f"ghl-sandbox: could not save the check report to {path}: {exc}", file=sys.stderr)
        return None
    return path


def load_latest() -> tuple[dict[str, Any] | None, Path]:
    """The latest report, or None when there is none (or it cannot be read)."""
    path = latest_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, path
    return (data if isinstance(data, dict) else None), path
