"""Field mappings of `[destination.<kind>.fields]`: how a stored record (a row, a JSON object) becomes a
canonical one (contracts/PROJECT_FILE.md, "The destination view").

A canonical field maps to a column name / dotted path (a string), or to a table
`{column = "...", map = {stored = "canonical"}, unit = "major" | "cents"}` (`path` is a synonym of
`column`). Unmapped fields are read from the column/path of the same name.

A mapping that does not fit the data is a *problem* (a string naming the kind, the record and the
mapping key), never an exception:
- a field mapped explicitly whose column/path a record lacks;
- the kind's id field (orderId, transactionId, ...) missing, mapped or not: such a record cannot be
  matched at all;
- an amount that is not a number;
- a list field (customers' `emails`, ...) that is not a list of strings.
A record that lacks the same-named column of any other unmapped field simply has no such field:
the checks then show the difference ("GHL 'unfulfilled' vs destination None"), and a destination
that does not store, say, fulfillmentStatus can still be judged on everything else.

Values are as stored, except ids (`...Id` fields and the kind's id field), which are strings, amounts,
which are numbers in major units (`cents` divides by 100), and the list fields of customers (`emails`,
`ghlContactIds`, `acuityEmails`), which are lists of strings read from a list (a JSON array, a PostgreSQL
array), a string holding a JSON array (`'["a@x.com", "b@x.com"]'`) or a comma-separated string
(`"a@x.com, b@x.com"`; items trimmed, empty ones dropped); a stored NULL is an empty list, numbers in a
list become their text, and anything else (an object, a nested list, malformed JSON) is a problem. A `map`
applies to each item of a list field."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from scenarios.destinations.base import AMOUNT_FIELDS, ARRAY_FIELDS, ID_FIELDS, KINDS, KindRead
from scenarios.project import ConfigError, Table

UNITS = ("major", "cents")
MAX_PROBLEMS = 50  # per read: enough to see the pattern, not a wall of text
_MISSING = object()


# A lookup finds a source (column, dotted path) in a stored record: (True, value) or (False, None).
Lookup = Callable[[Any, str], tuple[bool, Any]]


@dataclass(frozen=True)
class FieldSpec:
    name: str                      # the canonical field
    source: str                    # the column / dotted path it is read from
    key: str                       # the mapping key that says so, for problems
    explicit: bool                 # named in `fields` (a missing source is then a problem)
    unit: str = "major"
    values: Mapping[str, Any] = field(default_factory=dict)  # stored (as text) -> canonical


@dataclass
class KindMapping:
    kind: str
    fields: dict[str, FieldSpec]
    what: str = "column"           # how sources are called in problems: column, path, field
    key: str = ""                  # the kind's own key (destination.orders), for records that are no objects

    # ---- applying -----------------------------------------------------------------------------

    def apply(self, records: Iterable[Any], lookup: Lookup) -> KindRead:
        """The canonical records; what does not fit is a problem naming the record and the key."""
        out: list[dict[str, Any]] = []
        found: dict[tuple[str, str], list[str]] = {}  # (key, what is wrong) -> records it is wrong for
        for index, stored in enumerate(records):
            canonical, wrong = self.convert(stored, lookup)
            if wrong:
                ident = self.identify(stored, index, lookup)
                for key, message in wrong:
                    found.setdefault((key, message), []).append(ident)
            out.append(canonical)
        problems = []
        for (key, message), idents in found.items():
            more = f" (and {len(idents) - 1} more record{'s' if len(idents) > 2 else ''})" if len(idents) > 1 else ""
            problems.append(f"{self.kind} record {idents[0]}: {key}: {message}{more}")
        if len(problems) > MAX_PROBLEMS:
            problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]
        return KindRead(out, problems)

    def convert(self, stored: Any, lookup: Lookup) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        canonical: dict[str, Any] = {}
        wrong: list[tuple[str, str]] = []
        if not isinstance(stored, Mapping):
            return canonical, [(self.key or self.kind, f"the record is {_kind_of(stored)}, not an object")]
        id_field = ID_FIELDS[self.kind]
        for spec in self.fields.values():
            present, value = lookup(stored, spec.source)
            if not present:
                if spec.explicit or spec.name == id_field:
                    wrong.append((spec.key, f"{self.what} {spec.source!r} is missing"))
                continue
            if spec.name in ARRAY_FIELDS:
                items = parse_strings(value)
                if items is _MISSING:
                    wrong.append((spec.key, f"{self.what} {spec.source!r}: {_short(value)} is not a list of strings "
                                            "(a list, a JSON array or comma-separated text)"))
                    continue
                canonical[spec.name] = [map_value(item, spec.values) for item in items]
                continue
            value = map_value(value, spec.values)
            if spec.name in AMOUNT_FIELDS:
                number = parse_amount(value, spec.unit)
                if number is _MISSING:
                    wrong.append((spec.key, f"{self.what} {spec.source!r}: {value!r} is not a number"))
                    continue
                value = number
            elif (spec.name.endswith("Id") or spec.name == id_field) and value is not None \
                    and not isinstance(value, str):
                value = _text(value)
            canonical[spec.name] = value
        return canonical, wrong

    def identify(self, stored: Any, index: int, lookup: Lookup) -> str:
        """`ghl_id=abc123` when the record's id is readable, else `#index`."""
        id_field = ID_FIELDS[self.kind]
        if id_field is not None and isinstance(stored, Mapping):
            spec = self.fields[id_field]
            present, value = lookup(stored, spec.source)
            if present and value not in (None, ""):
                return f"{spec.source}={_text(value)}"
        return f"#{index}"


