"""Assembling the exporter from a config: state, jobs, results, registry, scheduler and web server."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exporter.collector import build_registry
from exporter.config import Config
from exporter.job import ModelJob, RunReport
from exporter.results import Results
from exporter.scheduler import build_scheduler
from exporter.state import StateStore
from exporter.web import MetricsServer
from exporter.window import WindowStore

log = logging.getLogger("mlmon")


@dataclass
class App:
    config: Config
    state: StateStore
    results: Results
    jobs: list[ModelJob]
    registry: object


def build_app(config: Config, clock: Callable[[], float] = time.time) -> App:
    state = StateStore(config.state_path)
    windows = WindowStore(Path(str(config.state_path) + ".windows"))
    results = Results()
    jobs = [ModelJob(model, state, windows, results, config.quarantine_dir, clock=clock) for model in config.models]
    return App(config, state, results, jobs, build_registry(results, runtime=True))


def serve(
    config: Config,
    listen_address: str,
    stop: threading.Event | None = None,
    on_ready: Callable[[MetricsServer], None] | None = None,
    on_report: Callable[[RunReport], None] | None = None,
) -> int:
    app = build_app(config)
    if on_report is not None:
        for job in app.jobs:
            job.listeners.append(on_report)
    server = MetricsServer(app.registry, listen_address, [job.key for job in app.jobs])
    scheduler = build_scheduler(app.jobs)
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received signal %d, shutting down", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    server.start()
    log.info("serving metrics on http://%s:%d/metrics", server.httpd.server_address[0], server.port)
    scheduler.start()
    if on_ready is not None:
        on_ready(server)
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        server.stop()
        app.state.close()
    return 0
