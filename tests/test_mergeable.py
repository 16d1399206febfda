"""A batch monitored in pieces (chunks of a file, or Parquet row groups on a Dask cluster) gives the
figures of the whole batch in memory: exactly, except Wasserstein, which stays within its bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from exporter.config import ModelConfig
from exporter.drift import METHODS
from exporter.mergeable import drift as mergeable_drift
from exporter.mergeable.batch import BatchMonitor, monitor_frames, monitor_in_chunks, monitor_on_dask
from exporter.mergeable.chunks import read_chunks, row_groups
from exporter.mergeable.drift import ValueCounts
from exporter.model import LoadedModel
from exporter.monitors import monitors_for
from exporter.reference.building import build_profile
from exporter.reference.profile import ReferenceProfile

NUMERIC = ["x0", "x1", "x2"]
ROWS = 24_000
CHUNK = 2_500


def _frame(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "x0": rng.normal(shift, 1, rows),
            "x1": rng.lognormal(shift, 0.7, rows),
            "x2": np.round(rng.normal(shift, 2, rows), 1),  # many ties
            "colour": rng.choice(["red", "green", "blue", "violet"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    frame["target"] = (frame["x0"] + rng.normal(0, 1, rows) > 0.2).astype(int)
    return frame


def _setup(reference_rows: int, method: str = "auto") -> tuple[BatchMonitor, pd.DataFrame, ModelConfig]:
    rng = np.random.default_rng(reference_rows)
    reference = _frame(rng, reference_rows, 0.0)
    estimator = LogisticRegression().fit(reference[NUMERIC].to_numpy(), reference["target"])
    model = ModelConfig(
        name="big",
        model_path="m.joblib",
        source={"path": "in"},
        target_column="target",
        feature_columns=NUMERIC + ["colour"],
        drift={"method": method},
    )
    # the model sees the numeric columns only; colour is monitored for drift like any feature
    loaded = LoadedModel(_NumericOnly(estimator), estimator.classes_, None, "digest")
    profile = build_profile(reference[NUMERIC + ["colour"]], ["colour"], fingerprint="r", classes=estimator.classes_)
    for monitor in monitors_for(model):
        profile.fitted[monitor.name] = monitor.fit(profile, model)
    return BatchMonitor(model, loaded, profile), _frame(rng, ROWS, 0.15), model


class _NumericOnly:
    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, features: Any) -> np.ndarray:
        return self.estimator.predict(np.asarray(features)[:, :3].astype(float))

    def predict_proba(self, features: Any) -> np.ndarray:
        return self.estimator.predict_proba(np.asarray(features)[:, :3].astype(float))


def _whole(profile: ReferenceProfile, batch: pd.DataFrame, method: str, name: str) -> Any:
    reference = profile.features[name].values
    current = batch[name].to_numpy() if name != "colour" else batch[name].to_numpy(dtype=str)
    return METHODS[method].compute(reference, current)


@pytest.fixture(scope="module")
def parquet_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[BatchMonitor, pd.DataFrame, Path]:
    monitor, batch, _ = _setup(5_000)
    path = tmp_path_factory.mktemp("big") / "batch.parquet"
    batch.to_parquet(path, index=False, row_group_size=5_000)
    return monitor, batch, path


def test_chunks_give_the_whole_batchs_figures(parquet_batch: tuple[BatchMonitor, pd.DataFrame, Path]) -> None:
    monitor, batch, path = parquet_batch
    figures = monitor_in_chunks(monitor, path, CHUNK)
    assert figures.rows == ROWS
    predicted = monitor.loaded.estimator.predict(batch[NUMERIC + ["colour"]])
    truth = batch["target"].to_numpy()
    performance = dict(figures.performance)
    area = performance.pop("roc_auc")
    assert performance == pytest.approx(
        {
            "accuracy": accuracy_score(truth, predicted),
            "precision": precision_score(truth, predicted),
            "recall": recall_score(truth, predicted),
            "f1": f1_score(truth, predicted),
        },
        abs=1e-12,
    )
    # from score counts in bins: within the bound they give, and published only up to 0.001
    scores = monitor.loaded.estimator.predict_proba(batch[NUMERIC + ["colour"]])[:, 1]
    assert abs(area - roc_auc_score(truth, scores)) <= 1e-3
    assert {name: f.method for name, f in figures.drift.items()} == {
        "x0": "wasserstein",
        "x1": "wasserstein",
        "x2": "wasserstein",
        "colour": "jensenshannon",
    }
    for name in NUMERIC:
        reference = monitor.profile.features[name].values
        exact = wasserstein_distance(reference, batch[name]) / np.std(reference)
        figure = figures.drift[name]
        assert abs(figure.score - exact) <= figure.bound + 1e-12, name
        assert figure.bound < 0.01 * exact, name  # a reference of 5,000 values leaves little room
    assert figures.drift["colour"].score == pytest.approx(
        _whole(monitor.profile, batch, "jensenshannon", "colour").score, abs=1e-12
    )


@pytest.mark.parametrize("method", ["ks", "psi", "chisquare"])
def test_tests_and_bins_are_exact_in_chunks(method: str, tmp_path: Path) -> None:
    monitor, batch, _ = _setup(800 if method == "chisquare" else 3_000, method)
    path = tmp_path / "batch.csv"
    batch.to_csv(path, index=False)
    figures = monitor_in_chunks(monitor, path, CHUNK)
    for name, figure in figures.drift.items():
        if method == "chisquare" and name != "colour":
            continue  # on continuous numbers every value is a category of its own: colour is the case
        expected = _whole(monitor.profile, batch, figure.method, name)
        assert figure.method == method or (method == "ks" and name == "colour")
        assert figure.score == pytest.approx(expected.score, abs=1e-12), name
        assert figure.pvalue == pytest.approx(expected.pvalue, abs=1e-12) if expected.pvalue is not None else True
    if method == "ks":
        reference = monitor.profile.features["x2"].values
        expected = ks_2samp(reference, batch["x2"])
        assert figures.drift["x2"].score == pytest.approx(expected.statistic, abs=1e-12)
        assert figures.drift["x2"].pvalue == pytest.approx(expected.pvalue, abs=1e-12)
    if method == "chisquare":
        colours = ["blue", "green", "red", "violet"]
        reference = monitor.profile.features["colour"].values
        table = [[np.count_nonzero(side == c) for c in colours] for side in (reference, batch["colour"].to_numpy())]
        assert figures.drift["colour"].pvalue == pytest.approx(chi2_contingency(table, correction=False)[1], abs=1e-12)


def test_small_pieces_use_scipys_exact_ks(tmp_path: Path) -> None:
    monitor, batch, _ = _setup(900, "ks")
    small = batch.head(3_000)
    pieces = [small.iloc[i : i + 700] for i in range(0, len(small), 700)]
    figures = monitor_frames(monitor, pieces)
    for name in NUMERIC:
        expected = ks_2samp(monitor.profile.features[name].values, small[name])
        assert figures.drift[name].score == pytest.approx(expected.statistic, abs=1e-12)
        assert figures.drift[name].pvalue == pytest.approx(expected.pvalue, abs=1e-12)


def test_states_merge_in_any_order(parquet_batch: tuple[BatchMonitor, pd.DataFrame, Path]) -> None:
    monitor, _, path = parquet_batch
    states = [monitor.add(monitor.empty(), chunk) for chunk in read_chunks(path, 4_000)]
    forward = states[0]
    for state in states[1:]:
        forward = forward.merge(state)
    backward = states[-1]
    for state in reversed(states[:-1]):
        backward = backward.merge(state)
    _assert_same(monitor.figures(forward), monitor.figures(backward))


def _assert_same(ours: Any, theirs: Any) -> None:
    """Equal figures; sums taken in another order may differ in the last bits."""
    assert ours.rows == theirs.rows
    assert ours.performance == theirs.performance
    assert ours.drift.keys() == theirs.drift.keys()
    for name, figure in ours.drift.items():
        other = theirs.drift[name]
        assert (figure.method, figure.pvalue) == (other.method, other.pvalue)
        assert figure.score == pytest.approx(other.score, rel=1e-12, abs=1e-15)
        assert figure.bound == pytest.approx(other.bound, rel=1e-9, abs=1e-15)


def test_dask_gives_the_local_figures(parquet_batch: tuple[BatchMonitor, pd.DataFrame, Path]) -> None:
    import distributed

    monitor, _, path = parquet_batch
    assert row_groups(path) == ROWS // 5_000 + 1
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = monitor_on_dask(monitor, path, client)
    _assert_same(on_dask, monitor_in_chunks(monitor, path, 5_000))


def test_numeric_jensenshannon_keeps_the_values_exactly_and_gives_up_past_its_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(5)
    reference = np.sort(rng.integers(0, 4, 3_000).astype(float))
    window = rng.integers(0, 6, 5_000).astype(float)
    state = ValueCounts.empty(reference)
    for piece in np.array_split(window, 7):
        state.update(piece)
    assert state.jensenshannon(reference).score == METHODS["jensenshannon"].compute(reference, window).score
    edges = np.histogram_bin_edges([0.0, 5.0], bins=30)
    expected = jensenshannon(np.histogram(reference, edges)[0], np.histogram(window, edges)[0], base=2)
    assert state.jensenshannon(reference).score == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(mergeable_drift, "DISTINCT_LIMIT", 5)
    state = ValueCounts.empty(reference)
    state.update(window)
    assert state.overflow and state.rows == 0


@pytest.mark.parametrize("shape", ["spread", "bunched", "ties", "two classes only"])
def test_roc_auc_from_score_counts_is_within_its_bound_of_sklearn(shape: str) -> None:
    from exporter.mergeable.ranking import BINS, ScoreRanks

    rng = np.random.default_rng(17)
    rows = 20_000
    true = rng.integers(0, 3, rows)
    if shape == "two classes only":
        true = np.where(true == 2, 1, true)
    logits = rng.normal(size=(rows, 3)) + np.eye(3)[true] * 1.5
    if shape == "bunched":
        logits *= 40  # most scores within a hair of 0 or 1: the bins hold many pairs each
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if shape == "ties":
        probabilities = np.round(probabilities, 2)  # equal scores: ties count one half both ways
    pieces = np.array_split(np.arange(rows), 7)
    merged = None
    for piece in pieces:
        ranks = ScoreRanks.empty([0, 1, 2])
        ranks.update(true[piece], probabilities[piece])
        merged = ranks if merged is None else merged.merge(ranks)
    assert merged is not None
    whole = ScoreRanks.empty([0, 1, 2])
    whole.update(true, probabilities)
    np.testing.assert_array_equal(merged.counts, whole.counts)  # pieces merge to the whole

    for k in range(3):
        result = merged.area(k)
        if shape == "two classes only" and k == 2:
            assert result is None  # no row of that class
            continue
        assert result is not None
        area, bound = result
        exact = roc_auc_score(true == k, probabilities[:, k])
        assert abs(area - exact) <= bound + 1e-12, (k, area, exact, bound)
        if shape == "spread":
            assert bound < 1e-3  # fine bins: a small bound
        if shape == "ties":
            # scores 0.01 apart never share a bin: only equal scores do, counted one half as exactly
            assert 0.01 * BINS > 1 and area == pytest.approx(exact, abs=1e-12)
    if shape == "bunched":
        assert merged.roc_auc() is not None and merged.roc_auc()[1] > 1e-3  # type: ignore[index]
        assert merged.published() is None  # so left out
    if shape == "spread":
        assert merged.published() == merged.roc_auc()[0]  # type: ignore[index]
    if shape == "two classes only":
        assert merged.roc_auc() is None  # a class with no row: no macro area, as the whole window gives


def test_roc_auc_of_scores_that_are_not_numbers_is_nan() -> None:
    from exporter.mergeable.ranking import ScoreRanks

    ranks = ScoreRanks.empty([1])
    ranks.update(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [np.nan, np.nan]]))
    result = ranks.roc_auc()
    assert result is not None and np.isnan(result[0])
