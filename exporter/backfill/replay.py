"""A replay of archived batches through the normal scoring job, each at its original time.

The job runs against a scratch state store in the output folder with a clock set to each batch's
original time (its ``timestamp_column``'s latest value, else its file's modification time), so
the figures are exactly those the exporter would have published then, and its run history is the
backfill's source. The archive is never touched: each batch is copied before it is scored, so a bad
one is quarantined from the copy.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from exporter.config import ModelConfig, SourceConfig
from exporter.job import ModelJob
from exporter.results import Results
from exporter.sources import BatchRef, open_source
from exporter.sources.files import read_table
from exporter.state import StateStore, StoredRun
from exporter.window import WindowStore


class ReplayClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class OneBatch:
    """A source that offers the job exactly the batch being replayed."""

    ref: BatchRef | None = None

    def pending(self, seen: set[str]) -> list[BatchRef]:
        return [self.ref] if self.ref is not None and self.ref.key not in seen else []

    def read(self, ref: BatchRef) -> pd.DataFrame:
        from exporter.sources.files import FolderSource

        return FolderSource(SourceConfig(path=ref.path.parent)).read(ref)


def original_time(ref: BatchRef, model: ModelConfig) -> float:
    """The latest value of the batch's timestamp column, else when its file was last written."""
    if model.timestamp_column is not None:
        try:
            column = read_table(ref.path)[model.timestamp_column]
            stamps = pd.to_datetime(column, utc=True, errors="coerce", format="mixed").dropna()
            if len(stamps):
                return float(stamps.max().timestamp())
        except (KeyError, ValueError, OSError):
            pass
    return ref.arrived_at


def archived_batches(model: ModelConfig, archive: Path) -> list[tuple[float, BatchRef]]:
    if not archive.is_dir():
        raise ValueError(f"--replay {archive}: not a folder")
    source = open_source(SourceConfig(path=archive, pattern=model.source.pattern))
    timed = [(original_time(ref, model), ref) for ref in source.pending(set())]
    return sorted(timed, key=lambda item: (item[0], item[1].name))


def replay(
    model: ModelConfig, archive: Path, workdir: Path, advance: Callable[[int], None] | None = None
) -> list[StoredRun]:
    """Score every archived batch of ``model`` in time order; returns the runs this produced."""
    batches = archived_batches(model, archive)
    if not batches:
        raise ValueError(f"--replay {archive}: no batch files matching {model.source.pattern!r}")
    scratch = workdir / "replay"
    shutil.rmtree(scratch, ignore_errors=True)
    copies = scratch / "batches"
    copies.mkdir(parents=True)
    state = StateStore(scratch / "state.db")
    clock = ReplayClock()
    source = OneBatch()
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
            copy = copies / Path(ref.name).name
            shutil.copy2(ref.path, copy)
            source.ref = BatchRef(key=ref.key, name=ref.name, path=copy, arrived_at=at)
            clock.now = at
            job.run()
            if advance is not None:
                advance(1)
        return state.runs(model.name)
    finally:
        state.close()
