"""The response schemas of GHL's Payments operations, as JSON Schemas a validator can use on their own.

Two sources: our derived contract (contracts/ghl-payments.openapi.yaml, always in the repository) and
GHL's official spec (`apps/payments.json`), which the repository does not copy: it is read from
OFFICIAL_SPEC when that file is around (a developer's machine), and CI on a clean clone does without it.

`inline()` turns an operation's 200 schema into one self-contained tree: every `$ref` replaced by its
target and every `allOf` merged, with the `x-deviation` markers met on the way kept as `x-deviations`.
`derive()` walks an official tree beside ours and reports where ours is less strict than the official
one (a required field not required, another type, an enum widened) unless our node names a deviation
of contracts/DEVIATIONS.md; it also returns the official tree with those deviations excused, to
validate the sandbox's answers against the official schemas directly."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contracts" / "ghl-payments.openapi.yaml"
DEVIATIONS = ROOT / "contracts" / "DEVIATIONS.md"
OFFICIAL_SPEC = Path("/work/shared/reference/ghl-payments-openapi.json")

Schema = dict[str, Any]

# Every list of the official spec, and the by-id reads of the records they list.
LISTS = ("list-orders", "list-transactions", "list-subscriptions", "list-coupons", "list-integration-providers",
         "list-order-fulfillment", "list-order-notes")
BY_ID = ("get-order-by-id", "get-transaction-by-id", "get-subscription-by-id", "get-coupon")
OPERATIONS = LISTS + BY_ID

DEV_ID = re.compile(r"\bDEV-[A-Z0-9]+\b")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

# jsonschema checks `date-time` only with an optional package installed: check it here instead.
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))  # a real date and time, not 2024-02-30
    return True


@cache
def contract() -> Schema:
    loaded: Schema = yaml.safe_load(CONTRACT.read_text())
    return loaded


@cache
def official() -> Schema | None:
    """GHL's official spec, when this machine has the reference copy."""
    if not OFFICIAL_SPEC.exists():
        return None
    loaded: Schema = json.loads(OFFICIAL_SPEC.read_text())
    return loaded


@cache
def deviation_ids() -> frozenset[str]:
    """The ids contracts/DEVIATIONS.md defines (the first cell of a table row)."""
    return frozenset(re.findall(r"^\| (DEV-[A-Z0-9]+) \|", DEVIATIONS.read_text(), flags=re.MULTILINE))


def operation(doc: Schema, operation_id: str) -> Schema:
    for methods in doc["paths"].values():
        for op in methods.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise KeyError(f"no operation {operation_id} in {doc['info']['title']}")


def response_schema(doc: Schema, operation_id: str) -> Schema | None:
    """The JSON schema of the operation's 200 answer (None when the document declares none)."""
    ok = operation(doc, operation_id)["responses"]["200"]
    if "$ref" in ok:
        ok = resolve(doc, ok["$ref"])
    schema: Schema | None = ok.get("content", {}).get("application/json", {}).get("schema")
    return schema


def resolve(doc: Schema, ref: str) -> Schema:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def flatten(doc: Schema, schema: Schema, depth: int = 0) -> Schema:
    """One schema from `schema`, its `$ref` target and its `allOf` parts (properties and required
    merged; the nearest node's other keywords win); their `x-deviation` texts as `x-deviations`."""
    assert depth < 20, "a reference cycle"
    out: Schema = {}
    deviations: list[str] = []

    def visit(node: Schema, level: int) -> None:
        assert level < 20, "a reference cycle"
        if "x-deviation" in node:
            deviations.append(node["x-deviation"])
        deviations.extend(node.get("x-deviations", []))
        for key, value in node.items():
            if key in ("$ref", "allOf", "x-deviation", "x-deviations"):
                continue
            if key == "properties":
                out.setdefault("properties", {})
                for name, sub in value.items():
                    out["properties"].setdefault(name, sub)
            elif key == "required":
                out["required"] = list(dict.fromkeys([*out.get("required", []), *value]))
            else:
                out.setdefault(key, value)
        if "$ref" in node:
            visit(resolve(doc, node["$ref"]), level + 1)
        for part in node.get("allOf", []):
            visit(part, level + 1)

    visit(schema, depth)
    if deviations:
        out["x-deviations"] = deviations
    return out


def inline(doc: Schema, schema: Schema, depth: int = 0) -> Schema:
    """`schema` with every reference inside replaced by its target (a self-contained JSON Schema)."""
    assert depth < 20, "a reference cycle"
    flat = flatten(doc, schema, depth)
    if isinstance(flat.get("properties"), dict):
        flat["properties"] = {name: inline(doc, sub, depth + 1) for name, sub in flat["properties"].items()}
    if isinstance(flat.get("items"), dict):
        flat["items"] = inline(doc, flat["items"], depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in flat:
            flat[key] = [inline(doc, sub, depth + 1) for sub in flat[key]]
    return flat


def ours(operation_id: str) -> Schema:
    schema = response_schema(contract(), operation_id)
    assert schema is not None, f"our contract declares no 200 schema for {operation_id}"
    return inline(contract(), schema)


def theirs(operation_id: str) -> Schema | None:
    """The official spec's 200 schema of the operation, inlined (None: no spec here, or no schema)."""
    spec = official()
    if spec is None:
        return None
    schema = response_schema(spec, operation_id)
    return None if schema is None else inline(spec, schema)


def validator(schema: Schema) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FORMATS)


