"""Merge fields: `{{path}}` templates, the fields each trigger offers, and rendering.

A template is text with `{{dot.path}}` tags (whitespace inside the braces allowed). `fields_for` gives a
trigger's catalog (what a template may name; anything else is refused when the workflow is saved),
`template_problems` checks one template against it, and `render` substitutes the values of a merge
context (nested dicts; lists by index): every value becomes a string, a missing one "".

Always offered: `contact.*` (GHL's list, plus any `contact.<custom field key>`), `location.*`,
`custom_values.<key>`, `right_now.*`, `workflow.id|name`. Per trigger: `payment.*`, `order.*`,
`invoice.*`, `subscription.*`, `refund.*`, or `inboundWebhookRequest.body.<any path>` /
`.query.<key>` / `.headers.<name>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus

TAG = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")

ATTRIBUTION = ("sessionSource", "url", "campaign", "utmSource", "utmMedium", "utmContent", "referrer", "campaignId",
               "fbclid", "gclid", "utmKeyword", "utmMatchType", "adGroupId", "adId")
CONTACT = ("id", "name", "first_name", "last_name", "email", "phone", "phone_raw", "company_name", "full_address",
           "address1", "city", "state", "postal_code", "country", "timezone", "date_of_birth", "source", "website",
           "tags")
LOCATION = ("id", "name", "address", "city", "state", "country", "postal_code", "full_address")
RIGHT_NOW = ("date", "time", "year", "month", "day", "iso")
CUSTOMER = ("id", "first_name", "last_name", "name", "email", "phone", "address", "city", "state", "country",
            "postal_code")

PAYMENT = ("source", "currency_symbol", "currency_code", *(f"customer.{k}" for k in CUSTOMER),
           *(f"invoice.{k}" for k in ("name", "number", "issue_date", "due_date", "url", "recorded_by")),
           "sub_total_amount", "discount_amount", "coupon_code", "tax_amount", "total_amount", "created_on",
           "transaction_id", "payment_status", "gateway", "method", "card.last4", "card.brand",
           # not in GHL's published table (seen in third-party templates): unverified
           "order_id", "subscription_id", "product_name")
ORDER = ("id", "currency_symbol", "currency_code", "cart_total", "total", "coupon_code", "total_discount",
         "created_on", "created_at", "payment_gateway", *(f"customer.{k}" for k in CUSTOMER),
         # the sandbox's own: the product line a firing is about (see triggers: order_submitted by product)
         "product.id", "product.name", "product.price_id", "product.quantity")
INVOICE = ("name", "number", "issue_date", "due_date", "sub_total", "discount_amount", "tax_amount", "total_amount",
           "title", "url",
           *(f"company.{k}" for k in ("name", "phone", "address", "city", "state", "country", "website", "logo")),
           *(f"customer.{k}" for k in ("name", "first_name", "last_name", "phone", "email", "company", "address",
                                        "city", "state", "postal_code")),
           "sender.name", "sender.email", "card.brand", "card.last4",
           # the sandbox's own additions
           "id", "status", "currency_code")
SUBSCRIPTION = ("id", "status", "product_name", "amount", "currency_code", "interval", "created_on")
REFUND = ("amount", "currency_code", "status", "type", "transaction_id", "order_id", "created_on")

# trigger type -> (namespace of its object, its paths); inbound_webhook is open-ended (see Catalog)
TRIGGER_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "payment_received": ("payment", PAYMENT),
    "order_submitted": ("order", ORDER),
    "order_form_submission": ("order", ORDER),
    "invoice": ("invoice", INVOICE),
    "subscription": ("subscription", SUBSCRIPTION),
    "refund": ("refund", REFUND),
    "inbound_webhook": ("", ()),
}
INBOUND = "inboundWebhookRequest"


@dataclass(frozen=True)
class Catalog:
    """What a trigger's templates may name: exact paths, plus open families (`prefix` followed by one
    segment, or by any number of segments)."""

    trigger_type: str
    exact: frozenset[str]
    one_segment: tuple[str, ...]  # prefixes ending in "."
    any_depth: tuple[str, ...]  # prefixes ending in "."

    def offers(self, path: str) -> bool:
        if path in self.exact:
            return True
        for prefix in self.one_segment:
            if path.startswith(prefix) and "." not in path[len(prefix):]:
                return True
        return any(path.startswith(prefix) and len(path) > len(prefix) for prefix in self.any_depth)

    def listing(self) -> list[str]:
        """Every field, open families written as `prefix.<key>` (for documentation and the dashboard)."""
        return [*sorted(self.exact), *(f"{p}<key>" for p in self.one_segment), *(f"{p}<path>" for p in self.any_depth)]


def fields_for(trigger_type: str) -> Catalog:
    """The merge fields a trigger offers. KeyError for an unknown trigger type."""
    namespace, paths = TRIGGER_FIELDS[trigger_type]
    exact = {*(f"contact.{k}" for k in CONTACT), *(f"contact.attributionSource.{k}" for k in ATTRIBUTION),
             *(f"contact.lastAttributionSource.{k}" for k in (*ATTRIBUTION, "utmCampaign")),
             *(f"location.{k}" for k in LOCATION), *(f"right_now.{k}" for k in RIGHT_NOW), "workflow.id",
             "workflow.name", *(f"{namespace}.{p}" for p in paths)}
    one = ["contact.", "custom_values."]
    deep: list[str] = []
    if trigger_type == "inbound_webhook":
        one += [f"{INBOUND}.query.", f"{INBOUND}.headers."]
        deep.append(f"{INBOUND}.body.")
    return Catalog(trigger_type, frozenset(exact), tuple(one), tuple(deep))


# ---- scanning templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """A run of literal text (`path` None) or one tag; `quoted`: the tag sits inside a JSON string."""

    start: int
    end: int
    text: str
    path: str | None = None
    quoted: bool = False


def pieces(text: str) -> Iterator[Piece]:
    """`text` cut into literal runs and tags, tracking whether each tag is inside a JSON string literal
    (a `"` outside tags opens/closes one; a backslash escapes the next character)."""
    i, literal_from, in_string, escaped = 0, 0, False, False
    n = len(text)
    while i < n:
        if text.startswith("{{", i):
            match = TAG.match(text, i)
            if match:
                if literal_from < i:
                    yield Piece(literal_from, i, text[literal_from:i])
                yield Piece(i, match.end(), match.group(0), match.group(1), in_string)
                i = literal_from = match.end()
                continue
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        i += 1
    if literal_from < n:
        yield Piece(literal_from, n, text[literal_from:])


def tags(text: str) -> list[str]:
    """The merge-field paths a template names, in order."""
    return [p.path for p in pieces(text) if p.path is not None]


def template_problems(text: str, trigger_type: str) -> list[str]:
    """What is wrong with one template for a trigger: unclosed `{{`, a tag that is not a dot path, a
    merge field the trigger does not offer. Empty when the template is fine."""
    catalog = fields_for(trigger_type)
    problems: list[str] = []
    for piece in pieces(text):
        if piece.path is None:
            if "{{" in piece.text:
                problems.append(f"unclosed '{{{{' at character {piece.start + piece.text.index('{{') + 1}")
            continue
        if not PATH.match(piece.path):
            problem = f"{piece.text} is not a merge field (expected {{{{name.path}}}})"
        elif not catalog.offers(piece.path):
            problem = f"{{{{{piece.path}}}}} is not a merge field of the {trigger_type} trigger"
        else:
            continue
        if problem not in problems:
            problems.append(problem)
    return problems


# ---- rendering ------------------------------------------------------------------------------------

_MISSING = object()


def resolve(context: Mapping[str, Any], path: str) -> Any:
    """The value at a dot path, or None when absent. Dicts by key (a key that itself holds dots is
    found too; a key differing only in case is the last resort), lists by index."""
    value = _walk(context, path.split("."))
    return None if value is _MISSING else value


def _walk(node: Any, parts: list[str]) -> Any:
    if not parts:
        return node
    if isinstance(node, Mapping):
        for j in range(1, len(parts) + 1):  # "a.b" may be one key
            key = ".".join(parts[:j])
            if key in node:
                found = _walk(node[key], parts[j:])
                if found is not _MISSING:
                    return found
        lowered = {str(k).lower(): k for k in node}
        folded = lowered.get(parts[0].lower())
        return _MISSING if folded is None else _walk(node[folded], parts[1:])
    if isinstance(node, list) and parts[0].isdigit() and int(parts[0]) < len(node):
        return _walk(node[int(parts[0])], parts[1:])
    return _MISSING


def as_text(value: Any) -> str:
    """A merge value as the string it renders to."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


