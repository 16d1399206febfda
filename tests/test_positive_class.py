"""One positive-class lookup: output drift, performance and the load-time warning judge the same class.

With float classes [0.0, 1.0] and ``positive_class: 0``, the class is matched as a number (as labels
are), so every monitor takes class 0.0, never the last column.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn import metrics

from exporter.config import ModelConfig
from exporter.deployment import Deployment
from exporter.figures import Figure
from exporter.model import LoadedModel
from exporter.monitors import MONITORS
from exporter.performance import positive_index
from exporter.reference.building import build_profile
from exporter.window import Window

CLASSES = np.array([0.0, 1.0])


def _model(**extra: object) -> ModelConfig:
    return ModelConfig(
        name="m", model_path="m.joblib", source={"path": "in"}, target_column="y", positive_class=0, **extra
    )


def _window(probabilities: np.ndarray, labels: np.ndarray) -> Window:
    n = len(probabilities)
    return Window(
        features=pd.DataFrame({"x": np.zeros(n)}),
        predictions=CLASSES[(probabilities[:, 1] >= 0.5).astype(int)],
        probabilities=probabilities,
        classes=CLASSES,
        labels=labels,
        labelled=np.ones(n, dtype=bool),
        scored_at=np.zeros(n),
        labelled_at=np.zeros(n),
    )


def _value(figures: list, name: str) -> float:
    (value,) = [f.value for f in figures if isinstance(f, Figure) and f.name == name]
    return value


@pytest.mark.parametrize(("positive", "index"), [(0, 0), ("0", 0), (1, 1), ("0.0", 0), ("yes", 1)])
def test_positive_index_matches_float_classes_as_numbers(positive: int | str, index: int) -> None:
    assert positive_index(CLASSES, positive) == index


@pytest.mark.parametrize(
    "classes",
    [CLASSES, np.array([0, 1]), np.array([False, True]), np.array(["no", "yes"]), np.array([" 1", "2.5", "b"])],
)
def test_the_configured_positive_class_is_matched_as_a_label_would_be(classes: np.ndarray) -> None:
    from exporter.performance import UNMATCHED, class_indices, configured_positive_index

    for positive in [0, 1, "1", "1.0", " yes", "yes", "no", "2.5", 2, "b", "True", "c", -3]:
        as_label = int(class_indices(np.array([positive], dtype=object), classes)[0])
        expected = None if as_label == UNMATCHED else as_label
        assert configured_positive_index(classes, positive) == expected, (classes, positive)


def test_output_drift_and_performance_both_use_class_zero() -> None:
    rng = np.random.default_rng(3)
    # the two columns are drawn apart (they need not sum to 1 here) so the column taken shows
    reference_probabilities = np.column_stack([rng.beta(2, 5, 500), rng.beta(2, 2, 500)])
    window_probabilities = np.column_stack([rng.beta(5, 2, 300), rng.beta(2, 2, 300)])
    reference = build_profile(
        pd.DataFrame({"x": rng.normal(size=500)}),
        [],
        fingerprint="r",
        classes=CLASSES,
        probabilities=reference_probabilities,
        predictions=CLASSES[(reference_probabilities[:, 1] >= 0.5).astype(int)],
    )
    truth = CLASSES[rng.integers(0, 2, 300)]
    window = _window(window_probabilities, truth)

    drift = MONITORS["output_drift"].calculate(window, reference, {}, _model())
    expected = ks_2samp(reference_probabilities[:, 0], window_probabilities[:, 0]).statistic
    assert _value(drift, "mlmon_prediction_drift_statistic") == pytest.approx(expected, abs=1e-12)

    performance = MONITORS["performance"].calculate(window, None, {}, _model())
    recall = metrics.recall_score(truth, window.predictions, pos_label=0.0)
    assert _value(performance, "mlmon_recall_ratio") == pytest.approx(recall, abs=1e-12)


def test_a_numeric_positive_class_of_float_classes_is_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    def loader(path: Path, task: str) -> LoadedModel:
        return LoadedModel(estimator=None, classes=CLASSES, feature_names=["x"], digest="d")

    with caplog.at_level(logging.WARNING, logger="exporter"):
        Deployment(_model(), "m:1", loader).current()
        assert "positive_class" not in caplog.text
        Deployment(_model().model_copy(update={"positive_class": "yes"}), "m:1", loader).current()
        assert "positive_class 'yes' is not one of the classes [0.0, 1.0]" in caplog.text
