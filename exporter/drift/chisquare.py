"""Chi-squared goodness of fit of the current category counts to the reference category shares.

Categories the reference never saw have no expected count. They are pooled into one "unseen" cell
whose expected share is a small epsilon (the other shares scaled down to keep the total), so a few
new categories weigh heavily: they are drift the reference cannot explain. Numeric columns (the
auto choice sends low-cardinality ones here) are compared value by value. With a single cell there
is nothing to test: statistic 0, p-value 1.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from exporter.drift.binning import category_counts
from exporter.drift.registry import DriftMethod, DriftResult, register

EPSILON = 1e-4


@register
class ChiSquare(DriftMethod):
    name = "chisquare"
    kinds = frozenset({"numeric", "categorical"})
    default_threshold = 0.05
    has_pvalue = True

    def compute(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        reference_counts, current_counts = category_counts(reference, current)
        seen = reference_counts > 0
        shares = reference_counts[seen] / reference.size
        observed = current_counts[seen]
        unseen = current_counts[~seen].sum()
        if unseen:
            shares = np.append(shares, EPSILON) / (1.0 + EPSILON)
            observed = np.append(observed, unseen)
        if observed.size < 2:
            return DriftResult(0.0, 1.0)
        expected = shares * current.size
        statistic = float(np.sum((observed - expected) ** 2 / expected))
        return DriftResult(statistic, float(chi2.sf(statistic, observed.size - 1)))
