"""A real, throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `postgres` on a
free 127.0.0.1 port with trust authentication, stopped (fast shutdown) and removed afterwards.

    from pg_support import postgres_server   # the session-scoped fixture (a PostgresServer)

    def test_x(postgres_server: PostgresServer) -> None:
        url = postgres_server.url("postgres")  # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres

The binaries come from /usr/lib/postgresql/*/bin (newest version) or PATH; `make test` installs them
(the Makefile's `postgresql` target). Without them the fixture skips, saying why."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The directory holding `initdb` and `postgres`: the newest /usr/lib/postgresql/N/bin, else PATH."""
    def version(path: str) -> tuple[int, ...]:
        found = re.search(r"/postgresql/([\d.]+)/bin", path)
        return tuple(int(p) for p in found.group(1).split(".") if p) if found else (0,)

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for directory in candidates:
        if os.access(f"{directory}/initdb", os.X_OK) and os.access(f"{directory}/postgres", os.X_OK):
            return Path(directory)
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres and Path(initdb).parent == Path(postgres).parent:
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A private PostgreSQL cluster. As root it runs as an unprivileged OS user (`postgres`, else
    `nobody`): initdb and postgres refuse to run as root."""

    def __init__(self, bindir: Path | None = None, start_timeout: float = 30.0) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise FileNotFoundError("no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin"
                                    " or on PATH; `make postgresql` installs them")
        self.bindir = found
        self.start_timeout = start_timeout
        self.port = 0
        self.host = "127.0.0.1"
        self.user = SUPERUSER
        self.tmp: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._os_user: pwd.struct_passwd | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        self.tmp = Path(tempfile.mkdtemp(prefix="ghl-pg-"))
        if os.geteuid() == 0:
            self._os_user = self._unprivileged_user()
            os.chown(self.tmp, self._os_user.pw_uid, self._os_user.pw_gid)
        (self.tmp / "sock").mkdir()
        if self._os_user:
            os.chown(self.tmp / "sock", self._os_user.pw_uid, self._os_user.pw_gid)
        init = self._run([str(self.bindir / "initdb"), "-D", str(self.tmp / "data"), "-U", SUPERUSER,
                          "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        if init.returncode != 0:
            out = init.stdout.decode(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{out}")
        # A port picked here may be taken before postgres binds it: try a few.
        for _ in range(5):
            self.port = _free_port()
            if self._launch():
                return self
        log = self.log()
        self.stop()
        raise RuntimeError(f"postgres did not start within {self.start_timeout:g}s:\n{log}")

    def _launch(self) -> bool:
        assert self.tmp is not None
        log = open(self.tmp / "postgres.log", "ab")  # noqa: SIM115 - the server writes it until stop()
        # Durability is pointless for a throwaway cluster; turning it off keeps CREATE DATABASE fast.
        self.proc = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.tmp / "data"), "-p", str(self.port), "-h", self.host,
             "-k", str(self.tmp / "sock"), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=100"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            **self._as_user())
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            if self._accepts():
                return True
            time.sleep(0.05)
        self._terminate()
        return False

    def _accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, dbname="postgres",
                                 connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        self._terminate()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # "fast" shutdown: roll back sessions, no waiting for clients
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- use ---------------------------------------------------------------------------------------

    def url(self, db: str = "postgres") -> str:
        """A SQLAlchemy URL for database `db` as the superuser (trust auth: no password)."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{db}"

    def libpq_url(self, db: str = "postgres") -> str:
        """The same, as libpq and most drivers (psycopg, node-postgres) spell it."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{db}"

    def execute(self, sql: str, db: str = "postgres", params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit (CREATE DATABASE needs it); rows if it returns any."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, dbname=db, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def create_database(self, name: str) -> str:
        """A fresh, empty database (dropped first if it exists); returns its URL."""
        from psycopg import sql as pgsql

        ident = pgsql.Identifier(name).as_string()
        self.execute(f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
        self.execute(f"CREATE DATABASE {ident}")
        return self.url(name)

    def log(self) -> str:
        if self.tmp is None or not (self.tmp / "postgres.log").exists():
            return ""
        return (self.tmp / "postgres.log").read_text(errors="replace")[-3000:]

    # ---- running as an unprivileged user ----------------------------------------------------------

    @staticmethod
    def _unprivileged_user() -> pwd.struct_passwd:
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        raise RuntimeError("running as root, and there is neither a 'postgres' nor a 'nobody' OS user to run"
                           " PostgreSQL as (initdb refuses root)")

    def _as_user(self) -> dict[str, Any]:
        if self._os_user is None:
            return {}
        env = {**os.environ, "HOME": str(self.tmp), "USER": self._os_user.pw_name, "LOGNAME": self._os_user.pw_name}
        # setuid in the child directly (no su/runuser in between), so signals reach postgres itself.
        return {"user": self._os_user.pw_uid, "group": self._os_user.pw_gid, "extra_groups": [], "env": env,
                "cwd": str(self.tmp)}

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              timeout=120, check=False, **self._as_user())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session; tests make their own databases in it."""
    if find_bindir() is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or on"
                    " PATH; `make postgresql` installs them")
    with PostgresServer() as server:
        yield server
