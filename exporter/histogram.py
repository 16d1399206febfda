"""Cumulative histograms kept as persisted per-bucket counters."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from exporter.figures import HistogramFigure
from exporter.state import CounterKey, counter_key

CONFIDENCE_BUCKETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99, 1.0)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def le_label(bound: float) -> str:
    """The `le` label of a bucket bound, as Prometheus writes it."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def increments(name: str, values: Sequence[float] | np.ndarray, bounds: Sequence[float]) -> dict[CounterKey, float]:
    """Per-bucket (not cumulative) counts and the sum, as counter increments for the state store."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]  # a NaN would poison the persisted sum forever
    # a value equal to a bound belongs to that bucket (le = less than or equal); a pass per bound
    # counts the values at or below it, faster than placing each value among a few bounds
    at_or_below = [np.count_nonzero(values <= bound) for bound in bounds] + [values.size]
    counts = np.diff(at_or_below, prepend=0)
    edges = [*bounds, math.inf]
    out = {counter_key(f"{name}_bucket", {"le": le_label(b)}): float(c) for b, c in zip(edges, counts)}
    out[counter_key(f"{name}_sum")] = float(values.sum())
    return out


def figure(name: str, counters: Mapping[CounterKey, float], bounds: Sequence[float]) -> HistogramFigure:
    running = 0.0
    buckets = []
    for bound in [*bounds, math.inf]:
        running += counters.get(counter_key(f"{name}_bucket", {"le": le_label(bound)}), 0.0)
        buckets.append((float(bound), running))
    return HistogramFigure(name=name, buckets=buckets, sum=counters.get(counter_key(f"{name}_sum"), 0.0))
