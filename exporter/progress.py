"""A progress bar for long commands, drawn on standard error only when it is a terminal.

Under cron, CI or a pipe nothing is written, so logs stay clean.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(
        self, total: int, label: str, stream: TextIO | None = None, enabled: bool | None = None, every: float = 0.1
    ) -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = enabled if enabled is not None else bool(isatty and isatty())
        self.done = 0
        self.every = every
        self._drawn_at = 0.0

    def __enter__(self) -> Progress:
        self._draw()
        return self

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.done + steps, self.total) if self.total else self.done + steps
        now = time.monotonic()
        if now - self._drawn_at >= self.every or self.done == self.total:
            self._draw()

    def line(self) -> str:
        if self.total:
            share = self.done / self.total
            filled = int(round(share * WIDTH))
            return f"{self.label} [{'#' * filled}{' ' * (WIDTH - filled)}] {share:4.0%} {self.done}/{self.total}"
        return f"{self.label} {self.done}"

    def _draw(self) -> None:
        if not self.enabled:
            return
        self._drawn_at = time.monotonic()
        self.stream.write("\r" + self.line())
        self.stream.flush()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
