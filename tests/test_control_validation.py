"""Control-plane request validation from contracts/sandbox-control.openapi.yaml (control/validation.py),
the typed domain errors and their one HTTP mapping (http/errors.py EXCEPTION_HANDLERS), and the queries the
handlers no longer build themselves (webhooks/queries.py, ghl/queries.py).

Over real HTTP: every refusal is a GHL-shaped error envelope with the documented status and a sentence
naming the field; a refused request changes nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from api_support import assert_ghl_error
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_support import new_order

from mock_server.app import new_runtime
from mock_server.control import validation
from mock_server.errors import Conflict, DomainError, Invalid, NotFound
from mock_server.ghl import errors as ghl_errors
from mock_server.ghl import queries as ghl_queries
from mock_server.ghl.models import Fulfillment, Order, Subscription, Transaction
from mock_server.ghl.simulation import SimArgs
from mock_server.ghl.world import ghl
from mock_server.http.errors import EXCEPTION_HANDLERS, domain_error
from mock_server.settings import Settings
from mock_server.testing import SandboxClient
from mock_server.webhooks import queries as webhook_queries

ROOT = Path(__file__).resolve().parent.parent
NOWHERE = "http://127.0.0.1:9/hook"  # nothing listens on port 9


# ---- bodies over HTTP ------------------------------------------------------------------------------

BAD_BODIES: list[tuple[str, str, Any, str]] = [
    # bools where numbers go
    ("POST", "/reset", {"seed": True}, "seed must be an integer not less than 0"),
    ("POST", "/locations", {"orders": False}, "orders must be an integer not less than 0"),
    ("POST", "/simulate/order.pay", {"orderId": "x", "amount": True}, "amount must be a number"),
    ("POST", "/clock", {"advance": True}, "advance must be seconds or a duration like 30d"),
    ("PUT", "/webhooks/chaos", {"drop": True}, "drop must be a probability between 0 and 1"),
    ("PUT", "/webhooks/policy", {"factor": True}, "factor must be a number from 1 to 10"),
    ("POST", "/tokens", {"locationId": "{loc}", "expiresIn": True},
     "expiresIn must be a number of seconds from 0 to 3153600000"),
    ("POST", "/faults", {"effect": {"status": True}}, "effect.status must be an HTTP error status from 400 to 599"),
    ("POST", "/faults", {"effect": {"status": 500}, "probability": False}, "probability must be between 0 and 1"),
    # other wrong types
    ("POST", "/locations", {"name": 5}, "name must be a string"),
    ("POST", "/clock", {"freeze": "yes"}, "freeze must be a boolean"),
    ("POST", "/simulate/order.create", {"qty": "2"}, "qty must be an integer from 1 to 1000"),
    ("POST", "/simulate/order.create", {"items": [{"priceId": "p", "qty": "1"}]}, "items.0.qty must be a number"),
    ("POST", "/simulate/order.create", {"items": ["p"]}, "items.0 must be an object {priceId, qty}"),
    ("POST", "/simulate/order.create", {"locationId": ""}, "locationId must be a non-empty string"),
    ("POST", "/tokens", {"locationId": "{loc}", "scopes": "payments/orders.readonly"}, "scopes must be an array of strings"),
    ("POST", "/webhooks/targets", {"url": NOWHERE, "events": "OrderCreate"}, "events must be an array of event names"),
    ("POST", "/webhooks/targets", {"url": NOWHERE, "chaos": [1]}, "chaos must be an object"),
    ("POST", "/webhooks/targets", {"url": "ftp://example.com/x"}, "url must be an http:// or https:// URL"),
    ("PUT", "/webhooks/chaos", {"duplicateCount": 2.5}, "duplicateCount must be an integer from 1 to 20"),
    ("POST", "/rankr/events", {"url": NOWHERE, "orderId": "o", "items": [{"priceId": "p", "qty": 2.0}]},
     "items.0.qty must be an integer from 1 to 1000000"),
    ("POST", "/rankr/events", {"url": NOWHERE, "orderId": "o", "items": [], "notifyCustomer": 1},
     "notifyCustomer must be a boolean"),
    ("POST", "/faults", {"effect": {"status": 503.0}}, "effect.status must be an HTTP error status from 400 to 599"),
    ("POST", "/faults", {"effect": {"status": 500}, "times": 1.0}, "times must be a non-negative integer"),
    # missing required fields
    ("POST", "/tokens", {}, "locationId should not be empty"),
    ("POST", "/tokens/revoke", {}, "token should not be empty"),
    ("POST", "/oauth/authorize", {"clientId": "c"}, "locationId should not be empty"),
    ("PUT", "/ratelimit", {}, "profile should not be empty"),
    ("POST", "/webhooks/targets", {}, "url should not be empty"),
    ("POST", "/webhooks/forge", {"orderId": "o"}, "url should not be empty"),
    ("POST", "/faults", {}, "effect should not be empty"),
    ("POST", "/rankr/events", {"url": NOWHERE, "orderId": "o"}, "items should not be empty"),
    ("PUT", "/state", {"format": "ghl-sandbox-state", "version": 1}, "tables should not be empty"),
    ("POST", "/simulate/order.pay", {"orderId": "x", "pending": {"outcome": "failed"}},
     "pending needs polls (a positive count) or seconds"),
    # unknown enum values
    ("PUT", "/ratelimit", {"profile": "unlimited"},
     "profile must be one of the following values: default, sandbox-account, off"),
    ("POST", "/oauth/authorize", {"clientId": "c", "locationId": "l", "userType": "Agency"},
     "userType must be one of the following values: Location, Company"),
    ("POST", "/tokens", {"locationId": "{loc}", "tokenClass": "user"},
     "tokenClass must be one of the following values: location, agency"),
    ("POST", "/webhooks/forge", {"url": NOWHERE, "orderId": "o", "kind": "bogus"},
     "kind must be one of the following values: valid, forged, tampered, replayed, unsigned"),
    ("PUT", "/webhooks/policy", {"name": "linear"}, "name must be one of the following values: ghl, exponential"),
    ("PUT", "/webhooks/policy", {"name": None}, "name must be one of the following values: ghl, exponential"),
    ("POST", "/rankr/events", {"url": NOWHERE, "orderId": "o", "items": [], "forge": "bogus"},
     "forge must be one of the following values: bad-signature, no-signature"),
    ("POST", "/simulate/order.pay", {"orderId": "x", "pending": {"polls": 1, "outcome": "maybe"}},
     "pending.outcome must be one of the following values: succeeded, failed"),
    ("PUT", "/state", {"format": "something-else", "version": 1, "tables": {}},
     "format must be 'ghl-sandbox-state'"),
    # bounds and unknown fields
    ("POST", "/reset", {"orders": 1_000_001}, "orders must not be greater than 1000000"),
    ("POST", "/simulate/order.pay", {"orderId": "x", "amount": 1e12}, "amount must not be greater than 1000000000"),
    ("POST", "/clock", {"advance": "-1d"}, "advance must be a non-negative duration (the clock only moves forward)"),
    ("POST", "/clock", {"advance": 4e9}, "advance must be at most 100 years"),
    ("PUT", "/webhooks/chaos", {"dropp": 0.5},
     "unknown field(s): dropp; known: drop, duplicate, duplicateCount, delayMs, reorderWindow, reorderHoldMs"),
    ("POST", "/faults", {"effect": {"status": 500}, "time": 2},
     "unknown field(s): time; known: match, effect, times, after, probability"),
    ("POST", "/faults", {"effect": {"status": 500, "reset": True}},
     "effect may hold only one of status, reset, commitThenDrop, rateLimited (plus delayMs)"),
    ("POST", "/simulate/order.pay", {"orderId": "x", "pending": {"pols": 1}},
     "pending has unknown field(s): pols; known: polls, seconds, outcome"),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), BAD_BODIES,
                         ids=[f"{m} {p} {b}"[:90] for m, p, b, _ in BAD_BODIES])
def test_a_body_against_the_contract_is_422_naming_the_field(ghl_sandbox: SandboxClient, method: str, path: str,
                                                             body: Any, message: str) -> None:
    before = ghl_sandbox.http.get("/_sandbox/state").content
    raw = orjson.dumps(body).replace(b"{loc}", ghl_sandbox.location()["locationId"].encode())
    r = ghl_sandbox.http.request(method, "/_sandbox" + path, content=raw, headers={"content-type": "application/json"})
    body_out = assert_ghl_error(r, 422, message)
    assert body_out["error"] == "Unprocessable Entity"
    assert ghl_sandbox.http.get("/_sandbox/state").content == before  # a refusal changes nothing


def test_every_problem_is_listed_once(ghl_sandbox: SandboxClient) -> None:
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.pay",
                              json={"orderId": 5, "amount": "5", "liveMode": "no", "pending": {"polls": 0}})
    body = assert_ghl_error(r, 422)
    assert body["message"] == ["orderId must be a non-empty string", "amount must be a number",
                               "liveMode must be a boolean", "pending.polls must be a positive integer"]


@pytest.mark.parametrize(("path", "params", "message"), [
    ("/journal", {"limit": "-1"}, "limit must be a non-negative integer"),
    ("/journal", {"limit": "ten"}, "limit must be a non-negative integer"),
    ("/journal", {"since": "yesterday"}, "since must be an entry id or an ISO 8601 time"),
    ("/journal", {"since": "\u00b2"}, "since must be an entry id or an ISO 8601 time"),
    ("/dashboard/events", {"after": "x"}, "after must be a non-negative integer"),
    ("/dashboard/events", {"limit": "1.5"}, "limit must be a non-negative integer"),
    ("/dashboard/events", {"after": "\u00b2"}, "after must be a non-negative integer"),  # a digit to str.isdigit
    ("/wait", {"for": "deliveries-sent"}, "for must be one of the following values: deliveries-settled"),
    ("/wait", {"timeout": "soon"}, "timeout must be a number of seconds"),
    ("/wait", {"timeout": "nan"}, "timeout must be a number of seconds"),
    ("/wait", {"timeout": "601"}, "timeout must be between 0 and 600 seconds"),
])
def test_a_bad_query_parameter_is_422_naming_it(ghl_sandbox: SandboxClient, path: str, params: dict[str, str],
                                                message: str) -> None:
    assert_ghl_error(ghl_sandbox.http.get("/_sandbox" + path, params=params), 422, message)


def test_valid_values_the_handlers_always_took_are_still_taken(ghl_sandbox: SandboxClient) -> None:
    # JSON's 2.0 is the integer 2 where the contract says `integer` without `x-integer-literal`.
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.create", json={"qty": 2.0})
    assert r.status_code == 200, r.text
    assert ghl_sandbox.http.get("/_sandbox/journal", params={"limit": "0"}).json()["entries"] == []
    # A bracketed IPv6 literal is a receiver URL although the contract's pattern does not describe it.
    target = ghl_sandbox.control("POST", "/webhooks/targets", json={"url": "http://[::1]:9/hook"})
    try:
        assert target["url"] == "http://[::1]:9/hook"
    finally:
        ghl_sandbox.control("DELETE", f"/webhooks/targets/{target['id']}")
    # Without orderId, a forged webhook names no order: 404, as documented (not a 422).
    assert_ghl_error(ghl_sandbox.http.post("/_sandbox/webhooks/forge", json={"url": NOWHERE}), 404,
                     "Order None not found")


# ---- typed errors: one mapping to HTTP --------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/simulate/order.pay", {"orderId": "0123456789abcdef01234567"}, 404,
     "Order 0123456789abcdef01234567 not found"),
    ("POST", "/simulate/order.explode", {}, 404, None),
    ("POST", "/oauth/authorize", {"clientId": "nope", "locationId": "nope"}, 404, "unknown clientId nope"),
    ("POST", "/tokens", {"locationId": "NoSuchLocation000000"}, 404, "Location NoSuchLocation000000 not found"),
    # An unknown location or target is 404 before the rest of the body is looked at (as it always was).
    ("POST", "/tokens", {"locationId": "NoSuchLocation000000", "expiresIn": -1}, 404,
     "Location NoSuchLocation000000 not found"),
    ("PUT", "/webhooks/targets/nope/chaos", {"drop": 2}, 404, "Webhook target nope not found"),
    ("POST", "/tokens/revoke", {"token": "nope"}, 404, "Token not found"),
    ("DELETE", "/faults/fault_999999", None, 404, "Fault rule fault_999999 not found"),
    ("PUT", "/webhooks/targets/nope/chaos", {}, 404, "Webhook target nope not found"),
    ("POST", "/webhooks/targets", {"url": NOWHERE, "locationId": "NoSuchLocation000000"}, 422,
     "locationId must be the id of a sandbox location"),
    ("PUT", "/state", {"format": "ghl-sandbox-state", "version": 1, "tables": {"no_such_table": []}}, 422,
     "unknown table 'no_such_table'"),
])
def test_domain_errors_get_their_status_from_the_one_mapping(ghl_sandbox: SandboxClient, method: str, path: str,
                                                             body: Any, status: int, message: str | None) -> None:
    r = ghl_sandbox.http.request(method, "/_sandbox" + path, json=body)
    out = assert_ghl_error(r, status, message)
    assert out["error"] == {404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}[status]
    if message is not None and status != 422:
        assert out["message"] == message


def test_a_refused_action_is_409(ghl_sandbox: SandboxClient) -> None:
    oid = new_order(ghl_sandbox)
    r = ghl_sandbox.http.post("/_sandbox/simulate/order.refund", json={"orderId": oid})
    out = assert_ghl_error(r, 409, None)
    assert out == {**out, "statusCode": 409, "error": "Conflict", "message": "Order has no captured payment to refund"}


def test_the_mapping_covers_the_whole_family() -> None:
    assert set(EXCEPTION_HANDLERS) == {DomainError}
    cases: list[tuple[DomainError, int, Any]] = [
        (NotFound("Location L not found"), 404, "Location L not found"),
        (Invalid("a must be a number", "b must be a boolean"), 422, ["a must be a number", "b must be a boolean"]),
        (Conflict("Order is already paid in full"), 409, "Order is already paid in full"),
        (ghl_errors.NotFound("Order", "abc"), 404, "Order abc not found"),
        (ghl_errors.InvalidOperation("Cannot pay a cancelled order"), 409, "Cannot pay a cancelled order"),
    ]
    for exc, status, message in cases:
        api = domain_error(exc)
        assert (api.status, api.message) == (status, message), exc
    assert isinstance(Invalid("x"), ValueError)  # parsers' old callers that catch ValueError keep working


# ---- the validator itself --------------------------------------------------------------------------

def _operation_ids_in_code() -> set[str]:
    found: set[str] = set()
    # The shared control plane, each service's part of it (`<service>/control.py`) and the dashboard's views.
    for path in [*(ROOT / "mock_server" / "control").glob("*.py"), *(ROOT / "mock_server").glob("*/control.py"),
                 ROOT / "mock_server" / "dashboard" / "views.py"]:
        # Every quoted operation id (`"sandbox-..."`) in the handler modules.
        found |= set(re.findall(r"\"(sandbox-[a-z-]+)\"", path.read_text()))
    return found


def test_the_validator_reads_the_contract_itself() -> None:
    # A symlink in the package (shipped as package data) to the one contract file, never a copy.
    assert validation.CONTRACT.resolve() == (ROOT / "contracts" / "sandbox-control.openapi.yaml").resolve()


def test_every_operation_the_handlers_name_is_in_the_contract() -> None:
    named = _operation_ids_in_code()
    assert len(named) >= 20, named
    for operation_id in named:
        validation.operation(operation_id)  # LookupError if the contract has no such operation
    with pytest.raises(LookupError):
        validation.operation("sandbox-no-such-operation")


def test_every_request_body_of_the_contract_is_validated_by_its_handler() -> None:
    doc = yaml.safe_load((ROOT / "contracts" / "sandbox-control.openapi.yaml").read_text())
    with_body = {op["operationId"] for item in doc["paths"].values() for op in item.values()
                 if isinstance(op, dict) and "requestBody" in op}
    assert with_body <= _operation_ids_in_code(), with_body - _operation_ids_in_code()


@pytest.mark.parametrize(("operation_id", "body", "messages"), [
    ("sandbox-simulate", {"pending": 3}, ["pending must be an object {polls?, seconds?, outcome?}"]),
    ("sandbox-simulate", {"pending": {"polls": 1.5}}, ["pending.polls must be a positive integer"]),
    ("sandbox-simulate", {"amount": -1}, ["amount must be a positive number"]),
    ("sandbox-simulate", {"items": []}, ["items must be a non-empty array of {priceId, qty}"]),
    ("sandbox-set-clock", {"advance": "abc"}, ["advance must be seconds or a duration like 30d"]),
    ("sandbox-add-fault", {"effect": {}}, ["effect needs one of status, delayMs, reset, commitThenDrop, rateLimited"]),
    ("sandbox-import-state", {}, ["format should not be empty", "version should not be empty",
                                  "tables should not be empty"]),
    ("sandbox-import-state", {"format": "ghl-sandbox-state", "version": 1, "tables": {}, "meta": {"seed": "x"}},
     ["meta.seed must be an integer"]),
])
def test_schema_errors_become_sentences(operation_id: str, body: dict[str, Any], messages: list[str]) -> None:
    with pytest.raises(Invalid) as refused:
        validation.check_body(operation_id, body)
    assert refused.value.messages == messages


@pytest.mark.parametrize(("operation_id", "body"), [
    ("sandbox-simulate", {}),
    ("sandbox-simulate", {"orderId": "o", "amount": 5, "pending": {"polls": 2.0, "outcome": "failed"}}),
    ("sandbox-set-clock", {"advance": "30d", "freeze": None}),
    ("sandbox-add-fault", {"match": {"path": "/payments/orders"}, "effect": {"status": 503}, "times": 1}),
    ("sandbox-add-webhook-target", {"url": "http://[::1]:8080/hook", "chaos": None, "events": None}),
    ("sandbox-set-chaos", {}),
    ("sandbox-create-location", {"name": None, "seed": 7, "orders": 0}),
])
def test_what_the_handlers_accept_passes(operation_id: str, body: dict[str, Any]) -> None:
    validation.check_body(operation_id, body)


# ---- queries owned by the services -----------------------------------------------------------------

def test_location_state_and_delivery_queries_read_typed_records() -> None:
    sandbox = new_runtime(Settings(orders=5))
    try:
        store = sandbox.store
        location_id = sandbox.locations()[0].id
        state = ghl_queries.location_state(store, location_id)
        assert state.orders and all(isinstance(o, Order) and o.location_id == location_id for o in state.orders)
        assert [o.created_at for o in state.orders] == sorted((o.created_at for o in state.orders), reverse=True)
        assert all(isinstance(t, Transaction) for t in state.transactions)
        assert all(isinstance(s, Subscription) for s in state.subscriptions)
        assert all(isinstance(f, Fulfillment) and f.location_id == location_id for f in state.fulfillments)
        assert ghl_queries.location_state(store, "NoSuchLocation000000") == ghl_queries.LocationRecords([], [], [], [])

        kept = sandbox.webhooks.add_target(NOWHERE)
        lossy = sandbox.webhooks.add_target(NOWHERE, chaos={"drop": 1.0})
        ghl(sandbox).simulator.run("order.create", SimArgs(location_id=location_id))
        everything = webhook_queries.deliveries(store, webhook_queries.DeliveryFilter())
        assert len(everything) == 2  # the OrderCreate, to each target
        assert [d.seq for d in everything] == sorted(d.seq for d in everything)
        dropped = webhook_queries.deliveries(store, webhook_queries.DeliveryFilter(status="dropped"))
        assert [d.target_id for d in dropped] == [lossy.id]
        to_kept = webhook_queries.deliveries(store, webhook_queries.DeliveryFilter(target_id=kept.id,
                                                                                  event_type="OrderCreate"))
        assert len(to_kept) == 1 and to_kept[0].status != "dropped" and to_kept[0].location_id == location_id
        assert webhook_queries.deliveries(store, webhook_queries.DeliveryFilter(event_type="OrderStatusUpdate")) == []
        assert webhook_queries.deliveries(store, webhook_queries.DeliveryFilter(location_id="elsewhere")) == []
        assert webhook_queries.dropped_since(store, 0) == dropped
        assert webhook_queries.dropped_since(store, dropped[0].created_at + 1) == []
    finally:
        sandbox.store.close()


# ---- the quick yes (validation.Operation.quick) never says yes to a body jsonschema refuses -------------

_QUICK_OPERATIONS = sorted(name for name, op in validation._operations().items() if op.quick is not None)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 2_000_000_000), st.sampled_from([0, 1, 2.0, -0.0, 0.5, 1e300, 1000.5]),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3), st.text(min_size=95, max_size=105),
    st.sampled_from(["cash", "card", "visa", "funnel", "", "ord_1", "https://example.com/hook", "succeeded"]))
_values = st.one_of(_scalars, st.lists(_scalars, max_size=2), st.dictionaries(st.text(max_size=3), _scalars, max_size=2),
                    st.lists(st.fixed_dictionaries({"priceId": st.text(max_size=3), "qty": _scalars}), max_size=2),
                    st.fixed_dictionaries({"polls": _scalars}))


@st.composite
def _bodies(draw: Any) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(_QUICK_OPERATIONS))
    fields = sorted(validation.operation(name).body.schema["properties"])  # type: ignore[union-attr]
    keys = draw(st.lists(st.one_of(st.sampled_from(fields), st.text(max_size=4)), max_size=4))
    return name, {k: draw(_values) for k in keys}


def test_the_quick_check_covers_the_simulate_body_and_the_common_ones() -> None:
    assert "sandbox-simulate" in _QUICK_OPERATIONS
    quick = validation.operation("sandbox-simulate").quick
    assert quick is not None
    assert quick({"orderId": "ord_1"}) and quick({"amount": 10.5, "pending": {"polls": 2}, "mode": "cash"})
    assert not quick({"orderId": ""}) and not quick({"amount": True}) and not quick({"mode": "coins"})


@settings(max_examples=400, deadline=None)
@given(case=_bodies())
def test_the_quick_check_says_yes_only_to_bodies_the_schema_takes(case: tuple[str, dict[str, Any]]) -> None:
    name, data = case
    op = validation.operation(name)
    assert op.quick is not None and op.body is not None
    if op.quick(data):
        assert op.body.is_valid(data), (name, data, [e.message for e in op.body.iter_errors(data)])
