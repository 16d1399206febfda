"""The key index of the row store against a plain dict doing the same, and its segments staying few."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from exporter.rows.index import KeyIndex
from exporter.state import StateStore


def test_the_index_answers_as_a_dict_where_the_first_live_entry_of_a_key_wins() -> None:
    rng = random.Random(3)
    index = KeyIndex(with_labels=True)
    entries: list[tuple[int, float, str]] = []  # every entry ever appended, in order
    retired: set[int] = set()  # positions in ``entries``
    for step in range(300):
        size = rng.choice([1, 2, 5, 40])
        keys = [rng.randrange(400) for _ in range(size)]
        times = [float(step)] * size
        labels = [f"{step}:{k}" for k in keys]
        index.append(np.array(keys, dtype=np.int64), np.zeros(size, bool), np.array(times), np.array(labels, object))
        entries += zip(keys, times, labels)
        if step % 50 == 49:  # retire what was appended before a cut, as retention does
            cut = float(step - 30)
            index.retire(lambda segment, cut=cut: segment.times < cut)
            retired |= {i for i, (_, t, _) in enumerate(entries) if t < cut}
    expected: dict[int, str] = {}
    seen_in_file: set[tuple[int, float]] = set()
    for i, (key, time, label) in enumerate(entries):
        if (key, time) in seen_in_file:
            continue  # a file's own repeats never count: the first of them is its entry
        seen_in_file.add((key, time))
        if i not in retired and key not in expected:
            expected[key] = label
    hits = index.lookup(np.arange(-5, 405, dtype=np.int64))
    found = {int(k): label for k, ok, label in zip(range(-5, 405), hits.found, hits.labels) if ok}
    assert found == expected
    assert sorted(index.first_keys().tolist()) == sorted(expected)
    assert len(index.segments) <= 2 * np.log2(len(entries)), len(index.segments)


def test_a_view_grown_batch_by_batch_equals_one_read_afresh(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    state = StateStore(tmp_path / "s.db")
    for b in range(40):
        ids = [f"r{i}" for i in rng.choice(3000, 50, replace=False)]
        state.rows.write_batch(
            "m:1", f"b{b}", ids, float(b), rng.integers(0, 2, 50).astype(object), rng.random(50) < 0.3
        )
        state.record_batch("m:1", f"b{b}", status="ok", rows=50, processed_at=float(b), counters={}, stored_rows=True)
        if b % 7 == 0:
            labelled = [f"r{i}" for i in rng.choice(3000, 200, replace=False)]
            state.rows.write_labels("m:1", f"l{b}", labelled, rng.integers(0, 2, 200).astype(object), float(b))
            state.apply_labels("m:1", f"l{b}", status="ok", received_at=float(b), counters={}, stored_labels=True)
        if b == 30:
            state.prune("m:1", older_than=10.0)
    probe = [f"r{i}" for i in range(3000)]
    batches = [f"b{b}" for b in range(40)]
    grown = (state.known_row_ids("m:1", probe), state.pending_labels("m:1"), state.rows.predictions("m:1", batches))
    state.close()
    fresh = StateStore(tmp_path / "s.db")
    read = (fresh.known_row_ids("m:1", probe), fresh.pending_labels("m:1"), fresh.rows.predictions("m:1", batches))
    fresh.close()
    assert grown[0] == read[0] and grown[1] == read[1]
    assert grown[2].astype(object).equals(read[2].astype(object))
    assert len(grown[0]) > 0 and grown[2]["label"].notna().any()
