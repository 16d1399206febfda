"""A folder where batches land as CSV, gzipped CSV or Parquet files.

Writers should write to a hidden or ``.tmp``/``.part`` name and rename when done: such names are
ignored, so a half-written file is never read. A rejected file is moved to the model's quarantine
folder with a ``.reason.txt`` beside it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Literal

import pandas as pd

from exporter.sources.registry import BatchRef, ReadPosition, Source, SourceConfig, UnreadableBatch, register

log = logging.getLogger(__name__)

READERS = {
    ".csv": pd.read_csv,
    ".gz": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}
IN_PROGRESS = (".tmp", ".part", ".partial")


class FilesConfig(SourceConfig):
    type: Literal["files"] = "files"
    path: Path
    pattern: str = "*"

    def relative_to(self, base_dir: Path) -> FilesConfig:
        return self if self.path.is_absolute() else self.model_copy(update={"path": base_dir / self.path})

    def describe(self) -> str:
        return str(self.path)

    def problems(self) -> list[str]:
        if not self.path.exists():
            return [f"path: folder {self.path} does not exist"]
        if not self.path.is_dir():
            return [f"path: {self.path} is not a folder"]
        if not os.access(self.path, os.R_OK | os.X_OK):
            return [f"path: folder {self.path} cannot be read"]
        return []


def read_table(path: Path) -> pd.DataFrame:
    """A whole table from a CSV, CSV.gz or Parquet file (the reference data, for one)."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unsupported file type (use CSV, CSV.gz or Parquet)")
    return reader(path)


@register
class FolderSource(Source):
    name = "files"
    Config = FilesConfig

    @property
    def path(self) -> Path:
        assert isinstance(self.config, FilesConfig)
        return self.config.path

    def _candidates(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        assert isinstance(self.config, FilesConfig)
        found = []
        for path in self.path.glob(self.config.pattern):
            if not path.is_file() or path.name.startswith(".") or path.name.endswith(IN_PROGRESS):
                continue
            if path.suffix.lower() in READERS:
                found.append(path)
        return found

    def pending(self, position: ReadPosition) -> list[BatchRef]:
        seen = position.seen()
        refs = []
        for path in self._candidates():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            name = str(path.relative_to(self.path))
            key = f"{name}|{stat.st_size}|{stat.st_mtime_ns}"
            if key not in seen:
                refs.append(BatchRef(key=key, name=name, arrived_at=stat.st_mtime))
        return sorted(refs, key=lambda ref: (ref.arrived_at, ref.name))

    def read(self, ref: BatchRef) -> pd.DataFrame:
        path = self.path / ref.name
        try:
            frame = READERS[path.suffix.lower()](path)
        except Exception as exc:  # noqa: BLE001  (any parser error means the same: unreadable)
            raise UnreadableBatch(f"{ref.name}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(frame, pd.DataFrame):
            raise UnreadableBatch(f"{ref.name}: not a table")
        return frame

    def reject(self, ref: BatchRef, reason: str, message: str) -> None:
        folder = self.context.reject_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / Path(ref.name).name
            if target.exists():
                target = folder / f"{int(self.context.clock())}-{target.name}"
            shutil.move(str(self.path / ref.name), target)
            target.with_name(target.name + ".reason.txt").write_text(f"{reason}: {message}\n")
        except OSError as exc:
            log.error("cannot quarantine %s: %s", ref.name, exc)
