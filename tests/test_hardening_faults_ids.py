"""Issue 10, items 1, 7 and 10b: a fault rule cannot freeze the server (path templates match in linear
time and are bounded), configuration ids (webhook targets) neither come from nor disturb the seeded data
stream while delivery ids stay seeded, and a location name is bounded."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server.faults import PATH_MAX_LENGTH, PATH_MAX_SEGMENTS, FaultInjector
from mock_server.testing import SandboxProcess

NOWHERE = "http://127.0.0.1:9/hook"  # deliveries to it fail: only their ids matter here


def control(proc: SandboxProcess) -> httpx.Client:
    return httpx.Client(base_url=proc.url + "/_sandbox", timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--orders", "0", "--rate-limit", "off", "--seed", "5"]) as proc:
        yield proc


# ==== 1. fault path templates ======================================================================

def test_a_hostile_fault_rule_does_not_freeze_the_server(server: SandboxProcess) -> None:
    with control(server) as sb:
        template = "/payments/" + "/".join(["*a"] * 20)
        r = sb.post("/faults", json={"match": {"path": template}, "effect": {"status": 503}})
        assert r.status_code == 201, r.text
        try:
            # Unauthenticated, answered in a thread: before the fix this request never came back.
            hostile = threading.Thread(target=_get_quietly, args=(server.url + "/payments/" + "a" * 34,),
                                       daemon=True)
            hostile.start()
            time.sleep(0.2)  # let the server start matching
            started = time.perf_counter()
            health = httpx.get(server.url + "/_sandbox/health", timeout=1.0)
            assert health.status_code == 200
            assert time.perf_counter() - started < 1.0
            hostile.join(timeout=5)
            assert not hostile.is_alive()
        finally:
            sb.delete("/faults")


def _get_quietly(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # only whether it came back matters
        httpx.get(url, timeout=10)


@pytest.mark.parametrize(("path", "problem"), [
    ("/payments/" + "x" * PATH_MAX_LENGTH, f"match.path must be at most {PATH_MAX_LENGTH} characters"),
    ("/a" * (PATH_MAX_SEGMENTS + 1), f"match.path must have at most {PATH_MAX_SEGMENTS} segments"),
])
def test_a_too_long_template_is_refused_naming_the_field(server: SandboxProcess, path: str, problem: str) -> None:
    with control(server) as sb:
        r = sb.post("/faults", json={"match": {"path": path}, "effect": {"status": 503}})
        assert r.status_code == 422, r.text
        assert problem in r.text
        assert sb.get("/faults").json() == []


@pytest.mark.parametrize("path", ["/payments/" + "x" * (PATH_MAX_LENGTH - len("/payments/")),
                                  "/a" * PATH_MAX_SEGMENTS])
def test_the_largest_templates_allowed_are_accepted(server: SandboxProcess, path: str) -> None:
    with control(server) as sb:
        r = sb.post("/faults", json={"match": {"path": path}, "effect": {"status": 503}})
        assert r.status_code == 201, r.text
        sb.delete("/faults")


def _fires(template: str, path: str) -> bool:
    injector = FaultInjector(seed=1)
    injector.add({"match": {"path": template}, "effect": {"status": 503}})
    return injector.pick("GET", path, set(), None) is not None


@pytest.mark.parametrize(("template", "path", "fires"), [
    ("/payments/**", "/payments", True),  # `**` may be no segment at all
    ("/payments/**", "/payments/", True),
    ("/payments/**", "/payments/orders/1/fulfillments", True),
    ("/payments/**", "/paymentsX", False),  # ... but whole segments only
    ("/payments/**/fulfillments", "/payments/fulfillments", True),
    ("/payments/**/fulfillments", "/payments/orders/1/fulfillments", True),
    ("/payments/**/fulfillments", "/payments/orders/1/fulfillmentsX", False),
    ("/payments/**/fulfillments", "/payments/ordersfulfillments", False),
    ("/**", "/payments/orders", True),
    ("**", "/payments/orders", True),
    ("/payments/a**b", "/payments/a/x/b", True),  # inside a segment, `**` is `*` as it always was
    ("/payments/*a", "/payments/x/ya", True),
    ("/payments/*a", "/payments/x/y", False),
    ("/payments/{id}-{n}", "/payments/a-b-c", True),
    ("/payments/{id}-{n}", "/payments/a-", False),
])
def test_template_language(template: str, path: str, fires: bool) -> None:
    assert _fires(template, path) is fires


def test_matching_is_linear_in_the_path_for_every_template_shape() -> None:
    hostile = "/payments/" + "/".join(["a"] * 2_000)
    templates = ["/payments/" + "/".join(["*a"] * 20) + "/never", "/payments/" + "/".join(["**"] * 20) + "/b",
                 "/payments/" + "{a}-" * 40 + "z", "*" * 200 + "never"]
    started = time.perf_counter()
    for template in templates:
        assert not _fires(template, hostile)
        assert not _fires(template, "/payments/" + "a-" * 5_000)
    assert time.perf_counter() - started < 1.0


# ==== 10b. location names ==========================================================================

def test_a_huge_location_name_is_refused(server: SandboxProcess) -> None:
    with control(server) as sb:
        before = len(sb.get("/locations").json())
        r = sb.post("/locations", json={"name": "n" * 1_000_000})
        assert r.status_code == 422, r.text[:300]
        assert "name must be at most 200 characters" in r.text
        assert len(r.content) < 2_000  # the refusal does not echo the name back
        assert len(sb.get("/locations").json()) == before
        r = sb.post("/locations", json={"name": "n" * 200, "orders": 0})
        assert r.status_code == 201, r.text[:300]
        assert r.json()["name"] == "n" * 200


# ==== 7. configuration ids =========================================================================

def test_a_target_registered_after_a_reset_keeps_the_one_given_at_start() -> None:
    first = "http://127.0.0.1:9/first"
    with SandboxProcess(["--orders", "0", "--seed", "11", "--webhook-url", first]) as proc, control(proc) as sb:
        [a] = sb.get("/webhooks/targets").json()
        assert sb.post("/reset").status_code == 200
        b = sb.post("/webhooks/targets", json={"url": "http://127.0.0.1:9/second"}).json()
        targets = sb.get("/webhooks/targets").json()
        assert a["id"] != b["id"]
        assert sorted(t["url"] for t in targets) == sorted([first, "http://127.0.0.1:9/second"])


def _actions(sb: httpx.Client, n: int = 4) -> list[str]:
    ids = []
    for _ in range(n):
        r = sb.post("/simulate/order.create", json={})
        assert r.status_code < 300, r.text
        ids.append(r.json()["resources"][0]["id"])
    return ids


def _run(targets: int) -> dict[str, Any]:
    with SandboxProcess(["--orders", "0", "--seed", "21", "--rate-limit", "off"]) as proc, control(proc) as sb:
        for i in range(targets):
            assert sb.post("/webhooks/targets", json={"url": f"{NOWHERE}/{i}"}).status_code == 201
        orders = _actions(sb)
        deliveries = sb.get("/webhooks/deliveries", params={"limit": 100}).json()["deliveries"]
        return {"orders": orders, "deliveries": sorted((d["id"], d["webhookId"]) for d in deliveries)}


def test_targets_shift_no_order_id_and_one_seed_gives_the_same_delivery_ids() -> None:
    without, with_two, again = _run(0), _run(2), _run(2)
    assert with_two["orders"] == without["orders"]
    assert len(with_two["deliveries"]) == 2 * 4
    assert again["deliveries"] == with_two["deliveries"]
