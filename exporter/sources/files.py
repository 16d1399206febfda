"""A folder where batches land as CSV, gzipped CSV or Parquet files.

A file is read once it is complete: renamed into the folder (its inode changed after its last write,
which a rename does), or left unchanged for ``settle_seconds``. Names starting with "." or ending in
``.tmp``/``.part``/``.partial`` are never read, so writing under such a name and renaming is the
safest way in. A batch is known by its name and the BLAKE3 hash of its content (earlier versions
recorded the SHA-256, which is still checked for a name recorded so), so a touched or re-copied file
is not read again (``mlmon replay`` reads it again); the same content under another name is read,
and its rows are then duplicates of the ones already scored, so they count once. A file that
vanishes or changes while it is read is left for a later run, not failed. A rejected file is moved
to the model's quarantine folder with a ``.reason.txt`` beside it; with ``archive_path``, a
processed one is moved there, so the watched folder does not grow forever.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import blake3
import pandas as pd
import pyarrow.parquet as pq
from pydantic import Field

from exporter.mergeable.chunks import is_parquet, more_rows_than, read_chunks
from exporter.parallel import Background
from exporter.sources.registry import (
    BatchGone,
    BatchRef,
    ReadPosition,
    Source,
    SourceConfig,
    SourceContext,
    UnreadableBatch,
    register,
)

log = logging.getLogger(__name__)

# a byte that is not UTF-8 becomes U+FFFD, which validation turns into an invalid row, not a lost batch
_read_csv = functools.partial(pd.read_csv, encoding_errors="replace")


# below this much data (uncompressed) a Parquet file is read whole: holding it twice costs little, and
# reading it column by column costs a read per column
WHOLE_READ_BYTES = 32 << 20


def read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file as ``pd.read_parquet`` gives it, read one column at a time.

    Reading the whole table first holds every decoded Arrow column, the file's pages and the pandas
    columns at once: about three times the batch at a million rows of 30 features. One column at a
    time, each Arrow column becomes the pandas one (without a copy where the types allow) before the
    next is read, so the read holds little more than the batch itself. The columns are kept in blocks
    of their own, as gathering them into one two-dimensional block would copy the batch again.

    A small file (under ``WHOLE_READ_BYTES`` of data) is read whole, which is faster; so is a file whose
    pandas index is stored as columns, or whose columns are a multi-level index or repeat a name.
    """
    parquet = pq.ParquetFile(path, pre_buffer=False)
    names = parquet.schema_arrow.names
    metadata = parquet.schema_arrow.pandas_metadata or {}
    stored_index = any(not isinstance(index, dict) for index in metadata.get("index_columns", []))
    size = sum(parquet.metadata.row_group(i).total_byte_size for i in range(parquet.metadata.num_row_groups))
    unusual = stored_index or len(metadata.get("column_indexes", [])) > 1 or len(set(names)) < len(names)
    if size < WHOLE_READ_BYTES or not names or unusual:
        return parquet.read().to_pandas(split_blocks=True, self_destruct=True)
    parts = [
        parquet.read(columns=[name], use_pandas_metadata=True).to_pandas(split_blocks=True, self_destruct=True)
        for name in names
    ]
    return pd.concat(parts, axis=1)


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": _read_csv,
    ".gz": _read_csv,
    ".parquet": read_parquet,
    ".pq": read_parquet,
}
IN_PROGRESS = (".tmp", ".part", ".partial")
KEY_PREFIX = "blake3:"
# how content keys were made before: a file whose name was recorded so is hashed that way too, once
LEGACY_KEY_PREFIX = "sha256:"
HASH_BLOCK = 1 << 20


class FilesConfig(SourceConfig):
    type: Literal["files"] = "files"
    path: Path
    pattern: str = "*"
    # a file written in place is read once its size and modification time have not changed for this long
    settle_seconds: float = Field(default=2.0, ge=0)
    # where processed files are moved; by default they stay where they landed
    archive_path: Path | None = None

    def relative_to(self, base_dir: Path) -> FilesConfig:
        def resolve(path: Path | None) -> Path | None:
            return path if path is None or path.is_absolute() else base_dir / path

        return self.model_copy(update={"path": resolve(self.path), "archive_path": resolve(self.archive_path)})

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


def content_key(path: Path) -> str:
    """A file's identity as a batch: the BLAKE3 hash of its bytes, a cryptographic hash four times as
    fast as SHA-256 here (7 GB/s against 1.8 GB/s), which it replaces."""
    return KEY_PREFIX + _digest(blake3.blake3(), path)


def legacy_content_key(path: Path) -> str:
    """The identity earlier versions recorded: the SHA-256 of the file's bytes."""
    return LEGACY_KEY_PREFIX + _digest(hashlib.sha256(), path)


def _digest(digest: Any, path: Path) -> str:
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while filled := handle.readinto(buffer):
            digest.update(view[:filled])
    return str(digest.hexdigest())


