"""Wasserstein against a reference many times the window, by runs placed with the sketch, in one loop.

This is the sketch path of ``wasserstein.wasserstein_to_larger`` written as a single pass over the
window's values, for numba to compile when it is installed (the ``fast`` extra). The numpy path there
makes some thirty calls a feature, each with a fixed cost of a few microseconds and a temporary array,
and a binary search through the whole reference for every run it cannot place; this loop makes no
temporary, works out each run's bounds and weights as it goes, and searches only inside the run.
Both add up the same terms in the same units, so they agree to rounding (the tests hold them to
scipy's answer and to each other).

``compiled()`` gives the compiled loop, or None when numba is not installed or ``MLMON_JIT=0`` turns
it off; the caller then takes the numpy path. The first call in a process compiles the loop (about a
second) or loads it from numba's on-disk cache (a few tenths of a second).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

# set to 0 to keep to the numpy path even where numba is installed
JIT_ENVIRONMENT = "MLMON_JIT"

RunsTotal = Callable[[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, int], float]


def runs_total(
    larger_sorted: np.ndarray,
    cumulative: np.ndarray,
    centre: float,
    ordered: np.ndarray,
    entries: np.ndarray,
    step: int,
) -> float:
    """W1 between ``larger_sorted`` (n values) and the sorted window ``ordered`` (m values), in units
    of 1 / (n m), with ``cumulative`` and ``centre`` the reference's ``centred_sums`` and ``entries``
    its sketch every ``step`` values, their sizes checked by the caller (``wasserstein.check_fitted``):
    the loop does not check its indices.

    The terms are those of ``wasserstein_to_larger``: window value i spans (i n, (i + 1) n] and
    reference value j spans (j m, (j + 1) m], so the run under value i goes from ``first`` = i n // m
    to ``last`` = ceil((i + 1) n / m) - 1. A run the sketch places wholly at or above its value x
    counts with s = -1, every other run with s = +1; ``n sum(s (x - centre))`` plus ``m`` times the
    running sum C read where s flips (and at the end) gives every run's |count x - sum| as if it lay
    on its side, and each run the sketch cannot place below x is corrected by twice its weighted
    y - x over its values y above x, found by a binary search inside the run."""
    n = larger_sorted.size
    m = ordered.size
    signed = 0.0  # sum of s (x - centre)
    moved = 0.0  # sum of C(i) (s_i - s_(i-1)), C(0) = 0
    correction = 0.0  # the weighted y - x over the values above x of the runs not placed
    previous = 0
    for i in range(m):
        x = ordered[i]
        value = x - centre
        start = i * n
        end = start + n
        first = start // m
        last = (end + m - 1) // m - 1
        if x <= entries[first // step]:
            sign = -1  # every value of the run is at or above x
        else:
            sign = 1
            if x < entries[(last + step - 1) // step]:
                # the sketch cannot place the run below x either: its ends count by their weights
                # where they lie above x, its inner values [first + 1, upto) by m each from where x
                # falls among them
                if first == last:
                    gap = larger_sorted[first] - x
                    if gap > 0.0:
                        correction += n * gap
                else:
                    gap = larger_sorted[first] - x
                    if gap > 0.0:
                        correction += (min((first + 1) * m, end) - start) * gap
                    gap = larger_sorted[last] - x
                    if gap > 0.0:
                        correction += (end - last * m) * gap
                upto = max(last, first + 1)
                low = first + 1
                high = upto
                while low < high:
                    middle = (low + high) >> 1
                    if larger_sorted[middle] <= x:
                        low = middle + 1
                    else:
                        high = middle
                correction += m * ((cumulative[upto] - cumulative[low]) - (upto - low) * value)
        signed += sign * value
        if sign != previous:
            if i > 0:
                # C(i): the sum before stretch end i n, the value it cuts counted by the fraction before it
                position = first
                cut = larger_sorted[min(position, n - 1)] - centre
                moved += (sign - previous) * (cumulative[position] + ((start - position * m) / m) * cut)
            previous = sign
    moved -= previous * cumulative[n]  # C(m) is the sum of every value
    return n * signed + m * moved + 2.0 * correction


def compiled() -> RunsTotal | None:
    """``runs_total`` compiled by numba (cached on disk), or None without numba or with ``MLMON_JIT=0``
    (read at every call, so it can be changed in a running process)."""
    return None if turned_off() else _dispatcher()


def turned_off() -> bool:
    """Whether ``MLMON_JIT`` keeps to the numpy path (0, false, no or off)."""
    return os.environ.get(JIT_ENVIRONMENT, "1").strip().lower() in {"0", "false", "no", "off"}


def first_call_case() -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, int]:
    """``runs_total``'s arguments for a reference of 64 values against a window of two, sketched every
    8. The running sums and sketch are written out as wasserstein's ``centred_sums`` and ``sketch_of``
    make them (a test holds them equal): that module imports this one, and exporter.drift imports
    nothing lazily."""
    reference = np.arange(64, dtype=np.float64)
    sums = np.concatenate([[0.0], np.cumsum(reference - reference[32])])
    sketch = np.append(reference[::8], reference[-1])  # every 8th value and the last
    return reference, sums, float(reference[32]), np.array([3.5, 40.0]), sketch, 8


@functools.cache
def _dispatcher() -> RunsTotal | None:
    try:
        import numba
    except ImportError:
        return None
    try:
        loop: RunsTotal = numba.njit(cache=True, nogil=True)(runs_total)
        # compiled (or loaded from the cache) now, so a numba that cannot compile here leaves the numpy
        # calls instead of failing a comparison
        case = first_call_case()
        if not math.isclose(loop(*case), runs_total(*case), rel_tol=1e-12):
            raise RuntimeError("the compiled loop's answer differs from the plain loop's")
    except Exception as error:  # any failure of numba's: the numpy calls give the same figures
        log.warning("numba %s could not compile the Wasserstein loop; numpy is used: %s", numba.__version__, error)
        return None
    log.debug("wasserstein: large references compared by the loop numba %s compiles", numba.__version__)
    return loop
