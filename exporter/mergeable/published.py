"""The window figures of a batch monitored in chunks, from its merged state.

Such a batch is a window of its own. Its figures are those the calculators give on the whole batch,
for each calculator whose inputs merge by addition:

- ``performance``: for classification every figure from the confusion counts (with the 95 %
  intervals), the summed log loss terms, and ROC AUC from score counts in fine bins, within the bound
  those counts give (``exporter.mergeable.ranking``; left out past 0.001); for regression every
  figure, from the error sums;
- ``labels``: the labelled share (labels came with the batch, so the delay is 0);
- ``output``: the mean confidence and the share predicted as each class, or the mean prediction;
- ``feature_drift``: every feature, from its state in ``exporter.mergeable.drift``, exact except
  Wasserstein, which is within its bound (and numeric Jensen–Shannon past its distinct-value limit,
  left out);
- ``output_drift``: the prediction, label and residual drift, the same way;
- ``multivariate_drift``: the mean of the rows' reconstruction errors, from their sum;
- ``estimation``: the CBPE estimates and their errors, from the sums they are made of;
- ``quality``: the missing, out-of-range and unseen-category ratios of every arrived row.

Each published calculator reports its success and duration as in a window evaluated whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from exporter.drift import METHODS
from exporter.drift.published import drift_figures
from exporter.drift.registry import DriftResult
from exporter.evaluation import AnyFigure
from exporter.figures import Figure
from exporter.history.record import WindowCounts
from exporter.mergeable.batch import BatchMonitor, BatchState
from exporter.monitors import Output, monitors_for
from exporter.monitors.drift import FeatureOutcome, drift_output, judge
from exporter.monitors.estimation import estimate_figures
from exporter.monitors.multivariate import multivariate_figures
from exporter.monitors.output import class_shares
from exporter.monitors.performance import FAMILIES
from exporter.monitors.quality import quality_figures
from exporter.performance import class_label, positive_index
from exporter.performance.intervals import interval_figures
from exporter.performance.multiclass import classes_kept

log = logging.getLogger(__name__)

# None: the calculator has no mergeable form for this model
Merged = Callable[[BatchMonitor, BatchState], Output | None]


def _performance(monitor: BatchMonitor, state: BatchState) -> Output | None:
    """As ``Performance``: from the confusion counts, or for regression from the error sums."""
    model, classes, confusion = monitor.model, monitor.loaded.classes, state.confusion
    if state.labelled < model.min_rows:
        return []
    if model.task == "regression":
        metrics = state.errors.metrics() if state.errors.rows >= model.min_rows else {}
        return [Figure(FAMILIES[name], value) for name, value in metrics.items()]
    if classes is None or confusion is None:
        return None
    if model.task == "binary_classification":
        positive = positive_index(classes, model.positive_class)
        metrics, rows = confusion.binary(positive), confusion.rows_behind(positive)
    else:
        metrics, rows = confusion.multiclass()
    if state.outputs.probabilities:
        metrics["log_loss"] = state.outputs.log_loss / state.labelled
    # the score counts hold rows only when the model gave probabilities
    area = state.roc_auc()
    if area is not None:
        metrics["roc_auc"] = area
    figures: Output = [Figure(FAMILIES[name], value) for name, value in metrics.items()]
    figures += interval_figures(metrics, rows)
    if model.task == "binary_classification":
        return figures
    counts = confusion.counts
    support = counts.sum(axis=1)
    for index in classes_kept(np.arange(len(classes)), support, model.limits.max_classes):
        labels = {"class": class_label(classes[index])}
        called, hit = int(counts[:, index].sum()), int(counts[index, index])
        if called:
            figures.append(Figure("mlmon_class_precision_ratio", hit / called, labels))
        if support[index]:
            figures.append(Figure("mlmon_class_recall_ratio", hit / int(support[index]), labels))
    return figures


def _labels(monitor: BatchMonitor, state: BatchState) -> Output:
    figures: Output = [Figure("mlmon_labelled_rows_ratio", state.labelled / state.rows)]
    if state.labelled:
        figures.append(Figure("mlmon_label_delay_seconds", 0.0))  # the labels came with their rows
    return figures


def _output(monitor: BatchMonitor, state: BatchState) -> Output:
    outputs, classes = state.outputs, monitor.loaded.classes
    if monitor.model.task == "regression":
        return [Figure("mlmon_mean_prediction", outputs.values / outputs.finite)] if outputs.finite else []
    figures: Output = []
    if outputs.probabilities:
        figures.append(Figure("mlmon_mean_confidence_ratio", outputs.confidence / state.rows))
    if classes is None:
        return figures
    return figures + class_shares(outputs.predicted, state.rows, np.asarray(classes), monitor.model)


def _feature_drift(monitor: BatchMonitor, state: BatchState) -> Output | None:
    if monitor.profile is None:
        return []
    drift = monitor.model.drift
    placed = monitor.figures(state).drift
    outcomes = []
    for name, figure in placed.items():
        threshold = drift.thresholds.get(figure.method, METHODS[figure.method].default_threshold)
        outcomes.append(FeatureOutcome(name, figure.method, threshold, figure.score, figure.pvalue))
    bounds = {name: f.bound for name, f in placed.items() if f.bound}
    if bounds:
        worst = max(bounds, key=bounds.__getitem__)
        log.info(
            "model %s: Wasserstein distances of the batch within %.2e of the exact ones (largest: %s)",
            monitor.model.name,
            bounds[worst],
            worst,
        )
    return drift_output(judge(outcomes, monitor.model), monitor.model)


def _output_drift(monitor: BatchMonitor, state: BatchState) -> Output:
    """As ``OutputDrift``: the prediction always, the labels and residuals once ``min_rows`` rows have a label."""
    model, figures = monitor.model, []
    for family, placed in monitor.figures(state).output_drift.items():
        if family != "prediction" and state.labelled < model.min_rows:
            continue
        threshold = model.drift.thresholds.get(placed.method, METHODS[placed.method].default_threshold)
        result = DriftResult(placed.score, placed.pvalue)
        figures += drift_figures(family, placed.method, threshold, result, {})
        if family != "residual":
            drifted = METHODS[placed.method].drifted(result, threshold)
            figures.append(Figure(f"mlmon_{family}_drift_detected", float(drifted)))
    return figures


def _multivariate_drift(monitor: BatchMonitor, state: BatchState) -> Output:
    if monitor.multivariate is None:
        return []
    return multivariate_figures(state.reconstruction / state.rows, monitor.multivariate)


def _estimation(monitor: BatchMonitor, state: BatchState) -> Output:
    if not monitor.estimation or not state.outputs.probabilities or monitor.loaded.classes is None:
        return []
    return estimate_figures(*state.estimation.estimates(monitor.model.task == "binary_classification"))


def _quality(monitor: BatchMonitor, state: BatchState) -> Output:
    return quality_figures(state.quality.ratios(), monitor.model)


MERGED: dict[str, Merged] = {
    "performance": _performance,
    "labels": _labels,
    "output": _output,
    "feature_drift": _feature_drift,
    "output_drift": _output_drift,
    "multivariate_drift": _multivariate_drift,
    "estimation": _estimation,
    "quality": _quality,
}


def window_figures(
    monitor: BatchMonitor, state: BatchState, clock: Callable[[], float] = time.perf_counter
) -> list[AnyFigure]:
    """The window's size, then, when it holds at least ``min_rows``, the figures of every calculator
    that applies and has a mergeable form, each costing only itself when it fails."""
    model = monitor.model
    figures: list[AnyFigure] = [Figure("mlmon_window_rows", float(state.rows))]
    if state.rows < model.min_rows:
        return figures
    left_out = []
    for calculator in monitors_for(model):
        merged = MERGED.get(calculator.name)
        started = clock()
        try:
            produced = merged(monitor, state) if merged is not None else None
            ok = 1.0
        except Exception:  # noqa: BLE001  (one failing calculator costs only itself)
            log.exception("model %s: calculator %s failed on the merged batch", model.name, calculator.name)
            produced, ok = [], 0.0
        if produced is None:
            left_out.append(calculator.name)
            continue
        figures += produced
        figures.append(Figure("mlmon_calculator_success", ok, {"calculator": calculator.name}))
        figures.append(Figure("mlmon_calculator_duration_seconds", clock() - started, {"calculator": calculator.name}))
    if left_out:
        log.info(
            "model %s: a batch monitored in chunks has no figures of %s (see the README)",
            model.name,
            ", ".join(left_out),
        )
    return figures


def window_counts(monitor: BatchMonitor, state: BatchState, scored_at: float) -> WindowCounts:
    """The counts the run history keeps of the window, as ``exporter.history.record.window_counts``."""
    regression = monitor.model.task == "regression"
    correct = state.confusion.correct if state.confusion is not None and not regression else None
    return WindowCounts(rows=state.rows, labelled=state.labelled, correct=correct, start=scored_at, end=scored_at)
