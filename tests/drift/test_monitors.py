"""The drift monitors on data sets where the drifted features, outputs or correlations are known."""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from exporter.config import ModelConfig
from exporter.figures import Figure
from exporter.monitors import Output
from exporter.monitors.drift import FeatureDrift
from exporter.monitors.multivariate import MultivariateDrift
from exporter.monitors.output_drift import OutputDrift
from exporter.reference.building import build_profile
from exporter.reference.profile import ReferenceProfile
from exporter.reference.storage import profile_from_bytes, profile_to_bytes
from exporter.window import Window

NUMERIC = [f"n{i}" for i in range(5)]
CATEGORICAL = ["colour", "size"]
SHIFTED = {"n1", "n3", "colour"}


def _model(**overrides: Any) -> ModelConfig:
    return ModelConfig(name="m", model_path="m.joblib", source={"path": "in"}, **overrides)


def _window(features: pd.DataFrame, **columns: Any) -> Window:
    rows = len(features)
    return Window(
        features=features,
        predictions=columns.get("predictions", np.zeros(rows)),
        probabilities=columns.get("probabilities"),
        classes=columns.get("classes"),
        labels=columns.get("labels", np.zeros(rows)),
        labelled=columns.get("labelled", np.zeros(rows, dtype=bool)),
        scored_at=np.zeros(rows),
        labelled_at=np.full(rows, np.nan),
    )


def _features(rng: np.random.Generator, rows: int, shift: bool) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for name in NUMERIC:
        data[name] = rng.normal(1.0 if shift and name in SHIFTED else 0.0, 1.0, rows)
    weights = [0.2, 0.3, 0.5] if shift else [0.5, 0.3, 0.2]
    data["colour"] = rng.choice(["red", "green", "blue"], rows, p=weights)
    data["size"] = rng.choice(["S", "M", "L"], rows, p=[0.3, 0.4, 0.3])
    return pd.DataFrame(data)


def _values(figures: Output, name: str) -> dict[str, float]:
    """Values of one family keyed by their feature label (or "" when the family has none)."""
    return {f.labels.get("feature", ""): f.value for f in figures if isinstance(f, Figure) and f.name == name}


def _scores(figures: Output) -> dict[str, Figure]:
    """The statistic or distance figure of each feature."""
    return {
        f.labels["feature"]: f
        for f in figures
        if f.name in ("mlmon_feature_drift_statistic", "mlmon_feature_drift_distance")
    }


def _single(figures: Output, name: str) -> float:
    (value,) = _values(figures, name).values()
    return value


@functools.cache
def _drifted(reference_rows: int) -> tuple[ReferenceProfile, Window]:
    rng = np.random.default_rng(11)
    reference = build_profile(_features(rng, reference_rows, shift=False), [], fingerprint="r")
    return reference, _window(_features(rng, 600, shift=True))


@pytest.fixture(params=[800, 3000], ids=["small reference: tests", "large reference: distances"])
def drifted_case(request: pytest.FixtureRequest) -> tuple[ReferenceProfile, Window]:
    return _drifted(request.param)


def test_exactly_the_shifted_features_are_flagged(drifted_case: tuple[ReferenceProfile, Window]) -> None:
    reference, window = drifted_case
    figures = FeatureDrift().calculate(window, reference, {}, _model())
    detected = _values(figures, "mlmon_feature_drift_detected")
    assert {name for name, flag in detected.items() if flag == 1.0} == SHIFTED
    assert set(detected) == set(NUMERIC + CATEGORICAL)
    assert _single(figures, "mlmon_drifted_features_ratio") == pytest.approx(3 / 7)
    assert _values(figures, "mlmon_series_dropped") == {"": 0.0}


def test_pvalues_only_for_tests(drifted_case: tuple[ReferenceProfile, Window]) -> None:
    reference, window = drifted_case
    figures = FeatureDrift().calculate(window, reference, {}, _model())
    methods = {name: f.labels["method"] for name, f in _scores(figures).items()}
    with_pvalue = {name for name, method in methods.items() if method in ("ks", "chisquare")}
    assert set(_values(figures, "mlmon_feature_drift_pvalue")) == with_pvalue
    # one kind of quantity per family: tests give statistic, p-value and significance level;
    # distances give distance and cut-off
    assert set(_values(figures, "mlmon_feature_drift_statistic")) == with_pvalue
    assert set(_values(figures, "mlmon_feature_drift_significance_level")) == with_pvalue
    assert set(_values(figures, "mlmon_feature_drift_distance")) == set(methods) - with_pvalue
    assert set(_values(figures, "mlmon_feature_drift_distance_threshold")) == set(methods) - with_pvalue
    assert set(_values(figures, "mlmon_feature_drift_severity")) == set(methods)
    if reference.rows <= 1000:
        assert methods["n0"] == "ks" and methods["colour"] == "chisquare"
        score = _values(figures, "mlmon_feature_drift_statistic")["n2"]
        expected = ks_2samp(reference.features["n2"].values, window.features["n2"])
        assert score == pytest.approx(expected.statistic, abs=1e-12)
    else:
        assert methods["n0"] == "wasserstein" and methods["colour"] == "jensenshannon"


