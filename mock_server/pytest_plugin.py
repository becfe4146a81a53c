"""pytest plugin (entry point `pytest11`): a `ghl_sandbox` fixture with a running sandbox on a free port.

Configured per project (ini options `ghl_sandbox_*`, and `[harness] seed` of a ghl-sandbox project file)
and per test (`@pytest.mark.ghl_sandbox(seed=7, rate_limit="off", serve_args=[...])`). Settings a running
sandbox can change (seed, orders, rate limit, webhook retry policy) are applied on a shared server before
each test through the control plane; each distinct `serve_args` gets its own server process, started on
first use and reused by every test with the same arguments, all stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import math
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.ratelimit import PROFILES
from mock_server.testing import SandboxClient, SandboxProcess

MARKER = "ghl_sandbox"
POLICIES = ("ghl", "exponential")
MAX_SEED = 2**63 - 1  # what `POST /_sandbox/reset` accepts
MAX_ORDERS = 1_000_000
MAX_RETRY_INTERVAL = 86_400.0
KEYWORDS = ("seed", "orders", "rate_limit", "webhook_policy", "retry_interval", "serve_args")
# `serve` options the plugin sets itself: in serve_args they would silently fight the keywords.
MANAGED_OPTIONS = {"--seed": "seed", "--orders": "orders", "--rate-limit": "rate_limit",
                   "--webhook-policy": "webhook_policy", "--webhook-retry-interval": "retry_interval",
                   "--port": None}


class SettingError(ValueError):
    """A bad ini, marker or project value; the message says which and why."""


@dataclass(frozen=True)
class SandboxSettings:
    seed: int
    orders: int
    rate_limit: str
    webhook_policy: str
    retry_interval: float
    serve_args: tuple[str, ...] = ()


def _serve_default(name: str) -> Any:
    """The default of a `ghl-sandbox serve` option, so the plugin never drifts from the command."""
    from mock_server.cli import serve

    for param in serve.params:
        if param.name == name:
            return param.default
    raise KeyError(name)


# ---- validation (shared by ini options and marker keywords) ----------------------------------------

def _whole(value: Any, what: str, most: int) -> int:
    """A whole number from 0 to `most`, given as one or as its digits (an ini option is a string)."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise SettingError(f"{what} must be a whole number from 0 to {most}, not {value!r}")
    return value


def _seed(value: Any, what: str) -> int:
    return _whole(value, what, MAX_SEED)


def _orders(value: Any, what: str) -> int:
    return _whole(value, what, MAX_ORDERS)


def _choice(value: Any, choices: Sequence[str], what: str) -> str:
    if not isinstance(value, str) or value.strip() not in choices:
        raise SettingError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value.strip()


def _interval(value: Any, what: str) -> float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a number: reported below with the text as given
            value = float(value)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value)
            or not 0 <= value <= MAX_RETRY_INTERVAL):
        raise SettingError(f"{what} must be a number of seconds from 0 to {MAX_RETRY_INTERVAL:g}, not {value!r}")
    return float(value)


