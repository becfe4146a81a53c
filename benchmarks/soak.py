"""A bounded soak: a fixed count of mixed requests against one sandbox while live-feed (SSE) clients
stay connected, sampling the server's resident memory throughout.

The first half are distinct list-orders pages only (nothing written, so nothing empties the GET cache);
then the mix, per 20 requests: 14 list-orders pages no one asked for before (50 to 100 orders, limit and
offset vary: each a new GET-cache entry), 3 get-order-by-id, 1 list-transactions
page, 1 write (`POST /_sandbox/simulate/order.create`: it empties the GET cache, adds an event and a
journal entry) and 1 journal read. What it shows is that memory stays within a budget however many distinct
queries come: the GET cache has a byte budget, the count cache an entry budget, the journal and the
live feed are bounded.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import orjson

from benchmarks.procs import Http, api_headers

WORKERS = 8


def _request_for(i: int, ops: int, location_id: str, order_ids: list[str]) -> tuple[str, str, Any]:
    kind = 0 if i < ops // 2 else i % 20  # the first half reads only: nothing empties the GET cache
    if kind < 14:  # a full page no one asked for before (limit and offset vary): a new GET-cache entry
        limit, offset = 50 + (i // 160) % 51, i % 160
        return "GET", f"/payments/orders?altId={location_id}&altType=location&limit={limit}&offset={offset}", None
    if kind < 17:
        return "GET", f"/payments/orders/{order_ids[i % len(order_ids)]}?altId={location_id}&altType=location", None
    if kind == 17:
        return "GET", f"/payments/transactions?altId={location_id}&altType=location&limit=100&offset={i % 100}", None
    if kind == 18:  # a write: empties the GET cache, adds an event and a journal entry
        return "POST", "/_sandbox/simulate/order.create", {"locationId": location_id}
    return "GET", "/_sandbox/journal?limit=5", None


def _sse_reader(url: str, stop: threading.Event, counts: list[int], slot: int) -> None:
    """One live-feed client: reads `/_sandbox/stream` until told to stop (reconnecting if cut)."""
    parts = urlsplit(url)
    while not stop.is_set():
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=2)
        try:
            conn.request("GET", "/_sandbox/stream")
            response = conn.getresponse()
            while not stop.is_set():
                line = response.readline()
                if not line:
                    break
                if line.startswith(b"data:"):
                    counts[slot] += 1
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
        finally:
            conn.close()


def run_soak(url: str, token: str, location_id: str, rss_mib: Callable[[], float], ops: int,
             sse_clients: int) -> dict[str, Any]:
    headers = api_headers(token)
    probe = Http(url)
    status, body = probe.get(f"/payments/orders?altId={location_id}&altType=location&limit=100", headers)
    if status != 200:
        raise RuntimeError(f"list-orders answered {status}: {body[:200]!r}")
    order_ids = [o["_id"] for o in orjson.loads(body)["data"]]
    probe.close()
    stop = threading.Event()
    samples: list[float] = [rss_mib()]

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss_mib())
            time.sleep(0.1)

    events = [0] * sse_clients
    threads = [threading.Thread(target=_sse_reader, args=(url, stop, events, n), daemon=True)
               for n in range(sse_clients)]
    threads.append(threading.Thread(target=sample, daemon=True))
    for t in threads:
        t.start()
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker(start: int) -> None:
        client = Http(url)
        try:
            for i in range(start, ops, WORKERS):
                method, path, body = _request_for(i, ops, location_id, order_ids)
                status, _ = client.request(method, path, body, headers if path.startswith("/payments") else None)
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            client.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))
    seconds = time.perf_counter() - started
    samples.append(rss_mib())
    stop.set()
    for t in threads:
        t.join(5)
    return {"ops": ops, "seconds": round(seconds, 1), "requests_per_s": round(ops / seconds),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "sse_clients": sse_clients,
            "sse_events_read": sum(events), "rss_start_mib": samples[0], "rss_peak_mib": max(samples),
            "rss_end_mib": samples[-1], "rss_growth_mib": round(max(samples) - samples[0], 1)}