@pytest.mark.parametrize(("share", "expected"), [(0.4, 1.0), (3 / 7, 1.0), (0.5, 0.0)])
def test_dataset_drift_follows_the_share(
    drifted_case: tuple[ReferenceProfile, Window], share: float, expected: float
) -> None:
    reference, window = drifted_case
    figures = FeatureDrift().calculate(window, reference, {}, _model(drift={"dataset_drift_share": share}))
    assert _single(figures, "mlmon_dataset_drift_detected") == expected


@pytest.mark.parametrize("limit", [1, 3, 5])
def test_cardinality_bound_keeps_drifted_features(
    drifted_case: tuple[ReferenceProfile, Window], limit: int, caplog: pytest.LogCaptureFixture
) -> None:
    reference, window = drifted_case
    with caplog.at_level(logging.WARNING):
        figures = FeatureDrift().calculate(window, reference, {}, _model(limits={"max_features": limit}))
    detected = _values(figures, "mlmon_feature_drift_detected")
    assert len(detected) == limit
    assert sum(detected.values()) == min(limit, len(SHIFTED))
    assert set(_scores(figures)) == set(detected)
    assert _values(figures, "mlmon_series_dropped") == {"": 7.0 - limit}
    assert _single(figures, "mlmon_drifted_features_ratio") == pytest.approx(3 / 7)
    hidden = set(NUMERIC + CATEGORICAL) - set(detected)
    assert all(name in caplog.text for name in hidden)


def test_bonferroni_publishes_adjusted_pvalues() -> None:
    reference, window = _drifted(800)
    raw = _values(FeatureDrift().calculate(window, reference, {}, _model()), "mlmon_feature_drift_pvalue")
    figures = FeatureDrift().calculate(window, reference, {}, _model(drift={"correction": "bonferroni"}))
    adjusted = _values(figures, "mlmon_feature_drift_pvalue")
    assert adjusted == pytest.approx({name: min(1.0, p * len(raw)) for name, p in raw.items()}, abs=1e-12)
    detected = _values(figures, "mlmon_feature_drift_detected")
    assert detected == {name: float(p < 0.05) for name, p in adjusted.items()}


def test_all_missing_column_in_window_is_skipped() -> None:
    rng = np.random.default_rng(3)
    reference = build_profile(_features(rng, 500, shift=False), [], fingerprint="r")
    current = _features(rng, 200, shift=False)
    current["n1"] = np.nan
    current["colour"] = None
    figures = FeatureDrift().calculate(_window(current), reference, {}, _model())
    detected = _values(figures, "mlmon_feature_drift_detected")
    assert set(detected) == set(NUMERIC + CATEGORICAL) - {"n1", "colour"}
    assert _single(figures, "mlmon_drifted_features_ratio") == pytest.approx(sum(detected.values()) / 5)


@pytest.mark.parametrize("monitor", [FeatureDrift(), OutputDrift(), MultivariateDrift()], ids=lambda m: m.name)
def test_no_reference_no_figures(monitor: Any) -> None:
    window = _window(_features(np.random.default_rng(0), 10, shift=False))
    assert monitor.calculate(window, None, {}, _model()) == []


# --- output drift ---


def _binary_reference(rng: np.random.Generator, rows: int) -> ReferenceProfile:
    positive = rng.beta(2, 5, rows)
    return build_profile(
        _features(rng, rows, shift=False),
        [],
        fingerprint="r",
        classes=np.array(["yes", "no"]),
        probabilities=np.column_stack([positive, 1 - positive]),
        predictions=np.where(positive > 0.5, "yes", "no"),
        labels=np.where(rng.uniform(size=rows) < positive, "yes", "no"),
    )


@pytest.mark.parametrize(("alpha", "beta", "drifted"), [(2, 5, 0.0), (5, 2, 1.0)])
def test_binary_prediction_drift_uses_the_positive_column(alpha: float, beta: float, drifted: float) -> None:
    rng = np.random.default_rng(5)
    reference = _binary_reference(rng, 600)
    positive = rng.beta(alpha, beta, 300)
    window = _window(
        _features(rng, 300, shift=False),
        probabilities=np.column_stack([positive, 1 - positive]),
        classes=np.array(["yes", "no"]),
        predictions=np.where(positive > 0.5, "yes", "no"),
    )
    figures = OutputDrift().calculate(window, reference, {}, _model(positive_class="yes"))
    (score,) = [f for f in figures if f.name == "mlmon_prediction_drift_statistic"]
    assert score.labels == {"method": "ks"}
    assert score.value == pytest.approx(ks_2samp(reference.probabilities[:, 0], positive).statistic, abs=1e-12)
    assert _single(figures, "mlmon_prediction_drift_detected") == drifted
    assert not [f for f in figures if f.name.startswith("mlmon_label_drift")]


