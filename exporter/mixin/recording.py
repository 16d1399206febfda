"""mlmon's recording rules, named level:metric:operations. The dashboards and the alerts read these names."""

from __future__ import annotations

from exporter.mixin.config import MixinConfig
from exporter.mixin.rules import Group, Record

TRENDS = ("accuracy", "precision", "recall", "f1", "mean_confidence", "estimated_accuracy")


def _avg(metric: str, window: str) -> Record:
    family = f"mlmon_{metric}_ratio"
    return Record(f"model:{family}:avg{window}", f"avg by (model, version) (avg_over_time({family}[{window}]))")


def _failed_share(failed: str, succeeded: str, failed_in_denominator: str | None = None) -> str:
    """failed / (failed-or-dropped + succeeded); `or ... * 0` keeps the share at 1 when one side has no series."""
    rate = "sum by (model, version) (rate({}[1h]))"
    first = rate.format(failed_in_denominator or failed)
    return (
        f"{rate.format(failed)}\n/\n(\n  (\n    {first}\n    or\n    0 * {rate.format(failed)}\n  )\n  +\n"
        f"  (\n    {rate.format(succeeded)}\n    or\n    0 * {rate.format(failed)}\n  )\n)\n"
    )


def _change(offset: str) -> Record:
    covered = "model:mlmon_predictions:rate1h_covered"
    return Record(f"model:mlmon_predictions:rate1h_change{offset}", f"{covered} / ({covered} offset {offset} > 0) - 1")


def groups(config: MixinConfig) -> list[Group]:
    return [
        Group("mlmon-performance-trends.rules", [_avg(m, w) for m in TRENDS for w in ("1h", "1d")]),
        Group(
            "mlmon-volume.rules",
            [
                Record("model:mlmon_predictions:rate5m", "sum by (model, version) (rate(mlmon_predictions_total[5m]))"),
                Record("model:mlmon_predictions:rate1h", "sum by (model, version) (rate(mlmon_predictions_total[1h]))"),
                # The hourly rate only where the counter already existed an hour ago, so the rate covers a
                # whole hour: a new model, a new version or a fresh Prometheus has no baseline yet.
                Record(
                    "model:mlmon_predictions:rate1h_covered",
                    "model:mlmon_predictions:rate1h\n"
                    "  and on(model, version)\n"
                    "sum by (model, version) (mlmon_predictions_total offset 1h)\n",
                ),
                # Relative change of the hourly volume against seasonal and trailing baselines (0.5 = +50 %).
                # A baseline of zero has no relative change, so it is left out rather than reported as infinite.
                _change("1d"),
                _change("1w"),
                Record(
                    "model:mlmon_predictions:rate5m_change1h",
                    "model:mlmon_predictions:rate5m / (model:mlmon_predictions:rate1h_covered > 0) - 1",
                ),
            ],
        ),
        Group(
            "mlmon-errors.rules",
            [
                Record(
                    "model:mlmon_batch_failures:rate5m",
                    "sum by (model, version) (rate(mlmon_batch_failures_total[5m]))",
                ),
                Record(
                    "model:mlmon_batches_processed:rate5m",
                    "sum by (model, version) (rate(mlmon_batches_processed_total[5m]))",
                ),
                Record(
                    "model:mlmon_invalid_rows:rate5m", "sum by (model, version) (rate(mlmon_invalid_rows_total[5m]))"
                ),
                # Failed share of all attempted batches over an hour.
                Record(
                    "model:mlmon_batch_failures:ratio_rate1h",
                    _failed_share("mlmon_batch_failures_total", "mlmon_batches_processed_total"),
                ),
                # Share of arrived rows with a problem. Dropped rows never reach the prediction counter; a row
                # with an unknown label is scored (so already in it) and only loses its label.
                Record(
                    "model:mlmon_invalid_rows:ratio_rate1h",
                    _failed_share(
                        "mlmon_invalid_rows_total",
                        "mlmon_predictions_total",
                        'mlmon_invalid_rows_total{reason!="unknown_label"}',
                    ),
                ),
            ],
        ),
        questions(),
        Group(
            "mlmon-latency.rules",
            [
                Record(
                    "model:mlmon_scoring_duration_seconds:p99_5m",
                    "histogram_quantile(0.99, sum by (model, version, le) "
                    "(rate(mlmon_scoring_duration_seconds_bucket[5m])))",
                ),
                # Over an hour so that models scored every few minutes or up to hourly still have batches in
                # the window; a 5-minute rate is empty between their batches.
                Record(
                    "model:mlmon_scoring_duration_seconds:p99_1h",
                    "histogram_quantile(0.99, sum by (model, version, le) "
                    "(rate(mlmon_scoring_duration_seconds_bucket[1h])))",
                ),
            ],
        ),
    ]


