"""Per-row predictions and late labels as columnar files, made visible by the SQLite ledger.

A model with an ``id_column`` keeps, per scored batch, one Parquet file of its rows: an int64 key
(``exporter.rows.keys``), the label the row came with (a dictionary-coded text for classes, a float
for regression) and, for rows migrated from an older state, the time it was labelled. The batch's
scoring time is its mark's ``processed_at``, kept once, not per row. Late labels are appended, per
label file (or per batch that carried them), to a label log of the same shape; nothing is updated in
place. A row's label is the one it came with, else the first label for its key in the log's commit
order; it was labelled at the later of that label's arrival and its scoring.

Visibility follows the ledger: a batch's file counts only once its ``ok`` mark is committed, a label
log file only once its label mark is. Files are written (and flushed to disk) before that commit,
and the counts that depend on them (labels received) are computed inside the commit's transaction
from what is already committed. So a kill before the commit leaves a file nobody reads, which the
re-run rewrites under the same name; a kill after it leaves everything counted once.

Pruning deletes the files of batches scored before the retention, and drops from the label log the
labels received before it whose row is not stored (labels that waited too long); files no mark names
(a run killed before its commit that never came back, a forgotten batch) go once older than it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from exporter.performance import class_label
from exporter.rows.index import KeyIndex
from exporter.rows.keys import row_keys

log = logging.getLogger(__name__)

KEY, LABEL, LABELLED_AT, RECEIVED_AT = "key", "label", "labelled_at", "received_at"
SCORED_AT_META = b"mlmon.scored_at"
LEGACY_LABELS = "l-legacy.parquet"  # labels waiting in a state written before this store: read first


class Ledger(Protocol):
    """What the row store needs from the transactional state (``exporter.state.StateStore``)."""

    def scored_batches(self, model: str) -> list[tuple[str, int, float]]:
        """(key, seq, processed_at) of the batches marked ``ok``, in the order they were recorded."""
        ...

    def label_marks(self, model: str) -> list[tuple[str, float]]:
        """(key, processed_at) of the label marks recorded ``ok``, in the order they were recorded."""
        ...


@dataclass
class _Part:
    """One file's rows: keys, labels (None where none) and per-row times (NaN where none)."""

    keys: np.ndarray
    labels: pd.Series
    times: np.ndarray  # labelled_at of a batch's rows; received_at of a log's labels
    scored_at: float = float("nan")

    @property
    def labelled(self) -> np.ndarray:
        return self.labels.notna().to_numpy()


@dataclass
class _View:
    """Every visible row and label of one model, indexed by key, and the files they came from."""

    batches: tuple[tuple[str, int, float], ...] = ()  # (file, seq, scored at) appended, in ledger order
    logs: tuple[tuple[str, float | None], ...] = ()  # (file, received at) appended, in ledger order
    rows: KeyIndex = field(default_factory=KeyIndex)  # flags: the row came with its label
    log: KeyIndex = field(default_factory=lambda: KeyIndex(with_labels=True))
    waiting: int | None = None  # labels whose row is not stored, until rows or labels change


def _file(prefix: str, mark: str) -> str:
    return f"{prefix}-{hashlib.sha256(mark.encode()).hexdigest()[:24]}.parquet"


def label_column(
    labels: np.ndarray | None, labelled: np.ndarray | None, rows: int, *, numeric: bool = False
) -> pa.Array:
    """Labels for storage: floats for a regression (``numeric``), else each class's text
    (``class_label``), dictionary-coded; null where ``labelled`` is False."""
    if labels is None:
        return pa.nulls(rows, type=pa.dictionary(pa.int32(), pa.string()))
    mask = np.ones(rows, dtype=bool) if labelled is None else np.asarray(labelled, dtype=bool)
    if numeric:
        values = np.asarray(labels, dtype=float)
        return pa.array(values, mask=~mask | np.isnan(values))
    codes, classes = pd.factorize(np.asarray(labels))
    codes = np.where(mask, codes, -1)
    texts = pa.array([class_label(c) for c in np.asarray(classes, dtype=object)], type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0, type=pa.int32()), texts)


