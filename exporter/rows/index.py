"""An in-memory index of int64 keys that grows by appending files, where the first live entry of a key wins.

Each appended file becomes a segment. Like a binary counter, the newest segment merges into the one
before it while it is at least as large, so there are O(log n) segments for a lookup to visit and an
entry is merged O(log n) times: recording a batch costs about its own size, not the whole store's.
Entries past the retention are retired by a mask and dropped at their segment's next merge. A key's
later entries are kept behind its first (a segment's ``shadow``), so retiring the first reveals the
next, as reading the files afresh would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Segment:
    keys: pd.Index  # unique within the segment; repeats of a key go to ``shadow``, in order
    alive: np.ndarray
    flags: np.ndarray  # rows: whether the row came with its label
    times: np.ndarray  # rows: scoring time; labels: the time they were received
    labels: np.ndarray | None  # labels only: the label of each entry
    shadow: Segment | None = None

    def chain(self) -> Iterator[Segment]:
        segment: Segment | None = self
        while segment is not None:
            yield segment
            segment = segment.shadow

    @property
    def entries(self) -> int:
        return sum(len(s.keys) for s in self.chain())


@dataclass
class Hits:
    """For each key looked up: whether it has a live entry, and that entry's flag, time and label."""

    found: np.ndarray
    flags: np.ndarray
    times: np.ndarray
    labels: np.ndarray | None


def _segment(keys: np.ndarray, flags: np.ndarray, times: np.ndarray, labels: np.ndarray | None) -> Segment:
    first = ~pd.Index(keys).duplicated()
    if first.all():
        return Segment(pd.Index(keys), np.ones(len(keys), dtype=bool), flags, times, labels)
    rest = ~first
    return Segment(
        pd.Index(keys[first]),
        np.ones(int(first.sum()), dtype=bool),
        flags[first],
        times[first],
        None if labels is None else labels[first],
        _segment(keys[rest], flags[rest], times[rest], None if labels is None else labels[rest]),
    )


def _live(segments: list[Segment], with_labels: bool) -> tuple[np.ndarray, ...]:
    """The live entries of ``segments``, each key's entries in the order they were appended."""
    parts = [s for segment in segments for s in segment.chain()]
    keys = np.concatenate([s.keys.to_numpy()[s.alive] for s in parts])
    flags = np.concatenate([s.flags[s.alive] for s in parts])
    times = np.concatenate([s.times[s.alive] for s in parts])
    labels = np.concatenate([s.labels[s.alive] for s in parts]) if with_labels else None  # type: ignore[index]
    return keys, flags, times, labels  # type: ignore[return-value]


class KeyIndex:
    def __init__(self, with_labels: bool = False) -> None:
        self.segments: list[Segment] = []
        self.with_labels = with_labels

    def __len__(self) -> int:
        return sum(int(np.count_nonzero(s.alive)) for segment in self.segments for s in segment.chain())

    def append(self, keys: np.ndarray, flags: np.ndarray, times: np.ndarray, labels: np.ndarray | None = None) -> None:
        """Add one file's entries, after every entry already in (which win for a repeated key)."""
        if not len(keys):
            return
        self.segments.append(_segment(keys, flags, times, labels if self.with_labels else None))
        while len(self.segments) > 1 and self.segments[-1].entries >= self.segments[-2].entries:
            newer = self.segments.pop()
            older = self.segments.pop()
            self.segments.append(_segment(*_live([older, newer], self.with_labels)))

    def lookup(self, keys: np.ndarray) -> Hits:
        rows = len(keys)
        hits = Hits(
            np.zeros(rows, dtype=bool),
            np.zeros(rows, dtype=bool),
            np.full(rows, np.nan),
            np.full(rows, None, dtype=object) if self.with_labels else None,
        )
        todo = np.arange(rows)
        for segment in self.segments:  # oldest first: the first live entry of a key wins
            if not len(todo):
                break
            todo = self._find(segment, keys, todo, hits)
        return hits

    def _find(self, segment: Segment, keys: np.ndarray, todo: np.ndarray, hits: Hits) -> np.ndarray:
        """Fill ``hits`` for the keys at ``todo`` live in ``segment``; returns the positions still unfound."""
        at = segment.keys.get_indexer(keys[todo])
        present = at >= 0
        hit = present.copy()
        hit[present] = segment.alive[at[present]]
        where, found_at = todo[hit], at[hit]
        hits.found[where] = True
        hits.flags[where] = segment.flags[found_at]
        hits.times[where] = segment.times[found_at]
        if hits.labels is not None and segment.labels is not None:
            hits.labels[where] = segment.labels[found_at]
        retired = present & ~hit  # the key's first entry here is retired: a later one may be live
        if segment.shadow is not None and retired.any():
            unfound = self._find(segment.shadow, keys, todo[retired], hits)
            return np.concatenate([todo[~present], unfound])
        return todo[~hit]

    def contains(self, keys: np.ndarray) -> np.ndarray:
        return self.lookup(keys).found

    def first_keys(self) -> np.ndarray:
        """Every key with a live entry, once."""
        if not self.segments:
            return np.empty(0, dtype=np.int64)
        return pd.unique(_live(self.segments, with_labels=False)[0])

    def retire(self, doomed: Callable[[Segment], np.ndarray]) -> int:
        """Retire the entries ``doomed`` picks in each segment (and behind it); returns how many went."""
        retired = 0
        for segment in self.segments:
            for s in segment.chain():
                going = doomed(s) & s.alive
                retired += int(np.count_nonzero(going))
                s.alive &= ~going
        return retired
