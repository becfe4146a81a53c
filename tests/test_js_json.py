"""mock_server.jsjson writes what JavaScript's JSON.stringify writes, checked against a real `node`.

Every body the sandbox sends goes through `jsjson.dumps`, so a Node receiver that re-serializes
`req.body` (GHL's SDK behind `express.json()`) gets the bytes that were signed. One node process
(tests/node/stringify_check.js) serves the module: for each body it checks that
`JSON.stringify(JSON.parse(ours)) === ours` and that ours equals what JavaScript writes for the same
value (parsed from Python's own `json.dumps` of it)."""

from __future__ import annotations

import base64
import json
import math
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server import jsjson

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
NO_REFERENCE = object()


def node_tools(*names: str) -> dict[str, str]:
    """Paths of `node` (and `npm`): from PATH, else installed from the OS packages by `make node`."""
    found = {name: shutil.which(name) for name in names}
    if not all(found.values()) and shutil.which("make"):
        subprocess.run(["make", "-C", str(ROOT), "node"], capture_output=True, timeout=900, check=False)
        found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if not path]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH, and `make node` could not install it "
                    "(it needs apt-get as root)")
    return {name: str(path) for name, path in found.items()}


def js_reference(value: Any) -> Any:
    """The value for Python's json.dumps, as JSON.parse would hold it: NaN and ±Infinity have no JSON
    form, and JSON.stringify writes them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: js_reference(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [js_reference(v) for v in value]
    return value


class NodeStringify:
    """One `node tests/node/stringify_check.js` process, asked over its stdin/stdout."""

    def __init__(self, node: str) -> None:
        self.proc = subprocess.Popen([node, str(NODE_DIR / "stringify_check.js")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, start_new_session=True)

    def check_many(self, items: list[tuple[bytes, Any]]) -> list[dict[str, Any]]:
        """Each (our bytes, the value or NO_REFERENCE) -> {identity, same, js, error}."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        lines = []
        for ours, value in items:
            line = base64.b64encode(ours)
            if value is not NO_REFERENCE:
                reference = json.dumps(js_reference(value), ensure_ascii=True, allow_nan=False)
                line += b" " + base64.b64encode(reference.encode())
            lines.append(line + b"\n")
        stdin = self.proc.stdin

        def write() -> None:  # from a thread, so a big batch cannot fill both pipes and deadlock
            try:
                stdin.writelines(lines)
                stdin.flush()
            except BrokenPipeError:
                pass

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        answers = []
        for _ in lines:
            raw = self.proc.stdout.readline()
            if not raw:
                raise RuntimeError(f"the node checker exited (code {self.proc.poll()})")
            answer = json.loads(raw)
            answer["js"] = base64.b64decode(answer["js"]) if answer.get("js") else None
            answers.append(answer)
        writer.join()
        return answers

    def check(self, ours: bytes, value: Any = NO_REFERENCE) -> dict[str, Any]:
        return self.check_many([(ours, value)])[0]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def node_check() -> Iterator[NodeStringify]:
    checker = NodeStringify(node_tools("node")["node"])
    try:
        yield checker
    finally:
        checker.close()


def assert_as_js(checker: NodeStringify, values: list[Any]) -> None:
    outputs = [jsjson.dumps(v) for v in values]
    answers = checker.check_many(list(zip(outputs, values, strict=True)))
    for value, ours, answer in zip(values, outputs, answers, strict=True):
        assert answer["error"] is None, (value, ours, answer["error"])
        assert answer["same"], f"{value!r}: we wrote {ours!r}, JSON.stringify writes {answer['js']!r}"
        assert answer["identity"], (value, ours)


# ---- unit cases -------------------------------------------------------------------------------

