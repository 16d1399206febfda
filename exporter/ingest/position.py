"""A source's read position, as the state store recorded it."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.state import StateStore


@dataclass(frozen=True)
class RecordedPosition:
    """The batches recorded for one model, or its label files with ``labels=True``."""

    state: StateStore
    model_key: str
    labels: bool = False

    def seen(self) -> set[str]:
        if self.labels:
            return self.state.seen_label_files(self.model_key)
        return self.state.seen_batches(self.model_key)

    def last(self) -> str | None:
        if self.labels:
            return self.state.last_label_file(self.model_key)
        return self.state.last_batch(self.model_key)