class RowStore:
    """``lock`` is the state store's own lock: the label counts run inside its transactions."""

    def __init__(self, root: Path, ledger: Ledger, lock: threading.RLock) -> None:
        self.root = Path(root)
        self.ledger = ledger
        self._lock = lock
        self._staged: dict[tuple[str, str], _Part] = {}
        self._views: dict[str, _View] = {}

    def _dir(self, model: str) -> Path:
        return self.root / hashlib.sha256(model.encode()).hexdigest()[:16]

    # --- writing (before the mark is committed) -------------------------------------------------
    def write_batch(
        self,
        model: str,
        batch_key: str,
        ids: Sequence[str],
        scored_at: float,
        labels: np.ndarray | None = None,
        labelled: np.ndarray | None = None,
        *,
        numeric: bool = False,
    ) -> None:
        """Write a batch's rows; they count once its ``ok`` mark commits (``StateStore.record_batch``).

        ``labels`` (aligned with ``ids``, meaningful where ``labelled``) are the model's classes, or
        numbers for a regression (``numeric``).
        """
        keys = row_keys(ids)
        label = label_column(labels, labelled, len(keys), numeric=numeric)
        table = pa.table({KEY: keys, LABEL: label, LABELLED_AT: pa.nulls(len(keys), type=pa.float64())})
        self.write_rows(model, batch_key, table, scored_at)

    def write_rows(self, model: str, batch_key: str, table: pa.Table, scored_at: float) -> None:
        name = _file("p", batch_key)
        self.write_table(model, name, table.replace_schema_metadata({SCORED_AT_META: repr(float(scored_at)).encode()}))
        with self._lock:
            self._stage(model, name, _part(table, scored_at))

    def write_labels(
        self,
        model: str,
        mark: str,
        ids: Sequence[str],
        labels: np.ndarray,
        received_at: float,
        *,
        numeric: bool = False,
    ) -> None:
        """Append one label mark's labels (the first per id wins) to the log; they count once it commits."""
        self.write_label_keys(model, mark, row_keys(ids), labels, received_at, numeric=numeric)

    def write_label_keys(
        self, model: str, mark: str, keys: np.ndarray, labels: np.ndarray, received_at: float, *, numeric: bool = False
    ) -> None:
        """``write_labels`` for ids already keyed (``exporter.rows.keys``)."""
        first = ~pd.Index(keys).duplicated()
        label = label_column(np.asarray(labels)[first], None, int(first.sum()), numeric=numeric)
        table = pa.table({KEY: keys[first], LABEL: label, RECEIVED_AT: np.full(int(first.sum()), received_at)})
        name = _file("l", mark)
        self.write_table(model, name, table)
        with self._lock:
            self._stage(model, name, _part(table))

    def read_table(self, model: str, name: str) -> pa.Table | None:
        path = self._dir(model) / name
        return pq.read_table(path) if path.exists() else None

    def write_table(self, model: str, name: str, table: pa.Table) -> None:
        """Write one file atomically and durably, before the ledger names it."""
        folder = self._dir(model)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / name
        partial = final.with_suffix(".tmp")
        pq.write_table(
            table,
            partial,
            compression="zstd",
            use_dictionary=[LABEL, LABELLED_AT, RECEIVED_AT],
            column_encoding={KEY: "DELTA_BINARY_PACKED"},
        )
        # durable before the ledger names it: the ledger's commit is synchronous
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, final)
        _sync_dir(folder)

    # --- counts inside the ledger's transaction --------------------------------------------------
    def early_labels(self, model: str, batch_key: str) -> int:
        """Rows of a batch about to be committed whose label already waits in the log."""
        with self._lock:
            part = self._staged_part(model, _file("p", batch_key))
            view = self._view(model)
            waiting = ~part.labelled & view.log.contains(part.keys) & ~view.rows.contains(part.keys)
            return int(np.count_nonzero(waiting))

    def newly_labelled(self, model: str, mark: str) -> int:
        """Stored predictions that receive their label from a label mark about to be committed."""
        with self._lock:
            part = self._staged_part(model, _file("l", mark))
            view = self._view(model)
            stored = view.rows.lookup(part.keys)
            unlabelled = stored.found & ~stored.flags
            return int(np.count_nonzero(unlabelled & ~view.log.contains(part.keys)))

    def _staged_part(self, model: str, name: str) -> _Part:
        part = self._staged.get((model, name)) or _read(self._dir(model) / name)
        return (
            part if part is not None else _Part(np.empty(0, dtype=np.int64), pd.Series([], dtype=object), np.empty(0))
        )

    def _stage(self, model: str, name: str, part: _Part) -> None:
        """Keep a file just written in memory until the view takes it in after its commit (the two
        latest per model and kind: one whose commit failed is not kept for ever)."""
        same = [k for k in self._staged if k[0] == model and k[1][:2] == name[:2] and k[1] != name]
        for key in same[:-1]:
            del self._staged[key]
        self._staged[(model, name)] = part

    # --- reading ---------------------------------------------------------------------------------
    def known(self, model: str, ids: Sequence[str]) -> dict[str, bool]:
        """Which of ``ids`` were scored (and not pruned), each with whether its label is in."""
        with self._lock:
            view = self._view(model)
            if not view.rows.segments:
                return {}
            keys = row_keys(ids)
            stored = view.rows.lookup(keys)
            found = np.flatnonzero(stored.found)
            if not len(found):
                return {}
            labelled = stored.flags[found] | view.log.contains(keys[found])
            texts = np.asarray(ids, dtype=object)[found]
            return dict(zip(texts.tolist(), labelled.tolist()))

    def pending(self, model: str) -> int:
        """Labels in the log whose prediction is not stored (yet)."""
        with self._lock:
            view = self._view(model)
            if view.waiting is None:
                view.waiting = int(np.count_nonzero(~view.rows.contains(view.log.first_keys())))
            return view.waiting

    def predictions(self, model: str, batch_keys: Iterable[str]) -> pd.DataFrame:
        """The stored rows of the given batches, in their order: key, scored_at, label, labelled_at.

        ``label`` is the class text (or a number, for regression), None where no label is in.
        """
        with self._lock:
            view = self._view(model)
            scored = {name: at for name, _, at in view.batches}
            parts = []
            for key in batch_keys:
                name = _file("p", key)
                part = self._load(model, name, scored[name]) if name in scored else None
                if part is not None:
                    parts.append(part)
            if not parts:
                return pd.DataFrame({KEY: [], "scored_at": [], LABEL: [], LABELLED_AT: []})
            keys = np.concatenate([p.keys for p in parts])
            scored_at = np.concatenate([np.full(len(p.keys), p.scored_at) for p in parts])
            labels = np.concatenate([p.labels.to_numpy(dtype=object) for p in parts])
            own = np.concatenate([p.labelled for p in parts])
            labelled_at = np.concatenate([p.times for p in parts])
            labelled_at = np.where(own & np.isnan(labelled_at), scored_at, labelled_at)
            waiting = view.log.lookup(keys)
            late = waiting.found & ~own
            if late.any():
                labels[late] = waiting.labels[late]  # type: ignore[index]
                labelled_at[late] = np.maximum(waiting.times[late], scored_at[late])
            labels[~(own | late)] = None
            return pd.DataFrame({KEY: keys, "scored_at": scored_at, LABEL: labels, LABELLED_AT: labelled_at})

    def _view(self, model: str) -> _View:
        """The model's view, brought up to the ledger: files recorded since are appended; anything
        else (a batch forgotten, a store set aside) builds it again from the files."""
        folder = self._dir(model)
        if not folder.is_dir():  # a model without ids keeps nothing here
            return _View()
        batches = tuple((_file("p", key), seq, at) for key, seq, at in self.ledger.scored_batches(model))
        logs: tuple[tuple[str, float | None], ...] = (
            ((LEGACY_LABELS, None),) if (folder / LEGACY_LABELS).exists() else ()
        )
        logs += tuple((_file("l", key), at) for key, at in self.ledger.label_marks(model))
        view = self._views.get(model)
        if view is None or batches[: len(view.batches)] != view.batches or logs[: len(view.logs)] != view.logs:
            view = self._views[model] = _View()
        for name, _, at in batches[len(view.batches) :]:
            part = self._load(model, name, at)
            if part is not None:
                view.rows.append(part.keys, part.labelled, np.full(len(part.keys), at))
        for name, at in logs[len(view.logs) :]:
            part = self._load(model, name, at)
            if part is not None:
                view.log.append(
                    part.keys, np.zeros(len(part.keys), bool), part.times, part.labels.to_numpy(dtype=object)
                )
        if (view.batches, view.logs) != (batches, logs):
            view.batches, view.logs, view.waiting = batches, logs, None
        return view

    def _load(self, model: str, name: str, marked_at: float | None) -> _Part | None:
        """One file's rows (kept in memory from its writing, else read).

        ``marked_at`` is the ``processed_at`` of the file's mark: the batch's scoring time, or the time
        the labels of a label mark were received, whatever a racing rewrite of the file wrote in it.
        """
        part = self._staged.pop((model, name), None) or _read(self._dir(model) / name)
        if part is not None and marked_at is not None:
            if name.startswith("p-"):
                part.scored_at = marked_at
            else:
                part.times = np.full(len(part.keys), marked_at)
        return part

    # --- retention -------------------------------------------------------------------------------
    def prune(self, model: str, older_than: float) -> int:
        """Delete rows scored, and waiting labels received, before ``older_than``; returns rows deleted."""
        with self._lock:
            folder = self._dir(model)
            if not folder.is_dir():
                return 0
            view = self._view(model)
            deleted = 0
            for name, _, at in view.batches:
                if at < older_than and (folder / name).exists():
                    deleted += pq.read_metadata(folder / name).num_rows
                    (folder / name).unlink(missing_ok=True)
            retired = view.rows.retire(lambda segment: segment.times < older_than)
            for name, at in view.logs:
                if (at is None or at < older_than) and (folder / name).exists():
                    self._expire_labels(model, name, at, view.rows, older_than)
            retired += view.log.retire(
                lambda segment: _stale(segment.keys.to_numpy(), segment.times, view.rows, older_than)
            )
            if retired:
                view.waiting = None
            named = {name for name, _, _ in view.batches} | {name for name, _ in view.logs}
            for path in [*folder.glob("*.parquet"), *folder.glob("*.tmp")]:
                if path.name not in named and path.stat().st_mtime < older_than:
                    path.unlink(missing_ok=True)
            return deleted

    def _expire_labels(
        self, model: str, name: str, received_at: float | None, rows: KeyIndex, older_than: float
    ) -> None:
        """Drop from a label file the labels received before ``older_than`` whose row is not stored."""
        path = self._dir(model) / name
        table = pq.read_table(path)
        keys = table.column(KEY).to_numpy()
        times = table.column(RECEIVED_AT).to_numpy() if received_at is None else np.full(len(keys), received_at)
        stale = _stale(keys, times, rows, older_than)
        if not stale.any():
            return
        if stale.all():
            path.unlink(missing_ok=True)
        else:
            self.write_table(model, name, table.filter(pa.array(~stale)))

    def clear(self) -> None:
        """Drop what this process holds in memory (the state store was set aside and started afresh)."""
        with self._lock:
            self._views.clear()
            self._staged.clear()


