"""Feature drift through mlmon's monitor against a plain per-column scipy loop, on seeded synthetic data.

The mlmon side is what a scheduled run pays per window: ``FeatureDrift.calculate`` on a reference profile
built once beforehand (its build time is printed apart). The naive side calls scipy on the raw, unsorted
reference and window columns, as a script without a profile would. Both sides compute the same numbers:
the largest difference between their scores is printed, and the run fails if it exceeds rounding.

Usage: ``python benchmarks/bench_drift.py [--quick] [--rows N [N ...]]`` (``make bench`` runs the default).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
import scipy
from scipy.stats import ks_2samp, wasserstein_distance

from exporter.config import ModelConfig
from exporter.drift import wasserstein_kernel
from exporter.drift.selection import SMALL_REFERENCE_ROWS
from exporter.drift.wasserstein import RUNS_RATIO
from exporter.figures import Figure
from exporter.monitors import Fitted, monitors_for
from exporter.monitors.drift import FeatureDrift
from exporter.reference.building import build_profile
from exporter.reference.profile import ReferenceProfile
from exporter.window import Window

DEFAULT_REFERENCE_ROWS = 10_000
DEFAULT_WINDOW_ROWS = (10_000, 100_000, 1_000_000)
QUICK_REFERENCE_ROWS = 2_000
QUICK_WINDOW_ROWS = (1_000, 10_000)
FEATURES = 30
# (window and small reference rows, large reference rows) for the reference-size comparison
SCALING = (10_000, 1_000_000)
# the target: drift cost follows the window, within this factor whatever the reference's size
REFERENCE_RATIO_TARGET = 2.0
# rounds of the reference-size comparison, each case once a round
SCALING_ROUNDS = 12
QUICK_SCALING = (2_000, 50_000)
SEED = 20240601
# A window this large is timed once: repeating it would take most of the run and the spread is small.
SINGLE_RUN_ROWS = 1_000_000
REPEATS = 3
# Scores are the same statistic computed two ways; anything beyond rounding means the sides differ.
TOLERANCE = 1e-9
# Windows are shifted a little from the reference, so the two samples differ as production data does.
WINDOW_SHIFT = 0.05
CLASSES = np.array([0, 1])

Scores = dict[str, float]
T = TypeVar("T")
HEADER = ("case", "rows", "mlmon s", "naive s", "ratio (naive/mlmon)", "mlmon rows/s", "naive rows/s", "max |diff|")


@dataclass(frozen=True)
class Measurement:
    case: str
    rows: int
    mlmon_seconds: float
    naive_seconds: float | None = None
    max_difference: float | None = None


def synthetic_features(rows: int, features: int, shift: float, rng: np.random.Generator) -> pd.DataFrame:
    """Continuous columns of three shapes (normal, skewed, heavy-tailed), so the sorts see varied data."""
    columns: dict[str, np.ndarray] = {}
    for index in range(features):
        shape = index % 3
        if shape == 0:
            values = rng.normal(shift, 1.0, rows)
        elif shape == 1:
            values = rng.lognormal(shift, 0.5, rows)
        else:
            values = rng.standard_t(5, rows) + shift
        columns[f"f{index:02d}"] = values
    return pd.DataFrame(columns)


def model_outputs(features: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions, probabilities and true labels of a fixed logistic model, for the monitors that need them."""
    weights = np.random.default_rng(SEED).normal(0.0, 0.3, features.shape[1])
    positive = 1.0 / (1.0 + np.exp(-(features.to_numpy() @ weights - 0.5)))
    truth = (rng.random(len(features)) < positive).astype(int)
    return (positive >= 0.5).astype(int), np.column_stack([1.0 - positive, positive]), truth


def reference_profile(features: pd.DataFrame, rng: np.random.Generator) -> ReferenceProfile:
    predictions, probabilities, labels = model_outputs(features, rng)
    return build_profile(
        features,
        [],
        fingerprint="benchmark",
        classes=CLASSES,
        predictions=predictions,
        probabilities=probabilities,
        labels=labels,
    )


