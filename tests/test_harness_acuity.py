"""The harness's Acuity side: the checks judged on crafted data (pure and fast), the deliveries the harness
signs itself, the scenario files and their validation, the runner's contract wiring, the property
strategies, and `ghl-sandbox check` run as a real subprocess (skipping, and one end-to-end scenario
against the reference client once it speaks Acuity)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings

from scenarios import templates
from scenarios.checks import (
    ACUITY_CHECKS,
    ACUITY_DEFAULT_CHECKS,
    REGISTRY,
    acuity_rate_problems,
    calls_by_process,
    customer_problems,
    expected_payments,
    payment_problems,
    persons,
)
from scenarios.context import ScenarioContext, is_ghl
from scenarios.loader import ScenarioError, load_paths, parse
from scenarios.project import ClientSpec, Routes
from scenarios.project import load as load_project
from scenarios.property import programs
from scenarios.runner import Harness, acuity_env, acuity_values, needs, render_env, uses_acuity
from scenarios.steps import acuity_signature, email_case, forged_delivery

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "scenarios" / "library"
REFERENCE_PATH = ROOT / "examples" / "clients" / "reference_client.py"
REFERENCE = f"{sys.executable} {REFERENCE_PATH}"
ACUITY_FILES = sorted(p for p in LIBRARY.glob("*.yaml") if "_acuity_" in p.name)


# ---- signatures the harness makes ----------------------------------------------------------------

def verifies(key: str, body: bytes, signature: str | None) -> bool:
    """What a correct client does: HMAC-SHA256 of the raw bytes with the API key, base64, compared."""
    if signature is None:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature)


def test_acuity_signature_matches_the_fact_sheet_vectors() -> None:
    assert acuity_signature("abc123", b"action=scheduled&id=54321&calendarID=27238&appointmentTypeID=1") == \
        "N2vF6ucyA+NCDiiwsdXBpIxFok9pGGS4/gMB2ComFwA="
    assert acuity_signature("abc123", b"action=order.completed&id=1234") == "4/Sn094sk1yY2+j0oRpZDHbotS0i32CizLwxS17CqXM="


APPOINTMENT = {"id": 54321, "calendarID": 27238, "appointmentTypeID": 1}
KEY, OTHER = "k" * 32, "o" * 32


def test_genuine_harness_deliveries_verify_over_the_raw_bytes_only() -> None:
    body, sig = forged_delivery("valid", KEY, APPOINTMENT, 999_000_001, OTHER)
    assert body == b"action=scheduled&id=54321&calendarID=27238&appointmentTypeID=1"
    assert verifies(KEY, body, sig)
    body, sig = forged_delivery("reserialised", KEY, APPOINTMENT, 999_000_001, OTHER)
    fields = dict(parse_qsl(body.decode()))
    assert fields == {"id": "54321", "action": "appointment.changed", "calendarID": "27238", "appointmentTypeID": "1"}
    assert verifies(KEY, body, sig)
    # A client that hashes a re-encoding of the parsed fields (form or JSON) gets other bytes: it refuses.
    for reencoded in (urlencode(fields).encode(), urlencode(sorted(fields.items())).encode(), json.dumps(fields).encode()):
        assert reencoded != body and not verifies(KEY, reencoded, sig)


@pytest.mark.parametrize("kind", ["forged", "wrong-key", "tampered", "unsigned"])
def test_forged_harness_deliveries_never_verify_and_name_only_the_bogus_appointment(kind: str) -> None:
    body, sig = forged_delivery(kind, KEY, APPOINTMENT, 999_000_001, OTHER)
    assert not verifies(KEY, body, sig)
    assert dict(parse_qsl(body.decode()))["id"] == "999000001"
    if kind == "wrong-key":
        assert verifies(OTHER, body, sig)  # validly signed, with the wrong account's key


def test_email_case_variants_are_the_same_mailbox() -> None:
    assert email_case("jane.doe@x.com", "upper") == "JANE.DOE@X.COM"
    assert email_case("jane.doe@x.com", "title") == "Jane.Doe@X.Com"


# ---- payments_reconciled on crafted data --------------------------------------------------------

ACUITY_STATE: dict[str, Any] = {
    "account": {"currency": "USD"},
    "appointments": [
        {"id": 1, "email": "Jane.Doe@X.com", "firstName": "Jane", "lastName": "Doe", "canceled": False,
         "payments": [{"transactionID": "ch_1", "amount": "50.00"}, {"transactionID": "ch_2", "amount": "10.00"}]},
        {"id": 2, "email": "jane.doe@y.org", "firstName": "Jane", "lastName": "Doe", "canceled": True,
         "payments": [{"transactionID": "pi_3", "amount": "20.00"}]},
        {"id": 3, "email": "bob@z.net", "firstName": "Bob", "lastName": "Roe", "canceled": False, "payments": []},
    ],
    "orders": [{"id": 77, "total": "55.00", "status": "paid", "email": "bob@z.net", "firstName": "Bob", "lastName": "Roe"},
               {"id": 78, "total": "9.00", "status": "unpaid", "email": "bob@z.net", "firstName": "Bob", "lastName": "Roe"}],
}
GHL_STATE: dict[str, Any] = {
    "orders": [{"_id": "o" * 24, "contactId": "c1", "contactName": "Jane Doe", "contactEmail": "jane.doe@x.com"}],
    "transactions": [{"_id": "t" * 24, "entityId": "o" * 24, "amount": 30, "currency": "USD",
                      "contactEmail": "jane.doe@x.com"}],
}


def good_payments() -> list[dict[str, Any]]:
    rows = [("acuity", "appointment", "ch_1", 50), ("acuity", "appointment", "ch_2", 10.0),
            ("acuity", "appointment", "pi_3", 20), ("acuity", "order", "77", 55), ("ghl", "transaction", "t" * 24, 30)]
    return [{"paymentKey": f"{s}:{i}", "source": s, "sourceKind": k, "sourceId": i, "amount": a, "currency": "USD"}
            for s, k, i, a in rows]


def test_payments_reconciled_holds_for_exactly_one_payment_per_source_payment() -> None:
    expected = expected_payments(ACUITY_STATE, GHL_STATE)
    assert len(expected) == 5  # the unpaid order is no payment
    assert payment_problems(expected, good_payments()) == []


def test_payments_reconciled_names_missing_doubled_wrong_and_orphan_payments() -> None:
    expected = expected_payments(ACUITY_STATE, GHL_STATE)
    records = good_payments()
    missing = [r for r in records if r["sourceId"] != "77"]
    assert any("Acuity order 77: no payment" in p for p in payment_problems(expected, missing))
    # A rescheduled appointment's payment recorded again under another key: counted twice.
    doubled = [*records, {**records[2], "paymentKey": "acuity:2:moved"}]
    assert any("pi_3" in p and "counted more than once" in p for p in payment_problems(expected, doubled))
    wrong = [{**r, "amount": "5.00"} if r["sourceId"] == "ch_2" else r for r in records]
    assert any("ch_2" in p and "amount" in p for p in payment_problems(expected, wrong))
    euro = [{**r, "currency": "EUR"} if r["sourceId"] == "ch_1" else r for r in records]
    assert any("ch_1" in p and "currency" in p for p in payment_problems(expected, euro))
    orphan = [*records, {"paymentKey": "acuity:ch_9", "source": "acuity", "sourceKind": "appointment",
                         "sourceId": "ch_9", "amount": 1, "currency": "USD"}]
    assert any("acuity:ch_9" in p and "no such source" in p for p in payment_problems(expected, orphan))


# ---- customers_merged on crafted data -------------------------------------------------------------

def good_customers() -> list[dict[str, Any]]:
    return [
        # Jane in GHL and Jane.Doe@X.com in Acuity: one person by normalised email.
        {"customerId": "jane.doe@x.com", "emails": ["jane.doe@x.com"], "lifetimeValue": 90.0},
        # Jane's second email is, by the rule, a second customer.
        {"customerId": "jane.doe@y.org", "emails": ["jane.doe@y.org"], "lifetimeValue": 20.0},
        {"customerId": "bob@z.net", "emails": ["bob@z.net"], "lifetimeValue": 55.0},
    ]


def test_customers_merged_holds_when_grouped_by_normalised_email() -> None:
    people = persons(ACUITY_STATE, GHL_STATE)
    assert sorted(people) == ["bob@z.net", "jane.doe@x.com", "jane.doe@y.org"]
    assert people["jane.doe@x.com"].acuity_total == 60 and people["jane.doe@x.com"].ghl_total == 30
    assert customer_problems(people, good_customers()) == []
    # Lifetime value may leave out the GHL transactions (their statuses differ), never an Acuity payment.
    assert customer_problems(people, [{**good_customers()[0], "lifetimeValue": 60}, *good_customers()[1:]]) == []


def test_customers_merged_names_merges_by_name_splits_and_double_counting() -> None:
    people = persons(ACUITY_STATE, GHL_STATE)
    c = good_customers()
    by_name = [{"customerId": "jane doe", "emails": ["jane.doe@x.com", "jane.doe@y.org"], "lifetimeValue": 110}, c[2]]
    assert any("merges 2 different people" in p for p in customer_problems(people, by_name))
    split = [*c, {"customerId": "Jane.Doe@X.com", "emails": ["jane.doe@x.com"], "lifetimeValue": 60}]
    assert any("split over 2 customers" in p for p in customer_problems(people, split))
    raw = [{**c[0], "emails": ["Jane.Doe@X.com"]}, *c[1:]]
    assert any("un-normalised" in p for p in customer_problems(people, raw))
    doubled = [{**c[0], "lifetimeValue": 150}, *c[1:]]  # scheduled and changed both counted
    assert any("lifetimeValue 150.00 is outside [60.00, 90.00]" in p for p in customer_problems(people, doubled))
    assert any("bob@z.net" in p and "no customer" in p for p in customer_problems(people, c[:2]))


# ---- respects_acuity_rate_limits on crafted journal entries ------------------------------------------

def entries(starts_ms: list[float], latency_ms: float = 5, status: dict[int, int] | None = None) -> list[dict[str, Any]]:
    out = []
    for i, start in enumerate(starts_ms):
        end = 1_800_000_000 + (start + latency_ms) / 1000
        out.append({"id": i + 1, "method": "GET", "path": f"/acuity/api/v1/appointments/{i}", "query": "",
                    "time": _iso(end), "latencyMs": latency_ms, "status": (status or {}).get(i, 200)})
    return out


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_restarted_client_is_judged_apart_from_the_process_it_replaced() -> None:
    # 6 calls, a crash and a restart 300 ms later, 6 more: 12 in under a second, but 6 per process.
    calls = entries([i * 50.0 for i in range(6)] + [600 + i * 50.0 for i in range(6)])
    assert acuity_rate_problems(calls) != []
    restart = 1_800_000_000 + 0.55
    groups = calls_by_process(calls, [1_800_000_000 - 5, restart])
    assert [len(g) for g in groups] == [6, 6]
    assert [p for g in groups for p in acuity_rate_problems(g)] == []
    # One process making all 12 is still caught.
    assert [p for g in calls_by_process(calls, [1_800_000_000 - 5]) for p in acuity_rate_problems(g)] != []


def test_acuity_rate_holds_at_ten_per_second_evenly_spaced() -> None:
    assert acuity_rate_problems(entries([i * 100.0 for i in range(40)])) == []


def test_acuity_rate_flags_eleven_in_a_second_and_too_many_at_once() -> None:
    problems = acuity_rate_problems(entries([i * 50.0 for i in range(11)]))
    assert problems and "11 Acuity calls within 500 ms" in problems[0]
    concurrent = acuity_rate_problems(entries([i * 60.0 for i in range(21)], latency_ms=5000), per_second=100)
    assert any("21 Acuity calls in flight at once" in p for p in concurrent)


def test_acuity_rate_wants_a_pause_after_a_429() -> None:
    # A client that keeps calling other appointments: its first call 50 ms or more after the 429 is judged.
    hammer = entries([0, 10, 20, 30, 40, 50, 60, 70], status={1: 429})  # the 429 answered at 15 ms
    assert any("after the 429 on request #2" in p and "request #8 came 55 ms later" in p
               for p in acuity_rate_problems(hammer))
    patient = entries([0, 10, 300, 400], status={1: 429})
    assert acuity_rate_problems(patient) == []


def _call(n: int, start_ms: float, latency_ms: float, status: int, path: str | None = None) -> dict[str, Any]:
    base = 1_800_000_000
    return {"id": n, "method": "GET", "path": path or f"/acuity/api/v1/appointments/{n}", "query": "",
            "time": _iso(base + (start_ms + latency_ms) / 1000), "latencyMs": latency_ms, "status": status}


def test_a_retry_of_the_throttled_request_itself_wants_the_pause_from_the_first_millisecond() -> None:
    same = "/acuity/api/v1/appointments/7/payments"
    retried = [_call(1, 0, 5.0, 429, same), _call(2, 7.0, 5.0, 429, same), _call(3, 14.0, 5.0, 200, same)]
    problems = acuity_rate_problems(retried)
    assert any("after the 429 on request #1" in p and "its retry #2 came 2 ms later" in p for p in problems)
    patient = [_call(1, 0, 5.0, 429, same), _call(2, 205.0, 5.0, 200, same)]
    assert acuity_rate_problems(patient) == []


def test_a_call_already_on_its_way_when_the_429_was_answered_is_no_violation() -> None:
    """A call to another request that the sandbox sees start less than ACUITY_IN_FLIGHT_S after a 429's
    answer may have been sent before the client read it: on a loaded machine a sent request waits tens of
    milliseconds before the sandbox's app sees it (a CI run saw one 10 ms after the answer)."""
    in_flight = [_call(1, 0, 5.9, 429), _call(2, 5.2, 5.0, 200)]  # answered at 5.9 ms; the second sent at 5.2 ms
    assert acuity_rate_problems(in_flight) == []
    delayed = [_call(1, 0, 5.9, 429), _call(2, 16.0, 5.0, 200), _call(3, 200.0, 5.0, 200)]
    assert acuity_rate_problems(delayed) == []
    after = [_call(1, 0, 5.9, 429), _call(2, 16.0, 5.0, 200), _call(3, 60.0, 5.0, 200)]  # 55 ms (answered in its 5th ms): judged
    assert any("after the 429 on request #1" in p and "request #3 came 55 ms later" in p
               for p in acuity_rate_problems(after))


