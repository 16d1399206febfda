"""Independent pieces of one evaluation run side by side on the machine's processors.

The work is numpy's sorting, searching and arithmetic on large arrays, which runs without the
interpreter lock, so threads share the processors without copying a window between processes. The
results come back in the order of the inputs, whatever order the threads finish in; an exception
in one piece is raised to the caller when its result is taken, as a plain loop would raise it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from threadpoolctl import ThreadpoolController

T = TypeVar("T")
R = TypeVar("R")


def processors() -> int:
    """The processors this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


_place = threading.local()


def ordered_map(function: Callable[[T], R], items: Iterable[T], *, workers: int | None = None) -> list[R]:
    """``[function(item) for item in items]``, with up to ``workers`` at once.

    By default that is one per processor, or one alone inside a piece of another ``ordered_map``: the
    processors are already shared out there, and more threads would only take turns with the
    interpreter lock (the monitors of a window run side by side, and feature drift's features then
    run one after another within theirs).
    """
    pending = list(items)
    if workers is None:
        workers = 1 if getattr(_place, "inside", False) else processors()
    workers = min(workers, len(pending))
    if workers <= 1:
        return [function(item) for item in pending]

    def piece(item: T) -> R:
        _place.inside = True  # a thread of this pool, which ends with it
        return function(item)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlmon-eval") as pool:
        return list(pool.map(piece, pending))


class Background(Generic[R]):
    """``function()`` started on a thread of its own, for work that runs without the interpreter lock
    (writing a file) while the caller goes on. ``result`` waits for it and gives its value, or raises
    what it raised."""

    def __init__(self, function: Callable[[], R], name: str, *, daemon: bool = True) -> None:
        # a daemon thread is dropped when the interpreter exits; any other is waited for first
        self._outcome: tuple[R | None, BaseException | None] = (None, None)
        self._thread = threading.Thread(target=self._run, args=(function,), name=name, daemon=daemon)
        self._thread.start()

    def _run(self, function: Callable[[], R]) -> None:
        try:
            self._outcome = (function(), None)
        except BaseException as error:  # noqa: BLE001  (handed to whoever waits for the result)
            self._outcome = (None, error)

    def result(self) -> R:
        self._thread.join()
        value, error = self._outcome
        if error is not None:
            raise error
        return value  # type: ignore[return-value]


@functools.cache
def _controller() -> ThreadpoolController:
    # Finding the loaded libraries scans every shared object of the process (milliseconds); by the
    # first run numpy, scipy and scikit-learn have loaded theirs, so once is enough.
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[object]:
    """The linear-algebra libraries (BLAS) limited to one thread each, and set back on leaving.

    mlmon runs its own threads side by side (hashing, reading, writing a window file, the monitors):
    the library's threads would only compete with them for the processors, and spin while they wait.
    """
    return _controller().limit(limits=1, user_api="blas")
