"""Freed memory is kept for the next run: a large block allocated again faults no new pages in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import resource, sys
import numpy as np
import pyarrow as pa
from exporter.allocator import keep_freed_memory
taken = keep_freed_memory({"MLMON_KEEP_FREED_MEMORY": sys.argv[1]})
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
counts = []
for _ in range(3):
    before = faults()
    block = np.ones(64 * 2**20 // 8)
    counts.append(faults() - before)
    del block
from numpy._core.multiarray import _set_madvise_hugepage
huge = _set_madvise_hugepage(True)  # returns the setting it replaces
print(taken, pa.default_memory_pool().backend_name, huge, *counts)
"""


def _probe(setting: str) -> tuple[str, str, str, list[int]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, setting], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    )
    taken, pool, huge, *counts = result.stdout.split()
    return taken, pool, huge, [int(c) for c in counts]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
def test_a_block_allocated_again_reuses_the_pages_of_the_freed_one() -> None:
    taken, pool, huge, counts = _probe("1")
    assert (taken, pool, huge) == ("True", "system", "False")
    first, *again = counts
    assert first > 100, counts  # 64 MB are faulted in once
    assert all(n < first / 10 for n in again), counts


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
def test_turned_off_every_block_is_faulted_in_afresh() -> None:
    taken, _pool, huge, counts = _probe("0")
    assert (taken, huge) == ("False", "True")
    first, *again = counts
    assert all(n > first / 2 for n in again), counts


ARROW_PROBE = """
import exporter  # first, as the mlmon command starts
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
library_pool = pa.default_memory_pool().backend_name  # Arrow's own default: nothing has overridden it yet
pq.write_table(pa.table({"a": np.arange(1_000_000, dtype=np.float64)}), sys.argv[1])
pq.read_table(sys.argv[1])
print(library_pool, pa.default_memory_pool().max_memory())
"""


def _arrow_probe(tmp_path: Path, environ: dict[str, str]) -> tuple[str, int]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "MLMON_KEEP_FREED_MEMORY")}
    result = subprocess.run(
        [sys.executable, "-c", "import sys\n" + ARROW_PROBE, str(tmp_path / "t.parquet")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
        env={**env, **environ},
    )
    pool, used = result.stdout.split()
    return pool, int(used)


def test_importing_mlmon_first_gives_arrows_parquet_reader_the_c_allocator(tmp_path: Path) -> None:
    pool, used = _arrow_probe(tmp_path, {})
    assert pool == "system"
    assert used > 8_000_000  # the 8 MB column was read through it
    off_pool, off_used = _arrow_probe(tmp_path, {"MLMON_KEEP_FREED_MEMORY": "0"})
    assert off_pool != "system" and off_used > 8_000_000  # Arrow's own choice when the switch is off
    chosen, _ = _arrow_probe(tmp_path, {"ARROW_DEFAULT_MEMORY_POOL": off_pool})
    assert chosen == off_pool  # a pool the user set is kept


ARENA_PROBE = """
import ctypes, ctypes.util, sys, tempfile, threading
import numpy as np
from exporter.allocator import keep_freed_memory
keep_freed_memory({"MLMON_KEEP_FREED_MEMORY": sys.argv[1]})
start = threading.Barrier(4)
held = threading.Barrier(4)
def work():
    start.wait()
    blocks = [np.ones(2**17 * (i + 1)) for i in range(4)]  # each thread allocates while the others do
    held.wait()
    del blocks
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
def heaps():
    with tempfile.NamedTemporaryFile(suffix=".xml") as report:
        handle = libc.fopen(report.name.encode(), b"w")
        libc.malloc_info(0, handle)
        libc.fclose(handle)
        return open(report.name).read().count("<heap nr=")
before = heaps()  # the arenas of threads started at import (the linear-algebra library's)
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(heaps() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
@pytest.mark.parametrize(("setting", "shared"), [("1", True), ("0", False)])
def test_threads_started_later_allocate_from_the_heaps_there_are(setting: str, shared: bool) -> None:
    result = subprocess.run(
        [sys.executable, "-c", ARENA_PROBE, setting], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    )
    new_heaps = int(result.stdout)
    assert (new_heaps == 0) is shared, new_heaps
