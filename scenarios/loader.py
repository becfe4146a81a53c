"""Load scenario YAML files and validate them against the JSON Schema that ships with the project.

A bad file is reported with its path, the line, and what is wrong (`ScenarioError`), and the CLI
exits 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from scenarios import safe_yaml

SCHEMA_PATH = Path(__file__).with_name("schema.json")
LIBRARY = Path(__file__).with_name("library")
MAX_FILE_BYTES = 1 << 20  # the library's largest scenario is ~2 KB; more is a mistake or an attack
# Steps that need the Acuity service: a scenario using one must declare `services: [acuity]`.
ACUITY_STEPS = frozenset({"acuity", "acuityWebhook", "acuityChaos", "acuityBurst"})
REF_KEYS = ("order", "subscription", "appointment", "contactOf", "sameNameAs")


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message is `path:line: what is wrong`."""


@dataclass
class Scenario:
    name: str
    path: str
    data: dict[str, Any]

    @property
    def setup(self) -> dict[str, Any]:
        return self.data.get("setup", {})

    @property
    def steps(self) -> list[dict[str, Any]]:
        return self.data.get("steps", [])

    @property
    def expect(self) -> dict[str, Any]:
        return self.data.get("expect", {})

    @property
    def description(self) -> str:
        return self.data.get("description", "")


def schema() -> dict[str, Any]:
    """scenarios/schema.json, with the checks and steps that plugins registered."""
    from scenarios.checks import REGISTRY
    from scenarios.steps import PLUGIN_STEP_SCHEMAS

    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    defs = document["$defs"]
    defs["check"] = {"enum": sorted({*defs["check"]["enum"], *REGISTRY})}
    step = defs["step"]
    for name, (value_schema, options) in PLUGIN_STEP_SCHEMAS.items():
        if name not in step["properties"]:
            step["oneOf"].append({"required": [name]})
        step["properties"][name] = value_schema
        for key, option_schema in options.items():
            step["properties"].setdefault(key, option_schema)
    return document


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the YAML node at `path` (the deepest one that exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        else:
            child = None
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def parse(text: str, path: str) -> Scenario:
    try:
        node, data = safe_yaml.load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else "?"
        what = "" if isinstance(exc, safe_yaml.LimitExceeded) else "invalid YAML: "
        raise ScenarioError(f"{path}:{line}: {what}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}:1: a scenario must be a mapping with at least `name` and `steps`")
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path))))
    if errors:
        err = jsonschema.exceptions.best_match(errors) or errors[0]
        where = list(err.absolute_path)
        line = _line_of(node, where)
        dotted = ".".join(str(p) for p in where) or "(top level)"
        raise ScenarioError(f"{path}:{line}: {dotted}: {err.message}")
    _check_refs(data, node, path)
    _check_services(data, node, path)
    from scenarios.steps_workflows import check_services as check_workflow_services

    problem = check_workflow_services(data, node, path)
    if problem:
        raise ScenarioError(problem)
    return Scenario(name=data["name"], path=path, data=data)


def _check_refs(data: dict[str, Any], node: yaml.Node | None, path: str) -> None:
    """`$name` references must name something an earlier step bound with `as`."""
    bound: set[str] = set()
    for i, step in enumerate(data.get("steps", [])):
        for key in REF_KEYS:
            ref = step.get(key)
            if isinstance(ref, str) and ref.startswith("$") and ref[1:] not in bound:
                line = _line_of(node, ["steps", i, key])
                raise ScenarioError(f"{path}:{line}: steps.{i}.{key}: {ref} is not bound by an earlier step's `as`")
        if "as" in step:
            bound.add(step["as"])
    for i, assertion in enumerate(data.get("expect", {}).get("assert", [])):
        ref = assertion.get("order")
        if isinstance(ref, str) and ref.startswith("$") and ref[1:] not in bound:
            line = _line_of(node, ["expect", "assert", i, "order"])
            raise ScenarioError(f"{path}:{line}: expect.assert.{i}.order: {ref} is not bound by a step's `as`")


def _check_services(data: dict[str, Any], node: yaml.Node | None, path: str) -> None:
    """Acuity steps, Acuity checks and Acuity setup keys need `services: [acuity]`: the runner passes the
    client its Acuity settings, and sets the account's webhooks, only for a scenario that declares it."""
    from scenarios.checks import ACUITY_CHECKS

    if "acuity" in data.get("services", []):
        return
    for i, step in enumerate(data.get("steps", [])):
        used = sorted(ACUITY_STEPS & set(step))
        if used:
            raise ScenarioError(f"{path}:{_line_of(node, ['steps', i, used[0]])}: steps.{i}.{used[0]}: an Acuity step "
                                "needs `services: [acuity]` at the top level of the scenario")
    for where in ("setup", "expect"):
        section = data.get(where, {})
        for key in ("acuityChaos", "acuityRateLimit", "acuityBurst"):
            if key in section:
                raise ScenarioError(f"{path}:{_line_of(node, [where, key])}: {where}.{key}: needs `services: [acuity]` "
                                    "at the top level of the scenario")
        for j, name in enumerate(section.get("checks", [])):
            if name in ACUITY_CHECKS:
                raise ScenarioError(f"{path}:{_line_of(node, [where, 'checks', j])}: {where}.checks.{j}: {name} is an "
                                    "Acuity check: it needs `services: [acuity]` at the top level of the scenario")


def load_file(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        # At most one byte past the limit: a huge file (or /dev/zero) is refused without reading it all.
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(f"{p}:1: the file is larger than {MAX_FILE_BYTES >> 20} MiB, the limit for a scenario")
    try:
        # As `read_text` did: UTF-8 with universal newlines.
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(f"{p}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse(text, str(p))


def load_paths(paths: list[str] | None) -> list[Scenario]:
    """Files or directories (every *.yaml / *.yml inside, sorted); the library when none given."""
    targets = [Path(p) for p in paths] if paths else [LIBRARY]
    files: list[Path] = []
    for target in targets:
        if target.is_dir():
            files += sorted([*target.glob("*.yaml"), *target.glob("*.yml")])
        elif target.exists():
            files.append(target)
        else:
            raise ScenarioError(f"{target}: no such file or directory")
    if not files:
        raise ScenarioError(f"{', '.join(map(str, targets))}: no scenario files found")
    scenarios = [load_file(f) for f in files]
    names: dict[str, str] = {}
    for s in scenarios:
        if s.name in names:
            raise ScenarioError(f"{s.path}:1: duplicate scenario name {s.name!r} (also in {names[s.name]})")
        names[s.name] = s.path
    return scenarios
