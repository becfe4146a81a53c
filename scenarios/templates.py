"""Templated values of the project file: `{namespace.name}` is replaced per scenario, `{{`/`}}` are
literal braces. The names are part of contracts/PROJECT_FILE.md."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

NAMES = frozenset({
    "ghl.base_url", "ghl.access_token", "ghl.location_id", "ghl.api_version", "ghl.app_id", "ghl.client_id",
    "ghl.client_secret", "ghl.webhook_public_key", "ghl.webhook_rsa_public_key",
    "rankr.base_url", "rankr.api_key", "rankr.webhook_secret",
    "acuity.base_url", "acuity.user_id", "acuity.api_key",
    "workflow.secret",
    "client.port", "client.url", "client.state_dir", "client.reconcile_interval",
    "scenario.id",
})
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(ValueError):
    """A template that cannot be rendered; the message says what is wrong."""


def problems(template: str) -> list[str]:
    """What is wrong with a template before any scenario runs (unknown names, stray braces)."""
    found = []
    for m in _TOKEN.finditer(template):
        text = m.group(0)
        if text in ("{{", "}}"):
            continue
        name = m.group(1)
        if name is None:
            found.append(f"a lone {text!r} (write {text * 2} for a literal brace)")
        elif name.startswith("env."):
            if not re.fullmatch(r"env\.[A-Za-z_][A-Za-z0-9_]*", name):
                found.append(f"{{{name}}} is not a valid environment variable name")
        elif name not in NAMES:
            found.append(f"unknown template name {{{name}}} (known: {', '.join(sorted(NAMES))}, env.NAME)")
    return found


def names(template: str) -> set[str]:
    """The template names (`ghl.base_url`, `env.HOME` ...) a template uses."""
    return {m.group(1) for m in _TOKEN.finditer(template) if m.group(1) is not None}


def render(template: str, values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ

    def replace(m: re.Match[str]) -> str:
        text = m.group(0)
        if text == "{{":
            return "{"
        if text == "}}":
            return "}"
        name = m.group(1)
        if name is None:
            raise TemplateError(f"a lone {text!r} in {template!r}")
        if name.startswith("env."):
            var = name[4:]
            if var not in environ:
                raise TemplateError(f"{{{name}}}: the environment variable {var} is not set")
            return environ[var]
        if name not in values:
            raise TemplateError(f"{{{name}}} has no value here")
        return values[name]

    return _TOKEN.sub(replace, template)
