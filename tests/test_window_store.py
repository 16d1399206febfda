"""The window files: what is saved reads back unchanged, and files of the earlier format still count."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exporter.window import LABEL, PREDICTION, PROBA, ROW_ID, SCORED_AT, SPARE, WindowStore, _file_name, window_table

KEY = "m:1"


def _texts(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else v for v in column]


def _batch(rows: int = 50) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    features = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "n": rng.integers(0, 9, rows),
            "c": pd.Series([1, 2.0, "a", None, True] * (rows // 5), dtype=object),
        }
    )
    probabilities = rng.dirichlet([1, 1], rows)
    return features, probabilities.argmax(axis=1), probabilities


def test_a_saved_batch_reads_back_with_its_outputs_labels_and_canonical_texts(tmp_path: Path) -> None:
    store = WindowStore(tmp_path)
    features, predictions, probabilities = _batch()
    labels = np.array(["1" if i % 3 else None for i in range(len(features))], dtype=object)
    store.write(
        KEY,
        "b1",
        window_table(features, [f"r{i}" for i in range(50)], predictions, probabilities, labels, scored_at=7.5),
    )

    frame = store.load(KEY, "b1")

    assert frame is not None
    np.testing.assert_array_equal(frame["x"], features["x"])
    np.testing.assert_array_equal(frame["n"], features["n"])
    # an object column is stored as the text each value is known by: True stays "True", 2.0 is "2"
    assert _texts(frame["c"][:5]) == ["1", "2", "a", None, "True"]
    np.testing.assert_array_equal(frame[PREDICTION], predictions)
    np.testing.assert_array_equal(frame[[f"{PROBA}0", f"{PROBA}1"]].to_numpy(), probabilities)
    assert _texts(frame[LABEL]) == list(labels)
    assert list(frame[ROW_ID]) == [f"r{i}" for i in range(50)]
    assert (frame[SCORED_AT] == 7.5).all()
    assert store.load(KEY, "b2") is None


@pytest.mark.parametrize("encoded", [True, False], ids=["dictionary", "plain text, as files written before"])
def test_label_texts_read_back_as_text_whichever_way_they_were_written(tmp_path: Path, encoded: bool) -> None:
    store = WindowStore(tmp_path)
    features, predictions, probabilities = _batch()
    texts = ["yes" if i % 3 == 0 else "no" if i % 3 == 1 else None for i in range(len(features))]
    codes = np.array([0 if t == "yes" else 1 for t in texts], dtype=np.int32)
    labels = (
        pa.DictionaryArray.from_arrays(codes, pa.array(["yes", "no"]), mask=np.array([t is None for t in texts]))
        if encoded
        else np.array(texts, dtype=object)
    )
    store.write(KEY, "b1", window_table(features, None, predictions, probabilities, labels, scored_at=1.0))
    frame = store.load(KEY, "b1")
    assert frame is not None
    assert not isinstance(frame[LABEL].dtype, pd.CategoricalDtype)  # text, as the window is assembled from
    assert _texts(frame[LABEL]) == texts


def test_numbers_and_booleans_read_back_with_their_types(tmp_path: Path) -> None:
    store = WindowStore(tmp_path)
    rng = np.random.default_rng(4)
    features = pd.DataFrame(
        {
            "x": np.where(rng.random(40) < 0.2, np.nan, rng.normal(size=40)),
            "n": rng.integers(-5, 5, 40),
            "small": rng.integers(0, 3, 40).astype(np.int8),
            "u": rng.integers(0, 9, 40).astype(np.uint32),
            "f32": rng.normal(size=40).astype(np.float32),
            "flag": rng.random(40) < 0.5,
        }
    )
    predictions = rng.integers(0, 2, 40)
    store.write(KEY, "b1", window_table(features, None, predictions, None, None, scored_at=1.0))
    frame = store.load(KEY, "b1")
    assert frame is not None
    pd.testing.assert_frame_equal(frame[list(features.columns)], features)


def test_a_window_file_of_the_earlier_parquet_format_is_read_and_pruned(tmp_path: Path) -> None:
    store = WindowStore(tmp_path)
    features, predictions, probabilities = _batch()
    store.write(KEY, "new", window_table(features, None, predictions, probabilities))
    folder = next(tmp_path.iterdir())
    earlier = pd.DataFrame({"x": [1.0, 2.0], PREDICTION: [0, 1]})
    pq.write_table(pa.Table.from_pandas(earlier, preserve_index=False), folder / _file_name("old", ".parquet"))
    pq.write_table(pa.Table.from_pandas(earlier, preserve_index=False), folder / _file_name("gone", ".parquet"))

    loaded = store.load(KEY, "old")
    assert loaded is not None and loaded.equals(earlier)

    store.prune(KEY, {"old", "new"})
    store.settle()
    assert sorted(p.name for p in folder.iterdir()) == sorted([_file_name("new"), _file_name("old", ".parquet")])
    store.prune(KEY, {"new"})
    store.settle()
    assert [p.name for p in folder.iterdir()] == [_file_name("new")]


def _with_a_larger_one(store: WindowStore, *keys: str) -> Path:
    """The model's folder with a file for each of ``keys`` and a larger one: a prune keeps the larger
    one as the spare (``SPARE``) and deletes the others that left the window."""
    store.write(KEY, "larger", window_table(*_pair(500)))
    for key in keys:
        store.write(KEY, key, window_table(*_pair(50)))
    return next(store.root.iterdir())


def _held_deletions(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Deleting waits until the returned event is set, so a test can look while a prune is underway."""
    from exporter import window

    release = threading.Event()
    delete = window._delete

    def held(paths: list[Path]) -> None:
        assert release.wait(30)
        delete(paths)

    monkeypatch.setattr(window, "_delete", held)
    return release


