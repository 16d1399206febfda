"""Univariate drift methods, one module each, registered by name in exporter.drift.registry.

Importing this package (which importing any of its modules does first) imports every method module,
so ``METHODS`` is complete whichever module a caller names.
"""

from exporter.drift import chisquare, jensenshannon, ks, psi, wasserstein  # noqa: F401  (each registers itself)
from exporter.drift.registry import METHODS

__all__ = ["METHODS"]