# ---- the checks' registry and the deliveries they read -------------------------------------------

def test_the_acuity_checks_are_registered_with_kinds_and_hints() -> None:
    assert set(ACUITY_DEFAULT_CHECKS) == ACUITY_CHECKS
    kinds = {name: REGISTRY[name].kind for name in ACUITY_CHECKS}
    assert kinds == {"payments_reconciled": "eventual", "customers_merged": "eventual",
                     "respects_acuity_rate_limits": "safety", "rejects_forged_acuity_webhooks": "safety",
                     "accepts_genuine_acuity_webhooks": "safety"}
    assert all(REGISTRY[name].hint and REGISTRY[name].doc for name in ACUITY_CHECKS)


class FakeSandbox:
    """Only what `ScenarioContext.deliveries` reads."""

    def __init__(self, deliveries: list[dict[str, Any]]) -> None:
        self._deliveries = deliveries

    def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        return self._deliveries


def test_ghl_checks_read_only_ghl_deliveries_and_a_missing_service_is_ghl() -> None:
    views = [{"id": "1"}, {"id": "2", "service": "ghl"}, {"id": "3", "service": "acuity"}, {"id": "4", "service": ""}]
    assert [is_ghl(v) for v in views] == [True, True, False, True]
    ctx = ScenarioContext.__new__(ScenarioContext)
    ctx.sandbox = FakeSandbox(views)  # type: ignore[assignment]
    ctx.location_id = "loc"
    assert [d["id"] for d in ctx.deliveries()] == ["1", "2", "4"]
    assert [d["id"] for d in ctx.acuity_deliveries()] == ["3"]


