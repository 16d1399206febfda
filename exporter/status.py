"""The status figures of one model: how its last run went, and its counters as the state store holds them."""

from __future__ import annotations

from dataclasses import dataclass

from exporter import histogram
from exporter.config import ModelConfig
from exporter.figures import Figure, HistogramFigure
from exporter.ingest.validation import BATCH_FAILURE_REASONS, INVALID_ROW_REASONS, SCHEMA_VIOLATION_KINDS
from exporter.reference.profile import ReferenceProfile
from exporter.sources import SOURCE_FAILURE_REASONS
from exporter.sources.metering import SourceMeter
from exporter.state import CounterKey, StateStore, counter_key

AnyFigure = Figure | HistogramFigure


@dataclass(frozen=True)
class RunStatus:
    up: bool
    seconds: float  # how long the latest run that did work took (scored, rejected or took labels)
    last_success: float | None  # when a run last succeeded (unix seconds)
    last_batch_rows: float | None  # rows of the last batch scored, since the exporter started
    empty: bool = False  # the latest run found nothing new to read


def run_figures(model: ModelConfig, status: RunStatus, profile: ReferenceProfile | None) -> list[AnyFigure]:
    figures: list[AnyFigure] = [
        Figure("mlmon_model_up", 1.0 if status.up else 0.0),
        Figure("mlmon_last_run_duration_seconds", status.seconds),
        Figure("mlmon_last_run_empty", 1.0 if status.empty else 0.0),
        Figure("mlmon_schedule_interval_seconds", float(model.interval_seconds)),
    ]
    if status.last_success is not None:
        figures.append(Figure("mlmon_last_run_success_timestamp_seconds", status.last_success))
    if status.last_batch_rows is not None:
        figures.append(Figure("mlmon_batch_rows", status.last_batch_rows))
    for metric, value in sorted(model.effective_thresholds.items()):
        figures.append(Figure("mlmon_threshold", float(value), {"metric": metric}))
    if profile is not None:
        figures.append(Figure("mlmon_reference", 1.0, {"fingerprint": profile.fingerprint}))
        figures.append(Figure("mlmon_reference_rows", float(profile.rows)))
    return figures


def counter_figures(model: ModelConfig, state: StateStore, key: str) -> list[AnyFigure]:
    """Every counter of the model, zero until it first counts, so each series exists from the start."""
    counters = state.counters(key)
    figures: list[AnyFigure] = [
        Figure("mlmon_predictions", counters.get(counter_key("mlmon_predictions"), 0.0)),
        Figure("mlmon_batches_processed", counters.get(counter_key("mlmon_batches_processed"), 0.0)),
    ]
    for family, label, values in (
        ("mlmon_batch_failures", "reason", BATCH_FAILURE_REASONS),
        ("mlmon_invalid_rows", "reason", INVALID_ROW_REASONS),
        ("mlmon_schema_violations", "kind", SCHEMA_VIOLATION_KINDS),
    ):
        for value in values:
            figures.append(Figure(family, counters.get(counter_key(family, {label: value}), 0.0), {label: value}))
    if model.target_column is not None:
        figures.append(Figure("mlmon_labels_received", counters.get(counter_key("mlmon_labels_received"), 0.0)))
    if model.labels is not None:
        figures.append(Figure("mlmon_unmatched_labels", float(state.pending_labels(key))))
    for role in source_roles(model):
        key_ = counter_key("mlmon_source_rows_read", {"source": role})
        figures.append(Figure("mlmon_source_rows_read", counters.get(key_, 0.0), {"source": role}))
        for reason in SOURCE_FAILURE_REASONS:
            labels = {"source": role, "reason": reason}
            figures.append(
                Figure("mlmon_source_failures", counters.get(counter_key("mlmon_source_failures", labels), 0.0), labels)
            )
    figures.append(histogram.figure("mlmon_scoring_duration_seconds", counters, histogram.DURATION_BUCKETS))
    if model.task != "regression":
        figures.append(histogram.figure("mlmon_prediction_confidence", counters, histogram.CONFIDENCE_BUCKETS))
    return figures


def source_roles(model: ModelConfig) -> list[str]:
    """The sources a model reads from, by role."""
    roles = ["batches"]
    if model.labels is not None:
        roles.append("labels")
    if model.reference is not None:
        roles.append("reference")
    return roles


def source_counters(meter: SourceMeter) -> dict[CounterKey, float]:
    """The run's rows read and failures, as increments of the state store's counters."""
    increments: dict[CounterKey, float] = {}
    for role, rows in meter.rows.items():
        increments[counter_key("mlmon_source_rows_read", {"source": role})] = float(rows)
    for (role, reason), n in meter.failures.items():
        increments[counter_key("mlmon_source_failures", {"source": role, "reason": reason})] = float(n)
    return increments


def source_figures(meter: SourceMeter) -> list[AnyFigure]:
    """How long each source took to read in the run (a source not read this run has no figure)."""
    return [
        Figure("mlmon_source_read_duration_seconds", seconds, {"source": role})
        for role, seconds in sorted(meter.seconds.items())
    ]
