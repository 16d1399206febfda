"""``distinct`` gives what ``np.unique`` gives, and ``row_maxima`` what ``max(axis=1)`` gives, for every kind of
array mlmon hands them."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.arrays import FEW_COLUMNS, distinct, row_maxima

rng = np.random.default_rng(7)


@pytest.mark.parametrize(
    "values",
    [
        rng.integers(-50, 50, 1000),
        rng.integers(0, 2**40, 5000, dtype=np.int64),
        rng.integers(0, 3, 200).astype(np.uint8),
        rng.normal(size=1000).round(1),
        np.array([np.nan, 1.0, np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0]),
        np.array([np.nan, np.nan]),
        np.array([], dtype=np.int64),
        np.array([3.5]),
        np.array([True, False, True]),
        np.array(["b", "a", "b", "c"], dtype=object),
        np.array(["b", "a", "b"]),
        rng.integers(0, 10, (4, 5)),
    ],
    ids=[
        "small-ints",
        "many-distinct-ints",
        "uint8",
        "floats",
        "nan-inf-and-signed-zero",
        "only-nan",
        "empty",
        "one",
        "bools",
        "objects",
        "unicode",
        "two-dimensional",
    ],
)
def test_distinct_equals_numpy_unique(values: np.ndarray) -> None:
    ours, theirs = distinct(values), np.unique(values)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("columns", [1, 2, 3, FEW_COLUMNS, FEW_COLUMNS + 1])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_row_maxima_equal_max_along_rows(columns: int, layout: str) -> None:
    matrix = rng.dirichlet(np.ones(columns), 500) if columns > 1 else rng.random((500, 1))
    matrix[7, 0] = np.nan  # a NaN makes the row's maximum NaN, as max does
    matrix[8] = -np.inf
    if layout == "F":
        matrix = np.asfortranarray(matrix)
    elif layout == "strided":
        matrix = np.repeat(matrix, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(row_maxima(matrix), matrix.max(axis=1))
    assert not np.shares_memory(row_maxima(matrix), matrix)