def test_pruned_files_are_deleted_on_a_thread_that_settle_waits_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WindowStore(tmp_path)
    folder = _with_a_larger_one(store, "a", "b")
    release = _held_deletions(monkeypatch)
    store.prune(KEY, {"b"})  # returns at once: the deletion is held
    assert (folder / _file_name("a")).exists()
    release.set()
    store.settle()
    assert sorted(p.name for p in folder.iterdir()) == sorted([_file_name("b"), SPARE])


def test_a_file_written_again_under_a_pruned_name_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = WindowStore(tmp_path)
    _with_a_larger_one(store, "a")
    features, predictions, probabilities = _batch()
    release = _held_deletions(monkeypatch)
    store.prune(KEY, set())
    # the batch is scored again before the deletion ran: its new file waits for the deletion
    writer = threading.Thread(
        target=store.write, args=(KEY, "a", window_table(features, None, predictions, probabilities))
    )
    writer.start()
    writer.join(0.2)
    assert writer.is_alive()  # waiting for the prune
    release.set()
    writer.join(30)
    loaded = store.load(KEY, "a")
    assert loaded is not None and len(loaded) == len(features)


def test_a_file_that_cannot_be_deleted_is_logged_and_deleted_by_the_next_prune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = WindowStore(tmp_path)
    folder = _with_a_larger_one(store, "b")
    unlink = Path.unlink

    def refused(path: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "unlink", refused)
    store.prune(KEY, set())
    store.settle()  # does not raise: the run that pruned is not failed by it
    assert "cannot delete the window file" in caplog.text
    assert sorted(p.name for p in folder.iterdir()) == sorted([_file_name("b"), SPARE])
    monkeypatch.setattr(Path, "unlink", unlink)
    store.prune(KEY, set())
    store.settle()
    assert [p.name for p in folder.iterdir()] == [SPARE]


@pytest.mark.parametrize("threshold", ["over", "under"])
def test_only_a_large_file_is_written_past_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: str
) -> None:
    from exporter import direct_io, window

    features, predictions, probabilities = _batch()
    table = window_table(features, None, predictions, probabilities)
    monkeypatch.setattr(window, "DIRECT_MIN_BYTES", table.nbytes + (1 if threshold == "over" else 0))
    opened: list[Path] = []
    direct_file = direct_io.DirectFile

    def noted(path: Path) -> direct_io.DirectFile:
        opened.append(path)
        return direct_file(path)

    monkeypatch.setattr(direct_io, "DirectFile", noted)
    store = WindowStore(tmp_path)
    store.write(KEY, "b", table, direct=True)
    store.write(KEY, "c", table, direct=False)
    assert len(opened) == (0 if threshold == "over" else 1)  # "b" only, and only from the threshold
    for key in ("b", "c"):
        loaded = store.load(KEY, key)
        assert loaded is not None and len(loaded) == table.num_rows


