"""Reference integration client: keeps GoHighLevel (GHL) orders, transactions and subscriptions in sync
with Rankr, and turns Rankr `fulfillment.requested` events into exactly one GHL fulfillment each.
When `ACUITY_API_BASE_URL` is set it also takes Acuity Scheduling webhooks and keeps Rankr `payments`
(every GHL transaction, every Acuity appointment payment and store order) and `customers` (one per
person, merged by normalised email) in sync with both sources. When `GHL_WORKFLOW_SECRET` is set it
also takes GHL workflow webhooks (contracts/CLIENT_CONTRACT.md §7: a Payment Received workflow's Custom
Webhook, unsigned, carrying the shared secret in `X-Workflow-Secret`) and keeps a Rankr payment per GHL
transaction, polling GHL's transactions too (a workflow never redelivers a lost delivery). When the Rankr account has providers it
routes every paid order to one of them (contract §8: order routing).

Built to contracts/CLIENT_CONTRACT.md; configured only by the environment variables of its §1.
Run: `python examples/clients/reference_client.py`. Dependencies: stdlib, httpx, cryptography.

The behaviour is split into small methods so the `broken_*.py` variants can each override one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import re
import signal
import sqlite3
import ssl
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

# httpx loads its command-line tool (`httpx._main`, which imports click and rich) whenever those are
# installed, as they are beside the sandbox. A sync service never runs it, and loading it was a quarter of
# this client's start-up CPU (~70 ms; the harness starts a client per scenario). None in sys.modules makes
# that one import fail, and httpx then goes without its CLI, as it does where click is not installed.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx  # noqa: E402 - after the line above

log = logging.getLogger("reference_client")

REPLAY_WINDOW_S = 300  # GHL's recommended window, both directions
ORDER_EVENTS = ("OrderCreate", "OrderStatusUpdate")
PAGE_SIZE = 100
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.2, 5.0
WEBHOOK_BUDGET_S = 4.0  # answer (429 if need be) well before the sender gives up on the attempt
GHL_READ_ATTEMPTS = 5  # a GET's tries while GHL answers (transient 5xx, 429, dropped connections)
RECONCILE_READ_ATTEMPTS = 3  # fewer inside a pass: the next pass, an interval later, is the retry
LISTS = (("orders", "/payments/orders"), ("transactions", "/payments/transactions"),
         ("subscriptions", "/payments/subscriptions"))

# Acuity (only when ACUITY_API_BASE_URL is set)
ACUITY_PER_SECOND = 10  # Acuity allows 10 requests/s per IP: a call starts only ACUITY_WINDOW_S after
ACUITY_WINDOW_S = 1.01  # the call ACUITY_PER_SECOND calls before it ENDED (see AcuityLimiter)
ACUITY_MIN_GAP_S = 0.02
ACUITY_CONNECTIONS = 4  # ... and 20 concurrent connections
ACUITY_WEBHOOK_BUDGET_S = 7.0  # answer before the sender's 10 s timeout
ACUITY_BACKOFF_BASE_S, ACUITY_BACKOFF_CAP_S = 0.25, 5.0
ACUITY_MAX = 100  # Acuity's default `max`; a window that returns this many is split
ACUITY_WINDOW_DAYS = 1096  # one window for the whole range (split where it comes back full)
ACUITY_ORDERS_MAX = 1000
ACUITY_POLL_SHARE = 0.5  # polling (its listing, not the repairs it finds) averages at most half the budget
ACUITY_POLL_QUIET_S = 0.5  # a poll waits until webhook work has made no call for this long ...
ACUITY_POLL_DEFER_S = 10.0  # ... but never longer than this
ACUITY_FETCH_CACHE = 10_000  # appointments whose last fetch (and payments) are kept in memory
ACUITY_SEED_EPOCH = date(2026, 10, 1)  # the sandbox seeds around this date as well as around today
ACUITY_ACTIONS = ("scheduled", "rescheduled", "canceled", "changed")
ACUITY_PAID_ORDERS = ("paid", "delivered")
GHL_COUNTED_STATUSES = ("succeeded", "refunded")  # a transaction that took money (minus its refunds)


# Order routing (contract §8)
ROUTING_PROVIDER_EVENTS = ("provider.unavailable", "provider.available")


def routing_address(snapshot: Any) -> dict[str, str]:
    """The order's address as routing compares it (an order's `contactSnapshot`: `postal_code`, or a
    webhook's `postalCode`): upper-case, no spaces."""
    snap = snapshot if isinstance(snapshot, dict) else {}

    def norm(value: Any) -> str:
        return "".join(str(value or "").split()).upper()

    return {"country": norm(snap.get("country")), "state": norm(snap.get("state")),
            "postalCode": norm(snap.get("postal_code", snap.get("postalCode")))}


def area_covers(area: Any, address: dict[str, str]) -> bool:
    """Country equal; state equal when the area names one; the postal code starts with one of the prefixes
    when the area lists any."""
    if not isinstance(area, dict) or not address.get("country"):
        return False
    norm = routing_address({"country": area.get("country"), "state": area.get("state")})
    if norm["country"] != address["country"] or (norm["state"] and norm["state"] != address["state"]):
        return False
    prefixes = ["".join(str(p).split()).upper() for p in area.get("postalCodePrefixes") or [] if str(p).strip()]
    return not prefixes or any(address["postalCode"].startswith(p) for p in prefixes)


def provider_covers(provider: dict[str, Any], address: dict[str, str]) -> bool:
    return any(area_covers(a, address) for a in provider.get("serviceAreas") or [])


def provider_takes_orders(provider: dict[str, Any]) -> bool:
    """Switched on, inside an availability window now, capacity left today (as Rankr reports it)."""
    try:
        remaining = int(provider.get("remainingToday", 0))
    except (TypeError, ValueError):
        remaining = 0
    return provider.get("available") is not False and provider.get("availableNow") is not False and remaining > 0


class Unavailable(Exception):
    """GHL or Rankr failed (5xx, 429, connection error, timeout, budget spent): try again later."""

    def __init__(self, message: str, service: str = "") -> None:
        super().__init__(message)
        self.service = service


class Refused(Exception):
    """A non-retryable 4xx answer."""

    def __init__(self, service: str, response: httpx.Response) -> None:
        super().__init__(f"{service} {response.request.method} {response.request.url.path} -> "
                         f"{response.status_code} {response.text[:300]}")
        self.service, self.response = service, response


@dataclass(frozen=True)
class Config:
    ghl_base: str
    ghl_token: str
    location_id: str
    api_version: str
    app_id: str
    ed25519_pem: str
    rsa_pem: str
    rankr_base: str
    rankr_key: str
    rankr_secret: str
    port: int
    state_dir: str
    reconcile_interval: float
    acuity_base: str = ""  # "" = no Acuity: the client then behaves exactly as before
    acuity_user_id: str = ""
    acuity_api_key: str = ""
    workflow_secret: str = ""  # "" = no GHL workflow webhooks (the client then behaves exactly as before)

    @classmethod
    def from_env(cls, env: Any = os.environ) -> Config:
        return cls(
            ghl_base=env["GHL_API_BASE_URL"].rstrip("/"), ghl_token=env["GHL_ACCESS_TOKEN"],
            location_id=env["GHL_LOCATION_ID"], api_version=env.get("GHL_API_VERSION", "2021-07-28"),
            app_id=env["GHL_APP_ID"], ed25519_pem=env.get("GHL_WEBHOOK_PUBLIC_KEY", ""),
            rsa_pem=env.get("GHL_WEBHOOK_RSA_PUBLIC_KEY", ""), rankr_base=env["RANKR_API_BASE_URL"].rstrip("/"),
            rankr_key=env["RANKR_API_KEY"], rankr_secret=env["RANKR_WEBHOOK_SECRET"],
            port=int(env["CLIENT_PORT"]), state_dir=env["CLIENT_STATE_DIR"],
            reconcile_interval=float(env.get("CLIENT_RECONCILE_INTERVAL", "60")),
            acuity_base=env.get("ACUITY_API_BASE_URL", "").rstrip("/"),
            acuity_user_id=env.get("ACUITY_USER_ID", ""), acuity_api_key=env.get("ACUITY_API_KEY", ""),
            workflow_secret=env.get("GHL_WORKFLOW_SECRET", ""))


# ---- Acuity helpers (pure) ------------------------------------------------------------------------


def acuity_signature(key: str, body: bytes) -> str:
    """`X-Acuity-Signature`: base64 of HMAC-SHA256 over the exact body bytes, keyed by the API key."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def normalise_email(email: Any) -> str:
    return str(email or "").strip().lower()


def money_minor(value: Any) -> int:
    """Acuity money is a decimal string ("10.00"); GHL's a JSON number. Both to integer cents."""
    try:
        return int((Decimal(str(value if value not in (None, "") else "0")) * 100).to_integral_value())
    except (InvalidOperation, ValueError, OverflowError):
        return 0


def minor_to_major(minor: int) -> float:
    return round(minor / 100, 2)


def acuity_iso(value: Any) -> str:
    """Acuity's `2016-01-22T09:27:51-0800` (colon-less offset) as strict ISO-8601."""
    text = str(value or "")
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(text, fmt).isoformat()
    return text


def acuity_order_time(value: Any, zone: str) -> str:
    """An order's `time` ("2014-09-23 14:22", local, no zone) as ISO-8601 in the account's zone."""
    try:
        at = datetime.strptime(str(value or ""), "%Y-%m-%d %H:%M")
    except ValueError:
        return str(value or "")
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        at = at.replace(tzinfo=ZoneInfo(zone)) if zone else at
    return at.isoformat()


def acuity_action(value: Any) -> str:
    """Static webhooks say `scheduled`, dynamic ones (may) say `appointment.scheduled`: one vocabulary."""
    return str(value or "").removeprefix("appointment.")


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        with contextlib.suppress(ValueError):
            return date(year, month, min(day.day, last))
    raise ValueError(day)


