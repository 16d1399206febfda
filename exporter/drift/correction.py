"""Multiple-testing correction of the p-values of several drift tests run together.

``adjust`` returns adjusted p-values, so columns tested at different thresholds can each compare
their own adjusted p-value with their own threshold; ``correct`` does it for a single alpha.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Correction = Literal["none", "bonferroni", "fdr"]


def adjust(pvalues: dict[str, float], method: Correction) -> dict[str, float]:
    names = list(pvalues)
    raw = np.array([pvalues[name] for name in names], dtype=float)
    if method == "none" or raw.size == 0:
        adjusted = raw
    elif method == "bonferroni":
        adjusted = np.minimum(raw * raw.size, 1.0)
    elif method == "fdr":
        adjusted = _benjamini_hochberg(raw)
    else:
        raise ValueError(f"unknown correction {method!r}")
    return {name: float(value) for name, value in zip(names, adjusted, strict=True)}


def correct(pvalues: dict[str, float], alpha: float, method: Correction) -> dict[str, bool]:
    """Drifted flags: the adjusted p-value is below ``alpha``."""
    return {name: value < alpha for name, value in adjust(pvalues, method).items()}


def _benjamini_hochberg(raw: np.ndarray) -> np.ndarray:
    # The adjusted p-value of the k-th smallest p is min over j >= k of p_(j) * m / j; rejecting
    # where it is below alpha is the step-up procedure that controls the false discovery rate.
    order = np.argsort(raw)
    scaled = raw[order] * raw.size / np.arange(1, raw.size + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty_like(raw)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted
