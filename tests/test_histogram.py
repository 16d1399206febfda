"""Histogram increments: each finite value counted once, in the first bucket whose bound it does not exceed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exporter.histogram import CONFIDENCE_BUCKETS, DURATION_BUCKETS, increments, le_label
from exporter.state import counter_key

rng = np.random.default_rng(11)


def _plain(values: np.ndarray, bounds: tuple[float, ...]) -> dict[str, float]:
    """Bucket by bucket, value by value: (previous bound, bound], then (last bound, +Inf)."""
    finite = [float(v) for v in values if math.isfinite(v)]
    counts: dict[str, float] = {}
    lower = -math.inf
    for bound in [*bounds, math.inf]:
        counts[le_label(bound)] = float(sum(lower < v <= bound for v in finite))
        lower = bound
    return counts


@pytest.mark.parametrize(
    ("values", "bounds"),
    [
        (rng.random(2_000), CONFIDENCE_BUCKETS),
        (
            np.array([*CONFIDENCE_BUCKETS, 0.0, -1.0, 1.5, np.nan, np.inf, -np.inf, 0.85, 0.8500000001]),
            CONFIDENCE_BUCKETS,
        ),
        (rng.exponential(2.0, 300), DURATION_BUCKETS),
        (np.array([]), DURATION_BUCKETS),
        (np.array([np.nan, np.nan]), CONFIDENCE_BUCKETS),
    ],
    ids=["uniform", "on-the-bounds-and-beyond", "durations", "empty", "only-nan"],
)
def test_increments_count_each_finite_value_in_its_bucket(values: np.ndarray, bounds: tuple[float, ...]) -> None:
    got = increments("h", values, bounds)
    expected = _plain(values, bounds)
    assert {le: got[counter_key("h_bucket", {"le": le})] for le in expected} == expected
    finite = values[np.isfinite(values)]
    assert got[counter_key("h_sum")] == pytest.approx(float(finite.sum()), abs=1e-9)
    assert len(got) == len(bounds) + 2  # every bucket, +Inf, and the sum
