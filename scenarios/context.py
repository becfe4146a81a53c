"""What a running scenario knows and how it reads the world: all through the sandbox's public HTTP
API and control plane (and the Rankr API with the scenario's key), never through its internals."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from mock_server.client import SandboxClient, SandboxError
from scenarios.client import ClientProcess
from scenarios.destinations import Destination, NotExposed
from scenarios.destinations.rankr import rankr_records
from scenarios.project import Routes


def _as_last_asked(_path: str, params: dict[str, Any] | None) -> dict[str, Any] | None:
    return params


class HarnessSandbox(SandboxClient):
    """The sandbox as the harness talks to it: the public client, where a refused control-plane call is a
    HarnessError (what plugins catch).

    Inside `one_look()` (a round of checks) each control-plane GET is asked of the sandbox once: the
    checks of a round read the same journal, deliveries, state and records, and on a busy machine the
    repeated reads were a fifth of a library run's CPU (the harness's and the sandbox's). Each reader
    decodes the answer afresh, so none sees another's changes; any other call in the round forgets what
    was read."""

    def __init__(self, url: str, admin_token: str | None = None, timeout: float = 30.0) -> None:
        super().__init__(url, admin_token, timeout)
        self._look: dict[tuple[str, str], httpx.Response] | None = None
        self._asked: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {}  # this look's reads
        self._learned: dict[str, list[tuple[str, dict[str, Any] | None]]] = {}  # the last look's, by name
        self._batching = True  # False once the sandbox refused a batch (one without POST /_sandbox/batch)
        self._now: Callable[[str, dict[str, Any] | None], dict[str, Any] | None] = _as_last_asked

    @contextlib.contextmanager
    def one_look(self, name: str = "") -> Iterator[None]:
        """A round of checks. The reads the last look of the same `name` made are asked up front, in one
        request (`read_many`): a round reads what the round before it read, with the same parameters,
        and one request per read cost more than the reads. A read the look did not foresee is asked
        when it is made, and foreseen next time."""
        outer = self._look is None
        if outer:
            self._look = {}
            self._asked = {}
            self._foresee(self._learned.get(name, []))
        try:
            yield
        finally:
            if outer:
                self._learned[name] = list(self._asked.values())
                self._look = None

    def forget_looks(self, now: Callable[[str, dict[str, Any] | None], dict[str, Any] | None] = _as_last_asked
                     ) -> None:
        """What looks read so far is not foreseen again (a new scenario reads other things). `now` gives
        the parameters a read last asked with as they would be asked now (a journal read asks from where
        the scenario last read it)."""
        self._learned.clear()
        self._now = now

    def _foresee(self, learned: list[tuple[str, dict[str, Any] | None]]) -> None:
        if len(learned) < 2 or not self._batching or self._look is None:
            return  # one read is asked as cheaply on its own
        reads = [(path, self._now(path, params)) for path, params in learned]
        try:
            answers = self.read_many(reads)
        except SandboxError:
            self._batching = False  # asked one by one from now on, as before there was a batch
            return
        for (path, params), answer in zip(reads, answers, strict=True):
            if answer.status_code == 200:  # anything else is asked again when read, to fail as it does
                self._look[(path, _params_key(params or {}))] = answer

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        look = self._look
        if look is None:
            return super().request(method, path, **kwargs)
        key = _read_key(method, path, kwargs)
        if key is None:
            look.clear()
            return super().request(method, path, **kwargs)
        self._asked[key] = (path, dict(kwargs["params"]) if kwargs.get("params") else None)
        answer = look.get(key)
        if answer is None:
            answer = look[key] = super().request(method, path, **kwargs)
        return answer

    def _read(self, path: str, kwargs: dict[str, Any]) -> tuple[bytes, httpx.Response]:
        """`control()`'s GETs, asked once per look too (a body, kept with its ETag or not)."""
        look = self._look
        if look is None:
            return super()._read(path, kwargs)
        key = _read_key("GET", path, kwargs)
        if key is None:
            look.clear()
            return super()._read(path, kwargs)
        self._asked[key] = (path, dict(kwargs["params"]) if kwargs.get("params") else None)
        answer = look.get(key)
        if answer is None:
            content, response = super()._read(path, kwargs)
            answer = look[key] = response if response.status_code != 304 else _with_body(response, content)
        return answer.content, answer

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return super().control(method, path, **kwargs)
        except SandboxError as exc:
            raise HarnessError(str(exc)) from None


