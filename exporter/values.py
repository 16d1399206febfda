"""One text form for ids and categories, whatever type a file or a model gave them.

A CSV column with one blank cell turns integers into floats, so 3 arrives as 3.0; an id or a category
must still match its earlier self. Whole-number floats are written as integers, missing values and
empty text become None.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def canonical(value: object) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    text = str(value).strip()
    return text or None


# Kinds of object column whose distinct values ``pd.factorize`` tells apart exactly as ``canonical``
# does. Any other mix may hold values Python hashes as equal while their texts differ (True == 1,
# Decimal("1") == Decimal("1.0")): such a column is converted value by value.
_HASHED_SAFELY = frozenset({"string", "empty", "boolean", "integer", "floating", "mixed-integer-float", "bytes"})


def distinct_values_safe(series: pd.Series) -> bool:
    """Whether converting each distinct value of ``series`` once gives every row's ``canonical`` text."""
    return series.dtype != object or pd.api.types.infer_dtype(series, skipna=True) in _HASHED_SAFELY


def canonical_texts(values: pd.Series | np.ndarray) -> np.ndarray:
    """``canonical`` of every value, as an object array, converting each distinct value once."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object), dtype=object)
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu":
        # whole numbers are their decimal digits: numpy writes them all at once (ids are mostly distinct)
        return series.to_numpy().astype(str).astype(object)
    if not distinct_values_safe(series):
        return np.array([canonical(v) for v in series.to_numpy()], dtype=object)
    codes, uniques = pd.factorize(series)
    # factorize codes a missing value as -1, which picks the trailing None
    texts = np.array([*(canonical(v) for v in np.asarray(uniques, dtype=object)), None], dtype=object)
    return texts[codes]
