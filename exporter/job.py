"""One model's scheduled run, orchestrated: model, reference, new batches and labels, window, publish.

Each step lives in its own module (``deployment``, ``reference.keeper``, ``ingest``, ``window``,
``evaluation``, ``status``); the job only decides the order, and that a failure in one step costs
the run its ``mlmon_model_up`` and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from exporter.config import ModelConfig
from exporter.deployment import Deployment
from exporter.evaluation import AnyFigure, evaluate
from exporter.history.record import WindowCounts, record_run, window_counts
from exporter.ingest.batches import BatchIngestor, BatchOutcome, PendingBatch
from exporter.ingest.chunked import ChunkedIngestor, ChunkedOutcome
from exporter.ingest.label_files import ingest_labels
from exporter.ingest.position import RecordedPosition
from exporter.model import LoadedModel, ModelLoadError
from exporter.parallel import one_blas_thread
from exporter.reference.keeper import ReferenceKeeper
from exporter.reference.profile import ReferenceProfile
from exporter.results import Results, Snapshot
from exporter.sources import BatchRef, Source, SourceContext, SourceUnavailable, open_source
from exporter.sources.metering import MeteredSource, SourceMeter
from exporter.state import StateStore
from exporter.status import RunStatus, counter_figures, run_figures, source_counters, source_figures
from exporter.window import WindowStore, assemble, window_batches

log = logging.getLogger(__name__)


@contextmanager
def _unless_unavailable(key: str, role: str) -> Iterator[None]:
    """An unreachable source costs the run only what it would have read; the meter counts why."""
    try:
        yield
    except SourceUnavailable as exc:
        log.warning("model %s: the %s source is unavailable (%s): %s", key, role, exc.reason, exc)


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
        source: Source | None = None,
        label_source: Source | None = None,
        loader: Callable[[Path, str], LoadedModel] | None = None,
    ) -> None:
        self.model = model
        self.key = f"{model.name}:{model.version}"
        self.state = state
        self.windows = windows
        self.results = results
        self.retention_seconds = retention_seconds
        self.clock = clock
        context = SourceContext(
            reject_dir=Path(quarantine_dir) / model.name / model.version,
            clock=clock,
            read_ahead_rows=model.limits.max_batch_rows,
        )
        self.meter = SourceMeter()
        self.source = MeteredSource(source or open_source(model.source, context), "batches", self.meter)
        labels = label_source or (open_source(model.labels.source, context) if model.labels else None)
        self.label_source = MeteredSource(labels, "labels", self.meter) if labels is not None else None
        reference = open_source(model.reference.source, context) if model.reference is not None else None
        self.reference = ReferenceKeeper(
            model, state, self.key, MeteredSource(reference, "reference", self.meter) if reference else None
        )
        self.deployment = Deployment(model, self.key, loader, reference_data=self.reference.data)
        self.batches = BatchIngestor(model, self.key, state, windows, self.reference)
        self.chunked = ChunkedIngestor(model, self.key, state, windows, self.reference)
        # the latest batch scored, when it was too large to read whole: a window of its own
        self._chunked: ChunkedOutcome | None = None
        self._window_figures: list[AnyFigure] = []
        self._window_counts: WindowCounts | None = None
        self._last_success: float | None = None
        self.last_run_ok = False  # whether the latest run succeeded (False before the first)
        self._last_batch_rows: float | None = None
        self._work_seconds: float | None = None  # duration of the latest run that did work
        self._arrived: pd.DataFrame | None = None
        self._counters: list[AnyFigure] = []
        self.listeners: list[Callable[[RunReport], None]] = []

    @property
    def profile(self) -> ReferenceProfile | None:
        return self.reference.profile

    def run(self) -> RunReport:
        started = self.clock()
        perf = time.perf_counter()
        report = RunReport(model=self.key)
        self.meter.clear()
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
                with one_blas_thread():  # the run's own threads share the processors (exporter.parallel)
                    self._score_pending(loaded, started, report)
            except Exception as error:  # noqa: BLE001  (the state store or the disk failed: say so, keep serving)
                log.exception("model %s: the run failed", self.key)
                self.state.heal(error)
                up = False
        try:
            # what the sources cost, not what a batch did: the run does not wait for the disk to keep it
            self.state.add_counters(self.key, source_counters(self.meter), durable=False)
            self._counters = counter_figures(self.model, self.state, self.key)
        except Exception as error:  # noqa: BLE001  (keep the last counts on /metrics rather than blank them)
            log.exception("model %s: cannot read the counters from the state store", self.key)
            self.state.heal(error)
            up = False
        if up:
            self._last_success = self.clock()
        self.last_run_ok = up
        # an empty run would hide the cost of the last one that did work: its duration is kept instead
        worked = bool(report.scored or report.failed or report.labels)
        if worked or self._work_seconds is None:
            self._work_seconds = time.perf_counter() - perf
        empty = up and not worked
        status = RunStatus(up, self._work_seconds, self._last_success, self._last_batch_rows, empty)
        figures = run_figures(self.model, status, self.profile) + calculators + self._window_figures + self._counters
        figures += source_figures(self.meter)
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

    def ensure_model(self) -> LoadedModel:
        """The loaded model, reloaded when its file changes (a new deployment)."""
        loaded, reloaded = self.deployment.current()
        if reloaded:
            self.reference.invalidate()
        return loaded

    def _score_pending(self, loaded: LoadedModel, now: float, report: RunReport) -> None:
        pruned = self.state.prune(self.key, older_than=now - self.retention_seconds)
        if pruned:
            log.info("model %s: %d stored prediction(s) past the retention deleted", self.key, pruned)
        if self.label_source is not None:
            position = RecordedPosition(self.state, self.key, labels=True)
            with _unless_unavailable(self.key, "labels"):
                report.labels = ingest_labels(
                    self.model, loaded, self.label_source, position, self.state, self.key, now
                )
        arrived: list[pd.DataFrame] = []
        held: list[PendingBatch] = []
        try:
            with _unless_unavailable(self.key, "batches"):
                self._ingest_batches(loaded, now, report, arrived, held)
            if held and self._evaluate_held(held[-1], now, report, arrived):
                return
            self._evaluate(loaded, now, report, arrived)
        finally:
            for pending in held:
                pending.abandon()  # never recorded: the next run scores it again

    def _ingest_batches(
        self,
        loaded: LoadedModel,
        now: float,
        report: RunReport,
        arrived: list[pd.DataFrame],
        held: list[PendingBatch],
    ) -> None:
        """Every new batch scored and recorded, in order, but the last one when the window is the
        latest batch: that one is left in ``held``, evaluated in memory while its window file is
        written, and recorded after (``_evaluate_held``)."""
        for ref in self.source.pending(RecordedPosition(self.state, self.key)):
            if held:
                self._account(held[-1].finish(), held.pop().ref, report, arrived)
            if self.chunked.applies(self.source, ref):
                self._account(self.chunked.ingest(self.source, ref, loaded, now), ref, report, arrived)
                continue
            begun = self.batches.begin(self.source, ref, loaded, now)
            if not isinstance(begun, PendingBatch):
                self._account(begun, ref, report, arrived)
            elif begun.window is not None:
                held.append(begun)  # the window is this batch: evaluated from memory
            else:
                self._account(begun.finish(), ref, report, arrived)

    def _account(self, outcome: BatchOutcome, ref: BatchRef, report: RunReport, arrived: list[pd.DataFrame]) -> None:
        report.labels += outcome.late_labels
        if outcome.status == "failed":
            report.failed += 1
        elif outcome.status == "scored":
            report.scored += 1
            report.rows += outcome.rows
            report.batch_names.append(ref.name)
            self._last_batch_rows = float(outcome.rows)
            if outcome.arrived is not None:
                arrived.append(outcome.arrived)
            self._chunked = outcome if isinstance(outcome, ChunkedOutcome) else None

    def _evaluate_held(self, pending: PendingBatch, now: float, report: RunReport, arrived: list[pd.DataFrame]) -> bool:
        """The window of ``pending``, the latest batch, evaluated while its file is written, then the
        batch recorded. False when it was not recorded here (another process did), or the window
        turns out to be other than this batch: the run then evaluates the window from the store."""
        assert pending.window is not None
        window = replace(pending.window, arrived=_concat([*arrived, pending.arrived]))
        figures = evaluate(self.model, self.key, window, self.profile)
        outcome = pending.finish()
        self._account(outcome, pending.ref, report, arrived)
        keys = window_batches(self.model, self.state, self.key, now)
        if outcome.status != "scored" or keys != [pending.ref.key]:
            return False
        self.windows.prune(self.key, set(keys))
        self._chunked, self._arrived = None, None
        self._window_counts = window_counts(window, self.model.task)
        self._window_figures = figures
        return True

    def _evaluate(self, loaded: LoadedModel, now: float, report: RunReport, arrived: list[pd.DataFrame]) -> None:
        if self._chunked is not None:
            # the latest batch was scored in chunks: its figures stand until the next batch
            self._window_figures, self._window_counts = list(self._chunked.figures), self._chunked.counts
            return
        # a time window moves with the clock, so it is evaluated on every run
        if report.scored or report.labels or not self._window_figures or self.model.window.seconds is not None:
            if arrived:
                self._arrived = _concat(arrived)
            keys = window_batches(self.model, self.state, self.key, now)
            window = assemble(self.model, self.state, self.windows, self.key, keys, loaded.classes, self._arrived)
            self.windows.prune(self.key, set(keys))
            self._window_counts = window_counts(window, self.model.task) if window is not None else None
            self._window_figures = evaluate(self.model, self.key, window, self.profile)
            if self.model.window.latest_batch and self.model.id_column is None:
                # Only a new batch changes this window, and it brings its own rows: the batch just
                # evaluated is not kept in memory until the next run reads another beside it.
                self._arrived = None


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
