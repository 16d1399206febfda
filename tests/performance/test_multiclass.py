"""Multiclass metrics against scikit-learn, and the choice of classes that get per-class series."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from exporter.performance.multiclass import classes_kept, multiclass_metrics, per_class

RNG = np.random.default_rng(5)


def _window(n: int, classes: np.ndarray, shares: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True labels, predictions and probabilities (columns ordered as ``classes``) of a noisy model."""
    truth = RNG.choice(len(classes), n, p=shares)
    logits = RNG.normal(0, 1, (n, len(classes)))
    logits[np.arange(n), truth] += 1.5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return classes[truth], classes[probabilities.argmax(axis=1)], probabilities


THREE = np.array([0, 1, 2])
COLOURS = np.array(["blue", "green", "red", "white"])
CASES = {
    "three classes": (*_window(400, THREE, [0.5, 0.3, 0.2]), THREE),
    "strings, skewed": (*_window(250, COLOURS, [0.7, 0.1, 0.1, 0.1]), COLOURS),
    "class never seen": (*_window(80, COLOURS, [0.5, 0.5, 0.0, 0.0]), COLOURS),
    "tiny window": (*_window(4, THREE, [0.4, 0.3, 0.3]), THREE),
    "one row": (np.array([2]), np.array([1]), np.array([[0.2, 0.5, 0.3]]), THREE),
}


def _sklearn_roc_auc(y_true: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float | None:
    if not set(classes) <= set(y_true):
        return None
    return metrics.roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro", labels=classes)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_sklearn(case: tuple) -> None:
    y_true, y_pred, probabilities, classes = case
    expected = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "log_loss": metrics.log_loss(y_true, probabilities, labels=classes),
    }
    for name, score in (
        ("precision", metrics.precision_score),
        ("recall", metrics.recall_score),
        ("f1", metrics.f1_score),
    ):
        expected[name] = score(y_true, y_pred, average="macro", zero_division=0)
        expected[f"weighted_{name}"] = score(y_true, y_pred, average="weighted", zero_division=0)
    auc = _sklearn_roc_auc(y_true, probabilities, classes)
    if auc is not None:
        expected["roc_auc"] = auc
    got = multiclass_metrics(y_true, y_pred, classes, probabilities)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_per_class_matches_sklearn_where_defined(case: tuple) -> None:
    y_true, y_pred, _, classes = case
    precision = metrics.precision_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    recall = metrics.recall_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    scores = per_class(y_true, y_pred, classes)
    assert list(scores) == list(classes)
    for k, cls in enumerate(classes):
        assert scores[cls].support == np.count_nonzero(y_true == cls)
        if np.any(y_pred == cls):
            assert scores[cls].precision == pytest.approx(precision[k], abs=1e-9)
        else:
            assert scores[cls].precision is None
        if scores[cls].support:
            assert scores[cls].recall == pytest.approx(recall[k], abs=1e-9)
        else:
            assert scores[cls].recall is None


def test_without_probabilities_no_log_loss_or_auc() -> None:
    y_true, y_pred, _, classes = CASES["three classes"]
    got = multiclass_metrics(y_true, y_pred, classes)
    assert "log_loss" not in got and "roc_auc" not in got and "weighted_f1" in got


KEPT = {
    "fewer classes than the bound": (["a", "b", "c"], [5, 0, 9], 5, ["a", "b", "c"]),
    "most supported, in class order": (["a", "b", "c", "d"], [5, 1, 9, 7], 2, ["c", "d"]),
    "ties go to the earlier class": (["a", "b", "c", "d"], [3, 3, 3, 1], 2, ["a", "b"]),
    "bound of one": (["a", "b", "c"], [0, 2, 1], 1, ["b"]),
}


@pytest.mark.parametrize(("classes", "support", "bound", "expected"), KEPT.values(), ids=KEPT.keys())
def test_classes_kept(classes: list[str], support: list[int], bound: int, expected: list[str]) -> None:
    assert classes_kept(np.array(classes), np.array(support), bound).tolist() == expected
