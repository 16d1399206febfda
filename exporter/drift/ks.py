"""Two-sample Kolmogorov–Smirnov test: the largest gap between the two empirical distribution functions.

Where scipy's ``ks_2samp`` computes the exact p-value (neither sample above ``EXACT_ROWS`` rows) it is
called as it is. Beyond that scipy uses Smirnov's asymptotic distribution, and the statistic is
computed here against the sorted reference without touching every reference value: between two
consecutive distinct window values the window's distribution function is flat and the reference's
only rises, so the largest gap is reached at a window value or just before one. Both are counted by
binary search, so the cost follows the window; the gaps are the very fractions scipy compares.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp, kstwo

from exporter.drift.binning import at_or_below
from exporter.drift.registry import DriftMethod, DriftResult, Fitted, register

# scipy's ks_2samp(method="auto") takes the exact distribution up to this many rows per sample
EXACT_ROWS = 10_000


@register
class KolmogorovSmirnov(DriftMethod):
    name = "ks"
    kinds = frozenset({"numeric"})
    default_threshold = 0.05
    has_pvalue = True

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        if max(reference.size, current.size) <= EXACT_ROWS:
            result = ks_2samp(reference, current)
            return DriftResult(float(result.statistic), float(result.pvalue))
        statistic = ks_statistic(reference, current)
        larger, smaller = sorted([float(reference.size), float(current.size)], reverse=True)
        effective = larger * smaller / (larger + smaller)
        pvalue = float(np.clip(kstwo.sf(statistic, np.round(effective)), 0.0, 1.0))
        return DriftResult(statistic, pvalue)


def ks_statistic(reference_sorted: np.ndarray, current: np.ndarray) -> float:
    values, counts = np.unique(current, return_counts=True)
    window_at_or_below = np.cumsum(counts)
    n, m = reference_sorted.size, current.size
    at_or_below_reference = at_or_below(reference_sorted, values)
    # fewer reference values lie strictly below a window value only where it equals one of them
    below_reference = at_or_below_reference.copy()
    tied = np.flatnonzero(
        (at_or_below_reference > 0) & (reference_sorted[np.maximum(at_or_below_reference - 1, 0)] == values)
    )
    below_reference[tied] = np.searchsorted(reference_sorted, values[tied], side="left")
    gaps = np.concatenate(
        [
            at_or_below_reference / n - window_at_or_below / m,
            below_reference / n - (window_at_or_below - counts) / m,
        ]
    )
    return float(max(gaps.max(), -gaps.min(), 0.0))
