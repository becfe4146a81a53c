"""In-process micro-measure for the `encoding` benchmark: what writing bodies as JSON.stringify writes
them (mock_server/jsjson.py) costs next to plain orjson, on the values the API's handlers render: a
list-orders answer of 20 orders and an order by id (default data, seed 42). Best of several batches.

    python -m benchmarks.encoding_micro
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from mock_server import jsjson
from mock_server.app import new_runtime
from mock_server.ghl.payments import ListFilter
from mock_server.ghl.responses import shapes
from mock_server.ghl.responses.payments import _recurring_price_ids
from mock_server.ghl.world import ghl
from mock_server.settings import Settings

BATCH = 2_000
BATCHES = 7


def _best_us(fn: Callable[[Any], bytes], value: Any) -> float:
    best = float("inf")
    for _ in range(BATCHES):
        t0 = time.perf_counter()
        for _ in range(BATCH):
            fn(value)
        best = min(best, (time.perf_counter() - t0) / BATCH * 1e6)
    return best


def bodies() -> dict[str, Any]:
    """The Python values the list-orders and get-order handlers hand to the encoder."""
    sandbox = new_runtime(Settings(port=0, rate_limit="off"))
    location = sandbox.locations()[0]
    rows, total = ghl(sandbox).payments.list_orders(ListFilter(location_id=location.id), 20, 0)
    recurring = _recurring_price_ids(ghl(sandbox), rows)
    order = rows[0]
    prices, products = ghl(sandbox).payments.catalog([i["price_id"] for i in order.items])
    return {"list_orders": {"data": [shapes.order_list_item(o, recurring) for o in rows], "totalCount": total},
            "order": shapes.order_detail(order, prices, products)}


def measure() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in bodies().items():
        fast, exact = _best_us(orjson.dumps, value), _best_us(jsjson.dumps, value)
        out[name] = {"orjson_us": round(fast, 2), "jsjson_us": round(exact, 2), "ratio": round(exact / fast, 2),
                     "bytes": len(jsjson.dumps(value))}
    return out


if __name__ == "__main__":
    print(orjson.dumps(measure()).decode())