def test_a_write_waits_for_a_deletion_another_thread_is_already_waiting_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WindowStore(tmp_path)
    _with_a_larger_one(store, "a")
    features, predictions, probabilities = _batch()
    release = _held_deletions(monkeypatch)
    store.prune(KEY, set())
    settling = threading.Thread(target=store.settle)  # another model's job, say, waiting first
    settling.start()
    settling.join(0.1)
    writer = threading.Thread(
        target=store.write, args=(KEY, "a", window_table(features, None, predictions, probabilities))
    )
    writer.start()
    writer.join(0.2)
    assert writer.is_alive() and settling.is_alive()  # both wait for the one deletion
    release.set()
    for thread in (settling, writer):
        thread.join(30)
    loaded = store.load(KEY, "a")
    assert loaded is not None and len(loaded) == len(features)


def _inode(path: Path) -> int:
    return path.stat().st_ino


@pytest.mark.parametrize("size", ["smaller", "larger"])
def test_a_file_that_left_the_window_is_written_over_by_the_next_one(tmp_path: Path, size: str) -> None:
    store = WindowStore(tmp_path)
    rows = {"smaller": (500, 120), "larger": (120, 500)}[size]
    first = window_table(*_pair(rows[0]))
    second = window_table(*_pair(rows[1]))
    store.write(KEY, "a", first)
    folder = next(tmp_path.iterdir())
    kept = _inode(folder / _file_name("a"))
    store.prune(KEY, set())
    assert [p.name for p in folder.iterdir()] == [SPARE] and _inode(folder / SPARE) == kept
    assert store.load(KEY, "a") is None  # a spare is never read as a window file
    store.write(KEY, "b", second)
    assert [p.name for p in folder.iterdir()] == [_file_name("b")]
    assert _inode(folder / _file_name("b")) == kept  # the same file, written over
    fresh = WindowStore(tmp_path / "fresh")
    fresh.write(KEY, "b", second)
    written = next((tmp_path / "fresh").iterdir()) / _file_name("b")
    # byte for byte what a new file holds: nothing of the longer spare is left at its end
    assert (folder / _file_name("b")).read_bytes() == written.read_bytes()
    pd.testing.assert_frame_equal(store.load(KEY, "b"), fresh.load(KEY, "b"))


def _pair(rows: int) -> tuple[pd.DataFrame, None, np.ndarray, np.ndarray]:
    features, predictions, probabilities = _batch(rows)
    return features, None, predictions, probabilities


def test_only_one_spare_is_kept_and_a_direct_write_leaves_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter import window

    store = WindowStore(tmp_path)
    table = window_table(*_pair(100))
    for key in ("a", "b", "c"):
        store.write(KEY, key, table)
    folder = next(tmp_path.iterdir())
    store.prune(KEY, {"c"})  # one of "a" and "b" is kept as the spare, the other deleted
    store.settle()
    assert sorted(p.name for p in folder.iterdir()) == sorted([_file_name("c"), SPARE])
    spare = _inode(folder / SPARE)
    monkeypatch.setattr(window, "DIRECT_MIN_BYTES", 0)
    store.write(KEY, "d", table, direct=True)  # past the page cache: nothing there to reuse
    assert _inode(folder / SPARE) == spare
    store.write(KEY, "e", table)
    assert _inode(folder / _file_name("e")) == spare and not (folder / SPARE).exists()
    for key in ("c", "d", "e"):
        loaded = store.load(KEY, key)
        assert loaded is not None and len(loaded) == 100


def test_a_file_as_large_as_a_direct_write_is_not_kept_as_the_spare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter import window

    store = WindowStore(tmp_path)
    small, large = window_table(*_pair(50)), window_table(*_pair(500))
    store.write(KEY, "small", small)
    store.write(KEY, "large", large)
    folder = next(tmp_path.iterdir())
    sizes = {key: (folder / _file_name(key)).stat().st_size for key in ("small", "large")}
    monkeypatch.setattr(window, "DIRECT_MIN_BYTES", sizes["large"])
    store.prune(KEY, set())
    store.settle()
    # the larger file would be the spare, but it is as large as a direct write's: the smaller one is
    assert [p.name for p in folder.iterdir()] == [SPARE] and (folder / SPARE).stat().st_size == sizes["small"]
    store.write(KEY, "large", large)  # written over the spare, which it outgrows
    store.prune(KEY, set())
    store.settle()
    assert list(folder.iterdir()) == []  # and then deleted, not kept


def test_a_file_that_cannot_become_the_spare_is_deleted_and_the_prune_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter import window

    store = WindowStore(tmp_path)
    folder = _with_a_larger_one(store, "a")

    def refused(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied", str(source))

    monkeypatch.setattr(window.os, "replace", refused)
    store.prune(KEY, set())
    store.settle()
    assert list(folder.iterdir()) == []  # nothing kept, and nothing left behind
