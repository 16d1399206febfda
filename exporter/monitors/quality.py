"""Data quality of the rows that arrived in this run, feature by feature, against the reference profile.

Every ratio has all arrived rows of the run as its denominator (invalid rows included, since they
are exactly what data quality is about):

- ``missing``: the value is absent (NaN, None, or a blank string). For a feature the reference knows
  as numeric, a value that is not a finite number (say ``"abc"``) counts as missing too: the model
  gets no usable value from it either, and scoring drops such rows as ``bad_type``. Infinities are
  numbers and count as out of range instead. Without a reference only absent values count.
- ``out_of_range`` (numeric features): a number below the reference minimum or above its maximum.
- ``unseen_category`` (categorical features): a present value that is not a reference category,
  compared as text, or as a number when both are numbers: whether a column held a missing value
  decides if its integers were read as floats, so "3" and "3.0" are the same category.

A feature with no usable reference values gets the missing ratio only.

Per-feature series are bounded by ``limits.max_features``: the features with the worst ratios keep
theirs and the others are logged. Without a reference only the missing ratio is published.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exporter.figures import Figure
from exporter.monitors.registry import Fitted, Monitor, Output, register
from exporter.performance import number_key
from exporter.reference.building import observed_values
from exporter.reference.profile import FeatureProfile, ReferenceProfile

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.window import Window

log = logging.getLogger(__name__)

FAMILIES = {
    "missing": "mlmon_feature_missing_ratio",
    "out_of_range": "mlmon_feature_out_of_range_ratio",
    "unseen_category": "mlmon_feature_unseen_category_ratio",
}
NAMES_LOGGED = 20


def _absent(series: pd.Series) -> np.ndarray:
    absent = series.isna().to_numpy(dtype=bool)
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        blank = series.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
        return absent | blank
    return absent


def _numeric(series: pd.Series, absent: np.ndarray, feature: FeatureProfile) -> dict[str, float]:
    numbers = pd.to_numeric(series.where(~absent), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return _number_ratios(numbers, feature)


def _number_ratios(numbers: np.ndarray, feature: FeatureProfile) -> dict[str, float]:
    """``missing`` (NaN) and ``out_of_range`` shares of float64 ``numbers``; NaN compares as in range."""
    out = {"missing": np.count_nonzero(np.isnan(numbers)) / numbers.size}
    if feature.minimum is not None and feature.maximum is not None:
        outside = numbers < feature.minimum
        outside |= numbers > feature.maximum
        out["out_of_range"] = np.count_nonzero(outside) / numbers.size
    return out


def _categorical(series: pd.Series, absent: np.ndarray, feature: FeatureProfile) -> dict[str, float]:
    out = {"missing": float(absent.mean())}
    if feature.categories:
        text = observed_values(series[~absent], "categorical")
        unseen = text[~np.isin(text, np.array(list(feature.categories), dtype=str))]
        numbers = {number_key(c) for c in feature.categories} - {None}
        values, counts = np.unique(unseen, return_counts=True)
        unseen_rows = sum(int(n) for v, n in zip(values, counts, strict=True) if number_key(v) not in numbers)
        out["unseen_category"] = unseen_rows / len(series)
    return out


def quality_ratios(arrived: pd.DataFrame, profile: ReferenceProfile | None) -> dict[str, dict[str, float]]:
    """Per feature column of ``arrived``: ``missing`` and, with a reference, ``out_of_range`` or ``unseen_category``."""
    if len(arrived) == 0:
        return {}
    ratios = {}
    for column in arrived.columns:
        name, series = str(column), arrived[column]
        feature = profile.features.get(name) if profile is not None else None
        if feature is not None and feature.kind == "numeric" and series.dtype == np.float64:
            # a float column's absent values are its NaNs: read in place, without a coerced copy
            ratios[name] = _number_ratios(series.to_numpy(copy=False), feature)
            continue
        absent = _absent(series)
        if feature is None:
            ratios[name] = {"missing": float(absent.mean())}
        elif feature.kind == "numeric":
            ratios[name] = _numeric(series, absent, feature)
        else:
            ratios[name] = _categorical(series, absent, feature)
    return ratios


@register
class Quality(Monitor):
    name = "quality"

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        return quality_figures(quality_ratios(window.arrived, reference), model)


def quality_figures(ratios: dict[str, dict[str, float]], model: ModelConfig) -> Output:
    """The series of ``quality_ratios``, the worst features first, at most ``limits.max_features``."""
    # worst first: by the highest ratio, then the next highest; ties keep the column order
    ranked = sorted(ratios, key=lambda feature: sorted(ratios[feature].values(), reverse=True), reverse=True)
    shown, hidden = ranked[: model.limits.max_features], ranked[model.limits.max_features :]
    if hidden:
        log.warning(
            "model %s: quality series of %d feature(s) left out by limits.max_features=%d: %s",
            model.name,
            len(hidden),
            model.limits.max_features,
            ", ".join(hidden[:NAMES_LOGGED])
            + (f" and {len(hidden) - NAMES_LOGGED} more" if len(hidden) > NAMES_LOGGED else ""),
        )
    return [
        Figure(FAMILIES[kind], value, {"feature": feature})
        for feature in shown
        for kind, value in ratios[feature].items()
    ]
