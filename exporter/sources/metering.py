"""Every source reports the same figures: read duration, rows read, and failures by reason.

``MeteredSource`` wraps any source, whatever its type, so a new source gets the figures without a
line of its own. The role (``batches``, ``labels`` or ``reference``) is the ``source`` label of the
figures, since one model may read each from a different type of source.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from exporter.sources.registry import BatchRef, ReadPosition, Source, SourceUnavailable

ROLES = ("batches", "labels", "reference")


@dataclass
class SourceMeter:
    """What one model's sources did in one run."""

    seconds: Counter[str] = field(default_factory=Counter)  # by role
    rows: Counter[str] = field(default_factory=Counter)  # by role
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (role, reason)

    def clear(self) -> None:
        self.seconds.clear()
        self.rows.clear()
        self.failures.clear()


class MeteredSource(Source):
    """A source whose reads are timed and counted into a ``SourceMeter`` under one role."""

    def __init__(
        self, inner: Source, role: str, meter: SourceMeter, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        assert role in ROLES, role
        super().__init__(inner.config, inner.context)
        self.inner, self.role, self.meter, self.clock = inner, role, meter, clock

    def _timed(self, call: Callable[[], object]) -> object:
        started = self.clock()
        try:
            return call()
        except SourceUnavailable as exc:
            self.meter.failures[(self.role, exc.reason)] += 1
            raise
        finally:
            self.meter.seconds[self.role] += self.clock() - started

    def pending(self, position: ReadPosition) -> list[BatchRef]:
        return self._timed(lambda: self.inner.pending(position))  # type: ignore[return-value]

    def read(self, ref: BatchRef) -> pd.DataFrame:
        frame: pd.DataFrame = self._timed(lambda: self.inner.read(ref))  # type: ignore[assignment]
        self.meter.rows[self.role] += len(frame)
        return frame

    def more_rows_than(self, ref: BatchRef, rows: int) -> bool:
        return self._timed(lambda: self.inner.more_rows_than(ref, rows))  # type: ignore[return-value]

    def read_chunks(self, ref: BatchRef, rows: int) -> Iterator[pd.DataFrame]:
        chunks = self.inner.read_chunks(ref, rows)
        while True:
            chunk: pd.DataFrame | None = self._timed(lambda: next(chunks, None))  # type: ignore[assignment]
            if chunk is None:
                return
            self.meter.rows[self.role] += len(chunk)
            yield chunk

    def read_all(self) -> pd.DataFrame:
        frame: pd.DataFrame = self._timed(self.inner.read_all)  # type: ignore[assignment]
        self.meter.rows[self.role] += len(frame)
        return frame

    def reject(self, ref: BatchRef, reason: str, message: str) -> None:
        self.inner.reject(ref, reason, message)

    def accept(self, ref: BatchRef) -> None:
        self.inner.accept(ref)
