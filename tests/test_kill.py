"""SIGKILL in the middle of scoring, again and again: no row is lost and none is counted twice."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

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
    stored = state.predictions_for("m:1", state.seen_batches("m:1"))
    state.close()
    assert counters[("mlmon_predictions", ())] == BATCHES * ROWS
    assert counters[("mlmon_batches_processed", ())] == BATCHES
    assert not any(name == "mlmon_invalid_rows" or name == "mlmon_batch_failures" for name, _ in counters)
    if not chunked:
        assert len(stored) == stored["row_id"].nunique() == BATCHES * ROWS
    else:  # nothing was kept per row, not even a window file
        assert len(stored) == 0 and not list((tmp_path / "state").rglob("*.arrow"))
    # the kills landed between batches and inside them: several runs each recorded only part of them
    assert sum(0 < b - a < BATCHES for a, b in zip(recorded, recorded[1:])) >= 2, recorded
