"""A report's rows: the local run history, or the same table rebuilt from a live Prometheus.

From Prometheus each range-query step stands for one run: the gauges' values at that instant and,
as the prediction volume, the increase of ``mlmon_predictions_total`` over the step (Prometheus
extrapolates it, so it is rounded to whole rows).
"""

from __future__ import annotations

import math
from collections import defaultdict

import pandas as pd

from exporter.history.frame import to_frame
from exporter.history.samples import series_key
from exporter.prometheus_api import PrometheusAPI
from exporter.state import StoredRun

# every family a report reads; the rest of what a run publishes stays in Prometheus
FAMILIES = (
    "mlmon_accuracy_ratio",
    "mlmon_mean_confidence_ratio",
    "mlmon_estimated_accuracy_ratio",
    "mlmon_performance_interval_lower_ratio",
    "mlmon_performance_interval_upper_ratio",
    "mlmon_drifted_features_ratio",
    "mlmon_feature_drift_severity",
    "mlmon_feature_drift_distance",
    "mlmon_feature_drift_distance_threshold",
    "mlmon_feature_drift_pvalue",
    "mlmon_feature_drift_significance_level",
    "mlmon_feature_missing_ratio",
    "mlmon_feature_out_of_range_ratio",
    "mlmon_feature_unseen_category_ratio",
    "mlmon_threshold",
    "mlmon_window_rows",
)
DROPPED_LABELS = {"__name__", "model", "version", "job", "instance"}


def _selector(name: str, version: str) -> str:
    return f'model="{name}",version="{version}"'


def prometheus_frame(
    api: PrometheusAPI, models: list[tuple[str, str]], start: float, end: float, step: float
) -> pd.DataFrame:
    """The history table of ``models`` from Prometheus, one row per step that has any figure."""
    runs: list[StoredRun] = []
    pattern = "|".join(FAMILIES)
    for name, version in models:
        where = _selector(name, version)
        samples: dict[float, dict[str, float]] = defaultdict(dict)
        for result in api.query_range(f'{{__name__=~"{pattern}",{where}}}', start, end, step):
            labels = {k: v for k, v in result["metric"].items() if k not in DROPPED_LABELS}
            key = series_key(result["metric"]["__name__"], labels)
            for at, value in result["values"]:
                number = float(value)
                if math.isfinite(number):
                    samples[float(at)][key] = number
        volume: dict[float, float] = {}
        expr = f"sum(increase(mlmon_predictions_total{{{where}}}[{int(step)}s]))"
        for result in api.query_range(expr, start, end, step):
            volume.update((float(at), float(v)) for at, v in result["values"])
        for at in sorted(samples):
            figures = samples[at]
            runs.append(
                StoredRun(
                    name=name,
                    version=version,
                    run_at=at,
                    window_start=None,
                    window_end=None,
                    window_rows=int(figures.get("mlmon_window_rows", 0)),
                    scored_rows=int(round(volume.get(at, 0.0))) if math.isfinite(volume.get(at, 0.0)) else 0,
                    labelled_rows=None,
                    correct_rows=None,
                    samples=figures,
                )
            )
    return to_frame(sorted(runs, key=lambda r: (r.run_at, r.name, r.version)))