@pytest.mark.parametrize(
    ("labelled_rows", "families"),
    [(29, set()), (30, {"statistic", "pvalue", "significance_level", "severity", "detected"})],
)
def test_label_drift_needs_min_rows(labelled_rows: int, families: set[str]) -> None:
    rng = np.random.default_rng(8)
    reference = _binary_reference(rng, 600)
    labelled = np.zeros(100, dtype=bool)
    labelled[:labelled_rows] = True
    window = _window(
        _features(rng, 100, shift=False),
        predictions=np.array(["yes"] * 100),
        labels=np.array(["yes"] * 100, dtype=object),
        labelled=labelled,
    )
    figures = OutputDrift().calculate(window, reference, {}, _model(task="binary_classification"))
    assert {f.name.removeprefix("mlmon_label_drift_") for f in figures if "label_drift" in f.name} == families
    if families:
        # every labelled row says "yes" where the reference has mostly "no": the label mix drifted
        assert _single(figures, "mlmon_label_drift_detected") == 1.0


def test_multiclass_prediction_drift_compares_predicted_labels() -> None:
    rng = np.random.default_rng(9)
    reference = build_profile(
        _features(rng, 500, shift=False), [], fingerprint="r", predictions=rng.choice([0, 1, 2], 500)
    )
    window = _window(_features(rng, 200, shift=False), predictions=np.full(200, 2.0))
    figures = OutputDrift().calculate(window, reference, {}, _model(task="multiclass_classification"))
    (score,) = [f for f in figures if f.name == "mlmon_prediction_drift_statistic"]
    assert score.labels == {"method": "chisquare"}
    assert _single(figures, "mlmon_prediction_drift_detected") == 1.0


def test_regression_residual_drift() -> None:
    rng = np.random.default_rng(10)
    truth = rng.normal(10, 2, 2000)
    reference = build_profile(
        _features(rng, 2000, shift=False),
        [],
        fingerprint="r",
        predictions=truth + rng.normal(0, 1, 2000),
        labels=truth,
    )
    window_truth = rng.normal(10, 2, 400)
    predictions = window_truth + 3.0 + rng.normal(0, 1, 400)  # a biased model: residuals move by -3
    window = _window(
        _features(rng, 400, shift=False), predictions=predictions, labels=window_truth, labelled=np.ones(400, bool)
    )
    figures = OutputDrift().calculate(window, reference, {}, _model(task="regression"))
    scores = {f.name: f for f in figures if f.name.endswith("_distance")}
    assert set(scores) == {
        "mlmon_prediction_drift_distance",
        "mlmon_label_drift_distance",
        "mlmon_residual_drift_distance",
    }
    assert all(f.labels == {"method": "wasserstein"} for f in scores.values())
    # residuals have a standard deviation near 1, so a bias of 3 is a distance near 3 reference units
    assert scores["mlmon_residual_drift_distance"].value == pytest.approx(3.0, rel=0.15)
    assert scores["mlmon_label_drift_distance"].value < 0.1
    # severity is the distance over its cut-off (0.1), drifted or not
    severity = _single(figures, "mlmon_residual_drift_severity")
    assert severity == pytest.approx(scores["mlmon_residual_drift_distance"].value / 0.1, rel=1e-12)
    assert _single(figures, "mlmon_label_drift_detected") == 0.0


# --- multivariate drift ---


def _correlated(rng: np.random.Generator, rows: int, sign: float) -> pd.DataFrame:
    x = rng.normal(0, 1, rows)
    y = sign * 0.9 * x + np.sqrt(1 - 0.81) * rng.normal(0, 1, rows)
    return pd.DataFrame({"x": x, "y": y, "flag": rng.choice(["a", "b"], rows), "still": np.full(rows, 4.0)})


@pytest.fixture(scope="module")
def multivariate_reference() -> tuple[ReferenceProfile, ModelConfig]:
    model = _model(drift={"multivariate": {"chunk_rows": 200}})
    reference = build_profile(_correlated(np.random.default_rng(21), 2000, 1.0), [], fingerprint="r")
    reference.fitted["multivariate_drift"] = MultivariateDrift().fit(reference, model)
    return reference, model


