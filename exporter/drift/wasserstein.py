"""Wasserstein-1 (earth mover's) distance, in units of the reference standard deviation (as Evidently).

A constant reference column has no spread to scale by; its distance is then reported unscaled, in the
feature's own units, so any move of the current values away from the constant by the threshold or
more counts as drift.
"""

from __future__ import annotations

import numpy as np

from exporter.drift.registry import DriftMethod, DriftResult, register


@register
class Wasserstein(DriftMethod):
    name = "wasserstein"
    kinds = frozenset({"numeric"})
    default_threshold = 0.1

    def compute(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        distance = wasserstein_1(reference, np.sort(current))
        # The reference is sorted: equal ends mean a constant column, tested exactly rather than
        # trusting a rounding-prone standard deviation of zero.
        scale = 1.0 if reference[0] == reference[-1] else float(np.std(reference))
        return DriftResult(distance / scale)


def wasserstein_1(u_sorted: np.ndarray, v_sorted: np.ndarray) -> float:
    """The area between the two empirical distribution functions of sorted samples."""
    points = np.sort(np.concatenate([u_sorted, v_sorted]))
    widths = np.diff(points)
    u_cdf = np.searchsorted(u_sorted, points[:-1], side="right") / u_sorted.size
    v_cdf = np.searchsorted(v_sorted, points[:-1], side="right") / v_sorted.size
    return float(np.sum(np.abs(u_cdf - v_cdf) * widths))
