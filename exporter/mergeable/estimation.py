"""What performance estimation (CBPE) needs of the rows, as sums that merge by addition.

Binary: over the rows, the expected confusion matrix (the calibrated probability of the positive
class summed over the rows called positive and the others, and its complement), the variances of
TP and FN, and how many rows were called positive. Multiclass: the sum of the calibrated
probability of the predicted class and of its variance. ``exporter.estimation.cbpe`` turns them into
the estimates and their errors exactly as for a window held whole, up to the last bits of the sums.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

import numpy as np

from exporter.estimation.cbpe import ExpectedConfusion, calibrate, errors_of, estimate_of
from exporter.monitors import Fitted
from exporter.monitors.estimation import predicted_indices


@dataclass
class EstimationSums:
    rows: int = 0
    called: int = 0  # binary: rows called positive
    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    tn: float = 0.0
    var_tp: float = 0.0
    var_fn: float = 0.0
    confidence: float = 0.0  # multiclass: calibrated probability of the predicted class
    var_confidence: float = 0.0

    def update(
        self,
        predictions: np.ndarray,
        probabilities: np.ndarray,
        classes: np.ndarray,
        fitted: Fitted,
        positive: int | None,
    ) -> None:
        """Add a piece's rows; ``positive`` is the positive class's index, None for multiclass."""
        predicted = predicted_indices(predictions, np.asarray(probabilities, dtype=np.float64), classes)
        piece = EstimationSums(rows=len(predicted))
        if positive is not None:
            p = calibrate(probabilities[:, positive], fitted)
            called = predicted == positive
            variance = p * (1 - p)
            piece.called = int(np.count_nonzero(called))
            piece.tp, piece.fp = float(p[called].sum()), float((1 - p[called]).sum())
            piece.fn, piece.tn = float(p[~called].sum()), float((1 - p[~called]).sum())
            piece.var_tp, piece.var_fn = float(variance[called].sum()), float(variance[~called].sum())
        else:
            confidence = calibrate(probabilities[np.arange(len(predicted)), predicted], fitted)
            piece.confidence = float(confidence.sum())
            piece.var_confidence = float(np.sum(confidence * (1 - confidence)))
        self.__dict__.update(vars(self.merge(piece)))

    def merge(self, other: EstimationSums) -> EstimationSums:
        rows, called, *sums = (a + b for a, b in zip(astuple(self), astuple(other), strict=True))
        return EstimationSums(int(rows), int(called), *sums)

    def estimates(self, binary: bool) -> tuple[dict[str, float], dict[str, float]]:
        """The estimates and their standard errors, as the ``estimation`` monitor publishes them."""
        if not self.rows:
            return {}, {}
        if binary:
            expected = estimate_of(ExpectedConfusion(self.tp, self.fp, self.fn, self.tn))
            return expected, errors_of(self.var_tp, self.var_fn, self.tp, self.fn, self.called, self.rows)
        error = math.sqrt(self.var_confidence) / self.rows
        return {"accuracy": self.confidence / self.rows}, {"accuracy": error}
