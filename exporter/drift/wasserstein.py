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

from exporter.drift.binning import at_or_below
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
        cumulative, centre = centred_sums(reference)
        return {"cumulative": cumulative, "centre": np.array([centre]), "scale": np.array([scale])}

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        if current.size > reference.size:
            # The distance is symmetric: a window larger than the reference takes the reference's
            # role, so the work per value of the larger side is one sort and one running sum.
            ordered = np.sort(current)
            cumulative, centre = centred_sums(ordered)
            distance = wasserstein_to_reference(ordered, cumulative, centre, reference, current_sorted=True)
        else:
            centre = float(fitted["centre"][0])
            distance = wasserstein_to_reference(reference, fitted["cumulative"], centre, current)
        return DriftResult(distance / float(fitted["scale"][0]))


def centred_sums(values_sorted: np.ndarray) -> tuple[np.ndarray, float]:
    """The median of sorted values and the running sums of the values minus it, from 0 (k values: index k)."""
    centre = float(values_sorted[values_sorted.size // 2])
    cumulative = np.empty(values_sorted.size + 1)
    cumulative[0] = 0.0
    np.cumsum(np.subtract(values_sorted, centre), out=cumulative[1:])
    return cumulative, centre


def wasserstein_to_reference(
    reference_sorted: np.ndarray,
    cumulative: np.ndarray,
    centre: float,
    current: np.ndarray,
    *,
    current_sorted: bool = False,
) -> float:
    """W1 between the reference and ``current``; ``cumulative[k]`` is the sum of the k smallest
    reference values minus ``centre`` each."""
    n, m = reference_sorted.size, current.size
    ordered = current if current_sorted else np.sort(current)
    shifted = ordered - centre
    # n * G(x) = k x - cumulative[k] for any k with every one of the k smallest reference values at
    # or below x and every other at or above it (all about the centre)
    placed = at_or_below(reference_sorted, ordered)
    area = placed * shifted
    area -= cumulative[placed]
    # left of the smallest window value the window's function is 0: the area is G there; right of
    # the largest it is 1: the area is mean((R - x)+)
    total = area[0] + (cumulative[n] - cumulative[placed[-1]]) - (n - placed[-1]) * shifted[-1]
    if m > 1:
        # On [start, end) the window's level is c = i / m (repeated values make empty stretches,
        # which add nothing). Where the reference's function stays on one side of c the area is
        # |G(end) - G(start) - c (end - start)|; where it crosses c inside, at its first-th smallest
        # value, the two sides are added separately.
        level_count = np.arange(1, m, dtype=np.int64)
        scaled = level_count * n
        outside = np.diff(shifted)
        outside *= scaled
        outside /= m
        np.subtract(np.diff(area), outside, out=outside)
        total += np.sum(np.abs(outside, out=outside))
        crossing = placed[:-1] * m < scaled
        crossing &= scaled <= placed[1:] * m
        crosses = np.flatnonzero(crossing)
        if crosses.size:
            total += _crossing_correction(reference_sorted, cumulative, centre, shifted, area, crosses, m)
    return float(total / n)


def _crossing_correction(
    reference_sorted: np.ndarray,
    cumulative: np.ndarray,
    centre: float,
    shifted: np.ndarray,
    area: np.ndarray,
    crosses: np.ndarray,
    m: int,
) -> float:
    """What the stretches where the reference's function crosses the window's level add beyond
    |G(end) - G(start) - c (end - start)|, in units of n * G."""
    n = reference_sorted.size
    level_count = crosses + 1
    first = -(-level_count * n // m)  # ceil(c n): the reference value where its function reaches c
    crossing = reference_sorted[first - 1] - centre
    area_crossing = first * crossing - cumulative[first]
    start, end = shifted[crosses], shifted[crosses + 1]
    area_start, area_end = area[crosses], area[crosses + 1]
    level = level_count * n / m
    both_sides = area_start + area_end - 2 * area_crossing + level * (2 * crossing - start - end)
    one_side = np.abs(area_end - area_start - level * (end - start))
    return float(np.sum(both_sides - one_side))
