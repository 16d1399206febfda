"""``distinct`` gives what ``np.unique`` gives, and ``row_maxima`` what ``max(axis=1)`` gives, for every kind of
array mlmon hands them."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.arrays import FEW_COLUMNS, distinct, offsets, per_integer, row_maxima

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


@pytest.mark.parametrize(
    "values",
    [
        np.array([-128, 127, 0, -128], dtype=np.int8),
        np.array([2**64 - 1, 2**64 - 4, 2**64 - 2], dtype=np.uint64),
        np.array([-(2**63), -(2**63) + 9, -(2**63) + 3], dtype=np.int64),
        np.array([7], dtype=np.uint16),
    ],
)
def test_offsets_of_integers_over_a_short_range_count_from_the_smallest(values: np.ndarray) -> None:
    at, low = offsets(values, span=300)
    assert low == min(int(v) for v in values)
    assert at.tolist() == [int(v) - low for v in values]


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 301]),
        np.array([], dtype=np.int64),
        np.array([1.0, 2.0]),
        np.array([True, False]),
        np.array([1, 2], dtype=object),
    ],
)
def test_offsets_are_left_to_other_means_for_other_arrays(values: np.ndarray) -> None:
    assert offsets(values, span=300) is None


def test_per_integer_converts_each_distinct_value_once() -> None:
    values = np.array([7, -2, 7, 7, 3, -2], dtype=np.int16)
    converted: list[int] = []

    def text(value: int) -> str:
        converted.append(value)
        return f"<{value}>"

    result = per_integer(values, 300, text, fill=None, dtype=object)
    assert result is not None and result.tolist() == [f"<{v}>" for v in values.tolist()]
    assert sorted(converted) == [-2, 3, 7]
    assert per_integer(np.array([0, 301]), 300, text, fill=None, dtype=object) is None
