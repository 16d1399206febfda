"""Regression metrics, matching scikit-learn's definitions.

MAPE is a ratio (0.1 is 10%) whose denominator is ``max(|y|, eps)``, eps the float64 machine epsilon,
as scikit-learn's ``mean_absolute_percentage_error``: a zero label gives a huge term, not a division
error. R2 is left out when fewer than two rows are given or the labels are constant, where it is
undefined (scikit-learn returns NaN or a conventional 0.0 / 1.0 there).
"""

from __future__ import annotations

import numpy as np


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.size == 0:
        return {}
    error = y_true - y_pred
    eps = np.finfo(np.float64).eps
    out = {
        "mean_absolute_error": float(np.mean(np.abs(error))),
        "root_mean_squared_error": float(np.sqrt(np.mean(error**2))),
        "mean_absolute_percentage_error": float(np.mean(np.abs(error) / np.maximum(np.abs(y_true), eps))),
    }
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    if y_true.size >= 2 and np.ptp(y_true) > 0:
        out["r2"] = 1.0 - float(np.sum(error**2)) / total
    return out
