"""Population Stability Index: sum over bins of (current share - reference share) * ln(current / reference).

Numeric columns are cut at the reference deciles (see ``quantile_counts``); categorical columns are
compared category by category. An empty bin would make the logarithm infinite, so empty shares are
replaced by a small epsilon, as Evidently does; the default threshold is Evidently's 0.1.
"""

from __future__ import annotations

import numpy as np

from exporter.drift.binning import category_counts, is_numeric, quantile_counts
from exporter.drift.registry import DriftMethod, DriftResult, register

BINS = 10
EPSILON = 1e-4


@register
class PopulationStabilityIndex(DriftMethod):
    name = "psi"
    kinds = frozenset({"numeric", "categorical"})
    default_threshold = 0.1

    def compute(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        if is_numeric(reference):
            reference_counts, current_counts = quantile_counts(reference, current, BINS)
        else:
            reference_counts, current_counts = category_counts(reference, current)
        expected = _shares(reference_counts)
        actual = _shares(current_counts)
        return DriftResult(float(np.sum((actual - expected) * np.log(actual / expected))))


def _shares(counts: np.ndarray) -> np.ndarray:
    shares = counts / counts.sum()
    return np.where(shares == 0, EPSILON, shares)
