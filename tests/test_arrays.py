"""``distinct`` gives what ``np.unique`` gives, for every kind of array mlmon hands it."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.arrays import distinct

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
