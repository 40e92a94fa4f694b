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
import statistics
import time
from pathlib import Path

import numpy as np

import simkit
from simkit.benchmark import machine_line, utc_date, write_results
from simkit.numerics.grid_operator import GridOperator
from simkit.simulators.fluid.benchmarks import (
    RTOL,
    smoke_pressure_system,
    taichi_example_box,
    time_mgpcg,
    time_taichi_example,
)


def time_pyamg(A, b, repeats: int) -> dict:
    import pyamg  # here, so that the script's --help works without pyamg

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


def run(sizes: list[int], repeats: int) -> dict:
    rows = []
    for n in sizes:
        ctype, weights, b = smoke_pressure_system(n)
        ours = time_mgpcg(ctype, weights, b, repeats)
        op = GridOperator.from_cell_types(ctype, weights)
        A, cells = op.tocsr(), op.cells
        amg = time_pyamg(A, b.ravel()[cells], repeats)
        rows.append({"problem": "smoke + obstacles", "n": n, "unknowns": len(cells),
                     "ours": ours, "pyamg_sa": amg})
        if n == 128:  # the size the example is written for
            rows.append({"problem": "taichi example box", "n": n, "unknowns": n**3,
                         "ours": time_mgpcg(*taichi_example_box(n), repeats),
                         "taichi_example": time_taichi_example(repeats)})
    return {"machine": machine_line(), "date": utc_date(),
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
    write_results(args.out, "fluid_bench", result, render(result), echo=True)


if __name__ == "__main__":
    main()
