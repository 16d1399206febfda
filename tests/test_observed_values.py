"""Category texts are converted once per distinct value: the result must equal converting every row."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from exporter.reference.building import MISSING, category_codes, observed_values
from exporter.values import canonical


def row_by_row(series: pd.Series) -> np.ndarray:
    """The categorical rule applied to each row on its own: the definition the fast path must meet."""
    present = series.dropna()
    if pd.api.types.is_float_dtype(present):
        floats = present.to_numpy(dtype=np.float64)
        if np.all((np.mod(floats, 1) == 0) & (np.abs(floats) < 2**53)):
            return np.array([str(int(v)) for v in floats], dtype=str)
        return present.astype(str).to_numpy(dtype=str)
    if present.dtype == object:
        texts = [canonical(v) for v in present]
        return np.array([t for t in texts if t is not None], dtype=str)
    return present.astype(str).to_numpy(dtype=str)


COLUMNS = {
    "integers as objects": pd.Series([1, 0, 1, 1, None, 0], dtype=object),
    "floats holding integers": pd.Series([3.0, None, 4.0, 3.0]),
    "floats with a fraction": pd.Series([3.5, None, 3.5, 0.1 + 0.2]),
    "booleans beside integers": pd.Series([1, True, 0, False, 1.0, np.True_], dtype=object),
    "text with blanks and padding": pd.Series(["a", " a", "", "  ", None, "b", "a "], dtype=object),
    "text dtype": pd.Series(["x", "", "y", None, "x"]),
    "numbers beside their text": pd.Series([3, "3", 3.0, "3.0", -0.0, 0], dtype=object),
    "decimals of one value": pd.Series([Decimal("1"), Decimal("1.0"), 1], dtype=object),
    "booleans": pd.Series([True, False, True]),
    "category dtype": pd.Series(["b", "a", None, "b"], dtype="category"),
    "integers": pd.Series([5, 7, 5], dtype=np.int64),
    "nothing present": pd.Series([None, np.nan], dtype=object),
    "empty": pd.Series([], dtype=object),
}


@pytest.mark.parametrize("series", COLUMNS.values(), ids=COLUMNS.keys())
def test_distinct_conversion_equals_row_by_row(series: pd.Series) -> None:
    expected = row_by_row(series)
    got = observed_values(series, "categorical")
    assert got.tolist() == expected.tolist()
    assert got.dtype.kind == "U"


def test_codes_point_into_sorted_distinct_texts() -> None:
    series = pd.Series(["b", " b", None, "a", "b", ""], dtype=object)
    codes, texts = category_codes(series)
    assert texts.tolist() == ["a", "b"]
    assert codes.tolist() == [1, 1, MISSING, 0, 1, MISSING]
    np.testing.assert_array_equal(np.bincount(codes[codes != MISSING]), [1, 3])


def test_a_large_column_matches_row_by_row() -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 40, 20_000).astype(object)
    values[rng.random(values.size) < 0.1] = None
    series = pd.Series(values, dtype=object)
    assert observed_values(series, "categorical").tolist() == row_by_row(series).tolist()
