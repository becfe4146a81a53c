"""The project file (contracts/PROJECT_FILE.md): `ghl-sandbox.toml` or `[tool.ghl-sandbox]` in
`pyproject.toml`. It describes an existing integration as it is (command, environment names, routes,
destination) so that it can be gated without being rewritten. Every error names the file, the line
and the dotted key."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios import templates

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PROJECT_FILE = "ghl-sandbox.toml"
PYPROJECT_TABLE = ("tool", "ghl-sandbox")
MAX_JOBS = 64  # check --jobs and harness.jobs


class ProjectError(Exception):
    """A project file that cannot be used; the message is `path:line: key: what is wrong`."""


class ConfigError(Exception):
    """A wrong value at a dotted key, raised by validation; the loader adds the file and line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class Table:
    """A table of the project file with typed, validated access. Every key read is remembered so that
    unknown keys can be reported with what is known."""

    def __init__(self, data: dict[str, Any], key: str) -> None:
        self.data = data
        self.key = key
        self._known: set[str] = set()

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def _get(self, name: str, kinds: tuple[type, ...], what: str, default: Any) -> Any:
        self._known.add(name)
        if name not in self.data:
            return default
        value = self.data[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(self.path(name), f"must be {what}, not {_describe(value)}")
        return value

    def string(self, name: str, default: str | None = None, *, template: bool = False,
               choices: tuple[str, ...] | None = None) -> str | None:
        value = self._get(name, (str,), "a string", default)
        if value is None:
            return None
        if choices is not None and value not in choices:
            raise ConfigError(self.path(name), f"must be one of {', '.join(choices)}, not {value!r}")
        if template:
            check_template(self.path(name), value)
        return value

    def required_string(self, name: str, *, template: bool = False) -> str:
        value = self.string(name, template=template)
        if value is None:
            raise ConfigError(self.path(name), "is required")
        return value

    def number(self, name: str, default: float | None = None, *, minimum: float = 0,
               maximum: float = 1e9) -> float | None:
        value = self._get(name, (int, float), "a number", default)
        if value is not None and not minimum <= value <= maximum:
            raise ConfigError(self.path(name), f"must be between {minimum:g} and {maximum:g}, not {value!r}")
        return None if value is None else float(value)

    def integer(self, name: str, default: int | None = None, *, minimum: int = 0, maximum: int = 10**9) -> int | None:
        value = self._get(name, (int,), "a whole number", default)
        if value is not None and not minimum <= value <= maximum:
            raise ConfigError(self.path(name), f"must be between {minimum} and {maximum}, not {value!r}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        return bool(self._get(name, (bool,), "true or false", default))

    def strings(self, name: str) -> list[str] | None:
        value = self._get(name, (list,), "a list of strings", None)
        if value is None:
            return None
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{self.path(name)}[{i}]", f"must be a string, not {_describe(item)}")
        return list(value)

    def table(self, name: str) -> Table:
        value = self._get(name, (dict,), "a table", {})
        return Table(value, self.path(name))

    def has(self, name: str) -> bool:
        return name in self.data

    def mapping(self, name: str, *, template: bool = False) -> dict[str, str]:
        """A table of string values (environment, headers)."""
        value = self._get(name, (dict,), "a table", {})
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise ConfigError(f"{self.path(name)}.{k}", f"must be a string, not {_describe(v)}")
            if template:
                check_template(f"{self.path(name)}.{k}", v)
            out[k] = v
        return out

    def reject_unknown(self) -> None:
        for name in self.data:
            if name not in self._known:
                known = ", ".join(sorted(self._known)) or "none"
                raise ConfigError(self.path(name), f"unknown key (known: {known})")


def check_template(key: str, value: str) -> None:
    found = templates.problems(value)
    if found:
        raise ConfigError(key, found[0])


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


@dataclass
class Routes:
    health: str = "/healthz"
    ghl_webhook: str | None = "/webhooks/ghl"
    rankr_events: str | None = "/webhooks/rankr"
    acuity_webhook: str | None = "/webhooks/acuity"  # None: the client takes no Acuity webhooks
    workflow_webhook: str | None = "/webhooks/ghl-workflow"  # None: the client takes no GHL workflow webhooks


@dataclass
class WorkflowsSpec:
    """`[workflows]` of the project file: the GHL workflows a workflow scenario loads (None: the library's
    default), custom values to set (templates), and whether GHL reaches the client only through workflows."""

    files: list[Path] | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)  # the files' workflow documents, parsed
    custom_values: dict[str, str] = field(default_factory=dict)
    only: bool = False


@dataclass
class ClientSpec:
    """How to start the client under test and what it serves."""

    command: str
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # the client's names -> templates
    routes: Routes = field(default_factory=Routes)
    startup_timeout: float = 30.0
    contract_env: bool = True
    workflows: WorkflowsSpec = field(default_factory=WorkflowsSpec)


@dataclass
class Project:
    path: Path | None = None
    command: str | None = None
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    routes: Routes = field(default_factory=Routes)
    startup_timeout: float = 30.0
    contract_env: bool = True
    scenarios: list[str] = field(default_factory=list)
    checks: list[str] | None = None
    examples: int | None = None
    seed: int | None = None
    jobs: int | None = None  # check --jobs: scenarios at the same time, a sandbox process each
    plugins: list[str] = field(default_factory=list)
    legacy_wh_signature: bool = False  # the sandbox `check` starts also sends the retired x-wh-signature
    destination: dict[str, Any] = field(default_factory=lambda: {"adapter": "rankr"})
    lines: dict[str, int] = field(default_factory=dict)
    key_prefix: str = ""
    workflows: WorkflowsSpec = field(default_factory=WorkflowsSpec)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def client(self, command: str | None = None) -> ClientSpec:
        cmd = command or self.command
        if not cmd:
            raise ProjectError("no client command: pass --client CMD or set client.command in a project file")
        return ClientSpec(command=cmd, cwd=self.cwd, env=dict(self.env), routes=self.routes,
                          startup_timeout=self.startup_timeout, contract_env=self.contract_env,
                          workflows=self.workflows)

    def where(self, key: str) -> str:
        """`path:line: key` for an error about a dotted key of this file."""
        if self.path is None:
            return key
        return f"{self.path}:{line_of(self.lines, self.key_prefix + key)}: {key}"


# ---- locating keys ---------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')\s*=")


def _key_parts(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", text)]


def key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line, for table headers, assignments and keys of one-line inline tables.
    Good enough to point at the line a person would edit; tomllib itself reports syntax errors."""
    lines: dict[str, int] = {}
    table: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header and "=" not in header.group(1):
            table = _key_parts(header.group(1))
            lines.setdefault(".".join(table), n)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            key = [*table, *_key_parts(assign.group(1))]
            lines.setdefault(".".join(key), n)
            rest = line[assign.end():]
            for inner in _INLINE_KEY.finditer(rest):  # one level of inline table is enough here
                lines.setdefault(".".join([*key, inner.group(1).strip("\"'")]), n)
    return lines


def line_of(lines: dict[str, int], key: str) -> int:
    parts = re.sub(r"\[\d+\]", "", key).split(".")
    while parts:
        if ".".join(parts) in lines:
            return lines[".".join(parts)]
        parts.pop()
    return 1


# ---- loading ---------------------------------------------------------------------------------------

MAX_FILE_BYTES = 1 << 20  # a project file is a page of settings; a pyproject.toml a few pages
MAX_DEPTH = 32  # arrays and inline tables inside each other: tomllib recurses once per level


def read_bounded(path: Path) -> str:
    """The file's text as `read_text` gives it (universal newlines), refused (ProjectError) past
    MAX_FILE_BYTES without reading it all."""
    with path.open("rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ProjectError(f"{path}:1: the file is larger than {MAX_FILE_BYTES >> 20} MiB, the limit for a project file")
    return raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


_SPECIAL = re.compile(r"[\n#\"'\[\]{}]")


def too_deep(text: str, limit: int = MAX_DEPTH) -> int | None:
    """The 1-based line where arrays and inline tables nest more than `limit` deep, else None.
    Brackets inside strings and comments do not count (TOML's four string forms are skipped)."""
    depth = 0
    line = 1
    i, n = 0, len(text)
    while (m := _SPECIAL.search(text, i)) is not None:
        i = m.start()
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else c
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                if text[j] == "\\" and c == '"':
                    j += 1
                elif text[j] == "\n" and len(quote) == 1:
                    break  # an unterminated one-line string: tomllib reports it
                j += 1
            line += text.count("\n", i, j)
            i = j if j < n and text[j] == "\n" else j + len(quote)
            continue
        elif c in "[{":
            depth += 1
            if depth > limit:
                return line
        else:
            depth = max(0, depth - 1)
        i += 1
    return None


def find(explicit: str | None = None, cwd: Path | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    here = cwd or Path.cwd()
    if (here / PROJECT_FILE).is_file():
        return here / PROJECT_FILE
    pyproject = here / "pyproject.toml"
    if pyproject.is_file():
        try:
            text = read_bounded(pyproject)
            if too_deep(text) is not None:
                return pyproject  # load() reports it with its line
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError, ProjectError):
            return pyproject  # load() reports it with its line
        if isinstance(data.get("tool"), dict) and PYPROJECT_TABLE[1] in data["tool"]:
            return pyproject
    return None


def load(path: Path | None) -> Project:
    """The project at `path` (None: the defaults)."""
    if path is None:
        return Project()
    try:
        text = read_bounded(path)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: cannot read it: {exc}") from None
    deep = too_deep(text)
    if deep is not None:
        raise ProjectError(f"{path}:{deep}: arrays and inline tables are nested more than {MAX_DEPTH} levels deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = where.group(1) if where else "1"
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ProjectError(f"{path}:{line}: invalid TOML: {message}") from None
    prefix = ""
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or PYPROJECT_TABLE[1] not in tool:
            raise ProjectError(f"{path}:1: no [tool.ghl-sandbox] table")
        data = tool[PYPROJECT_TABLE[1]]
        prefix = "tool.ghl-sandbox."
        if not isinstance(data, dict):
            raise ProjectError(f"{path}:1: tool.ghl-sandbox must be a table")
    project = Project(path=path.resolve(), lines=key_lines(text), key_prefix=prefix)
    try:
        _read(project, Table(data, ""))
    except ConfigError as exc:
        raise ProjectError(f"{project.where(exc.key)}: {exc.message}") from None
    return project


def _read(project: Project, root: Table) -> None:
    client = root.table("client")
    project.command = client.string("command")
    cwd = client.string("cwd")
    project.cwd = (project.base_dir / cwd).resolve() if cwd is not None else project.base_dir
    project.startup_timeout = client.number("startup_timeout", 30.0, minimum=1, maximum=600) or 30.0
    project.contract_env = client.boolean("contract_env", True)
    project.env = client.mapping("env", template=True)
    for name in project.env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"client.env.{name}", "is not a valid environment variable name")
    routes = client.table("routes")
    project.routes = Routes(health=_route(routes, "health", "/healthz", allow_none=False) or "/healthz",
                            ghl_webhook=_route(routes, "ghl_webhook", "/webhooks/ghl"),
                            rankr_events=_route(routes, "rankr_events", "/webhooks/rankr"),
                            acuity_webhook=_route(routes, "acuity_webhook", "/webhooks/acuity"),
                            workflow_webhook=_route(routes, "workflow_webhook", "/webhooks/ghl-workflow"))
    routes.reject_unknown()
    client.reject_unknown()

    harness = root.table("harness")
    project.scenarios = [str(project.base_dir / p) for p in harness.strings("scenarios") or []]
    project.checks = harness.strings("checks")
    project.examples = harness.integer("examples", None, maximum=10_000)
    project.seed = harness.integer("seed", None, minimum=-(2**63), maximum=2**63 - 1)
    project.jobs = harness.integer("jobs", None, minimum=1, maximum=MAX_JOBS)
    project.plugins = harness.strings("plugins") or []
    project.legacy_wh_signature = harness.boolean("legacy_wh_signature", False)
    harness.reject_unknown()

    from scenarios.project_workflows import read_workflows

    project.workflows = read_workflows(root.table("workflows"), project.base_dir)

    destination = root.table("destination")
    adapter = destination.string("adapter", "rankr")
    project.destination = {**destination.data, "adapter": adapter}
    root._known.add("destination")  # its keys are validated by the adapter (scenarios.destinations)
    root.reject_unknown()


def _route(routes: Table, name: str, default: str, allow_none: bool = True) -> str | None:
    value = routes.string(name, default)
    if value == "" and allow_none:
        return None
    if value is None or not value.startswith("/"):
        alternative = ' or "" for none' if allow_none else ""
        raise ConfigError(routes.path(name), f"must be a path starting with '/'{alternative}, not {value!r}")
    return value


STARTER = '''\
# ghl-sandbox project file: how `ghl-sandbox check`, `make demo` and the pytest plugin run YOUR
# integration as it is. Flags on the command line override what is here.
# Reference: contracts/PROJECT_FILE.md in the ghl-sandbox repository.

[client]
# The command that starts your integration, run through the shell in `cwd`.
command = "python my_sync_service.py"
# cwd = "."                 # relative to this file
# startup_timeout = 30      # seconds for the health route to answer 200
# contract_env = true       # also pass GHL_API_BASE_URL, GHL_ACCESS_TOKEN, ... (contracts/CLIENT_CONTRACT.md)

[client.env]
# Your own variable names, set from the sandbox per scenario. Names you can use:
# {ghl.base_url} {ghl.access_token} {ghl.location_id} {ghl.api_version} {ghl.app_id}
# {ghl.client_id} {ghl.client_secret} {ghl.webhook_public_key} {ghl.webhook_rsa_public_key}
# {rankr.base_url} {rankr.api_key} {rankr.webhook_secret}
# {acuity.base_url} {acuity.user_id} {acuity.api_key}   (set only in scenarios that use Acuity)
# {workflow.secret}   (set only in scenarios that use GHL workflows)
# {client.port} {client.url} {client.state_dir} {client.reconcile_interval} {scenario.id} {env.NAME}
# GHL_BASE_URL = "{ghl.base_url}"
# GHL_TOKEN = "{ghl.access_token}"
# PORT = "{client.port}"
# DATABASE_URL = "sqlite:///{client.state_dir}/app.db"

[client.routes]
# health = "/healthz"            # answers 200 when ready
# ghl_webhook = "/webhooks/ghl"  # "" if your integration takes no GHL webhooks (it polls)
# rankr_events = "/webhooks/rankr"  # "" if it takes no Rankr fulfilment requests
# acuity_webhook = "/webhooks/acuity"  # "" if it takes no Acuity webhooks (Acuity scenarios are skipped)
# workflow_webhook = "/webhooks/ghl-workflow"  # "" if it takes no GHL workflow webhooks (workflow scenarios are skipped)

[harness]
# scenarios = ["scenarios/"]     # default: the built-in library
# checks = ["sync_complete", "no_duplicate_effects", "no_lost_events"]
# examples = 10                  # property-based examples after the scenarios
# seed = 42
# jobs = 4                       # scenarios at the same time, each job its own sandbox (default: 4 a core, 2..8)
# plugins = ["./ghl_checks.py"]  # modules or files that register checks and steps
# legacy_wh_signature = false    # true: webhooks also carry the RSA x-wh-signature GHL retired in 2026

# [workflows]
# files = ["ghl-workflow.json"]   # the GHL workflows of workflow scenarios (default: the library's
#                                 # Payment Received -> Custom Webhook to workflow_webhook)
# only = false                    # true: GHL reaches the integration only through workflows
# [workflows.custom_values]       # location custom values the workflows use ({workflow.secret} ...)
# my_secret = "{workflow.secret}"

[destination]
# Where the checks read what your integration wrote: rankr (the sandbox's fake Rankr), sql, http
# or command. For your own database:
# adapter = "sql"
# url = "sqlite:///{client.state_dir}/app.db"
#
# [destination.orders]
# table = "orders"
# [destination.orders.fields]
# orderId = "ghl_id"
# amount = { column = "total_cents", unit = "cents" }
# status = { column = "state", map = { open = "pending", done = "completed" } }
adapter = "rankr"
'''
