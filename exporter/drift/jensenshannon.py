"""Jensen–Shannon distance (base 2, so it lies in [0, 1]) between the two frequency distributions.

Categorical columns use the category frequencies over the union of categories (the reference's
counts fitted once); numeric columns use a histogram of 30 equal-width bins spanning both samples,
the sorted reference counted into those bins by binary search. Evidently 0.7.23 uses natural
logarithms and Sturges bins, so its values differ.
"""

from __future__ import annotations

import numpy as np

from exporter.drift.binning import categories_against, fit_categories, histogram_counts, is_numeric
from exporter.drift.registry import DriftMethod, DriftResult, Fitted, register

BINS = 30


@register
class JensenShannon(DriftMethod):
    name = "jensenshannon"
    kinds = frozenset({"numeric", "categorical"})
    default_threshold = 0.1

    def fit(self, reference: np.ndarray) -> Fitted:
        return {} if is_numeric(reference) else fit_categories(reference)

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        if is_numeric(reference):
            reference_counts, current_counts = histogram_counts(reference, current, BINS)
        else:
            reference_counts, current_counts = categories_against(fitted, current)
        return jensenshannon_of_counts(reference_counts, current_counts)


def jensenshannon_of_counts(reference_counts: np.ndarray, current_counts: np.ndarray) -> DriftResult:
    p = reference_counts / reference_counts.sum()
    q = current_counts / current_counts.sum()
    middle = (p + q) / 2
    divergence = (_kullback_leibler(p, middle) + _kullback_leibler(q, middle)) / 2
    return DriftResult(float(np.sqrt(max(divergence, 0.0))))


def _kullback_leibler(p: np.ndarray, q: np.ndarray) -> float:
    # Bins where p is empty contribute nothing (the limit of p log p as p -> 0).
    present = p > 0
    return float(np.sum(p[present] * np.log2(p[present] / q[present])))
