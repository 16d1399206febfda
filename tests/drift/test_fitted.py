"""Comparing against a fitted reference gives scipy's answers, on samples large enough that the
fitted shortcuts (not scipy's exact small-sample path) are taken, and the monitors give the same
figures with their fitted state as without it, before and after the profile is stored."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from exporter.config import ModelConfig
from exporter.drift import METHODS
from exporter.drift.fitting import FittedColumn, pack, unpack
from exporter.drift.ks import EXACT_ROWS
from exporter.monitors.drift import FeatureDrift
from exporter.monitors.output_drift import OutputDrift
from exporter.reference.building import build_profile
from exporter.reference.storage import profile_from_bytes, profile_to_bytes
from exporter.window import Window

from support.numba import require_numba
from support.overlaps import overlap_sum

RNG = np.random.default_rng(2024)
LARGE = EXACT_ROWS * 3


def _samples(shape: str, reference_rows: int, current_rows: int) -> tuple[np.ndarray, np.ndarray]:
    if shape == "normal, shifted":
        return np.sort(RNG.normal(0, 1, reference_rows)), RNG.normal(0.05, 1, current_rows)
    if shape == "lognormal in thousands":
        return np.sort(RNG.lognormal(0, 1, reference_rows) * 1000), RNG.lognormal(0.1, 1, current_rows) * 1000
    if shape == "heavy tails far from zero":
        return np.sort(RNG.standard_t(2, reference_rows) + 1e4), RNG.standard_t(2, current_rows) + 1e4 + 0.1
    if shape == "ties":
        return np.sort(RNG.integers(0, 40, reference_rows).astype(float)), RNG.integers(2, 44, current_rows) * 1.0
    if shape == "window beyond the reference":
        return np.sort(RNG.normal(0, 1, reference_rows)), RNG.normal(8, 1, current_rows)
    raise AssertionError(shape)


SHAPES = [
    "normal, shifted",
    "lognormal in thousands",
    "heavy tails far from zero",
    "ties",
    "window beyond the reference",
]
SIZES = [(LARGE, 2_000), (2_000, LARGE), (LARGE, LARGE), (100_000, 1)]


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("shape", SHAPES)
def test_fitted_ks_and_wasserstein_equal_scipy(shape: str, sizes: tuple[int, int]) -> None:
    reference, current = _samples(shape, *sizes)
    expected = ks_2samp(reference, current)
    ks = METHODS["ks"].compare(reference, METHODS["ks"].fit(reference), current)
    assert ks.score == pytest.approx(expected.statistic, abs=1e-12)
    assert ks.pvalue == pytest.approx(expected.pvalue, abs=1e-9)
    wasserstein = METHODS["wasserstein"].compare(reference, METHODS["wasserstein"].fit(reference), current)
    assert wasserstein.score == pytest.approx(wasserstein_distance(reference, current) / np.std(reference), abs=1e-9)


@pytest.mark.parametrize("shape", SHAPES)
def test_fitted_histogram_methods_equal_the_one_shot_counts(shape: str) -> None:
    reference, current = _samples(shape, LARGE, 5_000)
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins=30)
    expected = jensenshannon(np.histogram(reference, edges)[0], np.histogram(current, edges)[0], base=2)
    js = METHODS["jensenshannon"]
    assert js.compare(reference, js.fit(reference), current).score == pytest.approx(expected, abs=1e-9)
    deciles = np.unique(np.quantile(reference, np.linspace(0, 1, 11)[1:-1]))
    shares = [
        np.bincount(np.searchsorted(deciles, side, "right"), minlength=deciles.size + 1) / side.size
        for side in (reference, current)
    ]
    expected_share, actual_share = (np.where(s == 0, 1e-4, s) for s in shares)
    psi = METHODS["psi"]
    assert psi.compare(reference, psi.fit(reference), current).score == pytest.approx(
        float(np.sum((actual_share - expected_share) * np.log(actual_share / expected_share))), abs=1e-9
    )


def test_fitted_categories_equal_scipy() -> None:
    reference = RNG.choice(["a", "b", "c", "d"], LARGE, p=[0.4, 0.3, 0.2, 0.1])
    current = RNG.choice(["a", "b", "c", "new"], 4_000, p=[0.3, 0.3, 0.3, 0.1])
    categories = ["a", "b", "c", "d", "new"]
    table = np.array([[np.count_nonzero(side == c) for c in categories] for side in (reference, current)])
    chi = METHODS["chisquare"].compare(reference, METHODS["chisquare"].fit(reference), current)
    statistic, pvalue, _, _ = chi2_contingency(table, correction=False)
    assert (chi.score, chi.pvalue) == (pytest.approx(statistic, abs=1e-9), pytest.approx(pvalue, abs=1e-9))
    js = METHODS["jensenshannon"].compare(reference, METHODS["jensenshannon"].fit(reference), current)
    assert js.score == pytest.approx(jensenshannon(table[0], table[1], base=2), abs=1e-9)


def test_packed_columns_keep_names_that_look_like_each_others_prefixes() -> None:
    names = ["a", "a.b", 'say "a"', "a.method", ""]
    columns = {
        name: FittedColumn("psi", "numeric", index, {"edges": np.arange(index + 1.0)})
        for index, name in enumerate(names)
    }
    restored = unpack(pack(columns))
    assert sorted(restored) == sorted(names)
    for index, name in enumerate(names):
        assert restored[name].distinct == index
        np.testing.assert_array_equal(restored[name].state["edges"], np.arange(index + 1.0))


def _model(**overrides: Any) -> ModelConfig:
    return ModelConfig(name="m", model_path="m.joblib", source={"path": "in"}, target_column="y", **overrides)


def _window(features: pd.DataFrame, **columns: Any) -> Window:
    rows = len(features)
    labelled = np.ones(rows, dtype=bool)
    return Window(
        features=features,
        predictions=columns["predictions"],
        probabilities=columns.get("probabilities"),
        classes=columns.get("classes"),
        labels=columns["labels"],
        labelled=labelled,
        scored_at=np.zeros(rows),
        labelled_at=np.zeros(rows),
    )


def _frame(rows: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "wide": RNG.normal(shift, 1, rows),
            "few": RNG.integers(0, 4, rows).astype(float),
            "colour": RNG.choice(["red", "green", "blue"], rows),
            "gappy": np.where(RNG.random(rows) < 0.2, np.nan, RNG.lognormal(shift, 1, rows)),
        }
    )


@pytest.mark.parametrize("method", ["auto", "ks", "psi", "jensenshannon", "chisquare"])
@pytest.mark.parametrize("reference_rows", [800, 12_000])
# 300 rows against 12,000: Wasserstein by runs, placed by the stored sketch
@pytest.mark.parametrize("window_rows", [3_000, 300])
def test_feature_drift_with_fitted_state_equals_without(method: str, reference_rows: int, window_rows: int) -> None:
    model = _model(drift={"method": method})
    reference = build_profile(_frame(reference_rows, 0.0), ["colour"], fingerprint="r")
    stored = profile_from_bytes(profile_to_bytes(reference))
    fitted = profile_from_bytes(profile_to_bytes(_with_fit(reference, FeatureDrift(), model))).fitted["feature_drift"]
    window = _window(_frame(window_rows, 0.2), predictions=np.zeros(window_rows), labels=np.zeros(window_rows))
    assert FeatureDrift().calculate(window, stored, fitted, model) == FeatureDrift().calculate(
        window, stored, {}, model
    )


def _with_fit(reference: Any, monitor: Any, model: ModelConfig) -> Any:
    reference.fitted[monitor.name] = monitor.fit(reference, model)
    return reference


@pytest.mark.parametrize("task", ["binary_classification", "multiclass_classification", "regression"])
def test_output_drift_with_fitted_state_equals_without(task: str) -> None:
    rows, window_rows = 5_000, 1_500
    model = _model(task=task, positive_class="yes")
    if task == "regression":
        truth = RNG.normal(10, 2, rows + window_rows)
        predictions, labels, probabilities, classes = truth + RNG.normal(0.5, 1, truth.size), truth, None, None
    else:
        classes = np.array(["yes", "no"]) if task == "binary_classification" else np.array(["a", "b", "c"])
        probabilities = RNG.dirichlet(np.ones(classes.size), rows + window_rows)
        predictions = classes[probabilities.argmax(axis=1)]
        labels = RNG.choice(classes, rows + window_rows).astype(object)
    reference = build_profile(
        _frame(rows, 0.0),
        ["colour"],
        fingerprint="r",
        classes=classes,
        predictions=predictions[:rows],
        probabilities=None if probabilities is None else probabilities[:rows],
        labels=labels[:rows],
    )
    fitted = profile_from_bytes(profile_to_bytes(_with_fit(reference, OutputDrift(), model))).fitted["output_drift"]
    assert unpack(fitted)
    window = _window(
        _frame(window_rows, 0.1),
        predictions=predictions[rows:],
        probabilities=None if probabilities is None else probabilities[rows:],
        classes=classes,
        labels=labels[rows:],
    )
    with_state = OutputDrift().calculate(window, reference, fitted, model)
    assert with_state == OutputDrift().calculate(window, reference, {}, model)
    assert {f.name for f in with_state} >= {"mlmon_prediction_drift_severity", "mlmon_label_drift_severity"}
    if task == "regression":
        assert "mlmon_residual_drift_severity" in {f.name for f in with_state}


def test_output_drift_falls_back_when_the_window_has_no_probabilities() -> None:
    model = _model(task="binary_classification", positive_class="yes")
    classes = np.array(["yes", "no"])
    probabilities = RNG.dirichlet([1, 1], 2_000)
    reference = build_profile(
        _frame(2_000, 0.0),
        ["colour"],
        fingerprint="r",
        classes=classes,
        predictions=classes[probabilities.argmax(axis=1)],
        probabilities=probabilities,
        labels=classes[probabilities.argmax(axis=1)],
    )
    fitted = OutputDrift().fit(reference, model)
    window = _window(
        _frame(500, 0.0), predictions=np.array(["yes"] * 500), classes=classes, labels=np.array(["yes"] * 500)
    )
    figures = OutputDrift().calculate(window, reference, fitted, model)
    assert figures == OutputDrift().calculate(window, reference, {}, model)
    (score,) = [f for f in figures if f.name == "mlmon_prediction_drift_distance"]
    assert score.labels["method"] == "jensenshannon"  # predicted labels, compared as categories


def test_multivariate_drift_in_chunks_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.monitors import multivariate

    model = _model(drift={"multivariate": {"chunk_rows": 100}})
    base = RNG.normal(0, 1, 3_000)
    frame = pd.DataFrame({"x": base, "y": base + RNG.normal(0, 0.3, 3_000), "z": RNG.normal(0, 1, 3_000)})
    reference = build_profile(frame, [], fingerprint="r")
    fitted = multivariate.MultivariateDrift().fit(reference, model)
    window_frame = frame.sample(frac=0.5, random_state=1).reset_index(drop=True)
    window_frame.loc[::11, "y"] = np.nan
    window = _window(window_frame, predictions=np.zeros(1_500), labels=np.zeros(1_500))
    whole = multivariate.MultivariateDrift().calculate(window, reference, fitted, model)
    monkeypatch.setattr(multivariate, "CHUNK_ROWS", 7)
    chunked = multivariate.MultivariateDrift().calculate(window, reference, fitted, model)
    assert [f.name for f in chunked] == [f.name for f in whole]
    for ours, theirs in zip(chunked, whole):
        assert ours.value == pytest.approx(theirs.value, abs=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_wasserstein_of_a_window_far_larger_than_the_reference_equals_scipy(shape: str) -> None:
    # the window is sorted and paired with the reference, several passes of its values each
    reference, current = _samples(shape, 1_500, 400_000)
    wasserstein = METHODS["wasserstein"].compare(reference, METHODS["wasserstein"].fit(reference), current)
    assert wasserstein.score == pytest.approx(wasserstein_distance(reference, current) / np.std(reference), abs=1e-9)


def test_features_compared_side_by_side_equal_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.monitors import drift

    model = _model()
    reference = build_profile(_frame(5_000, 0.0), ["colour"], fingerprint="r")
    fitted = FeatureDrift().fit(reference, model)
    window = _window(_frame(20_000, 0.2), predictions=np.zeros(20_000), labels=np.zeros(20_000))
    monkeypatch.setattr(drift, "PARALLEL_VALUES", 0)
    side_by_side = FeatureDrift().calculate(window, reference, fitted, model)
    monkeypatch.setattr(drift, "PARALLEL_VALUES", 10**12)
    assert side_by_side == FeatureDrift().calculate(window, reference, fitted, model)


@pytest.mark.parametrize("chunk_rows", [65_536, 64])
@pytest.mark.parametrize("lacking", [False, True])
def test_multivariate_drift_with_missing_and_infinite_values_equals_the_plain_formula(
    chunk_rows: int, lacking: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.monitors import multivariate

    monkeypatch.setattr(multivariate, "CHUNK_ROWS", chunk_rows)
    model = _model(drift={"multivariate": {"chunk_rows": 100}})
    base = RNG.normal(0, 1, 2_000)
    frame = pd.DataFrame({"x": base, "y": base + RNG.normal(0, 0.3, 2_000), "z": RNG.normal(0, 1, 2_000)})
    reference = build_profile(frame, [], fingerprint="r")
    fitted = multivariate.MultivariateDrift().fit(reference, model)
    window_frame = frame.head(700).copy()
    window_frame.loc[::5, "x"] = np.inf
    window_frame.loc[::7, "y"] = np.nan
    window_frame["z"] = window_frame["z"].astype(object)  # not a float column: coerced, not read in place
    window_frame.loc[3, "z"] = "n/a"
    if lacking:  # a window without a feature: missing in every row
        window_frame = window_frame.drop(columns=["y"])
    window = _window(window_frame, predictions=np.zeros(700), labels=np.zeros(700))
    (score, *_) = multivariate.MultivariateDrift().calculate(window, reference, fitted, model)
    numbers = np.array(
        window_frame.reindex(columns=["x", "y", "z"]).apply(pd.to_numeric, errors="coerce"), dtype=np.float64
    )
    numbers[~np.isfinite(numbers)] = np.nan
    standardised = np.nan_to_num((numbers - fitted["mean"]) / fitted["std"], nan=0.0)
    components = fitted["components"]
    residual = standardised - standardised @ components.T @ components
    assert score.value == pytest.approx(np.mean(np.linalg.norm(residual, axis=1)), abs=1e-12)


@pytest.fixture(params=["compiled loop", "numpy calls"])
def runs_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each sketched-runs test once through the compiled loop and once through the numpy calls."""
    from exporter.drift import wasserstein_kernel

    if request.param == "compiled loop":
        require_numba()
    else:
        monkeypatch.setattr(wasserstein_kernel, "compiled", lambda: None)
    return str(request.param)


