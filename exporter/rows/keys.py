"""Row ids: their canonical text (``exporter.values``) for a whole column at once, and that text as a
64-bit integer key.

An id that is a decimal integer from 0 to 10**18 - 1, written without leading zeros, is its own key,
exactly: no two such ids share one. Any other id is keyed by a 64-bit SipHash of its UTF-8 text with
the top bit set, so the two kinds never meet: hashed keys are negative, integer keys are not.

Two different hashed ids share a key with probability about 2**-63 per pair; with n hashed ids
stored, about n**2 / 2**64 pairs collide (5e-6 at ten million ids, 0.01 at four hundred million). A
collision makes the later id look like the earlier one: it is counted as a ``duplicate_id`` instead
of being scored, or a late label meant for one is given to the other. Integer ids never collide.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from exporter.values import canonical

# part of the stored format: changing the key or the pattern makes stored rows unreachable
HASH_KEY = "mlmon.row.key.v1"  # SipHash needs 16 bytes of key
EXACT_INTEGER = r"^(0|[1-9][0-9]{0,17})$"
HASHED = np.uint64(1 << 63)


def row_keys(ids: Sequence[str] | np.ndarray | pd.Series) -> np.ndarray:
    """The int64 key of each canonical id text, vectorised."""
    texts = np.asarray(ids, dtype=object)
    if len(texts) == 0:
        return np.empty(0, dtype=np.int64)
    array = pa.array(texts, type=pa.string())
    exact = pc.match_substring_regex(array, EXACT_INTEGER).to_numpy(zero_copy_only=False)
    keys = np.empty(len(texts), dtype=np.int64)
    if exact.any():
        keys[exact] = pc.cast(array.filter(pa.array(exact)), pa.int64()).to_numpy()
    if not exact.all():
        hashed = pd.util.hash_array(texts[~exact], encoding="utf8", hash_key=HASH_KEY, categorize=False)
        keys[~exact] = (hashed | HASHED).view(np.int64)
    return keys


def column_keys(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The key of each id of a column, and which rows have no id: ``row_keys`` of their canonical
    text (``exporter.values.canonical``), computed from the numbers themselves for a column of whole
    numbers (integers, or floats with blanks) without writing them out as text."""
    numbers: np.ndarray | None = None
    if pd.api.types.is_integer_dtype(values) and not values.hasnans and values.dtype.kind == "i":
        numbers = values.to_numpy(dtype=np.int64)
        missing = np.zeros(len(numbers), dtype=bool)
    elif pd.api.types.is_float_dtype(values):
        floats = values.to_numpy(dtype=float)
        missing = np.isnan(floats)
        if (missing | ((np.floor(floats) == floats) & (np.abs(floats) < 2**53))).all():
            numbers = np.where(missing, 0, floats).astype(np.int64)
    if numbers is None:
        texts = np.array([canonical(v) for v in values.to_numpy(dtype=object)], dtype=object)
        missing = np.array([t is None for t in texts], dtype=bool)
        keys = np.zeros(len(texts), dtype=np.int64)
        keys[~missing] = row_keys(texts[~missing])
        return keys, missing
    keys = numbers.copy()
    # a negative number or one of 19 digits is no key of its own: keyed by its text, as row_keys does
    other = ~missing & ((numbers < 0) | (numbers >= 10**18))
    if other.any():
        keys[other] = row_keys(numbers[other].astype(str).astype(object))
    return keys, missing