NUMBERS = [
    (0.0, "0"), (-0.0, "0"), (1.0, "1"), (-2.0, "-2"), (0.5, "0.5"), (56.98, "56.98"),
    (1e20, "100000000000000000000"), (1e21, "1e+21"), (-1e21, "-1e+21"), (1.5e300, "1.5e+300"),
    (1e-6, "0.000001"), (1.5e-6, "0.0000015"), (1e-7, "1e-7"), (1.25e-7, "1.25e-7"), (1e-5, "0.00001"),
    (123456789012345.6, "123456789012345.6"), (9007199254740992.0, "9007199254740992"),
    (2.0**60, "1152921504606847000"), (2.0**70, "1.1805916207174113e+21"), (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (math.nan, "null"), (math.inf, "null"), (-math.inf, "null"),
    # Python ints beyond ±2**53 come out as the double JS would parse them into.
    (2**53, "9007199254740992"), (2**53 + 1, "9007199254740992"), (-(2**53) - 3, "-9007199254740996"),
    (2**64, "18446744073709552000"), (10**21, "1e+21"), (-(10**30), "-1e+30"), (10**400, "null"),
    (True, "true"), (None, "null"),
]


@pytest.mark.parametrize(("value", "expected"), NUMBERS, ids=[repr(v) for v, _ in NUMBERS])
def test_numbers_are_written_as_number_to_string(value: Any, expected: str) -> None:
    assert jsjson.dumps(value) == expected.encode()
    assert jsjson.dumps([value]) == b"[" + expected.encode() + b"]"
    assert jsjson.dumps({"v": value}) == b'{"v":' + expected.encode() + b"}"


def test_unit_numbers_agree_with_node(node_check: NodeStringify) -> None:
    assert_as_js(node_check, [v for v, _ in NUMBERS] + [[v for v, _ in NUMBERS]])


def test_array_index_keys_come_first_ascending() -> None:
    value = {"b": 1, "10": 2, "2": 3, "01": 4, "4294967295": 5, "4294967294": 6, "-1": 7, "a": 8, "0": 9}
    assert jsjson.dumps(value) == (b'{"0":9,"2":3,"10":2,"4294967294":6,"b":1,"01":4,"4294967295":5,'
                                   b'"-1":7,"a":8}')
    assert jsjson.dumps({"x": {"1": True, "y": 0.0}}) == b'{"x":{"1":true,"y":0}}'
    # ":" sorts just above "9", and "90" above "9": neither hides the index key.
    assert jsjson.dumps({":": 1, "90": 2}) == b'{"90":2,":":1}'
    assert jsjson.dumps({"9a": 1, "9": 2}) == b'{"9":2,"9a":1}'


def test_strings_are_escaped_as_js_escapes_them() -> None:
    text = "\x00\x01\x1f\x7f \"\\/\b\f\n\r\t\u2028\u2029é😀"
    assert jsjson.dumps(text) == '"\\u0000\\u0001\\u001f\x7f \\"\\\\/\\b\\f\\n\\r\\t\u2028\u2029é😀"'.encode()


def test_lone_surrogates_are_escaped_and_pairs_joined(node_check: NodeStringify) -> None:
    assert jsjson.dumps("a\ud800b") == b'"a\\ud800b"'
    assert jsjson.dumps({"\udc00k": ["\udfff", 0.0]}) == b'{"\\udc00k":["\\udfff",0]}'
    # Two surrogate code points that form a pair are one character to JS, written raw.
    assert jsjson.dumps("\ud83d\ude00") == '"😀"'.encode()
    assert_as_js(node_check, ["a\ud800b", {"\udc00k": ["\udfff", 1e-7]}, "\ud83d\ude00\ud83d"])


def test_deeper_than_orjson_nests_still_written(node_check: NodeStringify) -> None:
    deep: Any = [0.0]
    for _ in range(300):
        deep = [deep]
    assert jsjson.dumps(deep) == b"[" * 301 + b"0" + b"]" * 301
    assert_as_js(node_check, [deep])


def test_what_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError, match="Dict key must be str"):
        jsjson.dumps({1: "one"})
    with pytest.raises(TypeError):
        jsjson.dumps({"a": [object()]})
    with pytest.raises(TypeError):
        jsjson.dumps({"a": "\ud800", "b": object()})  # the slow path refuses it too


