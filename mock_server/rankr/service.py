"""Rankr's domain logic, HTTP-free: accounts, validated idempotent upserts, posts with
Idempotency-Key, queries, and the per-account write history. Every change is one store transaction.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from mock_server.clock import SandboxClock
from mock_server.locations import Location
from mock_server.panels import Table, Who
from mock_server.rankr import accounts, dashboard, routing
from mock_server.rankr.assignments import Routing, RoutingRefused
from mock_server.rankr.models import Account, RankrPost, RankrProvider, RankrRecord, RankrSend, RankrWrite
from mock_server.rankr.views import (
    assignment_view,
    change_view,
    post_view,
    provider_truth,
    provider_view,
    record_view,
)
from mock_server.service import ServiceWorld
from mock_server.store import Condition, Store

SEQ_META = "rankr_seq"

NUMBER, STRING, STRINGS = "number", "string", "array of strings"


if TYPE_CHECKING:
    from mock_server.runtime import Runtime


@dataclass(frozen=True)
class Field:
    name: str
    type: str = STRING
    required: bool = True
    choices: tuple[str, ...] = ()


def _fields(*names: str, numbers: tuple[str, ...] = (), arrays: tuple[str, ...] = (),
            choices: dict[str, tuple[str, ...]] | None = None) -> tuple[Field, ...]:
    def kind(name: str) -> str:
        return NUMBER if name in numbers else STRINGS if name in arrays else STRING

    return tuple(Field(n, kind(n), choices=(choices or {}).get(n, ())) for n in names)


PAYMENT_SOURCES = ("ghl", "acuity")
PAYMENT_SOURCE_KINDS = ("transaction", "appointment", "order")


# Upserted records: collection -> (id field, fields). Every field is required.
RECORDS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "orders": ("orderId", _fields("orderId", "source", "status", "fulfillmentStatus", "amount", "currency",
                                  "contactId", "updatedAt", numbers=("amount",))),
    "transactions": ("transactionId", _fields("transactionId", "orderId", "status", "amount", "amountRefunded",
                                              "currency", "updatedAt", numbers=("amount", "amountRefunded"))),
    "subscriptions": ("subscriptionId", _fields("subscriptionId", "status", "amount", "currency", "updatedAt",
                                                numbers=("amount",))),
    # One per payment from either source (GHL transaction, Acuity appointment payment, Acuity order).
    "payments": ("paymentKey", _fields("paymentKey", "source", "sourceKind", "sourceId", "parentId", "amount",
                                       "currency", "status", "customerEmail", "paidAt", numbers=("amount",),
                                       choices={"source": PAYMENT_SOURCES, "sourceKind": PAYMENT_SOURCE_KINDS})),
    # The 360 view of one person, merged across GHL contacts and Acuity clients.
    "customers": ("customerId", _fields("customerId", "firstName", "lastName", "emails", "ghlContactIds",
                                        "acuityEmails", "lifetimeValue", "currency", "updatedAt",
                                        numbers=("lifetimeValue",),
                                        arrays=("emails", "ghlContactIds", "acuityEmails"))),
}

SEVERITIES = ("info", "warning", "critical")
POSTS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "events": ("ev", _fields("eventId", "eventType", "orderId", "source", "timestamp")),
    "alerts": ("al", (Field("severity", choices=SEVERITIES), Field("message"), Field("orderId", required=False))),
}

MAX_IDEMPOTENCY_KEY = 255


class RankrError(Exception):
    """Answered as Rankr's own error shape: `{error, message, fields?}`."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields, self.headers = status, code, message, fields, headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fields is not None:
            out["fields"] = self.fields
        return out


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def validate(fields: tuple[Field, ...], data: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The declared fields of `data` (others are ignored) and the problems, one per bad field."""
    if not isinstance(data, dict):
        return {}, [{"field": "(body)", "issue": "must be a JSON object"}]
    clean: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for f in fields:
        value = data.get(f.name)
        if value is None:
            if f.required:
                problems.append({"field": f.name, "issue": "missing" if f.name not in data else "must not be null"})
            continue
        issue = _type_issue(f.type, value)
        if issue is not None:
            problems.append({"field": f.name, "issue": issue})
        elif f.choices and value not in f.choices:
            problems.append({"field": f.name, "issue": f"must be one of {', '.join(f.choices)}"})
        else:
            clean[f.name] = value
    return clean, problems


def _type_issue(kind: str, value: Any) -> str | None:
    """What is wrong with a non-null value of a field of this type, or None."""
    if kind == NUMBER:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "must be a number"
    if kind == STRINGS:
        if not isinstance(value, list):
            return "must be an array of strings"
        bad = [i for i, item in enumerate(value) if not isinstance(item, str)]
        if bad:
            return f"must be an array of strings (item {bad[0]} is {_json_kind(value[bad[0]])})"
        return None
    return None if isinstance(value, str) else "must be a string"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _invalid(problems: list[dict[str, str]]) -> RankrError:
    names = ", ".join(p["field"] for p in problems)
    return RankrError(422, "validation_failed", f"Invalid or missing field(s): {names}", problems)


def fingerprint(collection: str, data: Any) -> str:
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(collection.encode() + b"\n" + canonical).hexdigest()


class RankrService(ServiceWorld):
    """The fake Rankr for one world: accounts derive from the world's seed."""

    def __init__(self, store: Store, clock: SandboxClock, seed: int) -> None:
        self.store = store
        self.clock = clock
        self.seed = seed
        self.routing = Routing(store, clock, self._seq)

    # ---- accounts -----------------------------------------------------------------------------

    def location_fields(self, location: Location) -> dict[str, Any]:
        return {"rankr": accounts.account_view(self.seed, location.id)}

    def account(self, location_id: str) -> Account | None:
        if self.store.table(Location).get(location_id) is None:
            return None
        return accounts.account(self.seed, location_id)

    def authenticate(self, api_key: str) -> Account | None:
        seed = self.seed
        found = None
        for location in self.store.table(Location).all():
            acct = accounts.account(seed, location.id)
            if hmac.compare_digest(acct.api_key.encode(), api_key.encode()):
                found = acct
        return found

    # ---- writes -------------------------------------------------------------------------------

    def _seq(self) -> int:
        seq = int(self.store.get_meta(SEQ_META) or 0) + 1
        self.store.set_meta(SEQ_META, seq)
        return seq

    def log_write(self, location_id: str, method: str, path: str, collection: str, key: str | None,
                  record_id: str | None, status: int, outcome: str) -> None:
        with self.store.transaction():
            seq = self._seq()
            self.store.table(RankrWrite).put(RankrWrite(
                id=f"wr_{seq:08d}", location_id=location_id, seq=seq, method=method, path=path,
                collection=collection, key=key, record_id=record_id, status=status, outcome=outcome,
                at=self.clock.now()))

    def upsert(self, location_id: str, collection: str, record_id: str, data: Any, path: str) -> Answer:
        id_field, fields = RECORDS[collection]
        clean, problems = validate(fields, data)
        if id_field in clean and clean[id_field] != record_id:
            problems.append({"field": id_field, "issue": f"must equal the id in the path ({record_id})"})
        if problems:
            self.log_write(location_id, "PUT", path, collection, record_id, None, 422, "invalid")
            raise _invalid(problems)
        key = f"{location_id}:{collection}:{record_id}"
        now = self.clock.now()
        with self.store.transaction():
            record: RankrRecord | None = self.store.table(RankrRecord).get(key)
            if record is None:
                record = RankrRecord(id=key, location_id=location_id, collection=collection, record_id=record_id,
                                     body=clean, created_at=now, stored_at=now, version=1, seq=self._seq())
                status, outcome = 201, "created"
            elif record.body != clean:
                record.body, record.stored_at, record.version = clean, now, record.version + 1
                status, outcome = 200, "updated"
            else:
                status, outcome = 200, "unchanged"
            if outcome != "unchanged":
                self.store.table(RankrRecord).put(record)
            self.log_write(location_id, "PUT", path, collection, record_id, record_id, status, outcome)
        return Answer(status, record_view(record))

    def post(self, location_id: str, collection: str, data: Any, idempotency_key: str | None, path: str) -> Answer:
        prefix, fields = POSTS[collection]
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise RankrError(400, "invalid_idempotency_key",
                             f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters")
        clean, problems = validate(fields, data)
        if problems:
            self.log_write(location_id, "POST", path, collection, idempotency_key, None, 422, "invalid")
            raise _invalid(problems)
        digest = fingerprint(collection, data) if idempotency_key is not None else None
        answer: Answer | None = None
        with self.store.transaction():
            first = self._first_with_key(location_id, idempotency_key) if idempotency_key is not None else None
            if first is None:
                seq = self._seq()
                post = RankrPost(id=f"{prefix}_{seq:08d}", location_id=location_id, collection=collection,
                                 body=clean, received_at=self.clock.now(), seq=seq,
                                 idempotency_key=idempotency_key, fingerprint=digest)
                self.store.table(RankrPost).put(post)
                self.log_write(location_id, "POST", path, collection, idempotency_key, post.id, 201, "created")
                answer = Answer(201, post_view(post))
            elif first.fingerprint == digest:  # the first answer again, no second record
                self.log_write(location_id, "POST", path, collection, idempotency_key, first.id, 201, "replayed")
                answer = Answer(201, post_view(first), replayed=True)
            else:  # logged, then refused once the transaction committed
                self.log_write(location_id, "POST", path, collection, idempotency_key, None, 409, "conflict")
        if answer is None:
            raise RankrError(409, "idempotency_key_reused",
                             f"Idempotency-Key {idempotency_key!r} was already used with a different request")
        return answer

    def _first_with_key(self, location_id: str, key: str) -> RankrPost | None:
        """Keys are per account (across events and alerts: the fingerprint covers the collection)."""
        found = self.store.table(RankrPost).all([Condition("location_id", "=", location_id),
                                             Condition("idempotency_key", "=", key)], order="seq")
        return found[0] if found else None

    # ---- reads --------------------------------------------------------------------------------

    def list(self, location_id: str, collection: str, limit: int | None = None, offset: int = 0
             ) -> tuple[list[dict[str, Any]], int]:
        where = [Condition("location_id", "=", location_id), Condition("collection", "=", collection)]
        end = None if limit is None else offset + limit
        if collection in RECORDS:
            records = self.store.table(RankrRecord).all(where, order="seq")
            return [record_view(r) for r in records[offset:end]], len(records)
        posts = self.store.table(RankrPost).all(where, order="seq")
        return [post_view(p) for p in posts[offset:end]], len(posts)

    def get(self, location_id: str, collection: str, item_id: str) -> dict[str, Any] | None:
        if collection in RECORDS:
            record = self.store.table(RankrRecord).get(f"{location_id}:{collection}:{item_id}")
            return record_view(record) if record is not None else None
        post = self.store.table(RankrPost).get(item_id)
        if post is None or post.location_id != location_id or post.collection != collection:
            return None
        return post_view(post)

    # `builtins.list`: this class has a method named `list`, which the bare name would mean here.
    def writes(self, location_id: str | None = None) -> builtins.list[RankrWrite]:
        conditions = [Condition("location_id", "=", location_id)] if location_id else []
        return self.store.table(RankrWrite).all(conditions, order="seq")

    # ---- Rankr events sent to the client ------------------------------------------------------

    def record_send(self, send: RankrSend) -> RankrSend:
        with self.store.transaction():
            send.seq = self._seq()
            send.id = f"sd_{send.seq:08d}"
            self.store.table(RankrSend).put(send)
        return send

    def sends(self, location_id: str | None = None) -> builtins.list[RankrSend]:
        conditions = [Condition("location_id", "=", location_id)] if location_id else []
        return self.store.table(RankrSend).all(conditions, order="seq")

    # ---- routing: providers and assignments (design i12 §3) ---------------------------------------

    def _provider_now(self, provider: RankrProvider, now: float) -> tuple[bool, int, str]:
        today = routing.day_of(now, provider.timezone)
        return routing.available_now(provider, now), self.routing.assigned_on(provider, today), today

    def providers(self, location_id: str) -> builtins.list[dict[str, Any]]:
        """`GET /rankr/v1/providers`: each provider as it stands now on the sandbox clock."""
        now = self.clock.now()
        out = []
        for p in self.routing.providers(location_id):
            available_now, assigned, _ = self._provider_now(p, now)
            out.append(provider_view(p, available_now, assigned))
        return out

    def providers_truth(self, location_id: str) -> builtins.list[dict[str, Any]]:
        """The control plane's view: availability history and per-day counts besides."""
        now = self.clock.now()
        out = []
        for p in self.routing.providers(location_id):
            available_now, assigned, today = self._provider_now(p, now)
            out.append(provider_truth(p, available_now, assigned, today, self.routing.by_day(p)))
        return out

    def set_providers(self, location_id: str, specs: builtins.list[routing.ProviderSpec]) -> None:
        self.routing.replace_providers(location_id, specs)

    def assign(self, location_id: str, order_id: str, data: Any) -> Answer:
        """`PUT /rankr/v1/assignments/{orderId}` `{"providerId"}`: 201 new, 200 moved or unchanged."""
        provider_id = data.get("providerId") if isinstance(data, dict) else None
        if not isinstance(data, dict):
            raise _invalid([{"field": "(body)", "issue": "must be a JSON object"}])
        if not isinstance(provider_id, str) or not provider_id:
            issue = ("missing" if "providerId" not in data else "must not be null" if provider_id is None
                     else "must be a non-empty string")
            raise _invalid([{"field": "providerId", "issue": issue}])
        try:
            done = self.routing.assign(location_id, order_id, provider_id)
        except RoutingRefused as exc:
            raise RankrError(404 if exc.code == "not_found" else 409, exc.code, exc.message) from None
        return Answer(201 if done.action == "assigned" else 200, assignment_view(done.assignment))

    def assignment(self, location_id: str, order_id: str) -> dict[str, Any] | None:
        found = self.routing.assignment(location_id, order_id)
        return assignment_view(found) if found is not None else None

    def assignments(self, location_id: str, provider_id: str | None = None, limit: int | None = None,
                    offset: int = 0) -> tuple[builtins.list[dict[str, Any]], int]:
        found = self.routing.assignments(location_id, provider_id)
        end = None if limit is None else offset + limit
        return [assignment_view(a) for a in found[offset:end]], len(found)

    def unassign(self, location_id: str, order_id: str) -> bool:
        return self.routing.unassign(location_id, order_id) is not None

    def assignments_truth(self, location_id: str) -> dict[str, Any]:
        """`GET /_sandbox/rankr/records/assignments`: the current assignments (with the provider-timezone
        day each counts on) and the history of every assignment call."""
        zones = {p.provider_id: p.timezone for p in self.routing.providers(location_id)}
        data = [{**assignment_view(a), "day": routing.day_of(a.assigned_at, zones.get(a.provider_id, "UTC"))}
                for a in self.routing.assignments(location_id)]
        history = [change_view(c) for c in self.routing.changes(location_id)]
        return {"data": data, "total": len(data), "history": history}

    def dashboard_tables(self, location_id: str) -> builtins.list[Table]:
        """Providers and assignments (rankr/dashboard.py)."""
        return dashboard.routing_tables(self.providers(location_id),
                                        self.assignments_truth(location_id)["data"])

    def dashboard_customer(self, location_id: str, who: Who) -> builtins.list[Table]:
        """What the destination holds for these people (rankr/dashboard.py)."""
        records = {c: self.list(location_id, c)[0] for c in ("customers", "payments", "orders")}
        return dashboard.customer(records, who)


def rankr(runtime: Runtime) -> RankrService:
    """The fake Rankr in the runtime's current world."""
    return runtime.part(RankrService)
