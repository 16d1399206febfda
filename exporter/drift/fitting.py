"""A column of the reference fitted once for its drift method, and stored among a monitor's arrays.

``fit_column`` picks the column's method (``resolve_method``) and fits it; a run then only places
the window's values (``compare``). ``pack`` and ``unpack`` turn fitted columns into the flat,
pickle-free arrays a monitor's fitted state is stored as: every key starts with the column name as a
JSON string, so no column name can be mistaken for another's prefix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from exporter.arrays import distinct
from exporter.drift import METHODS
from exporter.drift.registry import DriftResult, Fitted
from exporter.drift.selection import resolve_method

if TYPE_CHECKING:
    from exporter.config import DriftConfig

_DECODER = json.JSONDecoder()


@dataclass
class FittedColumn:
    method: str
    kind: str
    distinct: int
    state: Fitted
    # the reference values as the method takes them, when the profile does not hold them already
    values: np.ndarray | None = field(default=None)


def distinct_values(values: np.ndarray, kind: str) -> int:
    if kind == "numeric":
        # sorted values: the distinct ones are where consecutive values differ
        return 1 + int(np.count_nonzero(np.diff(values))) if values.size else 0
    return int(distinct(values).size)


def fit_column(
    feature: str | None, kind: str, values: np.ndarray, drift_config: DriftConfig, *, keep_values: bool = False
) -> FittedColumn:
    distinct = distinct_values(values, kind)
    method, _ = resolve_method(feature, kind, values.size, distinct, drift_config)
    return FittedColumn(method, kind, distinct, METHODS[method].fit(values), values if keep_values else None)


def compare_column(
    column: FittedColumn | None,
    method: str,
    reference: np.ndarray,
    current: np.ndarray,
) -> DriftResult:
    """``method`` on ``reference`` and ``current``, with the fitted state when it was fitted for it."""
    if column is not None and column.method == method:
        return METHODS[method].compare(reference, column.state, current)
    return METHODS[method].compute(reference, current)


def pack(columns: Mapping[str, FittedColumn]) -> Fitted:
    arrays: Fitted = {}
    for name, column in columns.items():
        prefix = json.dumps(name) + "."
        arrays[prefix + "method"] = np.array(column.method)
        arrays[prefix + "kind"] = np.array(column.kind)
        arrays[prefix + "distinct"] = np.array(column.distinct)
        if column.values is not None:
            arrays[prefix + "values"] = column.values
        for key, value in column.state.items():
            arrays[prefix + "state." + key] = value
    return arrays


def unpack(arrays: Fitted) -> dict[str, FittedColumn]:
    parts: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if not key.startswith('"'):
            continue
        name, end = _DECODER.raw_decode(key)
        parts.setdefault(name, {})[key[end + 1 :]] = value
    columns = {}
    for name, part in parts.items():
        if not {"method", "kind", "distinct"} <= part.keys():
            continue
        state = {key[len("state.") :]: value for key, value in part.items() if key.startswith("state.")}
        columns[name] = FittedColumn(
            str(part["method"]), str(part["kind"]), int(part["distinct"]), state, part.get("values")
        )
    return columns
