"""Reading the same rows through each source: a Parquet file, SQLite, PostgreSQL and an HTTP endpoint.

Each case reads every row of one seeded table through the source's own ``pending`` and ``read``, as
a scheduled run does (SQL in ``chunk_rows`` chunks past a watermark, HTTP in pages past a cursor),
and the rows read back must equal the rows written: the largest difference is printed, and the run
fails if any value differs. The table gives the best time of ``--repeats`` runs, rows per second
and the ratio to the Parquet file. PostgreSQL runs where Debian's ``postgresql`` package is installed
(a throwaway cluster on a loopback port); the HTTP server is the tests' local one.

Usage: ``python benchmarks/bench_sources.py [--quick] [--rows N [N ...]] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from exporter.sources import SourceContext, open_source  # noqa: E402
from exporter.sources.files import FilesConfig  # noqa: E402
from exporter.sources.http import HttpConfig  # noqa: E402
from exporter.sources.sql import SqlConfig  # noqa: E402

from support.endpoint import Endpoint  # noqa: E402
from support.postgres import PostgresCluster, _server_bin  # noqa: E402

DEFAULT_ROWS = (10_000, 100_000)
QUICK_ROWS = (2_000,)
CHUNK_ROWS = 10_000
FEATURES = 10
SEED = 20240601
HEADER = ("rows", "source", "seconds", "rows/s", "ratio (source/file)", "max |diff|")


class Start:
    """The read position of a first run: nothing recorded yet."""

    def seen(self) -> set[str]:
        return set()

    def last(self) -> str | None:
        return None


def table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    frame = pd.DataFrame(rng.normal(size=(rows, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    frame.insert(0, "id", np.arange(rows))
    frame["target"] = rng.integers(0, 2, rows)
    return frame


def read_through(config: object, workdir: Path) -> pd.DataFrame:
    source = open_source(config, SourceContext(reject_dir=workdir / "rejected"))  # type: ignore[arg-type]
    frames = [source.read(ref) for ref in source.pending(Start())]
    return pd.concat(frames, ignore_index=True)


def max_diff(read: pd.DataFrame, written: pd.DataFrame) -> float:
    if list(read.columns) != list(written.columns) or len(read) != len(written):
        return float("inf")
    read = read.sort_values("id").reset_index(drop=True)
    return float(np.abs(read.to_numpy(dtype=float) - written.to_numpy(dtype=float)).max())


@contextmanager
def cases(frame: pd.DataFrame, workdir: Path) -> Iterator[dict[str, object]]:
    """Each source's config, reading ``frame`` from where it was written."""
    found: dict[str, object] = {}
    folder = workdir / "files"
    folder.mkdir()
    frame.to_parquet(folder / "batch.parquet", index=False)
    found["parquet file"] = FilesConfig(path=folder, settle_seconds=0)
    sql = {"table": "rows", "watermark_column": "id", "chunk_rows": CHUNK_ROWS, "max_rows_per_run": len(frame)}
    sqlite = f"sqlite:///{workdir / 'rows.db'}"
    _write(sqlite, frame)
    found["sqlite"] = SqlConfig(url=sqlite, **sql)
    with ExitStack() as stack:
        if _server_bin() is not None:
            cluster = stack.enter_context(PostgresCluster())
            url = cluster.create_database("bench")
            _write(url, frame)
            found["postgresql"] = SqlConfig(url=url, **sql)
        for fmt in ("jsonl", "csv"):
            endpoint = stack.enter_context(Endpoint(rows=frame, fmt=fmt, page_size=CHUNK_ROWS))
            found[f"http {fmt}"] = HttpConfig(
                url=f"{endpoint.url}/rows",
                format=fmt,
                cursor_param="since",
                cursor_column="id",
                max_rows_per_run=len(frame),
            )
        yield found


def _write(url: str, frame: pd.DataFrame) -> None:
    engine = sqlalchemy.create_engine(url)
    try:
        frame.to_sql("rows", engine, index=False, chunksize=10_000)
    finally:
        engine.dispose()


def best(call: Callable[[], pd.DataFrame], repeats: int) -> tuple[float, pd.DataFrame]:
    times, result = [], pd.DataFrame()
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--rows", type=int, nargs="+")
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args(argv)
    sizes = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    repeats = args.repeats or (1 if args.quick else 3)
    lines = [HEADER]
    failed = False
    for rows in sizes:
        frame = table(rows)
        with tempfile.TemporaryDirectory(prefix="mlmon-bench-sources-") as tmp, cases(frame, Path(tmp)) as found:
            baseline = None
            for name, config in found.items():
                seconds, read = best(lambda config=config: read_through(config, Path(tmp)), repeats)
                baseline = baseline or seconds
                diff = max_diff(read, frame)
                failed |= diff != 0
                lines.append(
                    (
                        f"{rows:,}",
                        name,
                        f"{seconds:.3f}",
                        f"{rows / seconds:,.0f}",
                        f"{seconds / baseline:.1f}",
                        f"{diff:g}",
                    )
                )
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    if failed:
        print("a source read back rows that differ from those written", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
