"""Row ids (their canonical text, see ``exporter.values``) as 64-bit integer keys.

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
