"""What the model output and which labels came, as sums that merge by addition.

Classification: rows predicted as each class, the sum of each row's highest probability (the mean
confidence is that sum over the rows), and over the labelled rows the sum of the log loss terms.
Regression: the sum and the number of the finite predicted values. Counts are exact; the sums may
differ from a sum over the whole batch in their last bits, since they are added in another order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exporter.arrays import row_maxima
from exporter.performance import UNMATCHED, class_indices


@dataclass
class OutputSums:
    predicted: np.ndarray  # rows predicted as each class (no classes for regression)
    confidence: float = 0.0  # sum of each row's highest probability
    probabilities: bool = False  # whether the model gave probabilities
    log_loss: float = 0.0  # sum of -log p(true class) over the labelled rows, clipped as log_loss does
    values: float = 0.0  # regression: sum of the finite predicted values
    finite: int = 0  # and how many there were

    @classmethod
    def empty(cls, classes: np.ndarray | None) -> OutputSums:
        return cls(np.zeros(0 if classes is None else len(classes), np.int64))

    def update(
        self,
        predictions: np.ndarray,
        probabilities: np.ndarray | None,
        classes: np.ndarray | None,
        true: np.ndarray | None = None,
        labelled: np.ndarray | None = None,
    ) -> None:
        """Add a piece's outputs; ``true`` holds the class index of its labelled rows (``labelled``)."""
        if classes is None:
            values = np.asarray(predictions, dtype=np.float64)
            values = values[np.isfinite(values)]
            self.values += float(values.sum())
            self.finite += int(values.size)
            return
        predicted = class_indices(predictions, classes)
        self.predicted += np.bincount(predicted[predicted != UNMATCHED], minlength=len(classes))
        if probabilities is None:
            return
        self.probabilities = True
        self.confidence += float(row_maxima(probabilities).sum())
        if true is not None and labelled is not None:
            eps = np.finfo(np.float64).eps
            given = probabilities[labelled][np.arange(true.size), true]
            self.log_loss += float(-np.log(np.clip(given, eps, 1 - eps)).sum())

    def merge(self, other: OutputSums) -> OutputSums:
        return OutputSums(
            self.predicted + other.predicted,
            self.confidence + other.confidence,
            self.probabilities or other.probabilities,
            self.log_loss + other.log_loss,
            self.values + other.values,
            self.finite + other.finite,
        )
