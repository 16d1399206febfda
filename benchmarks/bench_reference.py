"""Reference profile storage: format 1 (one archive per model) beside the shared store, at 1 and 100 models.

One reference profile of ``--rows`` rows x 30 numeric features is fitted with every monitor (a binary
model's outputs and labels included), then stored both ways in SQLite state files:

- **format 1**: each model keeps its own ``.npz`` archive in one row, loaded with ``np.load``;
- **shared**: the profile once by content and each array once by digest, every model mapped to it,
  loaded as views on the bytes read, and held once per process however many models use it.

Each load runs in a fresh process, so its resident memory (RSS after the load minus RSS before) is
its own. Format 1 at 100 models is not run: storing and holding a hundred copies would take a hundred
times the disk and memory of one, so its row is one copy's figures times 100 (marked "x100").

Usage: ``python benchmarks/bench_reference.py [--quick] [--rows N] [--models N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_drift import model_config, reference_profile, synthetic_features

from exporter.monitors import monitors_for
from exporter.reference.format1 import profile_from_npz, profile_to_npz
from exporter.reference.shared import SharedProfiles
from exporter.state import StateStore

FEATURES = 30
DEFAULT_ROWS = 1_000_000
QUICK_ROWS = 20_000
DEFAULT_MODELS = 100
QUICK_MODELS = 5
SEED = 20240601
HEADER = ("storage", "models", "stored MB", "load s", "resident MB", "note")


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build(rows: int, folder: Path, models: int) -> str:
    """Fit the profile and store it both ways; returns its fingerprint."""
    rng = np.random.default_rng(SEED)
    profile = reference_profile(synthetic_features(rows, FEATURES, 0.0, rng), rng)
    model = model_config()
    for monitor in monitors_for(model):
        profile.fitted[monitor.name] = monitor.fit(profile, model)
    with sqlite3.connect(folder / "format1.db") as db:
        db.execute("CREATE TABLE reference_profiles (model TEXT PRIMARY KEY, fingerprint TEXT, payload BLOB)")
        db.execute("INSERT INTO reference_profiles VALUES ('m0', ?, ?)", (profile.fingerprint, profile_to_npz(profile)))
    state = StateStore(folder / "shared.db")
    shared = SharedProfiles()
    shared.save(state, "m0", profile)
    for index in range(1, models):
        assert shared.load(state, f"m{index}", profile.fingerprint) is not None
    state.close()
    return profile.fingerprint


def load_format1(folder: Path) -> dict[str, float]:
    """One model's load as format 1 did it: its row read, its archive decoded."""
    before = resident_bytes()
    started = time.perf_counter()
    with sqlite3.connect(folder / "format1.db") as db:
        (payload,) = db.execute("SELECT payload FROM reference_profiles WHERE model = 'm0'").fetchone()
    profile = profile_from_npz(bytes(payload))
    del payload
    seconds = time.perf_counter() - started
    assert profile.features
    return {"seconds": seconds, "resident": resident_bytes() - before, "stored": (folder / "format1.db").stat().st_size}


def load_shared(folder: Path, models: int, fingerprint: str) -> dict[str, float]:
    """``models`` models' loads through one process's cache, as a ``run-once`` over all of them does."""
    state = StateStore(folder / "shared.db")
    shared = SharedProfiles()
    before = resident_bytes()
    started = time.perf_counter()
    profiles = [shared.load(state, f"m{index}", fingerprint) for index in range(models)]
    seconds = time.perf_counter() - started
    resident = resident_bytes() - before
    assert all(profile is profiles[0] for profile in profiles)
    state.close()
    return {"seconds": seconds, "resident": resident, "stored": (folder / "shared.db").stat().st_size}


def measure(case: str, folder: Path, models: int, fingerprint: str) -> dict[str, float]:
    """One load in a fresh process (this script with ``--load``)."""
    command = [sys.executable, __file__, "--load", case, str(folder), str(models), fingerprint]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def row(storage: str, models: int, figures: dict[str, float], note: str = "") -> tuple[str, ...]:
    return (
        storage,
        f"{models:,}",
        f"{figures['stored'] / 1e6:,.1f}",
        f"{figures['seconds']:.3f}",
        f"{figures['resident'] / 1e6:,.1f}",
        note,
    )


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)) for r in [HEADER, *rows]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows and {QUICK_MODELS} models")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--models", type=int, default=None)
    parser.add_argument("--load", nargs=4, metavar=("CASE", "FOLDER", "MODELS", "FINGERPRINT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        case, folder, count, fingerprint = args.load
        loaded = load_format1(Path(folder)) if case == "format1" else load_shared(Path(folder), int(count), fingerprint)
        print(json.dumps(loaded))
        return 0
    rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    models = args.models or (QUICK_MODELS if args.quick else DEFAULT_MODELS)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"reference: {rows:,} rows x {FEATURES} numeric features, every monitor fitted")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        fingerprint = build(rows, Path(folder), models)
        print(f"fitted and stored both ways in {time.perf_counter() - started:.1f} s")
        old = measure("format1", Path(folder), 1, fingerprint)
        one = measure("shared", Path(folder), 1, fingerprint)
        many = measure("shared", Path(folder), models, fingerprint)
    scaled = {name: value * models for name, value in old.items()}
    print(
        table(
            [
                row("format 1", 1, old),
                row("format 1", models, scaled, f"x{models}: one copy per model"),
                row("shared", 1, one),
                row("shared", models, many, "one copy for all"),
            ]
        )
    )
    print(
        f"ratio format 1 / shared: stored {old['stored'] / one['stored']:.2f}x at 1 model,"
        f" {scaled['stored'] / many['stored']:.1f}x at {models}; load {old['seconds'] / one['seconds']:.2f}x at 1,"
        f" {scaled['seconds'] / many['seconds']:.1f}x at {models}; resident"
        f" {scaled['resident'] / max(many['resident'], 1):.1f}x at {models}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
