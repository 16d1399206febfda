"""Models split across exporter replicas: ``--shard i/n`` keeps the models whose name hashes to ``i``.

The hash is SHA-256 of the model name, so a model stays on the same replica across restarts,
machines and Python versions (Python's own ``hash`` is salted per process), every version of a model
lands on the same replica, and adding a model never moves another. Shards count from 0, as
Prometheus's ``hashmod`` does: ``0/3``, ``1/3`` and ``2/3`` together cover every model exactly once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from exporter.config import Config

_FORM = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _FORM.match(text.strip())
        if match is None:
            raise ValueError(f"--shard takes i/n, such as 0/3, not {text!r}")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or index >= count:
            raise ValueError(f"--shard {text}: i must be between 0 and n - 1, and n at least 1")
        return cls(index, count)

    def owns(self, model_name: str) -> bool:
        digest = hashlib.sha256(model_name.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def select(self, config: Config) -> Config:
        """``config`` with only this shard's models."""
        return config.model_copy(update={"models": [m for m in config.models if self.owns(m.name)]})

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