def test_acuity_checks_are_not_evaluated_in_a_scenario_without_acuity() -> None:
    ctx = ScenarioContext.__new__(ScenarioContext)
    ctx.acuity = None
    for name in ACUITY_CHECKS:
        verdict = REGISTRY[name].fn(ctx)
        assert verdict.status == "not_evaluated" and "services: [acuity]" in verdict.summary


# ---- scenario files ----------------------------------------------------------------------------------

def test_the_library_has_one_acuity_scenario_per_trap_and_each_declares_acuity() -> None:
    assert len(ACUITY_FILES) >= 8
    scenarios = load_paths([str(p) for p in ACUITY_FILES])
    for s in scenarios:
        assert uses_acuity(s), s.path
        wanted = s.expect.get("checks", [])
        assert wanted and set(wanted) & ACUITY_CHECKS, s.path
    steps = {k for s in scenarios for step in s.steps for k in step}
    assert {"acuity", "acuityWebhook", "acuityBurst"} <= steps
    names = {Path(s.path).name for s in scenarios}
    for trap in ("paid_appointment", "reschedule", "changed_duplicates", "lost_webhook", "over_100",
                 "same_person", "429", "forged_signature"):
        assert any(trap in n for n in names), trap
    # Everything before 17 stays GHL only.
    assert not any(uses_acuity(s) for s in load_paths(None) if s.path not in {str(p) for p in ACUITY_FILES})


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("name: x\nsteps:\n  - acuity: schedule\n", 3, "steps.0.acuity: an Acuity step needs `services: [acuity]`"),
    ("name: x\nsteps: []\nexpect:\n  checks: [sync_complete, payments_reconciled]\n", 4,
     "payments_reconciled is an Acuity check"),
    ("name: x\nsetup:\n  acuityChaos: {drop: 1.0}\nsteps: []\n", 3, "setup.acuityChaos: needs `services: [acuity]`"),
    ("name: x\nservices: [acuity]\nsteps:\n  - acuityWebhook: spoofed\n", 4, "steps.0.acuityWebhook"),
    ("name: x\nservices: [acuity]\nsteps:\n  - acuity: pay\n    appointment: $nope\n", 5, "$nope is not bound"),
    ("name: x\nservices: [calendly]\nsteps: []\n", 2, "services.0"),
    ("name: x\nservices: [acuity]\nsteps:\n  - acuityBurst: {count: 0}\n", 4, "steps.0.acuityBurst"),
    ("name: x\nsetup:\n  acuityBurst: {count: 5}\nsteps: []\n", 3, "setup.acuityBurst: needs `services: [acuity]`"),
])
def test_bad_acuity_scenarios_are_refused_with_their_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse(text, "s.yaml")
    assert f"s.yaml:{line}:" in str(err.value), str(err.value)
    assert fragment in str(err.value), str(err.value)


