"""Regression errors over the labelled rows, as sums that merge.

Mean absolute error, root mean squared error and mean absolute percentage error are sums over the
rows; R2 also needs the labels' spread around their mean, which merges exactly in exact arithmetic
(Chan, Golub and LeVeque's pairwise update) and stays as accurate as a two-pass sum in floating
point. Figures equal ``regression_metrics`` on the whole batch up to the last bits of the sums,
which are added in another order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class ErrorSums:
    rows: int = 0
    absolute: float = 0.0  # sum of |label - prediction|
    squared: float = 0.0  # sum of (label - prediction)^2
    percentage: float = 0.0  # sum of |label - prediction| / max(|label|, eps)
    mean: float = 0.0  # of the labels
    spread: float = 0.0  # sum of the labels' squared deviations from their mean
    low: float = math.inf  # the least label
    high: float = -math.inf  # the largest

    def update(self, labels: np.ndarray, predictions: np.ndarray) -> None:
        """Add the rows whose label and prediction are both finite numbers, as ``Performance`` takes them."""
        true = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
        predicted = np.asarray(predictions, dtype=np.float64)
        usable = np.isfinite(true) & np.isfinite(predicted)
        true, predicted = true[usable], predicted[usable]
        if not true.size:
            return
        error = np.abs(true - predicted)
        eps = np.finfo(np.float64).eps
        mean = float(true.mean())
        piece = ErrorSums(
            int(true.size),
            float(error.sum()),
            float((error**2).sum()),
            float((error / np.maximum(np.abs(true), eps)).sum()),
            mean,
            float(((true - mean) ** 2).sum()),
            float(true.min()),
            float(true.max()),
        )
        self.__dict__.update(self.merge(piece).__dict__)

    def merge(self, other: ErrorSums) -> ErrorSums:
        rows = self.rows + other.rows
        if not self.rows or not other.rows:
            return ErrorSums(**(other if not self.rows else self).__dict__)
        delta = other.mean - self.mean
        return ErrorSums(
            rows,
            self.absolute + other.absolute,
            self.squared + other.squared,
            self.percentage + other.percentage,
            self.mean + delta * other.rows / rows,
            self.spread + other.spread + delta * delta * self.rows * other.rows / rows,
            min(self.low, other.low),
            max(self.high, other.high),
        )

    def metrics(self) -> dict[str, float]:
        """``regression_metrics`` of the rows added."""
        if not self.rows:
            return {}
        out = {
            "mean_absolute_error": self.absolute / self.rows,
            "root_mean_squared_error": math.sqrt(self.squared / self.rows),
            "mean_absolute_percentage_error": self.percentage / self.rows,
        }
        if self.rows >= 2 and self.high > self.low:
            out["r2"] = 1.0 - self.squared / self.spread
        return out
