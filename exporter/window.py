"""Scored batches kept on disk, and the evaluation window assembled from them.

Each scored batch is written as an Arrow IPC file (features, predictions, probabilities, row ids, and
the labels and scoring time the batch came with) before its processed mark is committed, so a crash
in between only means the batch is scored again and its file rewritten. A model with an
``id_column`` can receive late labels: its rows' labels are then read from the row store
(``exporter.rows``), joined by integer key. A model without one keeps nothing per row in the state
store, since no label could ever join its rows later; its labels are the ones in these files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from exporter.config import ModelConfig
from exporter.direct_io import DIRECT_MIN_BYTES, write_file
from exporter.parallel import Background
from exporter.performance import class_label
from exporter.rows.keys import row_keys
from exporter.state import StateStore
from exporter.values import canonical_texts

log = logging.getLogger(__name__)


@dataclass
class Window:
    """The rows the figures of one run rest on.

    ``features`` holds the feature columns of the valid rows in the window, in the order they were
    scored; ``predictions`` / ``probabilities`` (columns ordered as ``classes``) / ``labels`` /
    ``labelled`` / ``scored_at`` / ``labelled_at`` are aligned with it. ``labels`` holds the true
    label where ``labelled`` is True (anything elsewhere). ``arrived`` holds the feature columns of
    the batches scored in this run exactly as they arrived, invalid rows included, for data quality.
    """

    features: pd.DataFrame
    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: np.ndarray | None
    labels: np.ndarray
    labelled: np.ndarray
    scored_at: np.ndarray
    labelled_at: np.ndarray
    arrived: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def rows(self) -> int:
        return len(self.predictions)

    @property
    def labelled_rows(self) -> int:
        return int(np.count_nonzero(self.labelled))


PREDICTION = "__prediction"
ROW_ID = "__row_id"
PROBA = "__proba_"
LABEL = "__label"  # the label's text (as class_label writes it), None where the row came without one
SCORED_AT = "__scored_at"


SUFFIX = ".arrow"  # Arrow IPC files; state written by earlier versions holds ``.parquet`` ones
EARLIER_SUFFIX = ".parquet"
# a file that left the window, kept to be written over by the next batch's (``WindowStore``)
SPARE = "spare.arrow.tmp"


def _file_name(batch_key: str, suffix: str = SUFFIX) -> str:
    return hashlib.sha256(batch_key.encode()).hexdigest()[:24] + suffix


class WindowStore:
    """One file per batch of each model's window (``write``), read back after a restart (``load``) and
    deleted once the batch has left the window (``prune``).

    Deleting is left to a thread of its own: a file system frees a large file's blocks slowly (7 ms
    for the 28 MB of 100,000 rows here, 70 ms for a million), and nothing waits for it. ``settle``
    waits; every other call on the store settles first, so a file written again under a pruned
    name is never deleted by the prune before it. The thread is not a daemon: a process that exits
    finishes deleting first.

    One file that left the window is not deleted but kept as the model's spare (``SPARE``), and the
    next file written through the page cache is written over it, in place. Its pages are in the page
    cache already, so the kernel copies the bytes into them instead of finding, zeroing (and, on a
    virtual machine whose freed memory goes back to the host, faulting in) fresh ones: 28 MB took
    2.5 to 4 ms so here, and 7 to 270 ms as a new file. The spare is never read as a window file. A
    file of ``DIRECT_MIN_BYTES`` or more is not kept: a file that large is written past the page cache.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._deleting: list[Background[None]] = []  # deletions started and not yet seen to end

    def settle(self) -> None:
        """Wait for every deletion a ``prune`` started before this call, whichever model's (jobs of
        several models may prune and write at once; each waits for all, which never takes long)."""
        with self._lock:
            started = list(self._deleting)
        for deleting in started:
            deleting.result()
        with self._lock:
            self._deleting = [d for d in self._deleting if d not in started]

    def _dir(self, model_key: str) -> Path:
        return self.root / hashlib.sha256(model_key.encode()).hexdigest()[:16]

    def write(self, model_key: str, batch_key: str, table: pa.Table, *, direct: bool = False) -> None:
        """``table`` (``window_table``) as the batch's file, in whole or not at all; with ``direct``, past
        the page cache (``exporter.direct_io``), for a file read back only after a restart, when it
        holds ``DIRECT_MIN_BYTES`` or more.

        It runs mostly without the interpreter lock, so the caller may go on meanwhile
        (``BatchIngestor.begin``).
        """
        self.settle()
        folder = self._dir(model_key)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / _file_name(batch_key)
        partial = final.with_suffix(".tmp")
        # An Arrow IPC file, uncompressed: it lives only as long as the window needs it, numbers barely
        # compress, and it is written at the speed of the disk (a million rows of 30 features in about
        # half the time of an uncompressed Parquet file, a quarter of a compressed one).
        direct = direct and table.nbytes >= DIRECT_MIN_BYTES

        def write(sink: object) -> None:
            feather.write_feather(table, sink, compression="uncompressed")

        if direct or not _take_spare(folder / SPARE, partial):
            write_file(partial, write, direct=direct)
        else:
            with open(partial, "r+b") as handle:
                write(pa.PythonFile(handle, mode="w"))
                handle.truncate()  # where the write ended: a longer spare keeps nothing of its own
        os.replace(partial, final)

    def load(self, model_key: str, batch_key: str) -> pd.DataFrame | None:
        self.settle()
        folder = self._dir(model_key)
        path = folder / _file_name(batch_key)
        if path.exists():
            table = feather.read_table(path, memory_map=True)
            if LABEL in table.column_names and pa.types.is_dictionary(table.schema.field(LABEL).type):
                # label texts are written as a dictionary column (files written before hold plain text)
                table = table.set_column(
                    table.schema.get_field_index(LABEL), LABEL, table.column(LABEL).cast(pa.string())
                )
            return table.to_pandas()
        earlier = folder / _file_name(batch_key, EARLIER_SUFFIX)
        return pd.read_parquet(earlier) if earlier.exists() else None

    def prune(self, model_key: str, keep: set[str]) -> None:
        """Delete the model's files of batches not in ``keep``, on a thread of its own (see above)."""
        self.settle()
        folder = self._dir(model_key)
        if not folder.is_dir():
            return
        wanted = {_file_name(key, suffix) for key in keep for suffix in (SUFFIX, EARLIER_SUFFIX)}
        stale = [p for p in [*folder.glob(f"*{SUFFIX}"), *folder.glob(f"*{EARLIER_SUFFIX}")] if p.name not in wanted]
        spare = folder / SPARE
        if stale and not spare.exists():
            # each file sized once; one as large as a direct write's is not kept, since the next such
            # file goes past the page cache
            sizes = {p: size for p in stale if p.suffix == SUFFIX and 0 <= (size := _size(p)) < DIRECT_MIN_BYTES}
            if sizes:
                largest = max(sizes, key=sizes.__getitem__)  # the next file is written over it (see above)
                try:
                    os.replace(largest, spare)
                    stale.remove(largest)
                except OSError as error:  # deleted with the others instead
                    log.debug("cannot keep %s as the spare window file: %s", largest, error)
        if stale:
            deleting = Background(lambda: _delete(stale), name="mlmon-window-prune", daemon=False)
            with self._lock:
                self._deleting.append(deleting)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def _take_spare(spare: Path, partial: Path) -> bool:
    """The model's spare file moved to ``partial``, to be written over; False when there is none."""
    try:
        os.replace(spare, partial)
    except FileNotFoundError:
        return False
    return True


