"""The row store: integer keys, rows and labels that count only once their mark commits, late and early
labels applied once, retention, and state written by the per-row SQLite table read after an upgrade."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exporter.rows.keys import column_keys, row_keys
from exporter.state import StateStore, counter_key
from exporter.values import canonical

M = "m:1"
RECEIVED = counter_key("mlmon_labels_received")


def _record(state: StateStore, key: str, ids: list[str], at: float, labels: np.ndarray | None = None) -> bool:
    labelled = None if labels is None else np.array([label is not None for label in labels])
    state.rows.write_batch(M, key, ids, at, labels, labelled)
    return state.record_batch(M, key, status="ok", rows=len(ids), processed_at=at, counters={}, stored_rows=True)


def _labels(state: StateStore, mark: str, pairs: dict[str, object], at: float) -> int:
    state.rows.write_labels(M, mark, list(pairs), np.array(list(pairs.values()), dtype=object), at)
    return state.apply_labels(M, mark, status="ok", received_at=at, counters={}, stored_labels=True)


def _received(state: StateStore) -> float:
    return state.counters(M).get(RECEIVED, 0.0)


def _by_id(state: StateStore, ids: list[str]) -> pd.DataFrame:
    stored = state.rows.predictions(M, [k for k, _, _ in state.scored_batches(M)])
    return stored.set_index("key").reindex(row_keys(ids)).set_axis(ids)


def _texts(labels: pd.Series) -> list[object]:
    return [None if pd.isna(label) else label for label in labels]


# --- keys -----------------------------------------------------------------------------------------
def test_integer_ids_are_their_own_keys_and_every_other_id_is_hashed_apart_from_them() -> None:
    exact = ["0", "7", "123456789", "999999999999999999"]
    assert row_keys(exact).tolist() == [0, 7, 123456789, 999999999999999999]
    # not the canonical text of a non-negative integer of at most 18 digits: hashed, negative
    hashed = ["007", "-5", "1000000000000000000", "9223372036854775807", "1.5", "abc", "7 ", ""]
    keys = row_keys(hashed)
    assert (keys < 0).all()
    assert len(set(keys.tolist())) == len(hashed)
    # the same text gets the same key in any batch, in any process: part of the stored format
    assert row_keys(["order-1"]).tolist() == row_keys(np.array(["x", "order-1"], dtype=object))[1:].tolist()
    assert row_keys(["order-1", "é"]).tolist() == [-5609294457448570401, -199820898877873387]


def test_a_million_distinct_text_ids_get_a_million_distinct_keys() -> None:
    keys = row_keys(np.array([f"order-{i}" for i in range(1_000_000)], dtype=object))
    assert keys.dtype == np.int64 and len(np.unique(keys)) == 1_000_000


# --- the ledger decides what counts -------------------------------------------------------------
def test_rows_count_only_once_their_mark_commits_and_a_rerun_rewrites_them(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    state.rows.write_batch(M, "b1", ["a", "b"], 10.0)
    assert state.known_row_ids(M, ["a", "b"]) == {}  # written, not committed: a kill here loses nothing
    state.close()
    again = StateStore(tmp_path / "s.db")  # the next process scores the batch again
    assert again.known_row_ids(M, ["a"]) == {}
    assert _record(again, "b1", ["a", "b"], 20.0)
    assert not _record(again, "b1", ["a", "b"], 30.0)  # recorded already: nothing written counts twice
    assert again.known_row_ids(M, ["a", "b", "c"]) == {"a": False, "b": False}
    stored = again.rows.predictions(M, ["b1"])
    assert len(stored) == 2 and (stored["scored_at"] == 20.0).all()
    again.close()


def test_a_label_file_written_but_not_committed_applies_nothing(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    _record(state, "b1", ["a", "b"], 10.0)
    state.rows.write_labels(M, "l1", ["a"], np.array([1], dtype=object), 20.0)
    assert state.known_row_ids(M, ["a"]) == {"a": False}
    assert state.pending_labels(M) == 0
    assert state.rows.predictions(M, ["b1"])["label"].isna().all()
    state.close()
    rerun = StateStore(tmp_path / "s.db")
    assert _labels(rerun, "l1", {"a": 1}, 30.0) == 1
    # the same mark again (another process that read the file too): its rewrite changes nothing
    assert _labels(rerun, "l1", {"a": 1}, 40.0) == 0
    assert _received(rerun) == 1
    assert _by_id(rerun, ["a"]).loc["a", "labelled_at"] == 30.0
    rerun.close()


# --- late and early labels ----------------------------------------------------------------------
def test_a_late_label_is_applied_once_and_the_first_one_wins(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    _record(state, "b1", ["a", "b", "c"], 10.0, np.array([None, None, 0], dtype=object))
    assert _labels(state, "l1", {"a": 1, "c": 1}, 50.0) == 1  # c came with its own label
    assert _labels(state, "l2", {"a": 0, "b": 0}, 60.0) == 1  # a has its label already
    assert _received(state) == 2
    rows = _by_id(state, ["a", "b", "c"])
    assert rows["label"].tolist() == ["1", "0", "0"]
    assert rows["labelled_at"].tolist() == [50.0, 60.0, 10.0]
    assert state.known_row_ids(M, ["a", "b", "c"]) == {"a": True, "b": True, "c": True}
    state.close()


def test_labels_that_arrive_before_their_predictions_wait_and_are_applied_when_they_are_scored(
    tmp_path: Path,
) -> None:
    state = StateStore(tmp_path / "s.db")
    assert _labels(state, "l1", {"x": 1, "y": 0}, 5.0) == 0
    assert _labels(state, "l2", {"x": 0}, 6.0) == 0
    assert state.pending_labels(M) == 2
    _record(state, "b1", ["x", "y", "z"], 10.0, np.array([None, 1, None], dtype=object))
    # x receives the first label that waited; y came with its own, which wins
    assert _received(state) == 1
    assert state.pending_labels(M) == 0
    rows = _by_id(state, ["x", "y", "z"])
    assert _texts(rows["label"]) == ["1", "1", None]
    assert rows["labelled_at"].tolist()[:2] == [10.0, 10.0]
    state.close()


def test_regression_labels_are_stored_as_numbers(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    state.rows.write_batch(M, "b1", ["1", "2"], 10.0, np.array([2.5, np.nan]), np.array([True, False]), numeric=True)
    state.record_batch(M, "b1", status="ok", rows=2, processed_at=10.0, counters={}, stored_rows=True)
    state.rows.write_labels(M, "l1", ["2"], np.array([-1.25]), 20.0, numeric=True)
    assert state.apply_labels(M, "l1", status="ok", received_at=20.0, counters={}, stored_labels=True) == 1
    assert state.rows.predictions(M, ["b1"])["label"].tolist() == [2.5, -1.25]
    folder = next((tmp_path / "s.db.rows").iterdir())
    assert {str(pd.read_parquet(p)["label"].dtype) for p in folder.glob("*.parquet")} == {"float64"}
    state.close()


def test_labels_are_joined_vectorised_across_batches_and_restarts(tmp_path: Path) -> None:
    ids = [f"order-{i}" for i in range(30_000)]
    truth = np.random.default_rng(1).integers(0, 3, len(ids)).astype(object)
    state = StateStore(tmp_path / "s.db")
    for b in range(3):
        _record(state, f"b{b}", ids[b * 10_000 : (b + 1) * 10_000], 10.0 + b)
    state.close()
    state = StateStore(tmp_path / "s.db")
    assert _labels(state, "l", dict(zip(ids, truth)), 100.0) == 30_000
    assert _by_id(state, ids)["label"].tolist() == [str(t) for t in truth]
    state.close()


# --- retention --------------------------------------------------------------------------------------
def test_pruning_deletes_old_rows_and_labels_that_waited_too_long_and_keeps_the_rest(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    _record(state, "old", ["a", "b"], 10.0)
    _record(state, "new", ["c"], 500.0)
    _labels(state, "l1", {"c": 1, "nobody": 0}, 100.0)  # c's label and one whose row never comes
    folder = next((tmp_path / "s.db.rows").iterdir())
    for name, mtime in (("p-orphan.parquet", 100.0), ("l-orphan.parquet", 300.0)):
        # left by runs killed before their commit; the second could still be waiting for it
        (folder / name).write_bytes(b"rows no mark names")
        os.utime(folder / name, (mtime, mtime))
    assert state.pending_labels(M) == 1
    assert state.prune(M, older_than=200.0) == 2
    assert state.known_row_ids(M, ["a", "b", "c"]) == {"c": True}
    assert state.pending_labels(M) == 0  # waited past the retention
    assert _by_id(state, ["c"]).loc["c", "label"] == "1"  # the label of a row still stored stays
    assert not (folder / "p-orphan.parquet").exists() and (folder / "l-orphan.parquet").exists()
    _labels(state, "l2", {"a": 1}, 600.0)
    assert state.pending_labels(M) == 1  # a's row is gone: its label waits like any other
    assert state.prune(M, older_than=200.0) == 0
    assert state.seen_batches(M) == {"old", "new"}  # marks stay: an old batch is never scored again
    state.close()


def test_a_state_set_aside_as_corrupt_forgets_the_rows_it_named(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db", clock=lambda: 7.0)
    _record(state, "b1", ["a"], 10.0)
    assert state.heal(sqlite3.DatabaseError("database disk image is malformed"))
    assert state.known_row_ids(M, ["a"]) == {}
    _record(state, "b1", ["a"], 20.0)  # the batch is scored again on the fresh store
    assert state.known_row_ids(M, ["a"]) == {"a": False}
    state.close()


# --- state written before ----------------------------------------------------------------------------
def _legacy_state(path: Path) -> None:
    """A state as the previous version left it: rows and waiting labels in SQLite tables."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE batches (model TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
            rows INTEGER NOT NULL, processed_at REAL NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (model, key));
        CREATE TABLE predictions (model TEXT NOT NULL, row_id TEXT NOT NULL, batch_key TEXT NOT NULL,
            scored_at REAL NOT NULL, label TEXT, labelled_at REAL, PRIMARY KEY (model, row_id));
        CREATE TABLE pending_labels (model TEXT NOT NULL, row_id TEXT NOT NULL, label TEXT NOT NULL,
            received_at REAL NOT NULL, PRIMARY KEY (model, row_id));
        INSERT INTO batches VALUES ('m:1', 'b1', 'ok', NULL, 3, 10.0, 1);
        INSERT INTO predictions VALUES
            ('m:1', 'r1', 'b1', 10.0, NULL, NULL), ('m:1', 'r2', 'b1', 10.0, '1', 10.0),
            ('m:1', 'r3', 'b1', 10.0, '0', 40.0);
        INSERT INTO pending_labels VALUES ('m:1', 'r9', '1', 30.0);
        """
    )
    db.commit()
    db.close()


def test_rows_and_waiting_labels_of_an_older_state_are_moved_and_read_after_the_upgrade(tmp_path: Path) -> None:
    _legacy_state(tmp_path / "s.db")
    state = StateStore(tmp_path / "s.db")
    rows = _by_id(state, ["r1", "r2", "r3"])
    assert _texts(rows["label"]) == [None, "1", "0"]
    assert rows["labelled_at"].tolist()[1:] == [10.0, 40.0]  # a late label keeps the time it came
    assert state.known_row_ids(M, ["r1", "r2", "r3"]) == {"r1": False, "r2": True, "r3": True}
    assert state.pending_labels(M) == 1
    assert _labels(state, "l1", {"r1": 0, "r2": 0}, 50.0) == 1
    _record(state, "b2", ["r9"], 60.0)
    assert _by_id(state, ["r9"]).loc["r9", "label"] == "1"
    assert _received(state) == 2
    state.close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT COUNT(*) FROM predictions").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM pending_labels").fetchone() == (0,)
    db.close()
    # opened again: nothing moved twice, nothing lost
    again = StateStore(tmp_path / "s.db")
    assert len(again.rows.predictions(M, ["b1", "b2"])) == 4
    assert again.pending_labels(M) == 0
    again.close()


# --- size ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["text", "integer"])
def test_a_stored_row_with_its_late_label_takes_at_most_40_bytes(tmp_path: Path, kind: str) -> None:
    rows = 20_000
    ids = [f"order-{i:08d}" if kind == "text" else str(10**9 + i) for i in range(rows)]
    state = StateStore(tmp_path / "s.db")
    for b in range(2):
        _record(state, f"{'f' * 64}|batch-{b}.parquet", ids[b * 10_000 : (b + 1) * 10_000], 10.0)
    _labels(state, "labels.csv", dict(zip(ids, np.tile([0, 1], rows // 2))), 20.0)
    state.close()
    stored = sum(p.stat().st_size for p in (tmp_path / "s.db.rows").rglob("*") if p.is_file())
    assert stored / rows <= 40, stored / rows


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([1, 22, -3, 2**62, 10**18 - 1, 10**18]),
        pd.Series([1.0, np.nan, 3.5, -0.0, 2.0**60, 1e300, np.inf]),
        pd.Series([1.0, np.nan, -4.0, 2.0**52]),
        pd.Series([2**63 + 5, 7], dtype=np.uint64),
        pd.Series([" a ", "", None, "7", "x y"], dtype=object),
        pd.Series(["a", None, " b"], dtype="str"),
        pd.Series([1, "1", 2.0, None, True], dtype=object),
        pd.Series([True, False]),
        pd.Series([1, None], dtype="Int64"),
        pd.Series(["a", "b", None], dtype="category"),
    ],
    ids=["int", "float", "whole-float", "uint", "object-text", "str", "mixed", "bool", "nullable-int", "category"],
)
def test_a_column_of_ids_is_keyed_as_the_canonical_text_of_each(column: pd.Series) -> None:
    texts = [canonical(v) for v in column.to_numpy(dtype=object)]
    keys, missing = column_keys(column)
    assert missing.tolist() == [t is None for t in texts]
    present = [t for t in texts if t is not None]
    assert keys[~missing].tolist() == row_keys(np.array(present, dtype=object)).tolist()
