"""Control-plane request validation, from the contract itself (contracts/sandbox-control.openapi.yaml).

Each operation's request-body schema (and query-parameter schemas) is compiled once, on first use, into a
JSON Schema 2020-12 validator; a handler gets its checked body with one call:

    data = await validated_body(request, "sandbox-simulate")

A failed check raises `Invalid` (422, mapped by mock_server/http/errors.py) with one sentence per problem,
each naming the field: `amount must be a number`, `pending.polls must be a positive integer`. Three
extensions in the contract shape this (JSON Schema and OpenAPI tools ignore `x-` keywords):

* `x-message` on a schema: the wording after the field name when that schema fails, either one string
  for any failure or a mapping from the failing keyword (`type`, `minimum`, ...) to its wording;
* `x-integer-literal: true`: an integer must be written as one (`2.0` is refused; plain JSON Schema takes it);
* `x-ipv6-literals: true` beside a URL `pattern`: an `http(s)://[...` URL (a bracketed IPv6 literal, which
  the pattern does not describe) passes too; mock_server/control/webhooks.py `receiver_url` decides whether
  it can be sent to.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator
from starlette.requests import Request

from mock_server.control.common import body
from mock_server.errors import Invalid

# A symlink to contracts/sandbox-control.openapi.yaml, so that an installed package (which has no contracts/
# directory) carries the contract as package data (pyproject.toml).
CONTRACT = Path(__file__).with_name("sandbox-control.openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch")


def _integer_literal(validator: Any, wanted: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if wanted and isinstance(instance, float):
        yield ValidationError(f"{instance!r} is not written as an integer")


_default_pattern = Draft202012Validator.VALIDATORS["pattern"]


def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if (schema.get("x-ipv6-literals") and isinstance(instance, str) and instance.startswith(("http://[", "https://["))
            and not any(c.isspace() for c in instance)):
        return
    yield from _default_pattern(validator, pattern, instance, schema)


def _finite_number(checker: Any, instance: Any) -> bool:
    # JSON has no NaN or infinity; orjson refuses them, so this only guards direct callers.
    return (isinstance(instance, (int, float)) and not isinstance(instance, bool)
            and (isinstance(instance, int) or math.isfinite(instance)))


ControlValidator = validators.extend(
    Draft202012Validator, {"x-integer-literal": _integer_literal, "pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number))


@dataclass(frozen=True)
class Operation:
    """One operation's compiled checks: its JSON body and its query parameters (name -> schema)."""

    body: Validator | None  # None when the operation takes no body
    query: Mapping[str, Validator]
    required_query: tuple[str, ...]
    # True only for a body that certainly satisfies the body schema (see `_quick_check`); None: always ask `body`.
    quick: Callable[[Any], bool] | None = None


# ---- a quick yes for the common body ---------------------------------------------------------------
#
# jsonschema walks an object schema keyword by keyword (about 25 us for a simulate body of one id, most of
# a simulated action's check). An object schema whose fields are checked by the few keywords below compiles
# to one predicate per field instead. It only ever says yes; a body it does not vouch for (a field with
# other keywords, a value it does not decide) goes to jsonschema, which words the problems.

_ANNOTATIONS = frozenset({"description", "default", "x-message", "example", "examples", "title"})
_QUICK_KEYWORDS = frozenset({"type", "minLength", "maxLength", "enum", "minimum", "maximum", "exclusiveMinimum",
                             "exclusiveMaximum", "x-integer-literal"}) | _ANNOTATIONS


