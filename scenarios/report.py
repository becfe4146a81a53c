"""The summary table (scenario x check), failure details with the usual fix and a runnable replay
command, JUnit XML and a JSON result file. A scenario the client could not run through (it never became
healthy, say) is an ERROR, not a column of FAILs; a check the destination cannot show is "n/e"."""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scenarios.checks import REGISTRY
from scenarios.runner import CheckOutcome, ScenarioResult

SHORT = {"sync_complete": "sync", "no_duplicate_effects": "no dupes", "no_lost_events": "no loss",
         "respects_rate_limits": "rate", "rejects_forged_webhooks": "forged", "accepts_genuine_webhooks": "genuine",
         "api_hygiene": "hygiene", "alerts_on_permanent_failure": "alerts"}
CELL = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "error": "[red]ERROR[/]", "not_evaluated": "[yellow]n/e[/]"}
ERROR_HINT = ("the client did not start or answer its health route: run its command by hand with the environment "
              "shown in the log, and check client.routes.health and client.startup_timeout")


def replay_words(replay: list[str], result: ScenarioResult, seed: int) -> list[str] | None:
    """The complete command that replays this result, or None (the built-in library is replayed by path)."""
    path = result.replay_file or (result.path if not result.path.startswith("<") else "")
    if not path:
        return None
    return [*replay, "--scenarios", path, "--seed", str(seed), "--examples", "0"]


def _command(words: list[str] | None) -> str:
    return " ".join(shlex.quote(w) for w in words) if words else ""


def summary_table(results: list[ScenarioResult], checks: list[str]) -> Table:
    table = Table(title="ghl-sandbox check", show_lines=False)
    table.add_column("scenario", overflow="fold", min_width=28)
    for name in checks:
        table.add_column(SHORT.get(name, name), justify="center")
    table.add_column("asserts", justify="center")
    table.add_column("s", justify="right")
    for r in results:
        if r.status in ("error", "skipped"):
            label = "[red]ERROR[/]" if r.status == "error" else "[yellow]skipped[/]"
            table.add_row(f"{escape(r.name)} ({label})", *(["-"] * len(checks)), "-", f"{r.seconds:.1f}")
            continue
        by_check = {o.check: o for o in r.outcomes}
        cells = [CELL[by_check[name].status] if name in by_check else "-" for name in checks]
        asserts = [o for o in r.outcomes if o.kind == "assertion"]
        failed = sum(o.failing for o in asserts)
        cells.append("-" if not asserts else (f"[green]{len(asserts)}[/]" if not failed else f"[red]{failed} FAIL[/]"))
        table.add_row(escape(r.name), *cells, f"{r.seconds:.1f}")
    return table


def print_report(console: Console, results: list[ScenarioResult], checks: list[str],
                 replay: list[str] | None = None, seed: int = 42) -> None:
    console.print(summary_table(results, checks))
    for r in results:
        if r.ok:
            continue
        console.print(f"\n[bold red]{'ERROR' if r.error else 'FAILED'}[/] {escape(r.name)}  ({escape(r.path)})")
        if r.error:
            console.print(f"  error: {r.error}", markup=False)
            console.print(f"  hint: {ERROR_HINT}", markup=False)
        for o in r.outcomes:
            if not o.failing:
                continue
            console.print(f"  [red]{o.check}[/]: {escape(o.summary)}")
            for line in o.evidence:
                console.print(f"    - {line}", markup=False)
            hint = _hint(o)
            if hint:
                console.print(f"    hint: {hint}", markup=False)
        words = replay_words(replay, r, seed) if replay else None
        if words:
            console.print(f"  replay: {_command(words)}", markup=False)
        if r.client_log:
            console.print("  client log (tail):")
            for line in r.client_log.splitlines()[-12:]:
                console.print(f"    | {line}", markup=False)
    scenarios = [r for r in results if not r.is_property]
    ran = [r for r in scenarios if r.status != "skipped"]
    passed = sum(r.ok for r in ran)
    colour = "green" if passed == len(ran) and all(r.ok for r in results) else "red"
    skipped = len(scenarios) - len(ran)
    unevaluated = sorted({o.check for r in results for o in r.outcomes if o.status == "not_evaluated"})
    prop = next((r for r in results if r.is_property), None)
    console.print(f"\n[{colour}]{passed} of {len(ran)} scenarios passed[/]"
                  + (f", {skipped} skipped (not applicable to this client)" if skipped else "")
                  + ("" if prop is None else f"; property run {'passed' if prop.ok else ('ERROR' if prop.error else 'FAILED')}"))
    if unevaluated:
        console.print(f"[yellow]not evaluated[/] (the destination does not expose their data): {', '.join(unevaluated)}")


