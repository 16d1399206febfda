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
