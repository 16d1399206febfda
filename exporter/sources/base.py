"""The batch-source interface and its registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

if TYPE_CHECKING:
    from exporter.config import SourceConfig


class UnreadableBatch(Exception):
    """The batch exists but cannot be parsed into a table."""


@dataclass(frozen=True)
class BatchRef:
    key: str  # stable identity: changes when the batch's content changes
    name: str  # for logs and quarantine
    path: Path
    arrived_at: float


class BatchSource(Protocol):
    def pending(self, seen: set[str]) -> list[BatchRef]:
        """Batches not yet processed, oldest first."""
        ...

    def read(self, ref: BatchRef) -> pd.DataFrame: ...


SOURCES: dict[str, Callable[[SourceConfig], BatchSource]] = {}


def register(name: str) -> Callable[[Callable[[SourceConfig], BatchSource]], Callable[[SourceConfig], BatchSource]]:
    def wrap(factory: Callable[[SourceConfig], BatchSource]) -> Callable[[SourceConfig], BatchSource]:
        SOURCES[name] = factory
        return factory

    return wrap


def open_source(config: SourceConfig) -> BatchSource:
    return SOURCES[config.type](config)
