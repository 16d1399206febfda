"""Building the reference profile from a data frame."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from exporter.reference.profile import FeatureKind, FeatureProfile, ReferenceProfile
from exporter.reference.storage import plain
from exporter.values import canonical, distinct_values_safe

# Row-aligned reference values of the numeric features, kept under this reserved `fitted` key because
# the per-feature profiles hold sorted values only, and multivariate drift needs whole rows.
REFERENCE_ROWS = "_reference_rows"


def infer_kind(series: pd.Series, forced_categorical: bool) -> FeatureKind:
    """Categorical when configured so, when the values are not numbers (bool, text, category,
    dates...), or when a numeric column takes at most two distinct values (a flag); numeric otherwise."""
    if forced_categorical or pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "categorical" if series.nunique(dropna=True) <= 2 else "numeric"


def observed_values(series: pd.Series, kind: FeatureKind) -> np.ndarray:
    """The non-missing values of a column as a drift method takes them.

    Numeric: float64, with anything not a finite number treated as missing. Categorical: str, with
    whole-number floats written as integers, because a missing value turns an integer column into
    floats and 3 must stay the category "3", not "3.0".
    """
    if kind == "numeric":
        if isinstance(series.dtype, np.dtype) and series.dtype.kind == "f":
            # a plain float column is read in place (read-only), and copied only to leave values out
            values = series.to_numpy(dtype=np.float64, copy=False)
            finite = np.isfinite(values)
            return values if finite.all() else values[finite]
        values = as_numbers(series)
        return values[~np.isnan(values)]
    codes, texts = category_codes(series)
    return texts[codes[codes != MISSING]]


# the code of a row with no category in ``category_codes``
MISSING = -1


def category_codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's index into the sorted distinct category texts (``MISSING`` where it has none), and the texts.

    The texts are those ``observed_values`` gives. Each distinct value is converted once, not each
    row, so a million-row column of a few classes costs one hashing pass.
    """
    values = series
    if not distinct_values_safe(series):
        values = series.map(canonical)
    codes, uniques = pd.factorize(values)
    texts = _category_texts(pd.Series(uniques, dtype=values.dtype))
    kept = np.flatnonzero(texts.notna().to_numpy(dtype=bool))
    # distinct values may share a text (" a" and "a"): codes point into the sorted distinct texts
    distinct, inverse = np.unique(texts.iloc[kept].to_numpy(dtype=str), return_inverse=True)
    lookup = np.full(len(uniques) + 1, MISSING, dtype=np.int64)
    lookup[kept] = inverse
    # factorize codes missing values as -1, which picks the trailing MISSING slot
    return lookup[codes], distinct


def _category_texts(distinct: pd.Series) -> pd.Series:
    """The text of each distinct value, missing where the value reads as no category."""
    if pd.api.types.is_float_dtype(distinct):
        floats = distinct.to_numpy(dtype=np.float64)
        if np.all((np.mod(floats, 1) == 0) & (np.abs(floats) < 2**53)):
            distinct = distinct.astype(np.int64)
    elif distinct.dtype == object:
        # mixed Python objects (3.0 beside "3") take the one text form ids and categories share
        return distinct.map(canonical)
    return distinct.astype(str)


def as_numbers(series: pd.Series) -> np.ndarray:
    """The column as float64, NaN wherever there is no finite number."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def build_profile(
    features: pd.DataFrame,
    categorical: Iterable[str],
    *,
    fingerprint: str,
    classes: np.ndarray | None = None,
    predictions: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> ReferenceProfile:
    forced = set(categorical)
    rows = len(features)
    profiles: dict[str, FeatureProfile] = {}
    numeric_rows: dict[str, np.ndarray] = {}
    for column in features.columns:
        name, series = str(column), features[column]
        kind = infer_kind(series, name in forced)
        values = observed_values(series, kind)
        missing_ratio = (rows - values.size) / rows if rows else 0.0
        if kind == "numeric":
            values = np.sort(values)
            extremes = (float(values[0]), float(values[-1])) if values.size else (None, None)
            profiles[name] = FeatureProfile(name, kind, values, missing_ratio, *extremes)
            numeric_rows[name] = as_numbers(series)
        else:
            categories, counts = np.unique(values, return_counts=True)
            shares = {str(c): float(n / values.size) for c, n in zip(categories, counts, strict=True)}
            profiles[name] = FeatureProfile(name, kind, values, missing_ratio, categories=shares)
    fitted: dict[str, dict[str, np.ndarray]] = {}
    if numeric_rows:
        fitted[REFERENCE_ROWS] = {
            "columns": np.array(list(numeric_rows), dtype=str),
            "matrix": np.column_stack(list(numeric_rows.values())),
        }
    return ReferenceProfile(
        fingerprint=fingerprint,
        rows=rows,
        features=profiles,
        classes=plain(classes),
        predictions=plain(predictions),
        probabilities=plain(probabilities),
        labels=plain(labels),
        fitted=fitted,
    )
