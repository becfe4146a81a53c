"""The workflow checks (scenarios that declare `services: [workflows]`; design i12 §2,
contracts/CLIENT_CONTRACT.md §7). Judging is in pure functions over crafted data (unit-tested); the
registered checks only gather the data through the context."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from scenarios.checks import Verdict, _money, _optional, _same, check
from scenarios.context import ScenarioContext, parse_time

WORKFLOW_DEFAULT_CHECKS = ("workflow_payments_synced", "rejects_forged_workflow_webhooks",
                           "accepts_genuine_workflow_webhooks")
WORKFLOW_CHECKS = frozenset(WORKFLOW_DEFAULT_CHECKS)
# A workflow recipe copies `{{payment.payment_status}}` as GHL words it; the API's transaction status
# says the same in its own words.
STATUS_WORDS = {"success": "succeeded", "successful": "succeeded", "succeeded": "succeeded", "paid": "succeeded",
                "failed": "failed", "failure": "failed", "fail": "failed"}


def same_status(transaction_status: Any, recorded: Any) -> bool:
    """The recorded status says what the transaction's does (`success` is `succeeded`), in any letter case."""
    def word(value: Any) -> str:
        text = str(value or "").strip().lower()
        return STATUS_WORDS.get(text, text)

    return word(transaction_status) == word(recorded)


def workflow_payment_problems(transactions: list[dict[str, Any]], baseline: set[str],
                              records: list[dict[str, Any]]) -> tuple[list[str], int]:
    """What is wrong with the destination's GHL payments (pure): every transaction not in `baseline` (made
    during the scenario) has exactly one payment (source ghl, sourceKind transaction, sourceId = its id)
    with its amount, currency and status; no GHL payment names a transaction the location does not have.
    Returns the problems and how many transactions were judged."""
    have: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if str(r.get("source")) == "ghl" and str(r.get("sourceKind")) == "transaction":
            have[str(r.get("sourceId"))].append(r)
    problems = []
    judged = [t for t in transactions if str(t.get("_id")) not in baseline]
    for t in judged:
        tid = str(t["_id"])
        what = f"GHL transaction {tid} ({t.get('status')}, {t.get('amount')} {t.get('currency')}, order {t.get('entityId')})"
        got = have.get(tid, [])
        if not got:
            problems.append(f"{what}: no payment in the destination (source=ghl, sourceKind=transaction, sourceId={tid})")
            continue
        if len(got) > 1:
            problems.append(f"{what}: {len(got)} payments in the destination (paymentKeys "
                            f"{', '.join(str(r.get('paymentKey')) for r in got)}): recorded more than once")
        r = got[0]
        diffs = []
        if not _same(_money(t.get("amount")), _money(r.get("amount"))):
            diffs.append(f"amount: GHL {t.get('amount')!r} vs destination {r.get('amount')!r}")
        if str(t.get("currency") or "").upper() != str(r.get("currency") or "").upper():
            diffs.append(f"currency: GHL {t.get('currency')!r} vs destination {r.get('currency')!r}")
        if not same_status(t.get("status"), r.get("status")):
            diffs.append(f"status: GHL {t.get('status')!r} vs destination {r.get('status')!r}")
        if diffs:
            problems.append(f"{what} (paymentKey {r.get('paymentKey')}): " + "; ".join(diffs))
    existing = {str(t.get("_id")) for t in transactions}
    for tid, rs in have.items():
        if tid not in existing:
            problems += [f"payment {r.get('paymentKey')!r} (source=ghl, sourceKind=transaction, sourceId={tid}, amount "
                         f"{r.get('amount')!r}) names a transaction the location does not have" for r in rs]
    return problems, len(judged)


@check("workflow_payments_synced", "eventual",
       hint="upsert one Rankr payment per Payment Received delivery (key: the transaction id) before answering 2xx, "
            "answer 5xx when Rankr fails so the workflow retries, and poll GHL's transactions: a delivery a workflow "
            "lost is never sent again")
def workflow_payments_synced(ctx: ScenarioContext) -> Verdict:
    """Every GHL transaction made during the scenario (Payment Received fires for successes and failures) has
    exactly one Rankr payment (source ghl, sourceKind transaction, sourceId = its id) with its amount, currency
    and status; no GHL payment for a transaction that does not exist."""
    if ctx.workflow is None:
        return Verdict.not_evaluated("the scenario does not use GHL workflows (services: [workflows])")
    records = ctx.records("payments")
    problems, judged = workflow_payment_problems(ctx.ghl_state()["transactions"], ctx.workflow.baseline_transactions,
                                                 records)
    if problems:
        return Verdict.failed(f"{len(problems)} problem(s) over {judged} transaction(s) paid during the scenario",
                              problems)
    return Verdict.passed(f"{judged} transaction(s) paid during the scenario, each one payment")


