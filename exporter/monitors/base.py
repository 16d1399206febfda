"""The calculator interface and its registry.

A monitor is fitted once on the reference profile (its fitted state is cached with the profile) and
then calculates plain figures for each evaluation window. It never touches Prometheus types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from exporter.figures import Figure, HistogramFigure

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference import ReferenceProfile

Fitted = dict[str, np.ndarray]
Output = list[Figure | HistogramFigure]


@dataclass
class Window:
    """The rows the figures of one run rest on.

    ``features`` holds the feature columns of the valid rows in the window, in the order they were
    scored; ``predictions`` / ``probabilities`` (columns ordered as ``classes``) / ``labels`` /
    ``labelled`` / ``scored_at`` / ``labelled_at`` are aligned with it. ``labels`` holds the true
    label where ``labelled`` is True (anything elsewhere). ``arrived`` holds the feature columns of
    the batches scored in this run exactly as they arrived, invalid rows included, for data quality.
    """

    features: pd.DataFrame
    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: np.ndarray | None
    labels: np.ndarray
    labelled: np.ndarray
    scored_at: np.ndarray
    labelled_at: np.ndarray
    arrived: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def rows(self) -> int:
        return len(self.predictions)

    @property
    def labelled_rows(self) -> int:
        return int(np.count_nonzero(self.labelled))


class Monitor:
    """Base class: subclasses set ``name`` and implement ``calculate`` (and ``fit`` when they need state)."""

    name: ClassVar[str]

    def applies(self, model: ModelConfig) -> bool:
        return True

    def fit(self, reference: ReferenceProfile, model: ModelConfig) -> Fitted:
        return {}

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        raise NotImplementedError


MONITORS: dict[str, Monitor] = {}


def register(cls: type[Monitor]) -> type[Monitor]:
    if cls.name in MONITORS:
        raise ValueError(f"monitor {cls.name} registered twice")
    MONITORS[cls.name] = cls()
    return cls


def monitors_for(model: ModelConfig) -> list[Monitor]:
    import exporter.monitors.all  # noqa: F401  (imports every monitor module so it registers)

    return [m for m in MONITORS.values() if m.applies(model)]


Factory = Callable[[], Monitor]