def reconcile_range(today: date) -> tuple[date, date]:
    """6 months either side of today AND of the sandbox's seed epoch (its seed spreads around both)."""
    anchors = (today, ACUITY_SEED_EPOCH)
    return min(add_months(a, -6) for a in anchors), max(add_months(a, 6) for a in anchors)


def date_windows(start: date, end: date, days: int = ACUITY_WINDOW_DAYS) -> list[tuple[date, date]]:
    """Contiguous inclusive windows [lo, hi] covering start..end (Acuity's minDate/maxDate are inclusive)."""
    windows, lo = [], start
    while lo <= end:
        hi = min(end, lo + timedelta(days=days - 1))
        windows.append((lo, hi))
        lo = hi + timedelta(days=1)
    return windows


def split_window(lo: date, hi: date) -> list[tuple[date, date]]:
    """Two halves of a window that came back full; [] for a single day (it cannot be split)."""
    if lo >= hi:
        return []
    mid = lo + timedelta(days=(hi - lo).days // 2)
    return [(lo, mid), (mid + timedelta(days=1), hi)]


def is_edge_403(response: httpx.Response) -> bool:
    """Acuity's undocumented edge throttle: a 403 whose body is an HTML page, not the JSON envelope."""
    return response.status_code == 403 and ("html" in response.headers.get("content-type", "")
                                             or response.text.rstrip().lower().endswith("</html>"))


# ---- durable state --------------------------------------------------------------------------------


class State:
    """Key/value state in one SQLite file (`$CLIENT_STATE_DIR/client.sqlite3`). Every `put` is committed
    with `synchronous=FULL` (fsync'd) before it returns, so it survives `kill -9`.
    Namespaces: `webhook` (webhookId -> its Rankr event, done), `written` (kind:id -> hash and updatedAt
    of the body last PUT to Rankr), `fulfillment` (Rankr eventId -> fulfillments before, done), `meta`."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT, key TEXT, value TEXT, PRIMARY KEY (ns, key))")

    def get(self, ns: str, key: str) -> Any:
        with self.lock:
            row = self.db.execute("SELECT value FROM kv WHERE ns = ? AND key = ?", (ns, key)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, ns: str, key: str, value: Any) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)",
                            (ns, key, json.dumps(value, sort_keys=True)))

    def delete(self, ns: str, key: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM kv WHERE ns = ? AND key = ?", (ns, key))

    def close(self) -> None:
        with self.lock:
            self.db.close()


class People:
    """What the client knows about each person, durably (table `people` in the state file): one row per
    GHL contact, Acuity client email (as Acuity shows it) and payment, each filed under the person it
    belongs to (the merge key: the normalised email). A Rankr customer is computed from its rows."""

    def __init__(self, state: State) -> None:
        self.state = state
        with state.lock:
            state.db.execute("CREATE TABLE IF NOT EXISTS people (kind TEXT, ref TEXT, person TEXT, data TEXT, "
                             "PRIMARY KEY (kind, ref))")
            state.db.execute("CREATE INDEX IF NOT EXISTS people_person ON people (person)")

    def note(self, kind: str, ref: str, person: str, data: dict[str, Any]) -> set[str]:
        """Record a row; return the persons whose customer record may have changed (none if nothing did)."""
        value = json.dumps(data, sort_keys=True)
        with self.state.lock:
            row = self.state.db.execute("SELECT person, data FROM people WHERE kind = ? AND ref = ?",
                                        (kind, ref)).fetchone()
            if row and row[0] == person and row[1] == value:
                return set()
            self.state.db.execute("INSERT OR REPLACE INTO people (kind, ref, person, data) VALUES (?, ?, ?, ?)",
                                  (kind, ref, person, value))
        return {person} | ({row[0]} if row else set())

    def rows(self, person: str) -> list[tuple[str, str, dict[str, Any]]]:
        with self.state.lock:
            found = self.state.db.execute("SELECT kind, ref, data FROM people WHERE person = ? ORDER BY kind, ref",
                                          (person,)).fetchall()
        return [(kind, ref, json.loads(data)) for kind, ref, data in found]

    def persons(self) -> list[str]:
        with self.state.lock:
            return [r[0] for r in self.state.db.execute("SELECT DISTINCT person FROM people ORDER BY person")]


# ---- GHL rate limits ------------------------------------------------------------------------------


class RateLimiter:
    """Shared by every thread: one GHL call at a time (so a 429 stops every call after it), within the
    burst budget that `X-RateLimit-Remaining` reports. When the budget is spent we wait until the
    server's window is surely over (`X-RateLimit-Interval-Milliseconds` after it started); after a 429,
    that interval from the 429. When the budget is unknown (start, after a pause), one call probes it."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.busy = False  # a call is in flight
        self.remaining: int | None = None  # calls left in the server's current window
        self.window_start = 0.0  # latest moment that window can have started
        self.blocked_until = 0.0
        self.interval_s = 10.0
        self.max = 100

    def _wait(self, now: float) -> float | None:
        """Seconds to wait before calling: 0 to go now, None until the call in flight ends."""
        if self.busy:
            return None
        if self.blocked_until > now:
            return self.blocked_until - now
        if self.remaining is not None and self.remaining <= 0:
            window_end = self.window_start + self.interval_s + 0.1
            if now < window_end:
                return window_end - now
            self.remaining = None  # that window is over: probe the next one
        return 0.0

    def acquire(self, deadline: float | None = None) -> None:
        with self.cond:
            while (wait := self._wait(now := time.monotonic())) != 0.0:
                if deadline is not None and now + (wait or 0.0) >= deadline:
                    raise Unavailable("GHL rate limit: no budget before the deadline", "GHL")
                self.cond.wait(wait if wait is not None or deadline is None else deadline - now)
            self.busy = True
            if self.remaining is not None:
                self.remaining -= 1

    def release(self, response: httpx.Response | None) -> None:
        with self.cond:
            self.busy = False
            now = time.monotonic()
            if response is not None:
                h = response.headers
                with contextlib.suppress(ValueError):
                    self.interval_s = int(h.get("x-ratelimit-interval-milliseconds", "")) / 1000.0
                with contextlib.suppress(ValueError):
                    self.max = int(h.get("x-ratelimit-max", ""))
                with contextlib.suppress(ValueError):
                    left = int(h.get("x-ratelimit-remaining", ""))
                    if self.remaining is None or left > self.remaining:
                        self.window_start = now  # a new window: it started with this call at the latest
                    self.remaining = left
                if response.status_code == 429:
                    self.blocked_until = max(self.blocked_until, now + self.interval_s)
                    self.remaining = None
            self.cond.notify_all()

    def wait_unblocked(self, deadline: float | None) -> None:
        with self.cond:
            while (left := self.blocked_until - time.monotonic()) > 0:
                if deadline is not None and time.monotonic() + left > deadline:
                    raise Unavailable("GHL rate limit: no budget before the deadline", "GHL")
                self.cond.wait(left)


# ---- Acuity rate limits ---------------------------------------------------------------------------


class AcuityLimiter:
    """Acuity allows 10 requests per second (and 20 connections) per IP. A call starts only ACUITY_WINDOW_S
    after the call ACUITY_PER_SECOND calls before it ENDED (its answer came back), across every thread, and
    at least ACUITY_MIN_GAP_S after the previous one. Acuity saw that earlier call start before its answer
    came back and sees this one start after it is sent, so any ACUITY_PER_SECOND + 1 calls in a row start
    more than a second apart at Acuity whatever the delays in between (a slow network or a stalled server
    slows the client down instead of squeezing its calls together). After a 429 (or the edge's HTML 403)
    nobody calls until the backoff is over. Webhook work (`urgent`) goes before polling."""

    def __init__(self, per_second: int = ACUITY_PER_SECOND) -> None:
        self.cond = threading.Condition()
        self.calls: deque[list[float]] = deque(maxlen=per_second)  # [end time] of each call; inf in flight
        self.next_at = 0.0
        self.blocked_until = 0.0
        self.urgent_waiting = 0
        self.last_urgent = float("-inf")  # when webhook work last got its turn

    def _wait(self, now: float) -> float:
        """Seconds until a call may start (inf: the call it waits for is still in flight)."""
        full = self.calls[0][0] + ACUITY_WINDOW_S if len(self.calls) == self.calls.maxlen else 0.0
        return max(self.next_at, self.blocked_until, full) - now

    def acquire(self, deadline: float | None = None, urgent: bool = False) -> list[float]:
        """Wait for a turn; the call's slot, to hand to `finished` when its answer (or error) is in."""
        with self.cond:
            if urgent:
                self.urgent_waiting += 1
            try:
                while True:
                    now = time.monotonic()
                    yielding = not urgent and self.urgent_waiting > 0
                    wait = 0.2 if yielding else self._wait(now)
                    if not yielding and wait <= 0:
                        slot = [float("inf")]
                        self.calls.append(slot)
                        self.next_at = now + ACUITY_MIN_GAP_S
                        return slot
                    if deadline is not None and now + wait >= deadline:
                        if wait == float("inf") and now < deadline:  # the earlier call may end in time
                            self.cond.wait(deadline - now)
                            continue
                        raise Unavailable("Acuity rate limit: no budget before the deadline", "Acuity")
                    self.cond.wait(min(wait, 0.5))  # `finished` and `throttled` wake the waiters
            finally:
                if urgent:
                    self.urgent_waiting -= 1
                    self.last_urgent = time.monotonic()
                    self.cond.notify_all()

    def finished(self, slot: list[float]) -> None:
        """The call of `slot` has its answer (or failed): the window of the calls after it counts from now."""
        with self.cond:
            slot[0] = time.monotonic()
            self.cond.notify_all()

    def throttled(self, seconds: float) -> None:
        """The server said slow down: every caller waits `seconds`."""
        with self.cond:
            self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)
            self.cond.notify_all()

    def busy_for(self) -> float:
        """Seconds since webhook work last started a call or waited for its turn (0: it is waiting now)."""
        with self.cond:
            return 0.0 if self.urgent_waiting else time.monotonic() - self.last_urgent


