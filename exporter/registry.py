"""One registration pattern for every pluggable part: drift methods, monitors and sources.

Each pluggable package keeps its interface and its ``Registry`` in ``registry.py``; its
``__init__.py`` imports every member module, and each member registers itself with the package's
``register`` decorator. Callers import the package, never a member, so the registry is complete
without a lazy import, and no member imports its package's ``__init__`` back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Entries by name, in registration order; valid names are always taken from here."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name} registered twice")
        self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r} (known: {', '.join(self._entries)})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
