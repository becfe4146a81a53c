"""`check --jobs N`: scenarios and property examples at the same time, each job with a sandbox of its own.

A job is a sandbox process (the same settings as the in-process sandbox of `--jobs 1`, on its own port)
and a `Harness` on it (its own client process per scenario, on its own port and state directory, and
its own destination adapter). A scenario resets its job's whole sandbox, moves its clock, installs
global faults and fills its rate-limit buckets without meeting another job's scenario, so no scenario
needs a serial phase. Scenarios are dealt to whichever job is free (the ones with the longest declared
deadline first), and results come back in the library's order: the report, the JUnit and JSON files
and the replay commands are those of `--jobs 1` for the same seed.

A job's sandbox process is forked by one `python -m mock_server.forkserver` (which imports the sandbox
once for all jobs), else, where that cannot run, `python -m mock_server.inprocess '<settings json>'`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

from mock_server.settings import Settings
from mock_server.testing import READY_MARKER, ForkServer, ReadyProcess, repo_pythonpath, start_fork_server
from scenarios import client as clients
from scenarios.loader import Scenario
from scenarios.runner import Harness, ScenarioResult

MAX_DEFAULT_JOBS = 8
ISOLATION = "a sandbox process per job"


def default_jobs() -> int:
    """What the machine sustains: the work is mostly waiting (rate-limit windows, polls), so four jobs
    a core, at least 2 and at most MAX_DEFAULT_JOBS."""
    return max(2, min(MAX_DEFAULT_JOBS, (os.cpu_count() or 1) * 4))


class JobSandbox(ReadyProcess):
    """One job's sandbox: forked by `forks` when given, else `python -m mock_server.inprocess <settings>`
    (exactly the harness's Settings). The pool calls `spawn` on every job, then `wait_ready`, so that N
    sandboxes start at once."""

    def __init__(self, settings: Settings, name: str, forks: ForkServer | None = None) -> None:
        self.payload = json.dumps({**asdict(settings), "port": 0})
        self.forks = forks
        super().__init__([sys.executable, "-m", "mock_server.inprocess", self.payload], READY_MARKER,
                         env={"PYTHONPATH": repo_pythonpath()}, start_timeout=60.0, name=name, die_with_parent=True)

    def _launch(self) -> subprocess.Popen[str]:
        if self.forks is not None:
            try:
                return self.forks.fork(self.payload)  # type: ignore[return-value]  # the part of a Popen used
            except RuntimeError:
                pass  # a fresh interpreter then: slower to start, the same sandbox
        return super()._launch()


def deal_order(scenarios: list[Scenario]) -> list[int]:
    """The order scenarios are handed to free jobs, longest first as far as a scenario tells: the
    longest declared deadline first (they are the ones that wait out rate-limit windows), then those
    that set up more (each service a scenario declares, Rankr providers) and have more steps; ties in
    the library's order. The short ones then fill the jobs' ends, instead of a long one starting last."""
    def weight(i: int) -> tuple[float, int, int]:
        scenario = scenarios[i]
        try:
            deadline = float(scenario.setup.get("deadline", 0))
        except (TypeError, ValueError):
            deadline = 0.0
        services = scenario.data.get("services")
        setup = len(services) if isinstance(services, list) else 0
        setup += 1 if scenario.setup.get("providers") else 0
        return -deadline, -setup, -len(scenario.steps)

    return sorted(range(len(scenarios)), key=weight)


class Pool:
    """N jobs: their sandbox processes and harnesses. `run` hands items to free jobs."""

    def __init__(self, settings: Settings, jobs: int, make_harness: Callable[[str, Iterator[int]], Harness]) -> None:
        self.settings = settings
        self.size = jobs
        self.make_harness = make_harness
        self.sandboxes: list[JobSandbox] = []
        self.harnesses: list[Harness | None] = []
        self.forks: ForkServer | None = None
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._cancel = threading.Event()

    def start(self) -> Pool:
        """Start the sandboxes: a first wave of one per core, and once that is up the rest, which come up
        while the first jobs already run the longest scenarios (N start-ups at once on few cores would
        make every job wait for all of them). Spawned from this thread: a child dies with the thread that
        spawned it (PR_SET_PDEATHSIG). The sandboxes are forked by one fork server where it can run."""
        clients.refuse_new_clients(False)
        self.forks = start_fork_server()
        self.sandboxes = [JobSandbox(Settings(**asdict(self.settings)), f"job {i + 1} sandbox", self.forks)
                          for i in range(self.size)]
        self.harnesses = [None] * self.size
        first = max(1, min(self.size, os.cpu_count() or 1))
        try:
            for box in self.sandboxes[:first]:
                box.spawn()
            for box in self.sandboxes[:first]:
                box.wait_ready()
            for box in self.sandboxes[first:]:
                box.spawn()
        except BaseException:
            self.close()
            raise
        return self

    def harness(self, n: int) -> Harness:
        """Job n's harness, once its sandbox is up (raises if it never came up)."""
        with self._lock:
            harness = self.harnesses[n]
            if harness is not None:
                return harness
        box = self.sandboxes[n]
        box.wait_ready()
        with self._lock:
            if self.harnesses[n] is None:
                self.harnesses[n] = self.make_harness(box.url, self._numbers)
            harness = self.harnesses[n]
            assert harness is not None
            return harness

    @property
    def first(self) -> Harness:
        return self.harness(0)

    def run(self, items: list[Any], order: list[int], work: Callable[[Harness, Any], ScenarioResult],
            on_result: Callable[[int, ScenarioResult], bool] = lambda _i, _r: True) -> list[ScenarioResult | None]:
        """`work(harness, item)` for each item, on the jobs; `on_result(i, result)` in the calling thread as
        results arrive (False: hand out nothing more). Results in the items' order (None: not run)."""
        todo: queue.Queue[int] = queue.Queue()
        for i in order:
            todo.put(i)
        done: queue.Queue[tuple[int, ScenarioResult | None, BaseException | None]] = queue.Queue()
        stop = threading.Event()

        def worker(n: int) -> None:
            try:
                harness = self.harness(n)
            except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
                done.put((-1, None, exc))
                return
            while not stop.is_set() and not self._cancel.is_set():
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((i, work(harness, items[i]), None))
                except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
                    done.put((i, None, exc))
                    return

        threads = [threading.Thread(target=worker, args=(n,), daemon=True, name=f"check job {n + 1}")
                   for n in range(self.size)]
        for t in threads:
            t.start()
        results: list[ScenarioResult | None] = [None] * len(items)
        try:
            while any(t.is_alive() for t in threads) or not done.empty():
                try:
                    i, result, exc = done.get(timeout=0.2)  # a short wait: signals reach this thread
                except queue.Empty:
                    continue
                if exc is not None:
                    raise exc
                results[i] = result
                assert result is not None
                if not on_result(i, result):
                    stop.set()
        finally:
            stop.set()
        return results

    def close(self) -> None:
        """No new client from here on; stop every client and sandbox (worker threads still running after
        an interruption find their sandbox gone and end)."""
        self._cancel.set()
        clients.refuse_new_clients(True)
        clients.stop_all()
        for h in self.harnesses:
            if h is not None:
                with contextlib.suppress(Exception):
                    h.close()
        live = [box for box in self.sandboxes if box.proc is not None and box.proc.poll() is None]
        for box in live:  # all at once: each takes a moment to shut down
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(box.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
        for box in live:
            with contextlib.suppress(Exception):
                box.stop(5.0)  # waits; SIGKILL if it has not gone
        if self.forks is not None:
            with contextlib.suppress(Exception):
                self.forks.close()


def run_scenarios(pool: Pool, scenarios: list[Scenario],
                  on_result: Callable[[int, ScenarioResult], None]) -> list[ScenarioResult]:
    def report(i: int, result: ScenarioResult) -> bool:
        on_result(i, result)
        return True

    results = pool.run(scenarios, deal_order(scenarios), lambda h, s: h.run(s), report)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def example_runner(pool: Pool) -> Callable[[list[dict[str, Any]], Callable[[str], None]], list[ScenarioResult | None]]:
    """scenarios.property's `parallel`: the drawn programs on the jobs, in their order, handing out
    nothing more once one failed (the serial run would have stopped there to shrink it)."""
    def run(docs: list[dict[str, Any]], progress: Callable[[str], None]) -> list[ScenarioResult | None]:
        scenarios = [Scenario(name=f"property example {i}", path="<generated>",
                              data={**doc, "name": f"property example {i}"}) for i, doc in enumerate(docs, 1)]
        count = 0

        def report(i: int, result: ScenarioResult) -> bool:
            nonlocal count
            count += 1
            progress(f"{count} of {len(docs)} examples on {pool.size} jobs: example {i + 1} "
                     f"{'ok' if result.ok else 'FAILED'} ({result.seconds:.1f} s)")
            return result.ok

        return pool.run(scenarios, list(range(len(scenarios))), lambda h, s: h.run(s), report)

    return run
