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