def _straddling(reference_rows: int, current_rows: int) -> tuple[np.ndarray, np.ndarray]:
    # each window value sits in the middle of the run of reference values under its quantile stretch
    reference = np.sort(RNG.normal(0, 1, reference_rows))
    current = np.quantile(reference, (np.arange(current_rows) + 0.5) / current_rows) + 1e-9
    return reference, RNG.permutation(current)


@pytest.mark.parametrize(
    ("reference_rows", "current_rows"),
    [(250_000, 10_000), (200_000, 7), (99_991, 1_013), (1_000, 1), (21, 1)],
)
@pytest.mark.parametrize("shape", [*SHAPES, "straddling"])
def test_wasserstein_by_quantile_runs_equals_scipy(
    shape: str, reference_rows: int, current_rows: int, runs_path: str
) -> None:
    from exporter.drift.wasserstein import RUNS_RATIO

    assert reference_rows > RUNS_RATIO * current_rows  # the reference is large enough to be read by runs
    if shape == "straddling":
        reference, current = _straddling(reference_rows, current_rows)
    else:
        reference, current = _samples(shape, reference_rows, current_rows)
    wasserstein = METHODS["wasserstein"]
    score = wasserstein.compare(reference, wasserstein.fit(reference), current).score
    scale = np.std(reference) if reference[0] != reference[-1] else 1.0
    assert score == pytest.approx(wasserstein_distance(reference, current) / scale, abs=1e-9)


