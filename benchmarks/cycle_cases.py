"""One case of the cycle benchmark, run in a process of its own so its peak memory is its own.

Usage: ``python cycle_cases.py CASE DATA_DIR ROWS REPEATS``. Prints one JSON line: the best wall-clock
time of ``REPEATS`` runs, the peak resident memory above the process's own baseline (taken after the
set-up, just before the first timed run), and the figures the case computed, for the agreement column.

Cases (see ``bench_cycle.py`` for what each one times): ``mlmon``, ``plain``, ``scipy``, ``nannyml``,
``evidently``. The last two import their library, which lives in the benchmark's own environment.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if sys.argv[1:2] == ["mlmon"]:
    # as the mlmon command starts: importing exporter first picks Arrow's allocator (exporter.allocator)
    import exporter  # noqa: F401

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

Values = dict[str, float]


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> None:
    """Forget the process's peak resident memory so far (Linux): the set-up's own peak is not the case's."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def _peak_bytes() -> int:
    """The process's peak resident memory since ``_reset_peak`` (VmHWM), else over its whole life."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _features(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("f")]


def _frames(data: Path, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(data / "reference.parquet"), pd.read_parquet(data / f"batch-{rows}.parquet")


def _stored(state_dir: Path) -> tuple[int, int]:
    """Bytes of the state store's files, and of the window files beside them (``<state>.windows``)."""
    state = window = 0
    for path in state_dir.rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            if any(part.endswith(".windows") for part in path.relative_to(state_dir).parts):
                window += size
            else:
                state += size
    return state, window


def _timed(repeats: int, prepare: Callable[[int], None], run: Callable[[], Values]) -> tuple[float, Values]:
    best, values = float("inf"), {}
    for attempt in range(repeats):
        prepare(attempt)
        started = time.perf_counter()
        values = run()
        best = min(best, time.perf_counter() - started)
    return best, values


def _nothing(_: int) -> None:
    return None


# --- mlmon -----------------------------------------------------------------------------------
STAGE = """
import sys
from pathlib import Path
import pandas as pd
batch = pd.read_parquet(sys.argv[1])
for attempt in range(int(sys.argv[3])):
    batch.assign(attempt=attempt).to_parquet(Path(sys.argv[2]) / f"batch-{attempt}.parquet", index=False)
"""


