"""`ghl-sandbox check`: the CI contract gate. Exit 0 when every check passes, 1 on a failed check,
2 on bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from scenarios.checks import REGISTRY
from scenarios.loader import ScenarioError, load_paths


@click.command()
@click.option("--client", "client_command", required=True, metavar="CMD",
              help="Command that starts the integration client (run through the shell).")
@click.option("--scenarios", "scenario_paths", multiple=True, metavar="PATH",
              help="Scenario files or directories (repeatable; default: the built-in library).")
@click.option("--examples", default=10, show_default=True, type=click.IntRange(0, 10_000),
              help="Property-based examples to run after the scenarios (0: none).")
@click.option("--seed", default=42, show_default=True, type=int, help="One seed for data, ids, chaos and programs.")
@click.option("--junit", "junit_path", default=None, type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Write a JSON report here.")
@click.option("--checks", "only_checks", multiple=True, metavar="NAME",
              help="Evaluate only these checks (repeatable or comma-separated).")
@click.option("--save-failures", "save_dir", default=None, type=click.Path(file_okay=False),
              help="Write the minimal failing property program here as a replayable scenario.")
@click.option("--shrink-seconds", default=120.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Time budget for shrinking a failing property program.")
@click.option("--sandbox-url", default=None, help="Use a running sandbox instead of starting one in-process.")
@click.option("--admin-token", default=None, help="Admin token of that sandbox.")
def check(client_command: str, scenario_paths: tuple[str, ...], examples: int, seed: int, junit_path: str | None,
          json_path: str | None, only_checks: tuple[str, ...], save_dir: str | None, shrink_seconds: float,
          sandbox_url: str | None, admin_token: str | None) -> None:
    """Drive an integration client through the scenario library and property-based runs."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    checks = [c.strip() for value in only_checks for c in value.split(",") if c.strip()]
    unknown = [c for c in checks if c not in REGISTRY]
    if unknown:
        console.print(f"error: unknown check(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
        sys.exit(2)
    try:
        scenarios = load_paths(list(scenario_paths) or None)
    except ScenarioError as exc:
        console.print(f"error: {exc}", markup=False)
        sys.exit(2)
    code = run_check(console, client_command, scenarios, examples, seed, checks or None,
                     Path(junit_path) if junit_path else None, Path(json_path) if json_path else None,
                     Path(save_dir) if save_dir else None, sandbox_url, admin_token, shrink_seconds)
    sys.exit(code)


def run_check(console: Console, client_command: str, scenarios: list, examples: int, seed: int,
              only_checks: list[str] | None, junit_path: Path | None, json_path: Path | None, save_dir: Path | None,
              sandbox_url: str | None, admin_token: str | None, shrink_seconds: float = 120.0) -> int:
    from contextlib import nullcontext

    from mock_server.dashboard.harness_results import save_latest
    from mock_server.settings import Settings
    from scenarios.inprocess import running_sandbox
    from scenarios.property import run_property
    from scenarios.report import print_report, to_json, write_json, write_junit
    from scenarios.runner import Harness

    settings = Settings(port=0, seed=seed, orders=8, rate_limit="default", journal_capacity=500_000,
                        webhook_retry_interval=0.5, webhook_timeout=5.0)
    results = []
    with (nullcontext(None) if sandbox_url else running_sandbox(settings)) as sandbox:
        url = sandbox_url or sandbox.url
        console.print(f"sandbox {url}   client: {client_command}   seed {seed}")
        harness = Harness(url, client_command, seed=seed, only_checks=only_checks, admin_token=admin_token)
        try:
            with console.status("") as status:
                for i, scenario in enumerate(scenarios, 1):
                    status.update(f"[{i}/{len(scenarios)}] {scenario.name}")
                    result = harness.run(scenario)
                    results.append(result)
                    mark = "[green]pass[/]" if result.ok else "[red]FAIL[/]"
                    console.print(f"[{i}/{len(scenarios)}] {mark} {scenario.name} ({result.seconds:.1f} s)")
                if examples:
                    def progress(message: str) -> None:
                        status.update(f"property run: {message}")

                    outcome = run_property(harness, examples, seed, save_dir, progress=progress,
                                           shrink_budget_s=shrink_seconds)
                    if outcome.failure is not None:
                        results.append(outcome.failure)
                        console.print(f"[red]FAIL[/] property run: a program failed after {outcome.examples_run} "
                                      f"runs ({outcome.seconds:.1f} s)")
                    else:
                        console.print(f"[green]pass[/] property run: {outcome.examples_run} examples "
                                      f"({outcome.seconds:.1f} s)")
        finally:
            harness.close()
    names = [c for c in REGISTRY if any(o.check == c for r in results for o in r.outcomes)]
    print_report(console, results, names)
    save_latest(to_json(results), client=client_command, seed=seed)  # for the dashboard (GET /_sandbox/harness/latest)
    if junit_path:
        write_junit(junit_path, results)
    if json_path:
        write_json(json_path, results)
    return 0 if all(r.ok for r in results) else 1
