"""The performance, output, estimation, quality and labels monitors on hand-built windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.isotonic import IsotonicRegression

import exporter.monitors  # noqa: F401  (registers every monitor)
from exporter.catalogue import MODEL, spec
from exporter.config import ModelConfig
from exporter.figures import Figure
from exporter.monitors import MONITORS, Output, monitors_for
from exporter.reference.profile import FeatureProfile, ReferenceProfile
from exporter.window import Window

RNG = np.random.default_rng(17)


def _model(task: str, **extra: object) -> ModelConfig:
    return ModelConfig(name="m", model_path="m.joblib", source={"path": "in"}, task=task, target_column="y", **extra)


def _window(
    predictions: np.ndarray,
    labels: np.ndarray,
    labelled: np.ndarray,
    probabilities: np.ndarray | None = None,
    classes: np.ndarray | None = None,
    arrived: pd.DataFrame | None = None,
) -> Window:
    n = len(predictions)
    return Window(
        features=pd.DataFrame(index=range(n)),
        predictions=predictions,
        probabilities=probabilities,
        classes=classes,
        labels=labels,
        labelled=labelled,
        scored_at=np.full(n, 1000.0),
        labelled_at=np.where(labelled, 1000.0, np.nan),
        arrived=arrived if arrived is not None else pd.DataFrame(),
    )


def _values(figures: Output) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Figures by (name, labels); fails on a figure outside the catalogue or with the wrong labels."""
    out = {}
    for figure in figures:
        assert isinstance(figure, Figure)
        assert set(figure.labels) == set(spec(figure.name).labels) - set(MODEL), figure
        key = (figure.name, tuple(sorted(figure.labels.items())))
        assert key not in out, f"{key} published twice"
        out[key] = figure.value
    return out


def _binary_window(n: int, labelled_share: float) -> tuple[Window, np.ndarray]:
    """Classes are ints; labels arrive as text. Unlabelled rows hold a wrong label that must be ignored."""
    truth = RNG.integers(0, 2, n)
    score = np.clip(0.3 + 0.4 * truth + RNG.normal(0, 0.2, n), 0, 1)
    labelled = RNG.random(n) < labelled_share
    labels = np.where(labelled, truth.astype(str), (1 - truth).astype(str)).astype(object)
    window = _window(
        (score >= 0.5).astype(int), labels, labelled, np.column_stack([1 - score, score]), np.array([0, 1])
    )
    return window, truth


def test_binary_performance_uses_labelled_rows_only() -> None:
    window, truth = _binary_window(200, 0.5)
    rows = window.labelled
    y, predicted, score = truth[rows], window.predictions[rows], window.probabilities[rows, 1]
    got = _values(MONITORS["performance"].calculate(window, None, {}, _model("binary_classification")))
    expected = {
        "mlmon_accuracy_ratio": metrics.accuracy_score(y, predicted),
        "mlmon_precision_ratio": metrics.precision_score(y, predicted),
        "mlmon_recall_ratio": metrics.recall_score(y, predicted),
        "mlmon_f1_ratio": metrics.f1_score(y, predicted),
        "mlmon_roc_auc_ratio": metrics.roc_auc_score(y, score),
        "mlmon_log_loss": metrics.log_loss(y, window.probabilities[rows], labels=[0, 1]),
    }
    intervals = {
        (family, (("metric", metric),))
        for family in ("mlmon_performance_interval_lower_ratio", "mlmon_performance_interval_upper_ratio")
        for metric in ("accuracy", "precision", "recall", "f1")
    }
    assert got.keys() == {(name, ()) for name in expected} | intervals
    for name, value in expected.items():
        assert got[(name, ())] == pytest.approx(value, abs=1e-9), name


def test_positive_class_is_configurable() -> None:
    window, truth = _binary_window(120, 1.0)
    got = _values(
        MONITORS["performance"].calculate(window, None, {}, _model("binary_classification", positive_class=0))
    )
    expected = metrics.recall_score(truth, window.predictions, pos_label=0)
    assert got[("mlmon_recall_ratio", ())] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("labelled_rows", "published"), [(29, False), (30, True)])
def test_performance_waits_for_min_rows_labelled(labelled_rows: int, published: bool) -> None:
    window, _ = _binary_window(100, 0.0)
    window.labelled[:labelled_rows] = True
    figures = MONITORS["performance"].calculate(window, None, {}, _model("binary_classification"))
    assert bool(figures) is published


