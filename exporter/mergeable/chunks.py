"""Reading a batch piece by piece: Parquet by row group (and within one, by ``rows``), CSV in chunks."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow.parquet as pq

BLOCK = 1 << 20


def is_parquet(path: Path) -> bool:
    return Path(path).suffix.lower() in (".parquet", ".pq")


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
    # a byte that is not UTF-8 becomes U+FFFD, as in a batch read whole
    with pd.read_csv(path, chunksize=rows, encoding_errors="replace") as reader:
        yield from reader


def more_rows_than(path: Path, rows: int) -> bool:
    """Whether the file at ``path`` holds more than ``rows`` rows, without reading it whole.

    Parquet says how many rows it holds. A CSV file's rows are counted as its lines after the header,
    and only as far as needed: a file of no more bytes than ``rows`` cannot hold more (each row ends in
    a newline), and counting stops once ``rows`` is passed. Blank lines and line breaks inside quoted
    cells count too, so a CSV file just under the limit may be taken as over it.
    """
    if is_parquet(path):
        return pq.ParquetFile(path).metadata.num_rows > rows
    compressed = Path(path).suffix.lower() == ".gz"
    if not compressed and path.stat().st_size <= rows:
        return False
    handle: IO[bytes]
    with gzip.open(path, "rb") if compressed else open(path, "rb") as handle:
        lines, last = 0, b"\n"
        for block in iter(lambda: handle.read(BLOCK), b""):
            lines += block.count(b"\n")
            last = block[-1:]
            if lines - 1 > rows:  # the header's line is not a row
                return True
    return lines - (last == b"\n") > rows  # a last line without a newline is a row too


def row_groups(path: Path) -> int:
    return pq.ParquetFile(path).num_row_groups


def read_row_group(path: Path, index: int) -> pd.DataFrame:
    return pq.ParquetFile(path).read_row_group(index).to_pandas()
