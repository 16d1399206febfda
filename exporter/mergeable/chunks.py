"""Reading a batch piece by piece: Parquet by row group (and within one, by ``rows``), CSV in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq


def is_parquet(path: Path) -> bool:
    return Path(path).suffix.lower() == ".parquet"


def read_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The batch at ``path`` as frames of at most ``rows`` rows, in order; only one is held at a time."""
    if is_parquet(path):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
        return
    with pd.read_csv(path, chunksize=rows) as reader:
        yield from reader


def row_groups(path: Path) -> int:
    return pq.ParquetFile(path).num_row_groups


def read_row_group(path: Path, index: int) -> pd.DataFrame:
    return pq.ParquetFile(path).read_row_group(index).to_pandas()
