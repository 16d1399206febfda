"""The folder source on its own, and the config union built from the source registry."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from exporter.config import ConfigError, parse_config
from exporter.ingest.position import RecordedPosition
from exporter.sources import SOURCES, BatchRef, Source, SourceContext, UnreadableBatch, open_source
from exporter.sources.files import FilesConfig
from exporter.state import StateStore


class Position:
    def __init__(self, seen: set[str] | None = None) -> None:
        self._seen = seen or set()

    def seen(self) -> set[str]:
        return self._seen

    def last(self) -> str | None:
        return None


def _source(tmp_path: Path, pattern: str = "*") -> Source:
    context = SourceContext(
        reject_dir=tmp_path / "quarantine" / "m" / "1", clock=lambda: 1234.0, wall_clock=lambda: 4e9
    )
    return open_source(FilesConfig(path=tmp_path / "in", pattern=pattern), context)


def test_pending_lists_finished_tables_oldest_first_and_skips_recorded_ones(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for index, name in enumerate(["b.csv", "a.parquet", "c.csv.part", ".hidden.csv", "notes.txt", "d.tmp"]):
        (folder / name).write_text("x\n1\n")
        os.utime(folder / name, (1000 + index, 1000 + index))
    source = _source(tmp_path)
    refs = source.pending(Position())
    assert [ref.name for ref in refs] == ["b.csv", "a.parquet"]
    assert source.pending(Position({refs[0].key})) == [refs[1]]


def test_read_gives_the_table_or_says_it_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "in" / "good.csv", index=False)
    (tmp_path / "in" / "bad.parquet").write_bytes(b"not parquet")
    source = _source(tmp_path)
    assert source.read(BatchRef("k", "good.csv", 0.0))["x"].tolist() == [1, 2]
    with pytest.raises(UnreadableBatch, match="bad.parquet"):
        source.read(BatchRef("k", "bad.parquet", 0.0))


def test_reject_moves_the_file_to_quarantine_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for _ in range(2):
        (tmp_path / "in" / "b.csv").write_text("x\n")
        _source(tmp_path).reject(BatchRef("k", "b.csv", 0.0), "schema", "missing column(s): f1")
    quarantine = tmp_path / "quarantine" / "m" / "1"
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "1234-b.csv",
        "1234-b.csv.reason.txt",
        "b.csv",
        "b.csv.reason.txt",
    ]
    assert (quarantine / "b.csv.reason.txt").read_text() == "schema: missing column(s): f1\n"
    assert not (tmp_path / "in" / "b.csv").exists()


def test_the_source_block_accepts_every_registered_type_and_names_them_when_unknown(tmp_path: Path) -> None:
    def config(source: dict) -> dict:
        return {"models": [{"name": "m", "model_path": "m.joblib", "source": source}]}

    parsed = parse_config(config({"path": "in"}), tmp_path)  # `type` defaults to files
    assert parsed.models[0].source == FilesConfig(path=tmp_path / "in")
    assert type(parsed.models[0].source) is SOURCES["files"].Config
    with pytest.raises(ConfigError) as error:
        parse_config(config({"type": "ftp", "path": "in"}), tmp_path)
    assert str(error.value) == f"models[0].source: unknown source type (known: {', '.join(SOURCES)})"


def test_the_recorded_position_gives_what_was_recorded_and_the_latest(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.db")
    batches, labels = RecordedPosition(state, "m:1"), RecordedPosition(state, "m:1", labels=True)
    assert batches.last() is None and labels.last() is None
    for key, status in [("b1", "ok"), ("b2", "failed"), ("b0", "ok")]:
        state.record_batch("m:1", key, status=status, rows=0, processed_at=1.0, counters={})
    for key in ["l2", "l1"]:
        state.apply_labels("m:1", key, status="ok", received_at=1.0, counters={})
    assert batches.seen() == {"b0", "b1", "b2"} and batches.last() == "b0"
    assert labels.seen() == {"l1", "l2"} and labels.last() == "l1"
    assert RecordedPosition(state, "other:1").seen() == set()
    state.close()


def test_a_file_recorded_under_the_old_name_size_and_time_key_is_not_read_again(tmp_path: Path) -> None:
    """States written before batches were known by content keep their files from being scored twice."""
    (tmp_path / "in").mkdir()
    old = tmp_path / "in" / "old.csv"
    old.write_text("x\n1\n")
    os.utime(old, (1000, 1000))
    (tmp_path / "in" / "new.csv").write_text("x\n2\n")
    stat = old.stat()
    source = _source(tmp_path)
    refs = source.pending(Position({f"old.csv|{stat.st_size}|{stat.st_mtime_ns}"}))
    assert [ref.name for ref in refs] == ["new.csv"]
    assert refs[0].key.startswith("blake3:") and refs[0].key.endswith("|new.csv")


def test_content_keys_are_the_blake3_and_earlier_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    import blake3

    from exporter.sources.files import content_key, legacy_content_key

    path = tmp_path / "b.parquet"
    path.write_bytes(os.urandom(3 * (1 << 20) + 17))  # more than one block, and a partial last one
    content = path.read_bytes()
    assert content_key(path) == "blake3:" + blake3.blake3(content).hexdigest()
    assert legacy_content_key(path) == "sha256:" + hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize("first", [True, False])
def test_a_name_recorded_under_its_sha256_is_known_by_that_content_only(tmp_path: Path, first: bool) -> None:
    """A state from before BLAKE3 keys: the same name and content is not read again, other content is."""
    from exporter.sources.files import legacy_content_key

    folder = tmp_path / "in"
    folder.mkdir()
    if not first:  # another pending file ahead of it, so it is not the one hashed while it is read
        (folder / "0.csv").write_text("x\n0\n")
        os.utime(folder / "0.csv", (500, 500))
    (folder / "a.csv").write_text("x\n1\n")
    os.utime(folder / "a.csv", (1_000, 1_000))
    seen = {f"{legacy_content_key(folder / 'a.csv')}|a.csv"}
    names = [ref.name for ref in _source(tmp_path).pending(Position(seen))]
    assert names == ([] if first else ["0.csv"])
    (folder / "a.csv").write_text("x\n2\n")  # the same name, other content
    refs = [ref for ref in _source(tmp_path).pending(Position(seen)) if ref.name == "a.csv"]
    assert len(refs) == 1 and refs[0].key.startswith("blake3:")


@pytest.fixture
def recorded_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    from exporter.sources import files

    reads: list[Path] = []
    read_parquet = files.read_parquet

    def recorded(path: Path) -> pd.DataFrame:
        reads.append(Path(path))
        return read_parquet(path)

    monkeypatch.setattr(files, "read_parquet", recorded)
    monkeypatch.setitem(files.READERS, ".parquet", recorded)
    return reads


def _ahead_source(tmp_path: Path, read_ahead_rows: int | None = 1_000) -> Source:
    return open_source(
        FilesConfig(path=tmp_path / "in"),
        SourceContext(reject_dir=tmp_path / "q", wall_clock=lambda: 4e9, read_ahead_rows=read_ahead_rows),
    )


def _drop(tmp_path: Path, name: str, rows: int, mtime: int = 1_000) -> pd.DataFrame:
    (tmp_path / "in").mkdir(exist_ok=True)
    frame = pd.DataFrame({"x": [float(i) for i in range(rows)], "s": [f"r{i}" for i in range(rows)]})
    frame.to_parquet(tmp_path / "in" / name, index=False)
    os.utime(tmp_path / "in" / name, (mtime, mtime))
    return frame


def test_a_new_batch_is_read_once_while_it_is_hashed(tmp_path: Path, recorded_reads: list[Path]) -> None:
    frame = _drop(tmp_path, "a.parquet", 50)
    _drop(tmp_path, "b.parquet", 20, mtime=2_000)
    source = _ahead_source(tmp_path)
    first, second = source.pending(Position())
    assert recorded_reads == [tmp_path / "in" / "a.parquet"]  # only the first is read ahead
    pd.testing.assert_frame_equal(source.read(first), frame)
    assert len(recorded_reads) == 1  # the read-ahead is what ``read`` gave
    source.read(second)
    assert recorded_reads[1:] == [tmp_path / "in" / "b.parquet"]


@pytest.mark.parametrize(
    ("case", "read_ahead_rows"),
    [("too many rows", 10), ("name seen before", 1_000), ("no read-ahead configured", None)],
)
def test_a_batch_that_may_not_be_read_next_is_not_read_ahead(
    tmp_path: Path, recorded_reads: list[Path], case: str, read_ahead_rows: int | None
) -> None:
    _drop(tmp_path, "a.parquet", 50)
    seen = {"sha256:0123|a.parquet"} if case == "name seen before" else set()
    source = _ahead_source(tmp_path, read_ahead_rows)
    (ref,) = source.pending(Position(seen))
    assert recorded_reads == []
    source.read(ref)
    assert recorded_reads == [tmp_path / "in" / "a.parquet"]


def test_a_batch_changed_after_its_read_ahead_is_left_for_later(tmp_path: Path, recorded_reads: list[Path]) -> None:
    from exporter.sources import BatchGone

    _drop(tmp_path, "a.parquet", 50)
    source = _ahead_source(tmp_path)
    (ref,) = source.pending(Position())
    _drop(tmp_path, "a.parquet", 60, mtime=1_500)  # rewritten in place after the listing
    with pytest.raises(BatchGone, match="changed"):
        source.read(ref)
    (again,) = source.pending(Position())
    assert len(source.read(again)) == 60


def test_a_read_ahead_that_fails_makes_the_batch_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.sources import files

    _drop(tmp_path, "a.parquet", 50)

    def broken(path: Path) -> pd.DataFrame:
        raise ValueError("a column chunk is corrupt")

    monkeypatch.setattr(files, "read_parquet", broken)
    source = _ahead_source(tmp_path)
    (ref,) = source.pending(Position())
    with pytest.raises(UnreadableBatch, match="a.parquet: ValueError: a column chunk is corrupt"):
        source.read(ref)


def test_a_new_batch_is_handed_out_while_it_is_hashed_and_then_known_by_its_content(tmp_path: Path) -> None:
    from exporter.sources.files import content_key

    _drop(tmp_path, "a.parquet", 50)
    _drop(tmp_path, "b.parquet", 20, mtime=2_000)
    source = _ahead_source(tmp_path)
    first, second = source.pending(Position())
    # only the batch read ahead (the first, with a new name) waits for its hash; the next was hashed
    assert not first.identified and second.identified
    digest = content_key(tmp_path / "in" / "a.parquet")
    assert first.wait() == (f"{digest}|a.parquet", digest)
    assert first.identified and first.key == f"{digest}|a.parquet" and first.content == digest
    assert first == BatchRef(f"{digest}|a.parquet", "a.parquet", first.arrived_at, digest)
    # the hash is kept: listed again, the same file is not hashed (nor read ahead) again
    (again, _) = source.pending(Position())
    assert again.identified and again.key == first.key


def test_a_batch_that_changes_while_it_is_hashed_is_gone_every_time_it_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.sources import BatchGone, files

    _drop(tmp_path, "a.parquet", 50)
    hashed = files.content_key
    calls: list[Path] = []

    def rewritten_meanwhile(path: Path) -> str:
        calls.append(path)
        digest = hashed(path)
        _drop(tmp_path, "a.parquet", 60, mtime=1_500)  # a writer rewrites it in place after the hash
        return digest

    monkeypatch.setattr(files, "content_key", rewritten_meanwhile)
    source = _ahead_source(tmp_path)
    (ref,) = source.pending(Position())
    for _ in range(2):
        with pytest.raises(BatchGone, match="a.parquet changed while it was read"):
            ref.wait()
    with pytest.raises(BatchGone):
        _ = ref.key
    assert len(calls) == 1  # worked out once, its failure given to every asker
    monkeypatch.setattr(files, "content_key", hashed)
    (again,) = source.pending(Position())
    assert len(source.read(again)) == 60 and again.content == hashed(tmp_path / "in" / "a.parquet")


def test_a_batch_that_vanishes_while_it_is_hashed_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.sources import BatchGone, files

    _drop(tmp_path, "a.parquet", 50)

    def vanished(path: Path) -> str:
        raise FileNotFoundError(path)

    monkeypatch.setattr(files, "content_key", vanished)
    (ref,) = _ahead_source(tmp_path).pending(Position())
    with pytest.raises(BatchGone, match="a.parquet vanished"):
        ref.wait()


def test_a_deferred_identity_is_worked_out_once_whoever_asks() -> None:
    import threading

    calls: list[int] = []
    release = threading.Event()

    def identify() -> tuple[str, str | None]:
        release.wait(5)
        calls.append(1)
        return "sha256:00|x.csv", "sha256:00"

    ref = BatchRef.deferred("x.csv", 1.0, identify)
    assert not ref.identified and "not yet known" in repr(ref)
    keys: list[str] = []
    askers = [threading.Thread(target=lambda: keys.append(ref.key)) for _ in range(4)]
    for asker in askers:
        asker.start()
    release.set()
    for asker in askers:
        asker.join(5)
    assert keys == ["sha256:00|x.csv"] * 4 and calls == [1]
    assert ref.identified and ref.content == "sha256:00" and ref.name == "x.csv" and ref.arrived_at == 1.0
    assert hash(ref) == hash(BatchRef("sha256:00|x.csv", "x.csv", 1.0, "sha256:00"))
    assert ref != BatchRef("sha256:00|x.csv", "y.csv", 1.0, "sha256:00")


def test_only_the_first_batch_of_a_new_name_is_handed_out_before_it_is_hashed(tmp_path: Path) -> None:
    """A name recorded before may come back with content already scored: that batch is hashed first."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    os.utime(folder / "a.csv", (1_000, 1_000))
    (folder / "b.csv").write_text("x\n2\n")
    os.utime(folder / "b.csv", (2_000, 2_000))
    source = _source(tmp_path)
    first, second = source.pending(Position())
    assert (first.name, first.identified, second.identified) == ("a.csv", False, True)
    assert first.key.endswith("|a.csv")
    seen = Position({"sha256:0123|a.csv"})  # the name was recorded, with other content
    (again, other) = _source(tmp_path).pending(seen)  # a fresh source: no hash kept from above
    assert again.name == "a.csv" and again.identified and other.identified


def test_a_batch_read_ahead_is_sized_once_while_it_stays_as_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.sources import files

    sized: list[int] = []
    counted = files.more_rows_than

    def more_rows_than(path: Path, rows: int) -> bool:
        sized.append(rows)
        return counted(path, rows)

    monkeypatch.setattr(files, "more_rows_than", more_rows_than)
    _drop(tmp_path, "a.parquet", 50)
    source = _ahead_source(tmp_path, 1_000)
    (ref,) = source.pending(Position())
    assert sized == [1_000]  # read ahead for holding at most 1,000 rows
    assert source.more_rows_than(ref, 1_000) is False and source.more_rows_than(ref, 5_000) is False
    assert sized == [1_000]  # known already
    assert source.more_rows_than(ref, 10) is True and sized == [1_000, 10]  # a smaller limit: counted
    _drop(tmp_path, "a.parquet", 2_000, mtime=1_500)  # rewritten in place after the listing
    assert source.more_rows_than(ref, 1_000) is True and sized == [1_000, 10, 1_000]
