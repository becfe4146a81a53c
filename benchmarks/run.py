"""ghl-sandbox benchmarks: how fast and how lean the fake is, next to a bare app doing nothing.

How to run
----------
    make bench                          # the full run (4-5 minutes, a third of it seeding 100,000 orders)
    make bench ARGS="--quick"           # smoke run: 3 s loads, 1 round, 3 start-ups (about 2 minutes)
    make bench ARGS="--only throughput" # one section (repeatable, or comma separated)
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
            Endpoints: get-order-by-id (`GET /payments/orders/<id>?altId=..&altType=location`) and
            list-orders (`GET /payments/orders?altId=..&limit=20`). Numbers: requests/s, p50 and p99
            latency (wrk's own histogram via a Lua `done()` hook), and fake/bare = the share of a bare
            app's throughput the fake keeps. Targets: >= 60 % on get-by-id, >= 50 % on list-orders.
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

Options: --duration S, --warmup S, --rounds N, --connections N, --startup-runs N, --big-orders N,
--out FILE. `--quick` = 3 s runs, 1 s warm-up, 1 round, 3 start-ups.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from benchmarks import procs
from benchmarks.procs import Http, ServerProcess, api_headers, first_location
from benchmarks.wrk import Wrk, WrkMissing, WrkResult, ensure_wrk

SECTIONS = ("throughput", "granian", "scale", "startup", "memory")
SERVER_CPU = 0
WRK_CPU = 1
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")

TARGETS = {
    "get_order_ratio": (">=", 0.60),
    "list_orders_ratio": (">=", 0.50),
    "scale_p50_ratio": ("<=", 1.5),
    "startup_first_200_s": ("<", 1.5),
    "seed_100k_ready_s": ("<", 20.0),
    "rss_growth_under_load_mib": ("<=", 8.0),
}


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

    def start(self, server: ServerProcess) -> ServerProcess:
        self.log(f"  starting {server.name}: {' '.join(server.cmd)}")
        self._servers.append(server)
        return server.start()

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
            location_id, token = _banner_location(server.lines)
            first_200 = _first_200(server, location_id, token)
            self.big_start = {"orders": n, "ready_s": round(server.ready_s, 3), "ready_cpu_s": cpu_ready,
                              "first_200_s": round(first_200, 3), "rss_mib": server.rss_mib()}
            self._big = Target(server)
        return self._big

    # ---- load ---------------------------------------------------------------------------------

    def load(self, target_url: str, path: str, headers: dict[str, str], label: str,
             seconds: int | None = None) -> WrkResult:
        url = target_url + path
        if self.opts.warmup:
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
        bodies = {fake.list_path.split("?")[0]: fake.list_body.decode(),
                  fake.get_path.split("?")[0]: fake.get_body.decode()}
        with tempfile.NamedTemporaryFile("wb", prefix="ghl-bench-bodies-", suffix=".json", delete=False) as fh:
            fh.write(orjson.dumps(bodies))
        try:
            bare_server = self.start(ServerProcess("bare", ["-m", "benchmarks.bare_app", fh.name], "BARE_READY",
                                                   cpu=SERVER_CPU))
        finally:
            os.unlink(fh.name)
        out: dict[str, Any] = {}
        try:
            for endpoint in ("get_order", "list_orders"):
                path = fake.path(endpoint)
                client = Http(bare_server.url)
                status, body = client.get(path, fake.headers)
                client.close()
                expected = fake.get_body if endpoint == "get_order" else fake.list_body
                if status != 200 or body != expected:
                    raise RuntimeError(f"bare app does not answer the fake's bytes on {path}")
                runs: dict[str, list[WrkResult]] = {"fake": [], "bare": []}
                for r in range(1, self.opts.rounds + 1):
                    runs["fake"].append(self.fake_load(endpoint, r))
                    runs["bare"].append(self.load(bare_server.url, path, fake.headers, f"bare {endpoint} #{r}"))
                row = {name: _median_result(rs) for name, rs in runs.items()}
                row["ratio"] = round(row["fake"]["rps"] / row["bare"]["rps"], 3)
                row["path"] = path.replace(fake.location_id, "<loc>").replace(fake.order_id, "<orderId>")
                row["response_bytes"] = len(expected)
                out[endpoint] = row
        finally:
            self.stop(bare_server)
        self.results["throughput"] = out

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
                location_id, token = _banner_location(server.lines)
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


# ---- helpers ------------------------------------------------------------------------------------


def _median_result(results: list[WrkResult]) -> dict[str, Any]:
    dicts = [r.as_dict() for r in results]
    out = {k: round(statistics.median(d[k] for d in dicts), 3) for k in ("rps", "p50_ms", "p90_ms", "p99_ms",
                                                                          "mean_ms", "max_ms")}
    out["rps"] = round(out["rps"], 1)
    out["requests"] = sum(d["requests"] for d in dicts)
    out["rounds"] = [{k: d[k] for k in ("rps", "p50_ms", "p99_ms")} for d in dicts]
    return out


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
    return {
        "get_order_ratio": _check("get_order_ratio", tp and tp["get_order"]["ratio"]),
        "list_orders_ratio": _check("list_orders_ratio", tp and tp["list_orders"]["ratio"]),
        "scale_p50_ratio": _check("scale_p50_ratio", sc and sc["p50_ratio"]),
        "startup_first_200_s": _check("startup_first_200_s", su and su["default"]["median_first_200_s"]),
        "seed_100k_ready_s": _check("seed_100k_ready_s", su and su["big"]["ready_s"]),
        "rss_growth_under_load_mib": _check("rss_growth_under_load_mib", mem and mem["growth_after_first_run_mib"]),
    }


def _mark(check: dict[str, Any]) -> str:
    return {True: "met", False: "MISSED", None: "-"}[check["met"]]


def table(results: dict[str, Any], checks: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    tp = results.get("throughput")
    if tp:
        for endpoint, check in (("get_order", "get_order_ratio"), ("list_orders", "list_orders_ratio")):
            row = tp[endpoint]
            for name in ("fake", "bare"):
                r = row[name]
                rows.append((f"{endpoint} {name}", f"{r['rps']:.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                             f"p99 {r['p99_ms']:.2f} ms", "", ""))
            rows.append((f"{endpoint} fake/bare", f"{row['ratio'] * 100:.1f} %", checks[check]["target"],
                         _mark(checks[check])))
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
                   small_orders=a.small_orders, out=a.out)


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
