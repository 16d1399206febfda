"""Where batches come from: one module per source type, registered by name (see ``registry``)."""

from exporter.sources import files, http, sql  # noqa: F401  (each source module registers itself)
from exporter.sources.registry import (
    SOURCE_FAILURE_REASONS,
    SOURCES,
    BatchGone,
    BatchRef,
    ReadPosition,
    Source,
    SourceConfig,
    SourceContext,
    SourceUnavailable,
    UnreadableBatch,
    open_source,
)

__all__ = [
    "SOURCE_FAILURE_REASONS",
    "SOURCES",
    "BatchGone",
    "BatchRef",
    "ReadPosition",
    "Source",
    "SourceConfig",
    "SourceContext",
    "SourceUnavailable",
    "UnreadableBatch",
    "open_source",
]
