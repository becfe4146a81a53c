"""The shipped workflow templates (`templates/*.json`): a workflow document without ids, parametrised with
`{{custom_values.…}}`, plus a `title` and a `description`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DIRECTORY = Path(__file__).with_name("templates")
CUSTOM_VALUE = re.compile(r"\{\{\s*custom_values\.([A-Za-z0-9_.-]+)\s*\}\}")
META_KEYS = ("title", "description")


def names() -> list[str]:
    return sorted(p.stem for p in DIRECTORY.glob("*.json"))


def load(name: str) -> dict[str, Any] | None:
    """The template file as written (None: no such template)."""
    if name not in names():
        return None
    data: dict[str, Any] = json.loads((DIRECTORY / f"{name}.json").read_text(encoding="utf-8"))
    return data


def document(template: dict[str, Any]) -> dict[str, Any]:
    """The workflow document of a template (without its title and description)."""
    return {k: v for k, v in template.items() if k not in META_KEYS}


def needs(doc: Any) -> list[str]:
    """The custom value keys a document names, in first-use order."""
    return list(dict.fromkeys(CUSTOM_VALUE.findall(json.dumps(doc))))


def summary(name: str, template: dict[str, Any]) -> dict[str, Any]:
    trigger = template.get("trigger") or {}
    return {"name": name, "title": template.get("title", name), "description": template.get("description", ""),
            "trigger": trigger.get("type", "") if isinstance(trigger, dict) else "", "needs": needs(template)}