def _hint(o: CheckOutcome) -> str:
    if o.status == "error":
        return "fix the destination mapping in the project file ([destination.<kind>.fields])"
    check = REGISTRY.get(o.check)
    return check.hint if check else ""


def write_junit(path: Path, results: list[ScenarioResult], replay: list[str] | None = None, seed: int = 42) -> None:
    cases = 0
    failures = errors = skipped = 0
    suite = ET.Element("testsuite", name="ghl-sandbox check")
    for r in results:
        words = replay_words(replay, r, seed) if replay else None
        tail = [f"replay: {_command(words)}"] if words else []
        if r.status in ("error", "skipped"):
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=r.name, name="scenario", time=f"{r.seconds:.2f}")
            if r.status == "error":
                errors += 1
                element = ET.SubElement(case, "error", message=r.error[:500])
                element.text = "\n".join([r.error, f"hint: {ERROR_HINT}", *tail])
                if r.client_log:
                    ET.SubElement(case, "system-out").text = r.client_log
            else:
                skipped += 1
                ET.SubElement(case, "skipped", message=r.skipped[:500])
            continue
        for o in r.outcomes:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=r.name, name=o.check, time=f"{r.seconds:.2f}")
            if o.status == "not_evaluated":
                skipped += 1
                ET.SubElement(case, "skipped", message=o.summary[:500])
            elif o.failing:
                tag = "error" if o.status == "error" else "failure"
                failures += tag == "failure"
                errors += tag == "error"
                element = ET.SubElement(case, tag, message=o.summary[:500])
                hint = _hint(o)
                element.text = "\n".join([*o.evidence, *([f"hint: {hint}"] if hint else []), *tail])
        if r.client_log and not r.ok and r.status != "error":
            out = ET.SubElement(ET.SubElement(suite, "testcase", classname=r.name, name="client log"), "system-out")
            out.text = r.client_log
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{sum(r.seconds for r in results):.2f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def to_json(results: list[ScenarioResult], replay: list[str] | None = None, seed: int = 42) -> dict[str, Any]:
    def scenario(r: ScenarioResult) -> dict[str, Any]:
        words = replay_words(replay, r, seed) if replay and not r.ok else None
        return {"name": r.name, "path": r.path, "ok": r.ok, "status": r.status, "property": r.is_property,
                "seconds": r.seconds, "clientSeconds": r.client_seconds,
                "error": r.error or None, "skipped": r.skipped or None, "replayFile": r.replay_file or None,
                "replayCommand": _command(words) or None, "steps": r.steps,
                "checks": [{"check": o.check, "kind": o.kind, "ok": o.ok, "status": o.status, "summary": o.summary,
                            "evidence": o.evidence, **({"hint": _hint(o)} if o.failing and _hint(o) else {})}
                           for o in r.outcomes]}

    return {"passed": all(r.ok for r in results), "seed": seed, "scenarios": [scenario(r) for r in results]}


def write_json(path: Path, document: dict[str, Any] | list[ScenarioResult]) -> None:
    if isinstance(document, list):
        document = to_json(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