def test_multiclass_performance_bounds_class_series() -> None:
    classes = np.array(["a", "b", "c", "d"])
    truth = RNG.choice(4, 300, p=[0.1, 0.4, 0.3, 0.2])
    predicted = np.where(RNG.random(300) < 0.7, truth, RNG.integers(0, 4, 300))
    probabilities = RNG.dirichlet(np.ones(4), 300)
    window = _window(
        classes[predicted], classes[truth].astype(object), np.ones(300, dtype=bool), probabilities, classes
    )
    model = _model("multiclass_classification", limits={"max_classes": 2})
    got = _values(MONITORS["performance"].calculate(window, None, {}, model))
    y, p = classes[truth], classes[predicted]
    assert got[("mlmon_f1_ratio", ())] == pytest.approx(metrics.f1_score(y, p, average="macro"), abs=1e-9)
    assert got[("mlmon_weighted_recall_ratio", ())] == pytest.approx(
        metrics.recall_score(y, p, average="weighted"), abs=1e-9
    )
    assert got[("mlmon_roc_auc_ratio", ())] == pytest.approx(
        metrics.roc_auc_score(y, probabilities, multi_class="ovr", labels=classes), abs=1e-9
    )
    # b and c are the two most frequent true classes
    per_class = {(name, labels) for name, labels in got if name.startswith("mlmon_class_")}
    assert per_class == {
        (name, (("class", cls),))
        for name in ("mlmon_class_precision_ratio", "mlmon_class_recall_ratio")
        for cls in "bc"
    }
    assert got[("mlmon_class_recall_ratio", (("class", "c"),))] == pytest.approx(
        metrics.recall_score(y, p, labels=["c"], average=None)[0], abs=1e-9
    )
    # the dropped count has one owner, the output monitor, so two monitors never race for one series
    assert ("mlmon_series_dropped", (("kind", "class"),)) not in got


def test_regression_performance_with_text_labels() -> None:
    truth = RNG.normal(10, 2, 60)
    predicted = truth + RNG.normal(0, 1, 60)
    labelled = np.arange(60) < 40
    window = _window(predicted, np.array([str(v) for v in truth.tolist()], dtype=object), labelled)
    got = _values(MONITORS["performance"].calculate(window, None, {}, _model("regression")))
    y, p = truth[:40], predicted[:40]
    expected = {
        "mlmon_mean_absolute_error": metrics.mean_absolute_error(y, p),
        "mlmon_root_mean_squared_error": np.sqrt(metrics.mean_squared_error(y, p)),
        "mlmon_mean_absolute_percentage_error_ratio": metrics.mean_absolute_percentage_error(y, p),
        "mlmon_r2_score": metrics.r2_score(y, p),
    }
    assert got.keys() == {(name, ()) for name in expected}
    for name, value in expected.items():
        assert got[(name, ())] == pytest.approx(value, abs=1e-9), name


def test_output_classification() -> None:
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.6, 0.4, 0.0]])
    classes = np.array([10, 20, 30])
    window = _window(
        np.array([10, 20, 30, 10]), np.empty(4, dtype=object), np.zeros(4, dtype=bool), probabilities, classes
    )
    got = _values(
        MONITORS["output"].calculate(window, None, {}, _model("multiclass_classification", limits={"max_classes": 2}))
    )
    assert got == {
        ("mlmon_mean_confidence_ratio", ()): pytest.approx((0.9 + 0.7 + 0.4 + 0.6) / 4),
        ("mlmon_predicted_class_ratio", (("class", "10"),)): pytest.approx(0.5),
        ("mlmon_predicted_class_ratio", (("class", "20"),)): pytest.approx(0.25),
        ("mlmon_series_dropped", (("kind", "class"),)): 1.0,
    }


def test_output_regression() -> None:
    window = _window(np.array([1.0, 2.0, 6.0]), np.full(3, np.nan), np.zeros(3, dtype=bool))
    assert _values(MONITORS["output"].calculate(window, None, {}, _model("regression"))) == {
        ("mlmon_mean_prediction", ()): pytest.approx(3.0)
    }


def _reference(rows: int, labelled: bool = True) -> ReferenceProfile:
    truth = RNG.integers(0, 2, rows)
    score = np.clip(0.2 + 0.6 * truth + RNG.normal(0, 0.25, rows), 0, 1)
    return ReferenceProfile(
        fingerprint="f",
        rows=rows,
        features={},
        classes=np.array([0, 1]),
        predictions=(score >= 0.5).astype(int),
        probabilities=np.column_stack([1 - score, score]),
        labels=truth if labelled else None,
    )


