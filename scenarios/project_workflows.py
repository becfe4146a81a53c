"""`[workflows]` of the project file (contracts/PROJECT_FILE.md): the GHL workflow documents a workflow
scenario loads, the location custom values it sets, and `only` (GHL reaches the integration only through
workflows). Errors are ConfigErrors at the dotted key; the loader adds the project file and line, and a
workflow file that is not JSON is named with its own line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from scenarios.project import ConfigError, Table, WorkflowsSpec

LIBRARY_WORKFLOW = Path(__file__).with_name("library") / "workflows" / "payment-received-to-client.json"
MAX_WORKFLOW_FILE = 1 << 20
CUSTOM_VALUE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Set by the harness in every workflow scenario; the project may set more (or override them).
HARNESS_CUSTOM_VALUES = ("workflow_url", "workflow_secret", "rankr_base_url", "rankr_api_key")


def read_documents(path: Path, key: str) -> list[dict[str, Any]]:
    """The workflow documents of one file: a JSON object, or a list of them."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_WORKFLOW_FILE + 1)
    except FileNotFoundError:
        raise ConfigError(key, f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(key, f"{path}: cannot read it: {exc.strerror}") from None
    if len(raw) > MAX_WORKFLOW_FILE:
        raise ConfigError(key, f"{path}: larger than 1 MiB, the limit for a workflow file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(key, f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(key, f"{path}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
    documents = data if isinstance(data, list) else [data]
    if not documents:
        raise ConfigError(key, f"{path}: an empty list (no workflow to load)")
    for i, doc in enumerate(documents):
        where = f"{path}" + (f" item {i}" if isinstance(data, list) else "")
        if not isinstance(doc, dict):
            raise ConfigError(key, f"{where}: a workflow document must be a JSON object")
        for name in ("trigger", "actions"):
            if name not in doc:
                raise ConfigError(key, f"{where}: a workflow document needs `{name}` (see contracts/PROJECT_FILE.md)")
    return documents


def read_workflows(table: Table, base_dir: Path) -> WorkflowsSpec:
    """`[workflows]`: files (relative to the project file), custom_values (harness templates), only."""
    spec = WorkflowsSpec()
    files = table.strings("files")
    if files is not None:
        if not files:
            raise ConfigError(table.path("files"), "must name at least one workflow file (or leave it out for the "
                                                   "library's default)")
        spec.files = [(base_dir / f).resolve() for f in files]
        for i, path in enumerate(spec.files):
            spec.documents += read_documents(path, f"{table.path('files')}[{i}]")
    spec.custom_values = table.mapping("custom_values", template=True)
    for name in spec.custom_values:
        if not CUSTOM_VALUE_KEY.fullmatch(name):
            raise ConfigError(f"{table.path('custom_values')}.{name}",
                              "is not a custom value key (letters, digits and _, not starting with a digit)")
    spec.only = table.boolean("only", False)
    table.reject_unknown()
    return spec
