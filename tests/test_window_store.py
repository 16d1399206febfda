"""The window files: what is saved reads back unchanged, and files of the earlier format still count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from exporter.window import LABEL, PREDICTION, PROBA, ROW_ID, SCORED_AT, WindowStore, _file_name, window_table

KEY = "m:1"


def _texts(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else v for v in column]


def _batch(rows: int = 50) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    features = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "n": rng.integers(0, 9, rows),
            "c": pd.Series([1, 2.0, "a", None, True] * (rows // 5), dtype=object),
        }
    )
    probabilities = rng.dirichlet([1, 1], rows)
    return features, probabilities.argmax(axis=1), probabilities


def test_a_saved_batch_reads_back_with_its_outputs_labels_and_canonical_texts(tmp_path: Path) -> None:
    store = WindowStore(tmp_path)
    features, predictions, probabilities = _batch()
    labels = np.array(["1" if i % 3 else None for i in range(len(features))], dtype=object)
    store.write(
        KEY,
        "b1",
        window_table(features, [f"r{i}" for i in range(50)], predictions, probabilities, labels, scored_at=7.5),
    )

    frame = store.load(KEY, "b1")

    assert frame is not None
    np.testing.assert_array_equal(frame["x"], features["x"])
    np.testing.assert_array_equal(frame["n"], features["n"])
    # an object column is stored as the text each value is known by: True stays "True", 2.0 is "2"
    assert _texts(frame["c"][:5]) == ["1", "2", "a", None, "True"]
    np.testing.assert_array_equal(frame[PREDICTION], predictions)
    np.testing.assert_array_equal(frame[[f"{PROBA}0", f"{PROBA}1"]].to_numpy(), probabilities)
    assert _texts(frame[LABEL]) == list(labels)
    assert list(frame[ROW_ID]) == [f"r{i}" for i in range(50)]
    assert (frame[SCORED_AT] == 7.5).all()
    assert store.load(KEY, "b2") is None


def test_numbers_and_booleans_read_back_with_their_types(tmp_path: Path) -> None:
    store = WindowStore(tmp_path)
    rng = np.random.default_rng(4)
    features = pd.DataFrame(
        {
            "x": np.where(rng.random(40) < 0.2, np.nan, rng.normal(size=40)),
            "n": rng.integers(-5, 5, 40),
            "small": rng.integers(0, 3, 40).astype(np.int8),
            "u": rng.integers(0, 9, 40).astype(np.uint32),
            "f32": rng.normal(size=40).astype(np.float32),
            "flag": rng.random(40) < 0.5,
        }
    )
    predictions = rng.integers(0, 2, 40)
    store.write(KEY, "b1", window_table(features, None, predictions, None, None, scored_at=1.0))
    frame = store.load(KEY, "b1")
    assert frame is not None
    pd.testing.assert_frame_equal(frame[list(features.columns)], features)


def test_a_window_file_of_the_earlier_parquet_format_is_read_and_pruned(tmp_path: Path) -> None:
    store = WindowStore(tmp_path)
    features, predictions, probabilities = _batch()
    store.write(KEY, "new", window_table(features, None, predictions, probabilities))
    folder = next(tmp_path.iterdir())
    earlier = pd.DataFrame({"x": [1.0, 2.0], PREDICTION: [0, 1]})
    pq.write_table(pa.Table.from_pandas(earlier, preserve_index=False), folder / _file_name("old", ".parquet"))
    pq.write_table(pa.Table.from_pandas(earlier, preserve_index=False), folder / _file_name("gone", ".parquet"))

    loaded = store.load(KEY, "old")
    assert loaded is not None and loaded.equals(earlier)

    store.prune(KEY, {"old", "new"})
    assert sorted(p.name for p in folder.iterdir()) == sorted([_file_name("new"), _file_name("old", ".parquet")])
    store.prune(KEY, {"new"})
    assert [p.name for p in folder.iterdir()] == [_file_name("new")]
