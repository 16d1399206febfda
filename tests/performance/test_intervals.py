"""95 % intervals of the realized figures, checked against scipy's Wilson interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import binomtest, norm

import exporter.monitors  # noqa: F401  (registers every monitor)
from exporter.config import ModelConfig
from exporter.monitors import MONITORS
from exporter.performance.intervals import Z95, wilson
from exporter.window import Window


def test_z_is_the_two_sided_95_percent_quantile() -> None:
    assert norm.ppf(0.975) == pytest.approx(Z95, abs=1e-15)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (10, 10), (45, 50), (180, 200), (1, 3), (550, 600), (3, 1000)])
def test_wilson_equals_scipy(k: int, n: int) -> None:
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson(k / n, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_an_accuracy_dip_on_200_rows_is_within_its_interval() -> None:
    # the example: on 200 rows the sampling error alone is about +-0.04
    low, high = wilson(0.88, 200)
    assert low < 0.9 < high
    assert 0.03 < (high - low) / 2 < 0.05


def _window(truth: np.ndarray, predicted: np.ndarray, classes: np.ndarray) -> Window:
    n = len(truth)
    return Window(
        features=pd.DataFrame(index=range(n)),
        predictions=classes[predicted],
        probabilities=None,
        classes=classes,
        labels=classes[truth].astype(object),
        labelled=np.ones(n, dtype=bool),
        scored_at=np.zeros(n),
        labelled_at=np.zeros(n),
    )


def _bounds(figures: list, metric: str) -> tuple[float, float]:
    found = {f.name: f.value for f in figures if f.labels.get("metric") == metric}
    return found["mlmon_performance_interval_lower_ratio"], found["mlmon_performance_interval_upper_ratio"]


def _wilson_by_root(share: float, rows: float) -> tuple[float, float]:
    """The Wilson interval by its definition: the p whose score |share - p| / sqrt(p (1 - p) / n) is z."""

    def score(p: float) -> float:
        return abs(share - p) - Z95 * np.sqrt(p * (1 - p) / rows)

    return brentq(score, 1e-12, share), brentq(score, share, 1 - 1e-12)


def test_binary_intervals_are_on_the_rows_each_figure_is_a_share_of() -> None:
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 400)
    predicted = np.where(rng.random(400) < 0.85, truth, 1 - truth)
    model = ModelConfig(
        name="m", model_path="m.joblib", source={"path": "in"}, task="binary_classification", target_column="y"
    )
    figures = MONITORS["performance"].calculate(_window(truth, predicted, np.array([0, 1])), None, {}, model)
    tp = int(np.sum((truth == 1) & (predicted == 1)))
    fp = int(np.sum((truth == 0) & (predicted == 1)))
    fn = int(np.sum((truth == 1) & (predicted == 0)))
    for metric, k, n in (
        ("accuracy", int(np.sum(truth == predicted)), 400),
        ("precision", tp, tp + fp),
        ("recall", tp, tp + fn),
    ):
        expected = binomtest(k, n).proportion_ci(method="wilson")
        assert _bounds(figures, metric) == pytest.approx((expected.low, expected.high), abs=1e-12), metric
    # F1 = TP / (TP + (FP + FN) / 2): a share of TP + (FP + FN) / 2 rows
    rows = tp + (fp + fn) / 2
    assert _bounds(figures, "f1") == pytest.approx(_wilson_by_root(tp / rows, rows), abs=1e-9)


def test_multiclass_accuracy_interval() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 300)
    predicted = np.where(rng.random(300) < 0.7, truth, rng.integers(0, 3, 300))
    model = ModelConfig(
        name="m", model_path="m.joblib", source={"path": "in"}, task="multiclass_classification", target_column="y"
    )
    figures = MONITORS["performance"].calculate(_window(truth, predicted, np.array(["a", "b", "c"])), None, {}, model)
    expected = binomtest(int(np.sum(truth == predicted)), 300).proportion_ci(method="wilson")
    assert _bounds(figures, "accuracy") == pytest.approx((expected.low, expected.high), abs=1e-12)
    # a macro average rests on fewer rows than accuracy: its interval is wider
    low, high = _bounds(figures, "precision")
    assert high - low > expected.high - expected.low
