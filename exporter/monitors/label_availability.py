"""How much of the window has its label, and how late labels come.

A label that arrived with its batch was received when the row was scored, so its delay is 0; late
labels count from scoring to the run that joined them. Rows whose label time is unknown are left
out of the mean delay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exporter.figures import Figure
from exporter.monitors.registry import Fitted, Monitor, Output, register
from exporter.window import Window

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference.profile import ReferenceProfile


@register
class Labels(Monitor):
    name = "labels"

    def applies(self, model: ModelConfig) -> bool:
        return model.target_column is not None

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        if window.rows == 0:
            return []
        figures: Output = [Figure("mlmon_labelled_rows_ratio", window.labelled_rows / window.rows)]
        labelled = np.asarray(window.labelled, dtype=bool)
        delays = np.asarray(window.labelled_at, dtype=np.float64) - np.asarray(window.scored_at, dtype=np.float64)
        delays = delays[labelled & np.isfinite(delays)]
        if delays.size:
            figures.append(Figure("mlmon_label_delay_seconds", float(delays.mean())))
        return figures
