"""The harness's GHL workflow side (design i12 §2): the checks judged on crafted data (pure and fast), the
workflow-shaped posts the harness makes, the project file's `[workflows]` and `workflow_webhook`, the
scenario files, the runner's wiring, and `ghl-sandbox check` run as a real subprocess against the
reference client (which passes the workflow scenarios) and a variant without the secret check (caught)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scenarios.checks import REGISTRY
from scenarios.checks_workflows import (
    WORKFLOW_CHECKS,
    WORKFLOW_DEFAULT_CHECKS,
    forged_problems,
    refused_deliveries,
    same_status,
    workflow_payment_problems,
)
from scenarios.loader import ScenarioError, load_paths, parse
from scenarios.project import ClientSpec, ProjectError, Routes, WorkflowsSpec
from scenarios.project import load as load_project
from scenarios.project_workflows import LIBRARY_WORKFLOW, read_documents
from scenarios.runner import Harness, needs, render_env, uses_workflows
from scenarios.steps_workflows import _MARK, client_action, custom_values, fake_context, forged_request

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "scenarios" / "library"
REFERENCE = f"{sys.executable} {ROOT / 'examples' / 'clients' / 'reference_client.py'}"
WORKFLOW_FILES = sorted(p for p in LIBRARY.glob("*.yaml") if "_workflow_" in p.name)


# ---- workflow_payments_synced, judged on crafted data ----------------------------------------------

def txn(tid: str, amount: float = 10.0, status: str = "succeeded", currency: str = "USD") -> dict[str, Any]:
    return {"_id": tid, "amount": amount, "status": status, "currency": currency, "entityId": "o-" + tid}


def payment(tid: str, amount: Any = 10.0, status: str = "succeeded", currency: str = "USD",
            key: str | None = None) -> dict[str, Any]:
    return {"paymentKey": key or f"ghl:{tid}", "source": "ghl", "sourceKind": "transaction", "sourceId": tid,
            "amount": amount, "currency": currency, "status": status}


def test_a_workflow_status_word_is_the_transactions_status() -> None:
    assert same_status("succeeded", "success") and same_status("succeeded", "Success")
    assert same_status("failed", "failed") and same_status("succeeded", "succeeded")
    assert not same_status("failed", "success") and not same_status("succeeded", "") and not same_status("refunded", "success")


def test_payments_synced_holds_for_one_payment_per_transaction_made_during_the_scenario() -> None:
    transactions = [txn("old"), txn("t1", 12.5), txn("t2", 7.0, "failed")]
    records = [payment("t1", 12.5, "success"), payment("t2", "7.00", "failed", "usd")]
    # The seeded transaction ("old", made before the first step) is not judged, and may have a payment too.
    assert workflow_payment_problems(transactions, {"old"}, records) == ([], 2)
    assert workflow_payment_problems(transactions, {"old"}, [*records, payment("old")]) == ([], 2)


def test_payments_synced_names_missing_doubled_wrong_and_orphan_payments() -> None:
    transactions = [txn("t1", 12.5), txn("t2", 7.0, "failed"), txn("t3"), txn("t4", currency="EUR")]
    records = [payment("t1", 12.5, key="a"), payment("t1", 12.5, key="b"),  # doubled
               payment("t2", 7.0, "succeeded"),  # a failed payment recorded as a success
               payment("t4", 10.0, currency="USD"),  # wrong currency
               payment("ghost"),  # no such transaction
               {**payment("t3"), "source": "acuity"}]  # not a GHL payment: t3 is missing
    problems, judged = workflow_payment_problems(transactions, set(), records)
    assert judged == 4
    text = "\n".join(problems)
    assert "GHL transaction t1" in text and "2 payments in the destination (paymentKeys a, b)" in text
    assert "status: GHL 'failed' vs destination 'succeeded'" in text
    assert "GHL transaction t3" in text and "no payment in the destination" in text
    assert "currency: GHL 'EUR' vs destination 'USD'" in text
    assert "sourceId=ghost" in text and "does not have" in text
    assert len(problems) == 5


def test_payments_synced_wants_the_amount() -> None:
    problems, _ = workflow_payment_problems([txn("t1", 12.5)], set(), [payment("t1", 1250)])
    assert problems == ["GHL transaction t1 (succeeded, 12.5 USD, order o-t1) (paymentKey ghl:t1): amount: GHL 12.5 vs "
                        "destination 1250"]


# ---- forged posts and genuine deliveries -----------------------------------------------------------------

POST = {"kind": "wrong-secret", "transactionId": "f" * 24, "sentAt": 1000.0, "status": 401}


def test_forged_posts_refused_and_not_acted_on_hold() -> None:
    early = {"id": 7, "method": "GET", "path": f"/payments/transactions/{'f' * 24}", "time": "1970-01-01T00:16:39Z",
             "latencyMs": 5}  # before the post: not caused by it
    assert forged_problems([POST], [payment("t1")], [early]) == []


@pytest.mark.parametrize(("post", "records", "requests", "fragment"), [
    ({**POST, "status": 200}, [], [], "was accepted with 200"),
    (POST, [payment("f" * 24)], [], "reached the destination: payment 'ghl:" + "f" * 24),
    (POST, [payment("x", key="ghl-" + "f" * 24)], [], "reached the destination"),
    (POST, [], [{"id": 9, "method": "GET", "path": f"/payments/transactions/{'f' * 24}",
                 "time": "1970-01-01T00:16:41Z", "latencyMs": 5}], "was acted on: GHL request #9"),
])
def test_forged_posts_accepted_written_or_acted_on_are_named(post: dict[str, Any], records: list[dict[str, Any]],
                                                             requests: list[dict[str, Any]], fragment: str) -> None:
    problems = forged_problems([post], records, requests)
    assert len(problems) == 1 and fragment in problems[0] and "made-up transaction " + "f" * 24 in problems[0]


def test_genuine_deliveries_refused_with_a_4xx_are_named_and_retry_answers_are_not() -> None:
    client = "http://127.0.0.1:5000"
    deliveries = [
        {"id": "d1", "event": "WorkflowPaymentReceived", "url": client + "/webhooks/ghl-workflow",
         "attempts": [{"attempt": 1, "time": "t", "status": 503}, {"attempt": 2, "time": "t", "status": 429},
                      {"attempt": 3, "time": "t", "status": 200}]},
        {"id": "d2", "event": "WorkflowPaymentReceived", "url": "{{custom_values.workflow_url}}",
         "attempts": [{"attempt": 1, "time": "t", "status": 401}]},
        {"id": "d3", "event": "WorkflowPaymentReceived", "url": "http://127.0.0.1:6000/rankr/v1/payments/x",
         "attempts": [{"attempt": 1, "time": "t", "status": 422}]},  # an action calling Rankr itself
        {"id": "d4", "event": "WorkflowPaymentReceived", "url": client + "/webhooks/ghl-workflow", "attempts": []},
    ]
    problems, attempts = refused_deliveries(deliveries, client)
    assert attempts == 4
    assert problems == ["genuine workflow delivery d2 (WorkflowPaymentReceived, attempt 1 at t) refused with 401"]


def test_the_workflow_checks_are_registered_with_kinds_and_hints() -> None:
    assert set(WORKFLOW_DEFAULT_CHECKS) == WORKFLOW_CHECKS
    kinds = {name: REGISTRY[name].kind for name in WORKFLOW_CHECKS}
    assert kinds == {"workflow_payments_synced": "eventual", "rejects_forged_workflow_webhooks": "safety",
                     "accepts_genuine_workflow_webhooks": "safety"}
    assert all(REGISTRY[n].hint and REGISTRY[n].doc for n in WORKFLOW_CHECKS)


# ---- the posts the harness makes -------------------------------------------------------------------------

SECRET = "s3cret-s3cret-s3cret"
CUSTOM = {"workflow_url": "http://127.0.0.1:5000/webhooks/ghl-workflow", "workflow_secret": SECRET,
          "nodered_secret": SECRET, "rankr_api_key": "rk_1"}
LIBRARY_ACTION = read_documents(LIBRARY_WORKFLOW, "x")[0]["actions"][0]


def context() -> dict[str, str]:
    return fake_context("loc1", "a" * 24, "b" * 24, CUSTOM, SECRET, 0)


def test_forged_posts_imitate_the_workflow_action_without_its_secret() -> None:
    method, url, headers, body = forged_request("no-secret", LIBRARY_ACTION, context(), "wrong")
    assert (method, url) == ("POST", CUSTOM["workflow_url"])
    assert "X-Workflow-Secret" not in headers and headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert sent["transactionId"] == "a" * 24 and sent["orderId"] == "b" * 24 and sent["amount"] == 12.34
    assert sent["locationId"] == "loc1" and SECRET not in body.decode()
    _, _, headers, body = forged_request("wrong-secret", LIBRARY_ACTION, context(), "wrong")
    assert headers["X-Workflow-Secret"] == "wrong" and SECRET not in json.dumps(headers) + body.decode()


def test_forged_posts_find_the_secret_under_any_custom_value_and_in_auth_query_and_body() -> None:
    action = {"type": "custom_webhook", "method": "PUT", "url": "{{custom_values.workflow_url}}",
              "auth": {"type": "bearer", "token": "{{custom_values.nodered_secret}}"},
              "query": [{"key": "key", "value": "{{custom_values.nodered_secret}}"}, {"key": "src", "value": "ghl"}],
              "headers": [], "body": '{"secret": "{{custom_values.nodered_secret}}", "id": "{{payment.transaction_id}}", '
                                     '"n": {{payment.unknown_field}}}'}
    method, url, headers, body = forged_request("no-secret", action, context(), "wrong")
    assert method == "PUT" and url == CUSTOM["workflow_url"] + "?src=ghl" and "Authorization" not in headers
    assert json.loads(body) == {"secret": "", "id": "a" * 24, "n": 0}
    _, url, headers, body = forged_request("wrong-secret", action, context(), "wrong")
    assert url.endswith("?key=wrong&src=ghl") and headers["Authorization"] == "Bearer wrong"
    assert json.loads(body)["secret"] == "wrong"


def test_forged_posts_of_a_standard_webhook_action_carry_custom_data() -> None:
    action = {"type": "webhook", "url": "{{custom_values.workflow_url}}",
              "customData": [{"key": "secret", "value": "{{custom_values.workflow_secret}}"},
                             {"key": "txn", "value": "{{payment.transaction_id}}"}]}
    _, _, _, body = forged_request("wrong-secret", action, context(), "wrong")
    sent = json.loads(body)
    assert sent["customData"] == {"secret": "wrong", "txn": "a" * 24} and sent["payment"]["transaction_id"] == "a" * 24
    assert _MARK not in body.decode()


def test_the_imitated_action_is_the_one_that_calls_the_client() -> None:
    other = {"type": "custom_webhook", "url": "{{custom_values.rankr_base_url}}/v1/payments/x"}
    docs = [{"actions": [other]}, {"actions": [LIBRARY_ACTION]}]
    assert client_action(docs, CUSTOM["workflow_url"], context()) is LIBRARY_ACTION


def test_the_custom_values_are_the_harness_four_then_the_projects() -> None:
    spec = ClientSpec("x", routes=Routes(workflow_webhook="/hook"),
                      workflows=WorkflowsSpec(custom_values={"mine": "{client.url}/x?s={workflow.secret}",
                                                             "workflow_url": "{client.url}/override"}))
    values = {"workflow.secret": "S", "rankr.base_url": "http://r/rankr", "rankr.api_key": "k",
              "client.url": "http://c"}
    assert custom_values(spec, values, "http://c") == {
        "workflow_url": "http://c/override", "workflow_secret": "S", "rankr_base_url": "http://r/rankr",
        "rankr_api_key": "k", "mine": "http://c/x?s=S"}


# ---- the project file --------------------------------------------------------------------------------------

def write(tmp_path: Path, text: str, workflow: str | None = None) -> Path:
    if workflow is not None:
        (tmp_path / "wf.json").write_text(workflow)
    path = tmp_path / "ghl-sandbox.toml"
    path.write_text(text)
    return path


def test_the_workflows_table_is_read_relative_to_the_project_file(tmp_path: Path) -> None:
    doc = {"name": "w", "trigger": {"type": "payment_received"}, "actions": []}
    path = write(tmp_path, '[client]\ncommand = "x"\n[client.routes]\nworkflow_webhook = "/wf"\n'
                           '[workflows]\nfiles = ["wf.json"]\nonly = true\n'
                           '[workflows.custom_values]\nmy_secret = "{workflow.secret}"\n', json.dumps([doc, doc]))
    project = load_project(path)
    spec = project.client()
    assert spec.routes.workflow_webhook == "/wf" and spec.workflows.only
    assert spec.workflows.files == [(tmp_path / "wf.json").resolve()] and spec.workflows.documents == [doc, doc]
    assert spec.workflows.custom_values == {"my_secret": "{workflow.secret}"}
    # Defaults: the library's workflow, the default route, every scenario applies.
    default = load_project(write(tmp_path, '[client]\ncommand = "x"\n')).client()
    assert default.routes.workflow_webhook == "/webhooks/ghl-workflow" and default.workflows == WorkflowsSpec()
    none = load_project(write(tmp_path, '[client]\ncommand = "x"\n[client.routes]\nworkflow_webhook = ""\n'))
    assert none.routes.workflow_webhook is None


@pytest.mark.parametrize(("toml", "workflow", "fragment"), [
    ('[workflows]\nfiles = ["nope.json"]\n', None, ":2: workflows.files[0]: "),
    ('[workflows]\nfiles = ["wf.json"]\n', '{"name": "w",\n "trigger": {}\n "actions": []}',
     "wf.json:3: invalid JSON: Expecting ',' delimiter"),
    ('[workflows]\nfiles = ["wf.json"]\n', '[{"name": "w"}]', "a workflow document needs `trigger`"),
    ('[workflows]\nfiles = ["wf.json"]\n', '"text"', "a workflow document must be a JSON object"),
    ('[workflows]\nfiles = []\n', None, ":2: workflows.files: must name at least one workflow file"),
    ('\n[workflows.custom_values]\n"bad key" = "x"\n', None, ":3: workflows.custom_values.bad key: is not a custom value key"),
    ('[workflows.custom_values]\nx = "{workflow.nope}"\n', None, "unknown template name {workflow.nope}"),
    ('[workflows]\nonly = "yes"\n', None, ":2: workflows.only: must be true or false"),
    ('[workflows]\nfile = ["wf.json"]\n', None, ":2: workflows.file: unknown key (known: custom_values, files, only)"),
    ('[client.routes]\nworkflow_webhook = "hook"\n', None, ":2: client.routes.workflow_webhook: must be a path"),
])
def test_bad_workflows_tables_are_refused_with_file_and_line(tmp_path: Path, toml: str, workflow: str | None,
                                                             fragment: str) -> None:
    path = write(tmp_path, toml, workflow)
    with pytest.raises(ProjectError) as exc:
        load_project(path)
    assert str(exc.value).startswith(str(path.resolve())) and fragment in str(exc.value), str(exc.value)


# ---- scenario files and the runner's wiring ------------------------------------------------------------------

def test_the_library_has_the_four_workflow_scenarios_each_declaring_workflows() -> None:
    assert [p.name.split("_")[0] for p in WORKFLOW_FILES] == ["40", "41", "42", "43"]
    scenarios = load_paths([str(p) for p in WORKFLOW_FILES])
    for s in scenarios:
        assert uses_workflows(s) and set(s.expect["checks"]) <= WORKFLOW_CHECKS, s.path
    steps = {k for s in scenarios for step in s.steps for k in step}
    assert {"workflowWebhook", "simulate"} <= steps
    text = " ".join(p.read_text() for p in WORKFLOW_FILES)
    assert "order.fail_payment" in text and "drop: 1.0" in text and "status: 503" in text and "duplicate: 1.0" in text
    assert not any(uses_workflows(s) for s in load_paths(None) if s.path not in {str(p) for p in WORKFLOW_FILES})


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("name: x\nsteps:\n  - workflowWebhook: no-secret\n", 3, "steps.0.workflowWebhook: a workflow step needs"),
    ("name: x\nsetup:\n  workflowChaos: {drop: 1.0}\nsteps: []\n", 3, "setup.workflowChaos: needs `services: [workflows]`"),
    ("name: x\nsteps: []\nexpect:\n  checks: [workflow_payments_synced]\n", 4, "workflow_payments_synced is a workflow check"),
    ("name: x\nservices: [workflows]\nsteps:\n  - workflowWebhook: signed\n", 4, "steps.0.workflowWebhook"),
])
def test_bad_workflow_scenarios_are_refused_with_their_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse(text, "s.yaml")
    assert str(exc.value).startswith(f"s.yaml:{line}: ") and fragment in str(exc.value), str(exc.value)


def test_workflow_scenarios_apply_only_to_clients_with_the_route_and_workflow_only_clients_only_to_them() -> None:
    wf = parse("name: w\nservices: [workflows]\nsteps: []\n", "w.yaml")
    plain = parse("name: p\nsteps: []\n", "p.yaml")
    assert needs(wf, ClientSpec("x")) == "" and needs(plain, ClientSpec("x")) == ""
    assert "workflow_webhook is empty" in needs(wf, ClientSpec("x", routes=Routes(workflow_webhook=None)))
    only = ClientSpec("x", workflows=WorkflowsSpec(only=True))
    assert needs(wf, only) == "" and "workflows.only" in needs(plain, only)
    harness = Harness("http://127.0.0.1:9", ClientSpec("x"))
    try:
        assert harness.checks_for(wf)[-3:] == list(WORKFLOW_DEFAULT_CHECKS)
        assert not set(harness.checks_for(plain)) & WORKFLOW_CHECKS
    finally:
        harness.close()


def test_project_variables_using_the_workflow_secret_are_left_out_of_other_scenarios() -> None:
    spec = ClientSpec("x", env={"SECRET": "{workflow.secret}", "PORT": "{client.port}"})
    assert render_env(spec, {"client.port": "1"}, {"A": "b"}) == {"A": "b", "PORT": "1"}
    assert render_env(spec, {"client.port": "1", "workflow.secret": "S"}, {}) == {"SECRET": "S", "PORT": "1"}


# ---- `ghl-sandbox check`, a real subprocess -------------------------------------------------------------------

def check(*args: str, cwd: Path | None = None, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "check", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ})


def _sandbox_has_workflows() -> bool:
    return (ROOT / "mock_server" / "workflows" / "control.py").exists()


def summary(report: Path) -> list[tuple[str, str, Any, list[tuple[str, str, str]]]]:
    data = json.loads(report.read_text())
    return [(s["name"], s["status"], s.get("error") or s.get("skipped"),
             [(c["check"], c["status"], c["summary"]) for c in s["checks"]]) for s in data["scenarios"]]


@pytest.mark.skipif(not _sandbox_has_workflows(), reason="the workflows service (i12-wfsvc) is not merged")
def test_the_reference_client_passes_the_workflow_scenarios(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    args = ["--client", REFERENCE, "--examples", "0", "--json", str(report)]
    for p in WORKFLOW_FILES:
        args += ["--scenarios", str(p)]
    result = check(*args, cwd=tmp_path)
    rows = summary(report)
    assert result.returncode == 0, f"{rows}\n{result.stdout[-3000:]}"
    assert [r[1] for r in rows] == ["pass"] * 4 and all(c[1] == "pass" for r in rows for c in r[3]), rows
    by_name = {r[0]: {c[0]: c[2] for c in r[3]} for r in rows}
    # The deliveries really reached the client (duplicated three times in the second scenario) ...
    assert "2 genuine workflow delivery attempts" in by_name["workflow payment synced"]["accepts_genuine_workflow_webhooks"]
    attempts = by_name["workflow duplicates and a Rankr 503"]["accepts_genuine_workflow_webhooks"]
    assert int(attempts.split("held throughout: ")[1].split()[0]) >= 6, attempts
    # ... none did in the lost-delivery scenario (polling repaired it), and the forged posts were refused.
    assert "0 genuine workflow delivery attempts" in by_name["workflow delivery lost"]["accepts_genuine_workflow_webhooks"]
    assert "3 forged workflow posts rejected" in by_name["workflow forged posts"]["rejects_forged_workflow_webhooks"]


@pytest.mark.skipif(not _sandbox_has_workflows(), reason="the workflows service (i12-wfsvc) is not merged")
def test_a_client_without_the_secret_check_is_caught_by_the_forged_posts(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    broken = f"{sys.executable} {ROOT / 'examples' / 'clients' / 'broken_workflow_no_secret.py'}"
    result = check("--client", broken, "--scenarios", str(LIBRARY / "43_workflow_forged_posts.yaml"), "--examples", "0",
                   "--json", str(report), cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    (data,) = json.loads(report.read_text())["scenarios"]
    failed = {c["check"]: c for c in data["checks"] if c["status"] == "fail"}
    assert set(failed) == {"rejects_forged_workflow_webhooks"}, summary(report)
    evidence = failed["rejects_forged_workflow_webhooks"]["evidence"]
    # It reads the made-up transaction back from GHL: the post made it act (and GHL's 400 made it answer 404).
    assert evidence and all("was acted on: GHL request #" in e and "/payments/transactions/" in e for e in evidence), evidence


def test_a_client_without_a_workflow_route_skips_the_workflow_scenarios(tmp_path: Path) -> None:
    (tmp_path / "ghl-sandbox.toml").write_text(f'[client]\ncommand = "{REFERENCE}"\n[client.routes]\n'
                                               'workflow_webhook = ""\n')
    report = tmp_path / "r.json"
    result = check("--scenarios", str(LIBRARY / "43_workflow_forged_posts.yaml"), "--examples", "0", "--json",
                   str(report), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    ((name, status, why, checks),) = summary(report)
    assert status == "skipped" and "workflow_webhook is empty" in why and checks == []


@pytest.mark.skipif(not _sandbox_has_workflows(), reason="the workflows service (i12-wfsvc) is not merged")
def test_the_node_client_passes_the_workflow_scenarios(tmp_path: Path) -> None:
    from node_support import ensure_node_client

    project = ensure_node_client() / "ghl-sandbox.toml"
    report = tmp_path / "r.json"
    args = ["--project", str(project), "--examples", "0", "--json", str(report)]
    for p in WORKFLOW_FILES:
        args += ["--scenarios", str(p)]
    result = check(*args, cwd=tmp_path)
    rows = summary(report)
    assert result.returncode == 0, f"{rows}\n{result.stdout[-3000:]}"
    assert [r[1] for r in rows] == ["pass"] * 4 and all(c[1] == "pass" for r in rows for c in r[3]), rows


def test_an_unset_environment_variable_in_a_workflow_custom_value_stops_check_before_any_scenario(tmp_path: Path) -> None:
    (tmp_path / "ghl-sandbox.toml").write_text(f'[client]\ncommand = "{REFERENCE}"\n[workflows.custom_values]\n'
                                               'token = "{{env.GHL_SANDBOX_SURELY_UNSET_VAR}}"\n')
    result = check("--examples", "0", cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert ":4: workflows.custom_values.token: {env.GHL_SANDBOX_SURELY_UNSET_VAR}: the environment variable" in result.stdout
