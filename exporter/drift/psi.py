"""Population Stability Index: sum over bins of (current share - reference share) * ln(current / reference).

Numeric columns are cut at the reference deciles (see ``fit_quantile_bins``); categorical columns are
compared category by category. Edges and reference counts are fitted once. An empty bin would make
the logarithm infinite, so empty shares are replaced by a small epsilon, as Evidently does; the
default threshold is Evidently's 0.1.
"""

from __future__ import annotations

import numpy as np

from exporter.drift.binning import (
    categories_against,
    fit_categories,
    fit_quantile_bins,
    is_numeric,
    quantile_bins_against,
)
from exporter.drift.registry import DriftMethod, DriftResult, Fitted, register

BINS = 10
EPSILON = 1e-4


@register
class PopulationStabilityIndex(DriftMethod):
    name = "psi"
    kinds = frozenset({"numeric", "categorical"})
    default_threshold = 0.1

    def fit(self, reference: np.ndarray) -> Fitted:
        return fit_quantile_bins(reference, BINS) if is_numeric(reference) else fit_categories(reference)

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        if is_numeric(reference):
            reference_counts, current_counts = quantile_bins_against(fitted, current)
        else:
            reference_counts, current_counts = categories_against(fitted, current)
        return psi_of_counts(reference_counts, current_counts)


def psi_of_counts(reference_counts: np.ndarray, current_counts: np.ndarray) -> DriftResult:
    expected = _shares(reference_counts)
    actual = _shares(current_counts)
    return DriftResult(float(np.sum((actual - expected) * np.log(actual / expected))))


def _shares(counts: np.ndarray) -> np.ndarray:
    shares = counts / counts.sum()
    return np.where(shares == 0, EPSILON, shares)