def test_straddling_runs_are_split_by_search(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.drift import wasserstein as module

    reference, current = _straddling(100_000, 1_000)
    cumulative, centre = module.centred_sums(reference)
    split: list[int] = []
    real = module._split_runs
    monkeypatch.setattr(module, "_split_runs", lambda *args: split.append(args[2].size) or real(*args))

    distance = module.wasserstein_to_larger(reference, cumulative, centre, current)
    # nearly every run holds its window value and is split
    assert split and split[0] > 900
    assert distance == pytest.approx(wasserstein_distance(reference, current), abs=1e-9)
    # a window far from the reference splits none
    split.clear()
    far = current + 100.0
    assert module.wasserstein_to_larger(reference, cumulative, centre, far) == pytest.approx(
        wasserstein_distance(reference, far), abs=1e-9
    )
    assert not split


def test_the_sketch_keeps_every_step_th_value_and_the_last() -> None:
    from exporter.drift.wasserstein import sketch_of

    values = np.sort(RNG.normal(0, 1, 101))
    assert np.array_equal(sketch_of(values, 32), values[[0, 32, 64, 96, 100]])
    assert np.array_equal(sketch_of(values, 25), values[[0, 25, 50, 75, 100]])  # the last is a step
    assert np.array_equal(sketch_of(values, 1), values)
    assert np.array_equal(sketch_of(values[:1], 32), values[:1])


def _window_shapes(reference: np.ndarray, rows: int) -> dict[str, np.ndarray]:
    spread = float(np.std(reference)) or 1.0
    return {
        "shifted": RNG.choice(reference, rows) + 0.05 * spread,
        "resampled": RNG.choice(reference, rows),  # most runs hold their window value
        "far below": RNG.choice(reference, rows) - 100 * spread,
        "on the sketch": RNG.choice(reference[::7], rows),  # values equal to sketch entries, ties
        "one value": np.full(rows, reference[reference.size // 3]),
    }


@pytest.mark.parametrize("step", [1, 2, 3, 32, 1_000])
@pytest.mark.parametrize(
    "reference",
    ["normal", "integers", "constant", "heavy tails far from zero"],
)
@pytest.mark.parametrize("current_rows", [1, 7, 997])
def test_runs_placed_by_the_sketch_equal_scipy_and_every_run_read(
    reference: str, step: int, current_rows: int, runs_path: str
) -> None:
    from exporter.drift.wasserstein import centred_sums, sketch_of, wasserstein_to_larger

    rows = 60_013
    values = {
        "normal": RNG.normal(0, 1, rows),
        "integers": RNG.integers(0, 25, rows).astype(float),
        "constant": np.full(rows, 3.5),
        "heavy tails far from zero": RNG.standard_t(2, rows) + 1e4,
    }[reference]
    values = np.sort(values)
    cumulative, centre = centred_sums(values)
    for name, current in _window_shapes(values, current_rows).items():
        expected = wasserstein_distance(values, current)
        every_run = wasserstein_to_larger(values, cumulative, centre, current)
        sketched = wasserstein_to_larger(values, cumulative, centre, current, (sketch_of(values, step), step))
        scale = float(np.std(values)) or 1.0
        assert every_run == pytest.approx(expected, abs=1e-9 * scale), name
        assert sketched == pytest.approx(expected, abs=1e-9 * scale), name


def test_the_sketch_leaves_only_the_runs_near_a_crossing_to_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.drift import wasserstein as module
    from exporter.drift import wasserstein_kernel

    monkeypatch.setattr(wasserstein_kernel, "compiled", lambda: None)  # the numpy calls, whose reads are counted

    rng = np.random.default_rng(5)  # its own draws, whatever ran before
    reference = np.sort(rng.normal(0, 1, 1_000_000))
    wasserstein = METHODS["wasserstein"]
    fitted = wasserstein.fit(reference)
    read: list[int] = []
    real = module._above_in_runs
    monkeypatch.setattr(module, "_above_in_runs", lambda *args: read.append(args[-1].size) or real(*args))

    shifted = rng.normal(0.05, 1, 10_000)
    score = wasserstein.compare(reference, fitted, shifted).score
    assert score == pytest.approx(wasserstein_distance(reference, shifted) / np.std(reference), abs=1e-9)
    # the window's quantiles cross the reference's only near where the shift and the sampling noise
    # cancel: a few runs there are read, not 10,000
    assert len(read) == 1 and 0 < read[0] < 500, read

    read.clear()
    far = shifted + 50
    score = wasserstein.compare(reference, fitted, far).score
    assert score == pytest.approx(wasserstein_distance(reference, far) / np.std(reference), abs=1e-9)
    assert read == []  # every run lies below its window value: none is read
    assert wasserstein.compare(reference, fitted, shifted - 50).score == pytest.approx(
        wasserstein_distance(reference, shifted - 50) / np.std(reference), abs=1e-9
    )
    assert read == []  # nor when every run lies above it


@pytest.mark.parametrize(("n", "m"), [(1_000, 7), (2_003, 50), (64, 3), (21, 1)])
def test_the_values_of_a_run_above_its_window_value_add_up_as_a_direct_sum(n: int, m: int) -> None:
    from exporter.drift import wasserstein as module

    larger = np.sort(RNG.integers(0, 40, n).astype(float))  # ties, so window values fall on run values
    cumulative, centre = module.centred_sums(larger)
    runs = module._runs(n, m)
    subset = np.arange(m)
    for current in (RNG.choice(larger, m), RNG.normal(20, 15, m), np.full(m, larger[n // 2])):
        ordered = np.sort(current)
        expected = overlap_sum(larger, ordered, lambda y, x: max(y - x, 0.0))  # the values y above x
        got = module._above_in_runs(larger, cumulative, ordered, ordered - centre, runs, subset)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_a_profile_fitted_without_a_sketch_reads_every_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.drift import wasserstein as module

    reference = np.sort(RNG.lognormal(0, 1, 200_000) * 1000)
    current = RNG.lognormal(0.1, 1, 2_000) * 1000
    wasserstein = METHODS["wasserstein"]
    fitted = wasserstein.fit(reference)
    older = {key: value for key, value in fitted.items() if not key.startswith("sketch")}
    read: list[object] = []
    real = module._exact_runs
    monkeypatch.setattr(module, "_exact_runs", lambda *args: read.append(args) or real(*args))

    with_sketch = wasserstein.compare(reference, fitted, current).score
    assert read == []  # the sketch places the runs; only those it cannot are read, not every one
    without = wasserstein.compare(reference, older, current).score
    assert len(read) == 1  # the profile stored before sketches: every run, read exactly
    assert without == pytest.approx(with_sketch, rel=1e-12)
    assert without == pytest.approx(wasserstein_distance(reference, current) / np.std(reference), rel=1e-9)


@pytest.mark.parametrize(
    ("reference_rows", "current_rows"),
    # window larger, sizes within RUNS_RATIO of each other either way, one side of one value
    [(3_000, 250_000), (10_001, 10_000), (10_000, 10_001), (20_000, 1_000), (99_991, 7_919), (1, 1_000), (3, 2)],
)
@pytest.mark.parametrize("shape", [*SHAPES, "straddling"])
@pytest.mark.parametrize("chunk", ["whole", "chunked"])
def test_wasserstein_by_pairing_equals_scipy(
    shape: str, reference_rows: int, current_rows: int, chunk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.drift import wasserstein as module

    if chunk == "chunked":
        # passes of a few values each, so chunk bounds fall everywhere, crossing values included
        monkeypatch.setattr(module, "PAIRED_CHUNK", 13)
    if shape == "straddling" and current_rows > reference_rows:
        # each reference value sits inside the run of window values under its quantile stretch
        window, quantiles = _straddling(current_rows, reference_rows)
        reference, current = np.sort(quantiles), RNG.permutation(window)
    elif shape == "straddling":
        reference, current = _straddling(reference_rows, current_rows)
    else:
        reference, current = _samples(shape, reference_rows, current_rows)
    assert reference.size <= module.RUNS_RATIO * current.size  # paired, not read by runs
    wasserstein = METHODS["wasserstein"]
    score = wasserstein.compare(reference, wasserstein.fit(reference), current).score
    scale = np.std(reference) if reference[0] != reference[-1] else 1.0
    assert score == pytest.approx(wasserstein_distance(reference, current) / scale, abs=1e-9)


@pytest.mark.parametrize("rows", [(7, 3), (1_000, 999), (4_099, 1_000), (65_537, 1), (5, 5)])
def test_paired_distance_weighs_each_pair_by_their_shared_stretch(rows: tuple[int, int]) -> None:
    # the plain formula: every pair of values weighted by how long their quantile stretches overlap
    from exporter.drift.wasserstein import paired_distance

    n, m = rows
    larger, smaller = np.sort(RNG.normal(0, 1, n)), np.sort(RNG.normal(0.3, 2, m))
    steps = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    middles = (steps[:-1] + steps[1:]) / 2
    under_larger, under_smaller = np.minimum((middles * n).astype(int), n - 1), (middles * m).astype(int)
    expected = np.sum(np.diff(steps) * np.abs(larger[under_larger] - smaller[under_smaller]))
    assert paired_distance(larger, smaller) == pytest.approx(expected, rel=1e-12)
    assert paired_distance(larger, smaller) == pytest.approx(wasserstein_distance(larger, smaller), rel=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fitted_side", ["reference", "window"])
def test_equal_sizes_pair_values_of_the_same_rank(shape: str, fitted_side: str) -> None:
    reference, current = _samples(shape, 4_000, 4_000)
    if fitted_side == "window":
        reference, current = np.sort(current), reference
    wasserstein = METHODS["wasserstein"]
    score = wasserstein.compare(reference, wasserstein.fit(reference), current).score
    scale = np.std(reference) if reference[0] != reference[-1] else 1.0
    assert score == pytest.approx(wasserstein_distance(reference, current) / scale, abs=1e-9)


@pytest.mark.parametrize("kept", [1, 4, 6])
def test_left_out_directions_complete_the_components(kept: int) -> None:
    from exporter.monitors.multivariate import left_out, reconstruction_error

    components = np.linalg.qr(RNG.normal(size=(7, 7)))[0][:kept]
    directions = left_out(components)
    assert directions.shape == (7 - kept, 7)
    np.testing.assert_allclose(directions @ directions.T, np.eye(7 - kept), atol=1e-12)
    np.testing.assert_allclose(directions @ components.T, 0.0, atol=1e-12)
    rows = RNG.normal(size=(50, 7))
    residual = rows - rows @ components.T @ components
    assert reconstruction_error(rows, components) == pytest.approx(np.mean(np.linalg.norm(residual, axis=1)), abs=1e-12)


@pytest.mark.parametrize(
    ("known", "values"),
    [
        (["a", "bb", "c"], ["c", "a", "c", "bb", "a"]),  # every value known
        (["a", "c"], ["zz", "c", "b", "a", "b", "0"]),  # values the reference never had, sorting before and after
        (["b"], ["b", "b"]),
        ([], ["x", "y", "x"]),
        (["a", "b"], []),
        ([1.0, 3.0, np.nan], [3.0, np.nan, 2.0, 1.0, np.nan, 7.0]),  # NaNs counted together, as np.unique does
        ([-4, 0, 9], [9, -7, 0, 0, 12, 9]),
    ],
)
def test_window_categories_are_counted_as_np_unique_counts_them(known: list, values: list) -> None:
    from exporter.drift.binning import _counted

    known_array, values_array = np.unique(np.array(known)), np.array(values)
    if values_array.size == 0:
        values_array = values_array.astype(known_array.dtype)
    categories, counts = _counted(values_array, known_array)
    expected_categories, expected_counts = np.unique(values_array, return_counts=True)
    np.testing.assert_array_equal(categories, expected_categories)
    np.testing.assert_array_equal(counts, expected_counts)


def test_categorical_drift_of_a_window_with_new_categories_equals_scipy() -> None:
    reference = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    current = np.array(["a"] * 10 + ["c"] * 40 + ["d"] * 25 + ["0"] * 5)
    union = ["0", "a", "b", "c", "d"]
    expected_reference = np.array([np.count_nonzero(reference == u) for u in union], dtype=float)
    expected_current = np.array([np.count_nonzero(current == u) for u in union], dtype=float)
    js = METHODS["jensenshannon"].compare(reference, METHODS["jensenshannon"].fit(reference), current)
    assert js.score == pytest.approx(
        jensenshannon(expected_reference / expected_reference.sum(), expected_current / expected_current.sum(), base=2),
        abs=1e-12,
    )
    chi = METHODS["chisquare"].compare(reference, METHODS["chisquare"].fit(reference), current)
    assert chi.score == pytest.approx(chi2_contingency(np.vstack([expected_reference, expected_current]))[0], abs=1e-9)
