"""Plain values produced by the calculators, before any Prometheus type is involved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """One sample: a metric name from the catalogue, a value and the labels beyond model and version."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HistogramFigure:
    """A cumulative histogram: ``buckets`` are (upper bound, cumulative count) pairs ending with +Inf."""

    name: str
    buckets: Sequence[tuple[float, float]]
    sum: float
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def count(self) -> float:
        return self.buckets[-1][1] if self.buckets else 0.0
