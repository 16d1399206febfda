"""The thresholds table: every threshold a model may set, beside the metric catalogue.

Each threshold is published as ``mlmon_threshold{model, version, metric=NAME}`` and the alert rules
compare the value named here with it, so the names are part of the contract. The config's known
names and defaults, the directions `run-once --fail-on-alert` judges by, the rule-convention test and
the dashboards' threshold lines are all derived from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["below", "above"]
Unit = Literal["ratio", "seconds", "number"]


@dataclass(frozen=True)
class Threshold:
    name: str
    # Breached when the value is below the threshold (a floor) or above it (a ceiling).
    direction: Direction
    # The published value it bounds: a family of the catalogue, or a recording rule of
    # prometheus/rules where the value only exists in Prometheus (rates, ratios, quantiles).
    value: str
    unit: Unit = "ratio"
    # Operational thresholds apply to every model; performance thresholds are opt-in (None).
    default: float | None = None
    # A threshold that takes another one's configured value unless it is set itself.
    follows: str | None = None

    @property
    def per_exporter_run(self) -> bool:
        """True when the value is a gauge mlmon computes itself, so `run-once` can judge it."""
        return self.value.startswith("mlmon_")


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("accuracy", "below", "mlmon_accuracy_ratio"),
    Threshold("precision", "below", "mlmon_precision_ratio"),
    Threshold("recall", "below", "mlmon_recall_ratio"),
    Threshold("f1", "below", "mlmon_f1_ratio"),
    Threshold("roc_auc", "below", "mlmon_roc_auc_ratio", "number"),
    Threshold("mean_confidence", "below", "mlmon_mean_confidence_ratio"),
    Threshold("estimated_accuracy", "below", "mlmon_estimated_accuracy_ratio", follows="accuracy"),
    Threshold("estimated_f1", "below", "mlmon_estimated_f1_ratio", follows="f1"),
    Threshold("labelled_rows_ratio", "below", "mlmon_labelled_rows_ratio"),
    Threshold("r2", "below", "mlmon_r2_score", "number"),
    Threshold("mean_absolute_error", "above", "mlmon_mean_absolute_error", "number"),
    Threshold("root_mean_squared_error", "above", "mlmon_root_mean_squared_error", "number"),
    # Defaults to the model's drift.dataset_drift_share (config.py).
    Threshold("drifted_features_ratio", "above", "mlmon_drifted_features_ratio"),
    Threshold("missing_ratio", "above", "mlmon_feature_missing_ratio", default=0.10),
    Threshold("out_of_range_ratio", "above", "mlmon_feature_out_of_range_ratio", default=0.20),
    Threshold("unseen_category_ratio", "above", "mlmon_feature_unseen_category_ratio", default=0.05),
    Threshold("invalid_row_ratio", "above", "model:mlmon_invalid_rows:ratio_rate1h", default=0.05),
    Threshold("batch_failure_ratio", "above", "model:mlmon_batch_failures:ratio_rate1h", default=0.10),
    Threshold(
        "scoring_latency_p99_seconds",
        "above",
        "model:mlmon_scoring_duration_seconds:p99_1h",
        "seconds",
        default=5.0,
    ),
    Threshold("label_delay_seconds", "above", "mlmon_label_delay_seconds", "seconds", default=172800.0),
    # Compared with the absolute relative change of the hourly volume against its baselines.
    Threshold("volume_change_ratio", "above", "model:mlmon_predictions:rate1h_change1d", default=0.5),
)

BY_NAME: dict[str, Threshold] = {t.name: t for t in THRESHOLDS}
LOWER_BOUNDS: tuple[str, ...] = tuple(t.name for t in THRESHOLDS if t.direction == "below")
UPPER_BOUNDS: tuple[str, ...] = tuple(t.name for t in THRESHOLDS if t.direction == "above")
KNOWN_THRESHOLDS: tuple[str, ...] = tuple(t.name for t in THRESHOLDS)
DEFAULT_THRESHOLDS: dict[str, float] = {t.name: t.default for t in THRESHOLDS if t.default is not None}
# The multivariate band is fitted on the reference, not configured, but is published the same way.
FITTED: tuple[Threshold, ...] = (Threshold("multivariate_drift", "above", "mlmon_multivariate_drift_score", "number"),)
FITTED_THRESHOLDS: tuple[str, ...] = tuple(t.name for t in FITTED)
# Every threshold published as mlmon_threshold{metric}, configured or fitted.
PUBLISHED: dict[str, Threshold] = {t.name: t for t in (*THRESHOLDS, *FITTED)}


def is_breached(name: str, value: float, threshold: float) -> bool:
    """Whether ``value`` is on the wrong side of ``threshold`` for the threshold called ``name``."""
    return value < threshold if BY_NAME[name].direction == "below" else value > threshold
