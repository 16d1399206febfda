"""The batch-source interface and its registry.

A source owns everything about where its batches live: its config model (registered with it, so the
config's ``source:`` block is a union built from this registry), how it lists and reads batches,
how it keeps its read position, and what it does with a batch the job rejects (a file source moves
it to quarantine; a table or an endpoint would write it to a dead-letter table or log). Above the
sources, a batch is a ``BatchRef``: an identity, a name for logs and an arrival time, never a path.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import pandas as pd
from pydantic import BaseModel, ConfigDict

from exporter.registry import Registry


class UnreadableBatch(Exception):
    """The batch exists but cannot be parsed into a table."""


class BatchGone(Exception):
    """The batch vanished between listing and reading (moved or deleted by someone else): not a failure."""


# Why a source could not be read at all in a run: nothing was read, so nothing is recorded or lost,
# and the next run starts from the same position.
SOURCE_FAILURE_REASONS = ("connection", "timeout", "auth", "status", "query")


class SourceUnavailable(Exception):
    """The database, endpoint or folder could not be read this run; the next run tries again."""

    def __init__(self, reason: str, message: str) -> None:
        assert reason in SOURCE_FAILURE_REASONS, reason
        super().__init__(message)
        self.reason = reason


class SourceConfig(BaseModel):
    """Base of every source's config model; ``type`` is the name the source is registered under."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str

    def relative_to(self, base_dir: Path) -> SourceConfig:
        """The config with its relative paths taken from ``base_dir`` (the config file's folder)."""
        return self

    def describe(self) -> str:
        """Where the batches come from, for people (``check-config``); never holds a secret."""
        return self.type

    def batch_problem(self) -> str | None:
        """Why this config can be read only whole (as a reference), not batch by batch; None when it can."""
        return None

    def problems(self) -> list[str]:
        """What would keep the source from being read (``check-config``), each as "key: why"."""
        return []


Identity = tuple[str, str | None]  # a batch's key and content digest (``BatchRef``)


class BatchRef:
    """One batch as a source hands it out.

    ``key`` is the batch's identity: the read position records it, so it is processed once. ``name``
    is for logs. ``content``, when the source knows one, is a digest of the batch's content: rows
    without an id column are known by it, so the same content arriving again is seen as already
    scored.

    A source may hand a batch out before its identity is worked out (``deferred``), when the batch
    is certainly new whatever its identity turns out to be: a file is then hashed while its rows are
    validated and scored. ``identified`` says whether the identity is known; ``key``, ``content`` and
    ``wait`` wait for it, and raise what working it out raised (``BatchGone`` when the batch changed
    or vanished meanwhile), every time they are asked.
    """

    __slots__ = ("_name", "_arrived_at", "_identity", "_identify", "_error", "_lock")

    def __init__(self, key: str, name: str, arrived_at: float, content: str | None = None) -> None:
        self._name, self._arrived_at = name, arrived_at
        self._identity: Identity | None = (key, content)
        self._identify: Callable[[], Identity] | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    @classmethod
    def deferred(cls, name: str, arrived_at: float, identify: Callable[[], Identity]) -> BatchRef:
        """A batch whose identity ``identify()`` gives, called once, when it is first asked for."""
        ref = cls("", name, arrived_at)
        ref._identity, ref._identify = None, identify
        return ref

    @property
    def name(self) -> str:
        return self._name

    @property
    def arrived_at(self) -> float:
        return self._arrived_at

    @property
    def identified(self) -> bool:
        """Whether the identity is known (asking for it would not wait)."""
        return self._identity is not None

    def wait(self) -> Identity:
        """The batch's key and content digest, once worked out."""
        with self._lock:
            if self._identity is None and self._error is None:
                assert self._identify is not None
                try:
                    self._identity = self._identify()
                except BaseException as error:  # noqa: BLE001  (raised again to every asker)
                    self._error = error
                self._identify = None
            if self._error is not None:
                raise self._error
            assert self._identity is not None
            return self._identity

    @property
    def key(self) -> str:
        return self.wait()[0]

    @property
    def content(self) -> str | None:
        return self.wait()[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchRef):
            return NotImplemented
        return (self.wait(), self.name, self.arrived_at) == (other.wait(), other.name, other.arrived_at)

    def __hash__(self) -> int:
        return hash((self.wait(), self.name, self.arrived_at))

    def __repr__(self) -> str:
        identity = repr(self._identity) if self._identity is not None else "(not yet known)"
        return f"BatchRef(name={self.name!r}, arrived_at={self.arrived_at!r}, identity={identity})"


class ReadPosition(Protocol):
    """What the state store recorded of one source: read as the source needs it.

    A batch's key is recorded in the same transaction as its results, so a source that encodes its
    position in the key (a watermark, a cursor) advances exactly when a batch is recorded.
    """

    def seen(self) -> set[str]:
        """Keys of every batch recorded so far."""
        ...

    def last(self) -> str | None:
        """Key of the batch recorded most recently, or None before the first."""
        ...


@dataclass(frozen=True)
class SourceContext:
    """What a source gets from the exporter besides its own config."""

    # a per-model folder a source may keep rejected batches in
    reject_dir: Path
    clock: Callable[[], float] = field(default=time.time)
    # the real time, for comparing with the times the outside world stamps (file modification times)
    wall_clock: Callable[[], float] = field(default=time.time)
    # a new batch of at most this many rows may be read while its identity is worked out, since it is
    # read whole next anyway (None: never); larger ones are read in chunks (``limits.max_batch_rows``)
    read_ahead_rows: int | None = None


class Source(ABC):
    """Base class: subclasses set ``name`` and ``Config`` and implement the three methods."""

    name: ClassVar[str]
    Config: ClassVar[type[SourceConfig]]

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context

    @abstractmethod
    def pending(self, position: ReadPosition) -> list[BatchRef]:
        """Batches not yet recorded, oldest first."""

    @abstractmethod
    def read(self, ref: BatchRef) -> pd.DataFrame:
        """The batch as a table; raises ``UnreadableBatch`` when it cannot be parsed, ``BatchGone`` when it vanished."""

    @abstractmethod
    def reject(self, ref: BatchRef, reason: str, message: str) -> None:
        """Keep a rejected batch aside with its reason, so it can be inspected and retried."""

    def accept(self, ref: BatchRef) -> None:  # noqa: B027  (most sources leave a processed batch where it is)
        """Called once a batch is recorded as processed; a source may move it out of the way."""

    def more_rows_than(self, ref: BatchRef, rows: int) -> bool:
        """Whether the batch holds more than ``rows`` rows, when the source can tell without reading it
        whole and can read it in chunks (``read_chunks``); False when it cannot."""
        return False

    def read_chunks(self, ref: BatchRef, rows: int) -> Iterator[pd.DataFrame]:
        """The batch as tables of at most ``rows`` rows, in order, one held at a time; raises as ``read``."""
        raise NotImplementedError(f"the {self.name} source reads a batch whole")

    def read_all(self) -> pd.DataFrame:
        """Every batch there is, as one table (reference data): what a first run would read."""
        frames = [self.read(ref) for ref in self.pending(_Start())]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class _Start:
    """The read position before anything was recorded."""

    def seen(self) -> set[str]:
        return set()

    def last(self) -> str | None:
        return None


SOURCES: Registry[type[Source]] = Registry("source")


def register(cls: type[Source]) -> type[Source]:
    SOURCES.add(cls.name, cls)
    return cls


def open_source(config: SourceConfig, context: SourceContext) -> Source:
    return SOURCES[config.type](config, context)
