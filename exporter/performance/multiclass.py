"""Multiclass classification metrics, matching scikit-learn's definitions.

Macro and weighted averages run over the classes present among the true or the predicted labels
(scikit-learn's default), so a class the window never saw does not pull the macro average down;
per-class ratios use ``zero_division=0``. Log loss is over the model's classes. ROC AUC is the
one-vs-rest macro average and is left out unless every model class is among the true labels, where
it is undefined.

Per-class series are bounded: ``classes_kept`` picks the classes with the most support.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from exporter.arrays import distinct
from exporter.performance.binary import log_loss, positions, ratio, roc_auc


@dataclass(frozen=True)
class ClassScores:
    """One class's figures; precision is None when the class was never predicted, recall when it never occurred."""

    support: int
    precision: float | None
    recall: float | None


def per_class(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> dict[Any, ClassScores]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = {}
    for cls in classes:
        actual, predicted = y_true == cls, y_pred == cls
        tp = int(np.count_nonzero(actual & predicted))
        support, called = int(np.count_nonzero(actual)), int(np.count_nonzero(predicted))
        scores[cls] = ClassScores(
            support=support,
            precision=tp / called if called else None,
            recall=tp / support if support else None,
        )
    return scores


def classes_kept(classes: np.ndarray, support: np.ndarray, max_classes: int) -> np.ndarray:
    """The ``max_classes`` classes with the most support (ties: the earlier class), in the order of ``classes``."""
    order = np.argsort(-np.asarray(support), kind="stable")[:max_classes]
    return np.asarray(classes)[np.sort(order)]


def multiclass_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: np.ndarray,
    probabilities: np.ndarray | None = None,
) -> dict[str, float]:
    """accuracy, macro precision/recall/f1, weighted_precision/recall/f1, and with ``probabilities`` (columns
    ordered as ``classes``) log_loss and roc_auc. Every true label must be one of ``classes``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return {}
    present = distinct(np.concatenate([y_true, y_pred]))
    precision, recall, f1, support = [], [], [], []
    for cls in present:
        actual, predicted = y_true == cls, y_pred == cls
        tp = np.count_nonzero(actual & predicted)
        fp = np.count_nonzero(~actual & predicted)
        fn = np.count_nonzero(actual & ~predicted)
        precision.append(ratio(tp, tp + fp))
        recall.append(ratio(tp, tp + fn))
        f1.append(ratio(2 * tp, 2 * tp + fp + fn))
        support.append(tp + fn)
    weights = np.asarray(support, dtype=np.float64) / y_true.size
    out = {"accuracy": float(np.mean(y_true == y_pred))}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[name] = float(np.mean(values))
        out[f"weighted_{name}"] = float(np.dot(weights, values))
    if probabilities is not None:
        true_index = positions(y_true, classes)
        out["log_loss"] = log_loss(true_index, probabilities)
        if distinct(true_index).size == len(classes):
            areas = [roc_auc(true_index == k, probabilities[:, k]) for k in range(len(classes))]
            out["roc_auc"] = float(np.mean(areas))
    return out
