"""What a run waits for the disk to keep: a batch's record (mark, counters, rows) always; the run's
history row and what its sources cost never, since a killed process loses neither and the next
batch's commit carries them to the disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exporter.app import build_app
from exporter.config import load_config
from exporter.state import StateStore

from helpers import binary_data, write_batch, write_project

FULL, NORMAL = 2, 1


def _synchronous(state: StateStore) -> int:
    with state.transaction() as db:
        return int(db.execute("PRAGMA synchronous").fetchone()[0])


def test_only_a_transaction_that_need_not_be_durable_commits_without_waiting(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    with state.transaction(durable=False) as db:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == NORMAL
        db.execute("CREATE TABLE t (x)")
    assert _synchronous(state) == FULL
    with pytest.raises(RuntimeError), state.transaction(durable=False) as db:
        db.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("given up")
    assert _synchronous(state) == FULL  # restored after a rollback too
    with state.transaction() as db:
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_a_run_waits_for_the_disk_for_its_batch_and_for_nothing_else(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(60, seed=3)
    write_batch(tmp_path, "b.csv", x, y)
    app = build_app(load_config(config), clock=lambda: 1_700_000_000.0)
    statements: list[str] = []
    app.state._db.set_trace_callback(statements.append)
    app.jobs[0].run()
    level, writes, commits = FULL, [], []
    for sql in statements:
        if sql.startswith("PRAGMA synchronous="):
            level = FULL if sql.endswith("FULL") else NORMAL
        elif sql.startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(sql.split("(")[0].split(" VALUES")[0])
        elif sql == "COMMIT":
            commits.append((level, " / ".join(writes)))
            writes = []
    durable = [what for level, what in commits if level == FULL]
    lazy = [what for level, what in commits if level == NORMAL]
    assert any("batches" in what for what in durable), commits
    assert not any("batches" in what for what in lazy), commits
    assert any("INTO runs" in what for what in lazy), commits
    assert any("counters" in what for what in lazy), commits  # what the sources cost


def test_a_killed_process_keeps_what_it_committed_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        from exporter.state import StateStore
        state = StateStore({str(path)!r})
        state.add_counters("m:1", {{("mlmon_source_rows", ()): 7.0}}, durable=False)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent, check=False)
    assert result.returncode == -signal.SIGKILL
    assert StateStore(path).counters("m:1") == {("mlmon_source_rows", ()): 7.0}
    assert os.path.exists(str(path) + "-wal")  # it was never checkpointed: the log alone kept it
