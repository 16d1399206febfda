"""One complete monitoring cycle side by side with its peers, on seeded data at 10k, 100k and 1M rows.

Data: 30 numeric features of three shapes, a binary target from a fixed logistic relation, a logistic
regression fitted on a 10,000-row labelled reference, and one Parquet batch per size with its labels,
shifted a little from the reference. Each case runs in a fresh process (``cycle_cases.py``):

- **mlmon**: ``ModelJob.run`` on a dropped Parquet batch — read, validate, predict, store, evaluate
  every calculator on the window (the latest batch), publish — plus rendering ``/metrics``. The
  reference profile is fitted before timing, as a running exporter has it. ``calculators`` is the
  wall time of evaluating the window (every calculator; they may run side by side); the state store
  and window files are given in bytes per scored row; "one cycle's peak" is the peak memory of the
  first timed run, the peak column that of all of them in one process.
- **plain**: pandas reads the batch, scikit-learn predicts and computes accuracy, precision, recall,
  F1 and ROC AUC.
- **scipy loop**: ``scipy.stats.wasserstein_distance`` per column over the reference standard
  deviation (the data in memory).
- **nannyml**: ``UnivariateDriftCalculator`` (Wasserstein) ``calculate`` and ``CBPE`` (accuracy)
  ``estimate`` on the batch with its predictions in memory, both fitted on the reference beforehand.
- **evidently**: ``Report([DataDriftPreset()]).run`` on the batch's features in memory (at 10k and
  100k; 1M with ``--evidently-1m``).

NannyML and Evidently run in their own environment (``PEERS_PYTHON``, made by ``make bench``), since
Evidently 0.7.23 needs pandas < 3; a peer that is not installed there is skipped with a note.

The cases the targets compare (mlmon, plain, NannyML) run in ``--rounds`` rounds, one case after the
other, so a drift in the machine's speed over the minutes of a run does not favour one of them; each
keeps its best round, with the largest peak memory of its rounds.

Columns: the best of ``--repeats`` wall-clock times, the ratio of the case's time
to mlmon's (above 1, mlmon is faster; rounded down, as the targets judge it), the peak resident
memory above the process's own baseline, and the largest absolute difference between the case's
figures and mlmon's where both computed the same one (performance metrics, per-feature normed
Wasserstein, CBPE estimated accuracy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from bench_drift import synthetic_features, two_decimals
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
SEED = 20240601
FEATURES = 30
REFERENCE_ROWS = 10_000
MIN_REFERENCE_ROWS = 100
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 10_000)
SHIFT = 0.05
REPEATS = 3
# The machine's speed drifts over minutes (other load, the kernel's memory state): the cases the
# targets compare run in rounds, one after the other, and each keeps its best round.
ROUNDS = 2
RATIO_CASES = ("mlmon", "plain", "nannyml")
SINGLE_RUN_ROWS = 1_000_000  # the size the absolute targets are set at
PEERS = ("nannyml", "evidently")
EVIDENTLY_MAX_ROWS = 100_000
PIPELINE = "pipeline"  # the plain pipeline: the plain case and NannyML's drift and CBPE, one after the other
# issue 9's targets on the 2-core machine, at 1M rows x 30 features
CALCULATORS_TARGET_SECONDS = 0.6
CYCLE_TARGET_SECONDS = 1.5
PIPELINE_SPEEDUP_TARGET = 2.0  # mlmon's cycle at least this many times faster than the plain pipeline
MEMORY_TARGET = 2.0  # peak memory at most this many times the batch's numeric size


def speed_ratio(case_seconds: float, mlmon_seconds: float) -> float:
    """A case's time over mlmon's, rounded down to the two decimals printed, in the table and in the
    targets alike: mlmon's lead is never shown larger than it was, and 1.996 reads 1.99, MISSED,
    not 2.00."""
    return two_decimals(case_seconds / mlmon_seconds, up=False)


def targets(results: dict[int, dict[str, dict[str, object] | str]]) -> list[str]:
    """One line per target of issue 9 the measured sizes can judge, each saying met or missed."""
    lines: list[str] = []

    def judge(what: str, ok: bool) -> None:
        lines.append(f"{'met   ' if ok else 'MISSED'}  {what}")

    for rows, cases in sorted(results.items()):
        ours = cases.get("mlmon")
        if not isinstance(ours, dict):
            continue
        seconds = float(ours["seconds"])  # type: ignore[arg-type]
        if rows >= SINGLE_RUN_ROWS:
            calculators = float(ours["calculator_seconds"])  # type: ignore[arg-type]
            judge(
                f"{rows:,} rows: every calculator {calculators:.3f} s <= {CALCULATORS_TARGET_SECONDS} s",
                calculators <= CALCULATORS_TARGET_SECONDS,
            )
            judge(
                f"{rows:,} rows: full cycle {seconds:.3f} s <= {CYCLE_TARGET_SECONDS} s",
                seconds <= CYCLE_TARGET_SECONDS,
            )
            # below a million rows the process's fixed allocations, not the batch, set the peak
            batch = rows * (FEATURES + 1) * 8
            peak = int(ours.get("cycle_peak_bytes", ours["peak_bytes"]))  # type: ignore[call-overload]
            judge(
                f"{rows:,} rows: one cycle's peak memory {peak / 2**20:.0f} MB <= {MEMORY_TARGET:g} x the batch's "
                "numeric size "
                f"({MEMORY_TARGET * batch / 2**20:.0f} MB)",
                peak <= MEMORY_TARGET * batch,
            )
        combined = cases.get(PIPELINE)
        if isinstance(combined, dict):
            speedup = speed_ratio(float(combined["seconds"]), seconds)  # type: ignore[arg-type]
            judge(
                f"{rows:,} rows: plain pipeline / mlmon = {speedup:.2f} >= {PIPELINE_SPEEDUP_TARGET}",
                speedup >= PIPELINE_SPEEDUP_TARGET,
            )
        state = float(ours["state_bytes_per_row"])  # type: ignore[arg-type]
        # SQLite grows by pages: a batch's ledger row and counters may take a page of their own
        judge(f"{rows:,} rows: state store +{state:.2f} B/row for a model without ids (target 0)", state < 1.0)
    return lines


def best_of(earlier: dict[str, object] | str | None, outcome: dict[str, object] | str) -> dict[str, object] | str:
    """The faster of two rounds of one case, with the larger of their peak memories (a reason it could
    not run stands only when no round ran)."""
    if not isinstance(earlier, dict):
        return outcome
    if not isinstance(outcome, dict):
        return earlier
    best = dict(min(earlier, outcome, key=lambda o: float(o["seconds"])))  # type: ignore[arg-type]
    for peak in ("peak_bytes", "cycle_peak_bytes"):
        if peak in earlier and peak in outcome:
            best[peak] = max(int(earlier[peak]), int(outcome[peak]))  # type: ignore[call-overload]
    return best


def pipeline(
    plain: dict[str, object] | str | None, nannyml: dict[str, object] | str | None
) -> dict[str, object] | None:
    """The issue's plain pipeline (read, predict, 5 metrics, NannyML drift and CBPE) from its two measured parts."""
    if not isinstance(plain, dict) or not isinstance(nannyml, dict):
        return None
    return {
        "seconds": float(plain["seconds"]) + float(nannyml["seconds"]),  # type: ignore[arg-type]
        "peak_bytes": max(int(plain["peak_bytes"]), int(nannyml["peak_bytes"])),  # type: ignore[call-overload]
        "values": {**plain["values"], **nannyml["values"]},  # type: ignore[dict-item]
    }


