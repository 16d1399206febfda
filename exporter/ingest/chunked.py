"""A batch of more than ``limits.max_batch_rows`` rows, ingested in chunks of ``limits.chunk_rows``.

Memory follows the chunk, not the batch. Each chunk is validated and scored exactly as a whole batch
is, and folded into a state that merges by addition (``exporter.mergeable``); its counter increments
are added up. Nothing is written while the chunks are read: once the last one is in, the batch's
mark and all its counter increments are committed in one transaction, as for a whole batch, so a
kill in the middle loses no row and counts none twice (the next run reads the batch again from its
start). A chunk that fails the batch (its schema, the model, an unreadable part) fails it as a whole,
with its reason, and a batch whose chunks leave no valid row fails as ``empty``.

No window file is written and nothing is kept per row: the batch is a window of its own, whose
figures come from its merged state (``exporter.mergeable.published``). A model with an
``id_column`` reads its batches whole, since duplicates and late labels are found by id across the
whole batch.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from exporter import histogram
from exporter.evaluation import AnyFigure
from exporter.history.record import WindowCounts
from exporter.ingest.batches import BatchIngestor, BatchOutcome, confidence_counters, row_counters
from exporter.ingest.validation import BatchFailure
from exporter.mergeable.batch import BatchMonitor, BatchState
from exporter.mergeable.published import window_counts, window_figures
from exporter.model import LoadedModel
from exporter.sources import BatchRef, Source, UnreadableBatch
from exporter.state import CounterKey, counter_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkedOutcome(BatchOutcome):
    """A batch scored in chunks, with the figures and counts of the window it forms on its own."""

    figures: tuple[AnyFigure, ...] = ()
    counts: WindowCounts | None = None


@dataclass
class _Tally:
    """What the chunks of one batch add up to besides the merged state."""

    chunks: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    extra_columns: int = 0
    wrong_dtype: frozenset[str] = frozenset()
    scoring_seconds: float = 0.0
    latencies: bool = False  # a model served elsewhere logged each row's latency
    counters: Counter[CounterKey] = field(default_factory=Counter)


class ChunkedIngestor(BatchIngestor):
    """Ingests the batches too large to read whole; ``applies`` says which."""

    def applies(self, source: Source, ref: BatchRef) -> bool:
        limits = self.model.limits
        if not source.more_rows_than(ref, limits.max_batch_rows):
            return False
        if self.model.id_column is not None:
            log.warning(
                "model %s: batch %s has more than limits.max_batch_rows=%d rows but is read whole: with an"
                " id_column, duplicates and late labels are found by id across the whole batch",
                self.key,
                ref.name,
                limits.max_batch_rows,
            )
            return False
        return True

    def ingest(self, source: Source, ref: BatchRef, loaded: LoadedModel, now: float) -> BatchOutcome:
        monitor = BatchMonitor(self.model, loaded, self.reference.profile)
        try:
            state, tally = self._fold(source, ref, loaded, monitor)
        except Exception as error:  # noqa: BLE001  (whatever the batch did, it costs only itself)
            return self._unusable(source, ref, error, now)
        for reason, n in tally.invalid.items():
            if n:
                log.info("model %s: batch %s: %d row(s) dropped (%s)", self.key, ref.name, n, reason)
        recorded = self.state.record_batch(
            self.key, ref.key, status="ok", rows=state.rows, processed_at=now, counters=tally.counters
        )
        if not recorded:
            log.info("model %s: batch %s was recorded by another process; not counted again", self.key, ref.name)
            return BatchOutcome("skipped")
        source.accept(ref)
        log.info(
            "model %s: batch %s scored in %d chunk(s) of at most %d rows: %d row(s); it is a window of its own",
            self.key,
            ref.name,
            tally.chunks,
            self.model.limits.chunk_rows,
            state.rows,
        )
        return ChunkedOutcome(
            "scored",
            rows=state.rows,
            figures=tuple(window_figures(monitor, state)),
            counts=window_counts(monitor, state, now),
        )

    def _fold(
        self, source: Source, ref: BatchRef, loaded: LoadedModel, monitor: BatchMonitor
    ) -> tuple[BatchState, _Tally]:
        state, tally = monitor.empty(), _Tally()
        try:
            chunks = source.read_chunks(ref, self.model.limits.chunk_rows)
            for chunk in chunks:
                if chunk.empty:
                    continue
                tally.chunks += 1
                try:
                    prepared = self._prepare_frame(chunk, ref, loaded)
                except BatchFailure as failure:
                    if failure.reason != "empty":
                        raise
                    # no valid row in this chunk: the batch fails only if no chunk has one
                    tally.invalid.update(failure.invalid)
                    continue
                scored = self._score(loaded, prepared)
                tally.invalid.update(prepared.invalid)
                tally.extra_columns = prepared.schema_violations["extra_column"]
                tally.wrong_dtype |= prepared.wrong_dtype_columns
                if scored.latencies is not None:
                    tally.latencies = True
                    tally.counters.update(
                        histogram.increments(
                            "mlmon_scoring_duration_seconds", scored.latencies, histogram.DURATION_BUCKETS
                        )
                    )
                else:
                    tally.scoring_seconds += scored.seconds
                if scored.probabilities is not None:
                    tally.counters.update(confidence_counters(scored.probabilities))
                monitor.add_scored(state, prepared, scored)
        except UnreadableBatch as exc:
            raise BatchFailure("unreadable", str(exc)) from exc
        if tally.chunks == 0:
            raise BatchFailure("empty", "the batch has no rows")
        if state.rows == 0:
            reasons = ", ".join(f"{n} {r}" for r, n in tally.invalid.items() if n)
            raise BatchFailure("empty", f"no valid rows left ({reasons})", tally.invalid)
        _batch_counters(tally, state.rows)
        return state, tally


def _batch_counters(tally: _Tally, rows: int) -> None:
    """The counter increments a whole batch of the same rows records (``validation_counters`` and
    ``scoring_counters``): schema violations count columns, once per batch; the scoring duration is
    one observation, the time of every chunk (or, logged per row, every row's latency)."""
    counters = tally.counters
    counters.update(
        row_counters(tally.invalid, {"extra_column": tally.extra_columns, "wrong_dtype": len(tally.wrong_dtype)})
    )
    counters[counter_key("mlmon_predictions")] += rows
    counters[counter_key("mlmon_batches_processed")] += 1
    if not tally.latencies:
        counters.update(
            histogram.increments("mlmon_scoring_duration_seconds", [tally.scoring_seconds], histogram.DURATION_BUCKETS)
        )