def window_of(features: pd.DataFrame, rng: np.random.Generator) -> Window:
    rows = len(features)
    predictions, probabilities, truth = model_outputs(features, rng)
    labelled = rng.random(rows) < 0.5
    return Window(
        features=features,
        predictions=predictions,
        probabilities=probabilities,
        classes=CLASSES,
        labels=truth.astype(object),
        labelled=labelled,
        scored_at=np.zeros(rows),
        labelled_at=np.where(labelled, 60.0, np.nan),
        arrived=features,
    )


def model_config(**settings: object) -> ModelConfig:
    return ModelConfig(
        name="benchmark", model_path="model.joblib", source={"path": "incoming"}, target_column="target", **settings
    )


def mlmon_drift(window: Window, profile: ReferenceProfile, fitted: Fitted, model: ModelConfig) -> Scores:
    figures = FeatureDrift().calculate(window, profile, fitted, model)
    scores = ("mlmon_feature_drift_statistic", "mlmon_feature_drift_distance")
    return {f.labels["feature"]: f.value for f in figures if isinstance(f, Figure) and f.name in scores}


def naive_wasserstein(reference: pd.DataFrame, window: pd.DataFrame) -> Scores:
    # scaled by the reference standard deviation, as mlmon publishes it, so the scores can be compared
    scores = {}
    for column in reference.columns:
        expected = reference[column].to_numpy()
        scores[column] = wasserstein_distance(expected, window[column].to_numpy()) / np.std(expected)
    return scores


def naive_ks(reference: pd.DataFrame, window: pd.DataFrame) -> Scores:
    return {
        column: float(ks_2samp(reference[column].to_numpy(), window[column].to_numpy()).statistic)
        for column in reference.columns
    }


def best_of(repeats: int, run: Callable[[], T]) -> tuple[float, T]:
    """The shortest of ``repeats`` (at least one) wall-clock timings, and the result of the last run."""
    timings = []
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def largest_difference(case: str, ours: Scores, theirs: Scores) -> float:
    if ours.keys() != theirs.keys():
        raise SystemExit(f"{case}: the two sides scored different features")
    worst = max(abs(ours[name] - theirs[name]) / max(1.0, abs(theirs[name])) for name in ours)
    if worst > TOLERANCE:
        raise SystemExit(f"{case}: scores differ by {worst:.3g}, so the two sides do not compute the same thing")
    return worst


def run_monitors(window: Window, profile: ReferenceProfile, model: ModelConfig) -> int:
    """Every calculator a scheduled run applies to an assembled window; returns how many figures they made."""
    return sum(
        len(monitor.calculate(window, profile, profile.fitted.get(monitor.name, {}), model))
        for monitor in monitors_for(model)
    )


def measure(reference_rows: int, window_rows: list[int], features: int) -> tuple[list[Measurement], float]:
    rng = np.random.default_rng(SEED)
    reference = synthetic_features(reference_rows, features, 0.0, rng)
    started = time.perf_counter()
    profile = reference_profile(reference, rng)
    everything = model_config()
    for monitor in monitors_for(everything):
        profile.fitted[monitor.name] = monitor.fit(profile, everything)
    profile_seconds = time.perf_counter() - started
    cases: list[tuple[str, ModelConfig, Callable[[pd.DataFrame, pd.DataFrame], Scores]]] = [
        ("wasserstein (auto)", model_config(), naive_wasserstein),
        ("ks (forced)", model_config(drift={"method": "ks"}), naive_ks),
    ]
    measurements = []
    for rows in window_rows:
        frame = synthetic_features(rows, features, WINDOW_SHIFT, rng)
        window = window_of(frame, rng)
        repeats = 1 if rows >= SINGLE_RUN_ROWS else REPEATS
        for case, model, naive in cases:
            fitted = FeatureDrift().fit(profile, model)
            ours_seconds, ours = best_of(repeats, partial(mlmon_drift, window, profile, fitted, model))
            naive_seconds, theirs = best_of(repeats, partial(naive, reference, frame))
            difference = largest_difference(case, ours, theirs)
            measurements.append(Measurement(case, rows, ours_seconds, naive_seconds, difference))
        seconds, _ = best_of(repeats, partial(run_monitors, window, profile, everything))
        measurements.append(Measurement("all monitors", rows, seconds))
    return measurements, profile_seconds


