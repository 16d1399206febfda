"""The drift-method interface and its registry.

A method compares the non-missing values of one column in the reference with those of the current
window. Inputs are float64 for numeric columns (the reference already sorted) and str for categorical
ones. Methods with a p-value flag drift when the p-value falls below the threshold; distances flag
drift when the score reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from exporter.registry import Registry


@dataclass(frozen=True)
class DriftResult:
    score: float
    pvalue: float | None = None


class DriftMethod:
    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    default_threshold: ClassVar[float]
    has_pvalue: ClassVar[bool] = False

    def compute(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        raise NotImplementedError

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
