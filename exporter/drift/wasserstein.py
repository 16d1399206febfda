"""Wasserstein-1 (earth mover's) distance, in units of the reference standard deviation (as Evidently).

A constant reference column has no spread to scale by; its distance is then reported unscaled, in the
feature's own units, so any move of the current values away from the constant by the threshold or
more counts as drift.

The distance is the area between the two quantile functions, W1 = ∫ |F⁻¹(u) - G⁻¹(u)| du over
u in (0, 1]. With n sorted values on the larger side and m on the smaller, in units of 1 / (n m) the
smaller side's i-th value spans (i n, (i + 1) n] and the larger side's j-th spans (j m, (j + 1) m].
Each larger value lies under one smaller value, or under two consecutive ones when its stretch
crosses a boundary, so W1 is a sum of n terms |x_j - y_i| weighted by how much of x_j's stretch lies
under y_i. Which values pair, and with what weight, depends only on n and m.

Two ways of adding it up, picked by size:

- **Pairing** (``paired_distance``): every larger value against the smaller value over it, in a few
  passes over the n values, with no running sum, so nothing cancels. It is used whenever the larger
  side is not many times the smaller one, and always when the window is the larger side, since the
  window has to be sorted anyway. Equal sizes pair values of the same rank.
- **Runs** (``wasserstein_to_larger``), for a reference many times the window: each of the m window
  values faces a run of consecutive reference values. Where the whole run lies on one side of the
  window value, the run adds |count x - sum| with the sum taken from running sums kept at fit time;
  only a run that straddles the value needs a binary search to split it. A sketch kept at fit time
  (every 32nd sorted value) bounds each run's values: a run it places wholly on one side needs no
  read at all, since consecutive runs of one side add up to a difference of the running sums at the
  ends of the stretch; only the runs near a crossing of the two quantile functions are read (their
  two end values, and two running sums about where the window value falls among them). So the
  cost follows the window, whatever the reference's size, and the large reference is hardly
  touched. Sums are taken about the reference's median, so they stay small and exact to rounding.
  Where numba is installed (the ``fast`` extra), the sketched runs are added up in one compiled loop
  (``wasserstein_kernel``) instead of some thirty numpy calls a feature; the terms are the same.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from exporter.drift import wasserstein_kernel
from exporter.drift.registry import DriftMethod, DriftResult, Fitted, register

T = TypeVar("T")


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
        return {
            "cumulative": cumulative,
            "centre": np.array([centre]),
            "scale": np.array([scale]),
            "sketch": sketch_of(reference, SKETCH_STEP),
            "sketch_step": np.array([SKETCH_STEP]),
        }

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        if reference.size > RUNS_RATIO * current.size:
            # a profile stored before sketches were fitted has none, and reads every run
            sketch = (fitted["sketch"], int(fitted["sketch_step"][0])) if "sketch" in fitted else None
            distance = wasserstein_to_larger(
                reference, fitted["cumulative"], float(fitted["centre"][0]), current, sketch
            )
        elif current.size > reference.size:
            distance = paired_distance(np.sort(current), reference)
        else:
            distance = paired_distance(reference, np.sort(current))
        return DriftResult(distance / float(fitted["scale"][0]))


# a reference more than this many times the window's size is compared by runs: pairing would read
# every reference value, runs read a few sketch entries per window value
RUNS_RATIO = 20
# every this many sorted reference values one is kept at fit time (the sketch, with the last), to
# bound the values of each run without reading them: 0.25 bytes a reference value
SKETCH_STEP = 32
# how values pair (or run) for smaller sides up to this many values is kept for the next comparisons
# (at most four pairs of sizes each)
CACHED_RUNS = 1 << 17


def _sized(make: functools._lru_cache_wrapper[T], n: int, m: int, *more: int) -> T:
    """``make(n, m, ...)`` (``_pairs``, ``_runs``, ``_bounds``): from its cache when the smaller side
    holds up to ``CACHED_RUNS`` values, built afresh (and not kept) otherwise."""
    return make(n, m, *more) if m <= CACHED_RUNS else make.__wrapped__(n, m, *more)


def centred_sums(values_sorted: np.ndarray) -> tuple[np.ndarray, float]:
    """The median of sorted values and the running sums of the values minus it, from 0 (k values: index k)."""
    centre = float(values_sorted[values_sorted.size // 2])
    cumulative = np.empty(values_sorted.size + 1)
    cumulative[0] = 0.0
    np.cumsum(np.subtract(values_sorted, centre), out=cumulative[1:])
    return cumulative, centre


def sketch_of(values_sorted: np.ndarray, step: int) -> np.ndarray:
    """Every ``step``-th of the sorted values from the first, and the last: sketch[k] is the value at
    position min(k step, n - 1)."""
    n = values_sorted.size
    positions = np.minimum(np.arange(sketch_size(n, step), dtype=np.int64) * step, n - 1)
    return values_sorted[positions]


def sketch_size(n: int, step: int) -> int:
    """How many entries ``sketch_of`` keeps of n values: every ``step``-th from the first, and the last."""
    return -(-(n - 1) // step) + 1


def check_fitted(larger_sorted: np.ndarray, cumulative: np.ndarray, entries: np.ndarray, step: int) -> None:
    """Raise ValueError unless the running sums and the sketch have the sizes the runs index by: the
    compiled loop (``wasserstein_kernel``) does not check its indices, so a damaged profile must not
    reach it, and the numpy calls refuse it the same way."""
    n = larger_sorted.size
    if step < 1 or cumulative.size != n + 1 or entries.size != sketch_size(n, step):
        raise ValueError(
            f"a Wasserstein profile of {n} values holds {cumulative.size} running sums and {entries.size} sketch "
            f"entries every {step}: it does not match its values, so it cannot be compared (fit the reference again)"
        )


@dataclass(frozen=True)
class _Pairs:
    """Which smaller value each larger value is paired with (n values against m <= n, see above).

    Larger values ``[starts[i], starts[i + 1])`` begin under smaller value i. The last of them may
    reach past i's stretch into i + 1's: ``crossing`` lists those i, ``crossing_at`` the larger value's
    index and ``overhang`` how much of its stretch (in units of 1 / (n m), out of m) lies under i + 1.
    """

    starts: np.ndarray
    crossing: np.ndarray
    crossing_at: np.ndarray
    overhang: np.ndarray


@functools.lru_cache(maxsize=4)
def _pairs(n: int, m: int) -> _Pairs:
    boundary = np.arange(m + 1, dtype=np.int64) * n  # the smaller side's stretch ends, scaled
    starts = -(-boundary // m)  # the first larger value whose stretch begins at or after each end
    last = starts[1:-1] - 1  # the last larger value beginning under each smaller value but the last
    overhang = (last + 1) * m - boundary[1:-1]
    crossing = np.flatnonzero(overhang > 0)
    pairs = _Pairs(starts=starts, crossing=crossing, crossing_at=last[crossing], overhang=overhang[crossing] * 1.0)
    for array in vars(pairs).values():
        array.flags.writeable = False  # shared between calls and threads
    return pairs


# larger values paired per pass: the smaller values spread over them stay in the processor's cache
PAIRED_CHUNK = 1 << 16


def paired_distance(larger_sorted: np.ndarray, smaller_sorted: np.ndarray) -> float:
    """W1 between two sorted samples, the first at least as large as the second, by pairing every
    larger value with the smaller value (or two) over its stretch."""
    n, m = larger_sorted.size, smaller_sorted.size
    if n == m:
        return float(np.abs(larger_sorted - smaller_sorted).sum() / n)
    pairs = _sized(_pairs, n, m)
    total = 0.0
    step = max(1, PAIRED_CHUNK * m // n)  # smaller values per pass
    for first in range(0, m, step):
        last = min(first + step, m)
        lo, hi = int(pairs.starts[first]), int(pairs.starts[last])
        gaps = np.repeat(smaller_sorted[first:last], np.diff(pairs.starts[first : last + 1]))
        np.subtract(larger_sorted[lo:hi], gaps, out=gaps)
        np.abs(gaps, out=gaps)
        total += float(gaps.sum())
    total *= m
    if pairs.crossing.size:
        # a crossing value was counted whole under i: move its overhang to i + 1
        at = larger_sorted[pairs.crossing_at]
        moved = np.abs(at - smaller_sorted[pairs.crossing + 1]) - np.abs(at - smaller_sorted[pairs.crossing])
        total += float(np.dot(pairs.overhang, moved))
    return total / n / m


@dataclass(frozen=True)
class _Runs:
    """Where the runs of the larger side (n values) under each of the smaller side's m values lie:
    they depend only on n and m, so every feature of a window compared with one reference shares them.

    In units of 1 / (n m), the smaller side's i-th value spans (i n, (i + 1) n] and the larger side's
    j-th spans (j m, (j + 1) m]: the run under value i goes from ``first`` to ``last``, which cover
    ``first_weight`` and ``last_weight`` of it (``last_weight`` is 0 when they are the same value);
    the values strictly inside, [first + 1, upto), span m each. ``ends`` holds the positions of the
    running sums that give a run's end values and inner sum.
    """

    end_weights: np.ndarray  # (m, 2): first_weight and last_weight of each run
    ends: np.ndarray  # (m, 4): first, first + 1 (= inside), upto and last + 1 of each run
    end_values: np.ndarray  # (m, 2): first and last of each run (the same value for a run of one)


@functools.lru_cache(maxsize=4)
def _runs(n: int, m: int) -> _Runs:
    start = np.arange(m, dtype=np.int64) * n
    end = start + n
    first = start // m
    last = -(-end // m) - 1
    single = first == last
    upto = np.maximum(last, first + 1)  # the end of the values strictly inside, [first + 1, upto)
    runs = _Runs(
        end_weights=np.stack(
            [np.where(single, n, np.minimum((first + 1) * m, end) - start), np.where(single, 0, end - last * m)],
            axis=1,
        ).astype(np.float64),
        ends=np.stack([first, first + 1, upto, last + 1], axis=1),
        end_values=np.stack([first, last], axis=1),
    )
    for array in vars(runs).values():
        array.flags.writeable = False  # shared between calls and threads
    return runs


@dataclass(frozen=True)
class _Bounds:
    """For runs of n values under m window values and a sketch every ``step`` values: the sketch
    entries at or below each run's first value (``low``) and at or above its last (``high``); and
    where each of the window's m + 1 stretch ends falls among the n values, at ``position`` plus
    ``fraction`` of the next value (``value_at``, clipped to the last value, is that next value)."""

    low: np.ndarray
    high: np.ndarray
    position: np.ndarray
    fraction: np.ndarray
    value_at: np.ndarray


@functools.lru_cache(maxsize=4)
def _bounds(n: int, m: int, step: int) -> _Bounds:
    runs = _sized(_runs, n, m)
    boundary = np.arange(m + 1, dtype=np.int64) * n
    position = boundary // m
    bounds = _Bounds(
        low=runs.ends[:, 0] // step,  # first // step
        high=-(-(runs.ends[:, 3] - 1) // step),  # last / step, rounded up
        position=position,
        fraction=(boundary - position * m) / m,
        value_at=np.minimum(position, n - 1),
    )
    for array in vars(bounds).values():
        array.flags.writeable = False
    return bounds


def wasserstein_to_larger(
    larger_sorted: np.ndarray,
    cumulative: np.ndarray,
    centre: float,
    smaller: np.ndarray,
    sketch: tuple[np.ndarray, int] | None = None,
) -> float:
    """W1 between ``larger_sorted`` (n values) and ``smaller`` (m <= n values, any order), with
    ``cumulative`` and ``centre`` the larger side's ``centred_sums`` and ``sketch`` its ``sketch_of``
    and step.

    With a sketch, most runs are never read. A run lies wholly at or above its window value x when
    the sketch entry at or below its first value does, and wholly at or below x when the entry at or
    above its last value does. A run below adds s (n x - R) in units of 1 / (n m) with s = +1, a run
    above the same with s = -1, R being its values weighted over the stretch (they weigh n in all).
    Every run not placed above is counted as below (s = +1); for the runs the sketch cannot place
    below either, that is short of the true |y - x| sum by twice the weighted sum of y - x over
    their values y above x, added exactly (``_above_in_runs``). Let C(i) be the sum of the reference
    values (minus the centre) before the i-th stretch end, the value that end cuts counted by the
    fraction before it: run i's R is m (C(i + 1) - C(i)). So over all the runs the sum is
    n sum(s x) + m sum(C(i) (s_i - s_(i-1))) with s = 0 outside [0, m): C is read only where the
    sign flips, and at the end, where it is the sum of every value.

    Without one, the running sums are read where the runs meet, at first, first + 1, upto (= last
    unless the run is one or two values) and last + 1, most often in one cache line. A run's end
    values are differences of neighbouring sums (the value minus the centre, to within the rounding
    of a sum), so the values themselves are read only to split a run that holds its window value.
    """
    n, m = larger_sorted.size, smaller.size
    if sketch is not None:
        check_fitted(larger_sorted, cumulative, sketch[0], int(sketch[1]))
    ordered = np.sort(smaller)
    if sketch is not None and (kernel := wasserstein_kernel.compiled()) is not None:
        # the same terms in one compiled loop (wasserstein_kernel), float64 and contiguous as it is typed
        reference, sums, window, entries = (
            np.ascontiguousarray(a, dtype=np.float64) for a in (larger_sorted, cumulative, ordered, sketch[0])
        )
        return kernel(reference, sums, float(centre), window, entries, int(sketch[1])) / n / m
    value = ordered - centre
    runs = _sized(_runs, n, m)
    if sketch is None:
        return _exact_runs(larger_sorted, cumulative, ordered, value, runs) / n / m
    entries, step = sketch
    bounds = _sized(_bounds, n, m, step)
    above = ordered <= entries.take(bounds.low)
    unsure = np.flatnonzero((ordered < entries.take(bounds.high)) > above)  # placed neither above nor below
    total = n * (float(value.sum()) - 2.0 * float(np.dot(above, value)))
    # s_i - s_(i-1) is -2 where a run above follows one below and +2 the other way round; C(0) = 0 and
    # C(m) is the sum of every value
    flips = np.flatnonzero(above[1:] != above[:-1])
    flips += 1
    integral = cumulative.take(bounds.position[flips])
    integral += bounds.fraction[flips] * (larger_sorted.take(bounds.value_at[flips]) - centre)
    moved = 2.0 * float(integral.sum()) - 4.0 * float(np.dot(above[flips], integral))
    moved += float(cumulative[n]) if above[-1] else -float(cumulative[n])  # -s_(m-1) C(m)
    total += m * moved
    if unsure.size:
        total += 2.0 * _above_in_runs(larger_sorted, cumulative, ordered[unsure], value[unsure], runs, unsure)
    return total / n / m


def _above_in_runs(
    larger_sorted: np.ndarray,
    cumulative: np.ndarray,
    ordered: np.ndarray,
    value: np.ndarray,
    runs: _Runs,
    subset: np.ndarray,
) -> float:
    """The weighted sum of y - x over the values y above x of each run in ``subset``, x being its
    window value (``ordered``; ``value`` is x minus the centre), in units of 1 / (n m).

    A run's first and last values count by their end weights when they lie above x; the values
    between them weigh m each, and those above x are the ones from where x falls among them on."""
    gaps = larger_sorted.take(runs.end_values[subset])
    gaps -= ordered[:, None]
    np.maximum(gaps, 0.0, out=gaps)
    total = float(np.einsum("ij,ij->", gaps, runs.end_weights[subset]))
    ends = runs.ends[subset]
    inside, upto = ends[:, 1], ends[:, 2]  # the values strictly inside, [first + 1, upto)
    split = np.searchsorted(larger_sorted, ordered, side="right")
    np.clip(split, inside, upto, out=split)
    sums = cumulative.take(upto) - cumulative.take(split)
    sums -= (upto - split) * value
    return total + float(sums.sum()) * runs.ends.shape[0]


def _exact_runs(
    larger_sorted: np.ndarray,
    cumulative: np.ndarray,
    ordered: np.ndarray,
    value: np.ndarray,
    runs: _Runs,
) -> float:
    """W1 over every run, in units of 1 / (n m), the values read from the running sums; ``value`` is
    ``ordered`` minus the centre."""
    ends, end_weights = runs.ends, runs.end_weights
    sums = cumulative.take(ends)  # at first, first + 1, upto, last + 1
    # each run's first and last value, minus the value under it (the last is 0 for a single-value run,
    # whose last weight is 0)
    gaps = sums[:, 1::2] - sums[:, 0::2]
    gaps -= value[:, None]
    # sorted, so the run is on one side of the value when its first or its last value is; a run whose
    # ends lie on both sides may hold values on both, and is split where the value falls (the split
    # is right for a run that turns out to lie on one side, or to hold no value inside, too)
    straddles = np.flatnonzero((gaps[:, 0] < 0) & (gaps[:, 1] > 0))
    np.abs(gaps, out=gaps)
    total = float(np.dot(gaps.ravel(), end_weights.ravel()))
    # the values strictly inside the run, [inside, upto) = [first + 1, upto): their count and sum
    inside, upto = ends[:, 1], ends[:, 2]
    run_sums = sums[:, 2] - sums[:, 1]
    inner = (upto - inside) * value
    inner -= run_sums
    np.abs(inner, out=inner)
    if straddles.size:
        inner[straddles] = _split_runs(
            larger_sorted,
            cumulative,
            ordered[straddles],
            value[straddles],
            inside[straddles],
            upto[straddles],
            run_sums[straddles],
        )
    return total + float(inner.sum()) * runs.ends.shape[0]  # the inner values span m each


def _split_runs(
    larger_sorted: np.ndarray,
    cumulative: np.ndarray,
    ordered: np.ndarray,
    value: np.ndarray,
    inside: np.ndarray,
    upto: np.ndarray,
    run_sums: np.ndarray,
) -> np.ndarray:
    """Sum of |x - value| over each run [inside, upto) of the larger side, split where its window
    value (``ordered``, ``value`` the same minus the centre) falls."""
    split = np.clip(np.searchsorted(larger_sorted, ordered, side="right"), inside, upto)
    below_sums = cumulative.take(split) - cumulative.take(inside)
    below = (split - inside) * value - below_sums
    above = (run_sums - below_sums) - (upto - split) * value
    return below + above
