"""A batch far larger than its chunks, monitored in chunks under a memory cap.

Writes a seeded Parquet batch of ``--rows`` rows (20 million by default) and ``--features`` numeric
features in row groups, with a binary target, then monitors it in chunks of ``--chunk-rows``:

- ``--mode job`` (the default): as ``mlmon serve`` and ``mlmon run-once`` do, through one run of the
  model's job (``ModelJob.run``) on a files source, with ``limits.chunk_rows`` set to ``--chunk-rows``:
  the batch, being over ``limits.max_batch_rows``, is validated and scored chunk by chunk, recorded in
  one transaction and published as a window of its own;
- ``--mode state``: with ``exporter.mergeable`` alone (validation, scoring, confusion counts and drift
  states per chunk, merged), without the job, the state store or the publishing around it.

Prints the time, the peak resident memory of the whole process against the batch's numeric size and
the cap, and the figures; exits 1 when the peak passes ``--cap-mb`` or a row is missing.

Usage: ``python benchmarks/bench_large_batch.py [--mode job|state] [--rows N] [--chunk-rows N] [--cap-mb MB]``.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from sklearn.linear_model import LogisticRegression

from exporter.app import build_app
from exporter.config import ModelConfig, load_config
from exporter.mergeable.batch import BatchMonitor, monitor_in_chunks
from exporter.model import LoadedModel
from exporter.monitors import monitors_for
from exporter.reference.building import build_profile

SEED = 20240601
WRITE_ROWS = 1_000_000
REFERENCE_ROWS = 10_000


def _frame(rng: np.random.Generator, rows: int, features: int, shift: float) -> pd.DataFrame:
    frame = pd.DataFrame({f"f{i:02d}": rng.normal(shift * (i % 2), 1.0, rows) for i in range(features)})
    frame["target"] = (frame["f00"].to_numpy() + rng.normal(0, 1, rows) > 0).astype(np.int64)
    return frame


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_batch(rng: np.random.Generator, path: Path, rows: int, features: int, row_group: int) -> float:
    started = time.perf_counter()
    writer = None
    for start in range(0, rows, WRITE_ROWS):
        piece = pa.Table.from_pandas(_frame(rng, min(WRITE_ROWS, rows - start), features, 0.1))
        writer = writer or pq.ParquetWriter(path, piece.schema)
        writer.write_table(piece, row_group_size=row_group)
    assert writer is not None
    writer.close()
    return time.perf_counter() - started


def _through_the_state(
    args: argparse.Namespace, folder: Path, reference: pd.DataFrame, estimator: LogisticRegression
) -> tuple[str, int]:
    columns = [c for c in reference.columns if c != "target"]
    model = ModelConfig(name="large", model_path="m.joblib", source={"path": "in"}, target_column="target")
    profile = build_profile(reference[columns], [], fingerprint="large", classes=estimator.classes_)
    for monitor in monitors_for(model):
        profile.fitted[monitor.name] = monitor.fit(profile, model)
    loaded = LoadedModel(estimator, estimator.classes_, columns, "large")
    figures = monitor_in_chunks(BatchMonitor(model, loaded, profile), folder / "batch.parquet", args.chunk_rows)
    worst = max(figures.drift.values(), key=lambda f: f.bound)
    scores = [f.score for f in figures.drift.values()]
    return (
        f"rows {figures.rows:,}; "
        + ", ".join(f"{k} {v:.4f}" for k, v in figures.performance.items())
        + f"\ndrift: {len(figures.drift)} features by {worst.method}, scores {min(scores):.4f}..{max(scores):.4f},"
        f" largest error bound {worst.bound:.2e}"
    ), figures.rows


def _through_the_job(
    args: argparse.Namespace, folder: Path, reference: pd.DataFrame, estimator: LogisticRegression
) -> tuple[str, int]:
    """One run of the job on a files source holding the batch, as ``mlmon run-once`` makes it."""
    joblib.dump(estimator, folder / "model.joblib")
    reference.to_parquet(folder / "reference.parquet", index=False)
    model = {
        "name": "large",
        "model_path": "model.joblib",
        "model_sha256": hashlib.sha256((folder / "model.joblib").read_bytes()).hexdigest(),
        "source": {"type": "files", "path": "incoming", "settle_seconds": 0},
        "target_column": "target",
        "reference_path": "reference.parquet",
        # any batch of more than one chunk is read in chunks
        "limits": {"max_batch_rows": args.chunk_rows, "chunk_rows": args.chunk_rows},
    }
    (folder / "mlmon.yml").write_text(yaml.safe_dump({"state_path": "state/mlmon.db", "models": [model]}))
    job = build_app(load_config(folder / "mlmon.yml")).jobs[0]
    report = job.run()
    figures = {(f.name, tuple(sorted(f.labels.items()))): getattr(f, "value", None) for f in report.figures}

    def one(name: str, **labels: str) -> float:
        return float(figures[(name, tuple(sorted(labels.items())))] or 0.0)

    distances = [v for (name, _), v in figures.items() if name == "mlmon_feature_drift_distance" and v is not None]
    performance = ", ".join(
        f"{metric} {one(f'mlmon_{metric}_ratio'):.4f}"
        for metric in ("accuracy", "precision", "recall", "f1", "roc_auc")
    )
    return (
        f"scored {report.scored} batch(es), {report.rows:,} rows; window rows {one('mlmon_window_rows'):,.0f};"
        f" {performance}; log loss {one('mlmon_log_loss'):.4f}\n"
        f"drift: {len(distances)} features by wasserstein, distances {min(distances):.4f}..{max(distances):.4f};"
        f" predictions counted {one('mlmon_predictions'):,.0f}"
    ), report.rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("job", "state"), default="job")
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    parser.add_argument("--cap-mb", type=float, default=1536.0, help="peak resident memory allowed")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    reference = _frame(rng, REFERENCE_ROWS, args.features, 0.0)
    columns = [c for c in reference.columns if c != "target"]
    estimator = LogisticRegression().fit(reference[columns], reference["target"])
    with tempfile.TemporaryDirectory(prefix="mlmon-large-") as name:
        folder = Path(name)
        (folder / "incoming").mkdir()
        written = _write_batch(rng, folder / "incoming" / "batch.parquet", args.rows, args.features, args.chunk_rows)
        if args.mode == "state":
            (folder / "incoming" / "batch.parquet").rename(folder / "batch.parquet")
        before = _peak_mb()
        started = time.perf_counter()
        through = _through_the_job if args.mode == "job" else _through_the_state
        summary, rows = through(args, folder, reference, estimator)
        seconds = time.perf_counter() - started
    peak = _peak_mb()
    numeric_mb = args.rows * args.features * 8 / 2**20
    print(
        f"{args.rows:,} rows x {args.features} features ({numeric_mb:,.0f} MB as float64), written in {written:.1f} s"
    )
    print(
        f"monitored through the {args.mode} in chunks of {args.chunk_rows:,} rows in {seconds:.1f} s"
        f" ({args.rows / seconds:,.0f} rows/s); peak memory {peak:,.0f} MB (before monitoring {before:,.0f} MB),"
        f" cap {args.cap_mb:,.0f} MB: {'within' if peak <= args.cap_mb else 'OVER'} the cap"
    )
    print(summary)
    return 0 if peak <= args.cap_mb and rows == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())
