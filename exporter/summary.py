"""Threshold breaches and the run summary table printed by `mlmon run-once`."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import ModelConfig
from exporter.figures import Figure
from exporter.results import Snapshot
from exporter.thresholds import BY_NAME, THRESHOLDS, is_breached

# threshold name -> the gauge it bounds, from the thresholds table; values that exist only as
# Prometheus recording rules (rates, quantiles) are judged by the alerts alone.
GAUGE_OF = {t.name: t.value for t in THRESHOLDS if t.per_exporter_run}


@dataclass(frozen=True)
class Breach:
    model: str
    version: str
    metric: str
    value: float
    threshold: float

    def __str__(self) -> str:
        side = BY_NAME[self.metric].direction
        return f"{self.model} {self.version}: {self.metric} {self.value:.4f} {side} threshold {self.threshold:g}"


def values(snapshot: Snapshot, name: str) -> list[float]:
    return [f.value for f in snapshot.figures if isinstance(f, Figure) and f.name == name]


def breached(metric: str, observed: list[float], threshold: float) -> float | None:
    """The worst observed value when it breaches the threshold of ``metric``, else None; per-feature
    gauges are judged by their worst feature."""
    if not observed:
        return None
    worst = min(observed) if BY_NAME[metric].direction == "below" else max(observed)
    return worst if is_breached(metric, worst, threshold) else None


def breaches(snapshot: Snapshot, model: ModelConfig) -> list[Breach]:
    found = []
    for metric, threshold in sorted(model.effective_thresholds.items()):
        gauge = GAUGE_OF.get(metric)
        worst = breached(metric, values(snapshot, gauge) if gauge else [], threshold)
        if worst is not None:
            found.append(Breach(snapshot.model, snapshot.version, metric, worst, threshold))
    return found


COLUMNS = (
    ("rows", "mlmon_window_rows", "{:.0f}"),
    ("accuracy", "mlmon_accuracy_ratio", "{:.3f}"),
    ("estimated", "mlmon_estimated_accuracy_ratio", "{:.3f}"),
    ("f1", "mlmon_f1_ratio", "{:.3f}"),
    ("confidence", "mlmon_mean_confidence_ratio", "{:.3f}"),
    ("drifted", "mlmon_drifted_features_ratio", "{:.2f}"),
    ("mae", "mlmon_mean_absolute_error", "{:.3g}"),
)


def table(snapshots: list[Snapshot]) -> str:
    header = ["model", "version", *(title for title, _, _ in COLUMNS)]
    rows = []
    for snapshot in snapshots:
        row = [snapshot.model, snapshot.version]
        for _, name, fmt in COLUMNS:
            found = values(snapshot, name)
            row.append(fmt.format(found[0]) if found else "-")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)