@pytest.mark.parametrize(("sign", "detected"), [(1.0, 0.0), (-1.0, 1.0)])
def test_broken_correlation_leaves_the_band(
    multivariate_reference: tuple[ReferenceProfile, ModelConfig], sign: float, detected: float
) -> None:
    reference, model = multivariate_reference
    fitted = reference.fitted["multivariate_drift"]
    assert fitted["columns"].tolist() == ["x", "y"]  # the constant column is dropped
    window = _window(_correlated(np.random.default_rng(22), 500, sign))
    figures = MultivariateDrift().calculate(window, reference, fitted, model)
    assert _single(figures, "mlmon_multivariate_drift_detected") == detected
    (band,) = [f for f in figures if f.name == "mlmon_threshold"]
    assert band.labels == {"metric": "multivariate_drift"}
    assert (_single(figures, "mlmon_multivariate_drift_score") > band.value) == bool(detected)
    # the marginals are unchanged, so no single feature drifts
    univariate = _values(FeatureDrift().calculate(window, reference, {}, model), "mlmon_feature_drift_detected")
    assert univariate["x"] == univariate["y"] == 0.0


def test_reconstruction_error_by_hand(multivariate_reference: tuple[ReferenceProfile, ModelConfig]) -> None:
    reference, model = multivariate_reference
    frame = _correlated(np.random.default_rng(23), 50, -1.0)
    frame.loc[3, "x"] = np.nan
    raw = pd.DataFrame({"x": reference.features["x"].values, "y": reference.features["y"].values})
    mean, std = raw.mean().to_numpy(), raw.std(ddof=0).to_numpy()
    z = ((frame[["x", "y"]] - mean) / std).fillna(0.0).to_numpy()
    # with one of two standardised components kept, the error is the distance to the first principal axis
    axis = np.linalg.eigh(np.cov(((raw - mean) / std).to_numpy().T))[1][:, -1]
    expected = np.mean(np.linalg.norm(z - np.outer(z @ axis, axis), axis=1))
    figures = MultivariateDrift().calculate(_window(frame), reference, reference.fitted["multivariate_drift"], model)
    assert _single(figures, "mlmon_multivariate_drift_score") == pytest.approx(expected, abs=1e-9)


def test_fitted_state_survives_the_profile_round_trip(
    multivariate_reference: tuple[ReferenceProfile, ModelConfig],
) -> None:
    reference, model = multivariate_reference
    restored = profile_from_bytes(profile_to_bytes(reference))
    window = _window(_correlated(np.random.default_rng(24), 300, -1.0))
    original = MultivariateDrift().calculate(window, reference, reference.fitted["multivariate_drift"], model)
    assert MultivariateDrift().calculate(window, restored, restored.fitted["multivariate_drift"], model) == original


@pytest.mark.parametrize(
    ("frame", "figures"),
    [
        (pd.DataFrame({"x": np.arange(300.0), "flag": ["a"] * 300}), set()),
        (pd.DataFrame({"x": np.arange(300.0), "y": np.sin(np.arange(300.0))}), {"mlmon_multivariate_drift_score"}),
    ],
    ids=["one numeric feature: nothing", "one chunk: score without band"],
)
def test_multivariate_without_enough_data(frame: pd.DataFrame, figures: set[str]) -> None:
    model = _model(drift={"multivariate": {"chunk_rows": 200}})
    reference = build_profile(frame, [], fingerprint="r")
    fitted = MultivariateDrift().fit(reference, model)
    output = MultivariateDrift().calculate(_window(frame.head(50)), reference, fitted, model)
    assert {f.name for f in output} == figures


@pytest.mark.parametrize(
    ("drift", "applies"),
    [({}, True), ({"multivariate": {"enabled": False}}, False), ({"enabled": False}, False)],
)
def test_multivariate_applies(drift: dict, applies: bool) -> None:
    assert MultivariateDrift().applies(_model(drift=drift)) is applies


def test_uncorrelated_features_keep_fewer_components_than_columns() -> None:
    # Two independent features: one component explains about half the variance, below the 0.65
    # asked for, yet keeping both would rebuild every row exactly and leave only rounding noise.
    rng = np.random.default_rng(31)
    model = _model(drift={"multivariate": {"chunk_rows": 200}})
    frame = pd.DataFrame({"x": rng.normal(0, 1, 2000), "y": rng.normal(0, 1, 2000)})
    reference = build_profile(frame, [], fingerprint="r")
    fitted = MultivariateDrift().fit(reference, model)
    assert fitted["components"].shape == (1, 2)
    assert fitted["upper"][0] > 0.1
    window = _window(pd.DataFrame({"x": rng.normal(0, 1, 500), "y": rng.normal(0, 1, 500)}))
    figures = MultivariateDrift().calculate(window, reference, fitted, model)
    assert _single(figures, "mlmon_multivariate_drift_score") > 0.1
    assert _single(figures, "mlmon_multivariate_drift_detected") == 0.0
