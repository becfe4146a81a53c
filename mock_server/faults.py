"""Fault injection on the API, as ASGI middleware: rules match requests and inject a status, a 429 with
exhausted rate-limit headers, latency, a connection reset, or commit-then-drop (perform the write,
then drop the connection: the fault that proves a client idempotent). A request header
`X-Sandbox-Fault` asks for one effect on one request. Every injected fault is marked in the journal."""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server import jsjson
from mock_server.errors import Invalid
from mock_server.http.context import context_of
from mock_server.http.errors import error_body, reason

if TYPE_CHECKING:
    from mock_server.ratelimit import RateLimiter

FAULTABLE_PREFIXES = ("/payments", "/oauth", "/rankr")
EFFECTS = ("status", "delayMs", "reset", "commitThenDrop", "rateLimited")


@dataclass
class Effect:
    status: int | None = None
    message: str | None = None
    delay_ms: int = 0
    reset: bool = False
    commit_then_drop: bool = False
    rate_limited: bool = False

    def label(self) -> str:
        parts = []
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms}ms")
        if self.status:
            parts.append(f"status {self.status}")
        if self.rate_limited:
            parts.append("rateLimited")
        if self.reset:
            parts.append("reset")
        if self.commit_then_drop:
            parts.append("commitThenDrop")
        return ", ".join(parts)

    @classmethod
    def parse(cls, data: Any) -> Effect:
        if not isinstance(data, dict):
            raise Invalid("effect must be an object")
        unknown = set(data) - {*EFFECTS, "message"}
        if unknown:
            raise Invalid(f"unknown effect field(s): {', '.join(sorted(unknown))}; known: {', '.join(EFFECTS)}")
        status = data.get("status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
            raise Invalid("effect.status must be an HTTP error status from 400 to 599")
        delay = data.get("delayMs", 0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 600_000:
            raise Invalid("effect.delayMs must be a number of milliseconds from 0 to 600000")
        message = data.get("message")
        if message is not None and not isinstance(message, str):
            raise Invalid("effect.message must be a string")
        for flag in ("reset", "commitThenDrop", "rateLimited"):
            if data.get(flag) is not None and not isinstance(data[flag], bool):
                raise Invalid(f"effect.{flag} must be a boolean")
        effect = cls(status=status, message=message, delay_ms=int(delay), reset=bool(data.get("reset")),
                     commit_then_drop=bool(data.get("commitThenDrop")), rate_limited=bool(data.get("rateLimited")))
        terminal = sum(bool(x) for x in (effect.status, effect.reset, effect.commit_then_drop, effect.rate_limited))
        if terminal > 1:
            raise Invalid("effect may hold only one of status, reset, commitThenDrop, rateLimited (plus delayMs)")
        if terminal == 0 and not effect.delay_ms:
            raise Invalid("effect needs one of status, delayMs, reset, commitThenDrop, rateLimited")
        return effect

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.status:
            out["status"] = self.status
        if self.message:
            out["message"] = self.message
        if self.delay_ms:
            out["delayMs"] = self.delay_ms
        for name, flag in (("reset", self.reset), ("commitThenDrop", self.commit_then_drop),
                           ("rateLimited", self.rate_limited)):
            if flag:
                out[name] = True
        return out


PATH_MAX_LENGTH = 256  # also `maxLength` of FaultMatch.path in contracts/sandbox-control.openapi.yaml
PATH_MAX_SEGMENTS = 32


class PathTemplate:
    """A fault rule's path template, matched in time linear in the path's length whatever the template.

    `{name}` is one non-empty segment; `*` any run of characters, slashes included (so `/payments/*`
    covers everything under /payments); a whole segment `**` any number of segments, none included
    (`/payments/**` also matches `/payments`); anything else is literal. A trailing slash on the template
    or on the request is ignored. This is the language of the regex the templates used to become, but a
    backtracking regex with several `.*` takes time exponential in their number (issue 10): the template
    is a position automaton instead, run over the path with every live position as one bit of an int."""

    def __init__(self, template: str) -> None:
        self.template = template
        # (kind, char): kind is lit, param, star, or for a `/**` segment: group (its slash), star, end (reads
        # nothing: where skipping the whole group lands, so that skipping it never lets its star read on)
        positions: list[tuple[str, str]] = []
        run: list[str] = []  # segments since the last `**`, tokenized together as templates always were
        for i, segment in enumerate(template.rstrip("/").split("/")):
            if segment != "**":
                run.append(("/" if i else "") + segment)
                continue
            positions += self._tokens("".join(run))
            run = []
            positions += [("group", "/"), ("star", ""), ("end", "")] if i else [("star", "")]
        positions += self._tokens("".join(run))
        positions.append(("slash?", "/"))  # an optional trailing slash on the request
        self.last = len(positions)
        self._literal: dict[str, int] = {}
        any_char = not_slash = loop = nullable = group_end = 0
        prefix: list[str] = []
        literal_run = True
        for bit, (kind, char) in enumerate(positions, start=1):
            mask = 1 << bit
            if kind in ("lit", "group", "slash?"):
                self._literal[char] = self._literal.get(char, 0) | mask
            elif kind == "param":
                not_slash |= mask
                loop |= mask
            elif kind == "end":
                nullable |= mask
                group_end |= mask  # `/**` may be skipped as a whole
            else:  # a star: any character, any number of times, or none
                any_char |= mask
                loop |= mask
                nullable |= mask
            if kind == "slash?":
                nullable |= mask
            literal_run = literal_run and kind == "lit"
            if literal_run:
                prefix.append(char)
        self._any, self._not_slash, self._loop = any_char, not_slash, loop
        self._nullable, self._group_end = nullable, group_end
        # Every matching path starts with the literal prefix and ends with the literal suffix (give or take
        # the trailing slash): most rules fail on one of the two without running the automaton.
        self.prefix = "".join(prefix)
        suffix: list[str] = []
        for kind, char in reversed(positions[:-1]):
            if kind != "lit":
                break
            suffix.append(char)
        self.suffix = "".join(reversed(suffix))
        self.literal = len(self.prefix) == self.last - 1  # no parameter, star or `**`: a plain comparison
        self._start = self._close(1)

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for part in re.split(r"(\{[^}/]+\}|\*)", text):
            if part == "*":
                out.append(("star", ""))
            elif part.startswith("{") and part.endswith("}"):  # also `{}` and `{a/b}`, as before
                out.append(("param", ""))
            else:
                out += [("lit", c) for c in part]
        return out

    def _close(self, live: int) -> int:
        """Add the positions reachable without reading a character (a star or a `/**` matching nothing)."""
        while True:
            more = live | ((live << 1) & self._nullable) | ((live << 3) & self._group_end)
            if more == live:
                return live
            live = more

    def match(self, path: str) -> bool:
        if self.literal:
            return path == self.prefix or (path.endswith("/") and path[:-1] == self.prefix)
        if not path.startswith(self.prefix):
            return False
        if self.suffix and not (path.endswith(self.suffix) or path.endswith(self.suffix + "/")):
            return False
        live, literal, any_char, not_slash, loop = self._start, self._literal, self._any, self._not_slash, self._loop
        for char in path:
            accepts = literal.get(char, 0) | any_char | (not_slash if char != "/" else 0)
            live = self._close(((live << 1) | (live & loop)) & accepts)
            if not live:
                return False
        return bool(live >> self.last & 1)

    @classmethod
    def parse(cls, template: str) -> PathTemplate:
        if len(template) > PATH_MAX_LENGTH:
            raise Invalid(f"match.path must be at most {PATH_MAX_LENGTH} characters")
        if len(template.strip("/").split("/")) > PATH_MAX_SEGMENTS:
            raise Invalid(f"match.path must have at most {PATH_MAX_SEGMENTS} segments")
        return cls(template)


@dataclass
class Rule:
    id: str
    method: str | None
    path: str | None
    location_id: str | None
    body: dict[str, Any]
    effect: Effect
    times: int | None = None
    after: int = 0
    probability: float | None = None
    matched: int = 0  # requests that matched the rule
    applied: int = 0  # requests the effect was injected into
    matcher: PathTemplate | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        match: dict[str, Any] = {}
        if self.method:
            match["method"] = self.method
        if self.path:
            match["path"] = self.path
        if self.location_id:
            match["locationId"] = self.location_id
        if self.body:
            match["body"] = self.body
        return {"id": self.id, "match": match, "effect": self.effect.to_json(), "times": self.times,
                "after": self.after, "probability": self.probability, "matched": self.matched,
                "applied": self.applied, "exhausted": self.times is not None and self.applied >= self.times}


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self.rules = []
        self._counter = 0
        self.reseed(seed)
        # Called after a rule is added or removed (the runtime keeps the rules with a `--state` file).
        self.on_change: Callable[[], None] | None = None

    @property
    def rules(self) -> list[Rule]:
        return self._rules

    @rules.setter
    def rules(self, rules: list[Rule]) -> None:
        self._rules = rules
        self._changed()

    def _changed(self) -> None:
        """Forget what was derived from the rule list (after every add, remove, clear)."""
        self._plans: dict[str, list[tuple[str, Rule]]] = {}
        self._needs_body: bool | None = None

    def _plan(self, method: str) -> list[tuple[str, Rule]]:
        """The rules that can match `method`, in list order, each with the fixed start its path must have
        ("" without a path): most requests pass most rules on that one comparison. Call with the lock held."""
        plan = self._plans.get(method)
        if plan is None:
            plan = self._plans[method] = [(r.matcher.prefix if r.matcher else "", r) for r in self._rules
                                          if not r.method or r.method in (method, "*")]
        return plan

    def reseed(self, seed: int) -> None:
        self.rng = random.Random(f"faults-{seed}")

    def add(self, data: Any) -> Rule:
        if not isinstance(data, dict):
            raise Invalid("fault rule must be an object")
        unknown_fields = set(data) - {"match", "effect", "times", "after", "probability"}
        if unknown_fields:  # a typo (`time: 2`) must not silently make a rule permanent
            raise Invalid(f"unknown field(s): {', '.join(sorted(unknown_fields))}; "
                             "known: match, effect, times, after, probability")
        match = data.get("match", {})
        if not isinstance(match, dict):
            raise Invalid("match must be an object")
        unknown = set(match) - {"method", "path", "locationId", "body"}
        if unknown:
            raise Invalid(f"unknown match field(s): {', '.join(sorted(unknown))}")
        for name in ("method", "path", "locationId"):
            if match.get(name) is not None and not isinstance(match[name], str):
                raise Invalid(f"match.{name} must be a string")
        body = match.get("body")
        if body is None:
            body = {}
        if not isinstance(body, dict):  # [] or "" used to pass as "no body condition"
            raise Invalid("match.body must be an object of field: value")
        effect = Effect.parse(data.get("effect"))
        times, after, prob = data.get("times"), data.get("after", 0), data.get("probability")
        for name, value in (("times", times), ("after", after)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise Invalid(f"{name} must be a non-negative integer")
        if prob is not None and (isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1):
            raise Invalid("probability must be between 0 and 1")
        path = match.get("path")
        with self._lock:
            self._counter += 1
            rule = Rule(id=f"fault_{self._counter}", method=(match.get("method") or "").upper() or None, path=path,
                        location_id=match.get("locationId"), body=body, effect=effect, times=times,
                        after=after or 0, probability=None if prob is None else float(prob),
                        matcher=PathTemplate.parse(path) if path else None)
            self.rules.append(rule)
            self._changed()
        self._saved()
        return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if r.id != rule_id]
            removed = len(self.rules) != before
        if removed:
            self._saved()
        return removed

    def clear(self) -> int:
        with self._lock:
            n = len(self.rules)
            self.rules = []
        self._saved()
        return n

    def _saved(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def to_state(self) -> dict[str, Any]:
        """The rules as `GET /_sandbox/faults` lists them (with their counts at this moment) and the id counter."""
        with self._lock:
            return {"counter": self._counter, "rules": [r.to_json() for r in self._rules]}

    def load_state(self, data: Any) -> None:
        """Rules saved by `to_state`, with their ids and counts; a rule this version refuses is skipped."""
        if not isinstance(data, dict):
            return
        listener, self.on_change = self.on_change, None  # loading is not a change to save again
        try:
            self.clear()
            for saved in data.get("rules") or []:
                if not isinstance(saved, dict):
                    continue
                try:
                    rule = self.add({k: saved[k] for k in ("match", "effect", "times", "after", "probability") if k in saved})
                except Invalid:
                    continue
                rule.id = str(saved.get("id") or rule.id)
                rule.matched, rule.applied = int(saved.get("matched") or 0), int(saved.get("applied") or 0)
            counter = data.get("counter")
            with self._lock:
                self._counter = max(self._counter, counter if isinstance(counter, int) else 0)
        finally:
            self.on_change = listener

    @property
    def needs_body(self) -> bool:
        needs = self._needs_body
        if needs is None:
            needs = self._needs_body = any(r.body for r in self._rules)
        return needs

    def pick(self, method: str, path: str, locations: set[str] | Callable[[], set[str]],
             body: dict[str, Any] | None) -> Effect | None:
        """The effect of the first rule that matches (counting it), or None. `locations` may be a
        function giving the request's locations: it is called only when a rule asks for a location."""
        with self._lock:
            for prefix, rule in self._plan(method):  # only rules for this method
                if not path.startswith(prefix):
                    continue
                if rule.times is not None and rule.applied >= rule.times:
                    continue
                if rule.matcher and not rule.matcher.match(path):
                    continue
                if rule.location_id:
                    if callable(locations):
                        locations = locations()
                    if rule.location_id not in locations:
                        continue
                if rule.body and (body is None or any(body.get(k) != v for k, v in rule.body.items())):
                    continue
                rule.matched += 1
                if rule.matched <= rule.after:
                    continue
                if rule.probability is not None and self.rng.random() >= rule.probability:
                    continue
                rule.applied += 1
                return rule.effect
        return None


def header_effect(value: str) -> Effect:
    """`X-Sandbox-Fault: status=503`, `delay=250`, `reset`, `commit-then-drop`, `rate-limited`."""
    data: dict[str, Any] = {}
    for part in value.split(";"):
        key, _, arg = part.strip().partition("=")
        key = key.strip().lower().replace("-", "").replace("_", "")
        if key == "status":
            data["status"] = int(arg)
        elif key in ("delay", "delayms"):
            data["delayMs"] = float(arg)
        elif key == "reset":
            data["reset"] = True
        elif key == "committhendrop":
            data["commitThenDrop"] = True
        elif key == "ratelimited":
            data["rateLimited"] = True
        elif key == "message":
            data["message"] = arg
        elif key:
            raise Invalid(f"unknown fault {key!r}")
    return Effect.parse(data)


def _transport_of(send: Any, depth: int = 0) -> Any:
    """The transport behind a `send`: uvicorn's `send` is bound to the request cycle, which holds it.
    Starlette's outermost ServerErrorMiddleware hands the gateway a closure around that `send`, so
    look through (a few levels of) closures too."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None or depth >= 4:
        return transport
    for cell in getattr(send, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(value):
            transport = _transport_of(value, depth + 1)
            if transport is not None:
                return transport
    return None


async def abort_connection(scope: Scope) -> None:
    """Close the TCP connection without a response; the gateway keeps the server's `send` in the scope."""
    transport = _transport_of(context_of(scope).raw_send)
    if transport is None:  # another server: fall back to an exception, which drops the connection mid-response
        raise ConnectionAbortedError("sandbox fault: connection dropped")
    transport.abort()
    # Let the server see the connection lost before the app returns, or it would try to answer a 500.
    for _ in range(3):
        await asyncio.sleep(0)


class FaultHost(Protocol):
    """What the fault middleware needs from the runtime."""

    faults: FaultInjector
    ratelimiter: RateLimiter

    def location_of_bearer(self, secret: str) -> str | None: ...


class FaultMiddleware:
    def __init__(self, app: ASGIApp, runtime: FaultHost) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(FAULTABLE_PREFIXES):
            await self.app(scope, receive, send)
            return
        injector: FaultInjector = self.runtime.faults
        header = _header(scope, b"x-sandbox-fault")
        if not injector.rules and header is None:
            await self.app(scope, receive, send)
            return
        body_bytes: bytes | None = None
        if scope["method"] in ("POST", "PUT", "PATCH") and injector.needs_body:
            body_bytes, receive = await _buffer(receive)
        effect: Effect | None
        if header is not None:
            try:
                effect = header_effect(header)
            except ValueError as exc:
                await _reply(send, 400, f"Bad X-Sandbox-Fault header: {exc}", scope, [])
                return
        else:
            effect = injector.pick(scope["method"], scope["path"], partial(self._locations, scope, body_bytes),
                                   _json(body_bytes))
        if effect is None:
            await self.app(scope, receive, send)
            return
        context_of(scope).fault = effect.label()
        if effect.delay_ms:
            # uvloop's timers have millisecond resolution and may wake a little early: sleep until the
            # full delay has passed, so the latency a client (and the journal) sees is never below it.
            deadline = time.perf_counter() + effect.delay_ms / 1000
            while (left := deadline - time.perf_counter()) > 0:
                await asyncio.sleep(left)
        if effect.status:
            await _reply(send, effect.status, effect.message or reason(effect.status), scope, [])
        elif effect.rate_limited:
            p = self.runtime.ratelimiter.profile
            headers = [(b"x-ratelimit-limit-daily", str(p.daily).encode()),
                       (b"x-ratelimit-daily-remaining", str(p.daily - 1).encode()),
                       (b"x-ratelimit-interval-milliseconds", str(p.interval_ms).encode()),
                       (b"x-ratelimit-max", str(p.burst).encode()), (b"x-ratelimit-remaining", b"0")]
            await _reply(send, 429, effect.message or "Too Many Requests", scope, headers)
        elif effect.reset:
            context_of(scope).dropped = True
            await abort_connection(scope)
        elif effect.commit_then_drop:
            async def swallow(message: Message) -> None:
                if message["type"] == "http.response.start":
                    context_of(scope).committed_status = message["status"]

            await self.app(scope, receive, swallow)
            context_of(scope).dropped = True
            await abort_connection(scope)
        else:
            await self.app(scope, receive, send)

    def _locations(self, scope: Scope, body: bytes | None) -> set[str]:
        found: set[str] = set()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        for key in ("altId", "locationId"):
            found.update(query.get(key, []))
        data = _json(body)
        if data:
            for key in ("altId", "locationId"):
                if isinstance(data.get(key), str):
                    found.add(data[key])
        auth = _header(scope, b"authorization") or ""
        if auth.lower().startswith("bearer "):
            location_id = self.runtime.location_of_bearer(auth[7:].strip())
            if location_id is not None:
                found.add(location_id)
        return found


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _json(body: bytes | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _reply(send: Send, status: int, message: str, scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    body = jsjson.dumps(error_body(status, message, reason(status), context_of(scope).trace))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"), *headers]})
    await send({"type": "http.response.body", "body": body})
