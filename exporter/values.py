"""One text form for ids and categories, whatever type a file or a model gave them.

A CSV column with one blank cell turns integers into floats, so 3 arrives as 3.0; an id or a category
must still match its earlier self. Whole-number floats are written as integers, missing values and
empty text become None.
"""

from __future__ import annotations

import math

import numpy as np


def canonical(value: object) -> str | None:
    if value is None:
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
