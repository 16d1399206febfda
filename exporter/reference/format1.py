"""Format 1 of the stored reference profile: one ``.npz`` archive per model, no longer written.

Earlier versions kept each model's profile as one archive: every array under a neutral key, plus a
JSON document (as a unicode array) holding the scalars, the dictionaries and which key holds which
array. Stores of those versions are read with ``profile_from_npz`` and moved to the current form (see
``shared``); ``profile_to_npz`` writes the format for the tests and the benchmark that compare the two.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from exporter.reference.profile import FeatureProfile, ReferenceProfile
from exporter.reference.storage import document_of

FORMAT = 1
_OPTIONAL = ("classes", "predictions", "probabilities", "labels")


def profile_to_npz(profile: ReferenceProfile) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    features = []
    for index, feature in enumerate(profile.features.values()):
        arrays[f"feature{index}"] = feature.values
        features.append({**_scalars(feature), "values": f"feature{index}"})
    optional = {name: name for name in _OPTIONAL if getattr(profile, name) is not None}
    arrays.update({name: getattr(profile, name) for name in optional})
    fitted = []
    for monitor_index, (monitor, state) in enumerate(profile.fitted.items()):
        keys = {name: f"fitted{monitor_index}_{index}" for index, name in enumerate(state)}
        arrays.update({keys[name]: value for name, value in state.items()})
        fitted.append({"monitor": monitor, "arrays": keys})
    document = document_of(FORMAT, profile, features, optional, fitted)
    buffer = io.BytesIO()
    np.savez(buffer, document=np.array(json.dumps(document)), **arrays)
    return buffer.getvalue()


def profile_from_npz(data: bytes) -> ReferenceProfile:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        document: dict[str, Any] = json.loads(str(archive["document"]))
        if document.get("format") != FORMAT:
            raise ValueError(f"unsupported reference profile format {document.get('format')!r}")
        features = {
            item["name"]: FeatureProfile(
                **{k: v for k, v in item.items() if k != "values"}, values=archive[item["values"]]
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


def _scalars(feature: FeatureProfile) -> dict[str, Any]:
    return {
        "name": feature.name,
        "kind": feature.kind,
        "missing_ratio": feature.missing_ratio,
        "minimum": feature.minimum,
        "maximum": feature.maximum,
        "categories": feature.categories,
    }
