"""What a scored batch leaves behind: per-row predictions only where a late label could join them,
and a window built from the batch in memory that equals the one read back from disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporter.app import build_app
from exporter.config import load_config
from exporter.figures import Figure

from helpers import binary_data, multiclass_data, regression_data, write_batch, write_project

DATA = {
    "binary_classification": binary_data,
    "multiclass_classification": multiclass_data,
    "regression": regression_data,
}
# figures about the run, the counters, the batch and the rows as they arrived (which a restarted
# exporter has not seen) rather than the window's rows
NOT_WINDOW = (
    "mlmon_last_run",
    "mlmon_calculator_duration",
    "mlmon_model_up",
    "mlmon_batch_rows",
    "mlmon_feature_missing",
    "mlmon_feature_out_of_range",
    "mlmon_feature_unseen",
    "mlmon_source_",
)


def _clock() -> float:
    return 1_700_000_000.0


def _window_figures(figures: tuple[object, ...]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (f.name, tuple(sorted(f.labels.items()))): f.value
        for f in figures
        if isinstance(f, Figure) and not f.name.startswith(NOT_WINDOW)
    }


@pytest.mark.parametrize("task", sorted(DATA))
def test_without_ids_nothing_is_kept_per_row_and_the_window_reads_back_the_same(tmp_path: Path, task: str) -> None:
    config = write_project(tmp_path, task, model_overrides={"id_column": None})
    features, labels = DATA[task](400, 3)
    labels = np.asarray(labels, dtype=object)
    labels[::7] = None  # some rows come without their label
    write_batch(tmp_path, "b1.parquet", features, labels)

    first = build_app(load_config(config), clock=_clock)
    in_memory = first.jobs[0].run()
    assert in_memory.scored == 1
    assert first.state.rows.predictions("m:1", first.state.seen_batches("m:1")).empty
    first.state.close()

    # a restart has no batch in memory: its first run reads the window back from disk
    second = build_app(load_config(config), clock=_clock)
    read_back = second.jobs[0].run()
    second.state.close()
    assert read_back.scored == 0
    ours, theirs = _window_figures(in_memory.figures), _window_figures(read_back.figures)
    assert ours.keys() == theirs.keys()
    for key, expected in theirs.items():
        assert ours[key] == pytest.approx(expected, abs=1e-12), key
    assert ("mlmon_labelled_rows_ratio", ()) in ours
    assert ours[("mlmon_window_rows", ())] == 400


def test_with_ids_every_scored_row_is_kept_for_its_late_label(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    features, labels = binary_data(120, 4)
    write_batch(tmp_path, "b1.csv", features, labels)
    app = build_app(load_config(config), clock=_clock)
    app.jobs[0].run()
    stored = app.state.rows.predictions("m:1", app.state.seen_batches("m:1"))
    app.state.close()
    assert len(stored) == 120
