"""`ghl-sandbox check`: the CI contract gate. Exit 0 when every check passes, 1 on a failed check or a
scenario that could not run, 2 on bad input (a scenario file, the project file, a plugin, a flag).
`ghl-sandbox init`: a commented starter project file."""

from __future__ import annotations

import os
import re
import shlex
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from scenarios import client as clients
from scenarios import project as projects
from scenarios.checks import REGISTRY
from scenarios.loader import Scenario, ScenarioError, load_paths

if TYPE_CHECKING:
    from scenarios.runner import Harness, ScenarioResult  # noqa: F401 - Harness: imported again at run time

DEFAULT_EXAMPLES = 10
DEFAULT_SEED = 42
MAX_JOBS = projects.MAX_JOBS


class UsageProblem(Exception):
    """Bad input for `check`: printed as `error: ...`, exit 2."""


@dataclass
class Plan:
    """Everything `check` will do, resolved from flags over the project file over the defaults."""

    project: projects.Project
    client: projects.ClientSpec
    scenarios: list[Scenario]
    checks: list[str] | None
    examples: int
    seed: int
    destination: Any  # scenarios.destinations.Destination (imported lazily with the adapters)
    jobs: int = 1


@click.command()
@click.option("--client", "client_command", default=None, metavar="CMD",
              help="Command that starts the integration client, run through the shell (default: client.command "
                   "of the project file).")
@click.option("--project", "project_path", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Project file (default: ./ghl-sandbox.toml, else [tool.ghl-sandbox] in ./pyproject.toml).")
@click.option("--cwd", "client_cwd", default=None, type=click.Path(file_okay=False), help="The client's working directory.")
@click.option("--startup-timeout", default=None, type=click.FloatRange(1, 600), metavar="S",
              help="Seconds the client has to answer 200 on its health route (default 30).")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE_OR_FILE",
              help="Import a plugin that registers checks, steps or destination adapters (repeatable).")
@click.option("--scenarios", "scenario_paths", multiple=True, metavar="PATH",
              help="Scenario files or directories (repeatable; default: the built-in library).")
@click.option("--examples", default=None, type=click.IntRange(0, 10_000),
              help=f"Property-based examples to run after the scenarios (0: none; default {DEFAULT_EXAMPLES}).")
@click.option("--jobs", default=None, type=int, metavar="N",
              help="Scenarios and property examples run at the same time, each job with a sandbox process and "
                   "client of its own; the report is that of --jobs 1 (default: harness.jobs of the project "
                   "file, else 4 per core, at least 2 and at most 8; 1 with --sandbox-url).")
