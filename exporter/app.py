"""Assembling the exporter from a config: state, jobs, results, registry, scheduler and web server."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exporter.collector import MetricsPage, build_registry
from exporter.config import Config, ConfigError, load_config
from exporter.figures import Figure
from exporter.job import ModelJob, RunReport
from exporter.results import Results
from exporter.scheduler import build_scheduler
from exporter.sharding import Shard
from exporter.state import StateStore
from exporter.web import MetricsServer
from exporter.webconfig import WebConfig
from exporter.window import WindowStore

log = logging.getLogger("mlmon")


@dataclass
class App:
    config: Config
    state: StateStore
    results: Results
    jobs: list[ModelJob]
    registry: object


def build_app(
    config: Config, clock: Callable[[], float] = time.time, results: Results | None = None, *, wait: bool = False
) -> App:
    """The exporter for ``config``; ``wait`` starts it even when the state store cannot be opened yet."""
    state = StateStore(config.state_path, wait=wait)
    windows = WindowStore(Path(str(config.state_path) + ".windows"))
    results = results or Results()
    retention = config.prediction_retention_days * 86400.0
    jobs = [
        ModelJob(model, state, windows, results, config.quarantine_dir, retention_seconds=retention, clock=clock)
        for model in config.models
    ]
    return App(config, state, results, jobs, build_registry(results, runtime=True))


class Runtime:
    """The running exporter: one web server for its whole life, and jobs that a reload replaces.

    A reload (SIGHUP or POST /-/reload) reads the config file again; when it is valid, the scheduler
    stops after the runs in progress, the jobs are rebuilt from the new config, and models no longer
    configured stop being exported. When it is not, everything keeps running as it was, and
    ``mlmon_config_last_reload_successful`` says so.
    """

    def __init__(
        self,
        config: Config,
        config_path: Path | None = None,
        on_report: Callable[[RunReport], None] | None = None,
        clock: Callable[[], float] = time.time,
        shard: Shard | None = None,
    ) -> None:
        self.config_path, self.on_report, self.clock, self.shard = config_path, on_report, clock, shard
        self.results = Results()
        self._lock = threading.Lock()
        self._started = False
        self._earlier_resets = 0  # state resets of the apps a reload replaced
        self._reload_ok = True
        self._last_success = 0.0
        self.app = self._start(config)
        self.registry = self.app.registry
        self.page = MetricsPage(self.results)
        self._reloaded(True)

    def _build(self, config: Config, wait: bool = False) -> App:
        app = build_app(config, self.clock, self.results, wait=wait)
        for job in app.jobs:
            # a run may have found the state corrupt and started a fresh one: publish the count at once
            job.listeners.append(lambda _report: self._publish_globals())
            if self.on_report is not None:
                job.listeners.append(self.on_report)
        return app

    def _start(self, config: Config) -> App:
        # the first start waits for a state store it cannot open yet (a read-only folder, a full disk)
        # rather than fail; a reload refuses such a config and keeps the running one
        app = self._build(config, wait=True)
        self._activate(app)
        return app

    def _activate(self, app: App) -> None:
        self.results.retain({(m.name, m.version) for m in app.config.models})
        self.scheduler = build_scheduler(app.jobs)

    def _reloaded(self, ok: bool) -> None:
        self._reload_ok = ok
        if ok:
            self._last_success = self.clock()
        self._publish_globals()

    def _publish_globals(self) -> None:
        resets = self._earlier_resets + self.app.state.resets
        self.results.set_globals(
            [
                Figure("mlmon_config_last_reload_successful", 1.0 if self._reload_ok else 0.0),
                Figure("mlmon_config_last_reload_success_timestamp_seconds", self._last_success),
                Figure("mlmon_state_store_resets", float(resets)),
            ]
        )

    def ready(self) -> tuple[bool, list[str]]:
        """Whether every model's last run succeeded, and the models whose last run did not (or that
        have not run yet)."""
        failing = [job.key for job in self.app.jobs if not job.last_run_ok]
        return not failing, failing

    def not_ready(self) -> str | None:
        """None when every model's last run succeeded, else which did not: the /-/ready answer."""
        ok, failing = self.ready()
        return None if ok else "last run failed or pending: " + ", ".join(failing)

    def models(self) -> list[str]:
        return [job.key for job in self.app.jobs]

    def start(self) -> None:
        with self._lock:
            self._started = True
            self.scheduler.start()

    def reload(self) -> str | None:
        """Reload the config file; None when it worked, else why not."""
        if self.config_path is None:
            return "no config file to reload"
        with self._lock:
            try:
                config = load_config(self.config_path)
                if self.shard is not None:
                    config = self.shard.select(config)
                # built beside the running one, so a config that validates but cannot start (a state
                # path that cannot be written, say) leaves the running exporter untouched
                app = self._build(config)
            except (ConfigError, OSError, ValueError) as exc:
                log.error("reload of %s failed, keeping the running config: %s", self.config_path, exc)
                self._reloaded(False)
                return _reload_failure(exc)
            if self.scheduler.running:
                self.scheduler.shutdown(wait=True)
            self.app.state.close()
            self._earlier_resets += self.app.state.resets
            self.app = app
            self._activate(app)
            if self._started:
                self.scheduler.start()
            self._reloaded(True)
            log.info("reloaded %s: %d model(s)", self.config_path, len(config.models))
            return None

    def shutdown(self) -> None:
        with self._lock:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=True)
            self.app.state.close()


def _reload_failure(exc: Exception) -> str:
    """Why a reload failed, naming keys but never a configured value: the answer may reach anyone."""
    keys = getattr(exc, "keys", ())
    if isinstance(exc, ConfigError):
        where = f" at {', '.join(keys)}" if keys else ""
        return f"invalid configuration{where}; the exporter's log has the details"
    return "the new configuration cannot start; the exporter's log has the details"


def serve(
    config: Config,
    listen_address: str,
    stop: threading.Event | None = None,
    on_ready: Callable[[MetricsServer], None] | None = None,
    on_report: Callable[[RunReport], None] | None = None,
    config_path: Path | None = None,
    web: WebConfig | None = None,
    lifecycle: bool = False,
    shard: Shard | None = None,
) -> int:
    """Serve ``config`` (already narrowed to ``shard``: a reload narrows the new file the same way)."""
    runtime = Runtime(config, config_path, on_report, shard=shard)
    server = MetricsServer(
        runtime.page,
        listen_address,
        runtime.models,
        runtime.reload,
        web=web,
        lifecycle=lifecycle,
        ready=runtime.not_ready,
    )
    stop = stop or threading.Event()
    reload_requested = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received signal %d, shutting down", signum)
        stop.set()

    def _reload(signum: int, _frame: object) -> None:
        reload_requested.set()
        stop.set()  # wakes the wait below; cleared again when it is a reload

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGHUP, _reload)
    server.start()
    log.info("serving metrics on %s/metrics", server.url)
    runtime.start()
    if on_ready is not None:
        on_ready(server)
    try:
        while True:
            stop.wait()
            if not reload_requested.is_set():
                break
            reload_requested.clear()
            stop.clear()
            failure = runtime.reload()
            if failure is not None:
                log.warning("reload requested by SIGHUP not done: %s", failure)
    finally:
        runtime.shutdown()
        server.stop()
    return 0
