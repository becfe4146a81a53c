"""JSON bodies written exactly as JavaScript's `JSON.stringify` writes the same value.

Why: a receiver that keeps no raw body (GHL's Node SDK behind `express.json()`, as its docs show)
verifies signatures over `JSON.stringify(req.body)`, so the bytes we sign must be those bytes. orjson
already writes strings as JS does (same escapes, non-ASCII and U+2028 raw, `/` unescaped) but not
numbers (`0.0`, `1e+20`, `1e-6`, `-0.0` where JS writes `0`, `100000000000000000000`, `0.000001`, `0`)
nor object key order (JS lists array-index keys first, ascending). So `dumps` walks the value, rebuilds
only the containers that hold such a number or key, and lets orjson write the rest; strings with lone
surrogates (which orjson refuses) take a slower pure-Python path.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

import orjson

MAX_SAFE = 2**53  # integers up to this are exact doubles: JS writes them digit for digit
INDEX_LIMIT = 2**32 - 1  # an array index is a canonical decimal string below this
# orjson writes non-integral floats of at least this magnitude as Number::toString does; below it,
# from 1e-6, JS still writes plain decimals while orjson switches to an exponent.
PLAIN_FROM = 1e-5
# Written by orjson as JS writes them (a Fragment is JSON already written, e.g. by this module).
_LEAVES = frozenset({str, bool, type(None), orjson.Fragment})


def dumps(value: Any) -> bytes:
    """`value` (dicts with str keys, lists, tuples, str, int, float, bool, None) as the UTF-8 bytes
    `JSON.stringify(value)` gives. Raises TypeError for what JSON cannot hold, as orjson does."""
    try:
        return orjson.dumps(_fix(value))
    except TypeError:
        # Lone surrogates (orjson refuses them), or nesting deeper than orjson's limit; anything that
        # truly cannot be written raises TypeError from the slow path too.
        return "".join(_slow(value, [])).encode()


# ---- numbers ----------------------------------------------------------------------------------


def number(x: float) -> str:
    """ECMAScript Number::toString(x) for a finite double (NaN and ±Infinity give `null`, as in JSON)."""
    if x != x or x in (float("inf"), float("-inf")):
        return "null"
    if x == 0:
        return "0"  # -0 too
    sign = "-" if x < 0 else ""
    digits, n = _shortest(-x if x < 0 else x)
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    exp = ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + exp


def _shortest(x: float) -> tuple[str, int]:
    """The shortest round-trip digits of x > 0 (what repr and JS both pick) and n with x = 0.digits × 10**n."""
    text = repr(x)
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    n = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    return stripped.rstrip("0"), n


def integer(i: int) -> str:
    """A Python int as JS writes the double it becomes (beyond ±2**53 it rounds; past the double range
    JSON.parse gives Infinity, which JSON.stringify writes as null)."""
    if -MAX_SAFE <= i <= MAX_SAFE:
        return str(i)
    try:
        return number(float(i))
    except OverflowError:
        return "null"


def _float(v: float) -> Any:
    if not v.is_integer():
        if v >= PLAIN_FROM or v <= -PLAIN_FROM or v != v:  # also ±inf and NaN: orjson writes null
            return v
        return orjson.Fragment(number(v))
    if -MAX_SAFE <= v <= MAX_SAFE:
        return int(v)  # 0.0, -0.0 and 2.0 become 0, 0 and 2
    return orjson.Fragment(number(v))


# ---- keys -------------------------------------------------------------------------------------


def is_index(key: str) -> bool:
    """True for an ECMAScript array index: "0", "7", "10", never "01", "-1", "1.0" or "4294967295"."""
    return (key.isascii() and key.isdigit() and (key[0] != "0" or len(key) == 1)
            and int(key) < INDEX_LIMIT)


def _js_order(d: dict[str, Any]) -> dict[str, Any]:
    """JS's own-key order: array-index keys ascending, then the rest in insertion order."""
    indexes = [k for k in d if is_index(k)]
    if not indexes:
        return d
    indexes.sort(key=int)
    out = {k: d[k] for k in indexes}
    for k, v in d.items():
        if k not in out:
            out[k] = v
    return out


# ---- the fast walk ----------------------------------------------------------------------------


