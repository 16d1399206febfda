"""A replay of archived batches through the normal scoring job, each at its original time.

The archive is copied to a scratch folder in the output folder and scored from there by a job with
its own scratch state store and a clock set to each batch's original time (its ``timestamp_column``'s
latest value, else its file's modification time). So the figures are exactly those the exporter
would have published then, and the job's run history is the backfill's source. The archive itself
is never touched: a bad batch is quarantined from the copy.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from exporter.config import ModelConfig
from exporter.job import ModelJob
from exporter.results import Results
from exporter.sources import BatchRef, Source, SourceContext
from exporter.sources.files import FilesConfig, FolderSource, read_table
from exporter.sources.registry import ReadPosition
from exporter.state import StateStore, StoredRun
from exporter.window import WindowStore


class ReplayClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class OneBatch(Source):
    """The copied archive, offering the job only the batch being replayed."""

    name = "replay"
    Config = FilesConfig

    def __init__(self, folder: FolderSource) -> None:
        super().__init__(folder.config, folder.context)
        self.folder = folder
        self.ref: BatchRef | None = None

    def pending(self, position: ReadPosition) -> list[BatchRef]:
        return [self.ref] if self.ref is not None and self.ref.key not in position.seen() else []

    def read(self, ref: BatchRef) -> pd.DataFrame:
        return self.folder.read(ref)

    def reject(self, ref: BatchRef, reason: str, message: str) -> None:
        self.folder.reject(ref, reason, message)


class Unread:
    """The read position of a source nothing was recorded from."""

    def seen(self) -> set[str]:
        return set()

    def last(self) -> str | None:
        return None


def original_time(path: Path, ref: BatchRef, model: ModelConfig) -> float:
    """The latest value of the batch's timestamp column, else when its file was last written."""
    if model.timestamp_column is not None:
        try:
            column = read_table(path)[model.timestamp_column]
            stamps = pd.to_datetime(column, utc=True, errors="coerce", format="mixed").dropna()
            if len(stamps):
                return float(stamps.max().timestamp())
        except (KeyError, ValueError, OSError):
            pass
    return ref.arrived_at


def replay(
    model: ModelConfig, archive: Path, workdir: Path, advance: Callable[[int], None] | None = None
) -> list[StoredRun]:
    """Score every archived batch of ``model`` in time order; returns the runs this produced."""
    if not archive.is_dir():
        raise ValueError(f"--replay {archive}: not a folder")
    scratch = workdir / "replay"
    shutil.rmtree(scratch, ignore_errors=True)
    copies = scratch / "batches"
    shutil.copytree(archive, copies)  # keeps modification times
    pattern = model.source.pattern if isinstance(model.source, FilesConfig) else "*"
    clock = ReplayClock()
    context = SourceContext(reject_dir=scratch / "quarantine", clock=clock)
    folder = FolderSource(FilesConfig(path=copies, pattern=pattern, settle_seconds=0), context)
    batches = sorted(
        ((original_time(copies / ref.name, ref, model), ref) for ref in folder.pending(Unread())),
        key=lambda item: (item[0], item[1].name),
    )
    if not batches:
        raise ValueError(f"--replay {archive}: no batch files matching {pattern!r}")
    state = StateStore(scratch / "state.db")
    source = OneBatch(folder)
    job = ModelJob(
        model,
        state,
        WindowStore(scratch / "windows"),
        Results(),
        scratch / "quarantine",
        retention_seconds=math.inf,  # the replayed history is kept whole
        clock=clock,
        source=source,
        label_source=None,
    )
    try:
        for at, ref in batches:
            source.ref = ref
            clock.now = at
            job.run()
            if advance is not None:
                advance(1)
        return state.runs(model.name)
    finally:
        state.close()
