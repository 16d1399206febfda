"""Scrape load: 20 concurrent scrapers against mlmon's server, beside the per-scrape rendering it replaced.

The published figures are real: the demo's two models score one simulated day each, and their
snapshots are what the demo serves ("demo"). The fleet case publishes the 30-feature model's snapshot
under 100 model names ("100 x 30"). Each server runs in a process of its own, so the scrapers (threads
of this process) never share its interpreter lock.

- **mlmon**: ``MetricsServer`` with ``MetricsPage``, the exporter's own server: one event loop, the
  exposition rendered once per published change and kept in memory, gzipped once.
- **per-scrape render**: what the exporter did before: a thread per connection
  (``ThreadingHTTPServer``, listen backlog 5), the whole exposition rendered on every scrape, no gzip.

Each scraper keeps one HTTP/1.1 connection, sends Prometheus' own ``Accept`` and ``Accept-Encoding:
gzip`` headers, and scrapes once per ``--interval`` from a random phase, as Prometheus servers do;
latency is from sending the request to the last byte of the answer. A scrape that fails or takes
over 10 s (Prometheus' default scrape timeout) is an error. Targets: p99 at most 20 ms at the demo's
size and 10 ms at 100 x 30, with no error.

Usage: ``python benchmarks/bench_scrape.py [--quick] [--seconds S] [--interval S]``.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporter.results import Snapshot

SCRAPERS = 20
TIMEOUT = 10.0
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
TARGETS_MS = {"demo": 20.0, "100 x 30": 10.0}
SERVERS = ("mlmon", "per-scrape render")


def demo_snapshots() -> list[Snapshot]:
    """The snapshots the demo publishes after one simulated day of each model."""
    from exporter.app import build_app
    from exporter.config import load_config
    from exporter.demo import Feeder, write_workdir

    workdir = Path(tempfile.mkdtemp(prefix="mlmon-bench-scrape-"))
    config_path, data = write_workdir(workdir, 5.0)
    Feeder(data, workdir / "incoming", 5.0, threading.Event()).write_day(8)
    app = build_app(load_config(config_path))
    try:
        for job in app.jobs:
            job.run()
        return app.results.snapshots()
    finally:
        app.state.close()


def fleet(snapshots: list[Snapshot], models: int) -> list[Snapshot]:
    """``models`` copies of the 30-feature model's snapshot, each under a name of its own."""
    source = next(s for s in snapshots if s.model == "breast-cancer")
    return [Snapshot(f"model-{i:03d}", source.version, source.figures) for i in range(models)]


def _serve(kind: str, snapshots: list[Snapshot], ready: multiprocessing.connection.Connection) -> None:
    from exporter.collector import MetricsPage, build_registry, render
    from exporter.results import Results

    results = Results()
    for snapshot in snapshots:
        results.publish(snapshot)
    if kind == "mlmon":
        from exporter.web import MetricsServer

        server = MetricsServer(MetricsPage(results), "127.0.0.1:0", [s.model for s in snapshots])
        server.start()
        ready.send(server.port)
    else:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        registry = build_registry(results, runtime=True)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802  (the name http.server dispatches to)
                body, content_type = render(registry, self.headers.get("Accept"))
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the scraper gave up (its timeout) while the page was rendered

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        ready.send(httpd.server_address[1])
    ready.recv()  # until the parent says stop


@dataclass
class Outcome:
    latencies: list[float]
    errors: int
    body_bytes: int
    wire_bytes: int
    series: int


def _scrape(connection: http.client.HTTPConnection) -> tuple[bytes, str | None]:
    connection.request("GET", "/metrics", headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
    answer = connection.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise OSError(f"status {answer.status}")
    return body, answer.getheader("Content-Encoding")


def load(port: int, seconds: float, interval: float) -> Outcome:
    # one scrape first, as Prometheus' first scrape after a run would: it renders what the run
    # published; the load then measures what every other scrape of that run costs
    warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    _scrape(warm)
    warm.close()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    deadline = start + seconds

    def scraper(phase: float) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        due = start + phase
        while due < deadline:
            time.sleep(max(0.0, due - time.monotonic()))
            began = time.perf_counter()
            try:
                _scrape(connection)
                took = time.perf_counter() - began
                with lock:
                    latencies.append(took)
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            due += interval
            while due < time.monotonic():  # a scrape that overran its slot skips the missed ones
                due += interval
        connection.close()

    rng = random.Random(20240601)
    threads = [threading.Thread(target=scraper, args=(rng.uniform(0, interval),)) for _ in range(SCRAPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    wire, encoding = _scrape(probe)
    probe.close()
    body = gzip.decompress(wire) if encoding == "gzip" else wire
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return Outcome(latencies, errors[0], len(body), len(wire), series)


def measure(kind: str, snapshots: list[Snapshot], seconds: float, interval: float) -> Outcome:
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(kind, snapshots, child), daemon=True)
    process.start()
    try:
        port = parent.recv()
        return load(port, seconds, interval)
    finally:
        parent.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


HEADER = ("size", "server", "series", "body KB", "sent KB", "scrapes", "errors", "p50 ms", "p99 ms", "max ms")


def row(size: str, server: str, outcome: Outcome) -> tuple[str, ...]:
    return (
        size,
        server,
        f"{outcome.series:,}",
        f"{outcome.body_bytes / 1024:,.0f}",
        f"{outcome.wire_bytes / 1024:,.0f}",
        f"{len(outcome.latencies):,}",
        str(outcome.errors),
        f"{percentile(outcome.latencies, 50):.2f}",
        f"{percentile(outcome.latencies, 99):.2f}",
        f"{max(outcome.latencies, default=float('nan')) * 1000:.2f}",
    )


def table(rows: list[tuple[str, ...]]) -> str:
    lines = [HEADER, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in lines
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per case and a 10-model fleet (a smoke run)")
    parser.add_argument("--seconds", type=float, default=None, help="load duration per case (default 15)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between one scraper's scrapes")
    parser.add_argument("--models", type=int, default=None, help="models in the fleet case (default 100)")
    args = parser.parse_args(argv)
    seconds = args.seconds or (2.0 if args.quick else 15.0)
    models = args.models or (10 if args.quick else 100)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPU(s), load {load:.1f}")
    print(f"{SCRAPERS} scrapers, one scrape each every {args.interval:g} s from a random phase, {seconds:g} s per case")
    demo = demo_snapshots()
    cases = {"demo": demo, f"{models} x 30": fleet(demo, models)}
    rows, verdicts = [], []
    for size, snapshots in cases.items():
        outcomes = {}
        for server in SERVERS:
            outcomes[server] = measure(server, snapshots, seconds, args.interval)
            rows.append(row(size, server, outcomes[server]))
        ours, before = outcomes["mlmon"], outcomes["per-scrape render"]
        if before.latencies:
            ratio = f"{percentile(before.latencies, 99) / percentile(ours.latencies, 99):.1f}x"
        else:
            ratio = f"not computable: every per-scrape render scrape failed or took over {TIMEOUT:g} s"
        target = TARGETS_MS.get(size)
        if target is not None:
            met = ours.errors == 0 and percentile(ours.latencies, 99) <= target
            verdicts.append(
                f"{size}: mlmon p99 {percentile(ours.latencies, 99):.2f} ms, target <= {target:g} ms with 0 errors:"
                f" {'met' if met else 'NOT met'}; p99 ratio (per-scrape render / mlmon) {ratio}"
            )
        else:
            verdicts.append(f"{size}: p99 ratio (per-scrape render / mlmon) {ratio} (no target at this size)")
    print(table(rows))
    for verdict in verdicts:
        print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
