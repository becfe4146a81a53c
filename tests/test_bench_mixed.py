"""The mixed benchmark's bookkeeping of orders: a run's unpaid orders serve the next run, so the count
of orders a run may have taken must never fall short of what its Lua `request()` took."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.run import MIXED_WRITE_EVERY, _mixed_lua, _orders_written


def _taken_by_lua(issued: int) -> int:
    """The highest order index (1-based) `_mixed_lua`'s `request()` named after `issued` calls: write w
    (every MIXED_WRITE_EVERY-th call) pays or fulfils order floor((w + 1) / 2)."""
    writes = issued // MIXED_WRITE_EVERY
    return (writes + 1) // 2


def test_the_model_follows_the_lua_script() -> None:
    lua = _mixed_lua("/payments/orders?altId=L&limit=20", "L", ["a", "b"], MIXED_WRITE_EVERY)
    assert "n % write_every == 0" in lua
    assert "local k = math.floor((w + 1) / 2)" in lua


@given(completed=st.integers(0, 200_000), connections=st.integers(1, 256),
       in_flight=st.integers(0, 256))
def test_orders_written_never_undercounts(completed: int, connections: int, in_flight: int) -> None:
    # wrk may have issued a request on each connection beyond those it completed, and called the script
    # once per connection when it set them up.
    in_flight = min(in_flight, 2 * connections)
    assert _orders_written(completed, connections) >= _taken_by_lua(completed + in_flight)


def test_orders_written_is_close_to_what_was_taken() -> None:
    # 35,000 requests of a 10-second run: 3,500 writes take 1,750 orders; the count leaves out a few more.
    taken = _taken_by_lua(35_000)
    assert taken <= _orders_written(35_000, 32) <= taken + 10
