"""Stored bytes per row, and the time to record rows and join late labels: the row store beside the
per-row SQLite table it replaced.

A model with an ``id_column`` scores ``--rows`` rows in ten batches. Before the last batch is scored,
one label file brings a label for every row: nine tenths join stored predictions at once, the last
tenth waits for its batch and is applied when it is recorded. Then the window is read back and joined
to its rows' ids, as ``assemble`` does. Each store runs this on a fresh state:

- **sqlite rows**: one SQLite row per prediction with its text id, batch key, scoring time and label,
  labels applied by one ``UPDATE`` per label, waiting labels in a table of their own (the statements
  the exporter used before, with the same ``WAL`` / ``synchronous=FULL`` settings);
- **row store**: ``exporter.rows``, a Parquet file per batch of int64 keys and dictionary-coded
  labels, an append-only label log joined by hash, the batch ledger and counters in SQLite.

Both runs must agree on every row's label and on the labels counted received. Ids are text (hashed
keys) or integers (exact keys). Bytes per row is everything the state added on disk (the SQLite file
and its WAL, the row store's files) divided by the rows stored.

Usage: ``python benchmarks/bench_state.py [--rows N] [--ids text integer]``.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exporter.rows.keys import row_keys  # noqa: E402
from exporter.state import StateStore, counter_key  # noqa: E402

MODEL = "m:1"
BATCHES = 10
LEGACY_SCHEMA = """
CREATE TABLE predictions (
    model TEXT NOT NULL, row_id TEXT NOT NULL, batch_key TEXT NOT NULL, scored_at REAL NOT NULL,
    label TEXT, labelled_at REAL, PRIMARY KEY (model, row_id)
);
CREATE INDEX predictions_by_batch ON predictions (model, batch_key);
CREATE INDEX predictions_by_time ON predictions (model, scored_at);
CREATE TABLE pending_labels (
    model TEXT NOT NULL, row_id TEXT NOT NULL, label TEXT NOT NULL, received_at REAL NOT NULL,
    PRIMARY KEY (model, row_id)
);
"""


def _ids(kind: str, rows: int) -> np.ndarray:
    if kind == "integer":
        return np.array([str(i) for i in range(10_000_000, 10_000_000 + rows)], dtype=object)
    return np.array([f"order-{i:09d}" for i in range(rows)], dtype=object)


def _batch_key(index: int) -> str:
    return f"{hashlib.sha256(str(index).encode()).hexdigest()}|batch-{index:04d}.parquet"


class Workload:
    def __init__(self, kind: str, rows: int) -> None:
        self.ids = _ids(kind, rows)
        self.labels = np.random.default_rng(5).integers(0, 2, rows).astype(object)
        self.bounds = np.linspace(0, rows, BATCHES + 1).astype(int)

    def batch(self, index: int) -> slice:
        return slice(self.bounds[index], self.bounds[index + 1])


def _disk_bytes(*paths: Path) -> int:
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        elif path.exists():
            total += path.stat().st_size
    return total


def run_sqlite_rows(work: Workload, root: Path) -> dict[str, object]:
    path = root / "legacy.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(LEGACY_SCHEMA)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    base = _disk_bytes(path, Path(f"{path}-wal"))
    timings = {"record": 0.0}
    received = 0

    def record(index: int) -> None:
        nonlocal received
        key, part = _batch_key(index), work.batch(index)
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT OR REPLACE INTO predictions (model, row_id, batch_key, scored_at, label, labelled_at)"
            " VALUES (?, ?, ?, ?, NULL, NULL)",
            ((MODEL, row_id, key, float(index)) for row_id in work.ids[part]),
        )
        early = db.execute(
            "UPDATE predictions SET (label, labelled_at) ="
            " (SELECT p.label, MAX(p.received_at, predictions.scored_at)"
            " FROM pending_labels p WHERE p.model = predictions.model AND p.row_id = predictions.row_id)"
            " WHERE model = ? AND batch_key = ? AND label IS NULL AND row_id IN"
            " (SELECT row_id FROM pending_labels WHERE model = ?)",
            (MODEL, key, MODEL),
        ).rowcount
        db.execute(
            "DELETE FROM pending_labels WHERE model = ? AND row_id IN"
            " (SELECT row_id FROM predictions WHERE model = ? AND batch_key = ?)",
            (MODEL, MODEL, key),
        )
        db.execute("COMMIT")
        received += early

    def labels() -> None:
        nonlocal received
        db.execute("BEGIN IMMEDIATE")
        for row_id, label in zip(work.ids, work.labels):
            cursor = db.execute(
                "UPDATE predictions SET label = ?, labelled_at = ? WHERE model = ? AND row_id = ? AND label IS NULL",
                (str(label), 100.0, MODEL, row_id),
            )
            received += cursor.rowcount
            if cursor.rowcount == 0:
                db.execute(
                    "INSERT OR IGNORE INTO pending_labels (model, row_id, label, received_at)"
                    " SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM predictions WHERE model = ? AND row_id = ?)",
                    (MODEL, row_id, str(label), 100.0, MODEL, row_id),
                )
        db.execute("COMMIT")

    def read() -> pd.Series:
        keys = [_batch_key(i) for i in range(BATCHES)]
        marks = ",".join("?" * len(keys))
        frame = pd.DataFrame(
            db.execute(
                f"SELECT row_id, label FROM predictions WHERE model = ? AND batch_key IN ({marks})", (MODEL, *keys)
            ).fetchall(),
            columns=["row_id", "label"],
        )
        return frame.drop_duplicates("row_id").set_index("row_id").reindex(work.ids)["label"]

    joined = _scenario(record, labels, read, timings)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return _outcome(timings, joined, received, _disk_bytes(path, Path(f"{path}-wal")) - base, len(work.ids))


def run_row_store(work: Workload, root: Path) -> dict[str, object]:
    path = root / "state.db"
    state = StateStore(path)
    state._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    base = _disk_bytes(path, Path(f"{path}-wal"))
    timings = {"record": 0.0}

    def record(index: int) -> None:
        key, part = _batch_key(index), work.batch(index)
        state.rows.write_batch(MODEL, key, work.ids[part], float(index))
        rows = part.stop - part.start
        state.record_batch(MODEL, key, status="ok", rows=rows, processed_at=float(index), counters={}, stored_rows=True)

    def labels() -> None:
        state.rows.write_labels(MODEL, "labels.csv", work.ids, work.labels, 100.0)
        state.apply_labels(MODEL, "labels.csv", status="ok", received_at=100.0, counters={}, stored_labels=True)

    def read() -> pd.Series:
        stored = state.rows.predictions(MODEL, [_batch_key(i) for i in range(BATCHES)])
        return stored.drop_duplicates("key").set_index("key").reindex(row_keys(work.ids))["label"]

    joined = _scenario(record, labels, read, timings)
    received = int(state.counters(MODEL).get(counter_key("mlmon_labels_received"), 0))
    state._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    state.close()
    grown = _disk_bytes(path, Path(f"{path}-wal"), Path(f"{path}.rows")) - base
    return _outcome(timings, joined, received, grown, len(work.ids))


def _scenario(
    record: Callable[[int], None], labels: Callable[[], None], read: Callable[[], pd.Series], timings: dict[str, float]
) -> pd.Series:
    for index in range(BATCHES - 1):
        started = time.perf_counter()
        record(index)
        timings["record"] += time.perf_counter() - started
    started = time.perf_counter()
    labels()
    timings["labels"] = time.perf_counter() - started
    started = time.perf_counter()
    record(BATCHES - 1)  # its rows' labels were waiting
    timings["record"] += time.perf_counter() - started
    started = time.perf_counter()
    joined = read()
    timings["read"] = time.perf_counter() - started
    return joined


def _outcome(timings: dict[str, float], joined: pd.Series, received: int, grown: int, rows: int) -> dict[str, object]:
    return {**timings, "labels_out": joined.to_numpy(dtype=object), "received": received, "bytes_per_row": grown / rows}


STORES = {"sqlite rows": run_sqlite_rows, "row store": run_row_store}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ids", nargs="+", choices=["text", "integer"], default=["text", "integer"])
    args = parser.parse_args()
    header = ["ids", "store", "rows", "bytes/row", "record s", "join labels s", "read window s", "labels received"]
    table = []
    for kind in args.ids:
        work = Workload(kind, args.rows)
        results = {}
        for store, run in STORES.items():
            with tempfile.TemporaryDirectory() as root:
                results[store] = run(work, Path(root))
        old, new = results["sqlite rows"], results["row store"]
        expected = np.array([str(label) for label in work.labels], dtype=object)
        for store, outcome in results.items():
            if not (outcome["labels_out"] == expected).all() or outcome["received"] != args.rows:
                raise SystemExit(f"{store} ({kind} ids) did not label every row once")
            table.append(
                [
                    kind,
                    store,
                    f"{args.rows:,}",
                    f"{outcome['bytes_per_row']:.1f}",
                    f"{outcome['record']:.2f}",
                    f"{outcome['labels']:.2f}",
                    f"{outcome['read']:.2f}",
                    f"{outcome['received']:,}",
                ]
            )
        table.append(
            [
                kind,
                "ratio (sqlite/row store)",
                "",
                f"{float(old['bytes_per_row']) / float(new['bytes_per_row']):.1f}",  # type: ignore[arg-type]
                *(f"{float(old[k]) / float(new[k]):.1f}" for k in ("record", "labels", "read")),  # type: ignore[arg-type]
                "",
            ]
        )
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
