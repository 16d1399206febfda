"""A batch far larger than its chunks, monitored in chunks under a memory cap.

Writes a seeded Parquet batch of ``--rows`` rows (20 million by default) and ``--features`` numeric
features in row groups, with a binary target, then monitors it with ``exporter.mergeable`` in chunks of
``--chunk-rows``: validation, scoring, confusion counts and drift states per chunk, merged. Prints the
time, the peak resident memory of the whole process against the batch's numeric size and the cap,
and the figures; exits 1 when the peak passes ``--cap-mb``.

Usage: ``python benchmarks/bench_large_batch.py [--rows N] [--chunk-rows N] [--cap-mb MB]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression

from exporter.config import ModelConfig
from exporter.mergeable.batch import BatchMonitor, monitor_in_chunks
from exporter.model import LoadedModel
from exporter.monitors import monitors_for
from exporter.reference.building import build_profile

SEED = 20240601
WRITE_ROWS = 1_000_000


def _frame(rng: np.random.Generator, rows: int, features: int, shift: float) -> pd.DataFrame:
    frame = pd.DataFrame({f"f{i:02d}": rng.normal(shift * (i % 2), 1.0, rows) for i in range(features)})
    frame["target"] = (frame["f00"].to_numpy() + rng.normal(0, 1, rows) > 0).astype(np.int64)
    return frame


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    parser.add_argument("--cap-mb", type=float, default=1536.0, help="peak resident memory allowed")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    reference = _frame(rng, 10_000, args.features, 0.0)
    columns = [c for c in reference.columns if c != "target"]
    estimator = LogisticRegression().fit(reference[columns].to_numpy(), reference["target"])
    model = ModelConfig(name="large", model_path="m.joblib", source={"path": "in"}, target_column="target")
    profile = build_profile(reference[columns], [], fingerprint="large", classes=estimator.classes_)
    for monitor in monitors_for(model):
        profile.fitted[monitor.name] = monitor.fit(profile, model)
    loaded = LoadedModel(estimator, estimator.classes_, None, "large")
    with tempfile.TemporaryDirectory(prefix="mlmon-large-") as folder:
        path = Path(folder) / "batch.parquet"
        started = time.perf_counter()
        writer = None
        for start in range(0, args.rows, WRITE_ROWS):
            piece = pa.Table.from_pandas(_frame(rng, min(WRITE_ROWS, args.rows - start), args.features, 0.1))
            writer = writer or pq.ParquetWriter(path, piece.schema)
            writer.write_table(piece, row_group_size=args.chunk_rows)
        assert writer is not None
        writer.close()
        written = time.perf_counter() - started
        before = _peak_mb()
        started = time.perf_counter()
        figures = monitor_in_chunks(BatchMonitor(model, loaded, profile), path, args.chunk_rows)
        seconds = time.perf_counter() - started
    peak = _peak_mb()
    numeric_mb = args.rows * args.features * 8 / 2**20
    print(
        f"{args.rows:,} rows x {args.features} features ({numeric_mb:,.0f} MB as float64), written in {written:.1f} s"
    )
    print(
        f"monitored in chunks of {args.chunk_rows:,} rows in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s); "
        f"peak memory {peak:,.0f} MB (before monitoring {before:,.0f} MB), cap {args.cap_mb:,.0f} MB"
    )
    print(f"rows {figures.rows:,}; " + ", ".join(f"{k} {v:.4f}" for k, v in figures.performance.items()))
    worst = max(figures.drift.values(), key=lambda f: f.bound)
    print(
        f"drift: {len(figures.drift)} features by {worst.method}, scores "
        f"{min(f.score for f in figures.drift.values()):.4f}..{max(f.score for f in figures.drift.values()):.4f}, "
        f"largest error bound {worst.bound:.2e}"
    )
    return 0 if peak <= args.cap_mb and figures.rows == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())
