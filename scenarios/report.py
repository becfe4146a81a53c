"""The summary table (scenario x check), failure details, JUnit XML and a JSON result file."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from scenarios.runner import ScenarioResult

SHORT = {"sync_complete": "sync", "no_duplicate_effects": "no dupes", "no_lost_events": "no loss",
         "respects_rate_limits": "rate", "rejects_forged_webhooks": "forged", "api_hygiene": "hygiene",
         "alerts_on_permanent_failure": "alerts"}


def summary_table(results: list[ScenarioResult], checks: list[str]) -> Table:
    table = Table(title="ghl-sandbox check", show_lines=False)
    table.add_column("scenario", overflow="fold", min_width=28)
    for name in checks:
        table.add_column(SHORT.get(name, name), justify="center")
    table.add_column("asserts", justify="center")
    table.add_column("s", justify="right")
    for r in results:
        by_check = {o.check: o for o in r.outcomes}
        cells = []
        for name in checks:
            o = by_check.get(name)
            cells.append("-" if o is None else ("[green]pass[/]" if o.ok else "[red]FAIL[/]"))
        asserts = [o for o in r.outcomes if o.kind == "assertion"]
        failed = sum(not o.ok for o in asserts)
        cells.append("-" if not asserts else (f"[green]{len(asserts)}[/]" if not failed else f"[red]{failed} FAIL[/]"))
        name = r.name if not r.error else f"{r.name} [red](error)[/]"
        table.add_row(name, *cells, f"{r.seconds:.1f}")
    return table


def print_report(console: Console, results: list[ScenarioResult], checks: list[str]) -> None:
    console.print(summary_table(results, checks))
    for r in results:
        if r.ok:
            continue
        console.print(f"\n[bold red]FAILED[/] {r.name}  ({r.path})")
        if r.error:
            console.print(f"  error: {r.error}")
        for o in r.outcomes:
            if o.ok:
                continue
            console.print(f"  [red]{o.check}[/]: {o.summary}")
            for line in o.evidence:
                console.print(f"    - {line}", markup=False)
        if r.replay_file:
            console.print(f"  replay: ghl-sandbox check --client ... --scenarios {r.replay_file}")
        if r.client_log:
            console.print("  client log (tail):")
            for line in r.client_log.splitlines()[-12:]:
                console.print(f"    | {line}", markup=False)
    passed = sum(r.ok for r in results)
    colour = "green" if passed == len(results) else "red"
    console.print(f"\n[{colour}]{passed} of {len(results)} scenarios passed[/]")


def write_junit(path: Path, results: list[ScenarioResult]) -> None:
    tests = sum(len(r.outcomes) for r in results)
    failures = sum(1 for r in results for o in r.outcomes if not o.ok)
    suite = ET.Element("testsuite", name="ghl-sandbox check", tests=str(tests), failures=str(failures),
                       errors="0", time=f"{sum(r.seconds for r in results):.2f}")
    for r in results:
        for o in r.outcomes:
            case = ET.SubElement(suite, "testcase", classname=r.name, name=o.check, time=f"{r.seconds:.2f}")
            if not o.ok:
                failure = ET.SubElement(case, "failure", message=o.summary[:500])
                failure.text = "\n".join([*o.evidence, *( [f"replay: {r.replay_file}"] if r.replay_file else [])])
        if r.client_log and not r.ok:
            out = ET.SubElement(ET.SubElement(suite, "testcase", classname=r.name, name="client log"), "system-out")
            out.text = r.client_log
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def to_json(results: list[ScenarioResult]) -> dict[str, Any]:
    return {"passed": all(r.ok for r in results),
            "scenarios": [{"name": r.name, "path": r.path, "ok": r.ok, "seconds": r.seconds, "error": r.error or None,
                           "replayFile": r.replay_file or None, "steps": r.steps,
                           "checks": [{"check": o.check, "kind": o.kind, "ok": o.ok, "summary": o.summary,
                                       "evidence": o.evidence} for o in r.outcomes]} for r in results]}


def write_json(path: Path, results: list[ScenarioResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(results), indent=2))
