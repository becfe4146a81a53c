"""Shop sync service: mirrors LeadConnector (GoHighLevel) orders, payments and memberships into the
shop's own database (SQLite or PostgreSQL, one SQLAlchemy URL).

It is an integration the way another team would write it: its own environment names, its own routes,
its own tables and words. `ghl-sandbox check` gates it unchanged through `ghl-sandbox.toml` beside it
(the `sql` destination adapter reads these tables back; see README.md).

Environment:
    LEADCONNECTOR_URL     API base URL, e.g. https://services.leadconnectorhq.com
    LEADCONNECTOR_TOKEN   location access token (payments scopes)
    LC_LOCATION           location id (altId)
    LC_APP_ID             our marketplace app id (every webhook's appId)
    LC_SIGNING_KEY        Ed25519 public key, PEM, that signs `x-ghl-signature`
    DATABASE_URL          SQLAlchemy URL: sqlite:///path/shop.db or postgresql://user@host:port/db
    HTTP_PORT             port on 127.0.0.1 (default 8080)
    POLL_SECONDS          seconds between reconciliations (default 60)
    LC_API_VERSION        `Version` header (default 2021-07-28)

Routes: `GET /status` (200 once the schema is in place), `POST /hooks/leadconnector` (webhooks).
Dependencies: Python 3.10+, SQLAlchemy 2, httpx, cryptography (and psycopg 3 for PostgreSQL).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    import httpx
    import sqlalchemy as sa
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from sqlalchemy.dialects import postgresql as pg_dialect
    from sqlalchemy.dialects import sqlite as sqlite_dialect
    from sqlalchemy.schema import CreateTable
except ImportError as missing:  # a clear message rather than a traceback when run outside the venv
    sys.stderr.write(f"sync_service: {missing}. It needs SQLAlchemy 2, httpx and cryptography "
                     f"(pip install 'sqlalchemy>=2' httpx cryptography psycopg); is the right python on PATH?\n")
    sys.exit(2)

log = logging.getLogger("sync_service")

API_VERSION = "2021-07-28"
PAGE_LIMIT = 100
HOOK_BUDGET_S = 4.0       # GHL gives up on an attempt after a few seconds: answer (429 if need be) before
REPLAY_WINDOW_S = 300     # GHL's recommendation
RETRIES = 5
OUTAGE_FAILURES = 3       # failed reconciliations in a row that make an outage an incident

# Our words for GHL's statuses (values not listed are stored as GHL sends them).
ORDER_STATE = {"pending": "open", "completed": "done", "cancelled": "void", "refunded": "refunded"}
PAYMENT_OUTCOME = {"succeeded": "captured", "failed": "declined", "pending": "processing", "refunded": "returned"}
MEMBERSHIP_STATE = {"active": "live", "trialing": "trial", "canceled": "ended", "past_due": "overdue"}


class ConfigProblem(Exception):
    """The environment does not describe a usable service."""


@dataclass(frozen=True)
class Settings:
    api_url: str
    token: str
    location: str
    app_id: str
    signing_key: ed25519.Ed25519PublicKey
    database_url: str
    port: int
    poll_seconds: float
    api_version: str = API_VERSION

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        def need(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise ConfigProblem(f"{name} is not set")
            return value

        def number(name: str, default: str, kind: Callable[[str], Any]) -> Any:
            raw = environ.get(name, default)
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigProblem(f"{name} must be a number, not {raw!r}") from None
            if value <= 0:
                raise ConfigProblem(f"{name} must be positive, not {raw!r}")
            return value

        pem = need("LC_SIGNING_KEY")
        try:
            key = serialization.load_pem_public_key(pem.encode())
        except ValueError as exc:
            raise ConfigProblem(f"LC_SIGNING_KEY is not a PEM public key: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ConfigProblem("LC_SIGNING_KEY must be an Ed25519 public key (x-ghl-signature)")
        return cls(api_url=need("LEADCONNECTOR_URL").rstrip("/"), token=need("LEADCONNECTOR_TOKEN"),
                   location=need("LC_LOCATION"), app_id=need("LC_APP_ID"), signing_key=key,
                   database_url=need("DATABASE_URL"), port=number("HTTP_PORT", "8080", int),
                   poll_seconds=number("POLL_SECONDS", "60", float),
                   api_version=environ.get("LC_API_VERSION", API_VERSION))


# ---- money and words ------------------------------------------------------------------------------

def to_cents(amount: Any) -> int:
    """GHL amounts are major units (19.99); we keep integer cents. Decimal avoids 19.99 * 100 = 1998.99..."""
    try:
        return int((Decimal(str(amount or 0)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None


def order_row(o: dict[str, Any]) -> dict[str, Any]:
    return {"ghl_id": o["_id"], "state": ORDER_STATE.get(o.get("status") or "", o.get("status") or ""),
            "shipping_state": o.get("fulfillmentStatus") or "", "total_cents": to_cents(o.get("amount")),
            "currency": o.get("currency") or "", "customer_id": o.get("contactId") or "",
            "updated": o.get("updatedAt") or ""}


def payment_row(t: dict[str, Any]) -> dict[str, Any]:
    return {"ghl_id": t["_id"], "order_ref": t.get("entityId") or "",
            "outcome": PAYMENT_OUTCOME.get(t.get("status") or "", t.get("status") or ""),
            "amount_cents": to_cents(t.get("amount")), "refunded_cents": to_cents(t.get("amountRefunded")),
            "currency": t.get("currency") or "", "updated": t.get("updatedAt") or ""}


def membership_row(s: dict[str, Any]) -> dict[str, Any]:
    return {"ghl_id": s["_id"], "state": MEMBERSHIP_STATE.get(s.get("status") or "", s.get("status") or ""),
            "amount_cents": to_cents(s.get("amount")), "currency": s.get("currency") or "",
            "updated": s.get("updatedAt") or ""}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- the database ---------------------------------------------------------------------------------

def engine_url(url: str) -> sa.URL:
    """`postgresql://` means psycopg 3 here (the URL a hosting platform hands out names no driver)."""
    parsed = sa.make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class ShopDatabase:
    """Our tables, created when absent. Every write is one transaction committed before the HTTP
    answer that depends on it (SQLite: WAL + synchronous=FULL, so it survives kill -9)."""

    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.url.get_backend_name() == "sqlite":
            options["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine = sa.create_engine(self.url, **options)
        if self.url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", self._sqlite_pragmas)
        self.meta = sa.MetaData()
        self.orders = sa.Table(
            "shop_orders", self.meta,
            sa.Column("ghl_id", sa.String(32), primary_key=True), sa.Column("state", sa.String(32)),
            sa.Column("shipping_state", sa.String(32)), sa.Column("total_cents", sa.Integer),
            sa.Column("currency", sa.String(8)), sa.Column("customer_id", sa.String(64)),
            sa.Column("updated", sa.String(40)))
        self.payments = sa.Table(
            "payments", self.meta,
            sa.Column("ghl_id", sa.String(32), primary_key=True), sa.Column("order_ref", sa.String(32)),
            sa.Column("outcome", sa.String(32)), sa.Column("amount_cents", sa.Integer),
            sa.Column("refunded_cents", sa.Integer), sa.Column("currency", sa.String(8)),
            sa.Column("updated", sa.String(40)))
        self.memberships = sa.Table(
            "memberships", self.meta,
            sa.Column("ghl_id", sa.String(32), primary_key=True), sa.Column("state", sa.String(32)),
            sa.Column("amount_cents", sa.Integer), sa.Column("currency", sa.String(8)),
            sa.Column("updated", sa.String(40)))
        self.webhook_log = self.webhook_log_table()
        self.incidents = sa.Table(
            "incidents", self.meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("level", sa.String(16), nullable=False), sa.Column("text", sa.Text, nullable=False),
            sa.Column("order_ref", sa.String(32)), sa.Column("opened_at", sa.String(40), nullable=False),
            sa.Column("closed_at", sa.String(40)))

    def webhook_log_table(self) -> sa.Table:
        """The webhooks we processed. UNIQUE(webhook_id) is the dedupe: a second delivery of one
        webhook cannot commit."""
        return sa.Table(
            "webhook_log", self.meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("webhook_id", sa.String(64), nullable=False, unique=True),
            sa.Column("kind", sa.String(64), nullable=False), sa.Column("order_ref", sa.String(32)),
            sa.Column("received_at", sa.String(40), nullable=False))

    @staticmethod
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    def create_schema(self) -> None:
        with self.engine.begin() as conn:
            for table in self.meta.sorted_tables:
                conn.execute(CreateTable(table, if_not_exists=True))

    def close(self) -> None:
        self.engine.dispose()

    # ---- upserts ----------------------------------------------------------------------------------

    def upsert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert or update by ghl_id, never an older `updated` over a newer one (webhooks and polls race).
        SQLite and PostgreSQL share ON CONFLICT; anything else takes the portable path."""
        if not rows:
            return
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert = sqlite_dialect.insert if dialect == "sqlite" else pg_dialect.insert
            stmt = insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.ghl_id],
                set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != "ghl_id"},
                where=table.c.updated <= stmt.excluded.updated)
            conn.execute(stmt, rows)
            return
        for row in rows:
            updated = conn.execute(table.update().where(table.c.ghl_id == row["ghl_id"],
                                                        table.c.updated <= row["updated"]).values(**row))
            if updated.rowcount == 0 and conn.execute(
                    sa.select(table.c.ghl_id).where(table.c.ghl_id == row["ghl_id"])).first() is None:
                conn.execute(table.insert().values(**row))

    def already_processed(self, webhook_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(self.webhook_log.c.id)
                                .where(self.webhook_log.c.webhook_id == webhook_id)).first() is not None

    def record_webhook(self, conn: sa.Connection, webhook_id: str, kind: str, order_ref: str | None) -> None:
        """Raises IntegrityError when this webhook was processed already (a concurrent delivery)."""
        conn.execute(self.webhook_log.insert().values(webhook_id=webhook_id, kind=kind, order_ref=order_ref,
                                                      received_at=now_iso()))

    # ---- incidents ----------------------------------------------------------------------------------

    def open_incident(self, level: str, text: str) -> bool:
        """One open incident at a time: True if this call opened it."""
        with self.engine.begin() as conn:
            if conn.execute(sa.select(self.incidents.c.id).where(self.incidents.c.closed_at.is_(None))).first():
                return False
            conn.execute(self.incidents.insert().values(level=level, text=text[:1000], opened_at=now_iso()))
            return True

    def close_incidents(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(self.incidents.update().where(self.incidents.c.closed_at.is_(None))
                                .values(closed_at=now_iso())).rowcount


# ---- LeadConnector API ----------------------------------------------------------------------------

class ApiUnavailable(Exception):
    """5xx, 429, no answer, or no budget left before the caller's deadline: try again later."""


class ApiRefused(Exception):
    """A 4xx other than 429: retrying will not help."""


class Throttle:
    """GHL's burst window as its headers report it, shared by every thread. Calls go one at a time so a
    429 holds back everything after it. Once `X-RateLimit-Remaining` hits 0 we wait for the window to be
    over surely; after a 429, `X-RateLimit-Interval-Milliseconds` from that answer."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._busy = False
        self._left: int | None = None    # calls left in the current window; None: unknown, probe
        self._window_from = 0.0          # the latest the current window can have opened
        self._hold_until = 0.0
        self.interval_s = 10.0
        self.burst = 100

    def _delay(self, now: float) -> float | None:
        if self._busy:
            return None
        if self._hold_until > now:
            return self._hold_until - now
        if self._left is not None and self._left <= 0:
            ends = self._window_from + self.interval_s + 0.1
            if now < ends:
                return ends - now
            self._left = None
        return 0.0

    def enter(self, deadline: float | None) -> None:
        with self._cv:
            while True:
                now = time.monotonic()
                delay = self._delay(now)
                if delay == 0.0:
                    break
                if deadline is not None and now + (delay or 0.0) >= deadline:
                    raise ApiUnavailable("rate limit: no budget before the deadline")
                timeout = delay if delay is not None else (None if deadline is None else deadline - now)
                self._cv.wait(timeout)
            self._busy = True
            if self._left is not None:
                self._left -= 1

    def leave(self, response: httpx.Response | None) -> None:
        with self._cv:
            self._busy = False
            now = time.monotonic()
            if response is not None:
                headers = response.headers
                interval = _int(headers.get("x-ratelimit-interval-milliseconds"))
                if interval:
                    self.interval_s = interval / 1000
                burst = _int(headers.get("x-ratelimit-max"))
                if burst:
                    self.burst = burst
                left = _int(headers.get("x-ratelimit-remaining"))
                if left is not None:
                    if self._left is None or left > self._left:
                        self._window_from = now  # the count went up: a new window opened by this call
                    self._left = left
                if response.status_code == 429:
                    self._hold_until = max(self._hold_until, now + self.interval_s)
                    self._left = None
            self._cv.notify_all()


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class LeadConnector:
    """GET-only client of the Payments API: bearer, Version, altId/altType on every call; retries with
    growing, jittered backoff on 5xx, 429 and connection errors."""

    def __init__(self, settings: Settings, stopping: threading.Event) -> None:
        self.settings = settings
        self.stopping = stopping
        self.throttle = Throttle()
        self.http = httpx.Client(base_url=settings.api_url, timeout=10.0, headers={
            "Authorization": f"Bearer {settings.token}", "Version": settings.api_version,
            "Accept": "application/json"})
        self.calls = 0

    def close(self) -> None:
        self.http.close()

    def scope(self) -> dict[str, str]:
        return {"altId": self.settings.location, "altType": "location"}

    @staticmethod
    def backoff(retry: int) -> float:
        """0.25 s, 0.5 s, 1 s ... capped at 4 s, plus up to 40% jitter."""
        return min(4.0, 0.25 * 2 ** retry) * random.uniform(1.0, 1.4)

    def get(self, path: str, params: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        problem = ""
        for attempt in range(RETRIES):
            if attempt:
                pause = self.backoff(attempt - 1)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    break
                if self.stopping.wait(pause):
                    break
            self.throttle.enter(deadline)  # after a 429 this waits the advertised interval
            response = None
            try:
                self.calls += 1
                timeout = 10.0 if deadline is None else max(0.2, min(10.0, deadline - time.monotonic()))
                response = self.http.get(path, params={**self.scope(), **params}, timeout=timeout)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                self.throttle.leave(response)
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"{response.status_code} {response.text[:200]}"
                continue
            if response.status_code >= 400:
                raise ApiRefused(f"GET {path} -> {response.status_code} {response.text[:300]}")
            try:
                return response.json()
            except ValueError:
                problem = f"{response.status_code}: not JSON"
        raise ApiUnavailable(f"GET {path}: {problem or 'gave up'}")

    def pages(self, path: str, params: dict[str, Any] | None = None,
              deadline: float | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list, `limit`/`offset` until `totalCount`."""
        offset: int | None = 0
        while offset is not None:
            answer = self.get(path, {**(params or {}), "limit": PAGE_LIMIT, "offset": offset}, deadline)
            page = answer.get("data") or []
            yield page
            offset = next_offset(offset, page, int(answer.get("totalCount") or 0))

    def order(self, order_id: str, deadline: float | None) -> dict[str, Any]:
        return self.get(f"/payments/orders/{order_id}", {}, deadline)

    def order_payments(self, order_id: str, deadline: float | None) -> list[dict[str, Any]]:
        return [t for page in self.pages("/payments/transactions", {"entityId": order_id}, deadline) for t in page]


def next_offset(offset: int, page: list[dict[str, Any]], total: int) -> int | None:
    """Where the next page starts, or None at the end of the list."""
    after = offset + len(page)
    return after if page and after < total else None


# ---- the service ----------------------------------------------------------------------------------

class SyncService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.db = ShopDatabase(settings.database_url)
        self.api = LeadConnector(settings, self.stopping)
        self.written: dict[tuple[str, str], str] = {}  # (table, id) -> the row we last wrote, as JSON
        self.failed_polls = 0
        self.failing_since: float | None = None
        self.hook_locks = [threading.Lock() for _ in range(32)]

    # ---- webhooks ---------------------------------------------------------------------------------

    def signature_ok(self, raw: bytes, signature: str | None) -> bool:
        if not signature:
            return False
        try:
            self.settings.signing_key.verify(base64.b64decode(signature, validate=True), raw)
        except (InvalidSignature, ValueError):
            return False
        return True

    @staticmethod
    def recent(timestamp: Any) -> bool:
        try:
            sent = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
        except ValueError:
            return False
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=timezone.utc)
        return abs(time.time() - sent.timestamp()) <= REPLAY_WINDOW_S

    def on_webhook(self, raw: bytes, headers: Mapping[str, str]) -> int:
        """Verify, dedupe, fetch the fresh order and its payments, store them with the webhook in one
        transaction, and only then say 200. Anything transient is a 429: GHL retries only that."""
        if not self.signature_ok(raw, headers.get("x-ghl-signature")):
            return 401
        try:
            hook = json.loads(raw)
        except ValueError:
            return 400
        if not isinstance(hook, dict) or not isinstance(hook.get("webhookId"), str) or not hook["webhookId"]:
            return 400
        if not self.recent(hook.get("timestamp")) or hook.get("appId") != self.settings.app_id:
            return 401  # a replay, a clock far off, or another app's webhook
        if hook.get("locationId") != self.settings.location:
            return 403
        if not self.ready.is_set():
            return 429
        webhook_id, kind = hook["webhookId"], str(hook.get("type") or "")
        order_id = hook.get("_id") if kind.startswith("Order") else hook.get("entityId")
        order_id = order_id if isinstance(order_id, str) and order_id else None
        deadline = time.monotonic() + HOOK_BUDGET_S
        lock = self.hook_locks[hash(webhook_id) % len(self.hook_locks)]
        with lock:
            try:
                if self.db.already_processed(webhook_id):
                    return 200
                order, payments = None, []
                if order_id and kind in ("OrderCreate", "OrderStatusUpdate"):
                    order = self.api.order(order_id, deadline)
                    payments = self.api.order_payments(order_id, deadline)
                with self.db.engine.begin() as conn:
                    self.db.record_webhook(conn, webhook_id, kind, order_id)
                    if order is not None:
                        self.db.upsert(conn, self.db.orders, [order_row(order)])
                        self.db.upsert(conn, self.db.payments, [payment_row(t) for t in payments])
            except sa.exc.IntegrityError:
                return 200  # another delivery of this webhook committed first
            except (ApiUnavailable, ApiRefused, sa.exc.OperationalError, ValueError) as exc:
                log.warning("webhook %s (%s) not stored: %s", webhook_id, kind, exc)
                return 429
        # Polls skip rows they wrote before; these changed under them.
        if order is not None:
            self.written.pop(("shop_orders", order["_id"]), None)
            for t in payments:
                self.written.pop(("payments", t["_id"]), None)
        log.info("webhook %s %s order %s stored", webhook_id, kind, order_id)
        return 200

    # ---- reconciliation ---------------------------------------------------------------------------

    def store_changed(self, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        fresh = [(r, json.dumps(r, sort_keys=True)) for r in rows]
        changed = [(r, text) for r, text in fresh if self.written.get((table.name, r["ghl_id"])) != text]
        if changed:
            with self.db.engine.begin() as conn:
                self.db.upsert(conn, table, [r for r, _ in changed])
            for r, text in changed:
                self.written[(table.name, r["ghl_id"])] = text
        return len(changed)

    def reconcile(self) -> int:
        """Page orders, transactions and subscriptions to the end; write what changed."""
        changed = 0
        for path, table, to_row in (("/payments/orders", self.db.orders, order_row),
                                    ("/payments/transactions", self.db.payments, payment_row),
                                    ("/payments/subscriptions", self.db.memberships, membership_row)):
            for page in self.api.pages(path):
                changed += self.store_changed(table, [to_row(item) for item in page])
        return changed

    def poll_forever(self) -> None:
        while not self.stopping.is_set():
            calls_before = self.api.calls
            try:
                changed = self.reconcile()
                if changed:
                    log.info("reconciled %d row(s)", changed)
                self.healthy_again()
            except (ApiUnavailable, ApiRefused) as exc:
                if not self.stopping.is_set():
                    log.warning("reconciliation failed: %s", exc)
                    self.failing(exc)
            except Exception:
                log.exception("reconciliation crashed")
            # Polling may use half the burst budget at most, however short POLL_SECONDS is.
            used = max(0, self.api.calls - calls_before)
            spacing = used * self.api.throttle.interval_s / max(1, self.api.throttle.burst // 2)
            self.stopping.wait(max(self.settings.poll_seconds, spacing))

    def failing(self, exc: Exception) -> None:
        """Repeated failures are an outage: ONE critical incident for it (the open row is the marker,
        so a restart does not open another), closed when GHL answers again."""
        self.failed_polls += 1
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        long_enough = time.monotonic() - self.failing_since > 3 * self.settings.poll_seconds
        if self.failed_polls >= OUTAGE_FAILURES or (self.failed_polls >= 2 and long_enough):
            try:
                if self.db.open_incident("critical", f"LeadConnector unreachable since {self.failed_polls} "
                                                     f"polls: {exc}"):
                    log.error("incident opened: LeadConnector is down")
            except sa.exc.SQLAlchemyError as db_exc:
                log.warning("could not record the incident: %s", db_exc)

    def healthy_again(self) -> None:
        self.failed_polls, self.failing_since = 0, None
        if self.db.close_incidents():
            log.info("incident closed: LeadConnector answers again")

    # ---- process ----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the schema, retrying while the database is not reachable yet."""
        give_up = time.monotonic() + 60
        while not self.stopping.is_set():
            try:
                self.db.create_schema()
                self.ready.set()
                return
            except sa.exc.OperationalError as exc:
                if time.monotonic() > give_up:
                    log.error("database unreachable: %s", exc)
                    self.stopping.set()
                    return
                log.warning("database not ready: %s", str(exc).splitlines()[0])
                self.stopping.wait(1.0)

    def run(self) -> int:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", self.settings.port), Routes)
        except OSError as exc:
            sys.stderr.write(f"sync_service: cannot listen on 127.0.0.1:{self.settings.port}: {exc}\n")
            return 2
        server.daemon_threads = True
        server.service = self  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        log.info("listening on 127.0.0.1:%d, database %s", self.settings.port,
                 self.db.url.render_as_string(hide_password=True))
        self.prepare()
        poller = threading.Thread(target=self.poll_forever, name="poll", daemon=True)
        if self.ready.is_set():
            poller.start()
        self.stopping.wait()
        server.shutdown()
        server.server_close()
        if poller.is_alive():
            poller.join(2)
        self.api.close()
        self.db.close()
        return 0 if self.ready.is_set() else 1


class Routes(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "shop-sync/2.3"

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        service: SyncService = self.server.service  # type: ignore[attr-defined]
        if self.path.split("?")[0] == "/status":
            ready = service.ready.is_set()
            return self.reply(200 if ready else 503, {"ready": ready})
        self.reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        service: SyncService = self.server.service  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0] != "/hooks/leadconnector":
            return self.reply(404, {"error": "not found"})
        try:
            status = service.on_webhook(raw, {k.lower(): v for k, v in self.headers.items()})
        except Exception:
            log.exception("webhook handling crashed")
            status = 500
        self.reply(status, {"status": status})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug(format, *args)


def main(service_class: type[SyncService] = SyncService) -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s shop-sync %(levelname)s %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = Settings.from_environ(os.environ)
        service = service_class(settings)
    except ConfigProblem as exc:
        sys.stderr.write(f"sync_service: {exc}\n")
        sys.exit(2)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        sys.stderr.write(f"sync_service: DATABASE_URL is not usable: {exc}\n")
        sys.exit(2)
    sys.exit(service.run())


if __name__ == "__main__":
    main()
