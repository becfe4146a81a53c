"""The `sql` destination: the client's own database, read with SQLAlchemy Core
(contracts/PROJECT_FILE.md, "sql").

    [destination]
    adapter = "sql"
    url = "sqlite:///{client.state_dir}/app.db"   # templated; postgresql:// uses psycopg 3
    create_database = false                       # PostgreSQL: a fresh database per scenario
    [destination.orders]
    table = "orders"                              # or query = "SELECT ..."; "schema.table" works
    [destination.orders.fields]
    amount = { column = "total_cents", unit = "cents" }
    [destination.customers]
    table = "customers"
    [destination.customers.fields]
    emails = "emails_json"                        # a JSON array ('["a@x.com"]'), "a@x.com, b@x.com" or an array column

The client writes while we read: SQLite is opened read-only with a short busy timeout and no pooled
connections; a table (or database file) the client has not created yet reads as empty; any other
error reading is a problem of that read, never an exception."""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from scenarios.destinations.base import (
    KINDS,
    Binding,
    Destination,
    DestinationError,
    KindRead,
    NotExposed,
    adapter,
)
from scenarios.destinations.mapping import KindMapping, parse_fields
from scenarios.project import ConfigError, Table
from scenarios.templates import TemplateError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+._-]*)://")
SQLITE_BUSY_TIMEOUT_S = 2.0
PG_CONNECT_TIMEOUT_S = 5
PG_STATEMENT_TIMEOUT_MS = 15_000


class _Kind:
    def __init__(self, kind: str, table: str | None, query: str | None, mapping: KindMapping, key: str) -> None:
        self.kind = kind
        self.table = table
        self.query = query
        self.mapping = mapping
        self.key = key  # destination.<kind>.table / .query, for problems

    def statement(self) -> sa.Executable:
        if self.query is not None:
            return sa.text(self.query)
        assert self.table is not None
        schema, _, name = self.table.rpartition(".")
        # sa.table() quotes the names as the dialect needs; select * so a missing column is reported
        # per field by the mapping instead of failing the whole query.
        return sa.select(sa.literal_column("*")).select_from(sa.table(name, schema=schema or None))


