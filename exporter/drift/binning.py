"""Turning two samples into aligned bin counts, shared by the methods that compare distributions.

Each binning has a fitted form: the reference's bins and counts are computed once (``fit_*``), and a
window is then only placed into them (``*_against``), giving exactly the counts the one-shot
functions give.
"""

from __future__ import annotations

import numpy as np

from exporter.drift.registry import Fitted


def is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "fiub"


def fit_categories(reference: np.ndarray) -> Fitted:
    categories, counts = np.unique(reference, return_counts=True)
    return {"categories": categories, "counts": counts}


def categories_against(fitted: Fitted, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of every value seen in either sample, aligned over the sorted union of values."""
    current_categories, current_counts = _counted(current, fitted["categories"])
    categories = np.union1d(fitted["categories"], current_categories)
    reference_counts = np.zeros(categories.size, dtype=np.int64)
    reference_counts[np.searchsorted(categories, fitted["categories"])] = fitted["counts"]
    counts = np.zeros(categories.size, dtype=np.int64)
    counts[np.searchsorted(categories, current_categories)] = current_counts
    return reference_counts, counts


def _counted(values: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_counts=True)``, placing each value among the few ``known`` ones (sorted
    and distinct) by binary search rather than sorting every value; only values not among them are
    sorted. The distinct values present come back sorted, with their counts."""
    if known.size == 0 or values.size == 0:
        return np.unique(values, return_counts=True)
    at = np.searchsorted(known, values)
    np.minimum(at, known.size - 1, out=at)
    matched = known[at] == values
    counts = np.bincount(at[matched], minlength=known.size)
    present = counts > 0
    if matched.all():
        return known[present], counts[present]
    others, other_counts = np.unique(values[~matched], return_counts=True)
    distinct = np.concatenate([known[present], others])
    order = np.argsort(distinct, kind="stable")
    return distinct[order], np.concatenate([counts[present], other_counts])[order]


def category_counts(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return categories_against(fit_categories(reference), current)


def fit_quantile_bins(reference: np.ndarray, bins: int) -> Fitted:
    """Bins cut at the reference quantiles, with the reference's counts.

    Repeated quantiles (heavy ties) are merged, so there may be fewer than ``bins`` bins; the outer
    bins are open-ended so values beyond the reference range still land somewhere. A bin holds
    values from its lower edge (included) to its upper edge (excluded).
    """
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1)
    return {"edges": edges, "counts": counts}


def quantile_bins_against(fitted: Fitted, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = fitted["edges"]
    return fitted["counts"], np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1)


def quantile_counts(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    return quantile_bins_against(fit_quantile_bins(reference, bins), current)


def histogram_counts(
    reference_sorted: np.ndarray, current: np.ndarray, bins: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Counts over ``bins`` equal-width bins spanning both samples (``np.histogram``'s bins); with
    ``weights``, each current value counts that many times.

    The bins depend on the window's extremes, so they cannot be fitted ahead; the sorted reference is
    counted into them by binary search instead of a pass over every reference value. Each bin holds
    its lower edge and not its upper one, except the last, which holds both, as ``np.histogram``.
    """
    low = min(reference_sorted[0], current.min())
    high = max(reference_sorted[-1], current.max())
    # np.histogram_bin_edges takes only the extremes of its data into account
    edges = np.histogram_bin_edges(np.array([low, high]), bins=bins)
    below = np.searchsorted(reference_sorted, edges, side="left")
    below[-1] = np.searchsorted(reference_sorted, edges[-1], side="right")
    return np.diff(below), np.histogram(current, edges, weights=weights)[0]


def at_or_below(reference_sorted: np.ndarray, window_sorted: np.ndarray) -> np.ndarray:
    """How many reference values lie at or below each window value (``searchsorted(..., "right")``).

    A window much larger than the reference is counted the other way round: each reference value is
    placed among the window's values, which is a binary search per reference value instead of one per
    window value, and the counts follow by a running sum.
    """
    n, m = reference_sorted.size, window_sorted.size
    if m <= 4 * n:
        return np.searchsorted(reference_sorted, window_sorted, side="right")
    # the i-th window value has every reference value placed at or before i at or below it
    first_not_below = np.searchsorted(window_sorted, reference_sorted, side="left")
    return np.cumsum(np.bincount(first_not_below, minlength=m + 1)[:m])