def _delete(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:  # left for the next prune, which finds it again
            log.warning("cannot delete the window file %s, left for the next run: %s", path, error)


def window_table(
    features: pd.DataFrame,
    row_ids: Sequence[str] | None,
    predictions: np.ndarray,
    probabilities: np.ndarray | None,
    labels: Sequence[str | None] | np.ndarray | pa.Array | None = None,
    scored_at: float | None = None,
) -> pa.Table:
    """A scored batch as the Arrow table of its window file; numeric columns are shared, not copied."""
    table = _feature_table(features)
    extra: dict[str, object] = {PREDICTION: np.asarray(predictions)}
    if row_ids is not None:
        extra[ROW_ID] = pa.array(list(row_ids), type=pa.string())
    if probabilities is not None:
        for i in range(probabilities.shape[1]):
            extra[f"{PROBA}{i}"] = np.ascontiguousarray(probabilities[:, i])
    if labels is not None:
        extra[LABEL] = (
            labels if isinstance(labels, pa.Array) else pa.array(np.asarray(labels, dtype=object), type=pa.string())
        )
    if scored_at is not None:
        extra[SCORED_AT] = np.full(len(predictions), scored_at)
    for name, values in extra.items():
        table = table.append_column(name, pa.array(values) if isinstance(values, np.ndarray) else values)
    return table


def _feature_table(features: pd.DataFrame) -> pa.Table:
    """The feature columns as Arrow columns, straight from the batch's arrays: no second pandas frame
    of the whole batch is built to write it."""
    plain = all(isinstance(name, str) for name in features.columns) and all(
        isinstance(dtype, np.dtype) and dtype.kind in "biuf" for dtype in features.dtypes
    )
    if plain:
        # numbers and booleans read back as they are without pandas' metadata, which costs more to
        # build than the columns themselves (each is shared with the batch, not copied)
        return pa.Table.from_arrays(
            [pa.array(features[name].to_numpy()) for name in features.columns], names=list(features.columns)
        )
    texts = {str(c): canonical_texts(features[c]) for c in features.columns if features[c].dtype == object}
    return pa.Table.from_pandas(features.assign(**texts) if texts else features, preserve_index=False)


def window_batches(model: ModelConfig, state: StateStore, model_key: str, now: float) -> list[str]:
    """Keys of the batches the window covers, oldest first."""
    if model.window.rows is not None:
        chosen, total, page = [], 0, 64
        while total < model.window.rows:
            batches = state.recent_batches(model_key, limit=len(chosen) + page)[len(chosen) :]
            if not batches:
                break
            for batch in batches:
                chosen.append(batch)
                total += batch.rows
                if total >= model.window.rows:
                    break
    elif model.window.seconds is not None:
        # an empty window is honest: with no batch in the last N seconds there is nothing to judge
        chosen = state.recent_batches(model_key, since=now - model.window.seconds)
    else:
        chosen = state.recent_batches(model_key, limit=1)
    return [b.key for b in reversed(chosen)]


def assemble(
    model: ModelConfig,
    state: StateStore,
    store: WindowStore,
    model_key: str,
    keys: list[str],
    classes: np.ndarray | None,
    arrived: pd.DataFrame | None = None,
) -> Window | None:
    """The window over the batches ``keys`` (from ``window_batches``), oldest first."""
    frames = [f for f in (store.load(model_key, key) for key in keys) if f is not None]
    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    if model.window.rows is not None and len(frame) > model.window.rows:
        frame = frame.iloc[len(frame) - model.window.rows :].reset_index(drop=True)
    from_file = LABEL in frame.columns and SCORED_AT in frame.columns
    if from_file and (model.id_column is None or ROW_ID not in frame.columns):
        # nothing per row in the state store: the labels are those the batch came with
        text = frame[LABEL]
        scored_at = frame[SCORED_AT].to_numpy(dtype=float)
        labelled_at = scored_at
    else:
        stored = state.rows.predictions(model_key, keys).drop_duplicates("key").set_index("key")
        joined = stored.reindex(row_keys(frame[ROW_ID].astype(str).to_numpy(dtype=object)))
        text, scored_at = joined["label"], joined["scored_at"].to_numpy(dtype=float)
        labelled_at = joined["labelled_at"].to_numpy(dtype=float)
    labels, labelled = decode_labels(text, classes)
    labelled_at = np.where(labelled, labelled_at, np.nan)
    proba_columns = sorted((c for c in frame.columns if c.startswith(PROBA)), key=lambda c: int(c[len(PROBA) :]))
    extra = [c for c in (ROW_ID, LABEL, SCORED_AT) if c in frame.columns]
    features = frame.drop(columns=[PREDICTION, *proba_columns, *extra])
    predictions = frame[PREDICTION].to_numpy()
    return Window(
        features=features,
        predictions=predictions,
        probabilities=frame[proba_columns].to_numpy(dtype=float) if proba_columns else None,
        classes=classes,
        labels=labels,
        labelled=labelled,
        scored_at=scored_at,
        labelled_at=labelled_at,
        arrived=arrived if arrived is not None else pd.DataFrame(columns=features.columns),
    )


def decode_labels(text: pd.Series, classes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Stored label texts back as the model's classes (numbers for regression), and which rows have one."""
    if classes is not None:
        by_text = {class_label(c): c for c in classes}  # the text labels are stored under
        decoded = text.map(by_text)
        labelled = decoded.notna().to_numpy()
        labels = np.empty(len(text), dtype=object)
        labels[labelled] = decoded[labelled].to_numpy()
        return labels, labelled
    labels = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    return labels, ~np.isnan(labels)


def batch_window(
    features: pd.DataFrame,
    predictions: np.ndarray,
    probabilities: np.ndarray | None,
    classes: np.ndarray | None,
    labels: np.ndarray | None,
    labelled: np.ndarray,
    scored_at: float,
) -> Window:
    """The window of a batch just scored, built from it in memory: the same rows, outputs and labels
    ``assemble`` would read back from its file, for a model whose window is its latest batch."""
    rows = len(predictions)
    if labels is None:
        labels = np.empty(rows, dtype=object) if classes is not None else np.full(rows, np.nan)
    at = np.full(rows, scored_at)
    return Window(
        features=features,
        predictions=predictions,
        probabilities=probabilities,
        classes=classes,
        labels=labels,
        labelled=labelled,
        scored_at=at,
        labelled_at=np.where(labelled, at, np.nan),
    )
