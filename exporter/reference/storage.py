"""Storing the reference profile without pickle: a JSON document and content-addressed raw arrays.

``encode`` turns a profile into a JSON document (the scalars, the dictionaries, and for every array
a reference ``[digest, dtype, shape]``, see ``ArrayRef``) and the arrays themselves, each under the
digest of its dtype, shape and bytes. An array is stored as its raw little-endian bytes, so float64 values come
back bit for bit and loading one is a view on the bytes read (``np.frombuffer``), with no decoding.
Two profiles holding an equal array (the same reference's features, fitted for two models) name the
same digest, so the state store keeps that array once and a process can hold it once.

A profile's key is the digest of its document, which names every array by digest: equal keys mean
equal profiles, whatever models or settings produced them.

Fitted entries whose name starts with an underscore are inputs of the fit, not its result (the
row-aligned reference rows multivariate drift is fitted on): every monitor has used them by the time
a profile is stored, so they are left out.

``profile_to_bytes`` packs a document and its arrays into one blob, and ``profile_from_bytes`` reads
it back. Format 1, one archive per model, is read by ``format1``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exporter.reference.profile import FeatureProfile, ReferenceProfile

FORMAT = 2
_OPTIONAL = ("classes", "predictions", "probabilities", "labels")
_BLOB_MAGIC = b"mlmon-reference\n"
_LENGTH = 8  # bytes of each length prefix in a blob

# A stored array: [digest, dtype, shape]; a text array of few distinct values (a categorical feature's
# values, class labels) as {"categories": ..., "codes": ...}, its sorted distinct values and one small
# unsigned code per item, rebuilt on load exactly (a million ten-letter values: 1 MB, not 40 MB).
ArrayRef = list[Any] | dict[str, list[Any]]


@dataclass(frozen=True)
class EncodedProfile:
    key: str  # the digest of the document
    fingerprint: str
    document: str
    arrays: dict[str, np.ndarray]  # digest -> contiguous little-endian array


def encode(profile: ReferenceProfile) -> EncodedProfile:
    arrays: dict[str, np.ndarray] = {}

    def part(array: np.ndarray) -> list[Any]:
        array = _storable(array)
        digest = array_digest(array)
        arrays.setdefault(digest, array)
        return [digest, array.dtype.str, list(array.shape)]

    def ref(value: np.ndarray) -> ArrayRef:
        array = _storable(value)
        if array.ndim == 1 and array.dtype.kind == "U" and array.size:
            categories, codes = np.unique(array, return_inverse=True)
            codes = codes.astype(np.min_scalar_type(categories.size - 1))
            if categories.nbytes + codes.nbytes < array.nbytes:
                return {"categories": part(categories), "codes": part(codes)}
        return part(array)

    features = [
        {
            "name": feature.name,
            "kind": feature.kind,
            "values": ref(feature.values),
            "missing_ratio": feature.missing_ratio,
            "minimum": feature.minimum,
            "maximum": feature.maximum,
            "categories": feature.categories,
        }
        for feature in profile.features.values()
    ]
    optional = {name: ref(getattr(profile, name)) for name in _OPTIONAL if getattr(profile, name) is not None}
    fitted = [
        {"monitor": monitor, "arrays": {name: ref(value) for name, value in state.items()}}
        for monitor, state in profile.fitted.items()
        if not monitor.startswith("_")
    ]
    document = json.dumps(document_of(FORMAT, profile, features, optional, fitted), sort_keys=True)
    key = hashlib.blake2b(document.encode(), digest_size=16).hexdigest()
    return EncodedProfile(key, profile.fingerprint, document, arrays)


def document_of(
    format_: int, profile: ReferenceProfile, features: list[Any], optional: dict[str, Any], fitted: list[Any]
) -> dict[str, Any]:
    """A stored profile's document: its scalars and where each of its arrays is."""
    return {
        "format": format_,
        "fingerprint": profile.fingerprint,
        "rows": profile.rows,
        "features": features,
        "optional": optional,
        "fitted": fitted,
    }


