"""One batch from its source to the state store: read, validate, score, record, in one outcome.

Whatever a batch does, it costs only itself: a batch that cannot be used is counted by reason,
recorded as failed and handed back to its source to reject. A batch's processed mark, its counter
increments and its stored predictions are committed in one transaction; its scored rows are written
to the window store before that, so a crash in between only means it is scored again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from exporter import histogram
from exporter.arrays import integer_lookup, row_maxima
from exporter.config import ModelConfig
from exporter.ingest.scoring import Scored, score, score_prepared
from exporter.ingest.validation import BatchFailure, PositionalIds, PreparedBatch, batch_seen, prepare_batch
from exporter.model import LoadedModel
from exporter.parallel import Background
from exporter.performance import INTEGER_SPAN, class_label
from exporter.reference.keeper import ReferenceKeeper
from exporter.sources import BatchGone, BatchRef, Source, SourceUnavailable, UnreadableBatch
from exporter.state import CounterKey, StateStore, counter_key
from exporter.window import Window, WindowStore, batch_window, window_table

log = logging.getLogger(__name__)

Status = Literal["scored", "failed", "labels", "skipped", "vanished"]


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one batch.

    ``scored``: its valid rows were scored and recorded; ``failed``: it was rejected as a whole;
    ``labels``: it only carried labels for rows scored earlier; ``skipped``: another process
    recorded it first, so nothing was counted here; ``vanished``: it was gone (or still changing)
    when read, so nothing was recorded and a later run sees it again if it comes back.
    """

    status: Status
    rows: int = 0  # rows scored
    late_labels: int = 0  # stored predictions that received their label from this batch
    arrived: pd.DataFrame | None = None  # its feature columns as they arrived, for data quality


@dataclass(frozen=True)
class PendingBatch:
    """A batch read and scored whose window file is being written (``writing``): ``finish`` waits for
    the file, then records the batch (its mark, counters and stored rows in one transaction) and
    gives its outcome.

    Until then the batch is not recorded: a crash meanwhile only means it is scored again.
    ``window``, when the model's window is its latest batch and it has no ``id_column``, is its scored
    rows as that window, to evaluate meanwhile.
    """

    ref: BatchRef
    window: Window | None
    arrived: pd.DataFrame
    writing: Background[None]
    record: Callable[[], BatchOutcome]

    def finish(self) -> BatchOutcome:
        self.writing.result()  # the rows are on disk before their batch's mark commits
        return self.record()

    def abandon(self) -> None:
        """Left unrecorded (the run failed): only waits until nothing writes its file any more."""
        try:
            self.writing.result()
        except Exception:  # noqa: BLE001  (the run's own failure is the one reported)
            log.debug("batch %s: its window file was not written either", self.ref.name, exc_info=True)


def failure_counters(failure: BatchFailure) -> Counter[CounterKey]:
    counters: Counter[CounterKey] = Counter({counter_key("mlmon_batch_failures", {"reason": failure.reason}): 1})
    for reason, n in failure.invalid.items():
        counters[counter_key("mlmon_invalid_rows", {"reason": reason})] += n
    for kind, n in failure.violations.items():
        counters[counter_key("mlmon_schema_violations", {"kind": kind})] += n
    return counters


def row_counters(invalid: Mapping[str, int], violations: Mapping[str, int]) -> Counter[CounterKey]:
    """Invalid rows by reason and schema violations by kind, as counter increments (zeros left out)."""
    counters: Counter[CounterKey] = Counter()
    for reason, n in invalid.items():
        if n:
            counters[counter_key("mlmon_invalid_rows", {"reason": reason})] += n
    for kind, n in violations.items():
        if n:
            counters[counter_key("mlmon_schema_violations", {"kind": kind})] += n
    return counters


def validation_counters(prepared: PreparedBatch) -> Counter[CounterKey]:
    return row_counters(prepared.invalid, prepared.schema_violations)