def _is_type(value: Any, kind: str) -> bool:
    """JSON Schema's types, as ControlValidator checks them (numbers are finite, booleans are not numbers,
    2.0 is an integer)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if kind == "number":
        return isinstance(value, int) or math.isfinite(value)
    return kind == "integer" and (isinstance(value, int) or value.is_integer())


def _field_check(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """A predicate that is True only for values that satisfy `schema`, or None when the schema uses a
    keyword it does not decide."""
    if not set(schema) <= _QUICK_KEYWORDS:
        return None
    kinds = schema.get("type")
    types = None if kinds is None else ((kinds,) if isinstance(kinds, str) else tuple(kinds))
    enum = schema.get("enum")
    if enum is not None and not all(e is None or isinstance(e, str) for e in enum):
        return None  # enum equality of numbers and booleans is jsonschema's to decide
    bounds = [(schema[k], holds) for k, holds in (("minimum", operator.ge), ("maximum", operator.le),
                                                 ("exclusiveMinimum", operator.gt), ("exclusiveMaximum", operator.lt))
              if k in schema]
    if any(isinstance(b, bool) or not isinstance(b, (int, float)) for b, _ in bounds):
        return None
    min_length, max_length = schema.get("minLength"), schema.get("maxLength")
    literal = bool(schema.get("x-integer-literal"))

    def check(value: Any) -> bool:
        if types is not None and not any(_is_type(value, t) for t in types):
            return False
        if enum is not None and not any(type(e) is type(value) and e == value for e in enum):
            return False
        if isinstance(value, str):
            if (min_length is not None and len(value) < min_length) or (max_length is not None and len(value) > max_length):
                return False
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if literal and isinstance(value, float):
                return False
            if not all(holds(value, bound) for bound, holds in bounds):
                return False
        return True

    return check


def _quick_check(schema: Mapping[str, Any], field_validator: Callable[[Mapping[str, Any]], Validator]
                 ) -> Callable[[Any], bool] | None:
    """For an object schema of `properties` only: True when every field of the body passes its own check
    (a quick predicate, or its own compiled schema for the fields with other keywords)."""
    if set(schema) - _ANNOTATIONS - {"components"} != {"type", "properties"} or schema["type"] != "object":
        return None
    checks: dict[str, Callable[[Any], bool]] = {}
    for name, field in schema["properties"].items():
        quick = _field_check(field)
        checks[name] = quick if quick is not None else field_validator(field).is_valid

    def check(data: Any) -> bool:
        if not isinstance(data, dict):
            return False
        for name, value in data.items():
            field = checks.get(name)
            if field is not None and not field(value):
                return False
        return True

    return check


@functools.cache
def _contract() -> dict[str, Any]:
    with CONTRACT.open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return loaded


@functools.cache
def _operations() -> dict[str, Operation]:
    """Every operation of the contract by operationId, compiled once."""
    doc = _contract()
    components = doc.get("components", {})

    def compile_(schema: Mapping[str, Any]) -> Validator:
        # A schema that is only a `$ref` (most bodies) compiles as its target: the same checks, without
        # a reference lookup on every request (that lookup was most of a simulated action's check).
        if set(schema) == {"$ref"}:
            schema = resolve(schema)
        # `#/components/...` references resolve against the root schema, which carries the components.
        compiled: Validator = ControlValidator({**schema, "components": components})
        return compiled

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref", "")
        if not ref.startswith("#/"):
            return node
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part]
        return resolve(target)

    found: dict[str, Operation] = {}
    for item in doc.get("paths", {}).values():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            params = [resolve(p) for p in (*shared, *op.get("parameters", []))]
            query = {p["name"]: compile_(p.get("schema", {})) for p in params if p.get("in") == "query"}
            required = tuple(p["name"] for p in params if p.get("in") == "query" and p.get("required"))
            if schema is not None and set(schema) == {"$ref"}:
                schema = resolve(schema)
            found[op["operationId"]] = Operation(
                compile_(schema) if schema is not None else None, query, required,
                _quick_check(schema, compile_) if schema is not None else None)
    return found


def compile_contract() -> None:
    """Read and compile the control-plane contract now rather than at the first request (a fork server
    does it once for all the sandboxes it forks)."""
    _operations()


def operation(operation_id: str) -> Operation:
    try:
        return _operations()[operation_id]
    except KeyError:
        raise LookupError(f"{operation_id} is not an operation of {CONTRACT.name}") from None


def check_body(operation_id: str, data: Any) -> None:
    """Raise Invalid when `data` does not satisfy the operation's request-body schema."""
    op = operation(operation_id)
    validator = op.body
    if validator is None:
        raise LookupError(f"{operation_id} takes no request body")
    if op.quick is not None and op.quick(data):
        return
    problems = messages(validator.iter_errors(data))
    if problems:
        raise Invalid(*problems)


async def validated_body(request: Request, operation_id: str) -> dict[str, Any]:
    """The request's JSON object body (400 when it is not JSON or not an object; an empty body is `{}`),
    checked against the operation's schema (422 naming each bad field)."""
    data = await body(request)
    check_body(operation_id, data)
    return data


def validated_query(request: Request, operation_id: str) -> dict[str, Any]:
    """The operation's query parameters present in the request, each checked against its schema and read
    as the schema's type (`integer` -> int, `number` -> float; unreadable text stays text and fails)."""
    op = operation(operation_id)
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name in op.required_query:
        if not request.query_params.get(name):
            problems.append(f"{name} is required")
    for name, validator in op.query.items():
        raw = request.query_params.get(name)
        if raw is None or (raw == "" and name in op.required_query):
            continue
        value = _coerce(raw, validator.schema)
        problems += messages(validator.iter_errors(value), name)
        out[name] = value
    if problems:
        raise Invalid(*problems)
    return out


def validated_value(operation_id: str, parameter: str, raw: str, shown: str | None = None) -> Any:
    """`raw` checked against one query parameter's schema and read as its type, as `validated_query`
    does; for a value from elsewhere (a header meaning the same thing), named `shown` in the 422."""
    validator = operation(operation_id).query[parameter]
    value = _coerce(raw, validator.schema)
    problems = messages(validator.iter_errors(value), shown or parameter)
    if problems:
        raise Invalid(*problems)
    return value


