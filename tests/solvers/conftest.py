import pytest

import simkit


@pytest.fixture(scope="module", autouse=True)
def taichi_cpu_f64():
    """``solvers`` never initialises Taichi itself: what runs Taichi kernels (GeometricMG,
    IncompleteCholesky, StencilOperator(backend="taichi")) needs the caller's runtime."""
    simkit.init("cpu", "f64")


class FakeClock:
    """A ``time.perf_counter`` that starts at 1000 s and moves only by :meth:`advance`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock for timing tests that hold on any machine, however loaded: patch it in as
    a module's ``time.perf_counter`` and let fakes spend known amounts of it."""
    return FakeClock()
