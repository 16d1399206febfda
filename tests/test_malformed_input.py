"""Input that cannot hurt the exporter: every malformed case, with the exact rows it costs.

Each case drops files into a real folder and runs the real job against a real state store; the
counts are the published counters, so what a user sees is what is asserted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from exporter.app import build_app
from exporter.config import load_config
from exporter.ingest.position import RecordedPosition
from exporter.sources import SourceContext, open_source
from exporter.sources.files import FilesConfig
from exporter.state import StateStore

from helpers import binary_data, value, write_batch, write_project


def _app(config: Path):  # type: ignore[no-untyped-def]
    return build_app(load_config(config), clock=lambda: 1_700_000_000.0)


def _counts(figures: object) -> dict[str, float]:
    return {
        "predictions": value(figures, "mlmon_predictions"),
        "batches": value(figures, "mlmon_batches_processed"),
        "missing_value": value(figures, "mlmon_invalid_rows", reason="missing_value"),
        "bad_type": value(figures, "mlmon_invalid_rows", reason="bad_type"),
        "duplicate_id": value(figures, "mlmon_invalid_rows", reason="duplicate_id"),
        "failures": sum(
            value(figures, "mlmon_batch_failures", reason=r) for r in ("unreadable", "schema", "empty", "scoring")
        ),
    }


def _expected(predictions: int, batches: int = 1, failures: int = 0, **invalid: int) -> dict[str, float]:
    counts = {"missing_value": 0, "bad_type": 0, "duplicate_id": 0, **invalid}
    return {"predictions": predictions, "batches": batches, "failures": failures, **counts}


def test_a_non_utf8_byte_in_an_id_costs_only_its_row(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(50, seed=1)
    path = write_batch(tmp_path, "b.csv", x, y)
    raw = path.read_bytes().replace(b"b-7,", b"b-\xff7,", 1)
    path.write_bytes(raw)
    report = _app(config).jobs[0].run()
    assert _counts(report.figures) == _expected(49, bad_type=1)


@pytest.mark.parametrize("huge", [1e308, -1e308, 1.5e154])
def test_a_number_too_large_to_compute_with_costs_only_its_row(tmp_path: Path, huge: float) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(50, seed=2)
    x.loc[3, "f1"] = huge
    write_batch(tmp_path, "b.csv", x, y)
    report = _app(config).jobs[0].run()
    assert _counts(report.figures) == _expected(49, bad_type=1)


def test_an_overlong_cell_costs_only_its_row(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"limits": {"max_cell_length": 64}})
    x, y = binary_data(50, seed=3)
    path = write_batch(tmp_path, "b.csv", x, y)
    frame = pd.read_csv(path)
    frame.loc[5, "id"] = "x" * 65
    frame.loc[9, "id"] = "y" * 64  # at the limit: still an id
    frame.to_csv(path, index=False)
    report = _app(config).jobs[0].run()
    assert _counts(report.figures) == _expected(49, bad_type=1)


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.date_range("2026-01-01", periods=50, freq="h")),
        pd.Series([True, False] * 25),
        pd.Series(pd.timedelta_range("1s", periods=50, freq="s")),
    ],
    ids=["datetime", "bool", "timedelta"],
)
def test_a_numeric_feature_of_another_dtype_is_a_schema_violation(tmp_path: Path, column: pd.Series) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(50, seed=4)
    x["f2"] = column
    write_batch(tmp_path, "b.parquet", x, y)
    report = _app(config).jobs[0].run()
    assert _counts(report.figures) == _expected(0, batches=0, failures=1)
    assert value(report.figures, "mlmon_batch_failures", reason="schema") == 1
    assert value(report.figures, "mlmon_schema_violations", kind="wrong_dtype") == 1
    reason = tmp_path / "state" / "mlmon-quarantine" / "m" / "1" / "b.parquet.reason.txt"
    assert f"f2 ({column.dtype})" in reason.read_text()


def test_a_touched_or_recopied_file_is_not_scored_again(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(40, seed=5)
    path = write_batch(tmp_path, "b.csv", x, y)
    app = _app(config)
    assert _counts(app.jobs[0].run().figures) == _expected(40)
    os.utime(path, (1_500_000_000, 1_500_000_000))  # touched: listed again, complete (changed after its time)
    assert app.jobs[0].run().scored == 0
    copy = tmp_path / "copy.csv"
    shutil.copy(path, copy)
    path.unlink()
    shutil.copy(copy, path)  # a fresh file, a new inode and time, the same content
    report = app.jobs[0].run()
    assert report.scored == 0 and report.failed == 0
    assert _counts(report.figures) == _expected(40)
    assert path.exists()  # nothing quarantined


def test_the_same_content_under_two_names_counts_once_without_an_id_column(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"id_column": None})
    x, y = binary_data(40, seed=6)
    path = write_batch(tmp_path, "a.csv", x, y, mtime=1_000)
    pd.read_csv(path).drop(columns=["id"]).to_csv(path, index=False)
    os.utime(path, (1_000, 1_000))
    shutil.copy(path, tmp_path / "incoming" / "b.csv")
    report = _app(config).jobs[0].run()
    assert _counts(report.figures) == _expected(40, failures=1, duplicate_id=40)


def test_a_file_that_vanishes_before_it_is_read_is_skipped_not_failed(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(40, seed=7)
    write_batch(tmp_path, "gone.csv", x, y, mtime=1_000, id_prefix="g")
    write_batch(tmp_path, "kept.csv", x, y, mtime=2_000, id_prefix="k")
    app = _app(config)
    job = app.jobs[0]
    listed = job.source.pending

    def list_then_lose(position: object) -> list:
        refs = listed(position)  # type: ignore[arg-type]
        (tmp_path / "incoming" / "gone.csv").unlink()
        return refs

    job.source.pending = list_then_lose  # type: ignore[method-assign]
    report = job.run()
    assert (report.scored, report.failed) == (1, 0)
    assert _counts(report.figures) == _expected(40)
    assert app.state.seen_batches("m:1") == {r for r in app.state.seen_batches("m:1") if "kept.csv" in r}


def test_a_file_written_in_place_is_read_only_once_it_settles(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    now = [0.0]
    source = open_source(
        FilesConfig(path=folder, settle_seconds=5),
        SourceContext(reject_dir=tmp_path / "q", wall_clock=lambda: now[0]),
    )
    state = StateStore(tmp_path / "state.db")
    position = RecordedPosition(state, "m:1")
    path = folder / "b.csv"
    path.write_text("x\n1\n")
    stat = path.stat()
    assert stat.st_ctime_ns == stat.st_mtime_ns  # written in place: no rename to rely on
    now[0] = stat.st_mtime + 4.9
    assert source.pending(position) == []
    now[0] = stat.st_mtime + 5.0
    assert [ref.name for ref in source.pending(position)] == ["b.csv"]
    state.close()


def test_a_file_renamed_in_is_read_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    source = open_source(
        FilesConfig(path=folder, settle_seconds=3600),
        SourceContext(reject_dir=tmp_path / "q", wall_clock=time.time),
    )
    (folder / "b.csv.part").write_text("x\n1\n")
    time.sleep(0.05)  # past the file system's timestamp tick, so the rename shows in the inode
    os.replace(folder / "b.csv.part", folder / "b.csv")
    state = StateStore(tmp_path / "state.db")
    assert [ref.name for ref in source.pending(RecordedPosition(state, "m:1"))] == ["b.csv"]
    state.close()


def test_archived_batches_leave_the_folder_and_a_lost_state_does_not_score_them_again(tmp_path: Path) -> None:
    config = write_project(
        tmp_path,
        model_overrides={"source": {"type": "files", "path": "incoming", "settle_seconds": 0, "archive_path": "done"}},
    )
    x, y = binary_data(40, seed=8)
    write_batch(tmp_path, "b.csv", x, y)
    bad = tmp_path / "incoming" / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n")
    app = _app(config)
    report = app.jobs[0].run()
    assert (report.scored, report.failed) == (1, 1)
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["b.csv"]
    assert list((tmp_path / "incoming").iterdir()) == []
    app.state.close()
    shutil.rmtree(tmp_path / "state")
    fresh = _app(config)
    assert fresh.jobs[0].run().scored == 0


# The peak resident size of the child's own address space: VmHWM starts afresh at exec, unlike
# ru_maxrss, which a child forked from a large test process inherits.
MEMORY_SCRIPT = """
import re, sys
from exporter.cli import main
code = main(["run-once", "--config", sys.argv[1]])
print(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
sys.exit(code)
"""


def test_a_two_megabyte_id_cell_keeps_memory_bounded(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(300, seed=9)
    path = write_batch(tmp_path, "big.csv", x, y)
    frame = pd.read_csv(path)
    frame.loc[150, "id"] = "7" * (2 * 1024 * 1024)
    frame.to_csv(path, index=False)
    assert path.stat().st_size > 2 * 1024 * 1024
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(config)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    peak_kib = int(done.stdout.strip().splitlines()[-1])
    assert peak_kib < 300 * 1024, f"peak resident {peak_kib / 1024:.0f} MiB"
    state = StateStore(tmp_path / "state" / "mlmon.db")
    counters = state.counters("m:1")
    state.close()
    assert counters[("mlmon_predictions", ())] == 299
    assert counters[("mlmon_invalid_rows", (("reason", "bad_type"),))] == 1


def test_a_file_recorded_by_its_sha256_before_is_still_known_and_replayed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state written when content keys were SHA-256 hashes keeps its files from being read again."""
    import hashlib
    import sqlite3

    import blake3

    from exporter.cli import main

    config = write_project(tmp_path)
    x, y = binary_data(40, seed=11)
    path = write_batch(tmp_path, "b.csv", x, y)
    assert _app(config).jobs[0].run().scored == 1
    content = path.read_bytes()
    key = f"blake3:{blake3.blake3(content).hexdigest()}|b.csv"
    earlier = f"sha256:{hashlib.sha256(content).hexdigest()}|b.csv"
    with sqlite3.connect(tmp_path / "state" / "mlmon.db") as db:
        assert db.execute("UPDATE batches SET key = ? WHERE key = ?", (earlier, key)).rowcount == 1
    app = _app(config)
    os.utime(path, (1_500_000_000, 1_500_000_000))  # touched: listed again, complete (changed after its time)
    assert app.jobs[0].run().scored == 0  # known by the key it was recorded under
    assert main(["replay", "--config", str(config), str(path)]) == 0
    assert "m 1: b.csv is read again on the next run" in capsys.readouterr().out
    report = app.jobs[0].run()
    assert report.scored == 1 and _counts(report.figures) == _expected(80, batches=2)
    assert app.jobs[0].state.has_batch(app.jobs[0].key, key)  # recorded under its BLAKE3 key now


def test_replay_reads_a_processed_file_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.cli import main

    config = write_project(tmp_path)
    x, y = binary_data(40, seed=10)
    path = write_batch(tmp_path, "b.csv", x, y)
    app = _app(config)
    assert app.jobs[0].run().scored == 1
    assert main(["replay", "--config", str(config), str(path)]) == 0
    assert "m 1: b.csv is read again on the next run" in capsys.readouterr().out
    report = app.jobs[0].run()
    assert report.scored == 1
    assert _counts(report.figures) == _expected(80, batches=2)  # replayed rows are counted again
    assert main(["replay", "--config", str(config), "--model", "nope", str(path)]) == 2
