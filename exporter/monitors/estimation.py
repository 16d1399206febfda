"""Performance estimated without labels (CBPE) over every row of the window.

The calibration is fitted on the reference's probabilities and labels; a reference without labels,
with fewer than ``MIN_REFERENCE_ROWS`` labelled rows or with a single class gets no calibration and
the monitor publishes nothing. Binary: expected accuracy, precision, recall and F1 of the model's
own predictions, for the configured positive class. Multiclass: expected accuracy only (see
``exporter.estimation.cbpe``). Each estimate comes with its own standard error and a 95 % interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exporter.arrays import distinct
from exporter.estimation.cbpe import (
    accuracy_error,
    calibrate,
    estimate,
    estimate_accuracy,
    estimate_errors,
    fit_calibrator,
)
from exporter.figures import Figure
from exporter.monitors.registry import Fitted, Monitor, Output, register
from exporter.performance import UNMATCHED, class_indices, positive_index
from exporter.performance.intervals import INTERVAL_FAMILIES, Z95
from exporter.window import Window

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference.profile import ReferenceProfile

MIN_REFERENCE_ROWS = 50


@register
class Estimation(Monitor):
    name = "estimation"

    def applies(self, model: ModelConfig) -> bool:
        return model.estimation and model.task != "regression"

    def fit(self, reference: ReferenceProfile, model: ModelConfig) -> Fitted:
        if reference.labels is None or reference.probabilities is None or reference.classes is None:
            return {}
        if len(reference.labels) != len(reference.probabilities):
            return {}
        classes = np.asarray(reference.classes)
        true = class_indices(reference.labels, classes)
        usable = true != UNMATCHED
        if np.count_nonzero(usable) < MIN_REFERENCE_ROWS or distinct(true[usable]).size < 2:
            return {}
        probabilities = np.asarray(reference.probabilities, dtype=np.float64)[usable]
        if model.task == "binary_classification":
            positive = positive_index(classes, model.positive_class)
            return fit_calibrator(probabilities[:, positive], true[usable] == positive)
        predictions = reference.predictions[usable] if reference.predictions is not None else None
        predicted = predicted_indices(predictions, probabilities, classes)
        confidence = probabilities[np.arange(len(predicted)), predicted]
        return fit_calibrator(confidence, predicted == true[usable])

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        if not fitted or window.probabilities is None or window.classes is None or window.rows == 0:
            return []
        classes = np.asarray(window.classes)
        probabilities = np.asarray(window.probabilities, dtype=np.float64)
        predicted = predicted_indices(window.predictions, probabilities, classes)
        if model.task == "binary_classification":
            positive = positive_index(classes, model.positive_class)
            calibrated, called = calibrate(probabilities[:, positive], fitted), predicted == positive
            return estimate_figures(estimate(calibrated, called), estimate_errors(calibrated, called))
        confidence = calibrate(probabilities[np.arange(len(predicted)), predicted], fitted)
        accuracy, error = estimate_accuracy(confidence), accuracy_error(confidence)
        if accuracy is None or error is None:
            return []
        return estimate_figures({"accuracy": accuracy}, {"accuracy": error})


def estimate_figures(expected: dict[str, float], errors: dict[str, float]) -> Output:
    """Each estimate, its standard error, and its 95 % interval (estimate -/+ 1.96 errors, within [0, 1])."""
    figures: Output = []
    for name, value in expected.items():
        figures.append(Figure(f"mlmon_estimated_{name}_ratio", value))
        error = errors[name]
        figures.append(Figure("mlmon_estimated_performance_standard_error_ratio", error, {"metric": name}))
        labels = {"metric": f"estimated_{name}"}
        figures.append(Figure(INTERVAL_FAMILIES[0], max(0.0, value - Z95 * error), labels))
        figures.append(Figure(INTERVAL_FAMILIES[1], min(1.0, value + Z95 * error), labels))
    return figures


def predicted_indices(predictions: np.ndarray | None, probabilities: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The predicted class index of each row: the model's prediction, else the most probable class."""
    if predictions is None:
        return probabilities.argmax(axis=1)
    predicted = class_indices(predictions, classes)
    unmatched = predicted == UNMATCHED
    if unmatched.any():
        predicted[unmatched] = probabilities[unmatched].argmax(axis=1)
    return predicted
