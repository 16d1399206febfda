"""Turning two samples into aligned bin counts, shared by the methods that compare distributions."""

from __future__ import annotations

import numpy as np


def is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "fiub"


def category_counts(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of every value seen in either sample, aligned over the sorted union of values."""
    categories = np.union1d(reference, current)
    return _counts(categories, reference), _counts(categories, current)


def quantile_counts(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts over bins cut at the reference quantiles.

    Repeated quantiles (heavy ties) are merged, so there may be fewer than ``bins`` bins; the outer
    bins are open-ended so values beyond the reference range still land somewhere. A bin holds
    values from its lower edge (included) to its upper edge (excluded).
    """
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    size = edges.size + 1
    return (
        np.bincount(np.searchsorted(edges, reference, side="right"), minlength=size),
        np.bincount(np.searchsorted(edges, current, side="right"), minlength=size),
    )


def histogram_counts(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts over ``bins`` equal-width bins spanning both samples."""
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins=bins)
    return np.histogram(reference, edges)[0], np.histogram(current, edges)[0]


def _counts(categories: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(categories, values), minlength=categories.size)