def test_a_good_acuity_scenario_loads() -> None:
    s = parse("name: x\nservices: [acuity]\nsetup:\n  acuityChaos: {drop: 1.0}\n  acuityRateLimit: {edge403: true}\n"
              "steps:\n  - acuity: schedule\n    pay: deposit\n    as: a\n  - acuity: pay\n    appointment: $a\n"
              "    kind: tip\n    amount: 5\n  - acuity: cancel\n    appointment: 123\n    noShow: true\n"
              "  - acuityWebhook: reserialised\n    appointment: $a\n  - acuityChaos: null\n"
              "  - acuity: schedule\n    sameNameAs: any\n  - acuity: schedule\n    contactOf: any\n    emailCase: title\n"
              "expect:\n  checks: [payments_reconciled, customers_merged]\n", "ok.yaml")
    assert uses_acuity(s) and len(s.steps) == 7


# ---- the runner's contract wiring ------------------------------------------------------------------

ACCOUNT = {"userId": 12345678, "apiKey": "a" * 32, "baseUrl": "/acuity/api/v1", "currency": "USD"}


def test_acuity_values_and_environment_come_from_the_locations_account() -> None:
    values = acuity_values("http://127.0.0.1:9", ACCOUNT)
    assert values == {"acuity.base_url": "http://127.0.0.1:9/acuity/api/v1", "acuity.user_id": "12345678",
                      "acuity.api_key": "a" * 32}
    assert set(values) <= templates.NAMES
    assert acuity_env(values) == {"ACUITY_API_BASE_URL": "http://127.0.0.1:9/acuity/api/v1",
                                  "ACUITY_USER_ID": "12345678", "ACUITY_API_KEY": "a" * 32}


