"""Pieces run side by side come back in input order, and a failing piece raises as a loop would."""

from __future__ import annotations

import threading
import time

import pytest

from exporter.parallel import ordered_map, processors


def test_results_keep_the_input_order_whatever_finishes_first() -> None:
    def slow_for_small(n: int) -> int:
        time.sleep(0.02 * (5 - n))
        return n * n

    assert ordered_map(slow_for_small, range(5), workers=3) == [0, 1, 4, 9, 16]


def test_pieces_run_on_more_than_one_thread() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def meet(_: int) -> str:
        barrier.wait()  # both pieces must be running at once to get past this
        return threading.current_thread().name

    names = ordered_map(meet, range(2), workers=2)
    assert len(set(names)) == 2


def test_a_map_inside_a_piece_of_another_runs_in_that_piece_s_thread_by_default() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def outer(_: int) -> tuple[int, list[int], list[int]]:
        barrier.wait()  # the outer pieces run side by side
        inner = ordered_map(lambda _: threading.get_ident(), range(4))
        asked = ordered_map(lambda _: threading.get_ident(), range(4), workers=2)
        return threading.get_ident(), inner, asked

    for here, inner, asked in ordered_map(outer, range(2), workers=2):
        assert inner == [here] * 4  # the processors are already shared out
        assert here not in asked and len(set(asked)) >= 1  # workers asked for explicitly are still given
    # outside any piece, the default is the processors again
    idents = ordered_map(lambda _: threading.get_ident(), range(4))
    assert (processors() == 1) == (set(idents) == {threading.get_ident()})


def test_one_worker_runs_in_the_calling_thread() -> None:
    assert (
        ordered_map(lambda _: threading.current_thread().name, range(3), workers=1)
        == [threading.current_thread().name] * 3
    )


def test_an_exception_reaches_the_caller() -> None:
    def fail_on_two(n: int) -> int:
        if n == 2:
            raise ValueError("two")
        return n

    with pytest.raises(ValueError, match="two"):
        ordered_map(fail_on_two, range(4), workers=2)


def test_processors_is_at_least_one() -> None:
    assert processors() >= 1
