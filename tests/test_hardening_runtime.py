"""Issue 10, runtime hardening: bounded caches (memory stays flat under many distinct list queries),
one webhook lane per target (a receiver that hangs delays only itself), and the configuration a
`--state FILE` keeps across `kill -9` (the sandbox clock, fault rules, the webhook retry policy)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from receiver import Receiver, Reply

from mock_server.app import new_runtime
from mock_server.ghl.models import Order
from mock_server.http.cache import ENTRY_OVERHEAD, ResponseCache
from mock_server.settings import Settings
from mock_server.store import COUNT_CACHE_MAX, Condition
from mock_server.testing import SandboxClient, SandboxProcess

ORDERS = "/payments/orders"
DAY = 86400


def key(n: int) -> tuple[str, bytes, str, str]:
    return "/payments/orders", f"offset={n}".encode(), "loc", "location"


# ---- item 4: bounded caches -----------------------------------------------------------------------


def test_response_cache_forgets_least_recently_used_past_its_byte_budget() -> None:
    body = b"x" * 1000
    cost = len(body) + len(key(0)[0]) + len(key(0)[1]) + ENTRY_OVERHEAD
    cache = ResponseCache(True, frozenset({"orders"}), max_bytes=cost * 3)
    for n in range(3):
        cache.store(key(n), 200, body, b"application/json")
    assert len(cache) == 3 and cache.size_bytes == cost * 3
    assert cache.get(key(0)) is not None  # 0 is now the most recently used: 1 goes first
    cache.store(key(3), 200, body, b"application/json")
    assert [cache.get(key(n)) is not None for n in range(4)] == [True, False, True, True]
    assert cache.size_bytes <= cache.max_bytes
    hit = cache.get(key(3))
    assert hit is not None and hit.body == body and hit.status_code == 200

    # Putting the same key again replaces its bytes instead of counting them twice.
    cache.store(key(3), 200, body, b"application/json")
    assert cache.size_bytes == cost * 3

    # An answer bigger than the whole budget is not kept (and evicts nothing).
    cache.store(key(9), 200, b"y" * (cost * 4), b"application/json")
    assert cache.get(key(9)) is None and len(cache) == 3

    cache.written("orders")
    assert len(cache) == 0 and cache.size_bytes == 0


def test_response_cache_budget_zero_is_off() -> None:
    assert ResponseCache(True, frozenset(), max_bytes=0).enabled is False
    assert ResponseCache(False, frozenset()).enabled is False
    assert ResponseCache(True, frozenset()).enabled is True


def test_list_total_cache_keeps_a_bounded_number_of_queries() -> None:
    runtime = new_runtime(Settings(orders=30))
    try:
        store = runtime.store
        location_id = runtime.locations()[0].id
        table = store.table(Order)
        everything = [Condition("location_id", "=", location_id)]
        rows, total = table.page(everything, 5, 0)
        assert total == 30 and len(rows) == 5
        # Every distinct search is one more total to keep until the next write.
        for n in range(COUNT_CACHE_MAX + 200):
            _, found = table.page([*everything, Condition("search_text", "INSTR", f"no-such-{n}")], 5, 0)
            assert found == 0
            # The first query is used again and again: it stays while older searches go.
            assert table.page(everything, 5, 0)[1] == 30
        assert len(store._count_cache) <= COUNT_CACHE_MAX
        assert ("orders", " WHERE location_id = ?", (location_id,)) in store._count_cache
    finally:
        runtime.store.close()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_thousands_of_distinct_list_queries_keep_memory_bounded() -> None:
    # 2,700 distinct pages of about 80 KB each: 210 MB of answers. Unbounded, the server kept them all.
    with SandboxProcess(["--rate-limit", "off", "--orders", "1000", "--response-cache-mb", "16"]) as proc:
        assert proc.proc is not None
        sb = proc.client()
        view = sb.location(0)
        loc, token = view["locationId"], view["tokens"][0]["token"]
        params = {"altId": loc, "altType": "location"}
        r = sb.api("GET", ORDERS, token, params={**params, "limit": 100})
        assert r.status_code == 200 and len(r.content) > 50_000
        before = rss_mb(proc.proc.pid)
        started = time.monotonic()
        for limit in (100, 99, 98):
            for offset in range(900):
                r = sb.api("GET", ORDERS, token, params={**params, "limit": limit, "offset": offset})
                assert r.status_code == 200
        grown = rss_mb(proc.proc.pid) - before
        assert grown < 80, f"RSS grew {grown:.0f} MB over 2,700 distinct queries (budget 16 MB)"
        assert time.monotonic() - started < 30
        # Cached answers are still served, and are the same bytes.
        again = sb.api("GET", ORDERS, token, params={**params, "limit": 98, "offset": 899})
        assert again.status_code == 200 and again.content == r.content
        sb.close()


# ---- item 5: one delivery lane per target ----------------------------------------------------------


def test_a_receiver_that_hangs_past_the_timeout_does_not_delay_another() -> None:
    args = ["--orders", "0", "--rate-limit", "off", "--webhook-timeout", "1"]
    with Receiver(default=Reply(200, delay=2.5)) as slow, Receiver() as healthy, SandboxProcess(args) as proc:
        sb = proc.client()
        slow_target = sb.webhook_target(slow.url)
        healthy_target = sb.webhook_target(healthy.url)
        order_ids = []
        for n in range(5):
            started = time.monotonic()
            answer = sb.simulate("order.create")
            order_ids.append(answer["resources"][0]["id"])
            healthy.wait_for(n + 1, timeout=5)
            late = time.monotonic() - started
            # Before: a round waited for every target, so this came about one timeout (1 s) late.
            assert late < 0.5, f"event {n + 1} reached the healthy receiver {late:.2f} s after the change"
        # Each target gets its events in order; the slow one's attempts time out.
        assert [b["_id"] for b in healthy.bodies()] == order_ids
        assert sb.wait_for(timeout=15).status_code == 200
        slow_deliveries = sb.deliveries(targetId=slow_target["id"])
        assert len(slow_deliveries) == 5
        assert {d["status"] for d in slow_deliveries} == {"failed"}
        assert all("timeout" in (d["lastError"] or "") for d in slow_deliveries), slow_deliveries
        assert {d["status"] for d in sb.deliveries(targetId=healthy_target["id"])} == {"delivered"}
        assert [b["_id"] for b in slow.bodies()] == order_ids
        sb.close()


# ---- item 6: configuration kept with --state across kill -9 ------------------------------------------


ARGS = ["--rate-limit", "off", "--orders", "20"]
RULE = {"match": {"method": "GET", "path": "/payments/orders/{orderId}"}, "effect": {"status": 503}, "times": 50}
POLICY = {"name": "exponential", "retryIntervalS": 5.0, "maxRetries": 3, "factor": 3.0, "timeoutS": 2.0}


def rule_shape(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: rule[k] for k in ("id", "match", "effect", "times", "after", "probability")}


def killed(proc: SandboxProcess, sb: SandboxClient) -> None:
    sb.close()
    proc.kill()  # SIGKILL at once: nothing gets a chance to flush
    assert proc.proc is not None and proc.proc.returncode == -9


def order_created(sb: SandboxClient) -> str:
    created: str = sb.simulate("order.create")["resources"][0]["data"]["createdAt"]
    return created


def test_clock_faults_and_retry_policy_survive_kill_9(tmp_path: Path) -> None:
    state = str(tmp_path / "sandbox.db")
    proc = SandboxProcess(["--state", state, *ARGS]).start()
    try:
        sb = proc.client()
        assert sb.advance_clock("30d")["offsetSeconds"] >= 30 * DAY
        before_kill = order_created(sb)
        rule = sb.add_fault(RULE)
        assert sb.set_webhook_policy(**POLICY) == POLICY
    finally:
        killed(proc, sb)

    proc = SandboxProcess(["--state", state, *ARGS]).start()
    try:
        sb = proc.client()
        clock = sb.clock()
        assert 30 * DAY - 5 < clock["offsetSeconds"] < 30 * DAY + 60, clock
        # New orders are dated after the ones made before the restart, not 30 days earlier.
        assert order_created(sb) >= before_kill
        assert [rule_shape(r) for r in sb.faults()] == [rule_shape(rule)]
        view = sb.location(0)
        r = sb.api("GET", f"{ORDERS}/any-order", view["tokens"][0]["token"], params={"altId": view["locationId"]})
        assert r.status_code == 503  # the rule is live, not only listed
        assert sb.webhook_policy() == POLICY
        # A second rule after the restart gets a new id.
        assert sb.add_fault(RULE)["id"] != rule["id"]

        # A reset clears fault rules and the clock (as documented) and keeps the policy; so does a restart.
        sb.reset()
        assert sb.faults() == [] and sb.webhook_policy() == POLICY
    finally:
        killed(proc, sb)

    with SandboxProcess(["--state", state, *ARGS]) as again:
        sb = again.client()
        assert sb.faults() == []
        assert abs(sb.clock()["offsetSeconds"]) < 5
        assert sb.webhook_policy() == POLICY
        # What `GET /_sandbox/state` shows is the data only, as before.
        assert "sandbox_config" not in sb.control("GET", "/state")["meta"]
        sb.close()