def _estimate_errors(names: object) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Keys of the standard error and 95 % interval each estimate comes with."""
    keys = set()
    for name in names:  # type: ignore[attr-defined]
        keys.add(("mlmon_estimated_performance_standard_error_ratio", (("metric", name),)))
        for family in ("mlmon_performance_interval_lower_ratio", "mlmon_performance_interval_upper_ratio"):
            keys.add((family, (("metric", f"estimated_{name}"),)))
    return keys


def test_estimation_needs_no_window_labels() -> None:
    monitor, model = MONITORS["estimation"], _model("binary_classification")
    reference = _reference(400)
    reference.labels = reference.labels.astype(str)
    fitted = monitor.fit(reference, model)
    window, _ = _binary_window(150, 0.0)
    assert window.labelled_rows == 0
    got = _values(monitor.calculate(window, None, fitted, model))
    # the reference scores are noisy and clipped, far from calibrated, so the isotonic fit is kept
    assert fitted["calibrated"][0]
    isotonic = IsotonicRegression(out_of_bounds="clip").fit(reference.probabilities[:, 1], reference.labels == "1")
    score = isotonic.predict(window.probabilities[:, 1])
    called = window.predictions == 1
    tp, fp, fn = score[called].sum(), (1 - score[called]).sum(), score[~called].sum()
    expected = {
        "accuracy": np.mean(np.where(called, score, 1 - score)),
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn),
    }
    assert got.keys() == {(f"mlmon_estimated_{name}_ratio", ()) for name in expected} | _estimate_errors(expected)
    for name, value in expected.items():
        assert got[(f"mlmon_estimated_{name}_ratio", ())] == pytest.approx(value, abs=1e-9), name


def test_estimation_multiclass_calibrates_the_predicted_class_probability() -> None:
    classes = np.array([1, 2, 3])
    truth = RNG.integers(0, 3, 600)
    logits = RNG.normal(0, 1, (600, 3))
    logits[np.arange(600), truth] += 1.0
    # overconfident probabilities: a sharpened softmax
    probabilities = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    reference = ReferenceProfile("f", 400, {}, classes, classes[predicted[:400]], probabilities[:400], truth[:400] + 1)
    monitor, model = MONITORS["estimation"], _model("multiclass_classification")
    fitted = monitor.fit(reference, model)
    assert fitted["calibrated"][0]
    confidence = probabilities.max(axis=1)
    isotonic = IsotonicRegression(out_of_bounds="clip").fit(confidence[:400], predicted[:400] == truth[:400])
    window = _window(
        classes[predicted[400:]], np.empty(200, dtype=object), np.zeros(200, dtype=bool), probabilities[400:], classes
    )
    got = _values(monitor.calculate(window, None, fitted, model))
    expected = isotonic.predict(confidence[400:]).mean()
    assert got.keys() == {("mlmon_estimated_accuracy_ratio", ())} | _estimate_errors(["accuracy"])
    assert got[("mlmon_estimated_accuracy_ratio", ())] == pytest.approx(expected, abs=1e-9)


def test_estimation_multiclass_accuracy_without_calibration_is_mean_confidence() -> None:
    classes = np.array(["x", "y", "z"])
    probabilities = RNG.dirichlet(np.ones(3) * 2, 50)
    window = _window(
        classes[probabilities.argmax(axis=1)],
        np.empty(50, dtype=object),
        np.zeros(50, dtype=bool),
        probabilities,
        classes,
    )
    got = _values(
        MONITORS["estimation"].calculate(
            window, None, {"calibrated": np.array([False])}, _model("multiclass_classification")
        )
    )
    confidence = probabilities.max(axis=1)
    assert got[("mlmon_estimated_accuracy_ratio", ())] == pytest.approx(confidence.mean(), abs=1e-12)
    # each row is right with its confidence: the realized accuracy's spread is the Poisson-binomial one
    error = got[("mlmon_estimated_performance_standard_error_ratio", (("metric", "accuracy"),))]
    assert error == pytest.approx(np.sqrt(np.sum(confidence * (1 - confidence))) / 50, abs=1e-12)


@pytest.mark.parametrize(
    "reference",
    [
        _reference(400, labelled=False),
        _reference(49),
        ReferenceProfile(
            "f",
            60,
            {},
            np.array([0, 1]),
            np.zeros(60, dtype=int),
            np.tile([0.8, 0.2], (60, 1)),
            np.zeros(60, dtype=int),
        ),
    ],
    ids=["no labels", "49 labelled rows", "one class"],
)
def test_estimation_skipped_without_usable_reference_labels(reference: ReferenceProfile) -> None:
    model = _model("binary_classification")
    fitted = MONITORS["estimation"].fit(reference, model)
    assert fitted == {}
    window, _ = _binary_window(60, 0.0)
    assert MONITORS["estimation"].calculate(window, reference, fitted, model) == []


def test_estimation_and_performance_do_not_apply_where_they_cannot() -> None:
    assert MONITORS["estimation"] not in monitors_for(_model("regression"))
    assert MONITORS["estimation"] not in monitors_for(_model("binary_classification", estimation=False))
    unlabelled = ModelConfig(name="m", model_path="m.joblib", source={"path": "in"})
    assert MONITORS["performance"] not in monitors_for(unlabelled)
    assert MONITORS["labels"] not in monitors_for(unlabelled)


def test_quality_keeps_the_worst_features() -> None:
    arrived = pd.DataFrame({"a": [1.0, None, None, 4.0], "b": [1.0, 2.0, 3.0, 4.0], "c": [None, 2.0, 3.0, 4.0]})
    profile = ReferenceProfile(
        fingerprint="f",
        rows=2,
        features={name: FeatureProfile(name, "numeric", np.array([1.0, 3.0]), 0.0, 1.0, 3.0) for name in "abc"},
    )
    window = _window(np.zeros(4), np.empty(4, dtype=object), np.zeros(4, dtype=bool), arrived=arrived)
    got = _values(MONITORS["quality"].calculate(window, profile, {}, _model("regression", limits={"max_features": 2})))
    # a: half missing; b: a quarter out of range; c: a quarter missing and a quarter out of range: a and c are worst
    assert got == {
        ("mlmon_feature_missing_ratio", (("feature", "a"),)): 0.5,
        ("mlmon_feature_out_of_range_ratio", (("feature", "a"),)): 0.25,
        ("mlmon_feature_missing_ratio", (("feature", "c"),)): 0.25,
        ("mlmon_feature_out_of_range_ratio", (("feature", "c"),)): 0.25,
    }


def test_labels_ratio_and_delay() -> None:
    labelled = np.array([True, True, True, False])
    window = _window(np.zeros(4), np.zeros(4), labelled)
    window.scored_at = np.array([100.0, 100.0, 200.0, 300.0])
    window.labelled_at = np.array([100.0, 160.0, np.nan, np.nan])
    got = _values(MONITORS["labels"].calculate(window, None, {}, _model("regression")))
    # the third row's label time is unknown, so the mean delay is over the first two: (0 + 60) / 2
    assert got == {("mlmon_labelled_rows_ratio", ()): 0.75, ("mlmon_label_delay_seconds", ()): 30.0}


@pytest.mark.parametrize("classes", [2, 5, 40])
def test_mean_confidence_is_the_mean_highest_probability(classes: int) -> None:
    probabilities = RNG.dirichlet(np.ones(classes), 300)
    window = _window(
        probabilities.argmax(axis=1), np.empty(300, dtype=object), np.zeros(300, dtype=bool), probabilities
    )
    got = _values(MONITORS["output"].calculate(window, None, {}, _model("multiclass_classification")))
    assert got[("mlmon_mean_confidence_ratio", ())] == probabilities.max(axis=1).mean()


def test_estimation_takes_the_most_probable_class_where_a_prediction_matches_no_class() -> None:
    classes = np.array(["x", "y", "z"])
    probabilities = RNG.dirichlet(np.ones(3), 60)
    most_probable = classes[probabilities.argmax(axis=1)]
    predictions = most_probable.astype(object)
    predictions[::4] = "unknown"
    fitted, model = {"calibrated": np.array([False])}, _model("multiclass_classification")
    empty, unlabelled = np.empty(60, dtype=object), np.zeros(60, dtype=bool)
    with_unknown = _window(predictions, empty, unlabelled, probabilities, classes)
    as_most_probable = _window(most_probable, empty, unlabelled, probabilities, classes)
    assert MONITORS["estimation"].calculate(with_unknown, None, fitted, model) == MONITORS["estimation"].calculate(
        as_most_probable, None, fitted, model
    )
