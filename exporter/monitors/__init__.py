"""Calculators: one module per monitor, registered by name (see ``registry``).

Importing this package imports every monitor module, so ``MONITORS`` is complete.
"""

from exporter.monitors import (  # noqa: F401  (each monitor module registers itself)
    drift,
    estimation,
    label_availability,
    multivariate,
    output,
    output_drift,
    performance,
    quality,
)
from exporter.monitors.registry import MONITORS, Fitted, Monitor, Output, monitors_for, register

__all__ = ["MONITORS", "Fitted", "Monitor", "Output", "monitors_for", "register"]
