"""The calculator interface and its registry.

A monitor is fitted once on the reference profile (its fitted state is cached with the profile) and
then calculates plain figures for each evaluation window. It never touches Prometheus types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from exporter.figures import Figure, HistogramFigure
from exporter.registry import Registry

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference.profile import ReferenceProfile
    from exporter.window import Window

Fitted = dict[str, np.ndarray]
Output = list[Figure | HistogramFigure]


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


MONITORS: Registry[Monitor] = Registry("monitor")


def register(cls: type[Monitor]) -> type[Monitor]:
    MONITORS.add(cls.name, cls())
    return cls


def monitors_for(model: ModelConfig) -> list[Monitor]:
    """The monitors that apply to ``model``, in registration order (import ``exporter.monitors`` first)."""
    return [m for m in MONITORS.values() if m.applies(model)]