def _serve_args(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            args = shlex.split(value)
        except ValueError as exc:
            raise SettingError(f"{what}: cannot split {value!r}: {exc}") from None
    elif isinstance(value, (list, tuple)) and all(isinstance(a, str) for a in value):
        args = list(value)
    else:
        raise SettingError(f"{what} must be a list of strings (or one string, split like a shell), not {value!r}")
    for arg in args:
        option = arg.split("=", 1)[0]
        if option in MANAGED_OPTIONS:
            keyword = MANAGED_OPTIONS[option]
            instead = (f"use the {keyword}= keyword or the ghl_sandbox_{keyword} ini option" if keyword
                       else "the plugin picks a free port")
            raise SettingError(f"{what}: {option} is set by the plugin ({instead})")
    return tuple(args)


def _admin_token(serve_args: Sequence[str]) -> str | None:
    """The `--admin-token` among the serve args: the control plane then wants it on every call."""
    token = None
    for i, arg in enumerate(serve_args):
        if arg == "--admin-token" and i + 1 < len(serve_args):
            token = serve_args[i + 1]
        elif arg.startswith("--admin-token="):
            token = arg.split("=", 1)[1]
    return token


# ---- configuration ---------------------------------------------------------------------------------

INI_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("ghl_sandbox_seed", "string", "Seed of the ghl_sandbox fixture's data (default: the project file's "
                                   "[harness] seed, else 42)."),
    ("ghl_sandbox_orders", "string", "Orders seeded in the first location (default: ghl-sandbox serve's)."),
    ("ghl_sandbox_rate_limit", "string", "Rate-limit profile: default (GHL's 100 per 10 s), sandbox-account "
                                         "or off (default: default)."),
    ("ghl_sandbox_webhook_policy", "string", "Webhook retry policy: ghl or exponential (default: ghl)."),
    ("ghl_sandbox_retry_interval", "string", "Seconds (sandbox clock) before a webhook retry (default: "
                                             "ghl-sandbox serve's)."),
    ("ghl_sandbox_serve_args", "args", "Extra `ghl-sandbox serve` arguments, split like a shell."),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    for name, kind, help_text in INI_OPTIONS:
        parser.addini(name, help_text, type=kind, default=[] if kind == "args" else "")  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(seed=None, orders=None, rate_limit=None, webhook_policy=None, retry_interval=None, "
        "serve_args=None): settings of the ghl_sandbox fixture for this test, over the ghl_sandbox_* ini options")
    try:
        config.stash[_INI_KEY] = _ini_settings(config)
    except SettingError as exc:
        raise pytest.UsageError(f"ghl-sandbox pytest plugin: {exc}") from None


_INI_KEY = pytest.StashKey[dict[str, Any]]()
_BASE_KEY = pytest.StashKey["tuple[SandboxSettings | None, Any, str | None]"]()


def _ini_settings(config: pytest.Config) -> dict[str, Any]:
    """The ini values that are set (validated); unset ones are left out so the defaults apply."""
    out: dict[str, Any] = {}
    checks = {"seed": _seed, "orders": _orders, "retry_interval": _interval}
    for key in ("seed", "orders", "retry_interval"):
        raw = str(config.getini(f"ghl_sandbox_{key}")).strip()
        if raw:
            out[key] = checks[key](raw, f"ghl_sandbox_{key}")
    rate = str(config.getini("ghl_sandbox_rate_limit")).strip()
    if rate:
        out["rate_limit"] = _choice(rate, sorted(PROFILES), "ghl_sandbox_rate_limit")
    policy = str(config.getini("ghl_sandbox_webhook_policy")).strip()
    if policy:
        out["webhook_policy"] = _choice(policy, POLICIES, "ghl_sandbox_webhook_policy")
    args = config.getini("ghl_sandbox_serve_args")
    if args:
        out["serve_args"] = _serve_args(list(args), "ghl_sandbox_serve_args")
    return out


def _load_project(rootdir: Path) -> Any:
    """The project file's Project from the rootdir, or None (no file, or no scenarios package)."""
    try:
        from scenarios import project as project_file
    except ImportError:
        return None
    path = project_file.find(cwd=rootdir)
    if path is None:
        return None
    try:
        return project_file.load(path)
    except project_file.ProjectError as exc:  # its message names the file, the line and the key
        raise SettingError(f"project file {exc}") from None


def _base(config: pytest.Config) -> tuple[SandboxSettings | None, Any, str | None]:
    """(session settings, project, error): ini over project file over serve's defaults. Read once, on
    first use, so a session that never asks for the fixture never reads the project file."""
    if _BASE_KEY in config.stash:
        return config.stash[_BASE_KEY]
    ini = config.stash[_INI_KEY]
    project = None
    result: tuple[SandboxSettings | None, Any, str | None]
    try:
        project = _load_project(config.rootpath)
        seed = ini.get("seed")
        if seed is None and project is not None and project.seed is not None:
            seed = _seed(project.seed, f"{project.where('harness.seed')}")
        settings = SandboxSettings(
            seed=_serve_default("seed") if seed is None else seed,
            orders=ini.get("orders", _serve_default("orders")),
            rate_limit=ini.get("rate_limit", _serve_default("rate_limit")),
            webhook_policy=ini.get("webhook_policy", _serve_default("webhook_policy")),
            retry_interval=float(ini.get("retry_interval", _serve_default("webhook_retry_interval"))),
            serve_args=ini.get("serve_args", ()))
        result = (settings, project, None)
    except SettingError as exc:
        result = (None, project, str(exc))
    config.stash[_BASE_KEY] = result
    return result


def settings_for(item: pytest.Item, base: SandboxSettings) -> SandboxSettings:
    """The test's settings: its `ghl_sandbox` markers (the closest wins) over the session's."""
    values: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers(name=MARKER))):  # farthest first, so the closest wins
        if mark.args:
            raise SettingError(f"@pytest.mark.{MARKER} takes keyword arguments only "
                               f"({', '.join(KEYWORDS)}), not {mark.args!r}")
        for key, value in mark.kwargs.items():
            if key not in KEYWORDS:
                raise SettingError(f"@pytest.mark.{MARKER}: unknown keyword {key!r} (known: {', '.join(KEYWORDS)})")
            values[key] = value
    where = f"@pytest.mark.{MARKER}"
    changes: dict[str, Any] = {}
    if "seed" in values:
        changes["seed"] = _seed(values["seed"], f"{where}: seed")
    if "orders" in values:
        changes["orders"] = _orders(values["orders"], f"{where}: orders")
    if "rate_limit" in values:
        changes["rate_limit"] = _choice(values["rate_limit"], sorted(PROFILES), f"{where}: rate_limit")
    if "webhook_policy" in values:
        changes["webhook_policy"] = _choice(values["webhook_policy"], POLICIES, f"{where}: webhook_policy")
    if "retry_interval" in values:
        changes["retry_interval"] = _interval(values["retry_interval"], f"{where}: retry_interval")
    if "serve_args" in values:
        changes["serve_args"] = _serve_args(values["serve_args"], f"{where}: serve_args")
    return replace(base, **changes)


