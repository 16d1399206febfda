"""Data quality of the arrived rows as counts per feature, mergeable by addition.

Each piece's ratios come from ``exporter.monitors.quality.quality_ratios``, the calculator a whole
batch is judged by, and are turned back into the rows they count; the merged ratios are those counts
over every arrived row, exactly what the whole batch gives.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from exporter.monitors.quality import quality_ratios
from exporter.reference.profile import ReferenceProfile


@dataclass
class QualityCounts:
    arrived: int = 0
    rows: dict[str, Counter[str]] = field(default_factory=dict)  # per feature, rows per kind of problem

    def update(self, arrived: pd.DataFrame, profile: ReferenceProfile | None) -> None:
        rows = len(arrived)
        for feature, ratios in quality_ratios(arrived, profile).items():
            counts = self.rows.setdefault(feature, Counter())
            for kind, ratio in ratios.items():
                # a ratio is a count over the rows, so this gives the count back exactly
                counts[kind] += round(ratio * rows)
        self.arrived += rows

    def merge(self, other: QualityCounts) -> QualityCounts:
        rows: dict[str, Counter[str]] = {}
        for side in (self.rows, other.rows):
            for feature, counts in side.items():
                rows.setdefault(feature, Counter()).update(counts)
        return QualityCounts(self.arrived + other.arrived, rows)

    def ratios(self) -> dict[str, dict[str, float]]:
        if not self.arrived:
            return {}
        return {name: {kind: n / self.arrived for kind, n in counts.items()} for name, counts in self.rows.items()}