def problems(schema: Schema, instance: Any, where: str) -> list[str]:
    """Every way `instance` breaks `schema`, one line each (empty: it is valid)."""
    return [f"{where}{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message[:300]}"
            for e in validator(schema).iter_errors(instance)]


def types(schema: Schema) -> frozenset[str] | None:
    declared = schema.get("type")
    if declared is None:
        return frozenset({"object"}) if "properties" in schema else None
    return frozenset([declared] if isinstance(declared, str) else declared)


def same_type(official_types: frozenset[str], our_types: frozenset[str] | None) -> bool:
    """Ours is the official type (an integer where the spec says number is a narrower number)."""
    if our_types is None:
        return False
    return our_types == official_types or (official_types == {"number"} and our_types == {"integer"})


def named_deviations(schema: Schema) -> set[str]:
    return {dev for text in schema.get("x-deviations", []) for dev in DEV_ID.findall(text)}


def derive(official_schema: Schema, our_schema: Schema, path: str, found: list[str]) -> Schema:
    """Check that `our_schema` is at least as strict as `official_schema` (appending a line to `found`
    for each place it is not), and return the official schema with our documented deviations excused:
    a deviating node accepts anything, except an array served where the spec declares one object
    (DEV-C), whose items must each be that object."""
    deviations = named_deviations(our_schema)
    unknown = deviations - deviation_ids()
    if unknown:
        found.append(f"{path or '(root)'}: x-deviation names {sorted(unknown)}, not in contracts/DEVIATIONS.md")
    official_types, our_types = types(official_schema), types(our_schema)
    if official_types is not None and not same_type(official_types, our_types):
        if not deviations:
            found.append(f"{path or '(root)'}: official type {sorted(official_types)}, ours "
                         f"{sorted(our_types) if our_types else 'any'} without an x-deviation")
        if official_types == {"object"} and our_types == {"array"}:
            return {"type": "array", "items": derive(official_schema, our_schema["items"], path + "[]", found)}
        return {}
    excused = {k: v for k, v in official_schema.items() if k not in ("properties", "items")}
    if "enum" in official_schema and not deviations:
        extra = set(our_schema.get("enum", [None])) - set(official_schema["enum"])
        if "enum" not in our_schema or extra:
            found.append(f"{path or '(root)'}: official enum {official_schema['enum']}, ours "
                         f"{our_schema.get('enum', 'any value')}")
    if "properties" in official_schema:
        missing = [name for name in official_schema.get("required", []) if name not in our_schema.get("required", [])]
        if missing:
            found.append(f"{path or '(root)'}: official required {missing} not required in ours")
        excused["properties"] = {}
        for name, sub in official_schema["properties"].items():
            mine = our_schema.get("properties", {}).get(name)
            if mine is None:
                found.append(f"{path}.{name}: official property missing from ours")
                excused["properties"][name] = copy.deepcopy(sub)
            else:
                excused["properties"][name] = derive(sub, mine, f"{path}.{name}", found)
    if isinstance(official_schema.get("items"), dict):
        mine = our_schema.get("items")
        if not isinstance(mine, dict):
            found.append(f"{path}[]: official items {official_schema['items'].get('type')}, ours undeclared")
            excused["items"] = copy.deepcopy(official_schema["items"])
        else:
            excused["items"] = derive(official_schema["items"], mine, path + "[]", found)
    return excused


def required_by_path(schema: Schema, path: str = "") -> dict[str, list[str]]:
    """{path: required fields} of every object node with a `required` list (paths like `.data[].source`)."""
    out: dict[str, list[str]] = {}
    if schema.get("required"):
        out[path] = sorted(schema["required"])
    for name, sub in schema.get("properties", {}).items():
        out.update(required_by_path(sub, f"{path}.{name}"))
    if isinstance(schema.get("items"), dict):
        out.update(required_by_path(schema["items"], path + "[]"))
    return out


def at(schema: Schema, path: str) -> Schema | None:
    """The node of `schema` at a `required_by_path` path (None if ours has no such node)."""
    node: Schema | None = schema
    for token in re.findall(r"\.[^.\[]+|\[\]", path):
        if node is None:
            return None
        if token == "[]":
            node = node.get("items") if isinstance(node.get("items"), dict) else None
        else:
            node = node.get("properties", {}).get(token[1:])
    if node is not None and types(node) == {"array"} and isinstance(node.get("items"), dict):
        return node["items"]  # DEV-C: ours is an array where the spec has one object: its items stand for it
    return node


def closed(schema: Schema) -> Schema:
    """`schema` with every object that lists its properties closed to others (free-form objects stay open)."""
    out = dict(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: closed(sub) for name, sub in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(out.get("items"), dict):
        out["items"] = closed(out["items"])
    for key in ("anyOf", "oneOf"):
        if key in out:
            out[key] = [closed(sub) for sub in out[key]]
    return out
