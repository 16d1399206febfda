"""Scoring a batch read column by column: one matrix, the same outputs as the frame itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from exporter.ingest import scoring
from exporter.ingest.scoring import one_block
from exporter.model import LoadedModel


def test_an_all_float_frame_becomes_one_matrix_with_the_same_scores() -> None:
    rng = np.random.default_rng(2)
    columns = {f"f{i}": rng.normal(size=300) for i in range(5)}
    frame = pd.concat([pd.DataFrame({name: values}) for name, values in columns.items()], axis=1)
    model = LogisticRegression().fit(frame, rng.integers(0, 2, 300))
    joined = one_block(frame)
    # one array behind it: each conversion is a view of it, not a new copy as from separate columns
    assert np.shares_memory(np.asarray(joined), np.asarray(joined))
    assert not np.shares_memory(np.asarray(frame), np.asarray(frame))
    assert list(joined.columns) == list(frame.columns) and joined.index.equals(frame.index)
    np.testing.assert_array_equal(model.predict_proba(joined), model.predict_proba(frame))


def test_a_frame_of_other_types_is_left_as_it_is() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "k": ["a", "b"]})
    assert one_block(frame) is frame
    ints = pd.DataFrame({"x": [1.0, 2.0], "n": [1, 2]})
    assert one_block(ints) is ints


def test_a_batch_larger_than_a_scoring_piece_scores_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({f"f{i}": rng.normal(size=1000) for i in range(4)})
    estimator = LogisticRegression().fit(frame, rng.integers(0, 3, 1000))
    named = LoadedModel(estimator=estimator, classes=estimator.classes_, feature_names=list(frame.columns), digest="d")
    bare = LoadedModel(
        estimator=LogisticRegression().fit(frame.to_numpy(), rng.integers(0, 2, 1000)),
        classes=np.array([0, 1]),
        feature_names=None,
        digest="d",
    )
    monkeypatch.setattr(scoring, "SCORING_ROWS", 300)
    monkeypatch.setattr(scoring, "SCORING_BYTES", 0)  # four pieces of 300 rows, the last of 100
    for loaded in (named, bare):
        scored = scoring.score(loaded, frame)
        inputs = frame if loaded.feature_names is not None else frame.to_numpy()
        np.testing.assert_array_equal(scored.predictions, loaded.estimator.predict(inputs))
        np.testing.assert_array_equal(scored.probabilities, loaded.estimator.predict_proba(inputs))


def test_a_scoring_piece_holds_about_its_bytes_of_features_and_at_least_its_rows() -> None:
    assert scoring.piece_rows(30) * 30 * 8 <= scoring.SCORING_BYTES < (scoring.piece_rows(30) + 1) * 30 * 8
    assert scoring.piece_rows(1_000) < scoring.piece_rows(30)  # wider rows, fewer of them
    assert scoring.piece_rows(10**9) == scoring.SCORING_ROWS
    assert scoring.piece_rows(0) == scoring.SCORING_BYTES // 8


def test_one_scoring_piece_is_held_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    rng = np.random.default_rng(5)
    columns = 50
    frame = pd.concat([pd.DataFrame({f"f{i}": rng.normal(size=40_000)}) for i in range(columns)], axis=1)
    estimator = LogisticRegression().fit(frame.iloc[:2000], rng.integers(0, 2, 2000))
    loaded = LoadedModel(estimator=estimator, classes=estimator.classes_, feature_names=list(frame.columns), digest="d")
    monkeypatch.setattr(scoring, "SCORING_ROWS", 10_000)
    monkeypatch.setattr(scoring, "SCORING_BYTES", 0)  # four pieces of 10,000 rows, each its own matrix
    piece_bytes = 10_000 * columns * 8
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        scored = scoring.score(loaded, frame)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # each piece's matrix (4 MB) is freed before the next is made, never two at once; the outputs of
    # the 40,000 rows take under 1 MB beside it
    assert piece_bytes < peak < 1.5 * piece_bytes, (peak, piece_bytes)
    np.testing.assert_array_equal(scored.predictions, estimator.predict(frame))
