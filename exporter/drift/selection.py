"""Which drift method and threshold apply to a column.

The automatic choice follows Evidently: on a small reference (at most 1000 non-missing values) a
statistical test — Kolmogorov–Smirnov for numeric columns with more than 5 distinct values,
chi-squared otherwise; on a larger reference, where any test would flag negligible differences, a
distance — Wasserstein for numeric columns with more than 5 distinct values, Jensen–Shannon
otherwise. A configured method that cannot handle the column's kind (for example ``ks`` on a
categorical column) is not applied to it: that column falls back to the automatic choice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from exporter.drift.registry import METHODS

if TYPE_CHECKING:
    from exporter.config import DriftConfig

log = logging.getLogger(__name__)

SMALL_REFERENCE_ROWS = 1000
FEW_VALUES = 5


def choose_method(kind: str, reference_rows: int, unique_values: int) -> str:
    continuous = kind == "numeric" and unique_values > FEW_VALUES
    if reference_rows <= SMALL_REFERENCE_ROWS:
        return "ks" if continuous else "chisquare"
    return "wasserstein" if continuous else "jensenshannon"


def resolve_method(
    feature: str | None, kind: str, reference_rows: int, unique_values: int, drift_config: DriftConfig
) -> tuple[str, float]:
    """The method and threshold for ``feature`` (None for a model output, which only the global
    ``method`` applies to); thresholds set per method in the configuration override the defaults."""
    configured = drift_config.method
    if feature is not None:
        configured = drift_config.feature_methods.get(feature, configured)
    method = configured
    if method == "auto" or kind not in METHODS[method].kinds:
        method = choose_method(kind, reference_rows, unique_values)
        if configured != "auto":
            log.warning("drift method %s cannot handle %s column %s; using %s", configured, kind, feature, method)
    return method, drift_config.thresholds.get(method, METHODS[method].default_threshold)
