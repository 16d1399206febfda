"""Writing a large file past the page cache (``O_DIRECT``), for files that are rarely read back.

A window file whose window is the latest batch is read again only after a restart. Written through
the page cache, a million rows of 30 features put 280 MB of fresh cache pages in memory per run: the
kernel's own copy costs processor time, and on a virtual machine whose free memory was handed back
to the host each fresh page is a fault in the host too (0.07 s for that file on one run, 3 s on
another). Written directly, the disk takes the bytes from one small buffer of ours: about 0.2 s at
the disk's speed, with almost no processor time, which runs beside the window's evaluation. Files
under ``DIRECT_MIN_BYTES`` are written the usual way all the same.

Direct writes need the buffer's address, the length and the file offset aligned to the device's
block; the bytes are gathered in a page-aligned buffer and written a whole number of blocks at a
time; the end is padded, and the file cut back to its length. A file system without direct writes
(some network and FUSE ones, older tmpfs) refuses them, and the file is then written the usual way.
``MLMON_DIRECT_IO=0`` always writes the usual way.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from exporter.switches import turned_off

log = logging.getLogger(__name__)

ALIGNMENT = 4096  # a multiple of every common device's logical block size
BUFFER_BYTES = 8 << 20
# A file smaller than this is written through the page cache even when asked to go past it: its
# fresh pages cost little, the kernel writes them out in the background, and writing through our own
# buffer costs more than that (at 100,000 rows of 30 features, 28 MB, a cycle took 10 to 25 % longer
# with direct writes here; at 300,000 and a million rows, direct writes were the faster).
DIRECT_MIN_BYTES = 64 << 20


def enabled() -> bool:
    return hasattr(os, "O_DIRECT") and not turned_off("MLMON_DIRECT_IO")


class DirectFile:
    """A write-only file object (what ``pa.PythonFile`` wraps) that writes with ``O_DIRECT``."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
        self._buffer = mmap.mmap(-1, BUFFER_BYTES)  # anonymous mappings start on a page
        self._view = memoryview(self._buffer)
        self._staging = np.frombuffer(self._buffer, dtype=np.uint8)
        self._used = 0
        self._length = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        # numpy copies without the interpreter lock, so evaluation threads run on meanwhile
        source = np.frombuffer(data, dtype=np.uint8)
        done = 0
        while done < source.size:
            take = min(BUFFER_BYTES - self._used, source.size - done)
            self._staging[self._used : self._used + take] = source[done : done + take]
            self._used += take
            done += take
            if self._used == BUFFER_BYTES:
                self._drain(BUFFER_BYTES)
        self._length += source.size
        return source.size

    def _drain(self, size: int) -> None:
        written = 0
        while written < size:
            n = os.write(self._fd, self._view[written:size])
            if n <= 0 or (n % ALIGNMENT and written + n < size):
                raise OSError(errno.EIO, "a direct write stopped short of a block boundary")
            written += n
        self._used = 0

    def tell(self) -> int:
        return self._length

    def flush(self) -> None:
        """Whole blocks only go out as the buffer fills; the end goes out on ``close``."""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self._used:
                padded = -(-self._used // ALIGNMENT) * ALIGNMENT
                self._staging[self._used : padded] = 0
                self._drain(padded)
            os.ftruncate(self._fd, self._length)
        finally:
            os.close(self._fd)
            # the buffer is unmapped once nothing refers to it (after a failed write, the traceback may)
            del self._staging, self._view, self._buffer


def write_file(path: Path, write: Callable[[pa.NativeFile | BinaryIO | str], None], *, direct: bool) -> None:
    """``write(sink)`` into ``path``: past the page cache when ``direct`` and the file system allows,
    else as usual (``sink`` is then the path itself)."""
    if direct and enabled():
        try:
            handle = DirectFile(path)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            log.debug("%s: no direct writes on this file system (%s)", path, exc)
        else:
            try:
                with pa.PythonFile(handle, mode="w") as sink:
                    write(sink)
                handle.close()
                return
            except OSError as exc:
                with contextlib.suppress(OSError):
                    handle.close()  # its end may be refused too: the file is written again below
                if exc.errno != errno.EINVAL:
                    raise
                log.debug("%s: direct write refused (%s); written through the page cache", path, exc)
    write(str(path))
