"""Building the reference profile from a data frame, and storing it without pickle.

The stored form is one ``.npz`` archive: every array under a neutral key, plus a JSON document (as a
unicode array) holding the scalars, the dictionaries and which key holds which array. Object arrays
are turned into plain numeric or unicode arrays first, so the archive always loads with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from exporter.reference import FeatureKind, FeatureProfile, ReferenceProfile
from exporter.values import canonical

FORMAT = 1
# Row-aligned reference values of the numeric features, kept under this reserved `fitted` key because
# the per-feature profiles hold sorted values only, and multivariate drift needs whole rows.
REFERENCE_ROWS = "_reference_rows"
_OPTIONAL = ("classes", "predictions", "probabilities", "labels")


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
        values = as_numbers(series)
        return values[~np.isnan(values)]
    present = series.dropna()
    if pd.api.types.is_float_dtype(present):
        floats = present.to_numpy(dtype=np.float64)
        if np.all((np.mod(floats, 1) == 0) & (np.abs(floats) < 2**53)):
            present = present.astype(np.int64)
    elif present.dtype == object:
        # mixed Python objects (3.0 beside "3") take the one text form ids and categories share
        present = present.map(canonical).dropna()
    return present.astype(str).to_numpy(dtype=str)


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
        classes=_plain(classes),
        predictions=_plain(predictions),
        probabilities=_plain(probabilities),
        labels=_plain(labels),
        fitted=fitted,
    )


def profile_to_bytes(profile: ReferenceProfile) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    features = []
    for index, feature in enumerate(profile.features.values()):
        key = f"feature{index}"
        arrays[key] = feature.values
        features.append(
            {
                "name": feature.name,
                "kind": feature.kind,
                "values": key,
                "missing_ratio": feature.missing_ratio,
                "minimum": feature.minimum,
                "maximum": feature.maximum,
                "categories": feature.categories,
            }
        )
    optional = {}
    for name in _OPTIONAL:
        value = getattr(profile, name)
        if value is not None:
            arrays[name] = value
            optional[name] = name
    fitted = []
    for monitor_index, (monitor, state) in enumerate(profile.fitted.items()):
        keys = {}
        for array_index, (array_name, value) in enumerate(state.items()):
            keys[array_name] = f"fitted{monitor_index}_{array_index}"
            arrays[keys[array_name]] = value
        fitted.append({"monitor": monitor, "arrays": keys})
    document = {
        "format": FORMAT,
        "fingerprint": profile.fingerprint,
        "rows": profile.rows,
        "features": features,
        "optional": optional,
        "fitted": fitted,
    }
    plain = {key: _plain(np.asarray(value)) for key, value in arrays.items()}
    buffer = io.BytesIO()
    np.savez(buffer, document=np.array(json.dumps(document)), **plain)
    return buffer.getvalue()


def profile_from_bytes(data: bytes) -> ReferenceProfile:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        document: dict[str, Any] = json.loads(str(archive["document"]))
        if document.get("format") != FORMAT:
            raise ValueError(f"unsupported reference profile format {document.get('format')!r}")
        features = {
            item["name"]: FeatureProfile(
                name=item["name"],
                kind=item["kind"],
                values=archive[item["values"]],
                missing_ratio=item["missing_ratio"],
                minimum=item["minimum"],
                maximum=item["maximum"],
                categories=item["categories"],
            )
            for item in document["features"]
        }
        optional = {name: archive[key] for name, key in document["optional"].items()}
        fitted = {
            item["monitor"]: {name: archive[key] for name, key in item["arrays"].items()} for item in document["fitted"]
        }
    return ReferenceProfile(
        fingerprint=document["fingerprint"], rows=document["rows"], features=features, fitted=fitted, **optional
    )


def fingerprint_of(*parts: bytes | str) -> str:
    """A short stable digest of the parts; each part is length-prefixed so ("ab", "c") != ("a", "bc")."""
    digest = hashlib.sha256()
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        digest.update(len(raw).to_bytes(8, "big"))
        digest.update(raw)
    return digest.hexdigest()[:16]


def _plain(values: np.ndarray | None) -> np.ndarray | None:
    """An array without Python objects, so it can be stored without pickle.

    Object arrays become numeric when every present item is a number (missing items as NaN), else
    unicode with missing items as the empty string.
    """
    if values is None:
        return None
    values = np.asarray(values)
    if values.dtype != object:
        return values
    missing = pd.isna(values)
    if not missing.any():
        inferred = np.asarray(values.tolist())
        return inferred if inferred.dtype.kind in "biufU" else values.astype(str)
    present = values[~missing]
    if all(isinstance(item, (int, float, np.number)) for item in present):
        return np.where(missing, np.nan, values).astype(np.float64)
    return np.where(missing, "", values).astype(str)