@adapter("sql")
class SqlDestination(Destination):
    def __init__(self, options: Table) -> None:
        super().__init__(options)
        self.url_template = options.required_string("url", template=True)
        scheme = _SCHEME.match(self.url_template)
        if scheme is None and not self.url_template.startswith("{"):
            raise ConfigError(options.path("url"), "must be a SQLAlchemy URL such as sqlite:///{client.state_dir}/app.db"
                                                   f" or postgresql://user@host/db, not {self.url_template!r}")
        self.create_database = options.boolean("create_database", False)
        if self.create_database and scheme is not None and not _is_postgres(scheme.group(1)):
            raise ConfigError(options.path("create_database"),
                              f"works with PostgreSQL URLs only, not {scheme.group(1)}://")
        self.specs: dict[str, _Kind] = {}
        for kind in KINDS:
            table = options.table(kind)  # read every kind, so that only misspelt ones are unknown keys
            if not options.has(kind):
                continue
            name = table.string("table")
            query = table.string("query")
            if name is not None and query is not None:
                raise ConfigError(table.path("query"), "give table or query, not both")
            if name is None and query is None:
                raise ConfigError(table.key, "needs table = \"...\" or query = \"SELECT ...\"")
            if not (name or query or "").strip():
                raise ConfigError(table.path("table" if name is not None else "query"), "must not be empty")
            mapping = parse_fields(kind, table.table("fields"), "column")
            table.reject_unknown()
            self.specs[kind] = _Kind(kind, name, query, mapping,
                                     table.path("table" if name is not None else "query"))
        options.reject_unknown()
        self.url: URL | None = None
        self.engine: Engine | None = None
        self.sqlite_file: Path | None = None
        self.created: URL | None = None
        self.shown = ""  # the rendered URL, password hidden

    def kinds(self) -> frozenset[str]:
        return frozenset(self.specs)

    def describe(self) -> str:
        return f"sql {self.shown or self.url_template}"

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self, binding: Binding) -> None:
        self.stop()  # a scenario that was not stopped: nothing of it carries over
        super().start(binding)
        self.url = self._url(binding)
        if self.create_database:
            self._create()
        self.engine = self._engine(self.url)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
        if self.created is not None:
            created, self.created = self.created, None
            # A database left behind is dropped before the next scenario creates it again.
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                self._admin(created, f"DROP DATABASE IF EXISTS {self._quote(created)}", force=True)

    def _url(self, binding: Binding) -> URL:
        try:
            text = binding.render(self.url_template)
        except TemplateError as exc:
            raise DestinationError(f"destination.url: {exc}") from None
        try:
            url = make_url(text)
        except sa_exc.ArgumentError as exc:
            raise DestinationError(f"destination.url: not a SQLAlchemy URL: {exc}") from None
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is what we install, not psycopg2
        elif url.drivername.startswith("postgres+"):
            url = url.set(drivername="postgresql" + url.drivername[len("postgres"):])
        self.shown = url.render_as_string(hide_password=True)
        if self.create_database and url.get_backend_name() != "postgresql":
            raise DestinationError(f"destination.create_database: works with PostgreSQL URLs only, not "
                                   f"{url.get_backend_name()}")
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
                and not url.database.startswith("file:"):
            path = Path(url.database)
            if not path.is_absolute():
                path = (binding.cwd or Path.cwd()) / path  # relative to where the client runs
            self.sqlite_file = path
            # Read-only: the harness must never create the client's file or take a write lock in it.
            url = url.set(database=f"file:{urllib.parse.quote(str(path))}",
                          query={**url.query, "mode": "ro", "uri": "true"})
        return url

    def _engine(self, url: URL) -> Engine:
        backend = url.get_backend_name()
        if backend == "sqlite":
            return sa.create_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        args: dict[str, Any] = {}
        if backend == "postgresql":
            args = {"connect_timeout": PG_CONNECT_TIMEOUT_S,
                    "options": f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS}"}
        try:
            return sa.create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True, connect_args=args)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
            raise DestinationError(f"destination.url: cannot use {url.drivername}: {exc}") from None

    # ---- create_database -------------------------------------------------------------------------

    def _create(self) -> None:
        assert self.url is not None
        if not self.url.database:
            raise DestinationError("destination.create_database: the URL names no database to create")
        name = self._quote(self.url)
        try:
            self._admin(self.url, f"DROP DATABASE IF EXISTS {name}", force=True)
            self._admin(self.url, f"CREATE DATABASE {name}")
        except sa_exc.SQLAlchemyError as exc:
            where = self.url.set(database="postgres").render_as_string(hide_password=True)
            raise DestinationError(f"destination.create_database: cannot create database {self.url.database!r} "
                                   f"through {where}: {_error_text(exc)}") from None
        self.created = self.url

    @staticmethod
    def _quote(url: URL) -> str:
        return postgresql.dialect().identifier_preparer.quote(url.database or "")

    @staticmethod
    def _admin(url: URL, statement: str, force: bool = False) -> None:
        """One statement on the server's maintenance database, outside a transaction (CREATE DATABASE
        cannot run in one). `force` ends the client's leftover sessions (PostgreSQL 13+)."""
        last: sa_exc.SQLAlchemyError | None = None
        for maintenance in ("postgres", "template1"):
            engine = sa.create_engine(url.set(database=maintenance), poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                      connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
            try:
                with engine.connect() as conn:
                    if force:
                        try:
                            conn.exec_driver_sql(statement + " WITH (FORCE)")
                            return
                        except sa_exc.ProgrammingError:
                            pass  # before PostgreSQL 13: no FORCE
                    conn.exec_driver_sql(statement)
                    return
            except sa_exc.OperationalError as exc:
                last = exc  # the maintenance database may be missing or closed to us: try the other
            finally:
                engine.dispose()
        assert last is not None
        raise last

    # ---- reading -----------------------------------------------------------------------------------

    def read(self, kind: str) -> KindRead:
        spec = self.specs.get(kind)
        if spec is None:
            raise NotExposed(kind)
        if self.engine is None:
            raise DestinationError("the sql destination was read before start()")
        if self.sqlite_file is not None and not self.sqlite_file.exists():
            return KindRead([])  # the client has not created its database yet
        try:
            with self.engine.connect() as conn:
                result = conn.execute(spec.statement())
                columns = list(map(str, result.keys()))
                rows = [dict(zip(columns, row, strict=True)) for row in result]
        except sa_exc.SQLAlchemyError as exc:
            if _no_such_table(exc):
                return KindRead([])  # the client has not created its schema yet
            what = f"table {spec.table!r}" if spec.table is not None else "the query"
            return KindRead([], [f"{kind}: {spec.key}: cannot read {what}: {_error_text(exc)}"])
        actual = _resolve(columns, [f.source for f in spec.mapping.fields.values()])

        def lookup(row: Any, source: str) -> tuple[bool, Any]:
            column = actual.get(source)
            return (True, row[column]) if column is not None else (False, None)

        return spec.mapping.apply(rows, lookup)


def _resolve(columns: list[str], sources: list[str]) -> dict[str, str]:
    """Source -> column of the result: the exact name, else the one name equal but for case
    (PostgreSQL folds unquoted `orderId` to `orderid`)."""
    lower: dict[str, list[str]] = {}
    for c in columns:
        lower.setdefault(c.lower(), []).append(c)
    out = {}
    for source in sources:
        if source in columns:
            out[source] = source
        elif len(lower.get(source.lower(), [])) == 1:
            out[source] = lower[source.lower()][0]
    return out


def _is_postgres(scheme: str) -> bool:
    return scheme.split("+")[0] in ("postgresql", "postgres")


def _no_such_table(exc: sa_exc.SQLAlchemyError) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in ("42P01", "42S02"):  # PostgreSQL, ODBC/MySQL: undefined table
        return True
    text = str(orig if orig is not None else exc).lower()
    return "no such table" in text or bool(re.search(r"table '[^']*' doesn't exist", text))


def _error_text(exc: BaseException) -> str:
    """The driver's own message, first line (SQLAlchemy appends statement dumps and links)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]
