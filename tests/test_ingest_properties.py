"""Property tests: whatever bytes or cells a batch or label file holds, ingestion gives only the
project's own outcomes, and every row it read is either scored or counted once by its reason."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from exporter.config import ModelConfig
from exporter.ingest.batches import BatchIngestor
from exporter.ingest.label_files import ingest_labels
from exporter.ingest.position import RecordedPosition
from exporter.ingest.validation import BATCH_FAILURE_REASONS
from exporter.model import LoadedModel
from exporter.reference.keeper import ReferenceKeeper
from exporter.sources import SourceContext, open_source
from exporter.sources.files import FilesConfig
from exporter.state import StateStore
from exporter.window import WindowStore

from helpers import FEATURES, binary_data

KEY = "m:1"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _loaded() -> LoadedModel:
    x, y = binary_data(200, seed=0)
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    return LoadedModel(estimator=estimator, classes=estimator.classes_, feature_names=FEATURES, digest="d")


LOADED = _loaded()
MODEL = ModelConfig(
    name="m",
    model_path="m.joblib",
    source={"path": "in", "settle_seconds": 0},
    target_column="target",
    id_column="id",
    limits={"max_cell_length": 40},
)


@contextmanager
def _world() -> Iterator[tuple[Path, StateStore, object]]:
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "in"
        folder.mkdir()
        state = StateStore(Path(root) / "state.db")
        source = open_source(FilesConfig(path=folder, settle_seconds=0), SourceContext(reject_dir=Path(root) / "q"))
        try:
            yield folder, state, source
        finally:
            state.close()


def _counter(state: StateStore, name: str, **labels: str) -> float:
    return state.counters(KEY).get((name, tuple(sorted(labels.items()))), 0.0)


def _ingest_all(folder: Path, state: StateStore, source: object) -> list[str]:
    reference = ReferenceKeeper(MODEL, state, KEY)
    ingestor = BatchIngestor(MODEL, KEY, state, WindowStore(folder.parent / "windows"), reference)
    return [
        ingestor.ingest(source, ref, LOADED, now=1000.0).status  # type: ignore[arg-type]
        for ref in source.pending(RecordedPosition(state, KEY))  # type: ignore[attr-defined]
    ]


@SETTINGS
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".parquet", ".csv.gz"]))
def test_any_bytes_give_an_outcome_and_a_rejected_file_says_why(data: bytes, suffix: str) -> None:
    with _world() as (folder, state, source):
        (folder / f"b{suffix}").write_bytes(data)
        statuses = _ingest_all(folder, state, source)
        assert statuses in (["scored"], ["failed"], ["labels"])
        if statuses == ["failed"]:
            (reason_file,) = (folder.parent / "q").glob("*.reason.txt")
            assert reason_file.read_text().split(":", 1)[0] in BATCH_FAILURE_REASONS
        failures = sum(_counter(state, "mlmon_batch_failures", reason=r) for r in BATCH_FAILURE_REASONS)
        assert failures == (1 if statuses == ["failed"] else 0)


CELL = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=60),
    st.sampled_from(["1.5", "-0", "1e308", "-1e400", "abc", "", " ", "\ufffd", "True"]),
)


@st.composite
def batches(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(min_value=1, max_value=25))
    frame = pd.DataFrame({f: draw(st.lists(CELL, min_size=rows, max_size=rows)) for f in FEATURES})
    frame.insert(
        0,
        "id",
        draw(st.lists(st.one_of(st.none(), st.text(max_size=50), st.integers(0, 5)), min_size=rows, max_size=rows)),
    )
    frame["target"] = draw(st.lists(st.sampled_from([0, 1, "1", "yes", None, 1.0]), min_size=rows, max_size=rows))
    return frame


@SETTINGS
@given(frame=batches())
def test_every_row_read_is_scored_or_counted_once_by_its_reason(frame: pd.DataFrame) -> None:
    with _world() as (folder, state, source):
        frame.to_csv(folder / "b.csv", index=False)
        rows = len(pd.read_csv(folder / "b.csv", encoding_errors="replace"))
        statuses = _ingest_all(folder, state, source)
        dropped = sum(
            _counter(state, "mlmon_invalid_rows", reason=r) for r in ("missing_value", "bad_type", "duplicate_id")
        )
        predictions = _counter(state, "mlmon_predictions")
        failed = {r for r in BATCH_FAILURE_REASONS if _counter(state, "mlmon_batch_failures", reason=r)}
        if statuses == ["scored"]:
            assert not failed and predictions + dropped == rows
        else:
            # a batch given up as a whole counts once, by its reason, and scores nothing; when it was
            # given up because no row was valid, every row is counted by its own reason
            assert statuses == ["failed"] and len(failed) == 1 and predictions == 0
            if failed == {"empty"}:
                assert dropped == rows


@SETTINGS
@given(
    data=st.one_of(st.binary(max_size=2000), batches().map(lambda f: f[["id", "target"]].to_csv(index=False).encode()))
)
def test_any_label_file_is_applied_or_rejected_never_raises(data: bytes) -> None:
    with _world() as (folder, state, source):
        for i in range(5):
            state.rows.write_batch(KEY, f"k{i}", [str(i)], 1.0)
            state.record_batch(KEY, f"k{i}", status="ok", rows=1, processed_at=1.0, counters={}, stored_rows=True)
        (folder / "labels.csv").write_bytes(data)
        applied = ingest_labels(MODEL, LOADED, source, RecordedPosition(state, KEY, labels=True), state, KEY, 2.0)  # type: ignore[arg-type]
        assert 0 <= applied <= 5
        assert state.seen_label_files(KEY)  # recorded, applied or rejected, so never read twice
        failures = sum(_counter(state, "mlmon_batch_failures", reason=r) for r in BATCH_FAILURE_REASONS)
        rejected = list((folder.parent / "q").glob("*.reason.txt"))
        assert failures == len(rejected) <= 1
        assert np.isfinite(_counter(state, "mlmon_labels_received"))
