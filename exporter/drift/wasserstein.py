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
    shifted = values - centre
    # n * G(x) = k x - cumulative[k] for any k with every one of the k smallest values at or below x
    # and every other at or above it (both about the centre); one binary search per window value
    placed = np.searchsorted(reference_sorted, values, side="right")
    area = placed * shifted - cumulative[placed]
    # left of the smallest window value the window's function is 0: the area is G there; right of
    # the largest it is 1: the area is mean((R - x)+)
    total = area[0] + (cumulative[n] - cumulative[placed[-1]]) - (n - placed[-1]) * shifted[-1]
    if values.size > 1:
        # on [start, end) the window's level is level_count / m; the reference's function reaches it
        # at its first-th smallest value, where G needs no search since first values lie at or below it
        level_count = at_or_below[:-1]
        first = -(-level_count * n // m)  # ceil(level * n), at least 1 and at most n here
        crossing = reference_sorted[first - 1] - centre
        area_crossing = first * crossing - cumulative[first]
        before, after = crossing < shifted[:-1], crossing > shifted[1:]
        crossing = np.where(before, shifted[:-1], np.where(after, shifted[1:], crossing))
        area_crossing = np.where(before, area[:-1], np.where(after, area[1:], area_crossing))
        level = level_count / m
        total += np.sum(
            area[:-1] + area[1:] - 2 * area_crossing + n * level * (2 * crossing - shifted[:-1] - shifted[1:])
        )
    return float(total / n)
