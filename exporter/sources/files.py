"""A folder where batches land as CSV, gzipped CSV or Parquet files.

Writers should write to a hidden or ``.tmp``/``.part`` name and rename when done: such names are
ignored, so a half-written file is never read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exporter.config import SourceConfig
from exporter.sources.base import BatchRef, UnreadableBatch, register

READERS = {
    ".csv": pd.read_csv,
    ".gz": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}
IN_PROGRESS = (".tmp", ".part", ".partial")


def read_table(path: Path) -> pd.DataFrame:
    """A whole table from a CSV, CSV.gz or Parquet file (the reference data, for one)."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unsupported file type (use CSV, CSV.gz or Parquet)")
    return reader(path)


class FolderSource:
    def __init__(self, config: SourceConfig) -> None:
        self.path = Path(config.path)
        self.pattern = config.pattern

    def _candidates(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        found = []
        for path in self.path.glob(self.pattern):
            if not path.is_file() or path.name.startswith(".") or path.name.endswith(IN_PROGRESS):
                continue
            if path.suffix.lower() in READERS:
                found.append(path)
        return found

    def pending(self, seen: set[str]) -> list[BatchRef]:
        refs = []
        for path in self._candidates():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            name = str(path.relative_to(self.path))
            key = f"{name}|{stat.st_size}|{stat.st_mtime_ns}"
            if key not in seen:
                refs.append(BatchRef(key=key, name=name, path=path, arrived_at=stat.st_mtime))
        return sorted(refs, key=lambda ref: (ref.arrived_at, ref.name))

    def read(self, ref: BatchRef) -> pd.DataFrame:
        reader = READERS[ref.path.suffix.lower()]
        try:
            frame = reader(ref.path)
        except Exception as exc:  # noqa: BLE001  (any parser error means the same: unreadable)
            raise UnreadableBatch(f"{ref.name}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(frame, pd.DataFrame):
            raise UnreadableBatch(f"{ref.name}: not a table")
        return frame


@register("files")
def folder_source(config: SourceConfig) -> FolderSource:
    return FolderSource(config)
