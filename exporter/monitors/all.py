"""Imports every monitor module so each registers itself; the registry is the list of calculators."""

from exporter.monitors import (  # noqa: F401
    drift,
    estimation,
    labels,
    multivariate,
    output,
    output_drift,
    performance,
    quality,
)