Escape = Literal["raw", "json", "form"]


def render(text: str, context: Mapping[str, Any], *, escape: Escape = "raw") -> str:
    """`text` with every tag replaced by its value's text ("" when missing). `escape`: "json" escapes
    values inside JSON string literals (bare ones stay raw), "form" percent-encodes every value."""
    out: list[str] = []
    for piece in pieces(text):
        if piece.path is None:
            out.append(piece.text)
            continue
        value = as_text(resolve(context, piece.path))
        if escape == "json" and piece.quoted:
            value = json.dumps(value, ensure_ascii=False)[1:-1]
        elif escape == "form":
            value = quote_plus(value)
        out.append(value)
    return "".join(out)


def json_problem(text: str) -> str | None:
    """None if the template is valid JSON once each tag is replaced by a sample (inside a string `x`,
    bare `0`); else "body is not valid JSON at line L column C (reason)", L and C in the template."""
    sample: list[str] = []
    origin: list[int] = []  # origin[k]: index in `text` of sample character k
    for piece in pieces(text):
        chunk = piece.text if piece.path is None else ("x" if piece.quoted else "0")
        sample.append(chunk)
        origin.extend(range(piece.start, piece.end) if piece.path is None else [piece.start] * len(chunk))
    try:
        json.loads("".join(sample))
    except json.JSONDecodeError as exc:
        at = origin[exc.pos] if exc.pos < len(origin) else len(text)
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        return f"body is not valid JSON at line {line} column {column} ({exc.msg})"
    return None
