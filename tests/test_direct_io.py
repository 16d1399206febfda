"""Window files written past the page cache read back byte for byte as the usual ones."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from exporter import direct_io
from exporter.direct_io import ALIGNMENT, BUFFER_BYTES, DirectFile, write_file


def _table(rows: int) -> pa.Table:
    rng = np.random.default_rng(rows)
    return pa.table(
        {
            "x": rng.normal(size=rows),
            "n": rng.integers(0, 9, rows),
            "label": pa.array([None if i % 7 == 0 else str(i % 3) for i in range(rows)], type=pa.string()),
        }
    )


def _write(table: pa.Table, path: Path, direct: bool) -> None:
    write_file(path, lambda sink: feather.write_feather(table, sink, compression="uncompressed"), direct=direct)


@pytest.mark.parametrize("rows", [0, 1, 100, BUFFER_BYTES // 16, BUFFER_BYTES // 8 + 3])
def test_a_direct_write_reads_back_as_the_usual_one(tmp_path: Path, rows: int) -> None:
    table = _table(rows)
    _write(table, tmp_path / "direct.arrow", direct=True)
    _write(table, tmp_path / "usual.arrow", direct=False)
    assert (tmp_path / "direct.arrow").read_bytes() == (tmp_path / "usual.arrow").read_bytes()
    assert feather.read_table(tmp_path / "direct.arrow").equals(table)


@pytest.mark.parametrize("length", [0, 1, ALIGNMENT - 1, ALIGNMENT, BUFFER_BYTES, BUFFER_BYTES + ALIGNMENT + 5])
def test_a_direct_file_holds_exactly_what_was_written(tmp_path: Path, length: int) -> None:
    data = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
    handle = DirectFile(tmp_path / "f")
    # in uneven pieces, as a writer hands over its buffers
    for start in range(0, length, 3001):
        handle.write(data[start : start + 3001])
    assert handle.tell() == length
    handle.close()
    assert (tmp_path / "f").read_bytes() == data


def test_a_file_system_without_direct_writes_gets_the_usual_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def no_direct(path: str, flags: int, *args: int) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(direct_io.os, "open", no_direct)
    table = _table(1000)
    _write(table, tmp_path / "w.arrow", direct=True)
    assert feather.read_table(tmp_path / "w.arrow").equals(table)


def test_other_errors_are_not_hidden(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _write(_table(10), tmp_path / "missing" / "w.arrow", direct=True)


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("off", False), ("1", True), (None, True)])
def test_direct_writes_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("MLMON_DIRECT_IO", raising=False)
    else:
        monkeypatch.setenv("MLMON_DIRECT_IO", value)
    assert direct_io.enabled() is expected


def test_a_device_that_refuses_a_direct_write_midway_gets_the_usual_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    refused: list[int] = []

    def refusing(fd: int, data: bytes) -> int:
        if os.fstat(fd).st_size == 0 and not refused and len(data) % ALIGNMENT == 0:
            refused.append(len(data))  # the first direct write, say of a block size the device does not take
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(direct_io.os, "write", refusing)
    table = _table(BUFFER_BYTES // 8)  # more than one buffer: the refusal comes before the end
    _write(table, tmp_path / "w.arrow", direct=True)
    assert refused
    assert feather.read_table(tmp_path / "w.arrow").equals(table)
