"""The drift-method interface and its registry.

A method compares the non-missing values of one column in the reference with those of the current
window. Inputs are float64 for numeric columns (the reference already sorted) and str for categorical
ones. Methods with a p-value flag drift when the p-value falls below the threshold; distances flag
drift when the score reaches it.

The reference side is fitted once: ``fit`` keeps what the comparison needs beyond the reference
values themselves (cumulative sums, bin edges and counts, category counts), so ``compare`` only has
to place the window's values and its cost follows the window, not the reference. ``compute`` fits
and compares in one go, for a reference used once.
"""

from __future__ import annotations

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


METHODS: Registry[DriftMethod] = Registry("drift method")


def register(cls: type[DriftMethod]) -> type[DriftMethod]:
    METHODS.add(cls.name, cls())
    return cls
