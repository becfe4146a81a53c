"""Unit tests for the pure pieces of the sandbox: derived order state and money rounding, seeded delivery
chaos, fault path templates, rate-limit bucket arithmetic and project-file templates.

They call the public entry points (`state.derive`, `seed.seeded_cents`, `money.to_minor`, `chaos.decide`,
`FaultInjector.pick`, `RateLimiter.consume`, `templates.problems`/`render`) so a redesign of the internals
can keep them; record construction is gathered in small helpers for the same reason (amounts in cents).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import httpx
import pytest

from mock_server import ratelimit
from mock_server.app import build_app, new_runtime
from mock_server.faults import FaultInjector
from mock_server.ghl import money, seed, state
from mock_server.ghl.models import Fulfillment, Order, Transaction, TransactionStatus
from mock_server.ratelimit import RateLimiter
from mock_server.settings import Settings
from mock_server.webhooks.chaos import Chaos, Decision, decide
from scenarios import templates
from scenarios.templates import TemplateError, problems, render

# ==== 1. derived order state ========================================================================


def _order(amount: int, items: Sequence[tuple[str, float]] = (("price_a", 1),), *,
           cancelled: bool = False) -> Order:
    """An order of `amount` cents (money is integer minor units in the records)."""
    return Order(id="order_1", location_id="loc_1", contact_id="contact_1", currency="USD",
                 items=[{"price_id": pid, "product_id": f"product_{pid}", "name": pid, "qty": qty,
                         "unit_amount_minor": 0} for pid, qty in items],
                 subtotal_minor=amount, discount_minor=0, tax_minor=0, shipping_minor=0, amount_minor=amount,
                 live_mode=False, source={}, created_at=0.0, updated_at=0.0, cancelled=cancelled)


def _txn(amount: int, status: TransactionStatus = "succeeded", refunded: int = 0) -> Transaction:
    """A transaction of `amount` cents, `refunded` of them refunded."""
    return Transaction(id=f"txn_{amount}_{status}", location_id="loc_1", contact_id="contact_1",
                       order_id="order_1", currency="USD", amount_minor=amount, status=status, live_mode=False,
                       charge_id="ch_1", provider_type="stripe", connected_account={}, payment_method={},
                       source={}, created_at=0.0, updated_at=0.0, fulfilled_at=0.0, amount_refunded_minor=refunded)


def _fulfillment(*items: tuple[str, float]) -> Fulfillment:
    return Fulfillment(id="ful_1", location_id="loc_1", order_id="order_1",
                       items=[{"price_id": pid, "qty": qty} for pid, qty in items], trackings=[],
                       notify_customer=False, created_at=0.0, updated_at=0.0)


def _derived(order: Order, txns: Iterable[Transaction] = (),
             fulfillments: Iterable[Fulfillment] = ()) -> tuple[str, str, str]:
    """(status, paymentStatus, fulfillmentStatus) after `derive`."""
    state.derive(order, txns, fulfillments)
    return order.status, order.payment_status, order.fulfillment_status


@pytest.mark.parametrize(("amount", "txns", "expected"), [
    pytest.param(10000, [], ("pending", "unpaid"), id="no_transactions_is_unpaid"),
    pytest.param(10000, [_txn(10000, "pending")], ("pending", "unpaid"), id="pending_payment_is_not_money"),
    pytest.param(10000, [_txn(10000, "failed")], ("pending", "unpaid"), id="failed_payment_is_not_money"),
    pytest.param(10000, [_txn(4000)], ("pending", "partially_paid"), id="part_payment"),
    pytest.param(10000, [_txn(4000), _txn(6000, "pending")], ("pending", "partially_paid"),
                 id="pending_rest_does_not_complete"),
    pytest.param(10000, [_txn(10000, "failed"), _txn(10000)], ("completed", "paid"), id="retry_after_failure"),
    pytest.param(10000, [_txn(10000)], ("completed", "paid"), id="paid_in_one"),
    pytest.param(10000, [_txn(3333), _txn(3333), _txn(3334)], ("completed", "paid"),
                 id="three_parts_adding_up_exactly"),
    pytest.param(10000, [_txn(3333), _txn(3333), _txn(3333)], ("pending", "partially_paid"),
                 id="three_parts_one_cent_short"),
    pytest.param(30, [_txn(10), _txn(20)], ("completed", "paid"), id="float_sum_0.1_plus_0.2"),
    pytest.param(10000, [_txn(9999)], ("pending", "partially_paid"), id="one_cent_short"),
    pytest.param(10000, [_txn(10001)], ("completed", "paid"), id="one_cent_over"),
    pytest.param(10000, [_txn(10000, refunded=3000)], ("completed", "paid"), id="partial_refund_stays_paid"),
    pytest.param(10000, [_txn(10000, "refunded", refunded=10000)], ("refunded", "refunded"), id="full_refund"),
    pytest.param(10000, [_txn(10000, refunded=9999)], ("completed", "paid"), id="refund_one_cent_short"),
    pytest.param(30, [_txn(10, "refunded", 10), _txn(20, "refunded", 20)], ("refunded", "refunded"),
                 id="full_refund_across_float_parts"),
    pytest.param(10000, [_txn(6000, "refunded", 6000), _txn(4000, refunded=1000)], ("completed", "paid"),
                 id="one_of_two_payments_refunded"),
    pytest.param(10000, [_txn(5000, "refunded", 5000)], ("refunded", "refunded"),
                 id="part_paid_then_fully_refunded"),
    pytest.param(10000, [_txn(5000, refunded=2000)], ("pending", "partially_paid"),
                 id="part_paid_then_partly_refunded"),
])
def test_payment_and_order_status_follow_the_transactions(amount: int, txns: list[Transaction],
                                                          expected: tuple[str, str]) -> None:
    status, payment, _ = _derived(_order(amount), txns)
    assert (status, payment) == expected


@pytest.mark.parametrize(("txns", "payment"), [
    ([], "unpaid"), ([_txn(10000)], "paid"), ([_txn(10000, "refunded", 10000)], "refunded"),
])
def test_a_cancelled_order_reads_cancelled_whatever_its_payments(txns: list[Transaction], payment: str) -> None:
    status, payment_status, _ = _derived(_order(10000, cancelled=True), txns)
    assert (status, payment_status) == ("cancelled", payment)


def test_fulfillment_goes_unfulfilled_partially_fulfilled_fulfilled() -> None:
    order = _order(1000, items=[("price_a", 2), ("price_b", 1)])
    steps = [
        ([], "unfulfilled"),
        ([_fulfillment(("price_a", 1))], "partially_fulfilled"),
        ([_fulfillment(("price_a", 2))], "partially_fulfilled"),  # every unit of one item, none of the other
        ([_fulfillment(("price_a", 1)), _fulfillment(("price_a", 1), ("price_b", 1))], "fulfilled"),
        ([_fulfillment(("price_a", 3), ("price_b", 1))], "fulfilled"),  # more than ordered is still fulfilled
    ]
    assert [_derived(order, [], fulfillments)[2] for fulfillments, _ in steps] == [want for _, want in steps]


def test_fulfillment_sums_repeated_lines_of_the_same_price() -> None:
    order = _order(1000, items=[("price_a", 1), ("price_a", 2)])  # 3 units of one price over two lines
    assert _derived(order, [], [_fulfillment(("price_a", 2))])[2] == "partially_fulfilled"
    assert _derived(order, [], [_fulfillment(("price_a", 2)), _fulfillment(("price_a", 1))])[2] == "fulfilled"


def test_a_fulfillment_of_zero_units_leaves_the_order_unfulfilled() -> None:
    assert _derived(_order(1000), [], [_fulfillment(("price_a", 0))])[2] == "unfulfilled"


def test_fulfillment_is_independent_of_payment() -> None:
    assert _derived(_order(1000), [], [_fulfillment(("price_a", 1))]) == ("pending", "unpaid", "fulfilled")
    assert _derived(_order(1000, cancelled=True), [_txn(1000)], [_fulfillment(("price_a", 1))]) == (
        "cancelled", "paid", "fulfilled")


def test_derive_reports_whether_anything_changed() -> None:
    order = _order(10000)
    assert state.derive(order, [], []) is False  # a new order already holds the derived defaults
    assert state.derive(order, [_txn(4000)], []) is True
    assert state.derive(order, [_txn(4000)], []) is False
    assert state.derive(order, [_txn(4000)], [_fulfillment(("price_a", 1))]) is True
    assert state.derive(order, [_txn(4000), _txn(6000)], [_fulfillment(("price_a", 1))]) is True
    assert (order.status, order.payment_status) == ("completed", "paid")


def test_derive_accepts_one_shot_iterables() -> None:
    # The store hands generators around; payment and fulfilment must each see every record.
    order = _order(10000)
    state.derive(order, (t for t in [_txn(10000)]), (f for f in [_fulfillment(("price_a", 1))]))
    assert (order.status, order.payment_status, order.fulfillment_status) == ("completed", "paid", "fulfilled")


def _half_even_of_binary(value: float) -> int:
    """The rule the seed's percentage shares follow: the float's exact binary value, rounded half-even
    to cents (what `round(v, 2)` does), in cents."""
    return int(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) * 100)


@pytest.mark.parametrize(("value", "expected"), [
    (0.125, 0.12), (0.375, 0.38), (0.625, 0.62), (0.875, 0.88),  # exact binary halves: to even
    (2.675, 2.67), (1.005, 1.0), (0.015, 0.01),  # decimal halves stored a hair below .5: down
    (0.025, 0.03), (0.005, 0.01), (99.995, 100.0),  # ... and a hair above: up
    (0.1 + 0.2, 0.3), (33.33 + 33.33 + 33.34, 100.0), (1e-17, 0.0), (-0.0, 0.0),
])
def test_seeded_shares_round_the_binary_value_half_even_to_cents(value: float, expected: float) -> None:
    # The seed keeps its historical float rounding for its 10%/50%/30% shares, so a seed's data stay
    # byte-identical; the rest of the sandbox uses exact integer cents (tests/test_money.py).
    assert seed.seeded_cents(value) == round(expected * 100)
    assert seed.seeded_cents(value) == _half_even_of_binary(value)


def test_money_removes_float_noise_around_every_cent() -> None:
    rng = random.Random("money-noise")
    for cents in [*range(0, 2_000), *rng.sample(range(2_000, 10**9), 2_000)]:
        exact = cents / 100
        for noise in (-1e-9, -1e-12, 0.0, 1e-12, 1e-9):
            assert seed.seeded_cents(exact + noise) == cents, (cents, noise)
            assert seed.seeded_cents(-exact + noise) == -cents, (cents, noise)
            assert money.to_minor(exact + noise, "USD") == cents, (cents, noise)
            assert money.to_minor(-exact + noise, "USD") == -cents, (cents, noise)


def test_amounts_compare_exactly_to_the_cent() -> None:
    # Integer cents: one cent short is short, nothing is forgiven, and sums carry no float noise.
    assert _derived(_order(10000), [_txn(9999)])[1] == "partially_paid"
    assert _derived(_order(10000), [_txn(10000, refunded=9999)])[1] == "paid"
    assert _derived(_order(10000), [_txn(10000, refunded=10000)])[1] == "refunded"
    assert state.paid_and_refunded([_txn(10), _txn(20, refunded=10), _txn(500, "pending")]) == (30, 10)
    captured, refunded = state.paid_and_refunded([_txn(1), _txn(2), _txn(3, "refunded", 3)])
    assert (type(captured), type(refunded)) == (int, int)


# ==== 2. delivery chaos ============================================================================

ALL_KNOBS = Chaos(drop=0.3, duplicate=0.4, duplicate_count=3, delay_ms=1500, reorder_window=5)


def _decisions(chaos: Chaos, seed: int | str, n: int) -> list[Decision]:
    # The webhook service draws from one stream per seed, named like this (see WebhookService.reseed).
    rng = random.Random(f"chaos-{seed}")
    return [decide(chaos, rng, position) for position in range(n)]


def test_chaos_decisions_repeat_exactly_for_the_same_seed() -> None:
    assert _decisions(ALL_KNOBS, 42, 500) == _decisions(ALL_KNOBS, 42, 500)


def test_chaos_decisions_differ_between_seeds() -> None:
    a, b = _decisions(ALL_KNOBS, 42, 1000), _decisions(ALL_KNOBS, 43, 1000)
    differ = sum(x.dropped != y.dropped for x, y in zip(a, b, strict=True))
    # Two independent streams at drop=0.3 disagree on about 42% of positions.
    assert 300 < differ < 540, differ
    assert sum(x.copies != y.copies for x, y in zip(a, b, strict=True)) > 300
    assert sum(x.rank != y.rank for x, y in zip(a, b, strict=True)) == 1000


@pytest.mark.parametrize("probability", [0.0, 1.0])
def test_probability_0_and_1_are_exact(probability: float) -> None:
    chaos = Chaos(drop=probability, duplicate=probability, duplicate_count=4)
    decisions = _decisions(chaos, 7, 5000)
    assert {d.dropped for d in decisions} == {probability == 1.0}
    assert {d.copies for d in decisions} == {5 if probability == 1.0 else 1}


@pytest.mark.parametrize("probability", [0.05, 0.3, 0.5, 0.9])
def test_observed_drop_and_duplicate_rates_are_near_the_configured_probability(probability: float) -> None:
    n = 20_000
    decisions = _decisions(Chaos(drop=probability, duplicate=probability, duplicate_count=2), 42, n)
    # 0.02 is over six standard deviations at n=20,000 (and the stream is seeded anyway).
    assert abs(sum(d.dropped for d in decisions) / n - probability) < 0.02
    duplicated = [d.copies for d in decisions if d.copies != 1]
    assert set(duplicated) <= {3}  # 1 + duplicateCount copies
    assert abs(len(duplicated) / n - probability) < 0.02


def test_turning_one_knob_on_does_not_shift_the_others_choices() -> None:
    drop_only = _decisions(Chaos(drop=0.3), 42, 1000)
    with_more = _decisions(ALL_KNOBS, 42, 1000)
    assert [d.dropped for d in drop_only] == [d.dropped for d in with_more]
    dup_only = _decisions(Chaos(duplicate=0.4, duplicate_count=3), 42, 1000)
    assert [d.copies for d in dup_only] == [d.copies for d in with_more]


def test_delay_applies_to_every_delivery_in_seconds() -> None:
    assert {d.delay_s for d in _decisions(Chaos(delay_ms=1500), 1, 50)} == {1.5}
    assert {d.delay_s for d in _decisions(Chaos(), 1, 50)} == {0.0}


def test_reorder_window_groups_positions_and_shuffles_within_a_group_reproducibly() -> None:
    decisions = _decisions(Chaos(reorder_window=4), 42, 40)
    assert [d.batch for d in decisions] == [p // 4 for p in range(40)]
    assert all(0.0 <= d.rank < 1.0 for d in decisions)

    def release_order(ds: list[Decision]) -> list[int]:
        return sorted(range(len(ds)), key=lambda p: (ds[p].batch, ds[p].rank))

    order = release_order(decisions)
    assert order == release_order(_decisions(Chaos(reorder_window=4), 42, 40))
    assert order != list(range(40))  # some group came out shuffled
    assert all(p // 4 == i // 4 for i, p in enumerate(order))  # but no delivery left its group


@pytest.mark.parametrize("window", [0, 1])
def test_reorder_window_below_2_keeps_arrival_order(window: int) -> None:
    decisions = _decisions(Chaos(reorder_window=window), 42, 20)
    assert [(d.batch, d.rank) for d in decisions] == [(p, 0.0) for p in range(20)]
    assert Chaos(reorder_window=window).active is False


def test_chaos_parse_reads_the_control_plane_json_and_round_trips() -> None:
    data = {"drop": 1, "duplicate": 0.25, "duplicateCount": 3.0, "delayMs": 250, "reorderWindow": 2,
            "reorderHoldMs": 100}
    chaos = Chaos.parse(data)
    assert chaos == Chaos(drop=1.0, duplicate=0.25, duplicate_count=3, delay_ms=250, reorder_window=2,
                          reorder_hold_ms=100)
    assert Chaos.parse(chaos.to_json()) == chaos
    assert Chaos.parse(None) == Chaos() and Chaos().active is False


@pytest.mark.parametrize(("data", "names"), [
    ({"drop": 1.5}, "drop"), ({"drop": -0.1}, "drop"), ({"duplicate": True}, "duplicate"),
    ({"drop": "0.5"}, "drop"), ({"duplicateCount": 0}, "duplicateCount"), ({"duplicateCount": 21}, "duplicateCount"),
    ({"duplicateCount": 1.5}, "duplicateCount"), ({"delayMs": -1}, "delayMs"),
    ({"reorderWindow": 1001}, "reorderWindow"), ({"dropp": 0.5}, "dropp"), ([0.5], "object"),
])
def test_chaos_parse_names_the_bad_field(data: object, names: str) -> None:
    with pytest.raises(ValueError, match=names):
        Chaos.parse(data)


# ==== 3. fault path templates ======================================================================

FULFILLMENTS = "/payments/orders/{orderId}/fulfillments"


def _fires(template: str, path: str, method: str = "GET", rule_method: str | None = None) -> bool:
    injector = FaultInjector(seed=1)
    match = {"path": template} if rule_method is None else {"path": template, "method": rule_method}
    injector.add({"match": match, "effect": {"status": 503}})
    return injector.pick(method, path, set(), None) is not None


@pytest.mark.parametrize(("template", "path"), [
    (FULFILLMENTS, "/payments/orders/64f0c2a1/fulfillments"),
    (FULFILLMENTS, "/payments/orders/64f0c2a1/fulfillments/"),  # a trailing slash on the request
    (FULFILLMENTS + "/", "/payments/orders/64f0c2a1/fulfillments"),  # ... or on the template
    ("/payments/orders/{orderId}", "/payments/orders/x"),  # a one-character value
    ("/payments/orders/{orderId}", "/payments/orders/a.b-c_d%20e"),  # anything but a slash
    ("/payments/*", "/payments/orders"),
    ("/payments/*", "/payments/orders/64f0c2a1/fulfillments"),  # `*` crosses segments
    ("/payments/*", "/payments/"),  # `*` may match nothing
    ("/payments/orders/*/fulfillments", "/payments/orders/a/b/fulfillments"),
    ("/rankr/v1/*", "/rankr/v1/orders/abc"),
    ("/payments/orders", "/payments/orders"),
])
def test_template_matches(template: str, path: str) -> None:
    assert _fires(template, path)


@pytest.mark.parametrize(("template", "path"), [
    ("/payments/orders", "/payments/ordersX"),  # a longer last segment
    ("/payments/orders", "/payments/order"),
    ("/payments/orders", "/payments/orders/64f0c2a1"),  # an extra segment
    ("/payments/orders", "/payments/orders//"),
    ("/payments/orders", "/PAYMENTS/orders"),  # case matters
    ("/payments/orders", "/v2/payments/orders"),  # anchored at the start
    ("/payments/orders/{orderId}", "/payments/orders/64f0c2a1/fulfillments"),  # a value is one segment
    ("/payments/orders/{orderId}", "/payments/orders/"),  # an empty value
    (FULFILLMENTS, "/payments/orders//fulfillments"),  # an empty segment
    (FULFILLMENTS, "/payments/orders/a/b/fulfillments"),
    (FULFILLMENTS, "/payments/orders/64f0c2a1/fulfillmentsX"),
    ("/payments/*", "/payments"),  # `/payments/*` needs the slash
    ("/payments/*", "/paymentsX/orders"),
    ("/rankr/v1/*", "/rankr/v2/orders"),
    ("/payments/orders.json", "/payments/ordersXjson"),  # regex characters in a template are literal
    ("/payments/(orders)", "/payments/orders"),
])
def test_template_does_not_match_near_misses(template: str, path: str) -> None:
    assert not _fires(template, path)


@pytest.mark.parametrize(("rule_method", "method", "fires"), [
    ("*", "GET", True), ("*", "POST", True), ("*", "DELETE", True),
    (None, "GET", True), (None, "PUT", True),  # no method: any
    ("post", "POST", True), ("post", "GET", False),  # case-insensitive in the rule
    ("GET", "POST", False), ("GET", "GET", True),
])
def test_rule_method_matching(rule_method: str | None, method: str, fires: bool) -> None:
    assert _fires("/payments/orders", "/payments/orders", method, rule_method) is fires


def test_the_first_matching_rule_wins_among_several() -> None:
    injector = FaultInjector(seed=1)
    for template, status in (("/payments/transactions", 501), (FULFILLMENTS, 502), ("/payments/*", 503)):
        injector.add({"match": {"path": template}, "effect": {"status": status}})
    hit = injector.pick("POST", "/payments/orders/1/fulfillments", set(), None)
    assert hit is not None and hit.status == 502
    hit = injector.pick("GET", "/payments/orders", set(), None)
    assert hit is not None and hit.status == 503
    assert injector.pick("GET", "/rankr/v1/orders", set(), None) is None


def test_the_request_query_string_is_not_part_of_the_matched_path() -> None:
    """Through the real ASGI app in-process: the rule sees the path, never `?altId=...`."""
    sandbox = new_runtime(Settings(orders=0))
    sandbox.faults.add({"match": {"method": "GET", "path": "/payments/orders"}, "effect": {"status": 503}})
    sandbox.faults.add({"match": {"path": "/payments/transactions/{id}"}, "effect": {"status": 504}})

    async def statuses() -> list[int]:
        transport = httpx.ASGITransport(app=build_app(sandbox))
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            paths = ("/payments/orders?altId=loc&limit=1", "/payments/orders/?x=/y/z",
                     "/payments/transactions/abc?q=1/2", "/payments/transactions?id=abc")
            return [(await client.get(p)).status_code for p in paths]

    # 401 is the API's own answer (no token): the fault did not fire.
    assert asyncio.run(statuses()) == [503, 503, 504, 401]


def _many_segments(n: int) -> str:
    return "/payments/" + "/".join(["a"] * n)


def test_parameter_templates_match_a_long_hostile_path_quickly() -> None:
    template = "/payments/" + "/".join(["{p}"] * 12) + "/never"
    started = time.perf_counter()
    assert not _fires(template, _many_segments(40))
    assert not _fires("/payments/*/never", "/payments/" + "a" * 100_000)
    assert time.perf_counter() - started < 1.0


def test_star_templates_match_a_long_hostile_path_in_linear_time() -> None:
    # Run in a child process: a regex stuck in backtracking holds the GIL and cannot be interrupted.
    template = "/payments/" + "/".join(["*"] * 12) + "/never"
    code = textwrap.dedent(f"""
        import sys
        import time
        from mock_server.faults import FaultInjector
        injector = FaultInjector(seed=1)
        injector.add({{"match": {{"path": {template!r}}}, "effect": {{"status": 503}}}})
        print("ready", flush=True)
        sys.stdin.readline()  # the parent has read "ready": what follows is not read ahead with it
        started = time.perf_counter()
        assert injector.pick("GET", {_many_segments(40)!r}, set(), None) is None
        print(time.perf_counter() - started, flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.communicate(timeout=30)[1]
        try:
            out, err = child.communicate("go\n", timeout=1.0)  # the bound on matching, from after the imports
        except subprocess.TimeoutExpired:
            pytest.fail(f"matching {template!r} against 40 segments took over 1 s")
        assert child.returncode == 0, err
        assert float(out) < 1.0
    finally:
        child.kill()
        child.wait()


# ==== 4. rate-limit buckets ========================================================================

MIDNIGHT = 19_676 * 86_400.0  # a UTC midnight (2023-11-15)


class WallClock:
    """Stands in for the `time` module the rate limiter reads wall time from: frozen, moved by hand."""

    def __init__(self, at: float) -> None:
        self.now = at

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    clock = WallClock(MIDNIGHT + 3600.0)  # 01:00 UTC, far from either day boundary
    monkeypatch.setattr(ratelimit, "time", clock)
    return clock


def _consume(limiter: RateLimiter, app: str = "app_1", location: str = "loc_1") -> tuple[bool, dict[str, int]]:
    allowed, headers = limiter.consume(app, location)
    return allowed, {name.decode(): int(value) for name, value in headers}


def test_first_request_headers_carry_the_profile_and_one_used(wall: WallClock) -> None:
    allowed, h = _consume(RateLimiter("sandbox-account"))
    assert allowed
    assert h == {"x-ratelimit-limit-daily": 10_000, "x-ratelimit-daily-remaining": 9_999,
                 "x-ratelimit-interval-milliseconds": 10_000, "x-ratelimit-max": 25, "x-ratelimit-remaining": 24,
                 "x-ratelimit-daily-reset": 23 * 3600 * 1000}


def test_default_profile_is_100_per_10_seconds_and_200000_a_day(wall: WallClock) -> None:
    _, h = _consume(RateLimiter())
    assert (h["x-ratelimit-max"], h["x-ratelimit-interval-milliseconds"], h["x-ratelimit-limit-daily"]) == (
        100, 10_000, 200_000)


def test_burst_allows_exactly_the_burst_then_refuses_without_counting(wall: WallClock) -> None:
    limiter = RateLimiter("sandbox-account")
    results = [_consume(limiter) for _ in range(25)]
    assert all(ok for ok, _ in results)
    assert [h["x-ratelimit-remaining"] for _, h in results] == list(range(24, -1, -1))
    for _ in range(5):
        allowed, h = _consume(limiter)
        assert not allowed and h["x-ratelimit-remaining"] == 0
        assert h["x-ratelimit-daily-remaining"] == 10_000 - 25  # refusals are not counted


def test_window_refills_fully_once_the_interval_has_passed_since_it_opened(wall: WallClock) -> None:
    limiter = RateLimiter("sandbox-account")
    for _ in range(24):
        assert _consume(limiter)[0]
    wall.advance(9.0)
    assert _consume(limiter)[0]  # the 25th, late in the window
    wall.advance(0.999)
    assert not _consume(limiter)[0]
    wall.advance(0.001)  # exactly 10 s after the window opened: a fixed window, not a sliding one
    allowed, h = _consume(limiter)
    assert allowed and h["x-ratelimit-remaining"] == 24
    assert h["x-ratelimit-daily-remaining"] == 10_000 - 26


def test_daily_quota_refuses_until_the_next_utc_midnight(wall: WallClock) -> None:
    limiter = RateLimiter("sandbox-account")
    for _ in range(10_000 // 25):
        for _ in range(25):
            assert _consume(limiter)[0]
        wall.advance(10.0)
    allowed, h = _consume(limiter)  # a fresh window, but the day is spent
    assert not allowed
    assert (h["x-ratelimit-daily-remaining"], h["x-ratelimit-remaining"]) == (0, 25)
    wall.now = MIDNIGHT + 86_400.0 - 0.5
    allowed, h = _consume(limiter)
    assert not allowed and h["x-ratelimit-daily-reset"] == 500
    wall.advance(0.5)
    allowed, h = _consume(limiter)
    assert allowed
    assert (h["x-ratelimit-daily-remaining"], h["x-ratelimit-daily-reset"]) == (9_999, 86_400_000)


def test_each_app_and_location_has_its_own_bucket(wall: WallClock) -> None:
    limiter = RateLimiter("sandbox-account")
    for _ in range(25):
        _consume(limiter, "app_1", "loc_1")
    assert not _consume(limiter, "app_1", "loc_1")[0]
    for app, location in (("app_1", "loc_2"), ("app_2", "loc_1")):
        allowed, h = _consume(limiter, app, location)
        assert allowed and h["x-ratelimit-remaining"] == 24


def test_off_profile_never_refuses_but_headers_still_count_down(wall: WallClock) -> None:
    limiter = RateLimiter("off")
    results = [_consume(limiter) for _ in range(150)]
    assert all(ok for ok, _ in results)
    last = results[-1][1]
    assert (last["x-ratelimit-remaining"], last["x-ratelimit-daily-remaining"]) == (0, 200_000 - 150)


def test_reset_and_set_profile_empty_every_bucket(wall: WallClock) -> None:
    limiter = RateLimiter("sandbox-account")
    for _ in range(25):
        _consume(limiter)
    limiter.reset()
    assert _consume(limiter)[1]["x-ratelimit-remaining"] == 24
    limiter.set_profile("default")
    _, h = _consume(limiter)
    assert (h["x-ratelimit-max"], h["x-ratelimit-remaining"]) == (100, 99)
    assert limiter.describe() == {"profile": "default", "burst": 100, "intervalMs": 10_000, "daily": 200_000,
                                  "enforced": True}


def test_moving_the_sandbox_clock_does_not_refill_a_bucket(wall: WallClock) -> None:
    sandbox = new_runtime(Settings(orders=0, rate_limit="sandbox-account"))
    for _ in range(25):
        assert sandbox.ratelimiter.consume("app_1", "loc_1")[0]
    sandbox.clock.advance(86_400.0 * 2)
    assert not sandbox.ratelimiter.consume("app_1", "loc_1")[0]


# ==== 5. project-file templates ====================================================================

VALUES = {"ghl.base_url": "http://127.0.0.1:8080", "client.port": "9100", "scenario.id": "s-1"}


@pytest.mark.parametrize("name", sorted(templates.NAMES))
def test_every_known_name_is_a_valid_template(name: str) -> None:
    assert problems(f"prefix {{{name}}} suffix") == []


def test_render_replaces_known_names_and_environment_variables() -> None:
    template = "{ghl.base_url}/x?port={client.port}&home={env.HOME_DIR}&id={scenario.id}"
    assert problems(template) == []
    assert render(template, VALUES, {"HOME_DIR": "/h"}) == "http://127.0.0.1:8080/x?port=9100&home=/h&id=s-1"


def test_render_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GHL_PURE_UNITS_VAR", "from-os")
    assert render("{env.GHL_PURE_UNITS_VAR}", {}) == "from-os"


@pytest.mark.parametrize(("template", "rendered"), [
    ("{{}}", "{}"),
    ('{{"json": {{"port": {client.port}}}}}', '{"json": {"port": 9100}}'),
    ("{{ghl.base_url}}", "{ghl.base_url}"),  # doubled braces make a literal, never a name
    ("{{{client.port}}}", "{9100}"),
    ("no braces at all", "no braces at all"),
])
def test_doubled_braces_are_literal_braces(template: str, rendered: str) -> None:
    assert problems(template) == []
    assert render(template, VALUES, {}) == rendered


def test_rendered_values_are_not_expanded_again() -> None:
    assert render("{client.port}", {"client.port": "{ghl.base_url}}"}, {}) == "{ghl.base_url}}"


@pytest.mark.parametrize(("template", "brace"), [
    ("a { b", "{"), ("a } b", "}"), ("{client.port", "{"), ("{{{", "{"), ("x}}}", "}"),
])
def test_a_lone_brace_is_a_problem_and_will_not_render(template: str, brace: str) -> None:
    [problem] = problems(template)
    assert f"a lone {brace!r}" in problem and brace * 2 in problem
    with pytest.raises(TemplateError, match="a lone"):
        render(template, VALUES, {})


@pytest.mark.parametrize("template", ["{ghl.nope}", "{GHL.BASE_URL}", "{}", "{ ghl.base_url }", "{base_url}"])
def test_an_unknown_name_is_a_problem_and_will_not_render(template: str) -> None:
    [problem] = problems(template)
    assert problem.startswith(f"unknown template name {template}") and "ghl.base_url" in problem
    with pytest.raises(TemplateError, match="has no value here"):
        render(template, VALUES, {})


@pytest.mark.parametrize("template", ["{env.}", "{env.1ABC}", "{env.A-B}", "{env.A B}"])
def test_a_malformed_environment_name_is_a_problem(template: str) -> None:
    assert problems(template) == [f"{template} is not a valid environment variable name"]


def test_an_unset_environment_variable_will_not_render() -> None:
    assert problems("{env.NOT_SET_ANYWHERE}") == []  # whether it is set is known only at run time
    with pytest.raises(TemplateError, match="environment variable NOT_SET_ANYWHERE is not set"):
        render("{env.NOT_SET_ANYWHERE}", VALUES, {})


def test_a_known_name_without_a_value_here_will_not_render() -> None:
    with pytest.raises(TemplateError, match=r"\{ghl.access_token\} has no value here"):
        render("{ghl.access_token}", VALUES, {})


def test_problems_lists_every_problem_in_order() -> None:
    assert problems("{a{client.port}} {ghl.nope} {env.9}") == [
        "a lone '{' (write {{ for a literal brace)",
        "a lone '}' (write }} for a literal brace)",
        problems("{ghl.nope}")[0],
        "{env.9} is not a valid environment variable name",
    ]


def test_an_event_holds_its_records_snapshot_as_written_and_stored_decoded() -> None:
    """A just-recorded event holds its record as the JSON written (`Event.data()` decodes it); the
    stored event holds the same snapshot decoded, which webhooks render from."""
    import orjson

    from mock_server.webhooks.models import Event

    runtime = new_runtime(Settings(orders=3, rate_limit="off"))
    order = runtime.store.table(Order).all()[0]
    event = runtime.world.events.record("OrderStatusUpdate", "orders", order)
    assert isinstance(event.snapshot, orjson.Fragment)
    expected = orjson.loads(orjson.dumps(order))
    assert event.data() == expected and Order(**event.data()) == order
    stored = runtime.store.table(Event).get(event.id)
    assert stored is not None and stored.snapshot == expected and stored.data() == expected
