"""Helpers shared by the simulation, clock, fault and trigger-CLI tests: drive the control plane
(`POST /_sandbox/simulate/{action}`, `/_sandbox/clock`) of the `ghl_sandbox` server over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from api_support import ORDERS, SUBSCRIPTIONS, TRANSACTIONS, everything, get, ok

from mock_server.testing import SandboxClient


def simulate(sb: SandboxClient, action: str, **body: Any) -> dict[str, Any]:
    """Run an action that must succeed; returns `{action, resources, webhooks}`."""
    r = sb.http.post(f"/_sandbox/simulate/{action}", json=body)
    assert r.status_code == 200, f"{action} {body} -> {r.status_code} {r.text[:500]}"
    data = r.json()
    assert set(data) == {"action", "resources", "webhooks"}
    assert data["action"] == action
    return data


def resources(result: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["data"] for r in result["resources"] if r["type"] == kind]


def one(result: dict[str, Any], kind: str) -> dict[str, Any]:
    found = resources(result, kind)
    assert len(found) == 1, (kind, [(r["type"], r["id"]) for r in result["resources"]])
    return found[0]


def events(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(w["event"], w["resourceId"]) for w in result["webhooks"]]


def new_order(sb: SandboxClient, **body: Any) -> str:
    return one(simulate(sb, "order.create", **body), "order")["_id"]


def order(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> dict[str, Any]:
    """GET the order through the API (note: a GET counts as a poll for pending payments)."""
    return ok(get(sb, loc, f"{ORDERS}/{order_id}"))


def order_statuses(o: dict[str, Any]) -> tuple[str, str, str]:
    return o["status"], o["paymentStatus"], o["fulfillmentStatus"]


def transaction(sb: SandboxClient, loc: dict[str, Any], txn_id: str) -> dict[str, Any]:
    return ok(get(sb, loc, f"{TRANSACTIONS}/{txn_id}"))


def transactions_of(sb: SandboxClient, loc: dict[str, Any], entity_id: str) -> list[dict[str, Any]]:
    return everything(sb, loc, TRANSACTIONS, entityId=entity_id)


def subscription(sb: SandboxClient, loc: dict[str, Any], sub_id: str) -> dict[str, Any]:
    return ok(get(sb, loc, f"{SUBSCRIPTIONS}/{sub_id}"))


def clock(sb: SandboxClient, **body: Any) -> dict[str, Any]:
    """POST /_sandbox/clock with a body (freeze/advance), or GET it without one."""
    return sb.control("POST", "/clock", json=body) if body else sb.control("GET", "/clock")


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def wait_for(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll until `check()` is truthy (the sandbox's scheduler ticks about every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)