def recorded_names(seen: set[str]) -> dict[str, set[str]]:
    """The names of the files recorded by content, each with the prefixes of the keys it was recorded under."""
    names: dict[str, set[str]] = {}
    for key in seen:
        if key.startswith((KEY_PREFIX, LEGACY_KEY_PREFIX)):
            content, _, name = key.partition("|")
            names.setdefault(name, set()).add(content[: content.index(":") + 1])
    return names


def _legacy_key(name: str, stat: os.stat_result) -> str:
    # how batches were known before content keys; a file recorded so is not read again
    return f"{name}|{stat.st_size}|{stat.st_mtime_ns}"


def _move_aside(source: Path, folder: Path, name: str, stamp: float) -> Path:
    """Move ``source`` into ``folder`` as ``name``, prefixed with ``stamp`` when that name is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        target = folder / f"{int(stamp)}-{name}"
    shutil.move(str(source), target)
    return target


Signature = tuple[int, int, int]


def _signature(stat: os.stat_result) -> Signature:
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _signature_now(path: Path) -> Signature | None:
    try:
        return _signature(path.stat())
    except OSError:
        return None


@contextmanager
def _read_once(path: Path, name: str, before: Signature | None = None) -> Iterator[None]:
    """Reading the file at ``path`` as one batch: gone when it vanishes or changes meanwhile (it is read
    again once it settles), unreadable on any parser error. ``before``: the file as it was when its
    reading started, if that was earlier."""
    changed = BatchGone(f"{name} changed while it was read; it is read again once it settles")
    try:
        if before is None:
            before = _signature(path.stat())
        yield
        after = _signature(path.stat())
    except FileNotFoundError as exc:
        raise BatchGone(f"{name} vanished while it was read") from exc
    except Exception as exc:  # noqa: BLE001  (any parser error means the same: unreadable)
        # a file rewritten while it was read may fail to parse: it is not broken, only not settled
        if before is not None and _signature_now(path) != before:
            raise changed from exc
        raise UnreadableBatch(f"{name}: {type(exc).__name__}: {exc}") from exc
    if before != after:
        raise changed


@dataclass(frozen=True)
class _Early:
    """The first pending batch, handed out while a thread hashes its file (``BatchRef.deferred``):
    the file as it was listed, which its reading starts from too, and that reading when the file is
    read ahead."""

    path: Path
    signature: Signature
    reading: Background[pd.DataFrame] | None


@register
class FolderSource(Source):
    name = "files"
    Config = FilesConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        assert isinstance(config, FilesConfig)
        self.files: FilesConfig = config
        # content keys by path, valid while the file's size, modification time and inode stay the same
        self._keys: dict[Path, tuple[Signature, str]] = {}
        self._legacy_keys: dict[Path, tuple[Signature, str]] = {}  # the same, as earlier versions made them
        self._early: _Early | None = None

    @property
    def path(self) -> Path:
        return self.files.path

    def _candidates(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        found = []
        for path in self.path.glob(self.files.pattern):
            if path.name.startswith(".") or path.name.endswith(IN_PROGRESS):
                continue
            if path.suffix.lower() in READERS and path.is_file():
                found.append(path)
        return found

    def _complete(self, stat: os.stat_result, now: float) -> bool:
        if stat.st_ctime_ns > stat.st_mtime_ns:
            return True  # renamed (or touched) after its last write: nobody is writing it
        return now - stat.st_mtime >= self.files.settle_seconds

    def _key(self, path: Path, stat: os.stat_result, *, legacy: bool = False) -> str:
        keys, make = (self._legacy_keys, legacy_content_key) if legacy else (self._keys, content_key)
        signature = _signature(stat)
        cached = keys.get(path)
        if cached is None or cached[0] != signature:
            cached = (signature, make(path))
            keys[path] = cached
        return cached[1]

    def _recorded_earlier(
        self, path: Path, stat: os.stat_result, name: str, seen: set[str], prefixes: set[str]
    ) -> bool:
        """Whether an earlier version recorded the file with this content (``prefixes``: those of the
        keys its name was recorded under)."""
        return LEGACY_KEY_PREFIX in prefixes and f"{self._key(path, stat, legacy=True)}|{name}" in seen

    def pending(self, position: ReadPosition) -> list[BatchRef]:
        seen = position.seen()
        now = self.context.wall_clock()
        self._early = None  # a batch read ahead and then not asked for is read again when it is
        listed = []
        for path in self._candidates():
            try:
                listed.append((path.stat(), str(path.relative_to(self.path)), path))
            except FileNotFoundError:
                continue  # gone since the listing
        refs: list[BatchRef] = []
        names: dict[str, set[str]] | None = None  # the names recorded, once a pending file asks
        for stat, name, path in sorted(listed, key=lambda item: (item[0].st_mtime, item[1])):
            if not self._complete(stat, now) or _legacy_key(name, stat) in seen:
                continue
            if names is None:
                names = recorded_names(seen)
            if not refs:
                cached = self._keys.get(path)
                if name not in names and (cached is None or cached[0] != _signature(stat)):
                    # its name is new, so its key is too, whatever its content: it is hashed while
                    # it is read, validated and scored
                    refs.append(self._hashed_meanwhile(path, name, stat))
                    continue
            try:
                key = self._key(path, stat)
                if f"{key}|{name}" in seen or self._recorded_earlier(path, stat, name, seen, names.get(name, set())):
                    continue
            except FileNotFoundError:
                continue
            refs.append(BatchRef(key=f"{key}|{name}", name=name, arrived_at=stat.st_mtime, content=key))
        present = {path for _, _, path in listed}
        self._keys = {path: entry for path, entry in self._keys.items() if path in present}
        self._legacy_keys = {path: entry for path, entry in self._legacy_keys.items() if path in present}
        return refs

    def _hashed_meanwhile(self, path: Path, name: str, stat: os.stat_result) -> BatchRef:
        """The batch of a file with a new name, handed out while a thread of its own hashes it
        (``BatchRef.deferred``); only the first pending one, which is read next. Its identity is
        given only if the file stayed as it was listed."""
        signature = _signature(stat)
        self._early = _Early(path, signature, self._read_ahead(path))

        def hash_it() -> tuple[str, Signature | None]:
            # the file as it is once hashed: moving it later (to quarantine, to the archive) is fine
            return content_key(path), _signature_now(path)

        hashing = Background(hash_it, name="mlmon-content-key")

        def identify() -> tuple[str, str | None]:
            try:
                key, after = hashing.result()
            except FileNotFoundError as exc:
                raise BatchGone(f"{name} vanished while it was read") from exc
            if after != signature:
                raise BatchGone(f"{name} changed while it was read; it is read again once it settles")
            self._keys[path] = (signature, key)
            return f"{key}|{name}", key

        return BatchRef.deferred(name, stat.st_mtime, identify)

    def _read_ahead(self, path: Path) -> Background[pd.DataFrame] | None:
        """The new batch handed out early, read on a thread of its own while it is hashed, when it is
        a Parquet file small enough to be read whole (else None). Both run without the interpreter
        lock, side by side."""
        limit = self.context.read_ahead_rows
        if limit is None or not is_parquet(path):
            return None
        try:
            if more_rows_than(path, limit):
                return None
        except Exception:  # noqa: BLE001  (a file that cannot be sized is read when it is asked for)
            return None
        return Background(lambda: read_parquet(path), name="mlmon-read-ahead")

    def read(self, ref: BatchRef) -> pd.DataFrame:
        path = self.path / ref.name
        early, self._early = self._early, None
        if early is not None and early.path != path:
            early = None  # handed out for another file, which was not asked for
        # a batch handed out before it was hashed is read as it was listed, as it is hashed
        with _read_once(path, ref.name, before=early.signature if early is not None else None):
            if early is not None and early.reading is not None:
                frame = early.reading.result()
            else:
                frame = READERS[path.suffix.lower()](path)
        if not isinstance(frame, pd.DataFrame):
            raise UnreadableBatch(f"{ref.name}: not a table")
        return frame

    def more_rows_than(self, ref: BatchRef, rows: int) -> bool:
        path = self.path / ref.name
        early, limit = self._early, self.context.read_ahead_rows
        # a batch read ahead holds at most ``limit`` rows, as it still does if unchanged since
        if (
            early is not None
            and early.reading is not None
            and early.path == path
            and limit is not None
            and rows >= limit
            and _signature_now(path) == early.signature
        ):
            return False
        try:
            return more_rows_than(path, rows)
        except Exception:  # noqa: BLE001  (a file that cannot be sized is read whole, and fails there if it must)
            return False

    def read_chunks(self, ref: BatchRef, rows: int) -> Iterator[pd.DataFrame]:
        path = self.path / ref.name
        with _read_once(path, ref.name):
            yield from read_chunks(path, rows)

    def reject(self, ref: BatchRef, reason: str, message: str) -> None:
        try:
            target = _move_aside(
                self.path / ref.name, self.context.reject_dir, Path(ref.name).name, self.context.clock()
            )
            target.with_name(target.name + ".reason.txt").write_text(f"{reason}: {message}\n")
        except FileNotFoundError:
            log.info("%s was rejected (%s) but is gone already", ref.name, reason)
        except OSError as exc:
            log.error("cannot quarantine %s: %s", ref.name, exc)

    def accept(self, ref: BatchRef) -> None:
        if self.files.archive_path is None:
            return
        folder = self.files.archive_path / Path(ref.name).parent
        try:
            _move_aside(self.path / ref.name, folder, Path(ref.name).name, self.context.clock())
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("cannot archive %s to %s: %s", ref.name, folder, exc)
