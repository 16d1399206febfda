"""A Parquet batch reads as ``pd.read_parquet`` reads it, whatever its column types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exporter.sources.files import read_parquet


@pytest.mark.parametrize("index", [False, True])
def test_every_column_type_reads_as_pandas_reads_it(tmp_path: Path, index: bool) -> None:
    rows = 7
    frame = pd.DataFrame(
        {
            "x": np.linspace(-1, 1, rows),
            "gap": [1.5, np.nan, 2.0, np.nan, 0.0, -3.0, 1e300],
            "n": np.arange(rows, dtype=np.int64),
            "nullable": pd.array([1, None, 3, 4, None, 6, 7], dtype="Int64"),
            "text": ["a", None, "b", "", "c", "d", "e"],
            "flag": [True, False, True, True, False, False, True],
            "at": pd.date_range("2026-01-01", periods=rows, freq="h"),
            "kind": pd.Categorical(["u", "v", "u", None, "v", "u", "u"]),
        },
        index=pd.Index([f"r{i}" for i in range(rows)], name="id") if index else None,
    )
    path = tmp_path / "b.parquet"
    frame.to_parquet(path, index=index)

    ours, theirs = read_parquet(path), pd.read_parquet(path)

    assert list(ours.dtypes) == list(theirs.dtypes)
    pd.testing.assert_frame_equal(ours, theirs)


def test_a_wide_numeric_batch_keeps_its_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(1000, 30)), columns=[f"f{i:02d}" for i in range(30)])
    frame["target"] = rng.integers(0, 2, 1000)
    path = tmp_path / "wide.parquet"
    frame.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_parquet(path), frame)