def test_only_containers_that_need_it_are_rebuilt() -> None:
    clean = {"a": [1, "x", True, None], "b": {"c": 2.5}, "_id": "x"}
    assert jsjson._fix(clean) is clean  # nothing to change: orjson gets the value itself
    mixed: dict[str, Any] = {"keep": {"c": 2.5}, "fix": {"d": 0.0}, "list": [1, [2.0]]}
    fixed = jsjson._fix(mixed)
    assert fixed is not mixed and fixed["keep"] is mixed["keep"] and fixed["fix"] == {"d": 0}
    assert mixed == {"keep": {"c": 2.5}, "fix": {"d": 0.0}, "list": [1, [2.0]]}  # the input is untouched
    assert isinstance(mixed["fix"]["d"], float)


def test_the_old_encoder_differs_where_the_issue_says(node_check: NodeStringify) -> None:
    """The reason for jsjson: orjson's bytes are not what JSON.stringify writes for these values."""
    for value in ({"discount": 0.0}, 1e20, 1e-6, -0.0, 9007199254740992.0, {"b": 1, "2": 0}):
        answer = node_check.check(orjson.dumps(value), value)
        assert not (answer["same"] and answer["identity"]), value
        assert node_check.check(jsjson.dumps(value), value)["same"]


# ---- the property: many generated values, one node process ------------------------------------

FLOATS = st.one_of(
    st.floats(),  # every magnitude, NaN, ±Infinity, -0.0, subnormals
    st.floats(min_value=1e-9, max_value=1e-4),  # where JS and orjson switch to exponents differently
    st.floats(min_value=1e14, max_value=1e23),
    st.floats(min_value=-2.2250738585072014e-308, max_value=2.2250738585072014e-308),  # subnormals
    st.integers(-(2**70), 2**70).map(float),  # integral floats
    st.integers(-60, 60).map(lambda e: 10.0**e),
)
INTS = st.one_of(st.integers(-(2**64), 2**64), st.integers(-(10**400), 10**400),
                 st.sampled_from([2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 2**63, 10**21]))
TEXT = st.one_of(
    st.text(),  # surrogate-free unicode, controls included
    st.text(st.sampled_from(list("\x00\x01\x1f\x7f\"\\/\b\f\n\r\t\u2028\u2029\ufeff\u00e9a0 ") + ["😀", "\U0010ffff"])),
)
KEYS = st.one_of(TEXT, st.integers(0, 2**32 + 5).map(str),
                 st.sampled_from(["0", "01", "-1", "1.0", "1e3", "4294967294", "4294967295", "4294967296",
                                  " 1", "\uff11", "00", "-0"]))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | FLOATS | INTS | TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON_VALUES, min_size=1, max_size=6))
def test_generated_values_are_written_as_json_stringify(node_check: NodeStringify, values: list[Any]) -> None:
    assert_as_js(node_check, values)


def test_json_already_written_is_embedded_as_is() -> None:
    """An answer made of kept parts (`orjson.Fragment` of bytes `dumps` wrote) is the bytes of the whole
    value written at once, on the fast path and on the slow one (a lone surrogate elsewhere)."""
    part = {"amount": 1.0, "items": [{"qty": 2.0, "1": "x"}], "name": "caf\u00e9"}
    for other in ("plain", "lone \ud800"):
        whole = {"resources": [{"data": part}, {"data": [part]}], "other": other}
        kept = {"resources": [{"data": orjson.Fragment(jsjson.dumps(part))},
                              {"data": [orjson.Fragment(jsjson.dumps(part))]}], "other": other}
        assert jsjson.dumps(kept) == jsjson.dumps(whole)
