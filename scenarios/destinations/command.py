"""The `command` destination: a command of the integration's own prints its canonical view
(contracts/PROJECT_FILE.md, "command").

    [destination]
    adapter = "command"
    command = "python dump_view.py"   # run through the shell in client.cwd, with the client's environment
    timeout = 30
    kinds = ["orders", "events"]      # optional

The command prints one JSON object, `{"orders": [...], "events": [...], ...}`, with canonical field
names. Which kinds are exposed:
- without `kinds`, the kinds present in the output: a kind the output lacks is not exposed (its
  checks are not evaluated);
- with `kinds`, exactly those: a listed kind the output lacks is a problem, others are ignored.
A non-zero exit, a timeout or output that is not such an object is a problem carrying the command's
stderr (or stdout) tail. One run serves every kind read within CACHE_S, so a round of checks runs the
command once, not six times."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from scenarios.destinations.base import (
    KINDS,
    Binding,
    Destination,
    DestinationError,
    KindRead,
    NotExposed,
    adapter,
)
from scenarios.destinations.mapping import flat, identity
from scenarios.project import ConfigError, Table

CACHE_S = 0.2
TAIL = 1000


@dataclass
class _Run:
    view: dict[str, Any] | None     # the printed object, None when the run failed
    problem: str | None
    finished: float


@adapter("command")
class CommandDestination(Destination):
    def __init__(self, options: Table) -> None:
        super().__init__(options)
        self.command = options.required_string("command")
        if not self.command.strip():
            raise ConfigError(options.path("command"), "must not be empty")
        self.timeout = options.number("timeout", 30.0, minimum=0.1, maximum=3600) or 30.0
        declared = options.strings("kinds")
        if declared is not None:
            for i, kind in enumerate(declared):
                if kind not in KINDS:
                    raise ConfigError(f"{options.path('kinds')}[{i}]",
                                      f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
        self.declared = frozenset(declared) if declared is not None else None
        options.reject_unknown()
        self.mappings = {kind: identity(kind, "destination.command") for kind in KINDS}
        self._lock = threading.Lock()
        self._last: _Run | None = None

    def kinds(self) -> frozenset[str]:
        # Without `kinds`, any kind may be exposed: read() says NotExposed when the output lacks it.
        return self.declared if self.declared is not None else frozenset(KINDS)

    def describe(self) -> str:
        return f"command {self.command}"

    def start(self, binding: Binding) -> None:
        self.stop()  # a run cached in the previous scenario is not this one's
        super().start(binding)

    def stop(self) -> None:
        with self._lock:
            self._last = None

    def read(self, kind: str) -> KindRead:
        if kind not in self.kinds():
            raise NotExposed(kind)
        run = self._run()
        if run.view is None:
            return KindRead([], [f"{kind}: destination.command: {run.problem}"])
        if kind not in run.view:
            if self.declared is None:
                raise NotExposed(kind)
            return KindRead([], [f"{kind}: destination.kinds lists {kind}, but the output of {self.command!r} "
                                 f"has no {kind!r} (it has: {', '.join(run.view) or 'nothing'})"])
        records = run.view[kind]
        if not isinstance(records, list):
            return KindRead([], [f"{kind}: destination.command: the output's {kind!r} is not a list"])
        return self.mappings[kind].apply(records, flat)

    # ---- running ---------------------------------------------------------------------------------

    def _run(self) -> _Run:
        # Under the lock: kinds read together (even from threads) share one run.
        with self._lock:
            if self._last is not None and time.monotonic() - self._last.finished < CACHE_S:
                return self._last
            self._last = self._execute()
            return self._last

    def _execute(self) -> _Run:
        if self.binding is None:
            raise DestinationError("the command destination was read before start()")
        b = self.binding
        try:
            proc = subprocess.Popen(self.command, shell=True, cwd=b.cwd, env=b.env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return self._failed(f"cannot run {self.command!r} in {b.cwd}: {exc}")
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            # The shell's children too: they hold the pipes open.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return self._failed(f"{self.command!r} did not finish within {self.timeout:g}s{_tail(err, out)}")
        if proc.returncode != 0:
            return self._failed(f"{self.command!r} exited with {proc.returncode}{_tail(err, out)}")
        try:
            view = json.loads(out)
        except ValueError as exc:
            return self._failed(f"the output of {self.command!r} is not JSON ({exc}){_tail(err, out)}")
        if not isinstance(view, dict):
            return self._failed(f"the output of {self.command!r} is a JSON {type(view).__name__}, not an object "
                                f"{{\"orders\": [...], ...}}")
        return _Run(view, None, time.monotonic())

    @staticmethod
    def _failed(problem: str) -> _Run:
        return _Run(None, problem, time.monotonic())


def _tail(err: bytes, out: bytes) -> str:
    """The end of stderr (else stdout): where a failing command says why."""
    for name, data in (("stderr", err), ("stdout", out)):
        text = data.decode("utf-8", errors="replace").strip()
        if text:
            return f"; {name}: {'...' if len(text) > TAIL else ''}{text[-TAIL:]}"
    return "; it printed nothing"
