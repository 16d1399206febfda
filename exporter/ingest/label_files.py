"""Late labels: files of (id, label) appended to the label log and joined, by key, to the stored predictions."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pandas as pd

from exporter.config import ModelConfig
from exporter.ingest.validation import BatchFailure, check_cells, match_labels
from exporter.model import LoadedModel
from exporter.rows.keys import column_keys
from exporter.sources import BatchGone, ReadPosition, Source, UnreadableBatch
from exporter.state import StateStore, counter_key

log = logging.getLogger(__name__)


def ingest_labels(
    model: ModelConfig,
    loaded: LoadedModel,
    source: Source,
    position: ReadPosition,
    state: StateStore,
    model_key: str,
    now: float,
) -> int:
    """Apply every pending label file once; returns how many predictions received a label."""
    assert model.id_column is not None and model.target_column is not None
    applied = 0
    for ref in source.pending(position):
        invalid: Counter[str] = Counter()
        try:
            ref.wait()  # a label file is small: its identity first, as its outcome is recorded under it
            frame = source.read(ref)
            missing = [c for c in (model.id_column, model.target_column) if c not in frame.columns]
            if missing:
                raise BatchFailure("schema", f"label file lacks column(s) {', '.join(missing)}")
            if frame.empty:
                raise BatchFailure("empty", "the label file has no rows")
        except BatchGone as gone:
            log.info("model %s: label file %s skipped: %s", model_key, ref.name, gone)
            continue
        except (UnreadableBatch, BatchFailure) as exc:
            reason = exc.reason if isinstance(exc, BatchFailure) else "unreadable"
            log.warning("model %s: label file %s rejected (%s): %s", model_key, ref.name, reason, exc)
            source.reject(ref, reason, str(exc))
            state.apply_labels(
                model_key,
                ref.key,
                status="failed",
                received_at=now,
                counters={counter_key("mlmon_batch_failures", {"reason": reason}): 1.0},
            )
            continue
        frame, bad_cells = check_cells(frame[[model.id_column, model.target_column]], model.limits.max_cell_length)
        invalid["bad_type"] += int(bad_cells.sum())
        frame = frame.dropna(subset=[model.id_column, model.target_column])
        values, known = match_labels(frame[model.target_column], loaded.classes)
        invalid["unknown_label"] += int((~known).sum())
        keys, no_id = column_keys(frame[model.id_column])
        invalid["missing_value"] += int((no_id & known).sum())  # a blank id, once not counted already
        known &= ~no_id
        # one label per id: the first in the file wins, the others are counted
        repeated = np.zeros(len(keys), dtype=bool)
        repeated[~no_id] = pd.Index(keys[~no_id]).duplicated(keep="first")
        invalid["duplicate_id"] += int(repeated.sum())
        known &= ~repeated
        counters = {counter_key("mlmon_invalid_rows", {"reason": r}): float(n) for r, n in invalid.items() if n}
        # appended to the label log first, joined to the stored rows by key when the mark commits
        state.rows.write_label_keys(model_key, ref.key, keys[known], values[known], now, numeric=loaded.classes is None)
        applied += state.apply_labels(
            model_key, ref.key, status="ok", received_at=now, counters=counters, stored_labels=True
        )
        source.accept(ref)
        log.info("model %s: label file %s: %d label(s) read", model_key, ref.name, int(known.sum()))
    return applied