def _with_body(response: httpx.Response, content: bytes) -> httpx.Response:
    """A 200 carrying the kept body a 304 stood for, as one look keeps answers whole."""
    return httpx.Response(200, headers=response.headers, content=content, request=response.request)


def _read_key(method: str, path: str, kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """What names a plain read for `one_look`; None for anything else (a write, a wait, other options)."""
    if method != "GET" or path.startswith("/wait") or set(kwargs) - {"params"}:
        return None
    params = kwargs.get("params") or {}
    if not isinstance(params, dict):
        return None
    return path, _params_key(params)


def _params_key(params: dict[str, Any]) -> str:
    return repr(sorted((str(k), str(v)) for k, v in params.items()))


ACUITY = "acuity"
ACUITY_PREFIX = "/acuity"


def is_ghl(view: dict[str, Any]) -> bool:
    """A delivery or target view of GHL: `service` "ghl", or no `service` at all (older sandboxes)."""
    return view.get("service") in (None, "", "ghl")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class WorkflowRun:
    """What a workflow scenario (`services: [workflows]`) set up and sent (scenarios.steps_workflows)."""

    secret: str
    url: str  # the client's workflow route
    baseline_transactions: set[str] = field(default_factory=set)  # GHL transactions before the first step
    workflow_ids: list[str] = field(default_factory=list)
    custom_values: dict[str, str] = field(default_factory=dict)  # what the harness set
    documents: list[dict[str, Any]] = field(default_factory=list)  # the workflow documents it loaded
    posts: list[dict[str, Any]] = field(default_factory=list)  # workflow-shaped posts the harness made


@dataclass
class ScenarioContext:
    sandbox_url: str
    sandbox: HarnessSandbox
    location_id: str
    token: str
    token_id: str
    rankr_key: str
    rankr_secret: str
    client: ClientProcess
    deadline_s: float
    destination: Destination
    routes: Routes = field(default_factory=Routes)
    journal_since: int = 0
    _journal_read: dict[str, tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)  # prefix -> last id, entries
    started_at: float = field(default_factory=time.time)
    refs: dict[str, str] = field(default_factory=dict)
    forged: list[dict[str, Any]] = field(default_factory=list)  # answers to forged webhooks we sent
    rankr_sent: list[dict[str, Any]] = field(default_factory=list)  # Rankr events we sent the client
    simulated_fulfils: dict[str, int] = field(default_factory=dict)  # order id -> order.fulfill steps
    baseline_fulfillments: set[str] = field(default_factory=set)
    rate_interval_ms: int = 10_000
    target_id: str = ""
    notes: list[str] = field(default_factory=list)
    last_verdicts: dict[str, Any] = field(default_factory=dict)  # safety check -> its latest Verdict
    # Acuity (only in scenarios that declare `services: [acuity]`): the location's account as
    # `GET /_sandbox/locations` shows it, what the steps made, and the deliveries the harness forged.
    acuity: dict[str, Any] | None = None
    acuity_appointments: list[int] = field(default_factory=list)  # scheduled by the scenario's steps
    acuity_forged: list[dict[str, Any]] = field(default_factory=list)  # answers to Acuity deliveries we sent
    other_acuity_keys: list[str] = field(default_factory=list)  # API keys of the other locations' accounts
    workflow: WorkflowRun | None = None  # only in scenarios that declare `services: [workflows]`

    # ---- control plane ------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        """The HTTP client on the sandbox's base URL (for plugins that make their own calls)."""
        return self.sandbox.http

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.sandbox.control(method, path, **kwargs)

    def ghl_state(self) -> dict[str, Any]:
        return self.sandbox.state(self.location_id)

    def all_deliveries(self) -> list[dict[str, Any]]:
        return self.sandbox.deliveries(locationId=self.location_id)

    def deliveries(self) -> list[dict[str, Any]]:
        """GHL's webhook deliveries of the location (a delivery without `service` is GHL's)."""
        return [d for d in self.all_deliveries() if is_ghl(d)]

    def acuity_deliveries(self) -> list[dict[str, Any]]:
        return [d for d in self.all_deliveries() if d.get("service") == ACUITY]

    # ---- Acuity -------------------------------------------------------------------------------

    def require_acuity(self) -> dict[str, Any]:
        """The location's Acuity account; a HarnessError when the scenario does not declare Acuity."""
        if self.acuity is None:
            raise HarnessError("this step needs Acuity: declare `services: [acuity]` in the scenario")
        return self.acuity

    def acuity_state(self) -> dict[str, Any]:
        """The Acuity account as the harness sees the truth (`GET /_sandbox/acuity/state`)."""
        state: dict[str, Any] = self.control("GET", "/acuity/state", params={"locationId": self.location_id})
        return state

    def acuity_targets(self) -> list[dict[str, Any]]:
        """The location's Acuity webhook targets (the static ones the runner set, dynamic ones the client made)."""
        return [t for t in self.sandbox.targets()
                if t.get("service") == ACUITY and t.get("locationId") in (self.location_id, None)]

    def acuity_requests(self) -> list[dict[str, Any]]:
        """Acuity API calls made during this scenario (the harness makes none: it reads the control plane).
        A request that started before this scenario's reset belongs to the previous one."""
        return [e for e in self.journal(ACUITY_PREFIX) if e.get("locationId") in (self.location_id, None)
                and parse_time(e["time"]) - e.get("latencyMs", 0) / 1000 >= self.started_at - 0.001]

    def journal(self, prefix: str = "/payments") -> list[dict[str, Any]]:
        """The journal's entries under `prefix` since the scenario began. Entries are only ever appended,
        with rising ids, so only those after the last one read are asked for (each call of a check
        read them all again: a long scenario's journal, some hundred times)."""
        last, entries = self._journal_read.get(prefix, (self.journal_since, []))
        new = self.sandbox.journal(since=str(last), path=prefix)
        if new:
            entries = [*entries, *new]
            self._journal_read[prefix] = (int(new[-1]["id"]), entries)
        return [dict(e) for e in entries]  # a reader may change what it gets

    def read_now(self, path: str, params: dict[str, Any] | None) -> dict[str, Any] | None:
        """A control-plane read's parameters as this scenario would ask them now: a journal read from
        the last entry it read under that prefix (see `journal`); any other read as it was asked."""
        if path == "/journal" and params and "path" in params and "since" in params:
            last, _ = self._journal_read.get(str(params["path"]), (self.journal_since, []))
            return {**params, "since": str(last)}
        return params

    def client_requests(self) -> list[dict[str, Any]]:
        """GHL API calls made by the client during this scenario (the harness makes none). A request
        that started before this scenario's reset belongs to the previous one, even if it ended after."""
        return [e for e in self.journal("/payments") if e.get("tokenId") in (self.token_id, None)
                and parse_time(e["time"]) - e.get("latencyMs", 0) / 1000 >= self.started_at - 0.001]

    # ---- the client's destination ---------------------------------------------------------------

    def records(self, kind: str) -> list[dict[str, Any]]:
        """The canonical records of one kind, as the destination adapter reads them now. Raises
        NotExposed when the destination does not expose the kind, ViewProblems on mapping errors."""
        if kind not in self.destination.kinds():
            raise NotExposed(kind)
        read = self.destination.read(kind)
        if read.problems:
            raise ViewProblems(kind, read.problems)
        return read.records

    def rankr(self, collection: str) -> list[dict[str, Any]]:
        """The fake Rankr's own records (assertions on `rankr.*`), through the control plane: injected
        Rankr faults must not blind the harness."""
        return rankr_records(self.control, self.location_id, collection)

    def client_url(self, route: str | None, what: str) -> str:
        if route is None:
            raise NotApplicable(f"the client has no {what} route")
        return self.client.url + route

    def resolve(self, ref: str | None) -> str | None:
        if ref is None:
            return None
        if ref.startswith("$"):
            return self.refs[ref[1:]]
        return ref


class HarnessError(Exception):
    """The harness itself could not do something (the sandbox refused a control call)."""


class NotApplicable(Exception):
    """A step needs something the client does not have (a route): the scenario is skipped."""


class ViewProblems(Exception):
    """The destination's data does not fit its mapping; each problem names the record and the key."""

    def __init__(self, kind: str, problems: list[str]) -> None:
        super().__init__(f"the {kind} view has {len(problems)} mapping problem(s)")
        self.kind = kind
        self.problems = problems
