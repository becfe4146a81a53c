"""ghl-sandbox benchmarks: how fast and how lean the fake is, next to a bare app doing nothing.

How to run
----------
    make bench                          # the full run (about 10 minutes)
    make bench ARGS="--quick"           # smoke run: 3 s loads, 1 round, 3 start-ups (about 3 minutes)
    make bench ARGS="--only throughput" # one section (repeatable, or comma separated)
    make bench ARGS="--only webhooks,faults,harness"
    .venv/bin/python -m benchmarks.run --help

Load comes from `wrk` (Debian package `wrk`); when it is missing the script runs
`apt-get update && apt-get install -y wrk` itself (as root) and stops with a clear message if it
cannot. Every server is one process with one worker, pinned to CPU 0 with `taskset` and wrk to CPU 1
(when taskset and a second CPU exist), so the server gets a core to itself. Results print as a table
and are written to `benchmarks/results/latest.json` (git-ignored), with the load average before and
after: wall-clock numbers are only as good as the machine is quiet, so start-up and seeding also show
the CPU seconds the server used (unaffected by other work), and compare runs from a quiet machine.

Sections and what each number means
-----------------------------------
throughput  `wrk -t1 -c32 -d10s` (after a 2 s warm-up, 2 rounds, median) against two servers
            started in the same run:
              fake  `ghl-sandbox serve --rate-limit off` (auth, journal and rate-limit headers on; only
                    limiting is off), default data;
              bare  `benchmarks/bare_app.py`: plain Starlette on the same uvicorn (one worker, no access
                    log, orjson) answering the same paths with the exact bytes the fake answered.
              uncached  the fake with `--no-response-cache`: every request renders, as the first read
                    after a write does (every write empties the response cache); the page is joined
                    from each record's kept JSON (the fragment cache, `mock_server/http/fragments.py`),
                    taken whole when the page's versions are those it was last joined from (as after a
                    write to a record on another page; a write to one of its records joins it again);
              uncached_nofrag  also `--no-fragment-cache`: every request shapes every record afresh;
              wiremock  WireMock (npm `wiremock`, its jar on Java; `benchmarks/wiremock.py` installs
                    both when missing, else the table says why it is absent) with stub mappings that
                    answer the same paths with the fake's bytes; warmed up longer (the JIT).
            Every server answers the same bytes (checked before the load). Endpoints: get-order-by-id
            (`GET /payments/orders/<id>?altId=..&altType=location`) and list-orders (`GET
            /payments/orders?altId=..&limit=20`). Numbers: requests/s, p50 and p99 latency (wrk's own
            histogram via a Lua `done()` hook), each mode as a ratio to the bare app of the same run, and
            to WireMock. Targets: fake/bare >= 60 % on get-by-id, >= 50 % on list-orders; uncached
            fake >= WireMock on both.
mixed       9 reads to 1 write, with a wrk Lua `request()` (`_mixed_lua`): every 10th request is
            `POST /_sandbox/simulate/order.pay` or `order.fulfill` (orders created for the run, each
            paid, then fulfilled), the other nine alternate list-orders (20 a page) and get-order of
            the order written last. The same reads with no writes (the pure-read figure, both caches
            on) and the mix, in rounds that alternate on the same world (a reads-only run, then a mix,
            `--rounds` times, at least 5 in a full run; medians of each; one reads-only run before
            the orders are created sizes them; before each pair the unpaid orders are topped up to
            that size, so the world holds about what the writes take). Numbers: read and write
            requests/s (9/10 and 1/10 of the completed requests), p50/p99 over all requests (wrk
            cannot tell them apart), reads in the mix / pure reads: each round's pair (measured back
            to back, so the machine's drift cancels), their median (the checked figure), and the
            medians' ratio. Target: >= 0.5 (reads within 2x). Run with fragments on and off
            (`--no-fragment-cache`), and on a `--orders 100000` world (both caches on) kept in a
            `--state` file, whose RSS is read before and after: target growth <= 96 MiB (the
            response and fragment caches' 32 MiB budgets, the journal, the count cache). In a state
            file, because in memory the orders the run creates (about 13,000 in a full run, most of
            them paid and fulfilled, with their events) would grow it by what they hold, ~14 KiB each
            (+187 MiB in one full run).
granian     the same two endpoints against `ghl-sandbox serve --server granian` (when granian is
            installed: `pip install 'ghl-sandbox[granian]'`), compared with the fake on uvicorn from the
            same run; "wins" when its requests/s is higher on both. No target.
scale       list-orders p50 with `--orders 100000` divided by p50 with `--orders 1000` (same load).
            Target: <= 1.5x (a page must not cost more as the table grows).
startup     spawn -> first 200 on `GET /payments/orders` with default data (a fresh process each run,
            median of several; includes interpreter start, imports, seeding). Target: < 1.5 s.
            And spawn -> ready line with `--orders 100000` (seeding 100,000 orders). Target: < 20 s.
memory      resident memory (VmRSS from /proc/<pid>/status, MiB) after start with default data and
            with 100,000 orders, and of the throughput fake before load, after each load run and at
            the end. The journal is bounded (10,000 entries), so once it has filled (within the first
            run) memory must stay flat: target <= 8 MiB growth from the end of the first load run to
            the end of the last.
webhooks    signed webhook deliveries per second to a local receiver (`benchmarks/receiver.py`: raw
            asyncio HTTP/1.1, answers 200 at once, counts the signature headers; pinned to CPU 1). A
            sandbox (`--webhook-timeout 5`, CPU 0) gets the receiver as its one target, then 4
            concurrent control-plane clients make N order events (`POST /_sandbox/simulate/order.create`,
            N = 2000, quick 300; the worker delivers while they run); `GET /_sandbox/wait?for=
            deliveries-settled` waits for the last one. Numbers: deliveries/s = (N - 1) / (last attempt
            time - first) from `GET /_sandbox/webhooks/deliveries` (every one must be a single 200 with
            the expected signature headers), simulate calls/s, seconds until all settled, and the
            server's CPU ms per event (simulate + delivery; less moved by other work than wall time).
            The worker sends one delivery at a time per target, so this is the one-target rate. Run
            twice: signed Ed25519 + RSA (`--legacy-wh-signature`) and Ed25519 only (the default, as GHL
            signs since it retired x-wh-signature). No target.
faults      the added cost of the fault middleware when no rule matches: get-order-by-id under wrk
            (as in throughput) against `serve --no-response-cache` (so the request does real work),
            with no fault rules and with 20 rules that never match it (other methods on its path,
            GET on other paths: `FAULT_RULES`), alternating in the same run (after a 5 s load that fills
            the journal; 3 rounds, quick 1; medians). Numbers: p50 and requests/s of both; overhead =
            (p50 rules - p50 none) / p50 none. Target: < 5 %. Also the server's CPU time per request
            of both (from /proc, 10 ms ticks; no target). wrk's p50 moves by several % from run to run
            on a shared machine, so also an in-process micro-measure (`benchmarks/faults_micro.py`,
            pinned to CPU 0, best of 7 batches; noise-free): the middleware's added microseconds per
            request with those rules (and with none, and FaultInjector.pick alone) as a share of the
            server's time per request (1 / requests/s with no rules, one core). Target: < 5 % too.
harness     `ghl-sandbox check` with the reference client (`examples/clients/reference_client.py`),
            unpinned (a user's run; its report goes to a temporary GHL_SANDBOX_HOME, not the user's):
              library   the whole scenario library, `--examples 0`, with the default `--jobs` (a sandbox
                        process per job): wall time of the command, the median of 3 runs (all three
                        shown; a failure in any counts). Target: < 20 s. Also the same
                        with `--jobs 1` (one in-process sandbox, the scenarios one at a time), no
                        target. Quick: a 5-scenario subset (`QUICK_SCENARIOS`), no target. Also the
                        seconds spent starting (until ready) and stopping client processes, summed
                        over scenarios (`clientSeconds` in the report): the most that reusing one
                        client per job could save.
              property  `--scenarios <01_new_paid_order_synced> --examples 50` (quick 10): the property
                        phase's own time from its output line `property run: 50 examples (X s)`,
                        default `--jobs`. Target: < 40 s (only with >= 50 examples).
              reset     `POST /_sandbox/reset {seed: 42, orders: 8}` as the harness sends it before every
                        example, against a pinned sandbox: median of 50 after 5 warm-ups (the same
                        seed, so the world comes back from its snapshot), the HTTP call's wall time
                        and the `resetMs` it answers; also a new seed each call (seeded afresh, 10
                        calls) for comparison. Target: median wall time < 50 ms.
clients     the example clients other teams wrote, gated unchanged through their project files, each
            through the whole library with `--examples 0` (quick: the 5-scenario subset): wall time, and
            how many scenarios passed and were skipped (the own-db client takes no Rankr requests).
              node      `--project examples/clients/node/ghl-sandbox.toml` (Node, GHL's npm SDK; its npm
                        packages are installed with `npm ci` first when missing)
              own_db    `--project examples/clients/own_db/ghl-sandbox.toml` (SQLite, the sql adapter)
            No target: the reference client's library time above is the yardstick.
soak        a fixed count of mixed requests (`benchmarks/soak.py`; 20,000, quick 4,000) from 8 threads
            against one pinned sandbox (`--rate-limit off`, default data) while 4 live-feed clients
            stay connected to `/_sandbox/stream`: the first half distinct list-orders pages only (50 to
            100 orders, limit and offset vary; no write empties the GET cache), then per 20 requests 14
            such pages, 3 get-order, 1 list-transactions
            page, 1 simulated order.create write, 1 journal read. VmRSS sampled every 0.1 s. Number: peak RSS and its
            growth over the RSS before the soak. Target: growth <= 96 MiB (the GET cache's byte budget,
            the count cache, the journal and the live feed are all bounded).
encoding    JSON bodies as JSON.stringify writes them (`mock_server/jsjson.py`) against plain orjson, on
            a list-orders answer of 20 orders and an order by id as the API renders them: microseconds
            per body (best of 7 batches) and the ratio. No target; the response cache keeps it off
            repeated reads.

Options: --duration S, --warmup S, --rounds N, --connections N, --startup-runs N, --big-orders N,
--webhook-events N, --fault-rounds N, --examples N, --out FILE. `--quick` = 3 s runs, 1 s warm-up,
1 round, 3 start-ups, 300 webhook events, 1 faults round, a 5-scenario library and 10 examples.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from benchmarks import procs
from benchmarks.procs import Http, ServerProcess, api_headers, cpu_prefix, first_location
from benchmarks.wiremock import WireMockMissing, WireMockServer, ensure_wiremock
from benchmarks.wrk import Wrk, WrkMissing, WrkResult, ensure_wrk
from mock_server.client import SandboxClient

SECTIONS = ("throughput", "mixed", "granian", "scale", "startup", "memory", "webhooks", "faults", "harness", "clients",
            "encoding", "soak")
SERVER_CPU = 0
WRK_CPU = 1
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TARGETS = {
    "get_order_ratio": (">=", 0.60),
    "list_orders_ratio": (">=", 0.50),
    "scale_p50_ratio": ("<=", 1.5),
    "startup_first_200_s": ("<", 1.5),
    "seed_100k_ready_s": ("<", 20.0),
    "rss_growth_under_load_mib": ("<=", 8.0),
    "fault_overhead_pct": ("<", 5.0),
    "fault_overhead_micro_pct": ("<", 5.0),
    "harness_library_s": ("<", 20.0),
    "harness_property_s": ("<", 40.0),
    "reset_ms": ("<", 50.0),
    "soak_rss_growth_mib": ("<=", 96.0),
    "uncached_list_vs_wiremock": (">=", 1.0),
    "uncached_get_vs_wiremock": (">=", 1.0),
    "mixed_reads_vs_pure": (">=", 0.5),
    "mixed_big_rss_growth_mib": ("<=", 96.0),
}
# The fake in each cache mode of the throughput section: the command-line flags of each.
CACHE_MODES = {"fake": [], "uncached": ["--no-response-cache"],
               "uncached_nofrag": ["--no-response-cache", "--no-fragment-cache"]}
MIXED_WRITE_EVERY = 10  # one write in ten requests
MIXED_ROUNDS_MIN = 5  # the mixed section's pairs of rounds (a full run): its ratio is the noisiest figure
# Library runs of a full run (quick: 1), the median checked: on a shared 2-core machine back-to-back runs
# of the same code moved by a fifth.
LIBRARY_RUNS = 3
MIXED_CLIENTS = 4  # concurrent control-plane clients creating the orders the mixed run writes to

WEBHOOK_CLIENTS = 4  # concurrent control-plane clients creating the order events
SOAK_SSE_CLIENTS = 4  # live-feed clients connected through the soak


def _fault(method: str, path: str, effect: dict[str, Any]) -> dict[str, Any]:
    return {"match": {"method": method, "path": path}, "effect": effect}


# 20 fault rules of the kinds scenarios add, none of which matches GET /payments/orders/{orderId}: other
# methods on that path, and GET on other paths (so the path patterns are really tried).
FAULT_RULES = [
    _fault("POST", "/payments/integrations/provider/whitelabel", {"status": 503}),
    _fault("GET", "/payments/integrations/provider/whitelabel", {"status": 500}),
    _fault("POST", "/payments/orders/{orderId}/fulfillments", {"commitThenDrop": True}),
    _fault("GET", "/payments/orders/{orderId}/fulfillments", {"status": 502}),
    _fault("POST", "/payments/orders/{orderId}", {"status": 503}),
    _fault("PUT", "/payments/orders/{orderId}", {"status": 503}),
    _fault("PATCH", "/payments/orders/{orderId}", {"status": 409}),
    _fault("DELETE", "/payments/orders/{orderId}", {"status": 503}),
    _fault("GET", "/payments/orders", {"status": 500}),
    _fault("GET", "/payments/orders/{orderId}/notes", {"status": 503}),
    _fault("GET", "/payments/transactions", {"status": 502}),
    _fault("POST", "/payments/transactions", {"status": 503}),
    _fault("GET", "/payments/transactions/{transactionId}", {"status": 503}),
    _fault("GET", "/payments/subscriptions", {"rateLimited": True}),
    _fault("GET", "/payments/subscriptions/{subscriptionId}", {"delayMs": 250}),
    _fault("GET", "/payments/coupon/*", {"status": 503}),
    _fault("POST", "/oauth/token", {"status": 503}),
    _fault("GET", "/oauth/*", {"reset": True}),
    _fault("POST", "/rankr/*", {"status": 503}),
    _fault("GET", "/rankr/records/*", {"status": 500}),
]

LIBRARY_DIR = "scenarios/library"
PROPERTY_SCENARIO = "scenarios/library/01_new_paid_order_synced.yaml"
QUICK_SCENARIOS = ("01_new_paid_order_synced.yaml", "03_duplicate_webhooks.yaml", "07_ghl_5xx_on_reads.yaml",
                   "09_commit_then_drop_fulfillment.yaml", "13_client_crash_restart.yaml")
REFERENCE_CLIENT = "examples/clients/reference_client.py"
CLIENT_PROJECTS = {"node": "examples/clients/node/ghl-sandbox.toml", "own_db": "examples/clients/own_db/ghl-sandbox.toml"}
RESET_CALLS = 50
COLD_RESET_CALLS = 10


@dataclass
class Options:
    quick: bool
    sections: tuple[str, ...]
    duration: int
    warmup: int
    rounds: int
    connections: int
    startup_runs: int
    big_orders: int
    small_orders: int
    out: str
    webhook_events: int = 2000
    fault_rounds: int = 3
    examples: int = 50
    soak_ops: int = 20_000


class Target:
    """A running sandbox with its first location, token and the two benchmarked paths."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.location_id, self.token = first_location(server.url)
        self.headers = api_headers(self.token)
        self.list_path = f"/payments/orders?altId={self.location_id}&limit=20"
        status, body = self.get(self.list_path)
        if status != 200:
            raise RuntimeError(f"{server.name}: list-orders answered {status}: {body[:300]!r}")
        self.list_body = body
        orders = orjson.loads(body)["data"]
        if not orders:
            raise RuntimeError(f"{server.name}: the first location has no orders")
        self.order_id = orders[0]["_id"]
        self.get_path = f"/payments/orders/{self.order_id}?altId={self.location_id}&altType=location"
        status, body = self.get(self.get_path)
        if status != 200:
            raise RuntimeError(f"{server.name}: get-order answered {status}: {body[:300]!r}")
        self.get_body = body

    def get(self, path: str) -> tuple[int, bytes]:
        client = Http(self.server.url)
        try:
            return client.get(path, self.headers)
        finally:
            client.close()

    def path(self, endpoint: str) -> str:
        return self.get_path if endpoint == "get_order" else self.list_path


