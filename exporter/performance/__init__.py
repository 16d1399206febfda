"""Performance metrics on plain arrays, and matching labels to the model's classes.

Labels reach mlmon in whatever type the file held (``"1"``, ``1.0``, ``" yes"``) while the model's
classes keep the type they were trained with, so everything compares class *indices*: a value maps
to the class whose text equals its own (stripped), else to the class equal to it as a number, so
``"1"``, ``1.0`` and ``1`` all reach class ``1``. Missing values and values matching no class map
to -1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from exporter.arrays import per_integer

UNMATCHED = -1
# integer values spread over at most this many (or as many as the classes) are matched by offset
INTEGER_SPAN = 65_536


def class_label(value: Any) -> str:
    """The text a class is published under as a label value."""
    return str(value.item() if isinstance(value, np.generic) else value)


def number_key(value: Any) -> str | None:
    """The value as a canonical number text ("1" for 1, 1.0 and "1.0"), or None when it is no finite number."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return str(int(number)) if number.is_integer() else repr(number)


def _matcher(classes: np.ndarray) -> Callable[[Any], int]:
    """The index in ``classes`` of one (non-missing) value, or -1: by its text, else as a number."""
    by_text: dict[str, int] = {}
    by_number: dict[str, int] = {}
    for index, cls in enumerate(classes):
        by_text.setdefault(class_label(cls).strip(), index)
        # a boolean class also answers to 1 and 0, as a label file written by another tool may say
        number = str(int(cls)) if isinstance(cls, (bool, np.bool_)) else number_key(class_label(cls))
        if number is not None:
            by_number.setdefault(number, index)

    def match(value: Any) -> int:
        text = class_label(value).strip()
        if text in by_text:
            return by_text[text]
        number = number_key(text)
        return by_number[number] if number is not None and number in by_number else UNMATCHED

    return match


def class_indices(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The index in ``classes`` of each value, or -1 for missing values and values matching no class.

    Each distinct value is matched once; integers over a short range are told apart by their offset
    from the smallest, without hashing every row.
    """
    match = _matcher(classes)
    values = np.asarray(values)
    matched = per_integer(values, max(INTEGER_SPAN, len(classes)), match, fill=UNMATCHED, dtype=np.int64)
    if matched is not None:
        return matched
    codes, uniques = pd.factorize(pd.Series(np.asarray(values, dtype=object), dtype=object))
    lookup = np.full(len(uniques) + 1, UNMATCHED, dtype=np.int64)
    for code, value in enumerate(uniques):
        lookup[code] = match(value)
    # factorize codes missing values as -1, which picks the trailing UNMATCHED slot
    return lookup[codes]


def configured_positive_index(classes: np.ndarray, positive: int | str) -> int | None:
    """The column of the configured positive class, matched as labels are; None when it is not a class."""
    # one value: matched directly, not through the hashing pass ``class_indices`` makes over a column
    index = _matcher(classes)(positive)
    return None if index == UNMATCHED else index


def positive_index(classes: np.ndarray, positive: int | str) -> int:
    """The column of the positive class: the configured one, else the last class (sklearn's convention).

    The one lookup every monitor uses, so output drift and performance always judge the same class.
    """
    index = configured_positive_index(classes, positive)
    return len(classes) - 1 if index is None else index