def synthetic(rows: int, shift: float, rng: np.random.Generator) -> pd.DataFrame:
    """The drift benchmark's features, with a binary target from a fixed logistic relation."""
    frame = synthetic_features(rows, FEATURES, shift, rng)
    weights = np.random.default_rng(SEED).normal(0.0, 0.3, FEATURES)
    positive = 1.0 / (1.0 + np.exp(-(frame.to_numpy() @ weights - 0.5)))
    frame["target"] = (rng.random(rows) < positive).astype(int)
    return frame


def prepare(data: Path, sizes: list[int], reference_rows: int = REFERENCE_ROWS) -> None:
    rng = np.random.default_rng(SEED)
    reference = synthetic(reference_rows, 0.0, rng)
    reference.to_parquet(data / "reference.parquet", index=False)
    features = [c for c in reference.columns if c != "target"]
    model = LogisticRegression(max_iter=1000).fit(reference[features], reference["target"])
    joblib.dump(model, data / "model.joblib")
    synthetic(500, 0.0, rng).to_parquet(data / "warmup.parquet", index=False)
    for rows in sizes:
        synthetic(rows, SHIFT, rng).to_parquet(data / f"batch-{rows}.parquet", index=False)


def run_case(python: str, case: str, data: Path, rows: int, repeats: int) -> dict[str, object] | str:
    """The case's measurements, or the reason it could not run."""
    result = subprocess.run(
        [python, str(HERE / "cycle_cases.py"), case, str(data), str(rows), str(repeats)],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE.parent,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit {result.returncode}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def peer_available(python: str | None, case: str) -> str | None:
    """None when the peer imports in its environment, else why it is skipped."""
    if python is None:
        return "no benchmark environment (set PEERS_PYTHON, or run make bench)"
    probe = subprocess.run([python, "-c", f"import {case}"], capture_output=True, text=True, check=False)
    return None if probe.returncode == 0 else f"{case} does not import: {probe.stderr.strip().splitlines()[-1:]}"


def agreement(ours: dict[str, float], theirs: dict[str, float]) -> float | None:
    shared = ours.keys() & theirs.keys()
    return max(abs(ours[k] - theirs[k]) for k in shared) if shared else None


def table(rows: list[tuple[str, ...]]) -> str:
    header = ("rows", "case", "seconds", "ratio (case/mlmon)", "peak MB", "max |diff| vs mlmon", "note")
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i in (1, 6) else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in lines
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--rows", type=int, nargs="+", metavar="N", help="batch sizes to time")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs per case (best is kept)")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"rounds of the compared cases, one case after the other (default {ROUNDS}; 1 with --quick)",
    )
    parser.add_argument("--evidently-1m", action="store_true", help="run Evidently above 100k rows too")
    parser.add_argument(
        "--reference-rows",
        type=int,
        default=REFERENCE_ROWS,
        help=f"rows of the labelled reference every case fits on (default {REFERENCE_ROWS:,})",
    )
    parser.add_argument("--cases", nargs="+", default=["mlmon", "plain", "scipy", *PEERS], help="cases to run")
    args = parser.parse_args(argv)
    sizes = args.rows or list(QUICK_SIZES if args.quick else SIZES)
    if args.reference_rows < MIN_REFERENCE_ROWS:
        parser.error(f"--reference-rows must be at least {MIN_REFERENCE_ROWS}, for the model to fit on")
    args.rounds = args.rounds or (1 if args.quick else ROUNDS)
    peers_python = os.environ.get("PEERS_PYTHON") or None
    skipped = {case: peer_available(peers_python, case) for case in PEERS if case in args.cases}
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPU(s), {platform.machine()}"
    )
    print(
        f"reference {args.reference_rows:,} rows x {FEATURES} numeric features, binary logistic regression, "
        f"seed {SEED}; "
        f"best of {args.repeats} runs"
        + (
            f" in each of {args.rounds} rounds of {', '.join(RATIO_CASES)}, run one after the other"
            if args.rounds > 1
            else ""
        )
    )
    for case, reason in skipped.items():
        if reason:
            print(f"note: {case} skipped: {reason}")
    rows_out: list[tuple[str, ...]] = []
    measured: dict[int, dict[str, dict[str, object] | str]] = {}
    with tempfile.TemporaryDirectory(prefix="mlmon-cycle-") as folder:
        data = Path(folder)
        prepare(data, sizes, args.reference_rows)
        os.sync()  # the data's writes reach the disk before anything is timed
        for rows in sizes:
            repeats = args.repeats
            results: dict[str, dict[str, object] | str] = {}
            for round_ in range(args.rounds):
                for case in args.cases:
                    if round_ and case not in RATIO_CASES:
                        continue  # only the cases the targets compare are timed again
                    if case in PEERS:
                        if skipped.get(case):
                            continue
                        if case == "evidently" and rows > EVIDENTLY_MAX_ROWS and not args.evidently_1m:
                            results[case] = "not run above 100k rows (--evidently-1m runs it)"
                            continue
                        outcome = run_case(str(peers_python), case, data, rows, repeats)
                    else:
                        outcome = run_case(sys.executable, case, data, rows, repeats)
                    results[case] = best_of(results.get(case), outcome)
            combined = pipeline(results.get("plain"), results.get("nannyml"))
            if combined is not None:
                results[PIPELINE] = combined
            measured[rows] = results
            ours = results.get("mlmon")
            base = ours if isinstance(ours, dict) else None
            for case, outcome in results.items():
                if isinstance(outcome, str):
                    rows_out.append((f"{rows:,}", case, "-", "-", "-", "-", outcome))
                    continue
                seconds = float(outcome["seconds"])  # type: ignore[arg-type]
                ratio = "-" if base is None else f"{speed_ratio(seconds, float(base['seconds'])):.2f}"  # type: ignore[arg-type]
                difference = None if base is None or case == "mlmon" else agreement(base["values"], outcome["values"])  # type: ignore[arg-type]
                note = ""
                if case == PIPELINE:
                    note = "plain + nannyml: the issue's plain pipeline"
                if case == "mlmon":
                    note = (
                        f"calculators {float(outcome['calculator_seconds']):.3f} s; "  # type: ignore[arg-type]
                        f"state store +{float(outcome['state_bytes_per_row']):.1f} B/row, "  # type: ignore[arg-type]
                        f"window files {float(outcome['window_bytes_per_row']):.0f} B/row; "  # type: ignore[arg-type]
                        f"one cycle's peak {int(outcome['cycle_peak_bytes']) / 2**20:.0f} MB"  # type: ignore[call-overload]
                    )
                rows_out.append(
                    (
                        f"{rows:,}",
                        case,
                        f"{seconds:.3f}",
                        ratio,
                        f"{int(outcome['peak_bytes']) / 2**20:.0f}",  # type: ignore[call-overload]
                        "-" if difference is None else f"{difference:.1e}",
                        note,
                    )
                )
    print()
    print(table(rows_out))
    print()
    print("targets (issue 9; times hold on an otherwise idle machine):")
    for line in targets(measured):
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
