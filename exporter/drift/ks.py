"""Two-sample Kolmogorov–Smirnov test: the largest gap between the two empirical distribution functions."""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp

from exporter.drift.registry import DriftMethod, DriftResult, register


@register
class KolmogorovSmirnov(DriftMethod):
    name = "ks"
    kinds = frozenset({"numeric"})
    default_threshold = 0.05
    has_pvalue = True

    def compute(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        result = ks_2samp(reference, current)
        return DriftResult(float(result.statistic), float(result.pvalue))
