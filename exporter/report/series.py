"""The figures a report draws, taken out of a history table (one row per run).

Every function here is plain pandas on the table `history export` writes, so the numbers behind a
chart can be checked against the exported CSV.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from exporter.history.samples import parse_series_key

Z95 = 1.959963984540054


def columns_of(frame: pd.DataFrame, name: str) -> dict[str, dict[str, str]]:
    """Columns holding series of sample ``name``, each with its labels."""
    out = {}
    for column in frame.columns:
        try:
            sample, labels = parse_series_key(str(column))
        except ValueError:
            continue
        if sample == name:
            out[str(column)] = labels
    return out


def column(frame: pd.DataFrame, name: str, **labels: str) -> pd.Series | None:
    """The one series of ``name`` whose labels include ``labels``, as floats; None when absent."""
    for key, have in columns_of(frame, name).items():
        if all(have.get(k) == v for k, v in labels.items()):
            return frame[key].astype(float)
    return None


def threshold(frame: pd.DataFrame, metric: str) -> pd.Series | None:
    return column(frame, "mlmon_threshold", metric=metric)


def worst(frame: pd.DataFrame, name: str, lower: bool = False) -> pd.Series | None:
    """The worst series of a per-feature family at each run (max, or min when lower is worse)."""
    keys = list(columns_of(frame, name))
    if not keys:
        return None
    values = frame[keys].astype(float)
    return values.min(axis=1) if lower else values.max(axis=1)


def estimated_band(frame: pd.DataFrame, estimate: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    """The 95 % band of estimated accuracy: the published interval when there is one, else the
    sampling error of a share on the window's rows, p ± 1.96·sqrt(p(1-p)/n)."""
    lower = column(frame, "mlmon_performance_interval_lower_ratio", metric="estimated_accuracy")
    upper = column(frame, "mlmon_performance_interval_upper_ratio", metric="estimated_accuracy")
    if lower is not None and upper is not None:
        return lower, upper, "published 95 % interval"
    rows = pd.to_numeric(frame["window_rows"], errors="coerce").astype(float).replace(0, np.nan)
    half = Z95 * np.sqrt(estimate * (1 - estimate) / rows)
    return (estimate - half).clip(lower=0), (estimate + half).clip(upper=1), "95 % sampling band on the window rows"


def feature_severity(frame: pd.DataFrame) -> pd.DataFrame:
    """Drift severity per feature (columns) and run (rows): at least 1 exactly when the feature drifted.

    The published ``mlmon_feature_drift_severity`` where the history has it; otherwise computed the
    same way from what it does have: distance / distance threshold, or log p-value / log
    significance level.
    """
    out = pd.DataFrame(index=frame.index)

    def keep(feature: str, values: pd.Series) -> None:
        out[feature] = values if feature not in out else np.fmax(out[feature], values)

    for key, labels in columns_of(frame, "mlmon_feature_drift_severity").items():
        keep(labels.get("feature", key), frame[key].astype(float))
    for key, labels in columns_of(frame, "mlmon_feature_drift_distance").items():
        feature, method = labels.get("feature", ""), labels.get("method", "")
        limit = column(frame, "mlmon_feature_drift_distance_threshold", feature=feature, method=method)
        if limit is not None and feature not in out:
            keep(feature, frame[key].astype(float) / limit.where(limit > 0))
    for key, labels in columns_of(frame, "mlmon_feature_drift_pvalue").items():
        feature, method = labels.get("feature", ""), labels.get("method", "")
        level = column(frame, "mlmon_feature_drift_significance_level", feature=feature, method=method)
        if level is not None and feature not in out:
            pvalue = frame[key].astype(float).clip(lower=1e-300)
            keep(feature, np.log(pvalue) / np.log(level.where((level > 0) & (level < 1))))
    return out


def drift_methods(frame: pd.DataFrame) -> dict[str, str]:
    """The method each feature's drift is measured with."""
    methods: dict[str, str] = {}
    for name in ("mlmon_feature_drift_severity", "mlmon_feature_drift_distance", "mlmon_feature_drift_pvalue"):
        for key, labels in columns_of(frame, name).items():
            if "feature" in labels and "method" in labels and frame[key].notna().any():
                methods.setdefault(labels["feature"], labels["method"])
    return methods


def slug(text: str) -> str:
    """A file-name and URL-safe form of a model name (a colon would read as a URL scheme)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)
