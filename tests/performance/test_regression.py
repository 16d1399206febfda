"""Regression metrics against scikit-learn, on seeded random windows and the edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from exporter.performance.regression import regression_metrics

RNG = np.random.default_rng(3)
TRUTH = RNG.normal(50, 10, 200)
CASES = {
    "noisy": (TRUTH, TRUTH + RNG.normal(0, 3, 200)),
    "biased": (TRUTH, TRUTH * 1.1 + 2),
    "zero labels": (np.array([0.0, 1.0, -2.0, 0.0]), np.array([0.5, 1.0, -1.0, -0.1])),
    "perfect": (TRUTH[:10], TRUTH[:10].copy()),
    "two rows": (np.array([1.0, 3.0]), np.array([2.0, 2.5])),
    "worse than the mean": (np.array([1.0, 2.0, 3.0]), np.array([3.0, 0.0, 1.0])),
}


@pytest.mark.parametrize(("y_true", "y_pred"), CASES.values(), ids=CASES.keys())
def test_matches_sklearn(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    expected = {
        "mean_absolute_error": metrics.mean_absolute_error(y_true, y_pred),
        "root_mean_squared_error": np.sqrt(metrics.mean_squared_error(y_true, y_pred)),
        "mean_absolute_percentage_error": metrics.mean_absolute_percentage_error(y_true, y_pred),
        "r2": metrics.r2_score(y_true, y_pred),
    }
    got = regression_metrics(y_true, y_pred)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-9), name


UNDEFINED_R2 = {
    "one row": (np.array([4.0]), np.array([3.0])),
    "constant labels": (np.full(5, 0.1), np.array([0.1, 0.2, 0.0, 0.1, 0.3])),
}


@pytest.mark.parametrize(("y_true", "y_pred"), UNDEFINED_R2.values(), ids=UNDEFINED_R2.keys())
def test_r2_left_out_where_undefined(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    got = regression_metrics(y_true, y_pred)
    assert "r2" not in got
    assert got["mean_absolute_error"] == pytest.approx(metrics.mean_absolute_error(y_true, y_pred), abs=1e-12)


def test_empty_window_gives_nothing() -> None:
    assert regression_metrics(np.array([]), np.array([])) == {}
