"""In-process micro-measure for the `faults` benchmark: what the fault middleware adds to one
get-order-by-id request when no rule matches, free of network and scheduler noise.

Builds a real Sandbox (default settings, 8 orders), then times, per call (best of several batches):
  bypass      the inner app alone (a no-op ASGI app: the baseline every other number is measured from);
  none        FaultMiddleware with no rules around it;
  rules       FaultMiddleware with the given non-matching rules;
  pick        FaultInjector.pick alone with those rules (the rule scan, without the middleware around it).
Prints one line `FAULTS_MICRO {json}` with microseconds per call. Rules come as a JSON list in argv[1].

    python -m benchmarks.faults_micro '[{"match": {...}, "effect": {...}}, ...]'
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import orjson

from mock_server.app import new_runtime
from mock_server.faults import FaultInjector, FaultMiddleware
from mock_server.ghl.models import Order, Token
from mock_server.runtime import Runtime
from mock_server.settings import Settings

BATCH = 20_000
BATCHES = 7


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


async def _time_app(app: Any, scope: dict[str, Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await app(scope, _receive, _send)
    return (time.perf_counter() - t0) / n * 1e6


def _time_pick(injector: FaultInjector, method: str, path: str, locations: set[str], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        injector.pick(method, path, locations, None)
    return (time.perf_counter() - t0) / n * 1e6


async def measure(rules: list[dict[str, Any]]) -> dict[str, Any]:
    sandbox = new_runtime(Settings(port=0, orders=8, rate_limit="off"))
    location = sandbox.locations()[0]
    token = next(t for t in sandbox.store.table(Token).all() if t.location_id == location.id)
    order = next(o for o in sandbox.store.table(Order).all() if o.location_id == location.id)
    path = f"/payments/orders/{order.id}"
    query = f"altId={location.id}&altType=location".encode()
    # The headers wrk sends (see benchmarks/wrk.py), in the order a server hands them on.
    headers = [(b"host", b"127.0.0.1:8080"), (b"authorization", f"Bearer {token.secret}".encode()),
               (b"version", b"2021-07-28")]
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": query,
             "headers": headers}
    with_rules = FaultInjector(0)
    for rule in rules:
        with_rules.add(rule)
    sandbox_none = _Holder(sandbox, FaultInjector(0))
    sandbox_rules = _Holder(sandbox, with_rules)
    apps = {"bypass": _inner, "none": FaultMiddleware(_inner, sandbox_none),
            "rules": FaultMiddleware(_inner, sandbox_rules)}
    locations = {location.id}
    best: dict[str, float] = {name: float("inf") for name in (*apps, "pick")}
    for app in apps.values():  # warm-up
        await _time_app(app, scope, 2_000)
    for _ in range(BATCHES):  # alternate, best batch of each: the least disturbed
        for name, app in apps.items():
            best[name] = min(best[name], await _time_app(app, scope, BATCH))
        best["pick"] = min(best["pick"], _time_pick(with_rules, "GET", path, locations, BATCH))
    if any(r.matched for r in with_rules.rules):
        raise SystemExit("faults_micro: a rule matched the measured request")
    return {"rules": len(rules), "bypass_us": round(best["bypass"], 3),
            "middleware_none_us": round(best["none"] - best["bypass"], 3),
            "middleware_rules_us": round(best["rules"] - best["bypass"], 3),
            "pick_us": round(best["pick"], 3), "calls_per_batch": BATCH, "batches": BATCHES}


class _Holder:
    """What FaultMiddleware reads from the sandbox: its fault rules and its auth service."""

    def __init__(self, sandbox: Runtime, faults: FaultInjector) -> None:
        self.faults = faults
        self.location_of_bearer = sandbox.location_of_bearer
        self.ratelimiter = sandbox.ratelimiter


def main() -> None:
    rules = orjson.loads(sys.argv[1]) if len(sys.argv) > 1 else []
    result = asyncio.run(measure(rules))
    print("FAULTS_MICRO " + orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