def forged_problems(posts: list[dict[str, Any]], payments: list[dict[str, Any]],
                    requests: list[dict[str, Any]]) -> list[str]:
    """What a client did with the harness's workflow posts that lack the secret (pure): answered 2xx, wrote a
    payment naming their made-up transaction, or fetched that transaction from GHL after the post."""
    problems = []
    for p in posts:
        txn = str(p["transactionId"])
        what = f"{p['kind']} workflow post for made-up transaction {txn}"
        if isinstance(p.get("status"), int) and 200 <= p["status"] < 300:
            problems.append(f"{what} was accepted with {p['status']}")
        for r in payments:
            if txn == str(r.get("sourceId")) or txn in str(r.get("paymentKey", "")):
                problems.append(f"{what} reached the destination: payment {r.get('paymentKey')!r}")
        acted = next((e for e in requests if txn in str(e.get("path", ""))
                      and parse_time(e["time"]) - e.get("latencyMs", 0) / 1000 >= p["sentAt"] - 0.01), None)
        if acted is not None:
            problems.append(f"{what} was acted on: GHL request #{acted['id']} {acted['method']} {acted['path']} "
                            f"at {acted['time']}")
    return problems


@check("rejects_forged_workflow_webhooks", "safety",
       hint="compare X-Workflow-Secret (or wherever your workflow puts the shared secret) with GHL_WORKFLOW_SECRET "
            "in constant time before reading the body, and answer 401 without it")
def rejects_forged_workflow_webhooks(ctx: ScenarioContext) -> Verdict:
    """Workflow-shaped posts without the shared secret, or with a wrong one, get a non-2xx answer, write
    nothing to the destination and are not acted on (no GHL call for the transaction only they named)."""
    if ctx.workflow is None:
        return Verdict.not_evaluated("the scenario does not use GHL workflows (services: [workflows])")
    posts = ctx.workflow.posts
    if not posts:
        return Verdict.passed("no forged workflow posts sent")
    missing: list[str] = []
    payments = _optional(ctx, "payments", missing)
    problems = forged_problems(posts, payments, ctx.client_requests())
    if problems:
        return Verdict.failed(f"{len(problems)} forged workflow post(s) accepted", problems)
    return Verdict.passed(f"{len(posts)} forged workflow posts rejected"
                          + (" (answers only: the destination does not expose payments)" if missing else ""))


def refused_deliveries(deliveries: list[dict[str, Any]], client_url: str) -> tuple[list[str], int]:
    """Genuine workflow deliveries to the client refused with a 4xx other than 429 (pure): a workflow
    action retries 429s and 5xx (by the sandbox's policy) and gives up on anything else, so a refused
    delivery is lost. Deliveries to another URL (an action calling Rankr itself, say) are not the client's."""
    problems, attempts = [], 0
    for d in deliveries:
        url = str(d.get("url") or "")
        if url.startswith("http") and not url.startswith(client_url):
            continue
        for a in d.get("attempts", []):
            attempts += 1
            status = a.get("status")
            if isinstance(status, int) and 400 <= status < 500 and status != 429:
                problems.append(f"genuine workflow delivery {d.get('id')} ({d.get('event')}, attempt {a.get('attempt')} "
                                f"at {a.get('time')}) refused with {status}")
    return problems, attempts


@check("accepts_genuine_workflow_webhooks", "safety",
       hint="answer 2xx to every genuine workflow delivery, duplicates included (or 5xx to ask for a retry); check "
            "the secret the workflow sends against GHL_WORKFLOW_SECRET, not a value of your own")
def accepts_genuine_workflow_webhooks(ctx: ScenarioContext) -> Verdict:
    """No delivery of the location's workflows to the client is refused with a 4xx other than 429."""
    if ctx.workflow is None:
        return Verdict.not_evaluated("the scenario does not use GHL workflows (services: [workflows])")
    deliveries = [d for d in ctx.all_deliveries() if d.get("service") == "workflows"]
    problems, attempts = refused_deliveries(deliveries, ctx.client.url)
    if problems:
        return Verdict.failed(f"{len(problems)} genuine workflow deliveries refused", problems)
    return Verdict.passed(f"{attempts} genuine workflow delivery attempts, none refused")