def test_project_variables_using_acuity_are_left_out_of_scenarios_without_acuity() -> None:
    spec = ClientSpec(command="x", env={"KEY": "{acuity.api_key}", "PORT": "{client.port}"})
    base = {"client.port": "9100"}
    assert render_env(spec, base, {"GHL_X": "1"}) == {"GHL_X": "1", "PORT": "9100"}
    with_acuity = {**base, **acuity_values("http://h", ACCOUNT)}
    assert render_env(spec, with_acuity, {})["KEY"] == "a" * 32


def test_acuity_route_in_the_project_file(tmp_path: Path) -> None:
    assert Routes().acuity_webhook == "/webhooks/acuity"
    path = tmp_path / "ghl-sandbox.toml"
    path.write_text('[client]\ncommand = "x"\n[client.routes]\nacuity_webhook = ""\n')
    spec = load_project(path).client()
    assert spec.routes.acuity_webhook is None
    scenario = load_paths([str(ACUITY_FILES[0])])[0]
    assert "client.routes.acuity_webhook is empty" in needs(scenario, spec)
    assert needs(scenario, ClientSpec(command="x")) == ""
    path.write_text('[client]\ncommand = "x"\n[client.routes]\nacuity_webhook = "hooks"\n')
    with pytest.raises(Exception, match="client.routes.acuity_webhook: must be a path"):
        load_project(path)