@click.option("--seed", default=None, type=int, help=f"One seed for data, ids, chaos and programs (default {DEFAULT_SEED}).")
@click.option("--junit", "junit_path", default=None, type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Write a JSON report here.")
@click.option("--checks", "only_checks", multiple=True, metavar="NAME",
              help="Evaluate only these checks (repeatable or comma-separated).")
@click.option("--save-failures", "save_dir", default=None, type=click.Path(file_okay=False),
              help="Write the minimal failing property program here as a replayable scenario "
                   "(default: the run's work directory).")
@click.option("--shrink-seconds", default=120.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Time budget for shrinking a failing property program.")
@click.option("--legacy-wh-signature", "legacy_wh_signature", is_flag=True, default=None,
              help="Webhooks also carry the RSA x-wh-signature GHL retired in 2026, for a client still migrating "
                   "(default: harness.legacy_wh_signature of the project file, else x-ghl-signature only, as GHL "
                   "sends them).")
@click.option("--sandbox-url", default=None, help="Use a running sandbox instead of starting one in-process.")
@click.option("--admin-token", default=None, help="Admin token of that sandbox.")
def check(client_command: str | None, project_path: str | None, client_cwd: str | None,
          startup_timeout: float | None, plugins: tuple[str, ...], scenario_paths: tuple[str, ...],
          examples: int | None, jobs: int | None, seed: int | None, junit_path: str | None, json_path: str | None,
          only_checks: tuple[str, ...], save_dir: str | None, shrink_seconds: float,
          legacy_wh_signature: bool | None, sandbox_url: str | None, admin_token: str | None) -> None:
    """Drive an integration client through the scenario library and property-based runs."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    restore_signals = clients.handle_signals()
    try:
        try:
            plan = make_plan(client_command, project_path, client_cwd, startup_timeout, list(plugins),
                             list(scenario_paths), examples, seed, list(only_checks), jobs=jobs)
        except (UsageProblem, projects.ProjectError, ScenarioError) as exc:
            console.print(f"error: {exc}", markup=False, soft_wrap=True)  # one line: the path stays whole
            sys.exit(2)
        replay = replay_command(plan, project_path, client_command, client_cwd, plugins)
        if legacy_wh_signature:  # the project file's harness.legacy_wh_signature is in the file the replay names
            replay.append("--legacy-wh-signature")
        code = run_check(console, plan.client, plan.scenarios, plan.examples, plan.seed, plan.checks,
                         Path(junit_path) if junit_path else None, Path(json_path) if json_path else None,
                         Path(save_dir) if save_dir else None, sandbox_url, admin_token, shrink_seconds,
                         destination=plan.destination, replay=replay,
                         legacy_wh_signature=bool(legacy_wh_signature or plan.project.legacy_wh_signature),
                         jobs=plan.jobs, new_destination=lambda: _build_destination(plan.project))
    except clients.Interrupted as exc:
        _die_of(exc.signum)
    finally:
        clients.stop_all()  # whatever ended the run (an error in a plugin, say), no client outlives it
        restore_signals()
    sys.exit(code)


def _die_of(signum: int) -> NoReturn:
    """After SIGTERM, SIGINT or SIGHUP: stop the clients, then end as that signal would have (the
    exit status a parent or CI runner expects)."""
    for sig in clients.STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the cleanup short
    clients.stop_all()
    print(f"ghl-sandbox check: interrupted by {signal.Signals(signum).name}; the client under test was stopped",
          file=sys.stderr, flush=True)
    sys.stdout.flush()  # what the run printed so far: dying of a signal would drop a pipe's buffer
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    sys.exit(128 + signum)  # not reached: the signal ends the process


def make_plan(client_command: str | None, project_path: str | None, client_cwd: str | None,
              startup_timeout: float | None, plugins: list[str], scenario_paths: list[str],
              examples: int | None, seed: int | None, only_checks: list[str], jobs: int | None = None) -> Plan:
    from scenarios import plugin
    from scenarios.destinations import build

    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise UsageProblem(f"--jobs must be between 1 and {MAX_JOBS}, not {jobs}")
    project = projects.load(projects.find(project_path))
    try:
        plugin.load(project.plugins, project.base_dir)
        plugin.load(plugins, Path.cwd())
    except plugin.PluginError as exc:
        where = f"{project.where('harness.plugins')}: " if project.plugins and project.path else ""
        raise UsageProblem(f"{where}{exc}") from None
    destination = build(project)
    client = project.client(client_command)
    if client_cwd is not None:
        client = replace(client, cwd=Path(client_cwd).resolve())
    if startup_timeout is not None:
        client = replace(client, startup_timeout=startup_timeout)
    if client.cwd is not None and not client.cwd.is_dir():
        raise UsageProblem(f"the client's working directory {client.cwd} does not exist")
    _check_environment(project)
    checks = [c.strip() for value in only_checks for c in value.split(",") if c.strip()] or None
    from_file = checks is None and project.checks is not None
    checks = checks if checks is not None else project.checks
    unknown = [c for c in checks or [] if c not in REGISTRY]
    if unknown:
        where = f"{project.where('harness.checks')}: " if from_file else ""
        raise UsageProblem(f"{where}unknown check(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    scenarios = load_paths(scenario_paths or project.scenarios or None)
    return Plan(project=project, client=client, scenarios=scenarios, checks=checks or None,
                examples=examples if examples is not None else (project.examples if project.examples is not None
                                                                else DEFAULT_EXAMPLES),
                seed=seed if seed is not None else (project.seed if project.seed is not None else DEFAULT_SEED),
                destination=destination,
                jobs=jobs if jobs is not None else (project.jobs if project.jobs is not None else _default_jobs()))


def _default_jobs() -> int:
    from scenarios.jobs import default_jobs

    return default_jobs()


def _build_destination(project: projects.Project) -> Any:
    """Another instance of the project's destination adapter (one per job: an adapter holds its binding)."""
    from scenarios.destinations import build

    return build(project)


_ENV_NAME = re.compile(r"\{env\.([A-Za-z_][A-Za-z0-9_]*)\}")


def _strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{key}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{key}[{i}]")


def _check_environment(project: projects.Project) -> None:
    """Every `{env.NAME}` the project uses is set, before any scenario starts."""
    values = [*_strings(project.env, "client.env"), *_strings(project.destination, "destination"),
              *_strings(project.workflows.custom_values, "workflows.custom_values")]
    for key, value in values:
        for name in _ENV_NAME.findall(value):
            if name not in os.environ:
                raise UsageProblem(f"{project.where(key)}: {{env.{name}}}: the environment variable {name} is not set")


def replay_command(plan: Plan, project_path: str | None, client_command: str | None, client_cwd: str | None,
                   plugins: tuple[str, ...]) -> list[str]:
    """The start of a complete, runnable `check` command for this client (scenario file, seed and
    `--examples 0` are added per failure)."""
    words = ["ghl-sandbox", "check"]
    if plan.project.path is not None:
        words += ["--project", str(project_path or plan.project.path)]
    if client_command or plan.project.path is None:
        words += ["--client", plan.client.command]
    if client_cwd:
        words += ["--cwd", client_cwd]
    for p in plugins:
        words += ["--plugin", p]
    return words


def run_check(console: Console, client_command: str | projects.ClientSpec, scenarios: list, examples: int, seed: int,
              only_checks: list[str] | None, junit_path: Path | None, json_path: Path | None, save_dir: Path | None,
              sandbox_url: str | None, admin_token: str | None, shrink_seconds: float = 120.0,
              destination: Any = None, replay: list[str] | None = None, legacy_wh_signature: bool = False,
              jobs: int = 1, new_destination: Callable[[], Any] | None = None) -> int:
    from contextlib import nullcontext

    from mock_server.dashboard.harness_results import save_latest
    from mock_server.settings import Settings
    from mock_server.testing import discard_prestarted_fork_server
    from scenarios.report import print_report, to_json, write_json, write_junit
    from scenarios.runner import Harness

    spec = client_command if isinstance(client_command, projects.ClientSpec) else projects.ClientSpec(client_command)
    replay = replay or ["ghl-sandbox", "check", "--client", spec.command]
    settings = Settings(port=0, seed=seed, orders=8, rate_limit="default", journal_capacity=500_000,
                        webhook_retry_interval=0.5, webhook_timeout=5.0, sign_rsa=legacy_wh_signature)
    if sandbox_url and legacy_wh_signature and not _sends_legacy_signature(sandbox_url, admin_token):
        console.print(f"error: legacy_wh_signature: the sandbox at {sandbox_url} does not send x-wh-signature "
                      "(start it with --legacy-wh-signature)", markup=False, soft_wrap=True)
        return 2
    if sandbox_url or (destination is not None and new_destination is None):
        # A sandbox the user runs is one sandbox: its scenarios reset it, so they take turns.
        jobs_note = "jobs: 1 (--sandbox-url: one sandbox, so scenarios run one at a time)" if jobs > 1 and sandbox_url else ""
        jobs = 1
    else:
        # No more jobs than there is work for at once (a single scenario keeps the in-process sandbox).
        jobs = max(1, min(jobs, len(scenarios) + (examples if examples > 1 else 0)))
        jobs_note = (f"jobs: {jobs} (each job a sandbox process and client of its own: no scenario shares a "
                     "sandbox, so there is no serial phase; the report keeps the library's order)") if jobs > 1 else ""
    isolation = ("one sandbox, scenarios one at a time" if jobs == 1 else "a sandbox process per job")
    if jobs == 1:
        discard_prestarted_fork_server()  # the sandbox runs in this process (or is the user's)
    results: list[ScenarioResult] = []
    if jobs > 1:
        from scenarios.jobs import Pool

        assert new_destination is not None or destination is None
        work_dir = Path(tempfile.mkdtemp(prefix="ghl-sandbox-check-"))

        def make_harness(url: str, numbers: Iterator[int]) -> Harness:
            return Harness(url, spec, seed=seed, only_checks=only_checks, admin_token=admin_token,
                           destination=new_destination() if new_destination is not None else None,
                           work_dir=work_dir, numbers=numbers)

        console.print(f"sandbox: {jobs} processes (one per job)   client: {spec.command}   seed {seed}", markup=False)
        if legacy_wh_signature:
            console.print("signatures: x-ghl-signature + legacy x-wh-signature", markup=False, soft_wrap=True)
        console.print(jobs_note, markup=False, soft_wrap=True)
        if destination is not None and destination.adapter != "rankr":
            console.print(f"destination: {destination.describe()}", markup=False)
        pool = Pool(settings, jobs, make_harness)
        try:
            with console.status(f"starting {jobs} sandboxes"):
                pool.start()
            _run_parallel(pool, console, scenarios, examples, seed, save_dir, shrink_seconds, results)
        finally:
            pool.close()
    else:
        # Imported here only: with jobs, the app is imported by the sandboxes' fork server, not here.
        from mock_server.inprocess import running_sandbox

        with (nullcontext(None) if sandbox_url else running_sandbox(settings)) as sandbox:
            url = sandbox_url or (sandbox.url if sandbox is not None else "")
            console.print(f"sandbox {url}   client: {spec.command}   seed {seed}", markup=False)
            if legacy_wh_signature and not sandbox_url:  # a line of its own: a long client command must not hide it
                console.print("signatures: x-ghl-signature + legacy x-wh-signature", markup=False, soft_wrap=True)
            if jobs_note:
                console.print(jobs_note, markup=False, soft_wrap=True)
            harness = Harness(url, spec, seed=seed, only_checks=only_checks, admin_token=admin_token,
                              destination=destination)
            if destination is not None and destination.adapter != "rankr":
                console.print(f"destination: {destination.describe()}", markup=False)
            try:
                _run_serial(harness, console, scenarios, examples, seed, save_dir, shrink_seconds, results)
            finally:
                harness.close()
    names = [c for c in REGISTRY if any(o.check == c for r in results for o in r.outcomes)]
    print_report(console, results, names, replay=replay, seed=seed)
    document = to_json(results, replay=replay, seed=seed)
    document["jobs"] = {"count": jobs, "isolation": isolation}
    save_latest(document, client=spec.command, seed=seed)  # for the dashboard (GET /_sandbox/harness/latest)
    if junit_path:
        write_junit(junit_path, results, replay=replay, seed=seed)
    if json_path:
        write_json(json_path, document)
    return 0 if all(r.ok for r in results) else 1


_MARK = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "error": "[red]ERROR[/]", "skipped": "[yellow]skip[/]"}


def _print_result(console: Console, i: int, n: int, scenario: Scenario, result: ScenarioResult) -> None:
    why = escape(f": {result.skipped}" if result.skipped else (f": {result.error}" if result.error else ""))
    console.print(f"[{i}/{n}] {_MARK[result.status]} {escape(scenario.name)} ({result.seconds:.1f} s){why}")


def _print_property(console: Console, outcome: Any, result: ScenarioResult) -> None:
    if result.error:
        console.print(f"[red]ERROR[/] property run: {escape(result.error)}")
    elif outcome.failure is not None:
        console.print(f"[red]FAIL[/] property run: a program failed after {outcome.examples_run} "
                      f"runs ({outcome.seconds:.1f} s)")
    else:
        console.print(f"[green]pass[/] property run: {outcome.examples_run} examples "
                      f"({outcome.seconds:.1f} s)")


def _run_serial(harness: Harness, console: Console, scenarios: list[Scenario], examples: int, seed: int,
                save_dir: Path | None, shrink_seconds: float, results: list[ScenarioResult]) -> None:
    with console.status("") as status:
        for i, scenario in enumerate(scenarios, 1):
            status.update(f"[{i}/{len(scenarios)}] {scenario.name}")
            result = harness.run(scenario)
            results.append(result)
            _print_result(console, i, len(scenarios), scenario, result)
        if examples:
            from scenarios.property import property_result, run_property  # Hypothesis: only for examples

            def progress(message: str) -> None:
                status.update(f"property run: {message}")

            outcome = run_property(harness, examples, seed, save_dir or harness.work_dir / "failures",
                                   progress=progress, shrink_budget_s=shrink_seconds)
            result = property_result(harness, outcome)
            results.append(result)
            _print_property(console, outcome, result)


def _run_parallel(pool: Any, console: Console, scenarios: list[Scenario], examples: int, seed: int,
                  save_dir: Path | None, shrink_seconds: float, results: list[ScenarioResult]) -> None:
    """The scenarios on the pool's jobs (each line printed as its scenario ends, numbered in the library's
    order; the report keeps that order), then the property examples on the jobs and any shrinking on
    the first job."""
    from scenarios.jobs import example_runner, run_scenarios

    with console.status("") as status:
        finished = 0

        def on_result(i: int, result: ScenarioResult) -> None:
            nonlocal finished
            finished += 1
            _print_result(console, i + 1, len(scenarios), scenarios[i], result)
            status.update(f"{finished} of {len(scenarios)} scenarios done on {pool.size} jobs")

        if scenarios:
            results.extend(run_scenarios(pool, scenarios, on_result))
        if examples:
            from scenarios.property import property_result, run_property  # Hypothesis: only for examples

            def progress(message: str) -> None:
                status.update(f"property run: {message}")

            harness = pool.first
            outcome = run_property(harness, examples, seed, save_dir or harness.work_dir / "failures",
                                   progress=progress, shrink_budget_s=shrink_seconds, parallel=example_runner(pool))
            result = property_result(harness, outcome)
            results.append(result)
            _print_property(console, outcome, result)


def _sends_legacy_signature(sandbox_url: str, admin_token: str | None) -> bool:
    """Whether a running sandbox's deliveries carry x-wh-signature (`GET /_sandbox/keys`); `check` cannot
    change how a sandbox it did not start signs."""
    from mock_server.client import SandboxClient

    with SandboxClient(sandbox_url, admin_token=admin_token) as sandbox:
        return bool(sandbox.keys()["signatures"].get("x-wh-signature"))


@click.command()
@click.option("--path", "path", default=projects.PROJECT_FILE, show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the starter project file.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented starter project file (ghl-sandbox.toml)."""
    target = Path(path)
    if target.exists() and not force:
        click.echo(f"error: {target} exists already (use --force to overwrite it)", err=True)
        sys.exit(2)
    target.write_text(projects.STARTER)
    click.echo(f"wrote {target}: edit client.command and client.env, then run `ghl-sandbox check`")


def quoted(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)