def _fix(v: Any) -> Any:
    """v itself when orjson already writes it as JS does, else a copy orjson writes right."""
    t = type(v)
    if t is dict:
        return _fix_dict(v)
    if t is list or t is tuple:
        return _fix_list(v)
    if t is float:
        return _float(v)
    if t is int:
        return v if -MAX_SAFE <= v <= MAX_SAFE else orjson.Fragment(integer(v))
    if t in _LEAVES:
        return v
    return _fix_other(v)


# The two loops below inline the common cases (this runs for every value of every answer).
def _fix_dict(d: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] | None = None
    for k, v in d.items():
        t = type(v)
        if t is str:
            continue
        if t is float:
            if v.is_integer():
                fixed: Any = int(v) if -MAX_SAFE <= v <= MAX_SAFE else orjson.Fragment(number(v))
            elif v >= PLAIN_FROM or v <= -PLAIN_FROM or v != v:
                continue
            else:
                fixed = orjson.Fragment(number(v))
        elif t is int:
            if -MAX_SAFE <= v <= MAX_SAFE:
                continue
            fixed = orjson.Fragment(integer(v))
        elif t is dict:
            fixed = _fix_dict(v)
        elif t is list:
            fixed = _fix_list(v)
        elif t is bool or v is None or t is orjson.Fragment:
            continue
        else:
            fixed = _fix(v)
        if fixed is not v:
            if out is None:
                out = dict(d)
            out[k] = fixed
    result = d if out is None else out
    # One C-level min() instead of a test per key: a key that starts with a digit sorts below ":" (the
    # character after "9"), the usual keys (letters, "_id") above it. A non-str key makes min() or the
    # comparison fail.
    if d:
        try:
            if min(d) >= ":":
                return result
        except TypeError:
            bad = next(k for k in d if type(k) is not str)
            raise TypeError(f"Dict key must be str, not {type(bad).__name__}") from None
    return _js_order(result)


def _fix_list(items: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
    out: list[Any] | None = None
    for i, v in enumerate(items):
        t = type(v)
        if t in _LEAVES:
            continue
        if t is int and -MAX_SAFE <= v <= MAX_SAFE:
            continue
        fixed = _fix(v)
        if fixed is not v:
            if out is None:
                out = list(items)
            out[i] = fixed
    return items if out is None else out


def _fix_other(v: Any) -> Any:
    """Subclasses and the few other types orjson writes natively, brought to plain JSON values first."""
    plain = _plain(v)
    return v if plain is v else _fix(plain)


def _plain(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, dict):
        return dict(v)
    if isinstance(v, (list, tuple)):
        return list(v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
    return v  # datetime, UUID...: orjson writes them as strings, or refuses them


# ---- the slow path: lone surrogates, very deep nesting ----------------------------------------


def _slow(v: Any, out: list[str]) -> list[str]:
    t = type(v)
    if v is None:
        out.append("null")
    elif t is bool:
        out.append("true" if v else "false")
    elif t is str:
        out.append(string(v))
    elif t is int:
        out.append(integer(v))
    elif t is float:
        out.append(number(v))
    elif t is dict:
        for k in v:
            if type(k) is not str:
                raise TypeError(f"Dict key must be str, not {type(k).__name__}")
        out.append("{")
        for i, (k, item) in enumerate(_js_order(v).items()):
            out.append("," + string(k) + ":" if i else string(k) + ":")
            _slow(item, out)
        out.append("}")
    elif t is list or t is tuple:
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _slow(item, out)
        out.append("]")
    elif t is orjson.Fragment:
        out.append(orjson.dumps(v).decode())
    else:
        plain = _plain(v)
        if plain is v:
            out.append(orjson.dumps(v).decode())  # datetime and such; raises TypeError when unsupported
        else:
            _slow(plain, out)
    return out


def string(s: str) -> str:
    """A JSON string as JSON.stringify writes it: `"`, `\\` and controls escaped (\\b \\t \\n \\f \\r,
    the rest as lowercase \\u00xx), everything else raw, lone surrogates as lowercase \\udxxx."""
    text = json.dumps(s, ensure_ascii=False)  # the same escapes as JS, surrogates left raw
    if not any("\ud800" <= c <= "\udfff" for c in s):
        return text
    # A surrogate pair held as two code points is one character to JS: join them, escape the rest.
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in joined)
