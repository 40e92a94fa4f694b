import pytest

import simkit


@pytest.fixture(scope="module", autouse=True)
def taichi_cpu_f64():
    """``solvers`` never initialises Taichi itself: what runs Taichi kernels (GeometricMG,
    IncompleteCholesky, StencilOperator(backend="taichi")) needs the caller's runtime."""
    simkit.init("cpu", "f64")
