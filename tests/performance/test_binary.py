"""Binary metrics against scikit-learn, on seeded random windows and the edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics
from sklearn.exceptions import UndefinedMetricWarning

from exporter.performance.binary import binary_metrics, roc_auc

RNG = np.random.default_rng(11)


def _window(n: int, classes: np.ndarray, positive_share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True labels, predictions and probabilities (columns ordered as ``classes``) of a noisy model."""
    truth = RNG.random(n) < positive_share
    score = np.clip(np.where(truth, 0.65, 0.35) + RNG.normal(0, 0.25, n), 0.0, 1.0)
    probabilities = np.column_stack([1 - score, score])
    return classes[truth.astype(int)], classes[(score >= 0.5).astype(int)], probabilities


INTS = np.array([0, 1])
WORDS = np.array(["no", "yes"])
CASES = {
    "ints, positive 1": (*_window(300, INTS, 0.3), INTS, 1),
    "ints, positive 0": (*_window(300, INTS, 0.3), INTS, 0),
    "strings, positive yes": (*_window(120, WORDS, 0.6), WORDS, "yes"),
    "tiny window": (*_window(3, INTS, 0.5), INTS, 1),
    "single class present": (np.zeros(20, dtype=int), RNG.integers(0, 2, 20), RNG.dirichlet([1, 1], 20), INTS, 1),
    "no predicted positive": (RNG.integers(0, 2, 40), np.zeros(40, dtype=int), RNG.dirichlet([1, 1], 40), INTS, 1),
    "one row": (np.array([1]), np.array([0]), np.array([[0.7, 0.3]]), INTS, 1),
    "certain and wrong": (np.array([0, 1]), np.array([1, 0]), np.array([[0.0, 1.0], [1.0, 0.0]]), INTS, 1),
}


def sklearn_roc_auc(is_positive: np.ndarray, score: np.ndarray) -> float | None:
    """scikit-learn's ROC AUC, None where it is undefined (older versions raise, newer ones return NaN)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            value = metrics.roc_auc_score(is_positive, score)
    except ValueError:
        return None
    return None if np.isnan(value) else float(value)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_sklearn(case: tuple) -> None:
    y_true, y_pred, probabilities, classes, positive = case
    column = int(np.flatnonzero(classes == positive)[0])
    expected = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "precision": metrics.precision_score(y_true, y_pred, pos_label=positive, zero_division=0),
        "recall": metrics.recall_score(y_true, y_pred, pos_label=positive, zero_division=0),
        "f1": metrics.f1_score(y_true, y_pred, pos_label=positive, zero_division=0),
        "log_loss": metrics.log_loss(y_true, probabilities, labels=classes),
    }
    auc = sklearn_roc_auc(y_true == positive, probabilities[:, column])
    if auc is not None:
        expected["roc_auc"] = auc
    got = binary_metrics(y_true, y_pred, positive, probabilities, classes)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_without_probabilities_only_label_metrics() -> None:
    y_true, y_pred, _, classes, positive = CASES["ints, positive 1"]
    assert set(binary_metrics(y_true, y_pred, positive)) == {"accuracy", "precision", "recall", "f1"}


def test_empty_window_gives_nothing() -> None:
    assert binary_metrics(np.array([], dtype=int), np.array([], dtype=int), 1) == {}


def test_roc_auc_with_many_rows_and_heavy_ties_matches_sklearn() -> None:
    truth = RNG.random(200_000) < 0.3
    score = np.round(np.clip(np.where(truth, 0.6, 0.4) + RNG.normal(0, 0.2, truth.size), 0, 1), 2)
    assert roc_auc(truth, score) == pytest.approx(metrics.roc_auc_score(truth, score), abs=1e-12)


def test_roc_auc_of_a_missing_score_is_nan_and_of_one_class_none() -> None:
    assert np.isnan(roc_auc(np.array([True, False]), np.array([0.2, np.nan])))
    assert roc_auc(np.array([True, True]), np.array([0.2, 0.3])) is None
