"""The evaluation of one window: every monitor that applies, each costing only itself when it fails."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from exporter.config import ModelConfig
from exporter.figures import Figure, HistogramFigure
from exporter.monitors import Monitor, monitors_for
from exporter.parallel import one_blas_thread, ordered_map
from exporter.reference.profile import ReferenceProfile
from exporter.window import Window

log = logging.getLogger(__name__)

AnyFigure = Figure | HistogramFigure

# windows from this many rows have their monitors run side by side; below it threads cost more than they save
PARALLEL_ROWS = 100_000


def evaluate(
    model: ModelConfig,
    key: str,
    window: Window | None,
    profile: ReferenceProfile | None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[AnyFigure]:
    """The window's size, then, when it holds at least ``min_rows``, every monitor's figures."""
    if window is None:
        return [Figure("mlmon_window_rows", 0.0)]
    figures: list[AnyFigure] = [Figure("mlmon_window_rows", float(window.rows))]
    if window.rows < model.min_rows:
        log.info("model %s: window has %d row(s), below min_rows %d", key, window.rows, model.min_rows)
        return figures
    return figures + run_monitors(model, key, window, profile, clock)


def run_monitors(
    model: ModelConfig,
    key: str,
    window: Window,
    profile: ReferenceProfile | None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[AnyFigure]:
    """Every monitor's figures with its success and duration, in registration order.

    On a window of ``PARALLEL_ROWS`` rows or more the monitors run side by side (``exporter.parallel``);
    each duration is then that monitor's own wall time, overlapping the others'.
    """

    def run(monitor: Monitor) -> list[AnyFigure]:
        started = clock()
        fitted = profile.fitted.get(monitor.name, {}) if profile is not None else {}
        try:
            produced = monitor.calculate(window, profile, fitted, model)
            ok = 1.0
        except Exception:  # noqa: BLE001  (one failing calculator costs only itself)
            log.exception("model %s: calculator %s failed", key, monitor.name)
            produced, ok = [], 0.0
        return [
            *produced,
            Figure("mlmon_calculator_success", ok, {"calculator": monitor.name}),
            Figure("mlmon_calculator_duration_seconds", clock() - started, {"calculator": monitor.name}),
        ]

    monitors = monitors_for(model)
    if window.rows < PARALLEL_ROWS:
        results = ordered_map(run, monitors, workers=1)
    else:
        # The monitors already share the processors; the linear-algebra library's own threads would
        # only compete with them (and spin while they wait), so it runs one thread meanwhile.
        with one_blas_thread():
            results = ordered_map(run, monitors)
    return [figure for figures in results for figure in figures]
