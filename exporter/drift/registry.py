"""The drift-method interface and its registry.

A method compares the non-missing values of one column in the reference with those of the current
window. Inputs are float64 for numeric columns (the reference already sorted) and str for categorical
ones. Methods with a p-value (tests) flag drift when the p-value falls below the threshold, their
significance level; distances flag drift when the score reaches the threshold, their cut-off.

The severity puts every method on one scale, >= 1 exactly when the column is flagged and larger when
the drift is larger: for a distance ``score / cut-off``; for a test ``log(p) / log(alpha)``, the
number of times the p-value is as small as the significance level (p = alpha**severity).

The reference side is fitted once: ``fit`` keeps what the comparison needs beyond the reference
values themselves (cumulative sums, bin edges and counts, category counts), so ``compare`` only has
to place the window's values and its cost follows the window, not the reference. ``compute`` fits
and compares in one go, for a reference used once.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from exporter.registry import Registry

Fitted = dict[str, np.ndarray]


@dataclass(frozen=True)
class DriftResult:
    score: float
    pvalue: float | None = None


class DriftMethod:
    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    default_threshold: ClassVar[float]
    has_pvalue: ClassVar[bool] = False

    def fit(self, reference: np.ndarray) -> Fitted:
        """What ``compare`` needs beyond ``reference`` itself; plain arrays, so it can be stored."""
        return {}

    def compare(self, reference: np.ndarray, fitted: Fitted, current: np.ndarray) -> DriftResult:
        """Compare ``current`` with ``reference``, given ``fit(reference)``."""
        raise NotImplementedError

    def compute(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        return self.compare(reference, self.fit(reference), current)

    def drifted(self, result: DriftResult, threshold: float) -> bool:
        if self.has_pvalue:
            if result.pvalue is None:
                raise ValueError(f"{self.name} returned no p-value")
            return result.pvalue < threshold
        return result.score >= threshold

    @property
    def score_kind(self) -> str:
        """What the score is: a test ``statistic`` or a ``distance``."""
        return "statistic" if self.has_pvalue else "distance"

    def severity(self, result: DriftResult, threshold: float) -> float:
        """Cross-method drift severity: >= 1 exactly when ``drifted``, larger when the drift is larger."""
        if self.has_pvalue:
            if result.pvalue is None:
                raise ValueError(f"{self.name} returned no p-value")
            if not 0 < threshold < 1:
                raise ValueError(f"{self.name}: a significance level must be between 0 and 1, got {threshold}")
            # A p-value that underflowed to 0 is as small as a double gets: very large, not infinite.
            value = math.log(max(result.pvalue, sys.float_info.min)) / math.log(threshold)
        else:
            value = result.score / threshold if threshold > 0 else math.inf
        # p exactly at alpha gives 1 without being a finding: keep the severity just under 1 there.
        if value >= 1 and not self.drifted(result, threshold):
            return math.nextafter(1.0, 0.0)
        return value


METHODS: Registry[DriftMethod] = Registry("drift method")


def register(cls: type[DriftMethod]) -> type[DriftMethod]:
    METHODS.add(cls.name, cls())
    return cls
