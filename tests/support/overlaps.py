"""Wasserstein-1 terms added up directly, to check the quantile-run formulas against."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def overlap_sum(larger: np.ndarray, ordered: np.ndarray, term: Callable[[float, float], float]) -> float:
    """In units of 1 / (n m): window value i (of m, sorted) spans (i n, (i + 1) n], reference value j
    (of n, sorted) spans (j m, (j + 1) m]; the sum over every overlapping pair of the overlap's length
    times ``term(y_j, x_i)``. With ``abs(y - x)`` it is n m W1."""
    n, m = larger.size, ordered.size
    total = 0.0
    for i, x in enumerate(ordered):
        for j in range(i * n // m, min(n, -(-(i + 1) * n // m))):
            overlap = min((i + 1) * n, (j + 1) * m) - max(i * n, j * m)
            if overlap > 0:
                total += overlap * term(float(larger[j]), float(x))
    return total
