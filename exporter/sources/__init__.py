"""Where batches come from: one module per source type, registered by name (see ``registry``)."""

from exporter.sources import files  # noqa: F401  (each source module registers itself)
from exporter.sources.registry import (
    SOURCES,
    BatchRef,
    ReadPosition,
    Source,
    SourceConfig,
    SourceContext,
    UnreadableBatch,
    open_source,
)

__all__ = [
    "SOURCES",
    "BatchRef",
    "ReadPosition",
    "Source",
    "SourceConfig",
    "SourceContext",
    "UnreadableBatch",
    "open_source",
]