def test_acuity_scenarios_run_the_acuity_checks_by_default() -> None:
    harness = Harness.__new__(Harness)
    harness.only_checks = None
    plain = parse("name: a\nservices: [acuity]\nsteps: []\n", "a.yaml")
    assert set(ACUITY_DEFAULT_CHECKS) <= set(harness.checks_for(plain))
    ghl_only = parse("name: b\nsteps: []\n", "b.yaml")
    assert not set(harness.checks_for(ghl_only)) & ACUITY_CHECKS


# ---- property strategies ---------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(programs(acuity=True))
def test_generated_programs_with_acuity_are_valid_scenarios(doc: dict[str, Any]) -> None:
    import yaml

    scenario = parse(yaml.safe_dump(doc, sort_keys=False), "<generated>")
    acuity_steps = [s for s in scenario.steps if any(k.startswith("acuity") for k in s)]
    assert uses_acuity(scenario) == bool(acuity_steps)


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(programs(acuity=False))
def test_generated_programs_without_acuity_have_no_acuity_steps(doc: dict[str, Any]) -> None:
    assert "services" not in doc
    assert not any(k.startswith("acuity") for step in doc["steps"] for k in step)


def test_the_property_row_says_how_many_examples_ran_an_acuity_check() -> None:
    from scenarios.property import PropertyOutcome, property_result

    harness = Harness.__new__(Harness)
    outcome = PropertyOutcome(5, None, "", 1.0, {"sync_complete": {"pass"}, "payments_reconciled": {"pass"}},
                              {"sync_complete": 5, "payments_reconciled": 2})
    summaries = {o.check: o.summary for o in property_result(harness, outcome).outcomes}
    assert summaries == {"sync_complete": "held in all 5 examples",
                         "payments_reconciled": "held in the 2 of 5 examples that use it"}


