"""A feature's window values as counts on the fitted reference, mergeable by addition.

- ``NumericPlacement`` (Kolmogorov–Smirnov, Wasserstein): how many window values equal each distinct
  reference value, how many fall strictly between two consecutive ones (and below the smallest, above
  the largest), and their sum there. Between two reference values the reference's distribution
  function is flat, so the KS statistic needs nothing more and is exact; so is its p-value (scipy's,
  from the statistic and the two sizes). The Wasserstein area is exact wherever the window's function
  stays on one side of the reference's between two reference values; where it crosses, only the
  count and sum of the values there are known, and the area is taken halfway between its least and
  largest possible value. ``bound`` is half that range summed over such stretches: the published
  distance is within ``bound`` (in the same reference-standard-deviation units) of the exact one. With
  a reference of many distinct values, few window values share a stretch and the bound is small.
- ``BinCounts`` (PSI on numeric columns): counts in the fitted decile bins, exact.
- ``CategoryCounts`` (chi-squared, PSI and Jensen–Shannon on categories): counts per value, exact.

- ``ValueCounts`` (Jensen–Shannon on numeric columns, whose bins span the window's own range, which
  no fixed state knows ahead): the window's distinct values with their counts, exact. The bins are
  drawn once they are all in. Such a column usually holds few distinct values (the automatic choice
  takes Jensen–Shannon for at most 5); past ``DISTINCT_LIMIT`` the state gives up and the column is
  left out, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp, kstwo

from exporter.drift.binning import at_or_below, histogram_counts, quantile_bins_against
from exporter.drift.chisquare import chisquare_of_counts
from exporter.drift.jensenshannon import BINS, jensenshannon_of_counts
from exporter.drift.ks import EXACT_ROWS
from exporter.drift.psi import psi_of_counts
from exporter.drift.registry import DriftResult, Fitted


@dataclass
class NumericPlacement:
    points: np.ndarray  # the distinct reference values, sorted
    reference_at_or_below: np.ndarray  # reference values at or below each point
    at: np.ndarray  # window values equal to each point
    between: np.ndarray  # window values below points[0], between consecutive points, above points[-1]
    between_sum: np.ndarray  # their sums

    @classmethod
    def fit(cls, reference_sorted: np.ndarray) -> NumericPlacement:
        points, counts = np.unique(reference_sorted, return_counts=True)
        k = points.size
        return cls(points, np.cumsum(counts), np.zeros(k, np.int64), np.zeros(k + 1, np.int64), np.zeros(k + 1))

    def update(self, values: np.ndarray) -> None:
        values = np.sort(values)
        placed = at_or_below(self.points, values)
        equal = placed > 0
        equal[equal] = self.points[placed[equal] - 1] == values[equal]
        k = self.points.size
        self.at += np.bincount(placed[equal] - 1, minlength=k)
        self.between += np.bincount(placed[~equal], minlength=k + 1)
        self.between_sum += np.bincount(placed[~equal], weights=values[~equal], minlength=k + 1)

    def merge(self, other: NumericPlacement) -> NumericPlacement:
        return NumericPlacement(
            self.points,
            self.reference_at_or_below,
            self.at + other.at,
            self.between + other.between,
            self.between_sum + other.between_sum,
        )

    @property
    def rows(self) -> int:
        return int(self.at.sum() + self.between.sum())

    def _window_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """Window values below each point, and at or below it."""
        at_or_below_point = np.cumsum(self.between[:-1] + self.at)
        return at_or_below_point - self.at, at_or_below_point

    def ks(self, reference_sorted: np.ndarray) -> DriftResult:
        n, m = int(self.reference_at_or_below[-1]), self.rows
        if max(n, m) <= EXACT_ROWS:
            # scipy's exact p-value, from a window with the same counts: the values between two
            # reference points only need to lie between them
            return _scipy_ks(reference_sorted, self._representatives())
        below, at_or_below_point = self._window_levels()
        reference_below = np.concatenate([[0], self.reference_at_or_below[:-1]])
        gaps = np.concatenate(
            [
                self.reference_at_or_below / n - at_or_below_point / m,  # at each point
                reference_below / n - below / m,  # just below each point
                reference_below / n - (below - self.between[:-1]) / m,  # just above the point before
            ]
        )
        statistic = float(max(gaps.max(), -gaps.min(), 0.0))
        larger, smaller = sorted([float(n), float(m)], reverse=True)
        effective = larger * smaller / (larger + smaller)
        return DriftResult(statistic, float(np.clip(kstwo.sf(statistic, np.round(effective)), 0.0, 1.0)))

    def _representatives(self) -> np.ndarray:
        points = self.points
        inside = np.concatenate([[points[0] - 1.0], (points[:-1] + points[1:]) / 2, [points[-1] + 1.0]])
        return np.concatenate([np.repeat(points, self.at), np.repeat(inside, self.between)])

    def wasserstein(self, scale: float) -> tuple[DriftResult, float]:
        """The normed distance and the bound on its error."""
        n, m = float(self.reference_at_or_below[-1]), float(self.rows)
        points = self.points
        _, at_or_below_point = self._window_levels()
        # left of the smallest point the reference's function is 0, right of the largest it is 1
        area = (self.between[0] * points[0] - self.between_sum[0]) / m
        area += (self.between_sum[-1] - self.between[-1] * points[-1]) / m
        width = np.diff(points)
        level = self.reference_at_or_below[:-1] / n  # the reference's function between two points
        start = at_or_below_point[:-1] / m  # the window's just after the lower point
        end = (at_or_below_point[:-1] + self.between[1:-1]) / m  # and just before the upper one
        under = start * width + (self.between[1:-1] * points[1:] - self.between_sum[1:-1]) / m
        one_side = np.abs(level * width - under)
        crossing = (start < level) & (level < end)
        slack = np.where(crossing, width * np.minimum(level - start, end - level), 0.0)
        area += float(np.sum(one_side + slack))
        return DriftResult(area / scale), float(np.sum(slack)) / scale


def _scipy_ks(reference: np.ndarray, current: np.ndarray) -> DriftResult:
    result = ks_2samp(reference, current)
    return DriftResult(float(result.statistic), float(result.pvalue))


@dataclass
class BinCounts:
    edges: np.ndarray
    counts: np.ndarray

    @classmethod
    def fit(cls, fitted: Fitted) -> BinCounts:
        return cls(fitted["edges"], np.zeros(fitted["edges"].size + 1, np.int64))

    def update(self, values: np.ndarray) -> None:
        self.counts += quantile_bins_against({"edges": self.edges, "counts": self.counts}, values)[1]

    def merge(self, other: BinCounts) -> BinCounts:
        return BinCounts(self.edges, self.counts + other.counts)

    @property
    def rows(self) -> int:
        return int(self.counts.sum())

    def psi(self, fitted: Fitted) -> DriftResult:
        return psi_of_counts(fitted["counts"], self.counts)


@dataclass
class CategoryCounts:
    categories: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls, like: np.ndarray) -> CategoryCounts:
        return cls(np.array([], dtype=like.dtype), np.zeros(0, np.int64))

    def update(self, values: np.ndarray) -> None:
        merged = self.merge(CategoryCounts(*np.unique(values, return_counts=True)))
        self.categories, self.counts = merged.categories, merged.counts

    def merge(self, other: CategoryCounts) -> CategoryCounts:
        mine, theirs = _aligned(self.categories, self.counts, other.categories, other.counts)
        return CategoryCounts(np.union1d(self.categories, other.categories), mine + theirs)

    @property
    def rows(self) -> int:
        return int(self.counts.sum())

    def compare(self, method: str, fitted: Fitted) -> DriftResult:
        """The method on the reference's and the window's counts over the union of categories."""
        counts = _aligned(fitted["categories"], fitted["counts"], self.categories, self.counts)
        if method == "chisquare":
            return chisquare_of_counts(*counts)
        if method == "psi":
            return psi_of_counts(*counts)
        return jensenshannon_of_counts(*counts)


def _aligned(
    categories: np.ndarray, counts: np.ndarray, other_categories: np.ndarray, other_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both sets of counts over the sorted union of their categories."""
    union = np.union1d(categories, other_categories)
    first, second = np.zeros(union.size, np.int64), np.zeros(union.size, np.int64)
    first[np.searchsorted(union, categories)] = counts
    second[np.searchsorted(union, other_categories)] = other_counts
    return first, second


DISTINCT_LIMIT = 1_000_000


@dataclass
class ValueCounts(CategoryCounts):
    overflow: bool = False  # more than ``DISTINCT_LIMIT`` distinct values: given up

    def update(self, values: np.ndarray) -> None:
        if not self.overflow:
            merged = self.merge(ValueCounts(*np.unique(values, return_counts=True)))
            self.categories, self.counts, self.overflow = merged.categories, merged.counts, merged.overflow

    def merge(self, other: CategoryCounts) -> ValueCounts:
        merged = super().merge(other)
        if self.overflow or getattr(other, "overflow", False) or merged.categories.size > DISTINCT_LIMIT:
            return ValueCounts(merged.categories[:0], merged.counts[:0], overflow=True)
        return ValueCounts(merged.categories, merged.counts)

    def jensenshannon(self, reference_sorted: np.ndarray) -> DriftResult:
        """As ``JensenShannon.compare`` on the window whose values these are."""
        return jensenshannon_of_counts(*histogram_counts(reference_sorted, self.categories, BINS, self.counts))