# ---- servers ---------------------------------------------------------------------------------------

class PooledServer:
    """One `ghl-sandbox serve` process and the settings it started with (restored after a test)."""

    def __init__(self, base: SandboxSettings, serve_args: tuple[str, ...]) -> None:
        self.base = replace(base, serve_args=serve_args)
        self.admin_token = _admin_token(serve_args)
        args = ["--seed", str(base.seed), "--orders", str(base.orders), "--rate-limit", base.rate_limit,
                "--webhook-policy", base.webhook_policy, "--webhook-retry-interval", repr(base.retry_interval),
                *serve_args]
        self.process = SandboxProcess(args)
        self.process.start()
        client = self.process.client(self.admin_token)
        try:
            # What serve_args made of the policy (max retries, timeout): put back before every test.
            self.policy: dict[str, Any] = client.webhook_policy()
        except httpx.HTTPError as exc:  # e.g. a control plane that wants another token: no stray server
            self.process.stop()
            raise RuntimeError(f"its control plane refused: {exc}") from None
        finally:
            client.close()

    def alive(self) -> bool:
        return self.process.alive()

    def apply(self, client: SandboxClient, settings: SandboxSettings) -> None:
        """Seeded data, rate limit and retry policy as `settings` say, whatever the last test left."""
        client.reset(seed=settings.seed, orders=settings.orders)
        client.set_rate_limit(settings.rate_limit)
        client.set_webhook_policy(**{**self.policy, "name": settings.webhook_policy,
                                 "retryIntervalS": settings.retry_interval})
        client.clear_journal()

    def restore(self, client: SandboxClient, settings: SandboxSettings) -> None:
        """After a test that changed the server's settings: back to how it started, for users of the
        server that do not go through the fixture (`ghl_sandbox_process`)."""
        if (settings.seed, settings.orders) != (self.base.seed, self.base.orders):
            client.reset(seed=self.base.seed, orders=self.base.orders)
        if settings.rate_limit != self.base.rate_limit:
            client.set_rate_limit(self.base.rate_limit)
        if (settings.webhook_policy, settings.retry_interval) != (self.base.webhook_policy, self.base.retry_interval):
            client.set_webhook_policy(**self.policy)

    def stop(self) -> None:
        self.process.stop()


class SandboxPool:
    """Servers keyed by their extra `serve` arguments; a start that failed is remembered, not retried."""

    def __init__(self, base: SandboxSettings) -> None:
        self.base = base
        self.servers: dict[tuple[str, ...], PooledServer] = {}
        self.failures: dict[tuple[str, ...], str] = {}

    def get(self, serve_args: tuple[str, ...]) -> PooledServer:
        if serve_args in self.failures:
            raise RuntimeError(self.failures[serve_args])
        server = self.servers.get(serve_args)
        if server is not None and server.alive():
            return server
        try:  # first use, or the server died (a test may stop it): a fresh one
            server = PooledServer(self.base, serve_args)
        except RuntimeError as exc:
            command = shlex.join(["ghl-sandbox", "serve", *serve_args])
            self.failures[serve_args] = f"could not start `{command}`: {exc}"
            raise RuntimeError(self.failures[serve_args]) from None
        self.servers[serve_args] = server
        return server

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