def confidence_counters(probabilities: np.ndarray) -> dict[CounterKey, float]:
    """The confidence histogram's increments: each row's highest class probability."""
    confidence = row_maxima(probabilities)
    return histogram.increments("mlmon_prediction_confidence", confidence, histogram.CONFIDENCE_BUCKETS)


def scoring_counters(rows: int, scored: Scored) -> Counter[CounterKey]:
    counters: Counter[CounterKey] = Counter(
        {counter_key("mlmon_predictions"): rows, counter_key("mlmon_batches_processed"): 1}
    )
    counters.update(
        histogram.increments("mlmon_scoring_duration_seconds", scored.durations, histogram.DURATION_BUCKETS)
    )
    if scored.probabilities is not None:
        counters.update(confidence_counters(scored.probabilities))
    return counters


def label_column(prepared: PreparedBatch) -> pa.Array:
    """The text each scored row's label is stored under (``class_label``), null where it came without
    one, as a dictionary column: each distinct label is turned into text once, and each row holds its
    label's code, with no text object made per row (a tenth of the time at 100,000 rows).
    """
    rows = len(prepared.labelled)
    labelled = np.asarray(prepared.labelled, dtype=bool)
    indices = np.zeros(rows, dtype=np.int32)
    if prepared.labels is None or not labelled.any():
        return pa.DictionaryArray.from_arrays(indices, pa.array([""]), mask=np.ones(rows, dtype=bool))
    labels = prepared.labels[labelled]
    found = integer_lookup(labels, INTEGER_SPAN, class_label, fill="", dtype=object)  # "": offsets no label takes
    if found is not None:
        texts, codes = found
    else:
        codes, uniques = pd.factorize(labels)
        texts = np.array([class_label(value) for value in np.asarray(uniques, dtype=object)], dtype=object)
    indices[labelled] = codes
    return pa.DictionaryArray.from_arrays(indices, pa.array(texts, type=pa.string()), mask=~labelled)


def _never_seen(ids: list[str]) -> dict[str, bool]:
    return {}


