"""A Parquet batch reads as ``pd.read_parquet`` reads it, whatever its column types and size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exporter.sources import files
from exporter.sources.files import read_parquet


@pytest.fixture(autouse=True, params=["by-column", "whole"])
def read_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every case read both ways: column by column (what a large file gets) and whole (a small one)."""
    if request.param == "by-column":
        monkeypatch.setattr(files, "WHOLE_READ_BYTES", 0)
    return str(request.param)


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


@pytest.mark.parametrize(
    "frame",
    [
        # a range index of its own (start, step and name are kept in the file's pandas metadata)
        pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}, index=pd.RangeIndex(10, 16, 2, name="row")),
        # column names that are not text
        pd.DataFrame({0: [1.0, 2.0], 1: [3, 4]}),
        # columns under two levels of names: read whole
        pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
        # no rows at all
        pd.DataFrame({"a": pd.Series([], dtype="float64"), "b": pd.Series([], dtype="int64")}),
    ],
    ids=["range-index", "number-names", "multi-level-columns", "empty"],
)
def test_unusual_layouts_read_as_pandas_reads_them(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "b.parquet"
    frame.to_parquet(path)
    pd.testing.assert_frame_equal(read_parquet(path), pd.read_parquet(path))


def test_a_file_without_pandas_metadata_reads_as_pandas_reads_it(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1.5, None, 2.5], "s": ["a", "b", None], "n": pa.array([1, None, 3])}), path)
    pd.testing.assert_frame_equal(read_parquet(path), pd.read_parquet(path))
