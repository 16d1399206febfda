"""Storing the reference profile without pickle, under a fingerprint.

The stored form is one ``.npz`` archive: every array under a neutral key, plus a JSON document (as a
unicode array) holding the scalars, the dictionaries and which key holds which array. Object arrays
are turned into plain numeric or unicode arrays first, so the archive always loads with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np
import pandas as pd

from exporter.reference.profile import FeatureProfile, ReferenceProfile

FORMAT = 1
_OPTIONAL = ("classes", "predictions", "probabilities", "labels")


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
    stored = {key: plain(np.asarray(value)) for key, value in arrays.items()}
    buffer = io.BytesIO()
    np.savez(buffer, document=np.array(json.dumps(document)), **stored)
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


def plain(values: np.ndarray | None) -> np.ndarray | None:
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
