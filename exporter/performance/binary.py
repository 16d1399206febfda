"""Binary classification metrics, matching scikit-learn's definitions.

Precision, recall and F1 are those of the positive class with ``zero_division=0``: a ratio whose
denominator is zero is 0.0. ROC AUC is left out when the rows hold a single class, where it is
undefined. Log loss clips probabilities to [eps, 1 - eps] with eps the float64 machine epsilon, as
scikit-learn does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else 0.0


def roc_auc(is_positive: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve: the chance a positive row scores above a negative one, ties counting
    one half (the Mann-Whitney statistic); None with a single class.

    Both classes' scores are sorted and each positive is placed among the negatives by binary search,
    so the counts are whole numbers and no rank of every row is needed.
    """
    is_positive = np.asarray(is_positive, dtype=bool)
    positives = int(np.count_nonzero(is_positive))
    negatives = is_positive.size - positives
    if positives == 0 or negatives == 0:
        return None
    score = np.asarray(score, dtype=np.float64)
    if np.isnan(score).any():
        return math.nan
    negative_scores = np.sort(score[~is_positive])
    # sorted keys make each search start where the previous one ended
    positive_scores = np.sort(score[is_positive])
    below = int(np.searchsorted(negative_scores, positive_scores, side="left").sum())
    at_or_below = int(np.searchsorted(negative_scores, positive_scores, side="right").sum())
    return (below + at_or_below) / 2 / (positives * negatives)


def positions(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The index in ``classes`` of each value, which must be one of them."""
    values, classes = np.asarray(values), np.asarray(classes)
    if classes.dtype.kind in "iuf" and values.dtype.kind in "iuf" and np.all(classes[:-1] < classes[1:]):
        # distinct increasing numbers: a binary search instead of a comparison with every class
        return np.searchsorted(classes, values)
    return np.argmax(values[:, None] == classes[None, :], axis=1)


def log_loss(true_index: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean negative log probability given to the true class; ``true_index`` are columns of ``probabilities``."""
    eps = np.finfo(np.float64).eps
    probabilities = np.asarray(probabilities, dtype=np.float64)
    given = probabilities[np.arange(probabilities.shape[0]), np.asarray(true_index, dtype=np.int64)]
    return float(-np.mean(np.log(np.clip(given, eps, 1 - eps))))


def binary_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    positive: Any,
    probabilities: np.ndarray | None = None,
    classes: np.ndarray | None = None,
) -> dict[str, float]:
    """accuracy, precision, recall and f1 of ``positive``; with ``probabilities`` also log_loss and roc_auc.

    ``probabilities`` has its columns ordered as ``classes``, and every true label must be one of them.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return {}
    actual, predicted = y_true == positive, y_pred == positive
    tp = np.count_nonzero(actual & predicted)
    fp = np.count_nonzero(~actual & predicted)
    fn = np.count_nonzero(actual & ~predicted)
    out = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
    }
    if probabilities is not None and classes is not None:
        classes = np.asarray(classes)
        column = int(np.flatnonzero(classes == positive)[0])
        out["log_loss"] = log_loss(positions(y_true, classes), probabilities)
        auc = roc_auc(actual, probabilities[:, column])
        if auc is not None:
            out["roc_auc"] = auc
    return out
