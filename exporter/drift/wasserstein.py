"""Wasserstein-1 (earth mover's) distance, in units of the reference standard deviation (as Evidently).

A constant reference column has no spread to scale by; its distance is then reported unscaled, in the
feature's own units, so any move of the current values away from the constant by the threshold or
more counts as drift.

The distance is the area between the two empirical distribution functions. Fitting keeps the
reference's cumulative sums, which give G(x) = mean((x - R)+), the area under the reference's
distribution function up to x, for any x by one binary search. The window's distribution function
is flat between its consecutive distinct values, so the area over each such stretch follows from G
at its two ends and at the reference value where the reference's function crosses the window's
level. A run costs a sort of the window and binary searches into the reference, whatever the
reference's size. Sums are taken about the reference median, so they stay small and exact to rounding.
"""

from __future__ import annotations

import numpy as np

from exporter.drift.registry import DriftMethod, DriftResult, Fitted, register


@register
class Wasserstein(DriftMethod):
    name = "wasserstein"
    kinds = frozenset({"numeric"})
    default_threshold = 0.1

    def fit(self, reference: np.ndarray) -> Fitted:
        # The reference is sorted: equal ends mean a constant column, tested exactly rather than
        # trusting a rounding-prone standard deviation of zero.
        scale = 1.0 if reference[0] == reference[-1] else float(np.std(reference))
        centre = float(reference[reference.size // 2])
        cumulative = np.concatenate([[0.0], np.cumsum(reference - centre)])
        return {"cumulative": cumulative, "centre": np.array([centre]), "scale": np.array([scale])}

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        distance = wasserstein_to_reference(reference, fitted["cumulative"], float(fitted["centre"][0]), current)
        return DriftResult(distance / float(fitted["scale"][0]))


def wasserstein_to_reference(
    reference_sorted: np.ndarray, cumulative: np.ndarray, centre: float, current: np.ndarray
) -> float:
    """W1 between the reference and ``current``; ``cumulative[k]`` is the sum of the k smallest
    reference values minus ``centre`` each."""
    n, m = reference_sorted.size, current.size
    values, counts = np.unique(current, return_counts=True)
    at_or_below = np.cumsum(counts)

    def area_below(x: np.ndarray) -> np.ndarray:
        # n * G(x): the sum over reference values r <= x of (x - r), about the centre
        k = np.searchsorted(reference_sorted, x, side="right")
        return k * (x - centre) - cumulative[k]

    # left of the smallest window value the window's function is 0: the area is G there
    total = area_below(values[:1])[0]
    # right of the largest it is 1: the area is mean((R - x)+)
    last = values[-1:]
    above = n - np.searchsorted(reference_sorted, last, side="right")
    total += (cumulative[n] - cumulative[n - above] - above * (last - centre))[0]
    if values.size > 1:
        start, end = values[:-1], values[1:]
        # the window's level on [start, end), and the first reference value whose level reaches it
        level_count = at_or_below[:-1]
        first = -(-level_count * n // m)  # ceil(level * n), at least 1 and at most n here
        crossing = np.clip(reference_sorted[first - 1], start, end)
        level = level_count / m
        total += np.sum(
            area_below(start)
            + area_below(end)
            - 2 * area_below(crossing)
            + n * level * (2 * (crossing - centre) - (start - centre) - (end - centre))
        )
    return float(total / n)
