"""The reference profile: what the production windows are compared with.

Built once from the configured reference data (features, optionally labels, and the model's own
predictions on it), serialised without pickle, and cached in the state store under a fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

FeatureKind = Literal["numeric", "categorical"]


@dataclass
class FeatureProfile:
    name: str
    kind: FeatureKind
    # numeric: the sorted non-missing values as float64; categorical: the non-missing values as str
    values: np.ndarray
    missing_ratio: float
    minimum: float | None = None
    maximum: float | None = None
    # categorical only: category -> share of non-missing rows
    categories: dict[str, float] = field(default_factory=dict)


@dataclass
class ReferenceProfile:
    fingerprint: str
    rows: int
    features: dict[str, FeatureProfile]
    classes: np.ndarray | None = None
    predictions: np.ndarray | None = None  # predicted label (classification) or value (regression)
    probabilities: np.ndarray | None = None  # (rows, classes), columns ordered as `classes`
    labels: np.ndarray | None = None  # true labels where known
    # per-monitor fitted state, keyed by monitor name, then by array name
    fitted: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