# ---- the client the fixture yields -----------------------------------------------------------------

class GhlSandbox(SandboxClient):
    """`SandboxClient` plus the project file: `project` and `client_env()` start the user's own client
    with its own variable names."""

    def __init__(self, url: str, admin_token: str | None, settings: SandboxSettings, project: Any,
                 test_id: str = "test") -> None:
        super().__init__(url, admin_token=admin_token)
        self.settings = settings
        self.project = project
        self._test_id = test_id

    def _sources(self, location_index: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The control plane's location, keys and app: what every variable is made from."""
        locations = self.locations()
        if not 0 <= location_index < len(locations):
            raise IndexError(f"location_index {location_index}: the sandbox has {len(locations)} location(s)")
        return locations[location_index], self.keys(), self.apps()[0]

    def template_values(self, port: int, state_dir: str | Path, location_index: int = 0) -> dict[str, str]:
        """The project file's template names (scenarios.templates.NAMES) for one location."""
        return self._values(port, state_dir, *self._sources(location_index))

    def _values(self, port: int, state_dir: str | Path, location: dict[str, Any], keys: dict[str, Any],
                app: dict[str, Any]) -> dict[str, str]:
        from scenarios.runner import DEFAULT_RECONCILE, template_values

        return template_values(self.url, location, keys, app, port, Path(state_dir), DEFAULT_RECONCILE,
                               self._scenario_id())

    def _scenario_id(self) -> str:
        """Short, `[a-z0-9_]`, the same for the whole test and different between tests."""
        import hashlib

        slug = re.sub(r"[^a-z0-9_]+", "_", self._test_id.rsplit("::", 1)[-1].lower()).strip("_")[:24]
        return f"{slug or 'test'}_{hashlib.sha1(self._test_id.encode()).hexdigest()[:8]}"

    def client_env(self, port: int, state_dir: str | Path, location_index: int = 0,
                   environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for the user's client at `port` for one location: the client contract's
        variables (unless the project says `contract_env = false`) and the project's `client.env`
        rendered (its names win). `environ` answers `{env.NAME}` (default: os.environ)."""
        from scenarios import templates
        from scenarios.runner import client_env as contract_env

        location, keys, app = self._sources(location_index)
        env: dict[str, str] = {}
        if self.project is None or self.project.contract_env:
            env.update(contract_env(self.url, location, keys, app, port, Path(state_dir)))
        if self.project is not None and self.project.env:
            values = self._values(port, state_dir, location, keys, app)
            for name, template in self.project.env.items():
                try:
                    env[name] = templates.render(template, values, environ)
                except templates.TemplateError as exc:
                    raise SettingError(f"{self.project.where(f'client.env.{name}')}: {exc}") from None
        return env


# ---- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def ghl_sandbox_pool(pytestconfig: pytest.Config) -> Iterator[SandboxPool]:
    base, _project, error = _base(pytestconfig)
    if base is None:
        pytest.fail(f"ghl-sandbox pytest plugin: {error}", pytrace=False)
    pool = SandboxPool(base)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="session")
def ghl_sandbox_process(ghl_sandbox_pool: SandboxPool) -> SandboxProcess:
    """The session's shared server (the ini options' settings and serve args)."""
    problem = ""
    try:
        return ghl_sandbox_pool.get(ghl_sandbox_pool.base.serve_args).process
    except RuntimeError as exc:
        problem = str(exc)
    pytest.fail(f"ghl-sandbox pytest plugin: {problem}", pytrace=False)


@pytest.fixture
def ghl_sandbox(request: pytest.FixtureRequest, ghl_sandbox_pool: SandboxPool) -> Iterator[GhlSandbox]:
    """A running sandbox, reset to its seeded state, with this test's settings applied."""
    item = request.node
    # pytest.fail outside the `except` blocks: inside one, pytest would also print the chained error.
    problem = ""
    try:
        settings = settings_for(item, ghl_sandbox_pool.base)
        server = ghl_sandbox_pool.get(settings.serve_args)
    except (SettingError, RuntimeError) as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"{item.nodeid}: {problem}", pytrace=False)
    _base_settings, project, _error = _base(request.config)
    client = GhlSandbox(server.process.url, server.admin_token, settings, project, item.nodeid)
    try:
        server.apply(client, settings)
        yield client
        if server.alive():
            server.restore(client, settings)
    finally:
        client.close()
