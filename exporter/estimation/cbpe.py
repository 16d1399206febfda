"""Confidence-based performance estimation (CBPE), as NannyML describes it.

If the probabilities are calibrated, a row predicted positive with probability p is a true positive
with probability p and a false positive with probability 1 - p, so summing p and 1 - p over the
rows gives the expected confusion matrix, and from it expected accuracy, precision, recall and F1,
without a single label. The estimate stays right under covariate shift (the inputs change but the
chance of a label given the score does not); it cannot see concept shift.

Calibration: an isotonic regression of the label on the probability, fitted on the reference. It is
kept only when its out-of-fold Brier score (stratified k-fold) beats the raw probabilities', since
isotonic regression on already calibrated scores mostly fits noise. The fitted step function is
kept as plain arrays, so it is stored without pickle and applied with ``np.interp`` (constant beyond
the fitted range, as ``out_of_bounds="clip"``).

Multiclass: the same calibration is fitted to the probability of the predicted class against
whether the prediction was right, and the expected accuracy is the mean calibrated probability of
the predicted class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from exporter.performance.binary import ratio

FOLDS = 5
SEED = 0


def _isotonic() -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")


def fit_calibrator(probabilities_pos: np.ndarray, labels_is_pos: np.ndarray) -> dict[str, np.ndarray]:
    """Arrays ``calibrated`` (one bool) and, when calibration helps, the isotonic step ``x`` -> ``y``.

    Needs both classes present; with fewer than two rows of the rarer class calibration is not tried.
    """
    scores = np.asarray(probabilities_pos, dtype=np.float64)
    outcome = np.asarray(labels_is_pos, dtype=bool).astype(np.float64)
    rarer = int(min(np.count_nonzero(outcome), np.count_nonzero(outcome == 0)))
    if rarer < 2:
        return {"calibrated": np.array([False])}
    folds = StratifiedKFold(n_splits=min(FOLDS, rarer), shuffle=True, random_state=SEED)
    out_of_fold = np.empty_like(scores)
    for train, test in folds.split(scores, outcome):
        out_of_fold[test] = _isotonic().fit(scores[train], outcome[train]).predict(scores[test])
    raw_brier = np.mean((np.clip(scores, 0.0, 1.0) - outcome) ** 2)
    if np.mean((out_of_fold - outcome) ** 2) >= raw_brier:
        return {"calibrated": np.array([False])}
    fitted = _isotonic().fit(scores, outcome)
    return {
        "calibrated": np.array([True]),
        "x": np.asarray(fitted.X_thresholds_, dtype=np.float64),
        "y": np.asarray(fitted.y_thresholds_, dtype=np.float64),
    }


def calibrate(probabilities: np.ndarray, fitted: dict[str, np.ndarray]) -> np.ndarray:
    """The calibrated probabilities; the raw ones (clipped to [0, 1]) when calibration was not kept."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not bool(fitted["calibrated"][0]):
        return np.clip(probabilities, 0.0, 1.0)
    return np.interp(probabilities, fitted["x"], fitted["y"])


@dataclass(frozen=True)
class ExpectedConfusion:
    tp: float
    fp: float
    fn: float
    tn: float


def expected_confusion(p_calibrated: np.ndarray, predicted_positive: np.ndarray) -> ExpectedConfusion:
    p = np.asarray(p_calibrated, dtype=np.float64)
    called = np.asarray(predicted_positive, dtype=bool)
    return ExpectedConfusion(
        tp=float(p[called].sum()),
        fp=float((1 - p[called]).sum()),
        fn=float(p[~called].sum()),
        tn=float((1 - p[~called]).sum()),
    )


def estimate(p_calibrated: np.ndarray, predicted_positive: np.ndarray) -> dict[str, float]:
    """Expected accuracy, precision, recall and f1 (zero denominators give 0.0, as for realized metrics)."""
    if np.asarray(p_calibrated).size == 0:
        return {}
    return estimate_of(expected_confusion(p_calibrated, predicted_positive))


def estimate_of(m: ExpectedConfusion) -> dict[str, float]:
    """``estimate`` from the expected confusion matrix, however its sums were added up."""
    return {
        "accuracy": ratio(m.tp + m.tn, m.tp + m.fp + m.fn + m.tn),
        "precision": ratio(m.tp, m.tp + m.fp),
        "recall": ratio(m.tp, m.tp + m.fn),
        "f1": ratio(2 * m.tp, 2 * m.tp + m.fp + m.fn),
    }


def estimate_accuracy(confidence_calibrated: np.ndarray) -> float | None:
    """Multiclass expected accuracy: the mean calibrated probability of the predicted class."""
    confidence = np.asarray(confidence_calibrated, dtype=np.float64)
    return float(confidence.mean()) if confidence.size else None


def estimate_errors(p_calibrated: np.ndarray, predicted_positive: np.ndarray) -> dict[str, float]:
    """The estimate's own standard error: how far the realized figure is expected to fall from it by
    chance, if the calibrated probabilities are right and rows are independent.

    Each row is then a Bernoulli trial, so the true positives among the rows called positive and the
    false negatives among the others are Poisson-binomial counts. Accuracy (TP + TN of n rows) and
    precision (TP of the rows called positive) are shares of a fixed number of rows: their error is
    exact. Recall and F1 are ratios of two such counts: their error is the delta method's.
    """
    p = np.asarray(p_calibrated, dtype=np.float64)
    called = np.asarray(predicted_positive, dtype=bool)
    if p.size == 0:
        return {}
    variance = p * (1 - p)
    var_tp, var_fn = float(variance[called].sum()), float(variance[~called].sum())
    tp, fn = float(p[called].sum()), float(p[~called].sum())
    return errors_of(var_tp, var_fn, tp, fn, int(np.count_nonzero(called)), p.size)


def errors_of(var_tp: float, var_fn: float, tp: float, fn: float, n_called: int, rows: int) -> dict[str, float]:
    """``estimate_errors`` from its sums over the ``rows``: the variances of TP and FN, their expected
    values, and how many rows were called positive."""
    positives = tp + fn
    dice = n_called + positives  # 2 TP + FP + FN
    return {
        # TN = (rows not called) - FN, so TP + TN varies as TP and FN do
        "accuracy": math.sqrt(var_tp + var_fn) / rows,
        "precision": math.sqrt(var_tp) / n_called if n_called else 0.0,
        "recall": math.sqrt(fn**2 * var_tp + tp**2 * var_fn) / positives**2 if positives > 0 else 0.0,
        "f1": 2 * math.sqrt((n_called + fn) ** 2 * var_tp + tp**2 * var_fn) / dice**2 if dice > 0 else 0.0,
    }


def accuracy_error(confidence_calibrated: np.ndarray) -> float | None:
    """Multiclass: the standard error of the expected accuracy (each row right with its calibrated confidence)."""
    confidence = np.asarray(confidence_calibrated, dtype=np.float64)
    if confidence.size == 0:
        return None
    return math.sqrt(float(np.sum(confidence * (1 - confidence)))) / confidence.size
