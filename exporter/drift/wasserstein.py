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

import functools
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Runs:
    """Where the runs of the larger side (n values) under each of the smaller side's m values lie:
    they depend only on n and m, so every feature of a window compared with one reference shares them.

    In units of 1 / (n m), the smaller side's i-th value spans (i n, (i + 1) n] and the larger side's
    j-th spans (j m, (j + 1) m]: the run under value i goes from ``first`` to ``last``, which cover
    ``first_weight`` and ``last_weight`` of it (``last_weight`` is 0 when they are the same value);
    the values strictly inside, [inside, upto), span m each.
    """

    first: np.ndarray
    last: np.ndarray
    first_weight: np.ndarray
    last_weight: np.ndarray
    inside: np.ndarray
    upto: np.ndarray
    count: np.ndarray
    lowest: np.ndarray  # the first value inside the run (clipped to the larger side)
    highest: np.ndarray  # the last value inside the run (clipped likewise)


@functools.lru_cache(maxsize=4)
def _runs(n: int, m: int) -> _Runs:
    start = np.arange(m, dtype=np.int64) * n
    end = start + n
    first = start // m
    last = -(-end // m) - 1
    single = first == last
    inside = first + 1
    count = np.maximum(last - inside, 0)
    upto = inside + count
    runs = _Runs(
        first=first,
        last=last,
        first_weight=np.where(single, n, np.minimum((first + 1) * m, end) - start).astype(np.float64),
        last_weight=np.where(single, 0, end - last * m).astype(np.float64),
        inside=inside,
        upto=upto,
        count=count,
        lowest=np.minimum(inside, n - 1),
        highest=np.maximum(upto - 1, 0),
    )
    for array in vars(runs).values():
        array.flags.writeable = False  # shared between calls and threads
    return runs


# runs of smaller sides up to this many values are kept for the next comparison (at most four sizes)
CACHED_RUNS = 1 << 17


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
    ordered = np.sort(smaller)
    if n == m:
        # each value is paired with the larger side's value of the same rank
        return float(np.abs(larger_sorted - ordered).sum() / n)
    runs = _runs(n, m) if m <= CACHED_RUNS else _runs.__wrapped__(n, m)
    total = np.abs(larger_sorted[runs.first] - ordered)
    total *= runs.first_weight
    total += np.abs(larger_sorted[runs.last] - ordered) * runs.last_weight
    # sorted, so the run is on one side of the value when its first or its last value is; a run
    # holding values on both sides is split where the value falls
    straddles = np.flatnonzero(
        (runs.count > 0) & (larger_sorted[runs.lowest] < ordered) & (ordered < larger_sorted[runs.highest])
    )
    value = ordered - centre
    run_sums = between(runs.inside, runs.upto)
    inner = np.abs(runs.count * value - run_sums)
    if straddles.size:
        at = value[straddles]
        inside, upto = runs.inside[straddles], runs.upto[straddles]
        split = np.clip(np.searchsorted(larger_sorted, ordered[straddles], side="right"), inside, upto)
        below_sums = between(inside, split)
        below = (split - inside) * at - below_sums
        above = (run_sums[straddles] - below_sums) - (upto - split) * at
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
