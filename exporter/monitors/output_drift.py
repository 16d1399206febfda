"""Drift of what the model outputs, of the labels, and of the residuals, against the reference.

Compared quantities: for binary classification the probability of the positive class (the predicted
labels when the model gives no probabilities), for multiclass the predicted labels as categories,
for regression the predicted values. Labels (categories for classification, values for regression)
and, for regression, residuals (label minus prediction) are compared once the window holds at least
``min_rows`` labelled rows and the reference has labels.

The method is picked as for features (the global ``drift.method`` and ``drift.thresholds`` apply,
``feature_methods`` do not). They publish the same families as feature drift (statistic, p-value
and significance level for a test; distance and cut-off for a distance; severity for both).

Fitting keeps the reference side of each comparison ready (the usable outputs, labels and residuals,
sorted, with their distinct count and the method's fitted state), so a run neither converts, sorts
nor de-duplicates the reference again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exporter.arrays import distinct as distinct_values_of
from exporter.drift import METHODS
from exporter.drift.fitting import FittedColumn, compare_column, fit_column, pack, unpack
from exporter.drift.published import drift_figures
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

    def fit(self, reference: ReferenceProfile, model: ModelConfig) -> Fitted:
        columns = {}
        for family, (values, kind) in _reference_sides(reference, model).items():
            usable = usable_values(values(), kind)
            if usable.size:
                if kind == "numeric":
                    usable = np.sort(usable)
                columns[family] = fit_column(None, kind, usable, model.drift, keep_values=True)
        return pack(columns)

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        if reference is None:
            return []
        figures: Output = []
        columns = unpack(fitted)
        sides = _reference_sides(reference, model, window_has_probabilities=window.probabilities is not None)
        if "prediction" in sides:
            values, kind = sides["prediction"]
            current = (
                _positive_column(window.probabilities, window.classes, model.positive_class)
                if kind == "numeric" and model.task == "binary_classification" and window.probabilities is not None
                else window.predictions
            )
            figures += _compare("prediction", values, current, kind, model, columns.get("prediction"))
        labelled = np.asarray(window.labelled, dtype=bool)
        if "label" not in sides or window.labelled_rows < model.min_rows:
            return figures
        values, kind = sides["label"]
        figures += _compare("label", values, window.labels[labelled], kind, model, columns.get("label"))
        if "residual" in sides:
            values, _ = sides["residual"]
            current = residuals(window.labels[labelled], window.predictions[labelled])
            figures += _compare("residual", values, current, "numeric", model, columns.get("residual"), detected=False)
        return figures


def _reference_sides(
    reference: ReferenceProfile, model: ModelConfig, *, window_has_probabilities: bool = True
) -> dict[str, tuple[Callable[[], np.ndarray], FeatureKind]]:
    """The reference side of each comparison, by family, with its kind; each side is computed only
    when asked for, so a run that has it fitted never builds it."""
    sides: dict[str, tuple[Callable[[], np.ndarray], FeatureKind]] = {}
    if model.task == "regression":
        if reference.predictions is not None:
            sides["prediction"] = partial(np.asarray, reference.predictions), "numeric"
    elif model.task == "binary_classification" and reference.probabilities is not None and window_has_probabilities:
        positive = partial(_positive_column, reference.probabilities, reference.classes, model.positive_class)
        sides["prediction"] = positive, "numeric"
    elif reference.predictions is not None:
        sides["prediction"] = partial(np.asarray, reference.predictions), "categorical"
    if reference.labels is None:
        return sides
    sides["label"] = partial(np.asarray, reference.labels), "numeric" if model.task == "regression" else "categorical"
    # residuals need a prediction for every reference label, row by row
    predictions = reference.predictions
    if model.task == "regression" and predictions is not None and len(predictions) == len(reference.labels):
        sides["residual"] = partial(residuals, reference.labels, predictions), "numeric"
    return sides


def _positive_column(probabilities: np.ndarray, classes: np.ndarray | None, positive: int | str) -> np.ndarray:
    """The probability column of the positive class (see ``positive_index``), the last without classes."""
    return probabilities[:, positive_index(classes, positive) if classes is not None else -1]


def residuals(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    return pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=np.float64) - np.asarray(
        predictions, dtype=np.float64
    )


def _compare(
    family: str,
    reference: Callable[[], np.ndarray],
    current: np.ndarray,
    kind: FeatureKind,
    model: ModelConfig,
    fitted: FittedColumn | None = None,
    detected: bool = True,
) -> Output:
    """``family`` drift; with ``fitted`` of the same kind, its stored reference side is used as it is."""
    if fitted is not None and fitted.kind == kind and fitted.values is not None:
        reference_values, distinct = fitted.values, fitted.distinct
    else:
        fitted = None
        reference_values = usable_values(reference(), kind)
        if kind == "numeric":
            reference_values = np.sort(reference_values)
        distinct = distinct_values_of(reference_values).size
    current_values = usable_values(current, kind)
    if reference_values.size == 0 or current_values.size == 0:
        return []
    method, threshold = resolve_method(None, kind, reference_values.size, distinct, model.drift)
    result = compare_column(fitted, method, reference_values, current_values)
    figures: Output = list(drift_figures(family, method, threshold, result, {}))
    if detected:
        drifted = METHODS[method].drifted(result, threshold)
        figures.append(Figure(f"mlmon_{family}_drift_detected", float(drifted)))
    return figures


def usable_values(values: np.ndarray, kind: FeatureKind) -> np.ndarray:
    """The known values: missing ones (NaN, None, or the empty string a stored profile uses) dropped."""
    usable = observed_values(pd.Series(np.asarray(values)), kind)
    return usable[usable != ""] if kind == "categorical" else usable
