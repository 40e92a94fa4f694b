"""Pressure-solve problems and timings shared by the fluid benchmark and the GPU check.

``experiments/bench_fluid.py`` (MGPCG against pyamg and Taichi's example, CPU) and
``experiments/gpu_check_fluids.py`` (the same solves with ``arch=cuda``) time the
same systems with these functions. Call :func:`simkit.init` first.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import statistics
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from simkit.numerics.grid_operator import FLUID, GridOperator
from simkit.numerics.mgpcg import MGPCG
from simkit.simulators.fluid.simulator import FluidSimulator

__all__ = ["RTOL", "smoke_pressure_system", "taichi_example_box", "time_mgpcg",
           "taichi_example_module", "time_taichi_example"]

#: True relative residual every benchmarked solve reaches.
RTOL = 1e-6


def smoke_pressure_system(n: int, steps: int = 3
                          ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The pressure system of a 3D smoke frame with three obstacles, after ``steps`` steps.

    Parameters
    ----------
    n : int
        Cells per side.
    steps : int
        Fluid steps before the system is taken (seed 7).

    Returns
    -------
    ctype : ndarray
        ``(n, n, n)`` int8 cell types (``FLUID``, ``SOLID``, ``DIRICHLET``).
    weights : list of ndarray
        Face weights, axis ``a``'s of shape ``(n, n, n)`` with ``n + 1`` along ``a``.
    b : ndarray
        ``(n, n, n)`` right-hand side.
    """
    sim = FluidSimulator.from_scene("smoke_plume", {"dim": 3, "resolution": n, "n_obstacles": 3,
                                                   "export": "pressure_systems"}, seed=7)
    for _ in range(steps):
        sim.engine.step()
    mg = sim.engine.mg
    return (mg.top.ctype.to_numpy(), [w.to_numpy() for w in mg.top.w], mg.b.to_numpy())


def taichi_example_box(n: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The box of Taichi's MGPCG example: every cell unknown, pressure 0 outside, its
    right-hand side ``5 prod_a cos(5 pi i_a / n)``; shapes as :func:`smoke_pressure_system`."""
    i = np.arange(n)
    c = np.cos(5 * np.pi * i / n)
    b = 5.0 * c[:, None, None] * c[None, :, None] * c[None, None, :]
    weights = [np.ones(tuple(n + (k == a) for k in range(3)), np.float32) for a in range(3)]
    return np.full((n,) * 3, FLUID, np.int8), weights, b


def time_mgpcg(ctype: np.ndarray, weights: list[np.ndarray], b: np.ndarray,
               repeats: int) -> dict[str, Any]:
    """Time our MGPCG on one system to a true relative residual of :data:`RTOL`.

    Setup is loading and coarsening the operator; allocating the grids and compiling
    the kernels happen once per grid size and process, in the first call.

    Returns
    -------
    dict
        ``setup_s`` and ``solve_s`` (medians of ``repeats``, s), ``first_call_s``
        (allocation, JIT, setup and solve), ``iterations`` and ``residual`` of the last
        solve.
    """
    op = GridOperator.from_cell_types(ctype, weights)
    t0 = time.perf_counter()
    mg = MGPCG(ctype.shape)
    mg.set_operator(op)
    mg.solve(b, rtol=RTOL)
    first = time.perf_counter() - t0
    setups, solves = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        mg.set_operator(op)
        t1 = time.perf_counter()
        _, info = mg.solve(b, rtol=RTOL)
        setups.append(t1 - t0)
        solves.append(time.perf_counter() - t1)
    return {"setup_s": statistics.median(setups), "solve_s": statistics.median(solves),
            "first_call_s": first, "iterations": info.iterations, "residual": info.residual}


def taichi_example_module() -> ModuleType:
    """``taichi/examples/algorithm/mgpcg_advanced.py`` from the installed wheel, as it is."""
    import taichi as ti

    path = Path(ti.__file__).parent / "examples" / "algorithm" / "mgpcg_advanced.py"
    spec = importlib.util.spec_from_file_location("taichi_mgpcg_advanced", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def time_taichi_example(repeats: int) -> dict[str, Any]:
    """Time the example's ``MGPCG_Example`` as it ships (3D, N = 128, 4 levels).

    Its solve stops when ``r.r < rel_tol * r0.r0``, so ``rel_tol = RTOL**2``.

    Returns
    -------
    dict
        ``solve_s`` (median of ``repeats``, init included, s), ``first_call_s`` (JIT
        included) and ``iterations``.
    """
    import taichi as ti

    solver = taichi_example_module().MGPCG_Example()

    def once() -> tuple[float, int]:
        t0 = time.perf_counter()
        solver.init()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            solver.solve(max_iters=400, rel_tol=RTOL**2, verbose=True)
        ti.sync()
        return time.perf_counter() - t0, out.getvalue().count("iter ")

    first, _ = once()
    times, its = zip(*(once() for _ in range(repeats)), strict=True)
    return {"solve_s": statistics.median(times), "first_call_s": first, "iterations": its[-1]}