def _stale(keys: np.ndarray, received: np.ndarray, rows: KeyIndex, older_than: float) -> np.ndarray:
    """Labels received before ``older_than`` whose row is not stored: they waited too long."""
    stale = received < older_than
    if stale.any():
        stale[stale] = ~rows.contains(keys[stale])
    return stale


def _part(table: pa.Table, scored_at: float = float("nan")) -> _Part:
    rows = table.num_rows
    keys = table.column(KEY).to_numpy() if rows else np.empty(0, dtype=np.int64)
    labels = table.column(LABEL).to_pandas() if LABEL in table.column_names else pd.Series([None] * rows)
    times_column = LABELLED_AT if LABELLED_AT in table.column_names else RECEIVED_AT
    if times_column in table.column_names:
        times = table.column(times_column).to_numpy(zero_copy_only=False).astype(float)
    else:
        times = np.full(rows, np.nan)
    return _Part(np.asarray(keys, dtype=np.int64), labels, times, scored_at)


def _read(path: Path) -> _Part | None:
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        return None
    meta = table.schema.metadata or {}
    scored_at = float(meta[SCORED_AT_META]) if SCORED_AT_META in meta else float("nan")
    return _part(table, scored_at)


def _sync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def temporary_root() -> Path:
    """Where an in-memory state store keeps its rows: a folder of its own, gone with the process's temp."""
    return Path(tempfile.mkdtemp(prefix="mlmon-rows-"))