class BatchIngestor:
    def __init__(
        self,
        model: ModelConfig,
        key: str,
        state: StateStore,
        windows: WindowStore,
        reference: ReferenceKeeper,
        scorer: Callable[[LoadedModel, pd.DataFrame], Scored] = score,
    ) -> None:
        self.model, self.key, self.state, self.windows, self.reference = model, key, state, windows, reference
        self.scorer = scorer

    def ingest(self, source: Source, ref: BatchRef, loaded: LoadedModel, now: float) -> BatchOutcome:
        """The batch read, scored and recorded."""
        begun = self.begin(source, ref, loaded, now)
        return begun.finish() if isinstance(begun, PendingBatch) else begun

    def begin(self, source: Source, ref: BatchRef, loaded: LoadedModel, now: float) -> BatchOutcome | PendingBatch:
        """The batch read and scored, its window file being written in the background; it is recorded
        when the caller finishes it (``PendingBatch.finish``). A batch that needs no recording of
        scored rows (it failed, or only carried late labels) comes back as its outcome."""
        try:
            prepared, scored = self._prepare_and_score(source, ref, loaded)
        except Exception as error:  # noqa: BLE001  (whatever the batch did, it costs only itself)
            return self._unusable(source, ref, error, now)
        numeric = loaded.classes is None  # a regression's labels are numbers, not classes
        late = self._apply_late_labels(ref, prepared, now, numeric)
        counters = validation_counters(prepared)
        for reason, n in prepared.invalid.items():
            if n:
                log.info("model %s: batch %s: %d row(s) dropped (%s)", self.key, ref.name, n, reason)
        if scored is None:
            # every row was a label for an earlier prediction: nothing to score, nothing to reject
            if self.state.record_batch(self.key, ref.key, status="labels", rows=0, processed_at=now, counters=counters):
                source.accept(ref)
            log.info("model %s: batch %s carried %d late label(s)", self.key, ref.name, len(prepared.late_labels))
            return BatchOutcome("labels", late_labels=late)
        rows = len(prepared.features)
        counters.update(scoring_counters(rows, scored))
        # Without an id no label can ever join these rows later, so nothing is kept per row in the
        # state store, and the window file needs no row ids: it holds their labels.
        joinable = self.model.id_column is not None
        # A window that is only ever the latest batch (without ids, so nothing joins it later) is this
        # batch, evaluated from memory; its file is read back only after a restart, and is written past
        # the page cache.
        latest = not joinable and self.model.window.latest_batch
        key, predictions, probabilities = ref.key, scored.predictions, scored.probabilities

        def write_window_file() -> None:
            # made on the writing thread too: the label texts and Arrow columns are built meanwhile
            table = window_table(
                prepared.features,
                prepared.row_ids if joinable else None,
                predictions,
                probabilities,
                labels=label_column(prepared),
                scored_at=now,
            )
            self.windows.write(self.key, key, table, direct=latest)

        writing = Background(write_window_file, name="mlmon-window-file")
        window = None
        if latest:
            window = batch_window(
                prepared.features,
                scored.predictions,
                scored.probabilities,
                loaded.classes,
                prepared.labels,
                prepared.labelled,
                now,
            )

        def record() -> BatchOutcome:
            if joinable:
                # the rows first, counted once the mark commits: a kill in between only rewrites them
                self.state.rows.write_batch(
                    self.key, ref.key, prepared.row_ids, now, prepared.labels, prepared.labelled, numeric=numeric
                )
            recorded = self.state.record_batch(
                self.key,
                ref.key,
                status="ok",
                rows=rows,
                processed_at=now,
                counters=counters,
                stored_rows=joinable,
            )
            if not recorded:
                log.info("model %s: batch %s was recorded by another process; not counted again", self.key, ref.name)
                return BatchOutcome("skipped", late_labels=late)
            source.accept(ref)
            return BatchOutcome("scored", rows=rows, late_labels=late, arrived=prepared.arrived)

        return PendingBatch(ref, window, prepared.arrived, writing, record)

    def _score(self, loaded: LoadedModel, prepared: PreparedBatch) -> Scored:
        if prepared.outputs is not None:
            return score_prepared(self.model, loaded, prepared)
        return self.scorer(loaded, prepared.features)

    def _prepare_and_score(
        self, source: Source, ref: BatchRef, loaded: LoadedModel
    ) -> tuple[PreparedBatch, Scored | None]:
        """The batch read, validated and scored (None when no row is left to score), its identity known.

        A batch handed out before its identity was worked out (``BatchRef.deferred``) is validated
        and scored meanwhile as a batch never seen before, which is what it is unless its content
        was scored before under another name: rows without an id column are known by their batch's
        content. Once the identity is known, such a batch, or one that failed meanwhile, is validated
        again knowing it, so every outcome is the one a known identity gives.
        """
        try:
            frame = source.read(ref)
        except UnreadableBatch as exc:
            raise BatchFailure("unreadable", str(exc)) from exc
        if not ref.identified:
            try:
                prepared, scored = self._prepared_and_scored(frame, ref, loaded, speculative=True)
            except Exception:  # noqa: BLE001  (decided again below, knowing the batch's identity)
                log.debug("model %s: batch %s is validated again once hashed", self.key, ref.name, exc_info=True)
            else:
                key, content = ref.wait()
                if not isinstance(prepared.row_ids, PositionalIds):
                    return prepared, scored  # known by their ids: the batch's identity changed nothing
                if not batch_seen(content or key, self._known_ids(ref)):
                    numbered = PositionalIds(content or key, prepared.row_ids.positions)
                    return replace(prepared, row_ids=numbered), scored
        return self._prepared_and_scored(frame, ref, loaded)

    def _prepared_and_scored(
        self, frame: pd.DataFrame, ref: BatchRef, loaded: LoadedModel, *, speculative: bool = False
    ) -> tuple[PreparedBatch, Scored | None]:
        prepared = self._prepare_frame(frame, ref, loaded, speculative=speculative)
        return prepared, self._score(loaded, prepared) if len(prepared.features) else None

    def _prepare_frame(
        self, frame: pd.DataFrame, ref: BatchRef, loaded: LoadedModel, *, speculative: bool = False
    ) -> PreparedBatch:
        """``prepare_batch`` on the batch; ``speculative``: as a batch never seen before, without its
        identity (rows without an id column are then numbered under a placeholder)."""
        profile = self.reference.profile
        known = _never_seen if speculative and self.model.id_column is None else self._known_ids(ref)
        return prepare_batch(
            frame,
            self.model,
            loaded,
            categorical=self.reference.categorical(frame),
            batch_key="" if speculative else ref.key,
            is_known_id=known,
            known_features=list(profile.features) if profile is not None else None,
            content_key=None if speculative else ref.content,
        )

    def _known_ids(self, ref: BatchRef) -> Callable[[list[str]], dict[str, bool]]:
        """Which of a batch's row ids were scored before (with whether their label is in)."""
        if self.model.id_column is not None:
            return lambda ids: self.state.known_row_ids(self.key, ids)

        # Rows without an id are known by their batch's content and position (validation asks about
        # the first row only), and nothing is kept per row: a batch mark of the same content (keys
        # start with it, as replay relies on) says its rows were all scored. State written before
        # kept a row per prediction, so the first row answers for its batch there.
        def known(ids: list[str]) -> dict[str, bool]:
            if ref.content and self.state.has_batch(self.key, f"{ref.content}|"):
                return dict.fromkeys(ids, True)
            return dict.fromkeys(ids, True) if ids and self.state.known_row_ids(self.key, ids[:1]) else {}

        return known

    def _unusable(self, source: Source, ref: BatchRef, error: Exception, now: float) -> BatchOutcome:
        """What becomes of a batch whose reading, validation or scoring raised ``error``."""
        if isinstance(error, SourceUnavailable):
            raise error  # the source, not the batch: nothing is recorded, the next run reads it again
        if not isinstance(error, BatchGone):
            try:
                ref.wait()  # its failure is recorded under its identity, which may still be worked out
            except BatchGone as gone:
                error = gone
        if isinstance(error, BatchGone):
            log.info("model %s: batch %s skipped: %s", self.key, ref.name, error)
            return BatchOutcome("vanished")
        return self._fail(source, ref, error, now)

    def _fail(self, source: Source, ref: BatchRef, error: Exception, now: float) -> BatchOutcome:
        if isinstance(error, BatchFailure):
            failure = error
        else:
            log.exception("model %s: batch %s broke the scoring", self.key, ref.name)
            failure = BatchFailure("scoring", f"{type(error).__name__}: {error}")
        log.warning("model %s: batch %s rejected (%s): %s", self.key, ref.name, failure.reason, failure)
        recorded = self.state.record_batch(
            self.key,
            ref.key,
            status="failed",
            reason=failure.reason,
            rows=0,
            processed_at=now,
            counters=failure_counters(failure),
        )
        if not recorded:
            return BatchOutcome("skipped")
        source.reject(ref, failure.reason, str(failure))
        return BatchOutcome("failed")

    def _apply_late_labels(self, ref: BatchRef, prepared: PreparedBatch, now: float, numeric: bool) -> int:
        if not prepared.late_labels or prepared.labels is None:
            return 0
        mark = f"{ref.key}#labels"
        ids = [row_id for row_id, _ in prepared.late_labels]
        labels = np.array([label for _, label in prepared.late_labels], dtype=prepared.labels.dtype)
        self.state.rows.write_labels(self.key, mark, ids, labels, now, numeric=numeric)
        return self.state.apply_labels(self.key, mark, status="ok", received_at=now, counters={}, stored_labels=True)