def _status(act: str, watch: str, present: str) -> str:
    """2 (act) where ``act`` has a series, else 1 (watch) where ``watch`` has, else 0 (ok) where ``present`` has."""
    return (
        f"2 * clamp_max(count by (model, version) ({act}), 1)\n"
        f"or\n1 * clamp_max(count by (model, version) ({watch}), 1)\n"
        f"or\n0 * count by (model, version) ({present})\n"
    )


def _firing(alertnames: str) -> str:
    return f'ALERTS{{alertstate="firing", alertname=~"{alertnames}"}}'


def _below(value: str, threshold: str) -> str:
    return f'{value} < on(model, version) group_left() mlmon_threshold{{metric="{threshold}"}}'


# A 1-hour average this far below the 1-day one is a decline worth watching before any threshold.
DECLINE = 0.02


def questions() -> Group:
    """The seed's questions, answered per model: 0 ok, 1 watch, 2 act (the overview's top row)."""
    return Group(
        "mlmon-questions.rules",
        [
            # Is accuracy changing? Act on a firing performance alert (realized, or estimated where labels
            # lag); watch a figure below its threshold within its interval, or a falling hourly average.
            Record(
                "model:mlmon_accuracy_changing:status",
                _status(
                    'ALERTS{alertstate="firing", signal="performance"}',
                    f"{_below('mlmon_accuracy_ratio', 'accuracy')}\n"
                    f"  or {_below('mlmon_estimated_accuracy_ratio', 'estimated_accuracy')}\n"
                    f"  or model:mlmon_accuracy_ratio:avg1h < model:mlmon_accuracy_ratio:avg1d - {DECLINE}",
                    "mlmon_accuracy_ratio or mlmon_estimated_accuracy_ratio",
                ),
            ),
            # Are prediction patterns shifting? Act on sustained prediction drift; watch a flagged one.
            Record(
                "model:mlmon_prediction_patterns_shifting:status",
                _status(
                    _firing("MlmonPredictionDriftDetected"),
                    "mlmon_prediction_drift_severity >= 1",
                    "mlmon_prediction_drift_severity or mlmon_predicted_class_ratio",
                ),
            ),
            # Is confidence decreasing?
            Record(
                "model:mlmon_confidence_decreasing:status",
                _status(
                    _firing("MlmonMeanConfidenceBelowThreshold"),
                    f"{_below('mlmon_mean_confidence_ratio', 'mean_confidence')}\n"
                    "  or model:mlmon_mean_confidence_ratio:avg1h\n"
                    f"    < model:mlmon_mean_confidence_ratio:avg1d - {DECLINE}",
                    "mlmon_mean_confidence_ratio",
                ),
            ),
            # Has user behaviour changed? The inputs: drift, new categories, volume.
            Record(
                "model:mlmon_user_behaviour_changed:status",
                _status(
                    _firing(
                        "MlmonDatasetDriftDetected|MlmonMultivariateDriftDetected|MlmonPredictionVolumeChanged.+"
                        "|MlmonPredictionVolumeSuddenChange|MlmonFeatureUnseenCategoryRatioAboveThreshold"
                        "|MlmonFeatureOutOfRangeRatioAboveThreshold"
                    ),
                    "mlmon_feature_drift_severity >= 1 or mlmon_multivariate_drift_detected == 1",
                    "mlmon_drifted_features_ratio or mlmon_batch_rows",
                ),
            ),
            # Is retraining required? Act when MlmonRetrainingRecommended fires; watch any performance or
            # drift alert.
            Record(
                "model:mlmon_retraining_required:status",
                _status(
                    _firing("MlmonRetrainingRecommended"),
                    'ALERTS{alertstate="firing", signal=~"performance|drift", severity!="info"}',
                    "mlmon_model_up",
                ),
            ),
        ],
    )