def _coerce(raw: str, schema: Mapping[str, Any]) -> Any:
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    if "integer" in kinds and raw.isascii() and raw.isdigit():  # str.isdigit alone takes `²`, which int() refuses
        try:
            return int(raw)
        except ValueError:  # past int()'s 4,300-digit limit: stays text, and fails as not an integer
            return raw
    if "number" in kinds:
        try:
            value = float(raw)
        except ValueError:
            return raw
        return value if math.isfinite(value) else raw
    return raw


# ---- jsonschema errors -> sentences -----------------------------------------------------------------

TYPE_WORDS = {"number": "a number", "integer": "an integer", "string": "a string", "boolean": "a boolean",
              "object": "an object", "array": "an array"}


def messages(errors: Iterable[ValidationError], prefix: str = "") -> list[str]:
    """One sentence per problem, in the order found, without repeats. An alternative (`oneOf`/`anyOf`/
    `not`) is reported only when nothing more precise was found at or below its field."""
    leaves = [leaf for error in errors for leaf in _leaves(error)]
    # A value of the wrong type fails its other keywords too: say only what it must be (its allowed values
    # when there is a list of them, else its type).
    failed: dict[tuple[Any, ...], set[str]] = {}
    for e in leaves:
        failed.setdefault(tuple(e.absolute_path), set()).add(str(e.validator))

    def telling(e: ValidationError) -> bool:
        kinds = failed[tuple(e.absolute_path)]
        return "type" not in kinds or e.validator == ("enum" if "enum" in kinds else "type")

    leaves = [e for e in leaves if telling(e)]
    paths = [tuple(e.absolute_path) for e in leaves if e.validator not in ("oneOf", "anyOf", "not")]
    out: list[str] = []
    for e in leaves:
        here = tuple(e.absolute_path)
        if e.validator in ("oneOf", "anyOf", "not") and any(p[:len(here)] == here for p in paths):
            continue
        text = sentence(e, prefix)
        if text not in out:
            out.append(text)
    return out


def _leaves(error: ValidationError) -> list[ValidationError]:
    """For a failed `oneOf`/`anyOf`, the errors of the alternatives whose type fits the value (what is
    wrong inside it); when none fits, the alternative error itself (`x must be ...`)."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    fitting = [subs for subs in branches.values()
               if not any(s.validator == "type" and not s.relative_path for s in subs)]
    if len(fitting) == 1 and fitting[0]:
        return [leaf for sub in fitting[0] for leaf in _leaves(sub)]
    return [error]


def _field(error: ValidationError, prefix: str) -> str:
    parts = [prefix] if prefix else []
    return ".".join([*parts, *(str(p) for p in error.absolute_path)])


def sentence(error: ValidationError, prefix: str = "") -> str:
    field = _field(error, prefix)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    custom = schema.get("x-message")
    if isinstance(custom, Mapping):
        custom = custom.get(keyword)
    if keyword == "required":
        # jsonschema reports each missing property as its own error, worded `'name' is a required property`.
        missing = error.message.removesuffix(" is a required property").strip("'\"")
        return f"{field + '.' if field else ''}{missing} {custom or 'should not be empty'}"
    if keyword == "additionalProperties":
        known = list(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known)) if isinstance(error.instance, Mapping) else []
        head = f"{field} has unknown field(s)" if field else "unknown field(s)"
        return f"{head}: {', '.join(extra)}; known: {', '.join(known)}"
    if custom:
        return f"{field} {custom}" if field else str(custom)
    return f"{field or 'body'} {_generic(keyword, error.validator_value, schema, error.message)}"


def _generic(keyword: str, value: Any, schema: Mapping[str, Any], fallback: str) -> str:
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else [k for k in (kinds or []) if k != "null"]
    noun = "an integer" if "integer" in kinds else "a number"
    if keyword == "type" or keyword == "x-integer-literal":
        if keyword == "x-integer-literal":
            kinds = ["integer"]
        words = [TYPE_WORDS.get(k, k) for k in kinds]
        if "a string" in words and schema.get("minLength", 0) >= 1:
            words[words.index("a string")] = "a non-empty string"
        return f"must be {' or '.join(words) or 'of another type'}"
    if keyword == "enum":
        return f"must be one of the following values: {', '.join(str(v) for v in value if v is not None)}"
    if keyword == "const":
        return f"must be {value!r}"
    if keyword == "minimum":
        return f"must not be less than {value}"
    if keyword == "maximum":
        return f"must not be greater than {value}"
    if keyword == "exclusiveMinimum":
        return f"must be a positive {noun[3 if noun.startswith('an') else 2:]}" if value == 0 else f"must be greater than {value}"
    if keyword == "exclusiveMaximum":
        return f"must be less than {value}"
    if keyword == "minLength":
        return "must be a non-empty string" if value == 1 else f"must be at least {value} characters long"
    if keyword == "minItems":
        return "must be a non-empty array" if value == 1 else f"must hold at least {value} items"
    if keyword == "multipleOf":
        return f"must be a multiple of {value}"
    if keyword == "pattern":
        return f"must match {value}"
    return fallback
