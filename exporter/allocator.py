"""Keeping freed memory for the next run instead of handing it back to the system after each one.

A run over a large batch allocates the same large arrays every time: the batch's columns as Arrow
reads them, the matrix the model scores, sorted copies, chunks. By default Arrow's allocator
(mimalloc) returns freed pages to the system soon after, glibc maps every block over 32 MB afresh
and unmaps it when it is freed, and numpy asks the kernel for transparent huge pages for large
arrays, which on a machine whose memory is fragmented makes the kernel compact memory on the spot
for every 2 MB page. On a 2-core virtual machine a 1,000,000-row run spent 2 to 6 s of system time
so, against under 2 s of its own work; with the settings below, about 0.5 s.

``keep_freed_memory`` points Arrow at the C allocator, stops numpy asking for huge pages, and tells
glibc to serve every block from its heap and to keep what is freed there, so the next run reuses
pages already mapped. The process's resident memory then stays near its peak between runs, which is
what a memory limit has to allow for anyway. Only glibc has the last settings; elsewhere (musl,
macOS) the rest still applies. ``MLMON_KEEP_FREED_MEMORY=0`` turns all of it off.

Two more places would still take fresh pages on every run:

- Arrow's library-wide pool, which its Parquet reader allocates from, is chosen once when Arrow is
  loaded; pyarrow's ``set_memory_pool`` changes only the pool of the calls made from Python. Importing
  ``exporter`` sets ``ARROW_DEFAULT_MEMORY_POOL=system`` for it, unless it is set already, so it takes
  effect wherever mlmon is started before Arrow is loaded (the ``mlmon`` command,
  ``python -m exporter``).
- glibc gives threads heaps (arenas) of their own. A run reads, hashes, writes its window file and
  evaluates on threads started afresh, which land on whichever arena is free, so memory freed in one
  arena was faulted in again in another. One arena for the whole process keeps it all in one place;
  the large blocks of a run are few, so the threads seldom wait on each other there.

At 100,000 rows the first cycles of a new process took 130 to 280 ms (up to 185 ms of it system time,
most of it the kernel clearing new huge pages for Arrow's allocator) and later ones 80 to 90 ms; with
both, the first takes about 100 ms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Mapping

import pyarrow as pa

from exporter.switches import turned_off

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
KEEP_UP_TO = 2**31 - 1  # free memory at the top of the heap is given back only beyond this (2 GiB)


def keep_freed_memory(environ: Mapping[str, str] | None = None) -> bool:
    """Arrow on the C allocator, and glibc keeping freed memory for reuse; True when glibc took its settings."""
    if turned_off("MLMON_KEEP_FREED_MEMORY", environ):
        return False
    if pa.default_memory_pool().backend_name != "system":  # Arrow was loaded before mlmon was
        log.debug("Arrow's library-wide pool stays %s", pa.default_memory_pool().backend_name)
    pa.set_memory_pool(pa.system_memory_pool())
    _no_huge_pages()
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # blocks of any size from the heap (no mmap), a heap trimmed only past KEEP_UP_TO free at its top,
    # and one heap for every thread
    taken = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO) == 1 and mallopt(M_ARENA_MAX, 1) == 1
    log.debug("allocator keeps freed memory: %s", taken)
    return taken


def _no_huge_pages() -> None:
    """numpy's switch for asking huge pages for large arrays (``NUMPY_MADVISE_HUGEPAGE=0`` at import)."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # an older or newer numpy without the switch: nothing to turn off
        return
    _set_madvise_hugepage(False)
