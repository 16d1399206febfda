"""Where batches come from: one module per source type, registered by name."""

from exporter.sources import files as _files  # noqa: F401  (registers the "files" source)
from exporter.sources.base import SOURCES, BatchRef, BatchSource, UnreadableBatch, open_source

__all__ = ["SOURCES", "BatchRef", "BatchSource", "UnreadableBatch", "open_source"]
