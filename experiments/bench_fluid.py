"""Pressure-solve benchmark (``make bench``): our MGPCG against pyamg and Taichi's example.

Problems, all solved to a true relative residual of 1e-6 (checked in float64):

* **smoke**: the pressure system of a 3D smoke frame with obstacles (the
  ``poisson_systems3d`` scene after a few steps), at 64^3 and 128^3. Ours against
  pyamg smoothed-aggregation AMG as a CG preconditioner (``accel="cg"``), both given
  the same system; pyamg's setup is ``smoothed_aggregation_solver(A)`` on the CSR
  matrix, ours is allocating the grids and coarsening the operator.
* **box**: the problem of the MGPCG example that ships in the Taichi wheel
  (``taichi/examples/algorithm/mgpcg_advanced.py``, imported and run as it is: its
  right-hand side ``5 prod cos(5 pi i / N)``, zero Dirichlet boundary, 4 levels),
  against ours on the same box; the example's class is written for N = 128 only.

Times are medians over ``--repeats`` after one untimed warm-up (Taichi's JIT and its
disk cache excluded); the first call, JIT included, is reported separately.
Results: ``<out>/fluid_bench.md`` and ``.json``.
"""

import argparse
import contextlib
import importlib.util
import io
import json
import statistics
import time
from pathlib import Path

import numpy as np
import taichi as ti

import simkit
from simkit.numerics.grid_operator import FLUID, GridOperator
from simkit.numerics.mgpcg import MGPCG
from simkit.provenance import machine
from simkit.simulators.fluid.simulator import FluidSimulator

RTOL = 1e-6


def smoke_system(n: int, steps: int = 3) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Cell types, face weights and right-hand side of a 3D smoke frame with obstacles."""
    sim = FluidSimulator.from_scene("smoke_plume", {"dim": 3, "resolution": n, "n_obstacles": 3,
                                                   "export": "pressure_systems"}, seed=7)
    for _ in range(steps):
        sim.engine.step()
    mg = sim.engine.mg
    return (mg.top.ctype.to_numpy(), [w.to_numpy() for w in mg.top.w], mg.b.to_numpy())


def time_ours(ctype, weights, b, repeats: int) -> dict:
    """Setup is loading and coarsening the operator; allocating the grids and compiling
    the kernels happen once per grid size and process (the first call)."""
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


def time_pyamg(A, b, repeats: int) -> dict:
    import pyamg  # here, so that the GPU check (no pyamg there) can import this module

    setups, solves = [], []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        ml = pyamg.smoothed_aggregation_solver(A)
        t1 = time.perf_counter()
        res: list[float] = []
        x = ml.solve(b, tol=RTOL, accel="cg", maxiter=200, residuals=res)
        setups.append(t1 - t0)
        solves.append(time.perf_counter() - t1)
    true = float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))
    return {"setup_s": statistics.median(setups[1:]), "solve_s": statistics.median(solves[1:]),
            "iterations": len(res) - 1, "residual": true, "levels": len(ml.levels),
            "operator_complexity": float(ml.operator_complexity())}


def taichi_example_module():
    path = Path(ti.__file__).parent / "examples" / "algorithm" / "mgpcg_advanced.py"
    spec = importlib.util.spec_from_file_location("taichi_mgpcg_advanced", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def time_taichi_example(repeats: int) -> dict:
    """The example's ``MGPCG_Example`` as it ships (3D, N = 128, 4 levels); the solve
    stops when ``r.r < rel_tol * r0.r0``, so ``rel_tol = RTOL^2``."""
    mod = taichi_example_module()
    solver = mod.MGPCG_Example()

    def once():
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


def box_problem(n: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The Taichi example's box: all cells unknown, pressure 0 outside, its rhs."""
    i = np.arange(n)
    c = np.cos(5 * np.pi * i / n)
    b = 5.0 * c[:, None, None] * c[None, :, None] * c[None, None, :]
    weights = [np.ones(tuple(n + (k == a) for k in range(3)), np.float32) for a in range(3)]
    return np.full((n,) * 3, FLUID, np.int8), weights, b


def run(sizes: list[int], repeats: int) -> dict:
    rows = []
    for n in sizes:
        ctype, weights, b = smoke_system(n)
        ours = time_ours(ctype, weights, b, repeats)
        op = GridOperator.from_cell_types(ctype, weights)
        A, cells = op.tocsr(), op.cells
        amg = time_pyamg(A, b.ravel()[cells], repeats)
        rows.append({"problem": "smoke + obstacles", "n": n, "unknowns": len(cells),
                     "ours": ours, "pyamg_sa": amg})
        if n == 128:  # the size the example is written for
            rows.append({"problem": "taichi example box", "n": n, "unknowns": n**3,
                         "ours": time_ours(*box_problem(n), repeats),
                         "taichi_example": time_taichi_example(repeats)})
    return {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "repeats": repeats, "rtol": RTOL, "rows": rows}


def render(r: dict) -> str:
    lines = ["# Pressure solve: MGPCG against pyamg SA-PCG and Taichi's MGPCG example", "",
             f"Machine: {r['machine']}. Run {r['date']}; medians of {r['repeats']} repeats "
             f"after a warm-up; true relative residual {r['rtol']:g} (float64). "
             "Produced by `python -m experiments.bench_fluid`.", "",
             "| problem | n^3 | unknowns | solver | iterations | setup s | solve s | total s | "
             "first call s (JIT) | speed-up (total) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        ours = row["ours"]
        t_ours = ours["setup_s"] + ours["solve_s"]
        other_name = "pyamg_sa" if "pyamg_sa" in row else "taichi_example"
        other = row[other_name]
        t_other = other.get("setup_s", 0.0) + other["solve_s"]
        head = f"| {row['problem']} | {row['n']} | {row['unknowns']} "
        lines.append(head + f"| ours (MGPCG) | {ours['iterations']} | {ours['setup_s']:.3f} | "
                     f"{ours['solve_s']:.3f} | {t_ours:.3f} | {ours['first_call_s']:.2f} | 1 |")
        label = {"pyamg_sa": "pyamg SA-PCG", "taichi_example": "Taichi example MGPCG"}[other_name]
        setup = f"{other['setup_s']:.3f}" if "setup_s" in other else "(in solve)"
        first = f"{other['first_call_s']:.2f}" if "first_call_s" in other else "-"
        lines.append(head + f"| {label} | {other['iterations']} | {setup} | "
                     f"{other['solve_s']:.3f} | {t_other:.3f} | {first} | "
                     f"{t_other / t_ours:.2f}x slower than ours |")
    lines += ["", "Goal (issue 4): ours at least 2x faster than pyamg SA-PCG in total "
              "(setup + solve) on the 3D systems with obstacles."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arch", default="cpu")
    args = ap.parse_args(argv)
    simkit.init(args.arch, "f32", seed=0)
    result = run(args.sizes, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fluid_bench.json").write_text(json.dumps(result, indent=2))
    (args.out / "fluid_bench.md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
