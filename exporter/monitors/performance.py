"""Realized performance over the labelled rows of the window.

Labels and predictions are matched to the model's classes by value whatever their type (see
``exporter.performance.class_indices``); a labelled row whose label matches no class is left out.
Nothing is published until at least ``min_rows`` usable labelled rows are in the window.

Multiclass per-class series are bounded by ``limits.max_classes``: the classes with the most
labelled rows in the window keep theirs (the output monitor, which runs with or without labels,
publishes ``mlmon_series_dropped{kind="class"}``). A class's precision is left out while it was
never predicted, its recall while it never occurred.

Accuracy, precision, recall and F1 come with their 95 % Wilson interval on the rows each is a share
of (``exporter.performance.intervals``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exporter.arrays import distinct
from exporter.figures import Figure
from exporter.monitors.registry import Fitted, Monitor, Output, register
from exporter.performance import UNMATCHED, class_indices, class_label, positive_index
from exporter.performance.binary import binary_metrics
from exporter.performance.intervals import interval_figures, rows_behind
from exporter.performance.multiclass import classes_kept, multiclass_metrics, per_class
from exporter.performance.regression import regression_metrics
from exporter.window import Window

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference.profile import ReferenceProfile

FAMILIES = {
    "accuracy": "mlmon_accuracy_ratio",
    "precision": "mlmon_precision_ratio",
    "recall": "mlmon_recall_ratio",
    "f1": "mlmon_f1_ratio",
    "roc_auc": "mlmon_roc_auc_ratio",
    "log_loss": "mlmon_log_loss",
    "weighted_precision": "mlmon_weighted_precision_ratio",
    "weighted_recall": "mlmon_weighted_recall_ratio",
    "weighted_f1": "mlmon_weighted_f1_ratio",
    "mean_absolute_error": "mlmon_mean_absolute_error",
    "root_mean_squared_error": "mlmon_root_mean_squared_error",
    "mean_absolute_percentage_error": "mlmon_mean_absolute_percentage_error_ratio",
    "r2": "mlmon_r2_score",
}


@register
class Performance(Monitor):
    name = "performance"

    def applies(self, model: ModelConfig) -> bool:
        return model.target_column is not None

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        if window.labelled_rows < model.min_rows:
            return []
        labelled = np.asarray(window.labelled, dtype=bool)
        if model.task == "regression":
            return _regression(_rows(window.labels, labelled), _rows(window.predictions, labelled), model.min_rows)
        if window.classes is None:
            return []
        classes = np.asarray(window.classes)
        true = class_indices(_rows(window.labels, labelled), classes)
        predicted = class_indices(_rows(window.predictions, labelled), classes)
        usable = true != UNMATCHED
        if np.count_nonzero(usable) < model.min_rows:
            return []
        true, predicted = _rows(true, usable), _rows(predicted, usable)
        probabilities = None
        if window.probabilities is not None:
            scored = labelled.copy()
            scored[labelled] = usable
            probabilities = _rows(window.probabilities, scored)
        indices = np.arange(len(classes))
        if model.task == "binary_classification":
            positive = positive_index(classes, model.positive_class)
            metrics = binary_metrics(true, predicted, positive, probabilities, indices)
            return _figures(metrics) + interval_figures(metrics, rows_behind(true, predicted, [positive]))
        metrics = multiclass_metrics(true, predicted, indices, probabilities)
        # the macro averages run over the classes present among the true or predicted labels
        present = distinct(np.concatenate([true, predicted]))
        figures = _figures(metrics) + interval_figures(metrics, rows_behind(true, predicted, present))
        support = np.bincount(true, minlength=len(classes))
        kept = classes_kept(indices, support, model.limits.max_classes)
        for index, scores in per_class(true, predicted, kept).items():
            labels = {"class": class_label(classes[index])}
            if scores.precision is not None:
                figures.append(Figure("mlmon_class_precision_ratio", scores.precision, labels))
            if scores.recall is not None:
                figures.append(Figure("mlmon_class_recall_ratio", scores.recall, labels))
        return figures


def _rows(values: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The rows of ``values`` where ``kept`` is True; ``values`` itself, uncopied, when that is every row."""
    return values if kept.all() else values[kept]


def _regression(labels: np.ndarray, predictions: np.ndarray, min_rows: int) -> Output:
    true = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    predicted = np.asarray(predictions, dtype=np.float64)
    usable = np.isfinite(true) & np.isfinite(predicted)
    if np.count_nonzero(usable) < min_rows:
        return []
    return _figures(regression_metrics(true[usable], predicted[usable]))


def _figures(metrics: dict[str, float]) -> Output:
    return [Figure(FAMILIES[name], value) for name, value in metrics.items()]
