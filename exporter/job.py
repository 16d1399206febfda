"""One model's scheduled run: read new batches, score them, evaluate the window, publish."""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from exporter import histogram
from exporter.config import ModelConfig
from exporter.figures import Figure, HistogramFigure
from exporter.history.record import WindowCounts, record_run, window_counts
from exporter.model import LoadedModel, ModelLoadError, file_signature, load_model
from exporter.monitors.base import Window, monitors_for
from exporter.performance import class_label
from exporter.reference import ReferenceProfile
from exporter.referencing import ReferenceKeeper
from exporter.results import Results, Snapshot
from exporter.scoring import (
    BATCH_FAILURE_REASONS,
    INVALID_ROW_REASONS,
    SCHEMA_VIOLATION_KINDS,
    BatchFailure,
    prepare_batch,
    score,
)
from exporter.sources import BatchRef, BatchSource, UnreadableBatch, open_source
from exporter.state import CounterKey, StateStore, counter_key
from exporter.window import WindowStore, assemble, window_batches

log = logging.getLogger(__name__)

AnyFigure = Figure | HistogramFigure


@dataclass
class RunReport:
    model: str = ""
    scored: int = 0
    failed: int = 0
    rows: int = 0
    labels: int = 0
    batch_names: list[str] = field(default_factory=list)
    figures: tuple[AnyFigure, ...] = field(default_factory=tuple)