def decode(document: str, arrays: Callable[[ArrayRef], np.ndarray]) -> ReferenceProfile:
    """The profile a document describes; ``arrays`` gives the array of each reference."""
    parsed: dict[str, Any] = json.loads(document)
    if parsed.get("format") != FORMAT:
        raise ValueError(f"unsupported reference profile format {parsed.get('format')!r}")
    features = {
        item["name"]: FeatureProfile(
            name=item["name"],
            kind=item["kind"],
            values=arrays(item["values"]),
            missing_ratio=item["missing_ratio"],
            minimum=item["minimum"],
            maximum=item["maximum"],
            categories=item["categories"],
        )
        for item in parsed["features"]
    }
    optional = {name: arrays(ref) for name, ref in parsed["optional"].items()}
    fitted = {item["monitor"]: {name: arrays(ref) for name, ref in item["arrays"].items()} for item in parsed["fitted"]}
    return ReferenceProfile(
        fingerprint=parsed["fingerprint"], rows=parsed["rows"], features=features, fitted=fitted, **optional
    )


def document_digests(document: str) -> list[str]:
    """The digests of the arrays a document names, each once, in the order they first appear."""
    parsed = json.loads(document)
    refs = [item["values"] for item in parsed["features"]] + list(parsed["optional"].values())
    refs += [ref for item in parsed["fitted"] for ref in item["arrays"].values()]
    return list(dict.fromkeys(part[0] for ref in refs for part in _parts(ref)))


def ref_key(ref: ArrayRef) -> str:
    """What names the array ``ref`` gives once built: its digest, or those of its parts."""
    return "+".join(part[0] for part in _parts(ref))


def build_array(ref: ArrayRef, part: Callable[[list[Any]], np.ndarray]) -> np.ndarray:
    """The array ``ref`` describes, read-only; ``part`` gives each stored array it is made of."""
    if isinstance(ref, list):
        return part(ref)
    array = part(ref["categories"])[part(ref["codes"])]
    array.flags.writeable = False
    return array


def _parts(ref: ArrayRef) -> list[list[Any]]:
    return [ref] if isinstance(ref, list) else [ref["categories"], ref["codes"]]


def array_digest(array: np.ndarray) -> str:
    """The digest of an array's dtype, shape and bytes (``array`` as ``_storable`` gives it)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([array.dtype.str, list(array.shape)]).encode())
    digest.update(raw_bytes(array))
    return digest.hexdigest()


def raw_bytes(array: np.ndarray) -> memoryview:
    """The bytes of a contiguous array, without a copy."""
    if array.dtype.itemsize == 0:
        return memoryview(b"")
    return memoryview(array.reshape(-1).view(np.uint8))


def array_from_bytes(raw: bytes | memoryview, ref: list[Any]) -> np.ndarray:
    """A read-only view on ``raw`` as the array ``ref`` describes (no copy)."""
    _, dtype_text, shape = ref
    dtype = np.dtype(dtype_text)
    if dtype.itemsize == 0:
        return np.zeros(shape, dtype=dtype)
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    if array.flags.writeable:  # a writable buffer (a memoryview on a bytearray) is shared too
        array.flags.writeable = False
    return array


def _storable(value: np.ndarray) -> np.ndarray:
    array = plain(np.asarray(value))
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and not np.little_endian):
        array = array.astype(array.dtype.newbyteorder("<"))
    return array


def profile_to_bytes(profile: ReferenceProfile) -> bytes:
    """One blob: a magic line, the document, then each array, each part length-prefixed."""
    encoded = encode(profile)
    arrays = [encoded.arrays[digest] for digest in document_digests(encoded.document)]
    parts = [encoded.document.encode(), *(raw_bytes(a) for a in arrays)]
    out = io.BytesIO()
    out.write(_BLOB_MAGIC)
    for part in parts:
        out.write(len(part).to_bytes(_LENGTH, "little"))
        out.write(part)
    return out.getvalue()


def profile_from_bytes(data: bytes) -> ReferenceProfile:
    """A profile from ``profile_to_bytes``' blob."""
    if not data.startswith(_BLOB_MAGIC):
        raise ValueError("not a reference profile blob")
    view = memoryview(data)
    position, parts = len(_BLOB_MAGIC), []
    while position < len(data):
        length = int.from_bytes(view[position : position + _LENGTH], "little")
        parts.append(view[position + _LENGTH : position + _LENGTH + length])
        position += _LENGTH + length
    document = bytes(parts[0]).decode()
    raw = dict(zip(document_digests(document), parts[1:], strict=True))
    return decode(document, lambda ref: build_array(ref, lambda part: array_from_bytes(raw[part[0]], part)))


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
