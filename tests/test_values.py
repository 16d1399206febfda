"""``canonical_texts`` gives, for every value, exactly what ``canonical`` gives for it alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.values import canonical, canonical_texts

CELLS = st.one_of(
    st.none(),
    st.just(pd.NA),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.sampled_from([" 1 ", "1", "1.0", "", "  ", "True"]),
)


def one_by_one(values: list[object]) -> list[str | None]:
    return [canonical(v) for v in values]


@given(st.lists(CELLS, max_size=40))
def test_every_mix_of_types_matches_the_value_by_value_form(values: list[object]) -> None:
    assert list(canonical_texts(pd.Series(values, dtype=object))) == one_by_one(values)
    assert list(canonical_texts(np.array(values, dtype=object))) == one_by_one(values)


@pytest.mark.parametrize(
    "values",
    [
        [True, 1, 1.0, "1"],  # Python holds True == 1 == 1.0: each must keep its own text
        [False, 0, -0.0, None, float("nan")],
        [3, 3.0, 2**53 + 1, 0.1],
        ["b", " b", None, "", "b"],
        ["a", pd.NA, None, pd.NaT],  # every missing marker is missing
    ],
)
def test_values_python_holds_equal_keep_their_own_text(values: list[object]) -> None:
    assert list(canonical_texts(pd.Series(values, dtype=object))) == one_by_one(values)


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1.0, 2.5, np.nan, 3.0]),
        pd.Series([4, 5, 4], dtype="int64"),
        pd.Series([True, False, True]),
        pd.Series(["x", None, "y"], dtype="str"),
        pd.Series(pd.Categorical(["u", "v", None, "u"])),
        pd.Series([1, None, 3], dtype="Int64"),
    ],
)
def test_typed_columns_match_the_value_by_value_form(series: pd.Series) -> None:
    assert list(canonical_texts(series)) == [canonical(None if pd.isna(v) else v) for v in series]


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint64", "uint8"])
def test_whole_number_columns_are_their_digits(dtype: str) -> None:
    series = pd.Series([0, 7, 42, 255], dtype=dtype)
    assert list(canonical_texts(series)) == [canonical(v) for v in series]
    big = pd.Series([-(2**63), 2**62, -1], dtype="int64")
    assert list(canonical_texts(big)) == [canonical(v) for v in big]