class ModelJob:
    def __init__(
        self,
        model: ModelConfig,
        state: StateStore,
        windows: WindowStore,
        results: Results,
        quarantine_dir: Path,
        *,
        retention_seconds: float = 30 * 86400.0,
        clock: Callable[[], float] = time.time,
        source: BatchSource | None = None,
        label_source: BatchSource | None = None,
        loader: Callable[..., LoadedModel] = load_model,
    ) -> None:
        self.model = model
        self.key = f"{model.name}:{model.version}"
        self.state = state
        self.windows = windows
        self.results = results
        self.quarantine_dir = Path(quarantine_dir)
        self.retention_seconds = retention_seconds
        self.clock = clock
        self.source = source or open_source(model.source)
        self.label_source = label_source or (open_source(model.labels.source) if model.labels else None)
        self.loader = loader
        self.loaded: LoadedModel | None = None
        self._model_signature: tuple[int, int] | None = None
        self.reference = ReferenceKeeper(model, state, self.key)
        self._window_figures: list[AnyFigure] = []
        self._window_counts: WindowCounts | None = None
        self._last_success: float | None = None
        self._last_batch_rows: float | None = None
        self._arrived: pd.DataFrame | None = None
        self._counters: list[AnyFigure] = []
        self.listeners: list[Callable[[RunReport], None]] = []

    # ---------------------------------------------------------------------------------------
    def run(self) -> RunReport:
        started = self.clock()
        perf = time.perf_counter()
        report = RunReport(model=self.key)
        up = True
        try:
            loaded = self.ensure_model()
        except ModelLoadError as exc:
            log.error("model %s: %s", self.key, exc)
            up, loaded = False, None
        calculators: list[AnyFigure] = []
        if loaded is not None:
            try:
                calculators += self.reference.refresh(loaded)
                self._score_pending(loaded, started, report)
            except Exception:  # noqa: BLE001  (the state store or the disk failed: say so, keep serving)
                log.exception("model %s: the run failed", self.key)
                up = False
        try:
            self._counters = self._counter_figures()
        except Exception:  # noqa: BLE001  (keep the last counts on /metrics rather than blank them)
            log.exception("model %s: cannot read the counters from the state store", self.key)
            up = False
        if up:
            self._last_success = self.clock()
        figures = self._run_figures(up, started, time.perf_counter() - perf) + calculators
        figures += self._window_figures + self._counters
        report.figures = tuple(figures)
        self.results.publish(Snapshot(self.model.name, self.model.version, report.figures))
        record_run(self.state, self.model, started, report.rows, report.figures, self._window_counts)
        log.info(
            "model %s: scored %d batch(es), %d row(s); %d failed; %d late label(s)",
            self.key,
            report.scored,
            report.rows,
            report.failed,
            report.labels,
        )
        for listener in self.listeners:
            listener(report)
        return report

    def _score_pending(self, loaded: LoadedModel, now: float, report: RunReport) -> None:
        pruned = self.state.prune(self.key, older_than=now - self.retention_seconds)
        if pruned:
            log.info("model %s: %d stored prediction(s) past the retention deleted", self.key, pruned)
        if self.label_source is not None:
            report.labels = self._ingest_labels(loaded, now)
        arrived: list[pd.DataFrame] = []
        for ref in self.source.pending(self.state.seen_batches(self.key)):
            outcome, rows, labels = self._process(ref, loaded, now, arrived)
            report.labels += labels
            if outcome == "failed":
                report.failed += 1
            elif outcome == "scored":
                report.scored += 1
                report.rows += rows
                report.batch_names.append(ref.name)
        # a time window moves with the clock, so it is evaluated on every run
        if report.scored or report.labels or not self._window_figures or self.model.window.seconds is not None:
            if arrived:
                self._arrived = pd.concat(arrived, ignore_index=True)
            self._window_figures = self._evaluate(loaded, now)

    # ---------------------------------------------------------------------------------------
    def _warn_about(self, loaded: LoadedModel) -> None:
        """Say once, at load, what the config leaves to chance for this model."""
        model = self.model
        if loaded.feature_names is None and model.feature_columns is None and model.reference_path is None:
            log.warning(
                "model %s: the estimator has no feature_names_in_ and no feature_columns or reference is"
                " configured, so each batch's columns are taken in file order",
                self.key,
            )
        classes = loaded.classes if loaded.classes is not None else []
        if model.task == "binary_classification" and str(model.positive_class) not in {str(c) for c in classes}:
            log.warning(
                "model %s: positive_class %r is not one of the classes %s; the last class is used",
                self.key,
                model.positive_class,
                [c.item() if hasattr(c, "item") else c for c in classes],
            )
        if model.labels is not None and model.window.rows is None and model.window.seconds is None:
            log.warning(
                "model %s: late labels only update the window they fall in, and the window is the latest"
                " batch; set window.rows or window.seconds to reach back as far as labels take to arrive",
                self.key,
            )

    @property
    def profile(self) -> ReferenceProfile | None:
        return self.reference.profile

    def ensure_model(self) -> LoadedModel:
        """The loaded model, reloaded when its file changes (a new deployment)."""
        signature = file_signature(self.model.model_path)
        if self.loaded is None or signature != self._model_signature:
            model = self.model
            loaded = self.loader(model.model_path, model.task, model.model_sha256, model.model_trusted_types)
            configured, expected = self.model.feature_columns, loaded.feature_names
            if configured is not None and expected is not None and list(configured) != list(expected):
                raise ModelLoadError(
                    f"feature_columns {configured} differ from the model's feature_names_in_ {expected}"
                )
            self.loaded = loaded
            self._model_signature = signature
            self.reference.invalidate()
            log.info("model %s: loaded %s (sha256 %s)", self.key, self.model.model_path, loaded.digest)
            self._warn_about(self.loaded)
        return self.loaded

    # ---------------------------------------------------------------------------------------
    def _quarantine(self, ref: BatchRef, reason: str, message: str) -> None:
        folder = self.quarantine_dir / self.model.name / self.model.version
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / Path(ref.name).name
            if target.exists():
                target = folder / f"{int(self.clock())}-{target.name}"
            shutil.move(str(ref.path), target)
            target.with_name(target.name + ".reason.txt").write_text(f"{reason}: {message}\n")
        except OSError as exc:
            log.error("model %s: cannot quarantine %s: %s", self.key, ref.name, exc)

    def _process(
        self, ref: BatchRef, loaded: LoadedModel, now: float, arrived: list[pd.DataFrame]
    ) -> tuple[str, int, int]:
        """Score one batch; returns (outcome, rows scored, late labels it delivered).

        The outcome is "scored", "failed", "labels" when it only carried labels for rows scored
        earlier, or "skipped" when another process recorded it first.
        """
        counters: Counter[CounterKey] = Counter()
        try:
            try:
                frame = self.source.read(ref)
            except UnreadableBatch as exc:
                raise BatchFailure("unreadable", str(exc)) from exc
            prepared = prepare_batch(
                frame,
                self.model,
                loaded,
                categorical=self.reference.categorical(frame),
                batch_key=ref.key,
                is_known_id=lambda ids: self.state.known_row_ids(self.key, ids),
                known_features=list(self.profile.features) if self.profile is not None else None,
            )
            scored = score(loaded, prepared.features) if len(prepared.features) else None
        except Exception as error:  # noqa: BLE001  (whatever the batch did, it costs only itself)
            exc = (
                error
                if isinstance(error, BatchFailure)
                else BatchFailure("scoring", f"{type(error).__name__}: {error}")
            )
            if not isinstance(error, BatchFailure):
                log.exception("model %s: batch %s broke the scoring", self.key, ref.name)
            log.warning("model %s: batch %s rejected (%s): %s", self.key, ref.name, exc.reason, exc)
            counters[counter_key("mlmon_batch_failures", {"reason": exc.reason})] += 1
            for reason, n in exc.invalid.items():
                counters[counter_key("mlmon_invalid_rows", {"reason": reason})] += n
            recorded = self.state.record_batch(
                self.key, ref.key, status="failed", reason=exc.reason, rows=0, processed_at=now, counters=counters
            )
            if recorded:
                self._quarantine(ref, exc.reason, str(exc))
            return ("failed", 0, 0) if recorded else ("skipped", 0, 0)
        labels_applied = 0
        if prepared.late_labels:
            labels_applied = self.state.apply_labels(
                self.key,
                f"{ref.key}#labels",
                status="ok",
                labels=[(row_id, class_label(label)) for row_id, label in prepared.late_labels],
                received_at=now,
                counters={},
            )
        rows = len(prepared.features)
        for reason, n in prepared.invalid.items():
            if n:
                counters[counter_key("mlmon_invalid_rows", {"reason": reason})] += n
                log.info("model %s: batch %s: %d row(s) dropped (%s)", self.key, ref.name, n, reason)
        for kind, n in prepared.schema_violations.items():
            if n:
                counters[counter_key("mlmon_schema_violations", {"kind": kind})] += n
        if scored is None:
            # every row was a label for an earlier prediction: nothing to score, nothing to quarantine
            self.state.record_batch(self.key, ref.key, status="labels", rows=0, processed_at=now, counters=counters)
            log.info("model %s: batch %s carried %d late label(s)", self.key, ref.name, len(prepared.late_labels))
            return "labels", 0, labels_applied
        counters[counter_key("mlmon_predictions")] += rows
        counters[counter_key("mlmon_batches_processed")] += 1
        counters.update(
            histogram.increments("mlmon_scoring_duration_seconds", [scored.seconds], histogram.DURATION_BUCKETS)
        )
        if scored.probabilities is not None:
            confidence = scored.probabilities.max(axis=1)
            counters.update(
                histogram.increments("mlmon_prediction_confidence", confidence, histogram.CONFIDENCE_BUCKETS)
            )
        self.windows.save(
            self.key, ref.key, prepared.features, prepared.row_ids, scored.predictions, scored.probabilities
        )
        labels = prepared.labels
        stored = (
            (
                row_id,
                now,
                class_label(labels[i]) if labels is not None and prepared.labelled[i] else None,
                now if labels is not None and prepared.labelled[i] else None,
            )
            for i, row_id in enumerate(prepared.row_ids)
        )
        if not self.state.record_batch(
            self.key, ref.key, status="ok", rows=rows, processed_at=now, counters=counters, predictions=stored
        ):
            log.info("model %s: batch %s was recorded by another process; not counted again", self.key, ref.name)
            return "skipped", 0, labels_applied
        self._last_batch_rows = float(rows)
        arrived.append(prepared.arrived)
        return "scored", rows, labels_applied

    def _ingest_labels(self, loaded: LoadedModel, now: float) -> int:
        from exporter.labels import ingest_labels

        assert self.label_source is not None
        return ingest_labels(self.model, loaded, self.label_source, self.state, self.key, now, self._quarantine)

    # ---------------------------------------------------------------------------------------
    def _evaluate(self, loaded: LoadedModel, now: float) -> list[AnyFigure]:
        keys = window_batches(self.model, self.state, self.key, now)
        window = assemble(self.model, self.state, self.windows, self.key, keys, loaded.classes, self._arrived)
        self.windows.prune(self.key, set(keys))
        self._window_counts = window_counts(window, self.model.task) if window is not None else None
        if window is None:
            return [Figure("mlmon_window_rows", 0.0)]
        figures: list[AnyFigure] = [Figure("mlmon_window_rows", float(window.rows))]
        if window.rows < self.model.min_rows:
            log.info("model %s: window has %d row(s), below min_rows %d", self.key, window.rows, self.model.min_rows)
            return figures
        return figures + self._run_monitors(window)

    def _run_monitors(self, window: Window) -> list[AnyFigure]:
        figures: list[AnyFigure] = []
        for monitor in monitors_for(self.model):
            started = time.perf_counter()
            fitted = self.profile.fitted.get(monitor.name, {}) if self.profile is not None else {}
            try:
                produced = monitor.calculate(window, self.profile, fitted, self.model)
                ok = 1.0
            except Exception:  # noqa: BLE001  (one failing calculator costs only itself)
                log.exception("model %s: calculator %s failed", self.key, monitor.name)
                produced, ok = [], 0.0
            figures += produced
            figures.append(Figure("mlmon_calculator_success", ok, {"calculator": monitor.name}))
            figures.append(
                Figure("mlmon_calculator_duration_seconds", time.perf_counter() - started, {"calculator": monitor.name})
            )
        return figures

    # ---------------------------------------------------------------------------------------
    def _run_figures(self, up: bool, started: float, seconds: float) -> list[AnyFigure]:
        figures: list[AnyFigure] = [
            Figure("mlmon_model_up", 1.0 if up else 0.0),
            Figure("mlmon_last_run_duration_seconds", seconds),
            Figure("mlmon_schedule_interval_seconds", float(self.model.interval_seconds)),
        ]
        if self._last_success is not None:
            figures.append(Figure("mlmon_last_run_success_timestamp_seconds", self._last_success))
        if self._last_batch_rows is not None:
            figures.append(Figure("mlmon_batch_rows", self._last_batch_rows))
        for metric, value in sorted(self.model.effective_thresholds.items()):
            figures.append(Figure("mlmon_threshold", float(value), {"metric": metric}))
        if self.profile is not None:
            figures.append(Figure("mlmon_reference", 1.0, {"fingerprint": self.profile.fingerprint}))
            figures.append(Figure("mlmon_reference_rows", float(self.profile.rows)))
        return figures

    def _counter_figures(self) -> list[AnyFigure]:
        counters = self.state.counters(self.key)
        figures: list[AnyFigure] = [
            Figure("mlmon_predictions", counters.get(counter_key("mlmon_predictions"), 0.0)),
            Figure("mlmon_batches_processed", counters.get(counter_key("mlmon_batches_processed"), 0.0)),
        ]
        for reason in BATCH_FAILURE_REASONS:
            key = counter_key("mlmon_batch_failures", {"reason": reason})
            figures.append(Figure("mlmon_batch_failures", counters.get(key, 0.0), {"reason": reason}))
        for reason in INVALID_ROW_REASONS:
            key = counter_key("mlmon_invalid_rows", {"reason": reason})
            figures.append(Figure("mlmon_invalid_rows", counters.get(key, 0.0), {"reason": reason}))
        for kind in SCHEMA_VIOLATION_KINDS:
            key = counter_key("mlmon_schema_violations", {"kind": kind})
            figures.append(Figure("mlmon_schema_violations", counters.get(key, 0.0), {"kind": kind}))
        if self.model.target_column is not None:
            figures.append(Figure("mlmon_labels_received", counters.get(counter_key("mlmon_labels_received"), 0.0)))
        if self.model.labels is not None:
            figures.append(Figure("mlmon_unmatched_labels", float(self.state.pending_labels(self.key))))
        figures.append(histogram.figure("mlmon_scoring_duration_seconds", counters, histogram.DURATION_BUCKETS))
        if self.model.task != "regression":
            figures.append(histogram.figure("mlmon_prediction_confidence", counters, histogram.CONFIDENCE_BUCKETS))
        return figures