# ---- `ghl-sandbox check`, a real subprocess ----------------------------------------------------------

def check(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "check", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ})


def test_a_client_without_an_acuity_route_skips_the_acuity_scenarios(tmp_path: Path) -> None:
    (tmp_path / "ghl-sandbox.toml").write_text(f'[client]\ncommand = "{REFERENCE}"\n[client.routes]\nacuity_webhook = ""\n')
    report = tmp_path / "r.json"
    result = check("--scenarios", str(LIBRARY / "24_acuity_forged_signature.yaml"), "--examples", "0",
                   "--json", str(report), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    (scenario,) = json.loads(report.read_text())["scenarios"]
    assert scenario["status"] == "skipped" and "acuity_webhook is empty" in scenario["skipped"], scenario


def test_the_reference_client_passes_an_acuity_scenario_end_to_end(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = check("--client", REFERENCE, "--scenarios", str(LIBRARY / "17_acuity_paid_appointment_synced.yaml"),
                   "--scenarios", str(LIBRARY / "24_acuity_forged_signature.yaml"), "--examples", "0",
                   "--json", str(report), cwd=tmp_path)
    data = json.loads(report.read_text())
    summary = [(s["name"], s["status"], s.get("error"), [(c["check"], c["status"], c["summary"]) for c in s["checks"]])
               for s in data["scenarios"]]
    assert result.returncode == 0, f"{summary}\n{result.stdout[-3000:]}"
    for s in data["scenarios"]:
        assert s["status"] == "pass" and all(c["status"] == "pass" for c in s["checks"]), summary


# variant (examples/clients, H4's), the scenario that exposes its bug, the check that must fail
BROKEN = [
    ("broken_acuity_changed_twice", "19_acuity_changed_duplicates_once.yaml", "payments_reconciled"),
    ("broken_acuity_merge_by_name", "22_acuity_same_person_merged.yaml", "customers_merged"),
    ("broken_acuity_no_date_windows", "21_acuity_over_100_in_one_window.yaml", "payments_reconciled"),
    ("broken_acuity_reencoded_signature", "24_acuity_forged_signature.yaml", "accepts_genuine_acuity_webhooks"),
]


@pytest.mark.parametrize(("variant", "scenario", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_broken_acuity_variant_fails_the_check_you_would_expect(tmp_path: Path, variant: str, scenario: str,
                                                                     expected: str) -> None:
    path = ROOT / "examples" / "clients" / f"{variant}.py"
    if not path.exists():
        pytest.skip(f"{path.name} is not on this branch")
    report = tmp_path / "r.json"
    result = check("--client", f"{sys.executable} {path}", "--scenarios", str(LIBRARY / scenario), "--examples", "0",
                   "--json", str(report), cwd=tmp_path, timeout=600)
    assert result.returncode == 1, result.stdout[-3000:]
    (data,) = json.loads(report.read_text())["scenarios"]
    failed = {c["check"]: c for c in data["checks"] if c["status"] == "fail"}
    assert expected in failed, [(c["check"], c["status"], c["summary"]) for c in data["checks"]]
    # The failure names the record and shows the evidence.
    assert failed[expected]["evidence"] and all(isinstance(e, str) and e for e in failed[expected]["evidence"])
