"""What the model outputs over the window, labels or not.

Classification: the mean probability of the predicted class (the row's highest probability) and the
share of rows predicted as each class. Per-class shares are bounded by ``limits.max_classes``: the
most predicted classes keep theirs, and ``mlmon_series_dropped{kind="class"}`` counts the model
classes without one (for every per-class family: the bound is the same). Regression: the mean predicted value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exporter.arrays import row_maxima
from exporter.figures import Figure
from exporter.monitors.registry import Fitted, Monitor, Output, register
from exporter.performance import UNMATCHED, class_indices, class_label
from exporter.performance.multiclass import classes_kept
from exporter.window import Window

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference.profile import ReferenceProfile


@register
class ModelOutput(Monitor):
    name = "output"

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        if window.rows == 0:
            return []
        if model.task == "regression":
            values = np.asarray(window.predictions, dtype=np.float64)
            values = values[np.isfinite(values)]
            return [Figure("mlmon_mean_prediction", float(values.mean()))] if values.size else []
        figures: Output = []
        if window.probabilities is not None:
            figures.append(Figure("mlmon_mean_confidence_ratio", float(row_maxima(window.probabilities).mean())))
        if window.classes is None:
            return figures
        classes = np.asarray(window.classes)
        predicted = class_indices(window.predictions, classes)
        counts = np.bincount(predicted[predicted != UNMATCHED], minlength=len(classes))
        return figures + class_shares(counts, window.rows, classes, model)


def class_shares(counts: np.ndarray, rows: int, classes: np.ndarray, model: ModelConfig) -> Output:
    """The share of the ``rows`` predicted as each kept class, from the ``counts`` per class."""
    kept = classes_kept(np.arange(len(classes)), counts, model.limits.max_classes)
    figures: Output = []
    for index in kept:
        share = counts[index] / rows
        figures.append(Figure("mlmon_predicted_class_ratio", float(share), {"class": class_label(classes[index])}))
    figures.append(Figure("mlmon_series_dropped", float(len(classes) - len(kept)), {"kind": "class"}))
    return figures