# ---- values ----------------------------------------------------------------------------------------

def map_value(value: Any, values: Mapping[str, Any]) -> Any:
    """The canonical value of a stored one; TOML keys are strings, so stored numbers and booleans are
    looked up by their text. Values not in the map pass through."""
    if not values or value is None:
        return value
    key = value if isinstance(value, str) else _text(value)
    return values.get(key, value)


def parse_amount(value: Any, unit: str) -> Any:
    """A number in major units, None for a stored NULL, or _MISSING when it is not a number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            return _MISSING
    else:
        return _MISSING
    if not number.is_finite():
        return _MISSING
    if unit == "cents":
        number = number / 100
    # int when whole, else float: what GHL's JSON amounts compare against. Huge exponents go through
    # float (and fail as infinite) rather than building a million-digit int.
    if number.adjusted() < 18 and number == number.to_integral_value():
        return int(number)
    result = float(number)
    return result if math.isfinite(result) else _MISSING


def parse_strings(value: Any) -> Any:
    """A list of strings from a stored list, a JSON array in a string, or comma-separated text; [] for a
    stored NULL; _MISSING when it is none of these (or holds something other than strings and numbers)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return [part.strip() for part in text.split(",") if part.strip()]
        try:
            value = json.loads(text)
        except ValueError:
            return _MISSING
    if not isinstance(value, (list, tuple)):
        return _MISSING
    items: list[str] = []
    for item in value:
        if isinstance(item, str):
            items.append(item)
        elif isinstance(item, (int, float, Decimal)) and not isinstance(item, bool):
            items.append(_text(item))
        else:
            return _MISSING
    return items


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"[:80]


# ---- lookups ---------------------------------------------------------------------------------------

def flat(record: Any, source: str) -> tuple[bool, Any]:
    """A key of the record itself (command output, canonical names)."""
    if isinstance(record, Mapping) and source in record:
        return True, record[source]
    return False, None


def dotted(record: Any, source: str) -> tuple[bool, Any]:
    """A dotted path inside a JSON record: `customer.id`, `items.0.price` (numbers index lists)."""
    value = record
    for part in source.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


# ---- configuration ---------------------------------------------------------------------------------

def parse_fields(kind: str, fields: Table, what: str = "column") -> KindMapping:
    """The mapping of one kind from its `fields` table; unknown fields and keys are ConfigErrors."""
    known = KINDS[kind]
    explicit: dict[str, FieldSpec] = {}
    for name, value in fields.data.items():
        key = fields.path(name)
        if name not in known:
            raise ConfigError(key, f"unknown field of {kind} (known: {', '.join(known)})")
        if isinstance(value, str):
            if not value:
                raise ConfigError(key, f"must name a {what}, not the empty string")
            explicit[name] = FieldSpec(name, value, key, True)
        elif isinstance(value, dict):
            explicit[name] = _field_table(name, Table(value, key), what)
        else:
            raise ConfigError(key, f"must be a {what} name or a table {{{what} = \"...\", map = {{...}}, "
                                   f"unit = \"major\"|\"cents\"}}, not {_describe(value)}")
    specs = {name: explicit.get(name) or FieldSpec(name, name, fields.path(name), False) for name in known}
    return KindMapping(kind, specs, what, fields.key.rsplit(".", 1)[0])


def identity(kind: str, key: str) -> KindMapping:
    """Canonical names read as they are (the command adapter); problems name `key`."""
    return KindMapping(kind, {name: FieldSpec(name, name, key, False) for name in KINDS[kind]}, "field", key)


def _field_table(name: str, table: Table, what: str) -> FieldSpec:
    column = table.string("column")
    path = table.string("path")  # a synonym: http paths and SQL columns are spelled either way
    if column is not None and path is not None:
        raise ConfigError(table.path("path"), "give column or path, not both")
    source = column if column is not None else path
    if source is None:
        raise ConfigError(table.path(what), f"is required (the {what} {name} is read from)")
    if not source:
        raise ConfigError(table.path("column" if column is not None else "path"), "must not be empty")
    unit = table.string("unit", "major", choices=UNITS) or "major"
    if unit != "major" and name not in AMOUNT_FIELDS:
        raise ConfigError(table.path("unit"), f"applies to amount fields only ({', '.join(sorted(AMOUNT_FIELDS))})")
    raw = table.table("map").data
    values: dict[str, Any] = {}
    for stored, canonical in raw.items():
        if isinstance(canonical, (dict, list)):
            raise ConfigError(f"{table.path('map')}.{stored}", f"must be a single value, not {_describe(canonical)}")
        values[stored] = canonical
    table.reject_unknown()
    return FieldSpec(name, source, table.key, True, unit, values)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return repr(value)
