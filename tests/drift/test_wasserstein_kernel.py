"""The compiled loop for Wasserstein against a large reference (``wasserstein_kernel``) adds up the
same terms as a direct sum over every overlapping stretch, compiled or not, and equals the numpy
calls and scipy; ``MLMON_JIT=0`` or a missing numba leaves the numpy calls."""

from __future__ import annotations

import builtins
import importlib.util

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from exporter.drift import METHODS, wasserstein_kernel
from exporter.drift import wasserstein as module
from exporter.drift.wasserstein import centred_sums, sketch_of

from support.numba import require_numba
from support.overlaps import overlap_sum

RNG = np.random.default_rng(31)


def _windows(larger: np.ndarray, m: int) -> dict[str, np.ndarray]:
    return {
        "drawn like the reference": RNG.choice(larger, m),
        "shifted": RNG.choice(larger, m) + 0.3 * (float(np.std(larger)) or 1.0),
        "far above": RNG.choice(larger, m) + 1e3,
        "far below": RNG.choice(larger, m) - 1e3,
        "on sketch entries": RNG.choice(larger[::3], m),
        "one value": np.full(m, larger[larger.size // 2]),
        "between the values": np.sort(RNG.choice(larger, m)) + 1e-7,
    }


@pytest.mark.parametrize(("n", "m"), [(1_000, 7), (2_003, 50), (64, 3), (21, 1), (997, 13)])
@pytest.mark.parametrize("step", [1, 2, 5, 32])
@pytest.mark.parametrize("reference", ["normal", "integers", "constant"])
def test_the_loop_adds_up_every_overlap(n: int, m: int, step: int, reference: str) -> None:
    larger = np.sort(
        {
            "normal": RNG.normal(0, 1, n),
            "integers": RNG.integers(0, 12, n).astype(float),  # ties, so window values fall on run values
            "constant": np.full(n, -2.5),
        }[reference]
    )
    cumulative, centre = centred_sums(larger)
    entries = sketch_of(larger, step)
    for name, window in _windows(larger, m).items():
        ordered = np.sort(window)
        # the plain Python function, whatever numba does with it
        got = wasserstein_kernel.runs_total(larger, cumulative, centre, ordered, entries, step)
        assert got == pytest.approx(overlap_sum(larger, ordered, lambda y, x: abs(y - x)), rel=1e-12, abs=1e-6), name


def test_the_first_call_case_is_fitted_as_wasserstein_fits_a_reference() -> None:
    reference, sums, centre, window, sketch, step = wasserstein_kernel.first_call_case()
    expected_sums, expected_centre = centred_sums(reference)
    np.testing.assert_array_equal(sums, expected_sums)
    assert centre == expected_centre
    np.testing.assert_array_equal(sketch, sketch_of(reference, step))
    assert np.all(np.diff(window) >= 0)  # the loop takes the window sorted
    assert wasserstein_kernel.runs_total(*wasserstein_kernel.first_call_case()) == pytest.approx(
        overlap_sum(reference, window, lambda y, x: abs(y - x)), rel=1e-12
    )


@pytest.mark.parametrize(("n", "m"), [(250_000, 10_000), (60_013, 997), (4_000, 1), (100_000, 4_999)])
def test_compiled_loop_equals_the_plain_loop_the_numpy_calls_and_scipy(
    n: int, m: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_numba()
    kernel = wasserstein_kernel.compiled()
    assert kernel is not None
    larger = np.sort(RNG.lognormal(0, 1, n) * 100)
    cumulative, centre = centred_sums(larger)
    entries = sketch_of(larger, 32)
    for name, window in _windows(larger, m).items():
        ordered = np.sort(window)
        compiled = kernel(larger, cumulative, centre, ordered, entries, 32)
        plain = wasserstein_kernel.runs_total(larger, cumulative, centre, ordered, entries, 32)
        assert compiled == pytest.approx(plain, rel=1e-12, abs=1e-6), name
        with_kernel = module.wasserstein_to_larger(larger, cumulative, centre, window, (entries, 32))
        assert with_kernel == pytest.approx(compiled / n / m, rel=1e-15), name  # the kernel's answer
        with monkeypatch.context() as numpy_only:
            numpy_only.setattr(wasserstein_kernel, "compiled", lambda: None)
            numpy_calls = module.wasserstein_to_larger(larger, cumulative, centre, window, (entries, 32))
        assert with_kernel == pytest.approx(numpy_calls, rel=1e-12, abs=1e-12), name
        assert with_kernel == pytest.approx(wasserstein_distance(larger, window), rel=1e-9, abs=1e-12), name


def test_the_compiled_loop_takes_read_only_and_strided_arrays() -> None:
    """A profile read from storage hands over read-only arrays; a column may be a strided view."""
    require_numba()
    matrix = np.sort(RNG.normal(0, 1, (200_000, 2)), axis=0)
    column = matrix[:, 1]  # strided
    assert not column.flags.c_contiguous
    wasserstein = METHODS["wasserstein"]
    fitted = wasserstein.fit(column)
    for array in fitted.values():
        array.flags.writeable = False
    window = RNG.normal(0.1, 1, 3_000)
    score = wasserstein.compare(column, fitted, window).score
    assert score == pytest.approx(wasserstein_distance(column, window) / np.std(column), abs=1e-9)


def test_a_large_reference_goes_through_the_compiled_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    require_numba()
    called: list[int] = []
    real = wasserstein_kernel.compiled()
    assert real is not None
    counted = lambda *args: called.append(args[3].size) or real(*args)  # noqa: E731
    monkeypatch.setattr(wasserstein_kernel, "compiled", lambda: counted)
    numpy_reads: list[int] = []
    above = module._above_in_runs
    monkeypatch.setattr(module, "_above_in_runs", lambda *args: numpy_reads.append(1) or above(*args))
    reference = np.sort(RNG.normal(0, 1, 100_000))
    wasserstein = METHODS["wasserstein"]
    fitted = wasserstein.fit(reference)
    window = RNG.normal(0, 1, 1_000)  # drawn like the reference: the numpy calls would read some runs
    score = wasserstein.compare(reference, fitted, window).score
    assert called == [1_000] and numpy_reads == []
    assert score == pytest.approx(wasserstein_distance(reference, window) / np.std(reference), abs=1e-9)
    # a reference within RUNS_RATIO of the window pairs values instead
    called.clear()
    small = np.sort(RNG.normal(0, 1, 5_000))
    wasserstein.compare(small, wasserstein.fit(small), window)
    assert called == []


@pytest.mark.parametrize("setting", ["0", "off", "False"])
def test_mlmon_jit_0_keeps_to_the_numpy_calls(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = np.sort(RNG.normal(0, 1, 100_000))
    window = RNG.normal(0, 1, 1_000)
    wasserstein = METHODS["wasserstein"]
    fitted = wasserstein.fit(reference)
    reads: list[int] = []
    above = module._above_in_runs
    monkeypatch.setattr(module, "_above_in_runs", lambda *args: reads.append(1) or above(*args))
    monkeypatch.setenv(wasserstein_kernel.JIT_ENVIRONMENT, setting)
    assert wasserstein_kernel.compiled() is None
    score = wasserstein.compare(reference, fitted, window).score
    assert reads == [1]  # the numpy calls corrected the runs the sketch left
    assert score == pytest.approx(wasserstein_distance(reference, window) / np.std(reference), abs=1e-9)
    # read at every call: set back, the same process takes the loop again where numba is installed
    monkeypatch.setenv(wasserstein_kernel.JIT_ENVIRONMENT, "1")
    if importlib.util.find_spec("numba") is not None:
        reads.clear()
        assert wasserstein.compare(reference, fitted, window).score == pytest.approx(score, rel=1e-12)
        assert reads == []


def test_without_numba_there_is_no_compiled_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_numba(name: str, *args: object, **kwargs: object) -> object:
        if name == "numba" or name.startswith("numba."):
            raise ImportError("No module named 'numba'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delenv(wasserstein_kernel.JIT_ENVIRONMENT, raising=False)
    with monkeypatch.context() as patch:
        patch.setattr(builtins, "__import__", no_numba)
        wasserstein_kernel._dispatcher.cache_clear()
        try:
            assert wasserstein_kernel.compiled() is None
        finally:
            wasserstein_kernel._dispatcher.cache_clear()
    if importlib.util.find_spec("numba") is not None:
        assert wasserstein_kernel.compiled() is not None  # and with it back, the loop again


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda *args: (_ for _ in ()).throw(RuntimeError("no target machine")), id="cannot compile"),
        pytest.param(lambda *args: 0.0, id="compiles to a wrong answer"),
    ],
)
def test_a_numba_that_fails_its_first_call_leaves_the_numpy_calls(
    broken: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    require_numba()
    import numba

    monkeypatch.delenv(wasserstein_kernel.JIT_ENVIRONMENT, raising=False)
    monkeypatch.setattr(numba, "njit", lambda **options: lambda function: broken)
    wasserstein_kernel._dispatcher.cache_clear()
    try:
        with caplog.at_level("WARNING", logger=wasserstein_kernel.__name__):
            assert wasserstein_kernel.compiled() is None
        assert "could not compile the Wasserstein loop; numpy is used" in caplog.text
        reference = np.sort(RNG.normal(0, 1, 100_000))
        window = RNG.normal(0, 1, 1_000)
        wasserstein = METHODS["wasserstein"]
        score = wasserstein.compare(reference, wasserstein.fit(reference), window).score
        assert score == pytest.approx(wasserstein_distance(reference, window) / np.std(reference), abs=1e-9)
    finally:
        monkeypatch.undo()
        wasserstein_kernel._dispatcher.cache_clear()


@pytest.mark.parametrize("damage", ["sketch cut short", "running sums cut short", "step of zero"])
@pytest.mark.parametrize("jit", ["1", "0"])
def test_a_profile_whose_arrays_do_not_match_its_values_is_refused_before_the_loop(
    damage: str, jit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if jit == "1":
        require_numba()
    monkeypatch.setenv(wasserstein_kernel.JIT_ENVIRONMENT, jit)  # the compiled loop, then the numpy calls
    reference = np.sort(RNG.normal(0, 1, 50_000))
    wasserstein = METHODS["wasserstein"]
    fitted = dict(wasserstein.fit(reference))
    if damage == "sketch cut short":
        fitted["sketch"] = fitted["sketch"][:-1]
    elif damage == "running sums cut short":
        fitted["cumulative"] = fitted["cumulative"][:-2]
    else:
        fitted["sketch_step"] = np.array([0])
    with pytest.raises(ValueError, match="does not match its values"):
        wasserstein.compare(reference, fitted, RNG.normal(0, 1, 500))
