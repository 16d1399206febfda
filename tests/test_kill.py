"""SIGKILL in the middle of scoring and of applying labels: no row is lost, none is counted twice, and
every label is applied once."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from exporter.state import StateStore

from helpers import binary_data, write_batch, write_project

BATCHES, ROWS, KILLS = 16, 300, 4


def _recorded(root: Path) -> int:
    """Batches recorded so far, read without writing (the running exporter owns the store)."""
    try:
        db = sqlite3.connect(f"file:{root / 'state' / 'mlmon.db'}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM batches WHERE model = 'm:1'").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
def test_kills_during_scoring_leave_exact_totals(tmp_path: Path, chunked: bool) -> None:
    # chunked: batches over limits.max_batch_rows, read in chunks and recorded once all are in
    overrides = {"id_column": None, "limits": {"max_batch_rows": ROWS - 100, "chunk_rows": 60}} if chunked else None
    config = write_project(tmp_path, model_overrides=overrides)
    for index in range(BATCHES):
        x, y = binary_data(ROWS, seed=100 + index)
        write_batch(tmp_path, f"b{index:02d}.csv", x, y, mtime=1_000 + index)
    rng = random.Random(7)
    command = [sys.executable, "-m", "exporter", "run-once", "--config", str(config)]
    # the reference profile is fitted and cached first, so each run goes straight to the batches
    subprocess.run([sys.executable, "-m", "exporter", "reference", "build", "--config", str(config)], check=True)
    recorded = [0]
    for _ in range(KILLS):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # kill once this run has recorded at least one more batch, a random moment later: mid-scoring
        deadline = time.monotonic() + 60
        while _recorded(tmp_path) == recorded[-1] and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.15))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        recorded.append(_recorded(tmp_path))
        if recorded[-1] == BATCHES:
            break
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    state = StateStore(tmp_path / "state" / "mlmon.db")
    counters = state.counters("m:1")
    stored = state.rows.predictions("m:1", state.seen_batches("m:1"))
    state.close()
    assert counters[("mlmon_predictions", ())] == BATCHES * ROWS
    assert counters[("mlmon_batches_processed", ())] == BATCHES
    assert not any(name == "mlmon_invalid_rows" or name == "mlmon_batch_failures" for name, _ in counters)
    if not chunked:
        assert len(stored) == stored["key"].nunique() == BATCHES * ROWS
    else:  # nothing was kept per row, not even a window file
        assert len(stored) == 0 and not list((tmp_path / "state").rglob("*.arrow"))
    # the kills landed between batches and inside them: several runs each recorded only part of them
    assert sum(0 < b - a < BATCHES for a, b in zip(recorded, recorded[1:])) >= 2, recorded


def _run_killed_at(config: Path, method: str, call: int) -> None:
    """One run-once in another process, SIGKILLed when it calls ``StateStore.<method>`` the ``call``-th
    time: after the rows or labels were written to the row store, before their mark commits."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from exporter.app import build_app
        from exporter.config import load_config
        from exporter.state import StateStore

        original, calls = StateStore.{method}, []

        def patched(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == {call}:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, *args, **kwargs)

        StateStore.{method} = patched
        build_app(load_config({str(config)!r})).jobs[0].run()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_kills_between_writing_and_committing_labels_apply_each_label_once(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir(parents=True)
    labels_source = {"source": {"type": "files", "path": "labels", "settle_seconds": 0}}
    config = write_project(tmp_path, model_overrides={"labels": labels_source, "window": {"rows": 10_000}})
    truth = {}
    for index in range(3):
        x, y = binary_data(ROWS, seed=200 + index)
        truth[f"b{index}"] = y
        if index < 2:
            write_batch(tmp_path, f"b{index}.csv", x, mtime=1_000 + index)  # scored before any label comes
    command = [sys.executable, "-m", "exporter", "run-once", "--config", str(config)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    # late labels for b0 and b1, and early ones for half of b2, which is scored after them
    early = ROWS // 2
    for name, ids, labels in (
        (
            "l0",
            [f"b0-{i}" for i in range(ROWS)] + [f"b2-{i}" for i in range(early)],
            [*truth["b0"], *truth["b2"][:early]],
        ),
        ("l1", [f"b1-{i}" for i in range(ROWS)], list(truth["b1"])),
    ):
        pd.DataFrame({"id": ids, "target": labels}).to_csv(tmp_path / "labels" / f"{name}.csv", index=False)
    x, _ = binary_data(ROWS, seed=202)
    write_batch(tmp_path, "b2.csv", x, mtime=1_010)
    _run_killed_at(config, "apply_labels", 1)  # l0 written, not committed
    _run_killed_at(config, "apply_labels", 2)  # l0 committed, l1 written, not committed
    _run_killed_at(config, "record_batch", 1)  # l1 committed, b2's rows written with labels waiting
    subprocess.run(command, check=True, capture_output=True, timeout=300)

    state = StateStore(tmp_path / "state" / "mlmon.db")
    counters = state.counters("m:1")
    stored = state.rows.predictions("m:1", state.seen_batches("m:1"))
    pending = state.pending_labels("m:1")
    state.close()
    assert counters[("mlmon_predictions", ())] == 3 * ROWS
    assert counters[("mlmon_labels_received", ())] == 2 * ROWS + early
    assert pending == 0
    assert len(stored) == stored["key"].nunique() == 3 * ROWS
    assert int(stored["label"].notna().sum()) == 2 * ROWS + early
