"""A batch with a new name is read, validated and scored while its file is hashed (``BatchRef.deferred``).

The batch's identity decides two things only once it is known: whether rows without an id column
were scored before (under another name, with the same content), and the key its outcome is recorded
under. Every case here runs twice, on the same files: once with the identity worked out while the
batch is validated and scored, once with every file hashed first, as before; the counters, the
batches recorded, the quarantine and each run's outcome must be the same.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exporter.app import build_app
from exporter.config import load_config
from exporter.sources import BatchRef
from exporter.sources.files import FolderSource

from helpers import binary_data, value, write_batch, write_project


def _drops(root: Path, run: int, suffix: str) -> None:
    """The files arriving before run ``run``: new content, the same content under a new name, rows
    missing values, a missing column, no valid row, content that failed before, two files at once."""
    incoming = root / "incoming"
    x, y = binary_data(40, seed=11)

    def name(stem: str) -> str:
        return stem + suffix

    mtime = 1_000 + 10 * run
    if run == 0:
        write_batch(root, name("a"), x, y, mtime=mtime)
    elif run == 1:
        shutil.copy(incoming / name("a"), incoming / name("a-again"))
        os.utime(incoming / name("a-again"), (mtime, mtime))
    elif run == 2:
        holes = x.copy()
        holes.iloc[:5, 0] = np.nan
        write_batch(root, name("c"), holes, y, mtime=mtime)
    elif run == 3:
        write_batch(root, name("d"), x.drop(columns=[x.columns[1]]), y, mtime=mtime)
    elif run == 4:
        write_batch(root, name("e"), x.assign(**{x.columns[0]: np.nan}), y, mtime=mtime)
    elif run == 5:
        write_batch(root, name("d-again"), x.drop(columns=[x.columns[1]]), y, id_prefix="d", mtime=mtime)
    elif run == 6:
        later, labels = binary_data(30, seed=12)
        write_batch(root, name("g"), later, labels, mtime=mtime)
        write_batch(root, name("h"), later, labels, id_prefix="g", mtime=mtime + 1)  # same rows, same ids
    elif run == 7:
        write_batch(root, name("a-unlabelled"), x, None, id_prefix="a", mtime=mtime)


RUNS = 8
COUNTERS = ("mlmon_predictions", "mlmon_batches_processed")
BY_REASON = {
    "mlmon_invalid_rows": ("missing_value", "bad_type", "unknown_label", "duplicate_id"),
    "mlmon_batch_failures": ("unreadable", "schema", "empty", "scoring"),
}


def _outcomes(root: Path, id_column: str | None, suffix: str) -> dict[str, Any]:
    config = write_project(root, model_overrides={"id_column": id_column})
    app = build_app(load_config(config), clock=lambda: 1_700_000_000.0)
    job = app.jobs[0]
    runs = []
    for run in range(RUNS):
        _drops(root, run, suffix)
        report = job.run()
        counters = {name: value(report.figures, name) for name in COUNTERS}
        for name, reasons in BY_REASON.items():
            counters.update({f"{name}/{r}": value(report.figures, name, reason=r) for r in reasons})
        runs.append((report.scored, report.failed, report.rows, report.labels, counters))
    quarantine = sorted(p.name for p in (root / "state").rglob("*") if "quarantine" in str(p) and p.is_file())
    return {
        "runs": runs,
        "recorded": sorted(app.state.seen_batches(job.key)),
        "quarantine": quarantine,
        "left": sorted(p.name for p in (root / "incoming").iterdir()),
    }


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("id_column", [None, "id"])
def test_every_outcome_is_the_one_hashing_first_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, id_column: str | None, suffix: str
) -> None:
    from exporter.sources import files

    deferred: list[str] = []
    make = BatchRef.deferred.__func__  # type: ignore[attr-defined]

    def counted(cls: type[BatchRef], name: str, *args: Any) -> BatchRef:
        deferred.append(name)
        return make(cls, name, *args)

    monkeypatch.setattr(BatchRef, "deferred", classmethod(counted))
    meanwhile = _outcomes(tmp_path / "meanwhile", id_column, suffix)
    # every new file that was first in its run went the deferred way
    stems = ["a", "a-again", "c", "d", "e", "d-again", "g", "a-unlabelled"]
    assert deferred == [stem + suffix for stem in stems]

    def hashed_first(source: FolderSource, path: Path, name: str, stat: os.stat_result) -> BatchRef:
        digest = files.content_key(path)
        return BatchRef(f"{digest}|{name}", name, stat.st_mtime, digest)

    monkeypatch.setattr(FolderSource, "_hashed_meanwhile", hashed_first)
    first = _outcomes(tmp_path / "first", id_column, suffix)
    assert len(deferred) == len(stems)  # nothing deferred the second time
    assert meanwhile == first
    # and the runs did what the cases say, so the comparison is not between two empty worlds
    runs = meanwhile["runs"]
    assert runs[0][:3] == (1, 0, 40)
    assert runs[1][:2] == (0, 1)  # the same content again: every row a duplicate, the batch empty
    assert runs[2][:3] == (1, 0, 35)
    assert runs[3][:2] == (0, 1) and runs[4][:2] == (0, 1) and runs[5][:2] == (0, 1)
    assert runs[-1][4]["mlmon_batch_failures/schema"] == 2
    assert f"d{suffix}.reason.txt" in meanwhile["quarantine"]


@pytest.mark.parametrize("case", ["valid", "missing a column", "unreadable"])
def test_a_batch_rewritten_while_it_is_hashed_is_left_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """Whether it would have been scored or rejected, nothing is recorded under a hash of content that
    is no longer there: the run skips it, and the next one takes the file as it now is."""
    from exporter.sources import files

    config = write_project(tmp_path, model_overrides={"id_column": None})
    x, y = binary_data(40, seed=13)
    arrived = x.drop(columns=[x.columns[1]]) if case == "missing a column" else x
    write_batch(tmp_path, "b.parquet", arrived, y, mtime=1_000)
    hashed, read_parquet = files.content_key, files.read_parquet
    if case == "unreadable":

        def corrupt(path: Path) -> pd.DataFrame:
            raise ValueError("a column chunk is corrupt")

        monkeypatch.setattr(files, "read_parquet", corrupt)

    rewritten = threading.Event()

    def rewritten_meanwhile(path: Path) -> str:
        digest = hashed(path)
        write_batch(tmp_path, "b.parquet", x.iloc[:25], y[:25], mtime=1_100)
        rewritten.set()
        return digest

    monkeypatch.setattr(files, "content_key", rewritten_meanwhile)
    job = build_app(load_config(config), clock=lambda: 1_700_000_000.0).jobs[0]
    report = job.run()
    assert (report.scored, report.failed) == (0, 0)
    assert value(report.figures, "mlmon_predictions") == 0
    assert value(report.figures, "mlmon_model_up") == 1  # a batch that moved on is no failure of the run
    assert not (tmp_path / "state" / "mlmon-quarantine").exists()
    # the run may end before its hashing thread does (nothing waits for a batch that moved on): the
    # writer is done before the next run looks, as a writer that renames its file in would be
    assert rewritten.wait(30)
    monkeypatch.setattr(files, "content_key", hashed)
    monkeypatch.setattr(files, "read_parquet", read_parquet)
    report = job.run()
    assert (report.scored, report.rows) == (1, 25)
    assert value(report.figures, "mlmon_batch_failures", reason="schema") == 0
