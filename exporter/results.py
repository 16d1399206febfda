"""The latest published figures of every model, swapped in whole at the end of each run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from exporter.figures import Figure, HistogramFigure


@dataclass(frozen=True)
class Snapshot:
    model: str
    version: str
    figures: tuple[Figure | HistogramFigure, ...] = field(default_factory=tuple)


class Results:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[tuple[str, str], Snapshot] = {}
        self._globals: tuple[Figure, ...] = ()
        self._version = 0

    @property
    def version(self) -> int:
        """A number that changes whenever anything published changes, so a rendering can be kept until then."""
        with self._lock:
            return self._version

    def set_globals(self, figures: list[Figure]) -> None:
        """Figures about the exporter itself rather than a model (no model or version label)."""
        with self._lock:
            self._globals = tuple(figures)
            self._version += 1

    def globals(self) -> tuple[Figure, ...]:
        with self._lock:
            return self._globals

    def retain(self, keys: set[tuple[str, str]]) -> None:
        """Forget every model not in ``keys``: a model removed from the config stops being exported."""
        with self._lock:
            self._snapshots = {key: snap for key, snap in self._snapshots.items() if key in keys}
            self._version += 1

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshots[(snapshot.model, snapshot.version)] = snapshot
            self._version += 1

    def snapshots(self) -> list[Snapshot]:
        with self._lock:
            return [self._snapshots[key] for key in sorted(self._snapshots)]

    def get(self, model: str, version: str) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get((model, version))
