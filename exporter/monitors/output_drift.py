"""Drift of what the model outputs, of the labels, and of the residuals, against the reference.

Compared quantities: for binary classification the probability of the positive class (the predicted
labels when the model gives no probabilities), for multiclass the predicted labels as categories,
for regression the predicted values. Labels (categories for classification, values for regression)
and, for regression, residuals (label minus prediction) are compared once the window holds at least
``min_rows`` labelled rows and the reference has labels.

The method is picked as for features (the global ``drift.method`` and ``drift.thresholds`` apply,
``feature_methods`` do not). These families publish a score only: for a test with a p-value the
score is its statistic (the KS distance, the chi-squared statistic) and the detected flag still
comes from the p-value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exporter.drift import METHODS
from exporter.drift.selection import resolve_method
from exporter.figures import Figure
from exporter.monitors.registry import Fitted, Monitor, Output, register
from exporter.performance import positive_index
from exporter.reference.building import observed_values
from exporter.window import Window

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference.profile import FeatureKind, ReferenceProfile


@register
class OutputDrift(Monitor):
    name = "output_drift"

    def applies(self, model: ModelConfig) -> bool:
        return model.drift.enabled

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        if reference is None:
            return []
        figures: Output = []
        regression = model.task == "regression"
        outputs = _outputs(window, reference, model)
        if outputs is not None:
            figures += _compare("prediction", *outputs, model)
        labelled = np.asarray(window.labelled, dtype=bool)
        if reference.labels is None or window.labelled_rows < model.min_rows:
            return figures
        kind: FeatureKind = "numeric" if regression else "categorical"
        figures += _compare("label", reference.labels, window.labels[labelled], kind, model)
        # residuals need a prediction for every reference label, row by row
        if regression and reference.predictions is not None and len(reference.predictions) == len(reference.labels):
            figures += _compare(
                "residual",
                _residuals(reference.labels, reference.predictions),
                _residuals(window.labels[labelled], window.predictions[labelled]),
                "numeric",
                model,
                detected=False,
            )
        return figures


def _outputs(
    window: Window, reference: ReferenceProfile, model: ModelConfig
) -> tuple[np.ndarray, np.ndarray, FeatureKind] | None:
    """The reference and window outputs to compare and their kind, or None when the reference lacks them."""
    if model.task == "regression":
        return None if reference.predictions is None else (reference.predictions, window.predictions, "numeric")
    if (
        model.task == "binary_classification"
        and reference.probabilities is not None
        and window.probabilities is not None
    ):
        return (
            _positive_column(reference.probabilities, reference.classes, model.positive_class),
            _positive_column(window.probabilities, window.classes, model.positive_class),
            "numeric",
        )
    return None if reference.predictions is None else (reference.predictions, window.predictions, "categorical")


def _positive_column(probabilities: np.ndarray, classes: np.ndarray | None, positive: int | str) -> np.ndarray:
    """The probability column of the positive class (see ``positive_index``), the last without classes."""
    return probabilities[:, positive_index(classes, positive) if classes is not None else -1]


def _residuals(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    return pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=np.float64) - np.asarray(
        predictions, dtype=np.float64
    )


def _compare(
    family: str,
    reference: np.ndarray,
    current: np.ndarray,
    kind: FeatureKind,
    model: ModelConfig,
    detected: bool = True,
) -> Output:
    reference_values = _usable(reference, kind)
    current_values = _usable(current, kind)
    if reference_values.size == 0 or current_values.size == 0:
        return []
    if kind == "numeric":
        reference_values = np.sort(reference_values)
    distinct = np.unique(reference_values).size
    method, threshold = resolve_method(None, kind, reference_values.size, distinct, model.drift)
    result = METHODS[method].compute(reference_values, current_values)
    figures: Output = [Figure(f"mlmon_{family}_drift_score", result.score, {"method": method})]
    if detected:
        drifted = METHODS[method].drifted(result, threshold)
        figures.append(Figure(f"mlmon_{family}_drift_detected", float(drifted)))
    return figures


def _usable(values: np.ndarray, kind: FeatureKind) -> np.ndarray:
    """The known values: missing ones (NaN, None, or the empty string a stored profile uses) dropped."""
    series = pd.Series(np.asarray(values))
    if kind == "categorical":
        series = series[series.astype(str) != ""]
    return observed_values(series, kind)