def through_numpy_calls(run: Callable[[], T]) -> T:
    """``run()`` with large references compared through the numpy calls, as without numba (``MLMON_JIT=0``)."""
    saved = os.environ.get(wasserstein_kernel.JIT_ENVIRONMENT)
    os.environ[wasserstein_kernel.JIT_ENVIRONMENT] = "0"
    try:
        return run()
    finally:
        if saved is None:
            del os.environ[wasserstein_kernel.JIT_ENVIRONMENT]
        else:
            os.environ[wasserstein_kernel.JIT_ENVIRONMENT] = saved


def reference_scaling(
    window_rows: int, reference_rows: tuple[int, ...], features: int, *, numpy_too: bool = False
) -> dict[str, list[float]]:
    """Feature drift of two windows against references of each size: a run's cost should follow the
    window, not the reference. Returns, for each window, the best time against each reference, and
    with ``numpy_too`` one more: against the last (largest) reference through the numpy calls.

    One window is shifted from the reference as the others here are; the other is drawn like it, as
    most production windows are, so the two quantile functions cross often and more runs are read.
    Every reference is built first, then the cases take turns, one run each per round, so a slow
    spell of the machine falls on all of them rather than on whichever ran then."""
    rng = np.random.default_rng(SEED)
    windows = {
        name: window_of(synthetic_features(window_rows, features, shift, rng), rng)
        for name, shift in (("shifted", WINDOW_SHIFT), ("drawn like the reference", 0.0))
    }
    model = model_config()
    runs: list[tuple[str, int, Callable[[], Scores]]] = []
    for column, rows in enumerate(reference_rows):
        profile = build_profile(synthetic_features(rows, features, 0.0, rng), [], fingerprint="scaling")
        fitted = FeatureDrift().fit(profile, model)
        for name, window in windows.items():
            run = partial(mlmon_drift, window, profile, fitted, model)
            runs.append((name, column, run))
            if numpy_too and column == len(reference_rows) - 1:
                runs.append((name, column + 1, partial(through_numpy_calls, run)))
    columns = len(reference_rows) + numpy_too
    timings = {name: [float("inf")] * columns for name in windows}
    for _ in range(SCALING_ROUNDS):
        for name, column, run in runs:
            timings[name][column] = min(timings[name][column], best_of(1, run)[0])
    return timings


def large_reference_path() -> str:
    """How this process compares a window with a reference over RUNS_RATIO times its size."""
    if wasserstein_kernel.compiled() is None:
        if importlib.util.find_spec("numba") is None:
            reason = "numba is not installed: pip install '.[fast]'"
        elif wasserstein_kernel.turned_off():
            reason = f"{wasserstein_kernel.JIT_ENVIRONMENT}={os.environ[wasserstein_kernel.JIT_ENVIRONMENT]}"
        else:
            reason = "numba could not compile the loop: see the warning above"
        return f"the numpy calls ({reason})"
    return f"the compiled loop (numba {importlib.metadata.version('numba')})"


