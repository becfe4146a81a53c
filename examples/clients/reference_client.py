"""Reference integration client: keeps GoHighLevel (GHL) orders, transactions and subscriptions in sync
with Rankr, and turns Rankr `fulfillment.requested` events into exactly one GHL fulfillment each.

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
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

log = logging.getLogger("reference_client")

REPLAY_WINDOW_S = 300  # GHL's recommended window, both directions
ORDER_EVENTS = ("OrderCreate", "OrderStatusUpdate")
PAGE_SIZE = 100
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.2, 5.0
WEBHOOK_BUDGET_S = 4.0  # answer (429 if need be) well before the sender gives up on the attempt
LISTS = (("orders", "/payments/orders"), ("transactions", "/payments/transactions"),
         ("subscriptions", "/payments/subscriptions"))


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

    @classmethod
    def from_env(cls, env: Any = os.environ) -> Config:
        return cls(
            ghl_base=env["GHL_API_BASE_URL"].rstrip("/"), ghl_token=env["GHL_ACCESS_TOKEN"],
            location_id=env["GHL_LOCATION_ID"], api_version=env.get("GHL_API_VERSION", "2021-07-28"),
            app_id=env["GHL_APP_ID"], ed25519_pem=env.get("GHL_WEBHOOK_PUBLIC_KEY", ""),
            rsa_pem=env.get("GHL_WEBHOOK_RSA_PUBLIC_KEY", ""), rankr_base=env["RANKR_API_BASE_URL"].rstrip("/"),
            rankr_key=env["RANKR_API_KEY"], rankr_secret=env["RANKR_WEBHOOK_SECRET"],
            port=int(env["CLIENT_PORT"]), state_dir=env["CLIENT_STATE_DIR"],
            reconcile_interval=float(env.get("CLIENT_RECONCILE_INTERVAL", "60")))


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


# ---- the client -----------------------------------------------------------------------------------


class ReferenceClient:
    def __init__(self, config: Config) -> None:
        self.cfg = config
        self.stopping = threading.Event()
        self.state = self.make_state()
        self.limiter = self.make_limiter()
        self.ghl_http = httpx.Client(base_url=config.ghl_base, timeout=10.0)
        self.rankr_http = httpx.Client(base_url=config.rankr_base, timeout=10.0)
        self.ed25519_key = self._load_key(config.ed25519_pem, ed25519.Ed25519PublicKey)
        self.rsa_key = self._load_key(config.rsa_pem, rsa.RSAPublicKey)
        # Striped locks, one pool per purpose (a thread holds a webhook lock while taking record locks).
        self.webhook_locks = [threading.Lock() for _ in range(64)]
        self.record_locks = [threading.Lock() for _ in range(64)]
        self.fulfillment_lock = threading.Lock()
        self.ghl_calls = 0
        self.failed_reconciles = 0
        self.server: ThreadingHTTPServer | None = None
        self.active = 0  # requests being handled
        self.active_lock = threading.Lock()

    def make_state(self) -> State:
        return State(os.path.join(self.cfg.state_dir, "client.sqlite3"))

    def make_limiter(self) -> RateLimiter:
        return RateLimiter()

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
            deadline: float | None = None, attempts: int = 5) -> httpx.Response:
        """One GHL call. GETs are retried (backoff + jitter) on 5xx, 429 and connection errors;
        a POST is tried once (the caller decides how to retry it)."""
        if method != "GET":
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

    def rankr(self, method: str, path: str, body: dict[str, Any], key: str | None = None,
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
                 deadline: float | None = None) -> list[dict[str, Any]]:
        """Every item of a GHL list, paging with `limit`/`offset` until `totalCount`."""
        items: list[dict[str, Any]] = []
        while True:
            query = {**self.alt(), **(params or {}), "limit": PAGE_SIZE, "offset": len(items)}
            answer = self.ghl("GET", path, params=query, deadline=deadline).json()
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

    def sync_order(self, order_id: str, deadline: float | None = None) -> None:
        """The fresh order from GHL and its transactions (no webhooks for those: poll them)."""
        self.upsert("orders", self.get_order(order_id, deadline), deadline)
        for txn in self.list_all("/payments/transactions", {"entityId": order_id}, deadline):
            self.upsert("transactions", txn, deadline)

    def alert(self, severity: str, message: str, key: str, order_id: str | None = None) -> None:
        body = {"severity": severity, "message": message, **({"orderId": order_id} if order_id else {})}
        self.rankr("POST", "/v1/alerts", body, key=key)

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
            try:
                if payload.get("type") in ORDER_EVENTS and isinstance(payload.get("_id"), str):
                    self.sync_order(payload["_id"], deadline)
                event = self.event_for(webhook_id, payload)
                self.rankr("POST", "/v1/events", event, key=webhook_id, deadline=deadline)
            except (Unavailable, Refused) as exc:
                log.warning("webhook %s not synced: %s", webhook_id, exc)
                return self.sync_failed_status(exc)
            self.mark_webhook_seen(webhook_id, event)
        return 200

    # ---- Rankr fulfillment.requested ------------------------------------------------------------

    def verify_rankr_signature(self, raw: bytes, headers: Any) -> bool:
        given = headers.get("x-rankr-signature") or ""
        expected = "sha256=" + hmac.new(self.cfg.rankr_secret.encode(), raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.strip().encode(), expected.encode())

    def fulfillment_record(self, event_id: str) -> dict[str, Any] | None:
        return self.state.get("fulfillment", event_id)

    @staticmethod
    def quantities(items: list[dict[str, Any]], id_key: str) -> Counter[str]:
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

    # ---- reconciliation -------------------------------------------------------------------------

    def reconcile_once(self) -> int:
        """Page every list to the end; PUT whatever differs from what Rankr last got from us."""
        changed = 0
        for kind, path in LISTS:
            for record in self.list_all(path):
                changed += self.upsert(kind, record)
        return changed

    def reconcile_loop(self) -> None:
        while not self.stopping.is_set():
            calls = self.ghl_calls
            try:
                changed = self.reconcile_once()
                if changed:
                    log.info("reconciled: %d record(s) written", changed)
                self.ghl_recovered()
            except (Unavailable, Refused) as exc:
                log.warning("reconciliation failed: %s", exc)
                if exc.service == "GHL" and not self.stopping.is_set():
                    self.ghl_failing(exc)
            except Exception:
                log.exception("reconciliation crashed")
            # Never use more than half the burst budget on polling, whatever the interval.
            spent = max(0, self.ghl_calls - calls) * self.limiter.interval_s / max(1, self.limiter.max // 2)
            self.stopping.wait(max(self.cfg.reconcile_interval, spent))

    def ghl_failing(self, exc: Exception) -> None:
        """After 5 failed reconciliations in a row, or failures for over 3 intervals: ONE critical
        alert per outage (the key names the outage's start, kept durably), and keep retrying."""
        self.failed_reconciles += 1
        outage = self.state.get("meta", "outage")
        if outage is None:
            outage = {"start": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "alerted": False}
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
        thread = threading.Thread(target=self.reconcile_loop, name="reconcile", daemon=True)
        thread.start()
        return [thread]

    # ---- process --------------------------------------------------------------------------------

    def run(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.cfg.port), Handler)
        self.server.app = self  # type: ignore[attr-defined]
        threads = self.start_background()
        serving = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
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
