"""Data-quality ratios of arrived rows against a hand-built reference profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exporter.monitors.quality import quality_ratios
from exporter.reference.profile import FeatureProfile, ReferenceProfile

PROFILE = ReferenceProfile(
    fingerprint="f",
    rows=4,
    features={
        "age": FeatureProfile("age", "numeric", np.array([18.0, 30.0, 65.0]), 0.0, minimum=18.0, maximum=65.0),
        "colour": FeatureProfile(
            "colour", "categorical", np.array(["red", "blue"]), 0.0, categories={"red": 0.5, "blue": 0.5}
        ),
        "rooms": FeatureProfile(
            "rooms", "categorical", np.array(["1", "2", "3"]), 0.0, categories={"1": 0.4, "2": 0.3, "3": 0.3}
        ),
        "empty": FeatureProfile("empty", "numeric", np.array([]), 1.0),
    },
)

# each case: one arrived column, then the ratios expected from counting its rows by hand
CASES = {
    "numeric in range, bounds included": ("age", [18, 30.5, 65, 40], {"missing": 0.0, "out_of_range": 0.0}),
    "numeric below and above": ("age", [17.9, 20, 66, 40], {"missing": 0.0, "out_of_range": 0.5}),
    "numeric missing kinds": ("age", [None, np.nan, "", "  ", 20], {"missing": 0.8, "out_of_range": 0.0}),
    "numeric text is missing": ("age", ["abc", "25", 99, 30], {"missing": 0.25, "out_of_range": 0.25}),
    "infinity is out of range": ("age", [np.inf, -np.inf, 30, 30], {"missing": 0.0, "out_of_range": 0.5}),
    "categorical unseen": ("colour", ["red", "green", "blue", "pink", "red"], {"missing": 0.0, "unseen_category": 0.4}),
    "categorical missing is not unseen": (
        "colour",
        ["red", None, "", "green"],
        {"missing": 0.5, "unseen_category": 0.25},
    ),
    "whole floats match integer categories": (
        "rooms",
        [1.0, 2.0, np.nan, 4.0],
        {"missing": 0.25, "unseen_category": 0.25},
    ),
    "integers match float-written categories": ("rooms", ["3.0", 2, 7, 1], {"missing": 0.0, "unseen_category": 0.25}),
    "no reference values": ("empty", [1.0, None, 3.0, 4.0], {"missing": 0.25}),
    "feature unknown to the reference": ("extra", ["x", None, "", "y"], {"missing": 0.5}),
}


@pytest.mark.parametrize(("column", "values", "expected"), CASES.values(), ids=CASES.keys())
def test_ratios(column: str, values: list, expected: dict[str, float]) -> None:
    arrived = pd.DataFrame(
        {column: pd.Series(values, dtype=object if any(isinstance(v, str) for v in values) else None)}
    )
    got = quality_ratios(arrived, PROFILE)[column]
    assert got.keys() == expected.keys()
    for kind, value in expected.items():
        assert got[kind] == pytest.approx(value, abs=1e-12), kind


def test_without_reference_only_absent_values_count() -> None:
    arrived = pd.DataFrame({"age": pd.Series(["abc", None, 5, 1e9], dtype=object), "colour": ["red", "", "x", "y"]})
    assert quality_ratios(arrived, None) == {"age": {"missing": 0.25}, "colour": {"missing": 0.25}}


def test_every_arrived_column_and_nothing_for_no_rows() -> None:
    arrived = pd.DataFrame({"age": [20.0, 30.0], "colour": ["red", "red"]})
    assert set(quality_ratios(arrived, PROFILE)) == {"age", "colour"}
    assert quality_ratios(arrived.iloc[:0], PROFILE) == {}


def test_a_float_column_read_in_place_counts_as_the_same_values_as_objects() -> None:
    values = [17.0, np.nan, 30.0, np.inf, -np.inf, 65.0, 65.5, np.nan, 18.0, 40.0]
    floats = quality_ratios(pd.DataFrame({"age": np.array(values)}), PROFILE)
    objects = quality_ratios(pd.DataFrame({"age": pd.Series(values, dtype=object)}), PROFILE)
    assert floats == objects == {"age": {"missing": 0.2, "out_of_range": 0.4}}