def table(measurements: list[Measurement]) -> str:
    lines = [HEADER]
    for m in measurements:
        naive = m.naive_seconds
        lines.append(
            (
                m.case,
                f"{m.rows:,}",
                f"{m.mlmon_seconds:.4f}",
                "-" if naive is None else f"{naive:.4f}",
                "-" if naive is None else f"{naive / m.mlmon_seconds:.2f}",
                f"{m.rows / m.mlmon_seconds:,.0f}",
                "-" if naive is None else f"{m.rows / naive:,.0f}",
                "-" if m.max_difference is None else f"{m.max_difference:.1e}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in lines
    )


def two_decimals(value: float, *, up: bool) -> float:
    """``value`` rounded to the two decimals a benchmark prints, up or down, so that a target is judged
    on the figure printed beside it (the small term absorbs binary rounding: 0.009 / 0.003 reads 3.00
    either way)."""
    return math.ceil(value * 100 - 1e-9) / 100 if up else math.floor(value * 100 + 1e-9) / 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, for a smoke test")
    parser.add_argument("--rows", type=int, nargs="+", metavar="N", help="window sizes (rows) to time")
    parser.add_argument("--reference-rows", type=int, help="rows of the reference")
    parser.add_argument("--features", type=int, default=FEATURES, help="numeric features per row")
    args = parser.parse_args(argv)
    reference_rows = args.reference_rows or (QUICK_REFERENCE_ROWS if args.quick else DEFAULT_REFERENCE_ROWS)
    window_rows = args.rows or list(QUICK_WINDOW_ROWS if args.quick else DEFAULT_WINDOW_ROWS)
    if reference_rows <= SMALL_REFERENCE_ROWS:
        parser.error(f"--reference-rows must exceed {SMALL_REFERENCE_ROWS}, where the automatic method is Wasserstein")
    if min(window_rows) < 1 or args.features < 1:
        parser.error("--rows and --features must be positive")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}, {os.cpu_count()} CPU(s)"
    )
    print(
        f"reference {reference_rows:,} rows x {args.features} numeric features, seed {SEED}; "
        f"best of {REPEATS} runs (1 from {SINGLE_RUN_ROWS:,} rows)"
    )
    measurements, profile_seconds = measure(reference_rows, window_rows, args.features)
    print(f"reference profile and monitor fits, built once per reference: {profile_seconds:.3f} s\n")
    small, large = QUICK_SCALING if args.quick else SCALING
    # A reference as large as the window pairs values of the same rank, a path of its own; one row more
    # takes the general path, which a reference of any other size takes too.
    compiled = wasserstein_kernel.compiled() is not None
    print(f"large references (over {RUNS_RATIO}x the window) compared by {large_reference_path()}")
    ratios = []
    for name, (against_small, against_general, against_large, *numpy) in reference_scaling(
        small, (small, small + 1, large), args.features, numpy_too=compiled
    ).items():
        # judged as printed, rounded up: a ratio of 2.004 reads 2.01, MISSED, never 2.00 beside a MISSED
        ratio = two_decimals(against_large / against_small, up=True)
        ratios.append(ratio)
        print(
            f"feature drift of a {small:,}-row window {name}: {against_small:.4f} s against a {small:,}-row "
            f"reference (equal sizes), {against_general:.4f} s against a {small + 1:,}-row one, "
            f"{against_large:.4f} s against a {large:,}-row one; ratio {ratio:.2f} to the first, "
            f"{against_large / against_general:.2f} to the second (best of {SCALING_ROUNDS} rounds)"
        )
        if numpy:
            print(
                f"  the same against the {large:,}-row one through the numpy calls (MLMON_JIT=0, or without "
                f"numba): {numpy[0]:.4f} s; ratio {two_decimals(numpy[0] / against_small, up=True):.2f} to the first"
            )
    worst = max(ratios)
    verdict = "met" if worst <= REFERENCE_RATIO_TARGET else "MISSED"
    print(
        f"target (issue 9): {verdict}  a {small:,}-row window against a {large:,}-row reference within "
        f"{REFERENCE_RATIO_TARGET:g}x of a {small:,}-row reference, for both windows: {worst:.2f}x\n"
    )
    print(table(measurements))
    return 0


if __name__ == "__main__":
    sys.exit(main())