S = TypeVar("S", bound=ServerProcess)


class Bench:
    def __init__(self, opts: Options, wrk: Wrk, log: Callable[[str], None]) -> None:
        self.opts = opts
        self.wrk = wrk
        self.log = log
        self.results: dict[str, Any] = {}
        self._servers: list[ServerProcess] = []
        self._fake: Target | None = None
        self._big: Target | None = None
        self.fake_rss: list[tuple[str, float]] = []
        self.big_start: dict[str, float] = {}

    # ---- servers ------------------------------------------------------------------------------

    def start(self, server: S) -> S:
        self.log(f"  starting {server.name}: {' '.join(server.cmd)}")
        self._servers.append(server)
        server.start()
        return server

    def stop(self, server: ServerProcess) -> None:
        server.stop()
        if server in self._servers:
            self._servers.remove(server)

    def stop_all(self) -> None:
        for server in list(self._servers):
            self.stop(server)

    def fake(self) -> Target:
        """The fake on uvicorn with default data, shared by throughput, granian and memory."""
        if self._fake is None:
            self._fake = Target(self.start(procs.sandbox(cpu=SERVER_CPU, name="fake")))
            self.fake_rss.append(("after start", self._fake.server.rss_mib()))
        return self._fake

    def big(self) -> Target:
        """The fake with --orders N (100,000): seeding time, memory and the scale test."""
        if self._big is None:
            n = self.opts.big_orders
            # The response cache is off here: the scale test measures the store's paging, not the cache.
            server = self.start(procs.sandbox(["--orders", str(n), "--no-response-cache"], cpu=SERVER_CPU,
                                              name=f"fake-{n}"))
            cpu_ready = server.cpu_s()
            location_id, token = _banner_location(server.banner)
            first_200 = _first_200(server, location_id, token)
            self.big_start = {"orders": n, "ready_s": round(server.ready_s, 3), "ready_cpu_s": cpu_ready,
                              "first_200_s": round(first_200, 3), "rss_mib": server.rss_mib()}
            self._big = Target(server)
        return self._big

    # ---- load ---------------------------------------------------------------------------------

    def load(self, target_url: str, path: str, headers: dict[str, str], label: str,
             seconds: int | None = None, warmup: bool = True) -> WrkResult:
        url = target_url + path
        if warmup and self.opts.warmup:
            self.wrk.run(url, self.opts.warmup, headers)
        res = self.wrk.run(url, seconds or self.opts.duration, headers)
        if res.errors:
            raise RuntimeError(f"{label}: wrk counted {res.errors} errors (non-2xx/socket): {res}")
        self.log(f"    {label:<32} {res.rps:>9.0f} req/s  p50 {res.p50_us / 1000:7.2f} ms  "
                 f"p99 {res.p99_us / 1000:7.2f} ms")
        return res

    def fake_load(self, endpoint: str, round_no: int) -> WrkResult:
        fake = self.fake()
        res = self.load(fake.server.url, fake.path(endpoint), fake.headers, f"fake {endpoint} #{round_no}")
        self.fake_rss.append((f"after {endpoint} #{round_no}", fake.server.rss_mib()))
        return res

    # ---- sections -----------------------------------------------------------------------------

    def throughput(self) -> None:
        fake = self.fake()
        bodies = {fake.list_path.split("?")[0]: fake.list_body, fake.get_path.split("?")[0]: fake.get_body}
        with tempfile.NamedTemporaryFile("wb", prefix="ghl-bench-bodies-", suffix=".json", delete=False) as fh:
            fh.write(orjson.dumps({k: v.decode() for k, v in bodies.items()}))
        try:
            bare_server = self.start(procs.server("bare", ["-m", "benchmarks.bare_app", fh.name], "BARE_READY",
                                                  cpu=SERVER_CPU))
        finally:
            os.unlink(fh.name)
        # The fake in the other cache modes: the same seed, so the same world and the same bytes.
        modes: dict[str, Target] = {"fake": fake}
        out: dict[str, Any] = {"modes": {name: " ".join(flags) or "(defaults)" for name, flags in CACHE_MODES.items()}}
        wiremock = self._wiremock(bodies, fake.list_path, out)
        try:
            for name, flags in CACHE_MODES.items():
                if name != "fake":
                    modes[name] = Target(self.start(procs.sandbox(flags, cpu=SERVER_CPU, name=f"fake-{name}")))
                    if (modes[name].list_body, modes[name].get_body) != (fake.list_body, fake.get_body):
                        raise RuntimeError(f"fake-{name} answers other bytes than the fake")
            peers: dict[str, str] = {"bare": bare_server.url}
            if wiremock is not None:
                peers["wiremock"] = wiremock.url
            for endpoint in ("get_order", "list_orders"):
                path = fake.path(endpoint)
                expected = fake.get_body if endpoint == "get_order" else fake.list_body
                for peer, url in peers.items():
                    client = Http(url)
                    status, body = client.get(path, fake.headers)
                    client.close()
                    if status != 200 or body != expected:
                        raise RuntimeError(f"{peer} does not answer the fake's bytes on {path}: {status} {body[:200]!r}")
                if wiremock is not None:  # the JVM compiles its hot paths under load: warm it longer
                    self.load(wiremock.url, path, fake.headers, f"wiremock {endpoint} warm-up",
                              seconds=max(3, 2 * self.opts.duration), warmup=False)
                runs: dict[str, list[WrkResult]] = {name: [] for name in (*modes, *peers)}
                for r in range(1, self.opts.rounds + 1):
                    runs["fake"].append(self.fake_load(endpoint, r))
                    for name, target in modes.items():
                        if name != "fake":
                            runs[name].append(self.load(target.server.url, path, target.headers,
                                                        f"fake-{name} {endpoint} #{r}"))
                    for peer, url in peers.items():
                        runs[peer].append(self.load(url, path, fake.headers, f"{peer} {endpoint} #{r}"))
                row: dict[str, Any] = {name: _median_result(rs) for name, rs in runs.items()}
                row["ratio"] = round(row["fake"]["rps"] / row["bare"]["rps"], 3)
                for name in (*modes, *(["wiremock"] if wiremock is not None else [])):
                    row[f"{name}_vs_bare"] = round(row[name]["rps"] / row["bare"]["rps"], 3)
                    if wiremock is not None and name != "wiremock":
                        row[f"{name}_vs_wiremock"] = round(row[name]["rps"] / row["wiremock"]["rps"], 3)
                row["path"] = path.replace(fake.location_id, "<loc>").replace(fake.order_id, "<orderId>")
                row["response_bytes"] = len(expected)
                out[endpoint] = row
        finally:
            self.stop(bare_server)
            for name, target in modes.items():
                if name != "fake":
                    self.stop(target.server)
            if wiremock is not None:
                out["wiremock_rss_mib"] = wiremock.rss_mib()
                wiremock.stop()
        self.results["throughput"] = out

    def _wiremock(self, bodies: dict[str, bytes], probe: str, out: dict[str, Any]) -> WireMockServer | None:
        """WireMock with stubs answering the fake's bytes, or None (and why, in `out`) when it cannot run."""
        try:
            java, jar = ensure_wiremock(self.log)
            server = WireMockServer(java, jar, bodies, cpu=SERVER_CPU)
            self.log(f"  starting wiremock {server.version}: {' '.join(server.cmd)}")
            server.start(probe.split("?")[0])
        except (WireMockMissing, OSError, subprocess.SubprocessError) as exc:
            self.log(f"  WireMock unavailable, compared with the bare app only: {exc}")
            out["wiremock"] = f"unavailable: {exc}"
            return None
        out["wiremock"] = f"WireMock {server.version} (npm wiremock, java -jar, --no-request-journal)"
        return server

    def mixed(self) -> None:
        out: dict[str, Any] = {"write_every": MIXED_WRITE_EVERY}
        for label, flags in (("fragments", []), ("no_fragments", ["--no-fragment-cache"])):
            server = self.start(procs.sandbox(flags, cpu=SERVER_CPU, name=f"fake-mixed-{label}"))
            try:
                out[label] = self._mixed_run(Target(server), label)
            finally:
                self.stop(server)
        # Memory: the 100,000-order world (both caches on) under the same mixed load, kept in a state file:
        # in memory (the default), the thousands of orders the run writes, with their payments, fulfilments
        # and events, would grow the resident set by what they hold (~14 KiB each), whatever the caches do.
        n = self.opts.big_orders
        state_dir = tempfile.mkdtemp(prefix="ghl-bench-mixed-")
        server = self.start(procs.sandbox(["--orders", str(n), "--state", os.path.join(state_dir, "big.sqlite")],
                                          cpu=SERVER_CPU, name=f"fake-mixed-{n}"))
        try:
            big = Target(server)
            rss_start = server.rss_mib()
            row = self._mixed_run(big, f"{n} orders")
            rss_end = server.rss_mib()
            out["big"] = {"orders": n, "rss_start_mib": rss_start, "rss_end_mib": rss_end,
                          "rss_peak_mib": max(rss_end, row["rss_peak_mib"]),
                          "rss_growth_mib": round(max(rss_end, row["rss_peak_mib"]) - rss_start, 1), **row}
        finally:
            self.stop(server)
            shutil.rmtree(state_dir, ignore_errors=True)
        self.results["mixed"] = out

    def _mixed_run(self, target: Target, label: str) -> dict[str, Any]:
        """Reads only, then 9 reads to 1 write, with the same read paths: list-orders (20 a page) and
        get-order of the order written last; the writes pay and fulfil fresh orders in turn. The
        reads-only figure the mix is compared with is measured in rounds alternating with the mix's, on
        the same world (the orders created for the run, those paid and fulfilled so far): the machine's
        drift and the world's growth then weigh on both alike. The first reads-only run (before the
        orders exist) only sizes the runs."""
        sizing = self._mixed_load(target, [target.order_id], 0, f"{label}: reads only (sizing)", seconds=None)
        # Enough fresh unpaid orders for every write of a run (each takes a payment, then a fulfilment;
        # the mix cannot be faster than pure reads): before each pair of rounds the pool is topped up to
        # that bound, and the orders a run left unpaid serve the next (an order paid twice would be
        # refused). A run pays about half its bound, so creating the bound anew for each run made the
        # world some 2.4 times what the writes use (22,000 orders where 9,000 were written).
        bound = int(sizing["rps"] / MIXED_WRITE_EVERY * self.opts.duration / 2 * 1.2) + 50
        rounds = max(self.opts.rounds, MIXED_ROUNDS_MIN if not self.opts.quick else 1)
        pool: list[str] = []
        created = 0
        pures: list[dict[str, Any]] = []
        runs: list[dict[str, Any]] = []
        for r in range(1, rounds + 1):
            if len(pool) < bound:
                fresh = _create_orders(target.server.url, bound - len(pool))
                created += len(fresh)
                pool += fresh
            pures.append(self._mixed_load(target, [target.order_id], 0, f"{label}: reads only #{r}", seconds=None,
                                          warmup=False))
            run = self._mixed_load(target, pool[:bound], MIXED_WRITE_EVERY, f"{label}: 9 reads / 1 write #{r}",
                                   seconds=None)
            runs.append(run)
            pool = pool[_orders_written(run["requests"], self.opts.connections):]
        rss = [r.pop("rss_mib") for r in runs]
        mix = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0] if k != "raw"}
        pure = {k: round(statistics.median(r[k] for r in pures), 3) for k in pures[0] if k != "raw"}
        share = 1 - 1 / MIXED_WRITE_EVERY
        # Each round's pair was measured back to back on the same world: its ratio cancels the drift the
        # two share, which the medians of each, taken from different minutes, do not.
        pairs = [round(m["rps"] * share / p["rps"], 3) for p, m in zip(pures, runs, strict=True)]
        return {"pure_reads": pure, "pure_reads_sizing": sizing, "mixed": mix, "orders_prepared": created,
                "reads_rps": round(mix["rps"] * share, 1), "writes_rps": round(mix["rps"] / MIXED_WRITE_EVERY, 1),
                "reads_vs_pure": round(statistics.median(pairs), 3), "reads_vs_pure_rounds": pairs,
                "reads_vs_pure_of_medians": round(mix["rps"] * share / pure["rps"], 3), "rss_peak_mib": max(rss)}

    def _mixed_load(self, target: Target, orders: list[str], write_every: int, label: str,
                    seconds: int | None, warmup: bool = True) -> dict[str, Any]:
        lua = _mixed_lua(target.list_path, target.location_id, orders, write_every)
        url = target.server.url + target.list_path
        if warmup and self.opts.warmup and write_every == 0:  # a mixed run warms up on the reads only run before it
            self.wrk.run(url, self.opts.warmup, target.headers, lua)
        res = self.wrk.run(url, seconds or self.opts.duration, target.headers, lua)
        row = {**res.as_dict(), "rss_mib": target.server.rss_mib()}
        self.log(f"    {label:<40} {res.rps:>9.0f} req/s  p50 {res.p50_us / 1000:7.2f} ms  "
                 f"p99 {res.p99_us / 1000:7.2f} ms  errors {res.errors}")
        if res.errors:
            raise RuntimeError(f"{label}: wrk counted {res.errors} errors (non-2xx/socket): {res}")
        if write_every == 0:
            row.pop("rss_mib")
        return row

    def granian(self) -> None:
        probe = subprocess.run([sys.executable, "-c", "import granian; print(granian.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            self.log("  granian is not installed (pip install 'ghl-sandbox[granian]'): skipped")
            self.results["granian"] = {"skipped": "granian is not installed"}
            return
        uvicorn_rows = self.results.get("throughput")
        if uvicorn_rows is None:  # --only granian: measure the uvicorn fake here for the comparison
            uvicorn_rows = {e: {"fake": _median_result([self.fake_load(e, 1)])} for e in ("get_order", "list_orders")}
        fake = self.fake()
        server = self.start(procs.sandbox(["--server", "granian"], cpu=SERVER_CPU, name="fake-granian"))
        out: dict[str, Any] = {"version": probe.stdout.strip()}
        try:
            location_id, token = procs.first_location(server.url)
            if location_id != fake.location_id:
                raise RuntimeError("granian sandbox seeded a different world")
            headers = api_headers(token)
            for endpoint in ("get_order", "list_orders"):
                path = fake.path(endpoint)
                client = Http(server.url)
                status, body = client.get(path, headers)
                client.close()
                expected = fake.get_body if endpoint == "get_order" else fake.list_body
                if status != 200 or body != expected:
                    raise RuntimeError(f"granian fake answers differently on {path}: {status} {body[:200]!r}")
                runs = [self.load(server.url, path, headers, f"granian {endpoint} #{r}")
                        for r in range(1, self.opts.rounds + 1)]
                row = {"granian": _median_result(runs), "uvicorn": uvicorn_rows[endpoint]["fake"]}
                row["granian_vs_uvicorn"] = round(row["granian"]["rps"] / row["uvicorn"]["rps"], 3)
                out[endpoint] = row
            out["rss_mib"] = server.rss_mib()
        finally:
            self.stop(server)
        out["wins"] = all(out[e]["granian_vs_uvicorn"] > 1.0 for e in ("get_order", "list_orders"))
        self.results["granian"] = out

    def scale(self) -> None:
        n_small, n_big = self.opts.small_orders, self.opts.big_orders
        small = Target(self.start(procs.sandbox(["--orders", str(n_small), "--no-response-cache"], cpu=SERVER_CPU,
                                                name=f"fake-{n_small}")))
        big = self.big()
        out: dict[str, Any] = {}
        try:
            rows = {}
            for label, t in ((str(n_small), small), (str(n_big), big)):
                rows[label] = _median_result([self.load(t.server.url, t.list_path, t.headers,
                                                        f"list_orders @ {label} orders #{r}")
                                              for r in range(1, self.opts.rounds + 1)])
            out["list_orders"] = rows
            out["p50_ratio"] = round(rows[str(n_big)]["p50_ms"] / rows[str(n_small)]["p50_ms"], 3)
            out["rps_ratio"] = round(rows[str(n_big)]["rps"] / rows[str(n_small)]["rps"], 3)
        finally:
            self.stop(small.server)
        self.results["scale"] = out

    def startup(self) -> None:
        runs = []
        for i in range(self.opts.startup_runs):
            server = procs.sandbox(name=f"startup-{i + 1}")  # unpinned: a user's start-up
            self._servers.append(server)
            try:
                server.start()
                location_id, token = _banner_location(server.banner)
                first_200 = _first_200(server, location_id, token)
                runs.append({"ready_s": round(server.ready_s, 3), "first_200_s": round(first_200, 3),
                             "cpu_s": server.cpu_s(), "rss_mib": server.rss_mib()})
                self.log(f"    start-up #{i + 1}: ready {server.ready_s:.3f} s, first 200 {first_200:.3f} s "
                         f"(CPU {runs[-1]['cpu_s']:.2f} s), RSS {runs[-1]['rss_mib']} MiB")
            finally:
                self.stop(server)
        self.big()
        self.log(f"    --orders {self.opts.big_orders}: ready {self.big_start['ready_s']:.2f} s "
                 f"(CPU {self.big_start['ready_cpu_s']:.2f} s), first 200 {self.big_start['first_200_s']:.2f} s, "
                 f"RSS {self.big_start['rss_mib']} MiB")
        self.results["startup"] = {
            "default": {"runs": runs,
                        "median_first_200_s": round(statistics.median(r["first_200_s"] for r in runs), 3),
                        "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
                        "median_ready_s": round(statistics.median(r["ready_s"] for r in runs), 3)},
            "big": dict(self.big_start),
        }

    def memory(self) -> None:
        if len(self.fake_rss) < 3:  # no load ran yet (--only memory): run some
            for r in (1, 2):
                for endpoint in ("get_order", "list_orders"):
                    self.fake_load(endpoint, r)
        big = self.big_start or {}
        if not big:
            self.big()
            big = self.big_start
        startup = self.results.get("startup", {}).get("default", {}).get("runs")
        default_start = (statistics.median(r["rss_mib"] for r in startup) if startup else self.fake_rss[0][1])
        series = [{"when": w, "rss_mib": v} for w, v in self.fake_rss]
        first_load = self.fake_rss[1][1]
        self.results["memory"] = {
            "default_after_start_mib": default_start,
            "big_after_start_mib": big["rss_mib"],
            "big_orders": big["orders"],
            "fake_series": series,
            "fake_after_load_mib": self.fake_rss[-1][1],
            "growth_after_first_run_mib": round(self.fake_rss[-1][1] - first_load, 1),
            "growth_from_start_mib": round(self.fake_rss[-1][1] - self.fake_rss[0][1], 1),
        }

    def webhooks(self) -> None:
        receiver = self.start(procs.server("receiver", ["-m", "benchmarks.receiver"], "RECEIVER_READY", cpu=WRK_CPU))
        out: dict[str, Any] = {"events": self.opts.webhook_events, "clients": WEBHOOK_CLIENTS}
        try:
            for label, extra in (("ed25519_rsa", ["--legacy-wh-signature"]), ("ed25519_only", [])):
                out[label] = self._webhook_run(receiver, label, extra)
        finally:
            self.stop(receiver)
        out["ed25519_only_vs_both"] = round(out["ed25519_only"]["deliveries_per_s"]
                                            / out["ed25519_rsa"]["deliveries_per_s"], 2)
        self.results["webhooks"] = out

    def _webhook_run(self, receiver: ServerProcess, label: str, extra: list[str]) -> dict[str, Any]:
        server = self.start(procs.sandbox(["--webhook-timeout", "5", *extra], cpu=SERVER_CPU,
                                          name=f"fake-webhooks-{label}"))
        try:
            with SandboxClient(server.url) as control:
                keys = control.keys()
                control.webhook_target(receiver.url + "/webhooks/ghl")
            got_before = _receiver_stats(receiver)
            cpu_before = server.cpu_s()
            n = self.opts.webhook_events
            shares = [n // WEBHOOK_CLIENTS + (1 if i < n % WEBHOOK_CLIENTS else 0) for i in range(WEBHOOK_CLIENTS)]
            started = time.perf_counter()
            with ThreadPoolExecutor(WEBHOOK_CLIENTS) as pool:
                list(pool.map(lambda k: _simulate_orders(server.url, k), shares))
            simulate_s = time.perf_counter() - started
            with SandboxClient(server.url, timeout=180) as control:
                waited = control.wait_for("deliveries-settled", 120)
                settled_s = time.perf_counter() - started
                if waited.status_code != 200:
                    raise RuntimeError(f"webhooks {label}: deliveries did not settle within 120 s: "
                                       f"{waited.content[:300]!r}")
                cpu_s = server.cpu_s() - cpu_before
                data = control.control("GET", "/webhooks/deliveries")
        finally:
            self.stop(server)
        got = {k: v - got_before[k] for k, v in _receiver_stats(receiver).items()}
        attempts = data["attempts"]
        counts = data["counts"]
        if counts.get("delivered") != n or len(attempts) != n or got["requests"] != n:
            raise RuntimeError(f"webhooks {label}: expected {n} deliveries, one attempt each: counts {counts}, "
                               f"{len(attempts)} attempts, the receiver got {got['requests']}")
        bad = [a for a in attempts if a["status"] != 200]
        if bad:
            raise RuntimeError(f"webhooks {label}: {len(bad)} attempts were not answered 200, e.g. {bad[0]}")
        rsa = bool(keys["signatures"]["x-wh-signature"])
        if got["ed25519"] != n or got["rsa"] != (n if rsa else 0):
            raise RuntimeError(f"webhooks {label}: signature headers do not match the settings: {got}")
        times = sorted(dt.datetime.fromisoformat(a["time"].replace("Z", "+00:00")).timestamp() for a in attempts)
        span = times[-1] - times[0]
        latencies = sorted(a["latencyMs"] for a in attempts)
        row = {"deliveries": n, "signatures": "Ed25519 + RSA" if rsa else "Ed25519",
               "deliveries_per_s": round((n - 1) / max(span, 0.001), 1),  # attempt times are in ms
               "first_to_last_attempt_s": round(span, 3),
               "simulate_calls_per_s": round(n / simulate_s, 1), "simulate_s": round(simulate_s, 3),
               "create_to_settled_s": round(settled_s, 3),
               "attempt_latency_p50_ms": round(statistics.median(latencies), 3),
               "server_cpu_s": round(cpu_s, 3), "server_cpu_ms_per_event": round(cpu_s / n * 1000, 3),
               "receiver_bytes": got["bytes"]}
        self.log(f"    {label:<14} {row['deliveries_per_s']:>8} deliveries/s (first -> last attempt "
                 f"{span:.2f} s), simulate {row['simulate_calls_per_s']:.0f} calls/s, settled after "
                 f"{settled_s:.2f} s, server CPU {row['server_cpu_ms_per_event']:.2f} ms/event")
        return row

    def faults(self) -> None:
        server = self.start(procs.sandbox(["--no-response-cache"], cpu=SERVER_CPU, name="fake-faults"))
        out: dict[str, Any] = {"rule_count": len(FAULT_RULES)}
        try:
            t = Target(server)
            # Fill the journal (10,000 entries) and warm every cache first, so the first measured run is
            # not the only one with a journal still growing.
            self.wrk.run(server.url + t.get_path, 3 if self.opts.quick else 5, t.headers)
            runs: dict[str, list[WrkResult]] = {"none": [], "rules": []}
            cpu_us: dict[str, list[float]] = {"none": [], "rules": []}
            for r in range(1, self.opts.fault_rounds + 1):
                for variant in (("none", "rules") if r % 2 else ("rules", "none")):
                    with SandboxClient(server.url) as control:  # a fresh connection: the last went idle under load
                        control.clear_faults()
                        for rule in FAULT_RULES if variant == "rules" else []:
                            control.add_fault(rule)
                    if self.opts.warmup:
                        self.wrk.run(server.url + t.get_path, self.opts.warmup, t.headers)
                    cpu_before = server.cpu_s()
                    res = self.load(server.url, t.get_path, t.headers,
                                    f"get_order, {len(FAULT_RULES) if variant == 'rules' else 'no'} fault rules #{r}",
                                    warmup=False)
                    runs[variant].append(res)
                    # The server's CPU time per request: less moved by other work than latency (10 ms ticks).
                    cpu_us[variant].append((server.cpu_s() - cpu_before) / res.requests * 1e6)
                    if variant == "rules":
                        with SandboxClient(server.url) as control:
                            listed = control.faults()
                        matched = sum(rule["matched"] for rule in listed)
                        if len(listed) != len(FAULT_RULES) or matched:
                            raise RuntimeError(f"faults: {len(listed)} rules listed, {matched} requests matched")
            with SandboxClient(server.url) as control:
                control.clear_faults()
            row = {v: _median_result(rs) for v, rs in runs.items()}
            none, rules = row["none"], row["rules"]
            out.update(row)
            out["path"] = t.get_path.replace(t.location_id, "<loc>").replace(t.order_id, "<orderId>")
            out["p50_overhead_pct"] = round((rules["p50_ms"] - none["p50_ms"]) / none["p50_ms"] * 100, 2)
            out["rps_drop_pct"] = round((none["rps"] - rules["rps"]) / none["rps"] * 100, 2)
            out["cpu_us_per_request"] = {v: round(statistics.median(xs), 1) for v, xs in cpu_us.items()}
            out["cpu_overhead_pct"] = round((out["cpu_us_per_request"]["rules"] - out["cpu_us_per_request"]["none"])
                                            / out["cpu_us_per_request"]["none"] * 100, 2)
            out["paired_p50_overhead_pct"] = [
                round((b.p50_us - a.p50_us) / a.p50_us * 100, 2) for a, b in zip(runs["none"], runs["rules"],
                                                                                   strict=True)]
            micro = self._faults_micro()
            request_us = 1e6 / none["rps"]  # the server's time per request at saturation (one core)
            micro["request_us"] = round(request_us, 1)
            micro["overhead_pct"] = round(micro["middleware_rules_us"] / request_us * 100, 2)
            micro["overhead_no_rules_pct"] = round(micro["middleware_none_us"] / request_us * 100, 2)
            out["micro"] = micro
            self.log(f"    p50 overhead {out['p50_overhead_pct']:+.2f} % (rounds: "
                     f"{', '.join(f'{x:+.1f}' for x in out['paired_p50_overhead_pct'])}), requests/s drop "
                     f"{out['rps_drop_pct']:+.2f} %; in-process: middleware +{micro['middleware_rules_us']:.1f} us "
                     f"with {len(FAULT_RULES)} rules (+{micro['middleware_none_us']:.2f} us with none), pick "
                     f"{micro['pick_us']:.2f} us, of {request_us:.0f} us per request = {micro['overhead_pct']:.2f} %; "
                     f"server CPU per request {out['cpu_us_per_request']['none']} -> "
                     f"{out['cpu_us_per_request']['rules']} us ({out['cpu_overhead_pct']:+.2f} %)")
        finally:
            self.stop(server)
        self.results["faults"] = out

    def _faults_micro(self) -> dict[str, Any]:
        cmd = [*cpu_prefix(SERVER_CPU), sys.executable, "-m", "benchmarks.faults_micro", orjson.dumps(FAULT_RULES).decode()]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
        for line in done.stdout.splitlines():
            if line.startswith("FAULTS_MICRO "):
                return dict(orjson.loads(line[len("FAULTS_MICRO "):]))
        raise RuntimeError(f"faults micro-measure gave no result (exit {done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def harness(self) -> None:
        quick = self.opts.quick
        library = [f"{LIBRARY_DIR}/{name}" for name in QUICK_SCENARIOS] if quick else []  # []: the whole library
        out: dict[str, Any] = {"client": REFERENCE_CLIENT}
        with tempfile.TemporaryDirectory(prefix="ghl-bench-harness-") as tmp:
            runs = []
            for n in range(1, (1 if quick else LIBRARY_RUNS) + 1):
                run = self._check(tmp, f"library-{n}", library, 0)
                runs.append(run)
                self.log(f"    library #{n}: {run['scenarios']} scenarios in {run['wall_s']:.1f} s on {run['jobs']} jobs "
                         f"({run['passed']} passed{', FAILED: ' + ', '.join(run['failed']) if run['failed'] else ''}); "
                         f"client start+stop {run['client_s']:.1f} s of {run['scenario_s']:.1f} s scenario time")
            lib = dict(sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2])  # the median run
            lib["runs_s"] = [r["wall_s"] for r in runs]
            lib["failed"] = sorted({name for r in runs for name in r["failed"]})  # any run's failure counts
            lib["passed"] = min(r["passed"] for r in runs)
            lib["full"] = not quick
            out["library"] = lib
            serial = self._check(tmp, "library-serial", library, 0, extra=["--jobs", "1"])
            out["library_serial"] = serial
            self.log(f"    library with --jobs 1: {serial['wall_s']:.1f} s ({serial['passed']} passed"
                     f"{', FAILED: ' + ', '.join(serial['failed']) if serial['failed'] else ''})")
            prop = self._check(tmp, "property", [PROPERTY_SCENARIO], self.opts.examples,
                               extra=["--save-failures", os.path.join(tmp, "failures")])
            prop["full"] = self.opts.examples >= 50
            out["property"] = prop
            self.log(f"    property run: {prop['examples']} examples in {prop['property_s']} s "
                     f"(whole command {prop['wall_s']:.1f} s, of which the scenario {prop['scenario_s']:.1f} s)")
        out["reset"] = self._reset_times()
        self.results["harness"] = out

    def clients(self) -> None:
        library = [f"{LIBRARY_DIR}/{name}" for name in QUICK_SCENARIOS] if self.opts.quick else []
        out: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="ghl-bench-clients-") as tmp:
            for name, project in CLIENT_PROJECTS.items():
                if name == "node":
                    missing = _npm_ready(os.path.join(REPO, os.path.dirname(project)))
                    if missing:
                        out[name] = {"skipped": missing}
                        self.log(f"    {name}: skipped ({missing})")
                        continue
                row = self._check(tmp, name, library, 0, ["--project", project])
                row["skipped"] = row["scenarios"] - row["passed"] - len(row["failed"])
                row["full"] = not self.opts.quick
                out[name] = row
                self.log(f"    {name}: {row['scenarios']} scenarios in {row['wall_s']:.1f} s ({row['passed']} passed, "
                         f"{row['skipped']} skipped{', FAILED: ' + ', '.join(row['failed']) if row['failed'] else ''})")
        self.results["clients"] = out

    def encoding(self) -> None:
        from benchmarks.encoding_micro import measure

        out = measure()
        self.log(f"    list-orders body: jsjson {out['list_orders']['jsjson_us']:.1f} us vs orjson "
                 f"{out['list_orders']['orjson_us']:.1f} us; order by id {out['order']['jsjson_us']:.1f} us vs "
                 f"{out['order']['orjson_us']:.1f} us")
        self.results["encoding"] = out

    def soak(self) -> None:
        from benchmarks.soak import run_soak

        server = self.start(procs.sandbox(["--rate-limit", "off"], cpu=SERVER_CPU, name="fake-soak"))
        try:
            location_id, token = first_location(server.url)
            out = run_soak(server.url, token, location_id, server.rss_mib, self.opts.soak_ops, SOAK_SSE_CLIENTS)
        finally:
            self.stop(server)
        self.log(f"    {out['ops']} requests in {out['seconds']} s, {out['sse_clients']} stream clients read "
                 f"{out['sse_events_read']} events; RSS {out['rss_start_mib']} -> peak {out['rss_peak_mib']} MiB")
        self.results["soak"] = out

    def _check(self, tmp: str, label: str, scenarios: list[str], examples: int,
               client_args: list[str] | None = None, extra: list[str] | None = None) -> dict[str, Any]:
        report = os.path.join(tmp, f"{label}.json")
        client = f"{shlex.quote(sys.executable)} {REFERENCE_CLIENT}"
        client_args = client_args or ["--client", client]
        cmd = [sys.executable, "-m", "mock_server.cli", "check", *client_args, "--examples", str(examples),
               "--json", report, *(extra or [])]
        for path in scenarios:
            cmd += ["--scenarios", path]
        # A home of its own: the benchmark must not replace the user's last check report (the dashboard's);
        # this interpreter's directory first on PATH, for clients whose command says `python3`.
        env = {**os.environ, "GHL_SANDBOX_HOME": os.path.join(tmp, "home"),
               "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
        self.log(f"  running ghl-sandbox check {' '.join(shlex.quote(a) for a in client_args)} --examples {examples} "
                 + (f"({len(scenarios)} scenario file(s))" if scenarios else "(the whole library)"))
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=1800)
        wall = time.perf_counter() - started
        if done.returncode not in (0, 1) or not os.path.exists(report):
            raise RuntimeError(f"ghl-sandbox check ({label}) exited {done.returncode}:\n{done.stdout[-3000:]}\n"
                               f"{done.stderr[-2000:]}")
        if done.returncode != 0:  # keep what failed (the report, the output, any replay) past the temp directory
            kept = os.path.join(REPO, "benchmarks", "results", f"failed-{label}")
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(tmp, kept, ignore=shutil.ignore_patterns("*.sqlite*", "state*"), dirs_exist_ok=True)
            with open(os.path.join(kept, "output.txt"), "w") as fh:
                fh.write(done.stdout + "\n" + done.stderr)
            self.log(f"    {label} failed: report, output and replays kept in {os.path.relpath(kept, REPO)}")
        with open(report, "rb") as fh:
            doc = orjson.loads(fh.read())
        rows = doc["scenarios"]
        scenario_rows = [r for r in rows if not r.get("property")]  # not the property run's row
        out: dict[str, Any] = {
            "wall_s": round(wall, 2), "exit": done.returncode, "scenarios": len(scenario_rows),
            "jobs": (doc.get("jobs") or {}).get("count", 1),
            "passed": sum(r.get("status", "pass" if r["ok"] else "fail") == "pass" for r in scenario_rows),
            "failed": [r["name"] for r in rows if not r["ok"]],
            "scenario_s": round(sum(r["seconds"] for r in scenario_rows), 2),
            # Starting and stopping client processes, of scenario_s: the most that reusing them could save.
            "client_s": round(sum(r.get("clientSeconds") or 0.0 for r in scenario_rows), 2),
            "slowest": sorted(({"name": r["name"], "seconds": r["seconds"]} for r in scenario_rows),
                              key=lambda r: -r["seconds"])[:3],
            "per_scenario": {os.path.basename(r["path"]): r["seconds"] for r in scenario_rows},
        }
        if examples:
            found = re.search(r"property run: (?:a program failed after )?(\d+) (?:examples|runs) \(([\d.]+) s\)",
                              done.stdout)
            out["examples"] = int(found.group(1)) if found else examples
            # From the output line; else the whole command less the scenario (start-up included then).
            out["property_s"] = float(found.group(2)) if found else round(wall - out["scenario_s"], 2)
            out["property_ok"] = done.returncode == 0
        return out

    def _reset_times(self) -> dict[str, Any]:
        server = self.start(procs.sandbox(cpu=SERVER_CPU, name="fake-reset"))
        try:
            ctl = Http(server.url)  # each call is timed: the stdlib client adds the least of its own
            seed = 42

            def reset(seed: int, orders: int = 8) -> tuple[float, float]:
                t0 = time.perf_counter()
                answer = ctl.call("POST", "/_sandbox/reset", {"seed": seed, "orders": orders})
                wall = (time.perf_counter() - t0) * 1000
                assert isinstance(answer, dict)
                return float(answer["resetMs"]), wall

            for _ in range(5):  # warm-up: the first reset seeds the world and keeps its snapshot
                reset(seed)
            warm = [reset(seed) for _ in range(RESET_CALLS)]
            # A new (seed, orders) each time: no snapshot to restore, the world is seeded again.
            cold = [reset(1000 + i) for i in range(COLD_RESET_CALLS)]
            ctl.close()
        finally:
            self.stop(server)

        def summary(pairs: list[tuple[float, float]]) -> dict[str, Any]:
            inner, wall = sorted(p[0] for p in pairs), sorted(p[1] for p in pairs)
            return {"calls": len(pairs), "reset_ms_median": round(statistics.median(inner), 2),
                    "wall_ms_median": round(statistics.median(wall), 2),
                    "wall_ms_p90": round(wall[int(len(wall) * 0.9) - 1], 2), "wall_ms_max": round(wall[-1], 2)}

        w, c = summary(warm), summary(cold)
        out = {"orders": 8, "same_seed": w, "new_seed": c}
        self.log(f"    reset {{seed, orders: 8}}: resetMs {w['reset_ms_median']} ms, HTTP call "
                 f"{w['wall_ms_median']} ms (median of {w['calls']}; p90 {w['wall_ms_p90']} ms); a new seed each "
                 f"time: {c['wall_ms_median']} ms")
        return out


# ---- helpers ------------------------------------------------------------------------------------


def _npm_ready(directory: str) -> str:
    """Install a Node client's packages when missing; "" when ready, else why it cannot run."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm not installed (make node)"
    if not os.path.isdir(os.path.join(directory, "node_modules")):
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=directory, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            return f"npm ci failed: {done.stderr.strip()[-300:]}"
    return ""


def _median_result(results: list[WrkResult]) -> dict[str, Any]:
    dicts = [r.as_dict() for r in results]
    out: dict[str, Any] = {k: round(statistics.median(d[k] for d in dicts), 3) for k in ("rps", "p50_ms", "p90_ms", "p99_ms",
                                                                          "mean_ms", "max_ms")}
    out["rps"] = round(out["rps"], 1)
    out["requests"] = sum(d["requests"] for d in dicts)
    out["rounds"] = [{k: d[k] for k in ("rps", "p50_ms", "p99_ms")} for d in dicts]
    return out


def _simulate_orders(url: str, n: int) -> None:
    """`n` order.create calls on one kept-alive connection (one of the concurrent control-plane clients).
    The stdlib client, not SandboxClient: these calls are timed, and httpx's own cost would count."""
    client = Http(url)
    try:
        for _ in range(n):
            client.call("POST", "/_sandbox/simulate/order.create", {})
    finally:
        client.close()


def _create_orders(url: str, n: int) -> list[str]:
    """`n` fresh unpaid orders (`order.create` from MIXED_CLIENTS concurrent clients): their ids."""
    def make(k: int) -> list[str]:
        client = Http(url)
        try:
            return [next(r["id"] for r in client.call("POST", "/_sandbox/simulate/order.create", {})["resources"]
                         if r["type"] == "order") for _ in range(k)]
        finally:
            client.close()

    shares = [n // MIXED_CLIENTS + (1 if i < n % MIXED_CLIENTS else 0) for i in range(MIXED_CLIENTS)]
    with ThreadPoolExecutor(MIXED_CLIENTS) as pool:
        return [oid for part in pool.map(make, shares) for oid in part]


def _orders_written(completed: int, connections: int) -> int:
    """How many of a mixed run's orders its writes may have taken, from the requests wrk completed: each
    connection may have had one more request issued (`_mixed_lua` counts issued ones), and writes take
    the orders two by two (a payment, then a fulfilment). Over, never under: an order left out is only
    unused."""
    issued = completed + 2 * connections
    writes = issued // MIXED_WRITE_EVERY + 1
    return (writes + 1) // 2 + 1


def _mixed_lua(list_path: str, location_id: str, orders: list[str], write_every: int) -> str:
    """wrk's `request()` for the mixed run: every `write_every`-th request (0: none) is a simulated
    payment or fulfilment (`POST /_sandbox/simulate/order.pay|order.fulfill`, taking the prepared
    orders in turn: each is paid, then fulfilled); the others alternate list-orders and get-order of the
    order written last (the reads a harness makes after a write)."""
    ids = ",".join(f'"{o}"' for o in orders)
    return f"""
local orders = {{{ids}}}
local list_path = "{list_path}"
local get_prefix = "/payments/orders/"
local get_suffix = "?altId={location_id}&altType=location"
local write_every = {write_every}
local n, w = 0, 0
local post_headers = {{["Content-Type"] = "application/json"}}
request = function()
  n = n + 1
  if write_every > 0 and n % write_every == 0 then
    w = w + 1
    local k = math.floor((w + 1) / 2)
    local action = (w % 2 == 1) and "order.pay" or "order.fulfill"
    return wrk.format("POST", "/_sandbox/simulate/" .. action, post_headers,
                      '{{"orderId":"' .. orders[k] .. '"}}')
  end
  if n % 2 == 0 then
    return wrk.format("GET", list_path)
  end
  return wrk.format("GET", get_prefix .. orders[math.max(1, math.floor((w + 1) / 2))] .. get_suffix)
end
"""


def _receiver_stats(receiver: ServerProcess) -> dict[str, int]:
    client = Http(receiver.url)
    try:
        return dict(client.call("GET", "/stats"))
    finally:
        client.close()


def _banner_location(lines: list[str]) -> tuple[str, str]:
    """First location id and token from the start-up banner (no extra request before the timed one)."""
    location_id = token = ""
    for line in lines:
        text = line.strip()
        if text.startswith("Location ") and not location_id:
            location_id = text.rsplit(":", 1)[1].strip()
        elif text.startswith("token (") and not token:
            token = text.rsplit(":", 1)[1].strip()
    if not (location_id and token):
        raise RuntimeError("no location/token in the banner:\n" + "".join(lines))
    return location_id, token


def _first_200(server: ServerProcess, location_id: str, token: str, timeout: float = 60.0) -> float:
    """Seconds from spawn to the first 200 on GET /payments/orders."""
    path = f"/payments/orders?altId={location_id}"
    headers = api_headers(token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client = Http(server.url, timeout=10)
        try:
            status, body = client.get(path, headers)
            if status == 200:
                return time.perf_counter() - server.spawned_at
            raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
        except (ConnectionError, OSError):
            time.sleep(0.002)
        finally:
            client.close()
    raise RuntimeError(f"{server.name}: no 200 on {path} within {timeout} s")


def _check(name: str, value: float | None) -> dict[str, Any]:
    op, bound = TARGETS[name]
    if value is None:
        return {"target": f"{op} {bound}", "value": None, "met": None}
    met = {">=": value >= bound, "<=": value <= bound, "<": value < bound}[op]
    return {"target": f"{op} {bound}", "value": value, "met": met}


def evaluate(results: dict[str, Any]) -> dict[str, Any]:
    tp, sc, su, mem = (results.get(k) for k in ("throughput", "scale", "startup", "memory"))
    fa, ha, mx = results.get("faults"), results.get("harness"), results.get("mixed")
    return {
        "get_order_ratio": _check("get_order_ratio", tp and tp["get_order"]["ratio"]),
        "list_orders_ratio": _check("list_orders_ratio", tp and tp["list_orders"]["ratio"]),
        "scale_p50_ratio": _check("scale_p50_ratio", sc and sc["p50_ratio"]),
        "startup_first_200_s": _check("startup_first_200_s", su and su["default"]["median_first_200_s"]),
        "seed_100k_ready_s": _check("seed_100k_ready_s", su and su["big"]["ready_s"]),
        "rss_growth_under_load_mib": _check("rss_growth_under_load_mib", mem and mem["growth_after_first_run_mib"]),
        "fault_overhead_pct": _check("fault_overhead_pct", fa and fa["p50_overhead_pct"]),
        "fault_overhead_micro_pct": _check("fault_overhead_micro_pct", fa and fa["micro"]["overhead_pct"]),
        # Quick runs (a subset of the library, fewer examples) report their times but are not held to a target.
        "harness_library_s": _check("harness_library_s",
                                    ha["library"]["wall_s"] if ha and ha["library"]["full"] else None),
        "harness_property_s": _check("harness_property_s",
                                     ha["property"]["property_s"] if ha and ha["property"]["full"] else None),
        "reset_ms": _check("reset_ms", ha and ha["reset"]["same_seed"]["wall_ms_median"]),
        "soak_rss_growth_mib": _check("soak_rss_growth_mib", (results.get("soak") or {}).get("rss_growth_mib")),
        "uncached_list_vs_wiremock": _check("uncached_list_vs_wiremock",
                                            tp and tp["list_orders"].get("uncached_vs_wiremock")),
        "uncached_get_vs_wiremock": _check("uncached_get_vs_wiremock",
                                           tp and tp["get_order"].get("uncached_vs_wiremock")),
        "mixed_reads_vs_pure": _check("mixed_reads_vs_pure", mx and mx["fragments"]["reads_vs_pure"]),
        "mixed_big_rss_growth_mib": _check("mixed_big_rss_growth_mib", mx and mx["big"]["rss_growth_mib"]),
    }


def _mark(check: dict[str, Any]) -> str:
    return {True: "met", False: "MISSED", None: "-"}[check["met"]]


def table(results: dict[str, Any], checks: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    tp = results.get("throughput")
    if tp:
        labels = {"fake": "fake (cached)", "uncached": "fake uncached (fragments)",
                  "uncached_nofrag": "fake uncached, no fragments", "bare": "bare", "wiremock": "WireMock"}
        if isinstance(tp.get("wiremock"), str) and tp["wiremock"].startswith("unavailable"):
            rows.append(("WireMock peer", tp["wiremock"][:200], "", ""))
        for endpoint, check, peer_check in (("get_order", "get_order_ratio", "uncached_get_vs_wiremock"),
                                            ("list_orders", "list_orders_ratio", "uncached_list_vs_wiremock")):
            row = tp[endpoint]
            for name, label in labels.items():
                if name not in row:
                    continue
                r = row[name]
                ratios = f"  {row[f'{name}_vs_bare']:.2f}x bare" if f"{name}_vs_bare" in row else ""
                ratios += f", {row[f'{name}_vs_wiremock']:.2f}x WireMock" if f"{name}_vs_wiremock" in row else ""
                rows.append((f"{endpoint} {label}", f"{r['rps']:.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                             f"p99 {r['p99_ms']:.2f} ms{ratios}", "", ""))
            rows.append((f"{endpoint} fake/bare", f"{row['ratio'] * 100:.1f} %", checks[check]["target"],
                         _mark(checks[check])))
            if "uncached_vs_wiremock" in row:
                rows.append((f"{endpoint} uncached/WireMock", f"{row['uncached_vs_wiremock']:.2f}x",
                             checks[peer_check]["target"], _mark(checks[peer_check])))
    mx = results.get("mixed")
    if mx:
        for key, label in (("fragments", "fragments on"), ("no_fragments", "fragments off"), ("big", "")):
            r = mx[key]
            name = f"{r['orders']:,} orders" if key == "big" else label
            p, m = r["pure_reads"], r["mixed"]
            rows.append((f"mixed, {name}: reads only", f"{p['rps']:.0f} req/s  p50 {p['p50_ms']:.2f} ms  "
                         f"p99 {p['p99_ms']:.2f} ms", "", ""))
            rows.append((f"mixed, {name}: 9 reads / 1 write", f"reads {r['reads_rps']:.0f} + writes "
                         f"{r['writes_rps']:.0f} req/s  p50 {m['p50_ms']:.2f} ms  p99 {m['p99_ms']:.2f} ms (all)",
                         "", ""))
            check = "mixed_reads_vs_pure"
            rounds = ", ".join(f"{x:.2f}" for x in r.get("reads_vs_pure_rounds", []))
            rows.append((f"mixed, {name}: reads / reads only", f"{r['reads_vs_pure']:.2f}x median of rounds "
                         f"({rounds}); medians' ratio {r.get('reads_vs_pure_of_medians', 0):.2f}x",
                         checks[check]["target"] if key == "fragments" else "",
                         _mark(checks[check]) if key == "fragments" else ""))
        b = mx["big"]
        rows.append((f"RSS {b['orders']:,} orders (--state) under the mixed run",
                     f"{b['rss_start_mib']:.0f} -> peak {b['rss_peak_mib']:.0f} MiB (+{b['rss_growth_mib']:.1f}; "
                     f"{b['orders_prepared']:,} orders created for it)",
                     checks["mixed_big_rss_growth_mib"]["target"] + " MiB", _mark(checks["mixed_big_rss_growth_mib"])))
    gr = results.get("granian")
    if gr:
        if "skipped" in gr:
            rows.append(("granian", f"skipped: {gr['skipped']}", "", ""))
        else:
            for endpoint in ("get_order", "list_orders"):
                r = gr[endpoint]["granian"]
                rows.append((f"{endpoint} fake on granian", f"{r['rps']:.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                             f"p99 {r['p99_ms']:.2f} ms  ({gr[endpoint]['granian_vs_uvicorn']:.2f}x uvicorn)",
                             "", ""))
            rows.append(("granian wins", "yes" if gr["wins"] else "no", "", ""))
    sc = results.get("scale")
    if sc:
        for label, r in sc["list_orders"].items():
            rows.append((f"list_orders @ {int(label):,} orders", f"{r['rps']:.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                         f"p99 {r['p99_ms']:.2f} ms", "", ""))
        rows.append(("list p50 big/small", f"{sc['p50_ratio']:.2f}x", checks["scale_p50_ratio"]["target"],
                     _mark(checks["scale_p50_ratio"])))
    su = results.get("startup")
    if su:
        d = su["default"]
        rows.append(("start-up -> first 200 (median)", f"{d['median_first_200_s']:.3f} s  (CPU {d['median_cpu_s']:.2f} s; "
                     f"runs: {', '.join(str(r['first_200_s']) for r in d['runs'])})",
                     checks["startup_first_200_s"]["target"] + " s", _mark(checks["startup_first_200_s"])))
        b = su["big"]
        rows.append((f"seed {b['orders']:,} orders -> ready", f"{b['ready_s']:.2f} s  (CPU {b['ready_cpu_s']:.2f} s; "
                     f"first 200 {b['first_200_s']:.2f} s)",
                     checks["seed_100k_ready_s"]["target"] + " s", _mark(checks["seed_100k_ready_s"])))
    mem = results.get("memory")
    if mem:
        rows.append(("RSS after start, default data", f"{mem['default_after_start_mib']} MiB", "", ""))
        rows.append((f"RSS after start, {mem['big_orders']:,} orders", f"{mem['big_after_start_mib']} MiB", "", ""))
        series = " -> ".join(f"{p['rss_mib']:.0f}" for p in mem["fake_series"])
        rows.append(("RSS fake: start -> each load run", f"{series} MiB", "", ""))
        rows.append(("RSS growth after first load run", f"{mem['growth_after_first_run_mib']} MiB",
                     checks["rss_growth_under_load_mib"]["target"] + " MiB",
                     _mark(checks["rss_growth_under_load_mib"])))
    wh = results.get("webhooks")
    if wh:
        for key in ("ed25519_rsa", "ed25519_only"):
            r = wh[key]
            rows.append((f"webhooks signed {r['signatures']}", f"{r['deliveries_per_s']:.0f} deliveries/s  "
                         f"({r['deliveries']} in {r['first_to_last_attempt_s']:.2f} s, first -> last attempt; "
                         f"server CPU {r['server_cpu_ms_per_event']:.2f} ms/event)", "report", "-"))
            rows.append(("  order.create simulate calls/s", f"{r['simulate_calls_per_s']:.0f} calls/s  "
                         f"({wh['clients']} clients; all settled after {r['create_to_settled_s']:.2f} s)", "report",
                         "-"))
        rows.append(("webhooks Ed25519 only / both", f"{wh['ed25519_only_vs_both']:.2f}x", "", ""))
    fa = results.get("faults")
    if fa:
        for key, label in (("none", "get_order, no fault rules"), ("rules", f"get_order, {fa['rule_count']} other rules")):
            r = fa[key]
            rows.append((label, f"{r['rps']:.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms", "", ""))
        rows.append(("fault middleware overhead (p50)", f"{fa['p50_overhead_pct']:+.2f} %  (requests/s "
                     f"{-fa['rps_drop_pct']:+.2f} %; rounds "
                     f"{', '.join(f'{x:+.1f}' for x in fa['paired_p50_overhead_pct'])} %)",
                     checks["fault_overhead_pct"]["target"] + " %", _mark(checks["fault_overhead_pct"])))
        cpu = fa["cpu_us_per_request"]
        rows.append(("fault middleware overhead (server CPU)", f"{fa['cpu_overhead_pct']:+.2f} %  ({cpu['none']:.0f} -> "
                     f"{cpu['rules']:.0f} us CPU per request, medians)", "report", "-"))
        m = fa["micro"]
        rows.append(("fault middleware overhead (in-process)", f"{m['overhead_pct']:.2f} %  "
                     f"(+{m['middleware_rules_us']:.1f} us of {m['request_us']:.0f} us/request; no rules "
                     f"+{m['middleware_none_us']:.2f} us; pick {m['pick_us']:.2f} us)",
                     checks["fault_overhead_micro_pct"]["target"] + " %", _mark(checks["fault_overhead_micro_pct"])))
    ha = results.get("harness")
    if ha:
        lib, prop, rs = ha["library"], ha["property"], ha["reset"]
        failed = f"; FAILED: {', '.join(lib['failed'])}" if lib["failed"] else ""
        serial = ha.get("library_serial")
        rows.append((f"check: {'library' if lib['full'] else 'library subset'} ({lib['scenarios']} scenarios, "
                     f"{lib.get('jobs', 1)} jobs)",
                     f"{lib['wall_s']:.1f} s  (" + (f"median of {' / '.join(f'{w:.1f}' for w in lib['runs_s'])} s; "
                                                     if len(lib.get("runs_s", [])) > 1 else "")
                     + f"{lib['passed']}/{lib['scenarios']} passed{failed}; slowest "
                     f"{lib['slowest'][0]['name']} {lib['slowest'][0]['seconds']:.1f} s"
                     + (f"; --jobs 1: {serial['wall_s']:.1f} s" if serial else "")
                     + f"; client start+stop {lib['client_s']:.1f} of {lib['scenario_s']:.1f} s scenario time)",
                     checks["harness_library_s"]["target"] + (" s" if lib["full"] else " s (full run)"),
                     _mark(checks["harness_library_s"])))
        rows.append((f"check: property run ({prop['examples']} examples, {prop.get('jobs', 1)} jobs)",
                     f"{prop['property_s']:.1f} s  ({'passed' if prop['property_ok'] else 'FAILED'}; whole command "
                     f"{prop['wall_s']:.1f} s)",
                     checks["harness_property_s"]["target"] + (" s" if prop["full"] else " s (50 examples)"),
                     _mark(checks["harness_property_s"])))
        w, c = rs["same_seed"], rs["new_seed"]
        rows.append((f"reset between examples (median of {w['calls']})",
                     f"{w['wall_ms_median']:.1f} ms  (resetMs {w['reset_ms_median']:.1f}; p90 {w['wall_ms_p90']:.1f} "
                     f"ms; a new seed each time {c['wall_ms_median']:.1f} ms)",
                     checks["reset_ms"]["target"] + " ms", _mark(checks["reset_ms"])))
    cl = results.get("clients")
    if cl:
        for name, row in cl.items():
            if "skipped" in row and isinstance(row["skipped"], str):
                rows.append((f"check: {name} client", f"skipped: {row['skipped']}", "", ""))
                continue
            failed = f"; FAILED: {', '.join(row['failed'])}" if row["failed"] else ""
            rows.append((f"check: {name} client, {'library' if row['full'] else 'library subset'}",
                         f"{row['wall_s']:.1f} s  ({row['passed']} passed, {row['skipped']} skipped of "
                         f"{row['scenarios']}{failed})", "report", "-"))
    en = results.get("encoding")
    if en:
        for key, label in (("list_orders", "list-orders body (20 orders)"), ("order", "order-by-id body")):
            r = en[key]
            rows.append((f"JSON.stringify bytes: {label}", f"{r['jsjson_us']:.1f} us vs orjson {r['orjson_us']:.1f} us "
                         f"({r['ratio']:.1f}x)", "report", "-"))
    so = results.get("soak")
    if so:
        rows.append((f"soak: {so['ops']:,} mixed requests, {so['sse_clients']} stream clients",
                     f"RSS peak {so['rss_peak_mib']:.1f} MiB (start {so['rss_start_mib']:.1f}, +{so['rss_growth_mib']:.1f}; "
                     f"{so['requests_per_s']} req/s; statuses {so['statuses']})",
                     checks["soak_rss_growth_mib"]["target"] + " MiB", _mark(checks["soak_rss_growth_mib"])))
    widths = [max(len(r[i]) for r in rows + [("measure", "value", "target", "")]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(("measure", "value", "target", "met"), widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short smoke run")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help=f"run only these sections ({', '.join(SECTIONS)}); repeatable or comma separated")
    p.add_argument("--duration", type=int, help="seconds per measured wrk run (default 10, quick 3)")
    p.add_argument("--warmup", type=int, help="seconds of warm-up before each run (default 2, quick 1)")
    p.add_argument("--rounds", type=int, help="measured runs per server and endpoint, median (default 2, quick 1)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--startup-runs", type=int, help="fresh start-ups to time (default 5, quick 3)")
    p.add_argument("--big-orders", type=int, default=100_000, help="orders for the scale/seed tests")
    p.add_argument("--small-orders", type=int, default=1_000, help="orders for the scale baseline")
    p.add_argument("--webhook-events", type=int, help="order events for the webhooks section (default 2000, quick 300)")
    p.add_argument("--fault-rounds", type=int,
                   help="alternating no-rules/rules rounds for the faults section (default 3, quick 1)")
    p.add_argument("--examples", type=int, help="property-run examples for the harness section (default 50, quick 10)")
    p.add_argument("--soak-ops", type=int, help="requests in the soak section (default 20000, quick 4000)")
    p.add_argument("--out", default=RESULTS, help="JSON results file")
    a = p.parse_args(argv)
    chosen = [s.strip() for item in a.only for s in item.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    sections = tuple(s for s in SECTIONS if not chosen or s in chosen)
    q = a.quick
    return Options(quick=q, sections=sections, duration=a.duration or (3 if q else 10),
                   warmup=a.warmup if a.warmup is not None else (1 if q else 2),
                   rounds=a.rounds or (1 if q else 2), connections=a.connections,
                   startup_runs=a.startup_runs or (3 if q else 5), big_orders=a.big_orders,
                   small_orders=a.small_orders, out=a.out,
                   webhook_events=a.webhook_events or (300 if q else 2000),
                   fault_rounds=a.fault_rounds or (1 if q else 3), examples=a.examples or (10 if q else 50),
                   soak_ops=a.soak_ops or (4000 if q else 20_000))


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)

    def log(msg: str) -> None:
        print(msg, flush=True)

    try:
        wrk_bin = ensure_wrk(log)
    except WrkMissing as exc:
        print(f"benchmarks: cannot get wrk: {exc}", file=sys.stderr)
        return 2
    pinned = bool(procs.cpu_prefix(SERVER_CPU)) and bool(procs.cpu_prefix(WRK_CPU))
    wrk = Wrk(wrk_bin, threads=1, connections=opts.connections, cpu=WRK_CPU)
    log(f"ghl-sandbox benchmarks: sections {', '.join(opts.sections)}; wrk -t1 -c{opts.connections} "
        f"-d{opts.duration}s after {opts.warmup}s warm-up, {opts.rounds} round(s); "
        + ("server on CPU 0, wrk on CPU 1 (taskset)" if pinned else "not pinned (no taskset or one CPU)"))
    bench = Bench(opts, wrk, log)
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    if load_before[0] > 0.5:
        log(f"note: load average {load_before[0]} before the run: other work on this machine skews the numbers")
    failed: str | None = None
    try:
        for section in opts.sections:
            log(f"== {section}")
            getattr(bench, section)()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        failed = f"{type(exc).__name__}: {exc}"
        print(f"benchmarks: {section} failed: {failed}", file=sys.stderr)
    finally:
        bench.stop_all()
        wrk.close()
    checks = evaluate(bench.results)
    doc = {
        "meta": {
            "command": " ".join([os.path.basename(sys.executable), "-m", "benchmarks.run", *(argv or sys.argv[1:])]),
            "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "cpus": os.cpu_count(), "pinned": pinned,
            "wrk": f"{wrk_bin} -t1 -c{opts.connections} -d{opts.duration}s (warm-up {opts.warmup}s, "
                   f"{opts.rounds} rounds, median)",
            "git": _git_rev(), "quick": opts.quick, "sections": list(opts.sections),
            "seconds": round(time.perf_counter() - started, 1), "failed": failed,
            "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        **bench.results,
        "targets": checks,
    }
    os.makedirs(os.path.dirname(os.path.abspath(opts.out)), exist_ok=True)
    with open(opts.out, "wb") as fh:
        fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    print()
    print(table(bench.results, checks))
    print(f"\ncommand: {doc['meta']['command']}; load average before {load_before[0]}, after "
          f"{doc['meta']['loadavg_after'][0]}; {doc['meta']['git']}")
    print(f"written {os.path.relpath(opts.out)} ({doc['meta']['seconds']} s)")
    return 1 if failed else 0


def _git_rev() -> str:
    if not shutil.which("git"):
        return ""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


if __name__ == "__main__":
    sys.exit(main())