def mlmon(data: Path, rows: int, repeats: int) -> dict[str, object]:
    from prometheus_client import generate_latest

    from exporter.allocator import keep_freed_memory
    from exporter.app import build_app
    from exporter.config import load_config
    from exporter.figures import Figure
    from exporter.model import file_digest

    keep_freed_memory()  # as the mlmon command does when it starts
    work = Path(tempfile.mkdtemp(prefix="mlmon-bench-"))
    incoming = work / "incoming"
    incoming.mkdir()
    config = work / "mlmon.yml"
    config.write_text(
        "state_path: state/mlmon.db\n"
        "models:\n"
        "  - name: bench\n"
        f"    model_path: {data / 'model.joblib'}\n"
        # the benchmark wrote this pickle itself, so it pins it (mlmon loads no unpinned pickle)
        f"    model_sha256: {file_digest(data / 'model.joblib')}\n"
        "    task: binary_classification\n"
        # the batch is written just before the run: nothing is still writing it
        f"    source: {{type: files, path: {incoming}, settle_seconds: 0}}\n"
        "    target_column: target\n"
        f"    reference_path: {data / 'reference.parquet'}\n"
    )
    app = build_app(load_config(config))
    job = app.jobs[0]
    # the wall time of evaluating the window, every calculator together (they may run side by side,
    # so their own durations overlap and do not add up)
    import exporter.job

    evaluations: list[float] = []
    evaluate = exporter.job.evaluate

    def timed_evaluate(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            evaluations.append(time.perf_counter() - started)

    exporter.job.evaluate = timed_evaluate  # type: ignore[assignment]
    # the first run fits the reference profile and scores a small batch: set-up, not timed
    shutil.copy(data / "warmup.parquet", incoming / "warmup.parquet")
    job.run()
    state_dir = work / "state"
    state_before, _ = _stored(state_dir)
    figures: list[object] = []
    first_peak: list[int] = []

    # mlmon knows a batch by its content: each timed run gets the same rows in a file of its own
    # content (one extra column), or the repeats would be recognised as the first batch again. They are
    # written before timing and each is renamed in when its run comes.
    # They are written by a process of their own: reading the batch here would grow this process's
    # heap, which keeps what is freed (exporter.allocator), and the cycle's peak would be measured from
    # a baseline that already holds a batch.
    staging = work / "staging"
    staging.mkdir()
    subprocess.run(
        [sys.executable, "-c", STAGE, str(data / f"batch-{rows}.parquet"), str(staging), str(repeats)], check=True
    )
    os.sync()  # the set-up's writes reach the disk now, not while a timed run writes its window file

    def prepare(attempt: int) -> None:
        name = f"batch-{attempt}.parquet"
        os.replace(staging / name, incoming / name)

    def run() -> Values:
        report = job.run()
        generate_latest(app.registry)
        if report.scored != 1:
            raise SystemExit(f"mlmon scored {report.scored} batches, expected 1")
        figures[:] = report.figures
        first_peak.append(_peak_bytes())  # the first is one cycle's own peak
        return {}

    _reset_peak()
    baseline = _resident_bytes()
    warmup = len(evaluations)
    seconds, _ = _timed(repeats, prepare, run)
    peak = _peak_bytes() - baseline
    cycle_peak = first_peak[0] - baseline
    state_after, window_after = _stored(state_dir)
    values: Values = {}
    for figure in figures:
        if not isinstance(figure, Figure):
            continue
        name = figure.name.removeprefix("mlmon_")
        if name in {"accuracy_ratio", "precision_ratio", "recall_ratio", "f1_ratio", "roc_auc_ratio"}:
            values[name.removesuffix("_ratio")] = figure.value
        elif name == "estimated_accuracy_ratio":
            values["estimated_accuracy"] = figure.value
        elif name in ("feature_drift_statistic", "feature_drift_distance"):
            values[f"drift:{figure.labels['feature']}"] = figure.value
    shutil.rmtree(work, ignore_errors=True)
    return {
        "seconds": seconds,
        "peak_bytes": peak,
        "values": values,
        "calculator_seconds": min(evaluations[warmup:]),
        # the peak of one cycle (the first timed run); ``peak_bytes`` is over every timed run of the
        # process, whose heap keeps what a run freed for the next (exporter.allocator)
        "cycle_peak_bytes": cycle_peak,
        # what the state store grew by per scored row, and the window files per row: the latest
        # batch's, and below 64 MiB the spare the next one is written over (exporter.window)
        "state_bytes_per_row": (state_after - state_before) / (rows * repeats),
        "window_bytes_per_row": window_after / rows,
    }


# --- the plain pipeline ------------------------------------------------------------------------
def plain(data: Path, rows: int, repeats: int) -> dict[str, object]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    model = joblib.load(data / "model.joblib")

    def run() -> Values:
        frame = pd.read_parquet(data / f"batch-{rows}.parquet")
        features = frame[_features(frame)]
        predicted = model.predict(features)
        positive = model.predict_proba(features)[:, 1]
        truth = frame["target"].to_numpy()
        return {
            "accuracy": accuracy_score(truth, predicted),
            "precision": precision_score(truth, predicted),
            "recall": recall_score(truth, predicted),
            "f1": f1_score(truth, predicted),
            "roc_auc": roc_auc_score(truth, positive),
        }

    _reset_peak()
    baseline = _resident_bytes()
    seconds, values = _timed(repeats, _nothing, run)
    return {"seconds": seconds, "peak_bytes": _peak_bytes() - baseline, "values": values}


# --- a per-column scipy loop --------------------------------------------------------------------
def scipy_loop(data: Path, rows: int, repeats: int) -> dict[str, object]:
    from scipy.stats import wasserstein_distance

    reference, batch = _frames(data, rows)

    def run() -> Values:
        values = {}
        for column in _features(reference):
            expected = reference[column].to_numpy()
            values[f"drift:{column}"] = wasserstein_distance(expected, batch[column].to_numpy()) / np.std(expected)
        return values

    _reset_peak()
    baseline = _resident_bytes()
    seconds, values = _timed(repeats, _nothing, run)
    return {"seconds": seconds, "peak_bytes": _peak_bytes() - baseline, "values": values}


# --- NannyML -----------------------------------------------------------------------------------
def _with_outputs(frame: pd.DataFrame, model: object) -> pd.DataFrame:
    features = frame[_features(frame)]
    frame = frame.copy()
    frame["prediction"] = model.predict(features)  # type: ignore[attr-defined]
    frame["probability"] = model.predict_proba(features)[:, 1]  # type: ignore[attr-defined]
    return frame


def nannyml(data: Path, rows: int, repeats: int) -> dict[str, object]:
    import warnings

    import nannyml as nml

    warnings.filterwarnings("ignore")
    model = joblib.load(data / "model.joblib")
    reference = _with_outputs(pd.read_parquet(data / "reference.parquet"), model)
    batch = _with_outputs(pd.read_parquet(data / f"batch-{rows}.parquet"), model)
    columns = _features(reference)
    drift = nml.UnivariateDriftCalculator(column_names=columns, continuous_methods=["wasserstein"], chunk_number=1)
    drift.fit(reference)
    estimator = nml.CBPE(
        y_pred_proba="probability",
        y_pred="prediction",
        y_true="target",
        problem_type="classification_binary",
        metrics=["accuracy"],
        chunk_number=1,
    )
    estimator.fit(reference)
    deviations = {column: float(np.std(reference[column].to_numpy())) for column in columns}

    def run() -> Values:
        drifted = drift.calculate(batch.drop(columns=["target"])).filter(period="analysis").to_df()
        estimated = estimator.estimate(batch.drop(columns=["target"])).filter(period="analysis").to_df()
        values = {f"drift:{c}": float(drifted[(c, "wasserstein", "value")].iloc[0]) / deviations[c] for c in columns}
        values["estimated_accuracy"] = float(estimated[("accuracy", "value")].iloc[0])
        return values

    _reset_peak()
    baseline = _resident_bytes()
    seconds, values = _timed(repeats, _nothing, run)
    return {"seconds": seconds, "peak_bytes": _peak_bytes() - baseline, "values": values}


# --- Evidently ---------------------------------------------------------------------------------
def evidently(data: Path, rows: int, repeats: int) -> dict[str, object]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, batch = _frames(data, rows)
    columns = _features(reference)
    reference, batch = reference[columns], batch[columns]

    def run() -> Values:
        snapshot = Report([DataDriftPreset()]).run(current_data=batch, reference_data=reference)
        values = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if config.get("type", "").endswith(":ValueDrift"):
                values[f"drift:{config['column']}"] = float(metric["value"])
        return values

    _reset_peak()
    baseline = _resident_bytes()
    seconds, values = _timed(repeats, _nothing, run)
    return {"seconds": seconds, "peak_bytes": _peak_bytes() - baseline, "values": values}


CASES = {"mlmon": mlmon, "plain": plain, "scipy": scipy_loop, "nannyml": nannyml, "evidently": evidently}


def main() -> int:
    case, data, rows, repeats = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(CASES[case](data, rows, repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
