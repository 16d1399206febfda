"""mlmon: a Prometheus exporter for machine-learning models in production."""

import os as _os

from exporter.switches import turned_off as _turned_off

__version__ = "0.1.0"

# Arrow allocates what it reads (Parquet pages, file buffers) from its library-wide default pool, which
# it picks once, from ARROW_DEFAULT_MEMORY_POOL, when it is first loaded; pyarrow cannot change it
# afterwards. Its own allocator (mimalloc) hands freed memory back to the system and maps it again as
# huge pages that the kernel must clear, on every run. The C allocator keeps it for the next run (see
# exporter.allocator), so mlmon asks for it here, before anything loads Arrow, unless the variable is
# set already or MLMON_KEEP_FREED_MEMORY=0.
if not _turned_off("MLMON_KEEP_FREED_MEMORY"):
    _os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
