"""The figures one drift comparison publishes, one kind of quantity per family.

A test publishes its statistic, p-value and significance level; a distance publishes the distance
and its cut-off; both publish the cross-method severity. ``prefix`` names the compared quantity:
``feature`` (labelled by feature), ``prediction``, ``label`` or ``residual``.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.drift.registry import METHODS, DriftResult
from exporter.figures import Figure


def drift_figures(
    prefix: str, method: str, threshold: float, result: DriftResult, labels: Mapping[str, str]
) -> list[Figure]:
    spec = METHODS[method]
    labelled = {**labels, "method": method}
    figures = [Figure(f"mlmon_{prefix}_drift_{spec.score_kind}", result.score, labelled)]
    if spec.has_pvalue and result.pvalue is not None:
        figures.append(Figure(f"mlmon_{prefix}_drift_pvalue", result.pvalue, labelled))
        figures.append(Figure(f"mlmon_{prefix}_drift_significance_level", threshold, labelled))
    else:
        figures.append(Figure(f"mlmon_{prefix}_drift_distance_threshold", threshold, labelled))
    figures.append(Figure(f"mlmon_{prefix}_drift_severity", spec.severity(result, threshold), labelled))
    return figures
