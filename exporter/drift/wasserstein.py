"""Wasserstein-1 (earth mover's) distance, in units of the reference standard deviation (as Evidently).

A constant reference column has no spread to scale by; its distance is then reported unscaled, in the
feature's own units, so any move of the current values away from the constant by the threshold or
more counts as drift.

The distance is the area between the two quantile functions, W1 = ∫ |F⁻¹(u) - G⁻¹(u)| du over
u in (0, 1]. With n sorted values on the larger side and m on the smaller, the i-th smallest value
of the smaller side is its quantile over u in (i/m, (i+1)/m]; the larger side's values over that
stretch are a run of consecutive ones whose bounds follow from i, n and m by integer arithmetic,
each weighted by how much of the stretch it covers. Where the whole run lies on one side of the
smaller side's value, the run adds |count x - sum| with the sum taken from running sums; only a run
that straddles the value needs a binary search to split it. A run's bounds are known without
searching, so a comparison reads the larger side at about 2m evenly spaced places, not at m binary
searches' worth of scattered ones: the cost follows the smaller side, whatever the larger one's size.

Fitting keeps the reference's running sums. A window larger than the reference takes its role: it is
sorted once, and the sums it is asked for (one per reference value, and one more per split run) are
added up stretch by stretch in one pass, without a running sum of every value. When both sides hold
as many values, each value is simply paired with the other side's value of the same rank. Sums are
taken about the larger side's median, so they stay small and exact to rounding.
"""

from __future__ import annotations

from collections.abc import Callable

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
        cumulative, centre = centred_sums(reference)
        return {"cumulative": cumulative, "centre": np.array([centre]), "scale": np.array([scale])}

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        if current.size > reference.size:
            shifted = np.sort(current)
            centre = float(shifted[shifted.size // 2])
            shifted -= centre
            distance = wasserstein_to_larger(shifted, _segment_sums(shifted), 0.0, reference - centre)
        else:
            distance = wasserstein_to_larger(
                reference, _running_sums(fitted["cumulative"]), float(fitted["centre"][0]), current
            )
        return DriftResult(distance / float(fitted["scale"][0]))


def centred_sums(values_sorted: np.ndarray) -> tuple[np.ndarray, float]:
    """The median of sorted values and the running sums of the values minus it, from 0 (k values: index k)."""
    centre = float(values_sorted[values_sorted.size // 2])
    cumulative = np.empty(values_sorted.size + 1)
    cumulative[0] = 0.0
    np.cumsum(np.subtract(values_sorted, centre), out=cumulative[1:])
    return cumulative, centre


def wasserstein_to_larger(
    larger_sorted: np.ndarray,
    between: Callable[[np.ndarray, np.ndarray], np.ndarray],
    centre: float,
    smaller: np.ndarray,
) -> float:
    """W1 between ``larger_sorted`` (n values) and ``smaller`` (m <= n values, any order);
    ``between(starts, ends)`` sums the larger side's values minus ``centre`` over each stretch of
    positions [start, end), the stretches in ascending order and not overlapping."""
    n, m = larger_sorted.size, smaller.size
    value = np.sort(smaller) - centre
    if n == m:
        # each value is paired with the larger side's value of the same rank
        return float(np.abs(larger_sorted - centre - value).sum() / n)
    # In units of 1 / (n m), the smaller side's i-th value spans (i n, (i + 1) n] and the larger
    # side's j-th spans (j m, (j + 1) m]: the run under value i goes from `first` to `last`.
    start = np.arange(m, dtype=np.int64) * n
    end = start + n
    first = start // m
    last = -(-end // m) - 1
    single = first == last
    total = np.abs(larger_sorted[first] - centre - value)
    total *= np.where(single, n, np.minimum((first + 1) * m, end) - start)
    total += np.where(single, 0.0, np.abs(larger_sorted[last] - centre - value) * (end - last * m))
    # the values strictly inside the run, [inside, upto), each spanning m; the runs follow each other
    inside = first + 1
    count = np.maximum(last - inside, 0)
    upto = inside + count
    # sorted, so the run is on one side of the value when its first or its last value is; a run
    # holding values on both sides is split where the value falls
    lowest = larger_sorted[np.minimum(inside, n - 1)] - centre
    highest = larger_sorted[np.maximum(upto - 1, 0)] - centre
    straddles = np.flatnonzero((count > 0) & (lowest < value) & (value < highest))
    run_sums = between(inside, upto)
    inner = np.abs(count * value - run_sums)
    if straddles.size:
        at = value[straddles]
        split = np.clip(np.searchsorted(larger_sorted, at + centre, side="right"), inside[straddles], upto[straddles])
        below_sums = between(inside[straddles], split)
        below = (split - inside[straddles]) * at - below_sums
        above = (run_sums[straddles] - below_sums) - (upto[straddles] - split) * at
        inner[straddles] = below + above
    inner *= m
    total += inner
    return float(total.sum() / n / m)


def _running_sums(cumulative: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``between`` from running sums (``centred_sums``): the difference of two of them."""

    def between(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        return cumulative.take(ends) - cumulative.take(starts)

    return between


def _segment_sums(values: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``between`` for ``values`` without a running sum of every value: each stretch is added up on
    its own, all of them in one pass."""

    def between(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        sums = np.zeros(starts.size)
        kept = np.flatnonzero(ends > starts)
        if kept.size == 0:
            return sums
        # reduceat adds up values[bounds[k]:bounds[k + 1]]: the stretches are the even k, the gaps
        # between them the odd ones; the last stretch may run to the end
        bounds = np.empty(2 * kept.size, dtype=np.int64)
        bounds[0::2] = starts[kept]
        bounds[1::2] = ends[kept]
        if bounds[-1] >= values.size:
            bounds = bounds[:-1]
        sums[kept] = np.add.reduceat(values, bounds)[0::2]
        return sums

    return between
