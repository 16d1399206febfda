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
        # row group by row group: a streaming batch reader keeps Arrow memory growing over a file
        parquet = pq.ParquetFile(path)
        for index in range(parquet.num_row_groups):
            group = parquet.read_row_group(index)
            for start in range(0, group.num_rows, rows):
                yield group.slice(start, rows).to_pandas()
            del group
        return
    with pd.read_csv(path, chunksize=rows) as reader:
        yield from reader


def row_groups(path: Path) -> int:
    return pq.ParquetFile(path).num_row_groups


def read_row_group(path: Path, index: int) -> pd.DataFrame:
    return pq.ParquetFile(path).read_row_group(index).to_pandas()