@dataclass
class AcuityFetch:
    """What one fetch of an appointment brought: `covers` the number of the last delivery (of any) that had
    arrived when the fetch was sent (a later one needs a fetch of its own), the appointment, its payments."""

    covers: int
    appointment: dict[str, Any]
    payments: list[dict[str, Any]]


# ---- the client -----------------------------------------------------------------------------------


class ReferenceClient:
    def __init__(self, config: Config) -> None:
        self.cfg = config
        self.stopping = threading.Event()
        self.state = self.make_state()
        self.limiter = self.make_limiter()
        tls = self.tls_context(config.ghl_base, config.rankr_base, config.acuity_base or "")
        self.ghl_http = httpx.Client(base_url=config.ghl_base, timeout=10.0, verify=tls)
        self.rankr_http = httpx.Client(base_url=config.rankr_base, timeout=10.0, verify=tls)
        self.ed25519_key = self._load_key(config.ed25519_pem, ed25519.Ed25519PublicKey)
        self.rsa_key = self._load_key(config.rsa_pem, rsa.RSAPublicKey)
        # Striped locks, one pool per purpose (a thread holds a webhook lock while taking record locks).
        self.webhook_locks = [threading.Lock() for _ in range(64)]
        self.record_locks = [threading.Lock() for _ in range(64)]
        self.fulfillment_lock = threading.Lock()
        self.routing_lock = threading.RLock()  # one routing decision at a time: capacity is read, then taken
        self.ghl_calls = 0
        self.failed_reconciles = 0
        self.server: ThreadingHTTPServer | None = None
        self.active = 0  # requests being handled
        self.active_lock = threading.Lock()
        # Acuity, payments and customers (only with ACUITY_API_BASE_URL)
        self.acuity_enabled = bool(config.acuity_base)
        self.acuity_limiter = self.make_acuity_limiter()
        self.acuity_http = httpx.Client(
            base_url=config.acuity_base or "http://127.0.0.1", auth=(config.acuity_user_id, config.acuity_api_key),
            timeout=10.0, limits=httpx.Limits(max_connections=ACUITY_CONNECTIONS), verify=tls)
        self.acuity_calls = 0
        self.acuity_repair_calls = 0  # polling's fetches of what changed unannounced (a lost delivery's work)
        self.acuity_me: dict[str, Any] | None = None
        self.people = People(self.state)
        self.appointment_locks = [threading.Lock() for _ in range(64)]
        self.person_locks = [threading.Lock() for _ in range(64)]
        # Acuity deliveries numbered as they arrive, and each appointment's last fetch: deliveries that arrive
        # while a fetch waits for its turn share it (see sync_acuity_appointment).
        self.acuity_arrived = 0
        self.acuity_fetched: OrderedDict[int, AcuityFetch] = OrderedDict()
        self.acuity_fetch_lock = threading.Lock()
        self.workflows_enabled = bool(config.workflow_secret)

    @staticmethod
    def tls_context(*bases: str) -> ssl.SSLContext:
        """One verifying TLS context for all three clients, with the system's CAs when any base URL is
        https. With plain http bases (a local sandbox) the CAs are not loaded at all: reading them takes
        ~25 ms of CPU per client, a tenth of a start-up, and the harness starts a client per scenario.
        Such a context still verifies, so an https call made with it fails instead of trusting anyone."""
        if any(base.startswith("https:") for base in bases):
            return ssl.create_default_context()
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    def make_state(self) -> State:
        return State(os.path.join(self.cfg.state_dir, "client.sqlite3"))

    def make_limiter(self) -> RateLimiter:
        return RateLimiter()

    def make_acuity_limiter(self) -> AcuityLimiter:
        return AcuityLimiter()

    @staticmethod
    def _load_key(pem: str, kind: type) -> Any:
        if not pem.strip():
            return None
        key = serialization.load_pem_public_key(pem.encode())
        return key if isinstance(key, kind) else None

    @staticmethod
    def lock_for(pool: list[threading.Lock], key: str) -> threading.Lock:
        return pool[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(pool)]

    # ---- HTTP discipline ------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """200 ms, 400 ms, 800 ms ... capped at 5 s, with up to +50% jitter (the gaps still grow)."""
        return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt * random.uniform(1.0, 1.5))

    def pause(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None and time.monotonic() + seconds > deadline:
            raise Unavailable("retry budget spent")
        if self.stopping.wait(seconds):
            raise Unavailable("shutting down")

    @staticmethod
    def timeout(deadline: float | None) -> float:
        return 10.0 if deadline is None else max(0.1, min(10.0, deadline - time.monotonic()))

    def ghl_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.cfg.ghl_token}", "Version": self.cfg.api_version,
                "Accept": "application/json"}

    def alt(self) -> dict[str, str]:
        return {"altId": self.cfg.location_id, "altType": "location"}

    def ghl(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
            deadline: float | None = None, attempts: int = GHL_READ_ATTEMPTS) -> httpx.Response:
        """One GHL call. GETs are retried (backoff + jitter) on 5xx, 429 and connection errors, but
        tried once while GHL is down (the last reconciliation failed): a webhook is then answered at
        once, for GHL to retry later, instead of holding the delivery through a backoff that cannot
        help. A POST is tried once (the caller decides how to retry it)."""
        if method != "GET" or self.failed_reconciles:
            attempts = 1
        error = ""
        for attempt in range(attempts):
            if attempt:
                if error.startswith("429"):
                    self.limiter.wait_unblocked(deadline)  # the advertised interval, then the backoff
                self.pause(self.backoff(attempt - 1), deadline)
            self.limiter.acquire(deadline)
            response = None
            try:
                self.ghl_calls += 1
                response = self.ghl_http.request(method, path, params=params, json=body, headers=self.ghl_headers(),
                                                 timeout=self.timeout(deadline))
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            finally:
                self.limiter.release(response)
            if response is None:
                continue
            if response.status_code == 429 or response.status_code >= 500:
                error = f"{response.status_code} {response.text[:200]}"
                continue
            if response.status_code >= 400:
                raise Refused("GHL", response)
            return response
        raise Unavailable(f"GHL {method} {path}: {error}", "GHL")

    def idempotency_headers(self, key: str | None) -> dict[str, str]:
        return {"Idempotency-Key": key} if key else {}

    def rankr(self, method: str, path: str, body: dict[str, Any] | None, key: str | None = None,
              deadline: float | None = None, attempts: int = 4) -> httpx.Response:
        """One Rankr call. PUTs are idempotent and POSTs carry an Idempotency-Key, so both are retried."""
        headers = {"Authorization": f"Bearer {self.cfg.rankr_key}", **self.idempotency_headers(key)}
        error = ""
        for attempt in range(attempts):
            if attempt:
                self.pause(self.backoff(attempt - 1), deadline)
            try:
                response = self.rankr_http.request(method, path, json=body, headers=headers,
                                                   timeout=self.timeout(deadline))
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                error = f"{response.status_code} {response.text[:200]}"
                with contextlib.suppress(ValueError):
                    self.pause(min(float(response.headers.get("retry-after", "0")), BACKOFF_CAP_S), deadline)
                continue
            if response.status_code == 409 and key:
                return response  # this key was used before, with an earlier delivery's body: recorded
            if response.status_code >= 400:
                raise Refused("Rankr", response)
            return response
        raise Unavailable(f"Rankr {method} {path}: {error}", "Rankr")

    # ---- GHL reads ------------------------------------------------------------------------------

    def more_pages(self, fetched: int, total: int, page: list[Any]) -> bool:
        return bool(page) and fetched < total

    def list_all(self, path: str, params: dict[str, Any] | None = None,
                 deadline: float | None = None, attempts: int = GHL_READ_ATTEMPTS) -> list[dict[str, Any]]:
        """Every item of a GHL list, paging with `limit`/`offset` until `totalCount`."""
        items: list[dict[str, Any]] = []
        while True:
            query = {**self.alt(), **(params or {}), "limit": PAGE_SIZE, "offset": len(items)}
            answer = self.ghl("GET", path, params=query, deadline=deadline, attempts=attempts).json()
            page = answer.get("data") or []
            items.extend(page)
            if not self.more_pages(len(items), int(answer.get("totalCount") or 0), page):
                return items

    def get_order(self, order_id: str, deadline: float | None = None) -> dict[str, Any]:
        return self.ghl("GET", f"/payments/orders/{order_id}", params=self.alt(), deadline=deadline).json()

    def list_fulfillments(self, order_id: str, deadline: float | None = None) -> list[dict[str, Any]]:
        answer = self.ghl("GET", f"/payments/orders/{order_id}/fulfillments", params=self.alt(), deadline=deadline)
        return answer.json().get("data") or []

    # ---- Rankr writes ---------------------------------------------------------------------------

    @staticmethod
    def rankr_body(kind: str, r: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if kind == "orders":
            return r["_id"], {"orderId": r["_id"], "source": "ghl", "status": r.get("status") or "",
                              "fulfillmentStatus": r.get("fulfillmentStatus") or "", "amount": r.get("amount", 0),
                              "currency": r.get("currency") or "", "contactId": r.get("contactId") or "",
                              "updatedAt": r.get("updatedAt") or ""}
        if kind == "transactions":
            return r["_id"], {"transactionId": r["_id"], "orderId": r.get("entityId") or "",
                              "status": r.get("status") or "", "amount": r.get("amount", 0),
                              "amountRefunded": r.get("amountRefunded") or 0, "currency": r.get("currency") or "",
                              "updatedAt": r.get("updatedAt") or ""}
        return r["_id"], {"subscriptionId": r["_id"], "status": r.get("status") or "", "amount": r.get("amount", 0),
                          "currency": r.get("currency") or "", "updatedAt": r.get("updatedAt") or ""}

    def upsert(self, kind: str, record: dict[str, Any], deadline: float | None = None) -> bool:
        """PUT the record unless Rankr already has this body, or a newer one (out-of-order safety)."""
        record_id, body = self.rankr_body(kind, record)
        key = f"{kind}:{record_id}"
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock_for(self.record_locks, key):
            last = self.state.get("written", key)
            if last and (last["hash"] == digest or body["updatedAt"] < last["updatedAt"]):
                return False
            self.rankr("PUT", f"/v1/{kind}/{record_id}", body, deadline=deadline)
            self.state.put("written", key, {"hash": digest, "updatedAt": body["updatedAt"]})
            return True

    def sync_order(self, order_id: str, deadline: float | None = None) -> dict[str, Any]:
        """The fresh order from GHL and its transactions (no webhooks for those: poll them); the order."""
        order = self.get_order(order_id, deadline)
        self.upsert("orders", order, deadline)
        transactions = self.list_all("/payments/transactions", {"entityId": order_id}, deadline)
        for txn in transactions:
            self.upsert("transactions", txn, deadline)
        if self.acuity_enabled:
            self.sync_people_ghl([order], transactions, deadline)
        return order

    def alert(self, severity: str, message: str, key: str, order_id: str | None = None,
              deadline: float | None = None) -> None:
        body = {"severity": severity, "message": message, **({"orderId": order_id} if order_id else {})}
        self.rankr("POST", "/v1/alerts", body, key=key, deadline=deadline)

    # ---- GHL webhooks ---------------------------------------------------------------------------

    def verify_ghl_signature(self, raw: bytes, headers: Any) -> bool:
        """`x-ghl-signature` (Ed25519) when present, else the legacy `x-wh-signature` (RSA-SHA256)."""
        try:
            if headers.get("x-ghl-signature"):
                if self.ed25519_key is None:
                    return False
                self.ed25519_key.verify(base64.b64decode(headers["x-ghl-signature"], validate=True), raw)
                return True
            if headers.get("x-wh-signature") and self.rsa_key is not None:
                self.rsa_key.verify(base64.b64decode(headers["x-wh-signature"], validate=True), raw,
                                    padding.PKCS1v15(), hashes.SHA256())
                return True
        except (InvalidSignature, ValueError):
            return False
        return False

    def is_fresh(self, timestamp: Any) -> bool:
        try:
            at = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
        except ValueError:
            return False
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        return abs(time.time() - at.timestamp()) <= REPLAY_WINDOW_S

    def webhook_seen(self, webhook_id: str) -> bool:
        entry = self.state.get("webhook", webhook_id)
        return bool(entry and entry.get("done"))

    def event_for(self, webhook_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The Rankr event of a webhook. Kept durably from the first attempt so a retry (whose `timestamp`
        differs) reuses the same body under the same Idempotency-Key."""
        entry = self.state.get("webhook", webhook_id)
        if entry:
            return entry["event"]
        order_id = payload.get("_id") if payload.get("type") in ORDER_EVENTS else payload.get("entityId")
        event = {"eventId": webhook_id, "eventType": str(payload.get("type") or ""), "orderId": str(order_id or ""),
                 "source": "ghl", "timestamp": str(payload.get("timestamp"))}
        self.state.put("webhook", webhook_id, {"event": event, "done": False})
        return event

    def mark_webhook_seen(self, webhook_id: str, event: dict[str, Any]) -> None:
        self.state.put("webhook", webhook_id, {"event": event, "done": True})

    def sync_failed_status(self, exc: Exception) -> int:
        """GHL retries only a 429: ask for a retry (reconciliation repairs the rest)."""
        return 429

    def handle_ghl_webhook(self, raw: bytes, headers: Any) -> int:
        if not self.verify_ghl_signature(raw, headers):
            return 401
        try:
            payload = json.loads(raw)
        except ValueError:
            return 400
        if not isinstance(payload, dict) or not isinstance(payload.get("webhookId"), str):
            return 400
        if not self.is_fresh(payload.get("timestamp")):
            return 401  # a replay, or a clock far off
        if payload.get("appId") != self.cfg.app_id:
            return 401
        if payload.get("locationId") != self.cfg.location_id:
            return 403
        webhook_id = payload["webhookId"]
        deadline = time.monotonic() + WEBHOOK_BUDGET_S
        with self.lock_for(self.webhook_locks, webhook_id):
            if self.webhook_seen(webhook_id):
                return 200
            order = None
            try:
                if payload.get("type") in ORDER_EVENTS and isinstance(payload.get("_id"), str):
                    order = self.sync_order(payload["_id"], deadline)
                event = self.event_for(webhook_id, payload)
                self.rankr("POST", "/v1/events", event, key=webhook_id, deadline=deadline)
            except (Unavailable, Refused) as exc:
                log.warning("webhook %s not synced: %s", webhook_id, exc)
                return self.sync_failed_status(exc)
            self.mark_webhook_seen(webhook_id, event)
        if order is not None:
            self.route_after_sync(order, deadline)
        return 200

    # ---- Rankr fulfillment.requested ------------------------------------------------------------

    def verify_rankr_signature(self, raw: bytes, headers: Any) -> bool:
        given = headers.get("x-rankr-signature") or ""
        expected = "sha256=" + hmac.new(self.cfg.rankr_secret.encode(), raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.strip().encode(), expected.encode())

    def fulfillment_record(self, event_id: str) -> dict[str, Any] | None:
        return self.state.get("fulfillment", event_id)

    @staticmethod
    def quantities(items: list[dict[str, Any]] | None, id_key: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for item in items or []:
            out[str(item.get(id_key) or (item.get("price") or {}).get("_id"))] += item.get("qty") or 0
        return out

    def fulfillment_happened(self, record: dict[str, Any], wanted: Counter[str],
                             fulfillments: list[dict[str, Any]]) -> bool:
        """Did an earlier attempt, whose answer was lost, create it? A fulfillment that was not there
        before our first attempt and has exactly the requested items."""
        baseline = set(record.get("baseline") or [])
        return any(f.get("_id") not in baseline and self.quantities(f.get("items"), "_id") == wanted
                   for f in fulfillments)

    def handle_rankr_event(self, raw: bytes, headers: Any) -> int:
        if not self.verify_rankr_signature(raw, headers):
            return 401
        try:
            event = json.loads(raw)
        except ValueError:
            return 400
        if not isinstance(event, dict) or not isinstance(event.get("eventId"), str):
            return 400
        if event.get("eventType") in ROUTING_PROVIDER_EVENTS:
            return self.handle_provider_event(event)
        if event.get("eventType") != "fulfillment.requested":
            return 200  # nothing to do for other event types
        if not re.fullmatch(r"[0-9a-f]{24}", str(event.get("orderId"))) or not isinstance(event.get("items"), list):
            return 400  # not a GHL order id: asking GHL would only earn a 4xx
        deadline = time.monotonic() + WEBHOOK_BUDGET_S
        with self.fulfillment_lock:
            try:
                self.fulfill(event, deadline)
            except (Unavailable, Refused) as exc:
                log.warning("fulfillment %s not done: %s", event["eventId"], exc)
                return 503
        return 200

    def fulfill(self, event: dict[str, Any], deadline: float) -> None:
        event_id, order_id = event["eventId"], event["orderId"]
        wanted = self.quantities(event["items"], "priceId")
        record = self.fulfillment_record(event_id)
        if record and record.get("done"):
            return
        existing = self.list_fulfillments(order_id, deadline)
        if record is None:
            record = {"baseline": [f.get("_id") for f in existing], "done": False}
            self.state.put("fulfillment", event_id, record)  # durable before the first POST
        elif self.fulfillment_happened(record, wanted, existing):
            return self.mark_fulfilled(event_id, record)
        problem = self.fulfillment_problem(order_id, wanted, existing, deadline)
        if problem:  # GHL would refuse it (400): do not send it, tell Rankr instead
            self.alert("warning", f"fulfillment.requested {event_id} for order {order_id} not possible: {problem}",
                       key=f"fulfillment-refused-{event_id}", order_id=order_id)
            return self.mark_fulfilled(event_id, record)
        body = {**self.alt(), "items": [{"priceId": p, "qty": q} for p, q in wanted.items()],
                "trackings": event.get("trackings") or [], "notifyCustomer": bool(event.get("notifyCustomer"))}
        for attempt in range(4):
            if attempt:
                self.pause(self.backoff(attempt - 1), deadline)
            try:
                self.ghl("POST", f"/payments/orders/{order_id}/fulfillments", body=body, deadline=deadline)
                break
            except Unavailable:  # no answer, 5xx or 429: it may or may not have been created
                if self.fulfillment_happened(record, wanted, self.list_fulfillments(order_id, deadline)):
                    break
        else:
            raise Unavailable(f"could not create the fulfillment for {event_id}", "GHL")
        self.mark_fulfilled(event_id, record)

    def fulfillment_problem(self, order_id: str, wanted: Counter[str], existing: list[dict[str, Any]],
                            deadline: float) -> str:
        ordered = self.quantities(self.get_order(order_id, deadline).get("items"), "priceId")
        done = sum((self.quantities(f.get("items"), "_id") for f in existing), Counter[str]())
        for price_id, qty in wanted.items():
            if qty <= 0 or ordered[price_id] - done[price_id] < qty:
                return f"{qty} x {price_id} requested, {max(0, ordered[price_id] - done[price_id])} unfulfilled"
        return "" if wanted else "no items"

    def mark_fulfilled(self, event_id: str, record: dict[str, Any]) -> None:
        self.state.put("fulfillment", event_id, {**record, "done": True})

    # ---- order routing (contract §8) -------------------------------------------------------------

    def list_providers(self, deadline: float | None = None, attempts: int = 4) -> list[dict[str, Any]]:
        """The account's providers ([] when it has none, or its Rankr has no providers API: no routing)."""
        try:
            answer = self.rankr("GET", "/v1/providers", None, deadline=deadline, attempts=attempts).json()
        except Refused as exc:
            if exc.response.status_code == 404:
                return []
            raise
        return [p for p in answer.get("data") or [] if isinstance(p, dict) and p.get("providerId")]

    def list_assignments(self, deadline: float | None = None) -> dict[str, dict[str, Any]]:
        answer = self.rankr("GET", "/v1/assignments", None, deadline=deadline).json()
        return {str(a["orderId"]): a for a in answer.get("data") or [] if isinstance(a, dict) and a.get("orderId")}

    def order_address(self, order_id: str, order: dict[str, Any] | None = None,
                      deadline: float | None = None) -> dict[str, str]:
        """The address typed on the order form (its `contactSnapshot`), kept durably: it never changes."""
        known = self.state.get("route_address", order_id)
        if known is not None:
            return dict(known)
        if order is None or not isinstance(order.get("contactSnapshot"), dict):
            order = self.get_order(order_id, deadline)  # list items carry no address
        address = routing_address(order.get("contactSnapshot"))
        self.state.put("route_address", order_id, address)
        return address

    def candidates(self, providers: list[dict[str, Any]], address: dict[str, str]) -> list[dict[str, Any]]:
        """The providers that can take an order at `address` now, in the order Rankr lists them."""
        return [p for p in providers if provider_covers(p, address) and provider_takes_orders(p)]

    def try_next_after_refusal(self, exc: Refused) -> bool:
        """A 409 (provider_full, provider_unavailable: our list was stale) or a 404: try the next provider."""
        return True

    def route_order(self, order_id: str, address: dict[str, str], providers: list[dict[str, Any]],
                    deadline: float | None = None) -> str:
        """Assign the order to the first eligible provider that Rankr accepts; none: one warning alert.
        Returns the provider id ("" when nobody took it). Call with `routing_lock` held."""
        for provider in self.candidates(providers, address):
            provider_id = str(provider["providerId"])
            try:
                self.rankr("PUT", f"/v1/assignments/{order_id}", {"providerId": provider_id}, deadline=deadline)
            except Refused as exc:
                if exc.service != "Rankr" or exc.response.status_code not in (404, 409):
                    raise
                log.info("order %s: provider %s refused: %s", order_id, provider_id, exc)
                provider["remainingToday"] = 0  # stale: do not offer it this order's successors either
                if not self.try_next_after_refusal(exc):
                    return ""
                continue
            with contextlib.suppress(TypeError, ValueError):
                provider["remainingToday"] = int(provider.get("remainingToday", 1)) - 1
            self.state.delete("route_alerted", order_id)
            log.info("order %s routed to provider %s", order_id, provider_id)
            return provider_id
        if self.state.get("route_alerted", order_id) is None:
            where = " ".join(v for v in (address.get("state"), address.get("postalCode"), address.get("country")) if v)
            self.alert("warning", f"routing: no eligible provider for order {order_id} ({where or 'no address'}): "
                       "no provider covering the address is available with capacity left today",
                       key=f"routing-none-{order_id}", order_id=order_id, deadline=deadline)
            self.state.put("route_alerted", order_id, True)
        return ""

    def well_placed(self, assignment: dict[str, Any] | None, providers: list[dict[str, Any]],
                    address: dict[str, str]) -> bool:
        """An existing assignment stays while its provider is switched on and covers the address."""
        if assignment is None:
            return False
        provider = next((p for p in providers if p["providerId"] == assignment.get("providerId")), None)
        return provider is not None and provider.get("available") is not False and provider_covers(provider, address)

    def unassign(self, order_id: str, deadline: float | None = None) -> None:
        try:
            self.rankr("DELETE", f"/v1/assignments/{order_id}", None, deadline=deadline)
        except Refused as exc:
            if exc.response.status_code != 404:
                raise

    def assignment_of(self, order_id: str, deadline: float | None = None) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.rankr("GET", f"/v1/assignments/{order_id}", None, deadline=deadline).json()
        except Refused as exc:
            if exc.response.status_code == 404:
                return None
            raise
        return answer

    def route_after_sync(self, order: dict[str, Any], deadline: float | None = None) -> None:
        """After a webhook: route a paid order, or drop a cancelled order's assignment (best effort:
        reconciliation repairs whatever fails here)."""
        order_id = str(order.get("_id") or "")
        cancelled = order.get("status") == "cancelled"
        if not order_id or not (cancelled or order.get("paymentStatus") == "paid"):
            return
        try:
            providers = self.list_providers(deadline, attempts=2)
            if not providers:
                return  # no providers: routing does nothing
            with self.routing_lock:
                if cancelled:
                    self.unassign(order_id, deadline)
                    return
                address = self.order_address(order_id, order, deadline)
                if not self.well_placed(self.assignment_of(order_id, deadline), providers, address):
                    self.route_order(order_id, address, providers, deadline)
        except (Unavailable, Refused) as exc:
            log.warning("routing of order %s after its webhook failed: %s", order_id, exc)

    def reconcile_routing(self, orders: list[dict[str, Any]]) -> int:
        """Every paid, uncancelled order with one well-placed assignment; none for cancelled orders."""
        try:
            providers = self.list_providers(attempts=1)
        except (Unavailable, Refused) as exc:
            log.warning("routing: cannot list providers: %s", exc)
            return 0
        if not providers:
            return 0  # no providers: routing does nothing
        changed = 0
        assignments = self.list_assignments()
        with self.routing_lock:
            for order in orders:
                order_id = str(order.get("_id") or "")
                if order.get("status") == "cancelled":
                    if order_id in assignments:
                        self.unassign(order_id)
                        changed += 1
                    continue
                if order.get("paymentStatus") != "paid":
                    continue
                address = self.order_address(order_id)
                if self.well_placed(assignments.get(order_id), providers, address):
                    continue
                changed += bool(self.route_order(order_id, address, providers))
        return changed

    def handle_provider_event(self, event: dict[str, Any]) -> int:
        """`provider.unavailable`: move that provider's orders; `provider.available`: route what waits."""
        provider_id = str(event.get("providerId") or "")
        if not provider_id:
            return 400
        if event.get("eventType") != "provider.unavailable":
            return 200  # provider.available: the next reconciliation routes the orders still waiting
        deadline = time.monotonic() + WEBHOOK_BUDGET_S
        try:
            providers = self.list_providers(deadline)
            for p in providers:  # Rankr may not have flipped it in the list we read yet: the event says so
                if p["providerId"] == provider_id:
                    p["available"] = False
            with self.routing_lock:
                for order_id, assignment in self.list_assignments(deadline).items():
                    if assignment.get("providerId") == provider_id:
                        self.route_order(order_id, self.order_address(order_id, deadline=deadline), providers,
                                         deadline)
        except (Unavailable, Refused) as exc:
            log.warning("%s %s: orders not moved: %s", event.get("eventType"), provider_id, exc)
            return 503
        return 200

    # ---- reconciliation -------------------------------------------------------------------------

    def reconcile_once(self) -> int:
        """Page every list to the end; PUT whatever differs from what Rankr last got from us."""
        changed = 0
        lists: dict[str, list[dict[str, Any]]] = {}
        for kind, path in LISTS:
            lists[kind] = self.list_all(path, attempts=RECONCILE_READ_ATTEMPTS)
            for record in lists[kind]:
                changed += self.upsert(kind, record)
        if self.acuity_enabled:  # payments and customers: GHL's side (Acuity's has its own loop)
            changed += self.sync_people_ghl(lists["orders"], lists["transactions"])
        elif self.workflows_enabled:  # payments only: what the workflow deliveries write, polled
            for txn in lists["transactions"]:
                if txn.get("_id"):
                    changed += self.record_ghl_payment(txn)
        return changed + self.reconcile_routing(lists["orders"])

    def reconcile_loop(self) -> None:
        while not self.stopping.is_set():
            calls = self.ghl_calls
            started = datetime.now(timezone.utc)
            try:
                changed = self.reconcile_once()
                if changed:
                    log.info("reconciled: %d record(s) written", changed)
                self.ghl_recovered()
            except (Unavailable, Refused) as exc:
                log.warning("reconciliation failed: %s", exc)
                if exc.service == "GHL" and not self.stopping.is_set():
                    self.ghl_failing(exc, started)
            except Exception:
                log.exception("reconciliation crashed")
            # Never use more than half the burst budget on polling, whatever the interval.
            spent = max(0, self.ghl_calls - calls) * self.limiter.interval_s / max(1, self.limiter.max // 2)
            self.stopping.wait(max(self.cfg.reconcile_interval, spent))

    def ghl_failing(self, exc: Exception, since: datetime) -> None:
        """After 5 failed reconciliations in a row, or failures for over 3 intervals: ONE critical
        alert per outage (the key names the outage's start, kept durably), and keep retrying. The
        outage starts when the first failed reconciliation did (`since`), not when it gave up."""
        self.failed_reconciles += 1
        outage = self.state.get("meta", "outage")
        if outage is None:
            outage = {"start": since.isoformat(timespec="milliseconds"), "alerted": False}
            self.state.put("meta", "outage", outage)
        if outage["alerted"]:
            return
        age = time.time() - datetime.fromisoformat(outage["start"]).timestamp()
        if self.failed_reconciles >= 5 or (self.failed_reconciles >= 2 and age > 3 * self.cfg.reconcile_interval):
            try:
                self.alert("critical", f"GHL has been failing since {outage['start']}: {exc}"[:500],
                           key=f"ghl-down-{outage['start']}")
            except (Unavailable, Refused) as alert_exc:
                log.warning("could not post the alert: %s", alert_exc)
                return
            self.state.put("meta", "outage", {**outage, "alerted": True})

    def ghl_recovered(self) -> None:
        self.failed_reconciles = 0
        if self.state.get("meta", "outage") is not None:
            self.state.delete("meta", "outage")

    def start_background(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.reconcile_loop, name="reconcile", daemon=True)]
        if self.acuity_enabled:
            threads.append(threading.Thread(target=self.acuity_reconcile_loop, name="reconcile-acuity", daemon=True))
        for thread in threads:
            thread.start()
        return threads

    # ---- Rankr payments and customers (with Acuity) -----------------------------------------------

    def put_if_changed(self, kind: str, record_id: str, body: dict[str, Any], deadline: float | None = None) -> bool:
        """PUT a Rankr payment or customer unless Rankr already has this body (`updatedAt` aside). This,
        not the delivery, is what dedupes Acuity webhooks: they carry no delivery id, and `changed` after
        `scheduled` (or a second `changed` after an edit) must still be looked at, so every delivery is
        fetched and only what differs from the durable record of the last write is written."""
        key = f"{kind}:{record_id}"
        digest = hashlib.sha256(json.dumps({k: v for k, v in body.items() if k != "updatedAt"},
                                           sort_keys=True).encode()).hexdigest()
        with self.lock_for(self.record_locks, key):
            last = self.state.get("written", key)
            if last and last.get("hash") == digest:
                return False
            self.rankr("PUT", f"/v1/{kind}/{quote(record_id, safe='')}", body, deadline=deadline)
            self.state.put("written", key, {"hash": digest, "updatedAt": ""})
            return True

    def merge_key(self, email: Any, first: Any, last: Any) -> str:
        """The customer a contact, client or payment belongs to: its normalised email ("" = none)."""
        return normalise_email(email)

    def note_person(self, kind: str, ref: str, email: Any, first: Any, last: Any, **extra: Any) -> set[str]:
        data = {"email": normalise_email(email), "first": str(first or "").strip(), "last": str(last or "").strip(),
                **extra}
        return self.people.note(kind, ref, self.merge_key(email, first, last), data)

    def default_currency(self) -> str:
        return str((self.acuity_me or {}).get("currency") or "USD")

    def customer_body(self, person: str) -> dict[str, Any] | None:
        rows = self.people.rows(person)
        if not person or not rows:
            return None
        contacts = [d for kind, _, d in rows if kind == "ghl_contact"]
        clients = [d for kind, _, d in rows if kind == "acuity_client"]
        payments = [d for kind, _, d in rows if kind == "payment"]
        named = next(d for d in (*contacts, *clients, *payments))
        currencies = Counter(d["currency"] for d in payments if d.get("currency"))
        return {"customerId": person, "firstName": named["first"], "lastName": named["last"],
                "emails": sorted({d["email"] for _, _, d in rows if d.get("email")}),
                "ghlContactIds": sorted(ref for kind, ref, _ in rows if kind == "ghl_contact"),
                "acuityEmails": sorted({ref for kind, ref, _ in rows if kind == "acuity_client"}),
                "lifetimeValue": minor_to_major(sum(int(d.get("value") or 0) for d in payments)),
                "currency": currencies.most_common(1)[0][0] if currencies else self.default_currency(),
                "updatedAt": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")}

    def flush_customers(self, persons: set[str], deadline: float | None = None) -> int:
        """PUT the customer record of each person whose rows changed (or whose last PUT failed)."""
        changed = 0
        for person in sorted(p for p in persons if p):
            with self.lock_for(self.person_locks, person):  # compute and write in one go: last writer is newest
                body = self.customer_body(person)
                if body is not None:
                    changed += self.put_if_changed("customers", person, body, deadline)
        return changed

    @staticmethod
    def ghl_contact(order: dict[str, Any]) -> tuple[str, str, str, str]:
        """(contactId, email, first, last) of a GHL order, from its detail or its list item."""
        snap = order.get("contactSnapshot")
        if isinstance(snap, dict) and (snap.get("email") or snap.get("first_name") or snap.get("firstName")):
            return (str(order.get("contactId") or snap.get("_id") or snap.get("id") or ""), str(snap.get("email") or ""),
                    str(snap.get("first_name") or snap.get("firstName") or ""),
                    str(snap.get("last_name") or snap.get("lastName") or ""))
        first, _, last = str(order.get("contactName") or "").strip().partition(" ")
        return str(order.get("contactId") or ""), str(order.get("contactEmail") or ""), first, last

    @staticmethod
    def ghl_payment(txn: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A GHL transaction (a list item, or the detail with its `contactSnapshot`) as a Rankr payment."""
        key = f"ghl:{txn['_id']}"
        given = txn.get("contactSnapshot")
        snap: dict[str, Any] = given if isinstance(given, dict) else {}
        return key, {"paymentKey": key, "source": "ghl", "sourceKind": "transaction", "sourceId": str(txn["_id"]),
                     "parentId": str(txn.get("entityId") or ""), "amount": txn.get("amount", 0),
                     "currency": str(txn.get("currency") or ""), "status": str(txn.get("status") or ""),
                     "customerEmail": normalise_email(txn.get("contactEmail") or snap.get("email")),
                     "paidAt": str(txn.get("createdAt") or "")}

    def sync_people_ghl(self, orders: list[dict[str, Any]], transactions: list[dict[str, Any]],
                        deadline: float | None = None) -> int:
        """GHL's side of payments and customers: the contacts of the orders, one payment per transaction."""
        changed, touched = 0, set()
        for order in orders:
            contact_id, email, first, last = self.ghl_contact(order)
            if contact_id:
                touched |= self.note_person("ghl_contact", contact_id, email, first, last)
        for txn in transactions:
            if not txn.get("_id"):
                continue
            key, body = self.ghl_payment(txn)
            changed += self.put_if_changed("payments", key, body, deadline)
            first, _, last = str(txn.get("contactName") or "").strip().partition(" ")
            value = (money_minor(txn.get("amount")) - money_minor(txn.get("amountRefunded"))
                     if txn.get("status") in GHL_COUNTED_STATUSES else 0)
            touched |= self.note_person("payment", key, txn.get("contactEmail"), first, last,
                                        value=value, currency=body["currency"])
        return changed + self.flush_customers(touched, deadline)

    # ---- GHL workflow webhooks (with GHL_WORKFLOW_SECRET) ----------------------------------------

    def record_ghl_payment(self, txn: dict[str, Any], deadline: float | None = None) -> bool:
        """One Rankr payment per GHL transaction (the same body whether a delivery or a poll brought it)."""
        key, body = self.ghl_payment(txn)
        return self.put_if_changed("payments", key, body, deadline)

    def workflow_secret_ok(self, headers: Any) -> bool:
        """Workflow deliveries are unsigned: the shared secret the workflow sends is the only proof."""
        given = str(headers.get("X-Workflow-Secret") or "")
        return hmac.compare_digest(given.encode(), self.cfg.workflow_secret.encode())

    def get_transaction(self, transaction_id: str, deadline: float | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self.ghl("GET", f"/payments/transactions/{transaction_id}", params=self.alt(),
                                          deadline=deadline).json()
        return answer

    def handle_workflow_webhook(self, raw: bytes, headers: Any) -> int:
        """A Payment Received workflow's delivery: check the secret, then treat it as a notification only and
        read the transaction back from GHL (the body is typed by whoever built the workflow), PUT its
        payment, answer 2xx; 503 while GHL or Rankr fail (the workflow retries)."""
        if not self.workflows_enabled:
            return 404
        if not self.workflow_secret_ok(headers):
            return 401
        try:
            payload = json.loads(raw)
        except ValueError:
            return 400
        transaction_id = str(payload.get("transactionId") or "") if isinstance(payload, dict) else ""
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", transaction_id):
            return 400
        deadline = time.monotonic() + WEBHOOK_BUDGET_S
        try:
            txn = self.get_transaction(transaction_id, deadline)
            self.record_ghl_payment(txn, deadline)
        except Refused as exc:
            log.warning("workflow delivery for transaction %s not synced: %s", transaction_id, exc)
            return 404 if exc.service == "GHL" and exc.response.status_code in (400, 404) else 503
        except Unavailable as exc:
            log.warning("workflow delivery for transaction %s not synced: %s", transaction_id, exc)
            return 503  # ask for a retry; reconciliation repairs the rest
        return 200

    # ---- Acuity API -----------------------------------------------------------------------------

    def acuity_backoff(self, attempt: int, retry_after: str | None = None) -> float:
        """250 ms, 500 ms, 1 s ... capped at 5 s, with up to +50% jitter; never shorter than a Retry-After."""
        wait = min(ACUITY_BACKOFF_CAP_S, ACUITY_BACKOFF_BASE_S * 2 ** attempt * random.uniform(1.0, 1.5))
        with contextlib.suppress(TypeError, ValueError):
            wait = max(wait, min(float(retry_after or ""), 30.0))
        return wait

    def acuity(self, path: str, params: dict[str, Any] | None = None, deadline: float | None = None,
               urgent: bool = False, attempts: int = 6, started: Callable[[], None] | None = None) -> Any:
        """One Acuity GET (Basic auth `userId:apiKey`), its JSON. Retried with backoff and jitter on 429,
        on the edge's HTML 403, on 5xx and connection errors; any other 4xx raises Refused. `started` is
        called as each attempt is about to be sent."""
        error = ""
        for attempt in range(attempts):
            slot = self.acuity_limiter.acquire(deadline, urgent)
            if started is not None:
                started()
            self.acuity_calls += 1
            try:
                response = self.acuity_http.get(path, params=params, timeout=self.timeout(deadline))
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 429 or is_edge_403(response):
                    error = f"{response.status_code} {response.text[:200]}"
                    # Throttled: nobody calls Acuity until the backoff is over (acquire waits for it).
                    self.acuity_limiter.throttled(self.acuity_backoff(attempt, response.headers.get("retry-after")))
                    continue
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        error = f"{response.status_code} not JSON: {response.text[:200]}"
                elif response.status_code < 500:
                    raise Refused("Acuity", response)
                else:
                    error = f"{response.status_code} {response.text[:200]}"
            finally:
                self.acuity_limiter.finished(slot)
            if attempt + 1 < attempts:
                self.pause(self.acuity_backoff(attempt), deadline)
        raise Unavailable(f"Acuity GET {path}: {error}", "Acuity")

    def acuity_account(self, deadline: float | None = None, urgent: bool = False) -> dict[str, Any]:
        """`GET /me`, once: the account's currency (nowhere else) and time zone."""
        if self.acuity_me is None:
            me = self.acuity("/me", deadline=deadline, urgent=urgent)
            if not isinstance(me, dict):
                raise Unavailable(f"Acuity GET /me: unexpected answer {str(me)[:200]}", "Acuity")
            self.acuity_me = me
        return self.acuity_me

    # ---- Acuity records -> Rankr ------------------------------------------------------------------

    def acuity_payment_key(self, payment: dict[str, Any], appointment: dict[str, Any], action: str) -> str:
        """One Rankr payment per Acuity transaction, whichever webhook (or poll) brought it."""
        return f"acuity:{payment['transactionID']}"

    def acuity_payment(self, appointment: dict[str, Any], payment: dict[str, Any], currency: str,
                       action: str = "") -> tuple[str, dict[str, Any]]:
        key = self.acuity_payment_key(payment, appointment, action)
        return key, {"paymentKey": key, "source": "acuity", "sourceKind": "appointment",
                     "sourceId": str(payment["transactionID"]), "parentId": str(appointment["id"]),
                     "amount": minor_to_major(money_minor(payment.get("amount"))), "currency": currency,
                     "status": "paid", "customerEmail": normalise_email(appointment.get("email")),
                     "paidAt": acuity_iso(payment.get("created"))}

    @staticmethod
    def acuity_order_payment(order: dict[str, Any], currency: str, zone: str) -> tuple[str, dict[str, Any]]:
        key = f"acuity-order:{order['id']}"
        return key, {"paymentKey": key, "source": "acuity", "sourceKind": "order", "sourceId": str(order["id"]),
                     "parentId": str(order["id"]), "amount": minor_to_major(money_minor(order.get("total"))),
                     "currency": currency, "status": "paid", "customerEmail": normalise_email(order.get("email")),
                     "paidAt": acuity_order_time(order.get("time"), zone)}

    @staticmethod
    def appointment_mark(appointment: dict[str, Any]) -> dict[str, Any]:
        """What decides an appointment's payments in Rankr: refunds never show in Acuity, so its
        `/payments` can only have changed if `amountPaid` (or the payer) did."""
        return {f: appointment.get(f) for f in ("amountPaid", "email", "firstName", "lastName")}

    def record_acuity_appointment(self, appointment: dict[str, Any], payments: list[dict[str, Any]] | None,
                                  action: str = "", deadline: float | None = None) -> int:
        """The appointment's client and (when fetched: not None) its payments, to Rankr."""
        currency = str(self.acuity_account(deadline, urgent=deadline is not None).get("currency") or "USD")
        email, first, last = appointment.get("email"), appointment.get("firstName"), appointment.get("lastName")
        changed, touched = 0, set()
        if str(email or "").strip():
            touched |= self.note_person("acuity_client", str(email), email, first, last)
        for payment in payments or []:
            if not isinstance(payment, dict) or not payment.get("transactionID"):
                continue
            key, body = self.acuity_payment(appointment, payment, currency, action)
            changed += self.put_if_changed("payments", key, body, deadline)
            touched |= self.note_person("payment", key, email, first, last,
                                        value=money_minor(payment.get("amount")), currency=currency)
        changed += self.flush_customers(touched, deadline)
        if payments is not None:
            self.state.put("acuity_appt", str(appointment["id"]), self.appointment_mark(appointment))
        return changed

    def record_acuity_order(self, order: dict[str, Any], deadline: float | None = None) -> int:
        if not isinstance(order, dict) or "id" not in order or order.get("status") not in ACUITY_PAID_ORDERS:
            return 0
        account = self.acuity_account(deadline, urgent=deadline is not None)
        key, body = self.acuity_order_payment(order, str(account.get("currency") or "USD"),
                                              str(account.get("timezone") or ""))
        changed = self.put_if_changed("payments", key, body, deadline)
        email, first, last = order.get("email"), order.get("firstName"), order.get("lastName")
        touched = self.note_person("payment", key, email, first, last, value=money_minor(order.get("total")),
                                   currency=body["currency"])
        if str(email or "").strip():
            touched |= self.note_person("acuity_client", str(email), email, first, last)
        return changed + self.flush_customers(touched, deadline)

    def sync_acuity_appointment(self, appointment_id: int, action: str = "", deadline: float | None = None) -> int:
        """Fetch the appointment (webhooks carry ids only) and, if anything was paid, its payments, then record
        them for this delivery. Deliveries for one appointment that arrive while its fetch waits for its turn
        share that fetch (it starts after they arrived, so it sees what they announce); one that arrives after
        a fetch started gets a fetch of its own. Each delivery is still recorded (idempotent upserts)."""
        with self.acuity_fetch_lock:
            self.acuity_arrived += 1
            ticket = self.acuity_arrived
        with self.lock_for(self.appointment_locks, str(appointment_id)):
            with self.acuity_fetch_lock:
                fetch = self.acuity_fetched.get(appointment_id)
            if fetch is None or fetch.covers < ticket:  # no fetch has started since this delivery arrived
                fetch = self.fetch_acuity_appointment(appointment_id, deadline)
            return self.record_acuity_appointment(fetch.appointment, fetch.payments, action, deadline)

    def fetch_acuity_appointment(self, appointment_id: int, deadline: float | None = None) -> AcuityFetch:
        covers = [0]

        def started() -> None:  # the deliveries this fetch sees: those that arrived before it is sent
            with self.acuity_fetch_lock:
                covers[0] = self.acuity_arrived

        appointment = self.acuity(f"/appointments/{appointment_id}", deadline=deadline, urgent=deadline is not None,
                                  started=started)
        if not isinstance(appointment, dict) or "id" not in appointment:
            raise Unavailable(f"Acuity appointment {appointment_id}: unexpected answer", "Acuity")
        return self.remember_fetch(appointment_id, covers[0], appointment, self.payments_of(appointment, deadline))

    def remember_fetch(self, appointment_id: int, covers: int, appointment: dict[str, Any],
                       payments: list[dict[str, Any]]) -> AcuityFetch:
        fetch = AcuityFetch(covers, appointment, payments)
        with self.acuity_fetch_lock:
            self.acuity_fetched[appointment_id] = fetch
            self.acuity_fetched.move_to_end(appointment_id)
            while len(self.acuity_fetched) > ACUITY_FETCH_CACHE:
                self.acuity_fetched.popitem(last=False)
        return fetch

    def payments_of(self, appointment: dict[str, Any], deadline: float | None = None) -> list[dict[str, Any]]:
        """`GET /appointments/:id/payments`, unless nothing was paid or `amountPaid` is what it was when this
        process last fetched them (payments only add up: a new one moves `amountPaid`; refunds never show)."""
        if money_minor(appointment.get("amountPaid")) == 0:  # a string: "0.00" is not "nothing"
            return []
        with self.acuity_fetch_lock:
            last = self.acuity_fetched.get(int(appointment["id"]))
        if last is not None and last.appointment.get("amountPaid") == appointment.get("amountPaid"):
            return last.payments
        answer = self.acuity(f"/appointments/{appointment['id']}/payments", deadline=deadline,
                             urgent=deadline is not None)
        if not isinstance(answer, list):
            raise Unavailable(f"Acuity payments of {appointment['id']}: unexpected answer", "Acuity")
        return answer

    def sync_payments_of(self, appointment: dict[str, Any], action: str = "", deadline: float | None = None) -> int:
        """A listed appointment (polling): its payments (see `payments_of`) to Rankr."""
        with self.acuity_fetch_lock:
            last = self.acuity_fetched.get(int(appointment["id"]))
        payments = self.payments_of(appointment, deadline)
        if last is None or last.payments is not payments:  # fetched now: keep them (for no delivery: covers 0)
            self.remember_fetch(int(appointment["id"]), 0, appointment, payments)
        return self.record_acuity_appointment(appointment, payments, action, deadline)

    def sync_acuity_order(self, order_id: int, deadline: float | None = None) -> int:
        order = self.acuity(f"/orders/{order_id}", deadline=deadline, urgent=deadline is not None)
        return self.record_acuity_order(order, deadline)

    # ---- Acuity webhooks ------------------------------------------------------------------------

    def verify_acuity_signature(self, raw: bytes, headers: Any) -> bool:
        """`X-Acuity-Signature` over the RAW body bytes (never a re-encoding of the parsed form)."""
        given = str(headers.get("x-acuity-signature") or "").strip()
        if not given or not self.cfg.acuity_api_key:
            return False
        return hmac.compare_digest(given.encode(), acuity_signature(self.cfg.acuity_api_key, raw).encode())

    @staticmethod
    def parse_acuity_form(raw: bytes) -> dict[str, str]:
        form: dict[str, str] = {}
        with contextlib.suppress(UnicodeDecodeError, ValueError):
            for name, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
                form.setdefault(name, value)
        return form

    def handle_acuity_webhook(self, raw: bytes, headers: Any) -> int:
        if not self.acuity_enabled:
            return 404
        if not self.verify_acuity_signature(raw, headers):
            return 401
        form = self.parse_acuity_form(raw)
        action, record_id = acuity_action(form.get("action")), form.get("id", "")  # ids are strings here
        if not re.fullmatch(r"[0-9]{1,18}", record_id):
            return 400
        deadline = time.monotonic() + ACUITY_WEBHOOK_BUDGET_S
        try:
            if action == "order.completed":
                self.sync_acuity_order(int(record_id), deadline)
            elif action in ACUITY_ACTIONS:
                self.sync_acuity_appointment(int(record_id), action, deadline)
            else:
                log.info("Acuity webhook %r ignored", form.get("action"))
        except Refused as exc:
            if exc.service == "Acuity" and exc.response.status_code in (403, 404):
                log.warning("Acuity webhook %s %s: nothing to sync: %s", action, record_id, exc)
                return 200  # not this account's, or gone: a retry would not change that
            log.warning("Acuity webhook %s %s not synced: %s", action, record_id, exc)
            return 503
        except Unavailable as exc:
            log.warning("Acuity webhook %s %s not synced: %s", action, record_id, exc)
            return 503  # Rankr (or Acuity) failing: ask for a retry; reconciliation repairs the rest
        return 200

    # ---- Acuity reconciliation ------------------------------------------------------------------

    def list_appointment_window(self, lo: date, hi: date, limit: int) -> list[dict[str, Any]]:
        page = self.acuity("/appointments", {"minDate": lo.isoformat(), "maxDate": hi.isoformat(),
                                             "showall": "true", "max": limit, "excludeForms": "true"})
        if not isinstance(page, list):
            raise Unavailable(f"Acuity GET /appointments: unexpected answer {str(page)[:200]}", "Acuity")
        return [a for a in page if isinstance(a, dict) and "id" in a]

    def acuity_day(self, appointment: dict[str, Any]) -> date | None:
        """The day an appointment starts, in the account's time zone (the one minDate/maxDate are read in);
        None if its `datetime` does not parse."""
        try:
            start = datetime.fromisoformat(acuity_iso(appointment.get("datetime")))
        except (TypeError, ValueError):
            return None
        zone = str((self.acuity_me or {}).get("timezone") or "")
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            if zone and start.tzinfo is not None:
                return start.astimezone(ZoneInfo(zone)).date()
        return None

    def rest_of_full_window(self, lo: date, hi: date, page: list[dict[str, Any]]) -> list[tuple[date, date]]:
        """What is left to list of a window that came back full. Acuity lists newest first, so a full page holds
        every appointment after the day of its oldest one: the rest lies in [lo, that day]. If the page is not
        newest first, or that day is `hi` (one day holds them all), the window is split in two instead."""
        starts = [self.acuity_day(a) for a in page]
        days = [d for d in starts if d is not None]
        newest_first = len(days) == len(starts) and all(a >= b for a, b in zip(days, days[1:], strict=False))
        if newest_first and lo <= days[-1] < hi:
            return [(lo, days[-1])]
        return split_window(lo, hi)

    def acuity_appointments(self, start: date, end: date) -> list[dict[str, Any]]:
        """Every appointment (canceled too) from start to end. There is no paging, and `max` silently
        truncates: list in date windows and split any window that comes back full (at the day of the oldest
        appointment it returned, see `rest_of_full_window`)."""
        found: dict[Any, dict[str, Any]] = {}
        todo = list(reversed(date_windows(start, end)))
        while todo:
            lo, hi = todo.pop()
            limit = ACUITY_MAX
            page = self.list_appointment_window(lo, hi, limit)
            if len(page) >= limit and lo < hi:
                for appointment in page:
                    found[appointment["id"]] = appointment
                todo.extend(reversed(self.rest_of_full_window(lo, hi, page)))
                continue
            while len(page) >= limit and limit < 100_000:  # one day with more than `max`: ask for more
                limit *= 10
                page = self.list_appointment_window(lo, hi, limit)
            for appointment in page:
                found[appointment["id"]] = appointment
        return list(found.values())

    def appointment_span(self) -> tuple[date | None, date | None]:
        """The earliest and latest appointment dates (a day of margin each side), so that the windows also
        cover an account whose appointments lie outside the usual range (2 calls, `max=1` each way)."""
        days: list[date] = []
        for direction in ("DESC", "ASC"):
            page = self.acuity("/appointments", {"showall": "true", "max": 1, "direction": direction,
                                                 "excludeForms": "true"})
            for appointment in page if isinstance(page, list) else []:
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    days.append(date.fromisoformat(str(appointment.get("datetime"))[:10]))
        if not days:
            return None, None
        return min(days) - timedelta(days=1), max(days) + timedelta(days=1)

    def reconcile_acuity_once(self) -> int:
        """Every appointment, its payments when `amountPaid` moved since we last wrote them, every paid
        order; then every customer whose record differs from what Rankr last got."""
        self.acuity_account()
        start, end = reconcile_range(datetime.now(timezone.utc).date())
        first, last = self.appointment_span()
        start, end = min(start, first or start), max(end, last or end)
        changed = 0
        repairs = []
        for appointment in self.acuity_appointments(start, end):
            if self.stopping.is_set():
                raise Unavailable("shutting down")
            fresh = self.state.get("acuity_appt", str(appointment["id"])) == self.appointment_mark(appointment)
            if fresh or money_minor(appointment.get("amountPaid")) == 0:
                changed += self.record_acuity_appointment(appointment, None if fresh else [])
            else:
                repairs.append(appointment)
        # The payments of what changed unannounced: a few at a time, so that writing one to Rankr does not
        # hold up the next fetch (the limiter still paces the calls).
        with ThreadPoolExecutor(ACUITY_CONNECTIONS, thread_name_prefix="acuity-repair") as pool:
            changed += sum(pool.map(self.repair_acuity_appointment, repairs))
        orders = self.acuity("/orders", {"max": ACUITY_ORDERS_MAX})
        if not isinstance(orders, list):
            raise Unavailable(f"Acuity GET /orders: unexpected answer {str(orders)[:200]}", "Acuity")
        for order in orders:
            changed += self.record_acuity_order(order)
        return changed + self.flush_customers(set(self.people.persons()))

    def repair_acuity_appointment(self, appointment: dict[str, Any]) -> int:
        """A listed appointment whose payments moved since they were written (polling's repair)."""
        if self.stopping.is_set():
            raise Unavailable("shutting down")
        with self.lock_for(self.appointment_locks, str(appointment["id"])):
            if self.state.get("acuity_appt", str(appointment["id"])) == self.appointment_mark(appointment):
                return 0  # a webhook recorded it while this pass waited for the lock
            with self.acuity_fetch_lock:
                self.acuity_repair_calls += 1  # at most one call: its /payments
            return self.sync_payments_of(appointment)

    def acuity_reconcile_loop(self) -> None:
        while not self.stopping.is_set():
            # While webhooks keep Acuity busy, a pass would only take their turns (and list what they are
            # fetching anyway): wait for a quiet moment, but not for ever.
            waited = 0.0
            while (quiet := self.acuity_limiter.busy_for()) < ACUITY_POLL_QUIET_S and waited < ACUITY_POLL_DEFER_S:
                pause = ACUITY_POLL_QUIET_S - quiet
                if self.stopping.wait(pause):
                    return
                waited += pause
            calls, started = self.acuity_calls - self.acuity_repair_calls, time.monotonic()
            try:
                changed = self.reconcile_acuity_once()
                if changed:
                    log.info("Acuity reconciled: %d record(s) written", changed)
            except (Unavailable, Refused) as exc:
                log.warning("Acuity reconciliation failed: %s", exc)
            except Exception:
                log.exception("Acuity reconciliation crashed")
            # Listing averages at most ACUITY_POLL_SHARE of the request budget, whatever the interval (the
            # payments of appointments that changed unannounced are the repair, fetched once, not counted).
            # A pass starts every reconcile interval (one that took longer is followed at once).
            listed = self.acuity_calls - self.acuity_repair_calls - calls
            elapsed = time.monotonic() - started
            self.stopping.wait(max(self.cfg.reconcile_interval - elapsed,
                                   max(0, listed) / (ACUITY_PER_SECOND * ACUITY_POLL_SHARE) - elapsed, 0.05))

    # ---- process --------------------------------------------------------------------------------

    def run(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.cfg.port), Handler)
        self.server.app = self  # type: ignore[attr-defined]
        threads = self.start_background()
        serving = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        serving.start()
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        log.info("listening on 127.0.0.1:%d", self.cfg.port)
        while not self.stopping.wait(1.0):
            pass
        log.info("shutting down")
        self.server.shutdown()  # no new requests; let those in flight finish (briefly)
        deadline = time.monotonic() + 2.0  # the harness sends SIGKILL 5 s after SIGTERM
        while self.active and time.monotonic() < deadline:
            time.sleep(0.05)
        self.server.server_close()
        for thread in threads:
            thread.join(1)
        self.ghl_http.close()
        self.rankr_http.close()
        self.acuity_http.close()
        self.state.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ghl-rankr-reference/1.0"

    def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body if body is not None else {"status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?")[0] == "/healthz":
            return self._answer(200, {"ok": True})
        self._answer(404)

    def do_POST(self) -> None:  # noqa: N802
        app: ReferenceClient = self.server.app  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        with app.active_lock:
            app.active += 1
        try:
            if path == "/webhooks/ghl":
                status = app.handle_ghl_webhook(raw, self.headers)
            elif path == "/webhooks/rankr":
                status = app.handle_rankr_event(raw, self.headers)
            elif path == "/webhooks/acuity":
                status = app.handle_acuity_webhook(raw, self.headers)
            elif path == "/webhooks/ghl-workflow":
                status = app.handle_workflow_webhook(raw, self.headers)
            else:
                status = 404
        except Exception:
            log.exception("handling %s failed", path)
            status = 500
        finally:
            with app.active_lock:
                app.active -= 1
        self._answer(status)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)


def main(client_class: type[ReferenceClient] = ReferenceClient) -> None:
    logging.basicConfig(level=os.environ.get("CLIENT_LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s {client_class.__name__} %(levelname)s %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    client_class(Config.from_env()).run()


if __name__ == "__main__":
    main()
