"""Chi-squared test of homogeneity between the reference and the current category counts.

Both sides are samples, so the test is two-sample: the 2 x k table of (reference, current) counts
over the union of categories, expected counts from its margins, k - 1 degrees of freedom, no
continuity correction (what scipy.stats.chi2_contingency computes with correction=False). A category
one side never saw is a zero cell like any other, so a new category that takes a real share of the
rows is drift. Categories seen fewer than ``MIN_COUNT`` times over both samples are left out: the
chi-squared approximation does not hold for such sparse cells, and one stray new value among
hundreds of rows would otherwise read as certain drift (new categories still show, row by row, in
the unseen-category ratio). Numeric columns (the auto choice sends low-cardinality ones here) are
compared value by value. With fewer than two categories left there is nothing to test: statistic 0,
p-value 1. The reference's category counts are fitted once.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from exporter.drift.binning import categories_against, fit_categories
from exporter.drift.registry import DriftMethod, DriftResult, Fitted, register

MIN_COUNT = 5


@register
class ChiSquare(DriftMethod):
    name = "chisquare"
    kinds = frozenset({"numeric", "categorical"})
    default_threshold = 0.05
    has_pvalue = True

    def fit(self, reference: np.ndarray) -> Fitted:
        return fit_categories(reference)

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        return chisquare_of_counts(*categories_against(fitted, current))


def chisquare_of_counts(reference_counts: np.ndarray, current_counts: np.ndarray) -> DriftResult:
    table = np.vstack([reference_counts, current_counts]).astype(float)
    table = table[:, table.sum(axis=0) >= MIN_COUNT]
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return DriftResult(0.0, 1.0)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return DriftResult(statistic, float(chi2.sf(statistic, table.shape[1] - 1)))
