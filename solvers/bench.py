"""A fair benchmark harness: every method on identical problems, timed in one run.

``python -m solvers.bench --problems poisson:64,obstacles:64 --methods cg,ic0,gmg,amg_sa``

For each problem and method: iterations; wall time of setup and of solve, separately
(median of ``--repeat`` runs); time per iteration; SpMV-equivalents per iteration
(``1 +`` the measured time of one preconditioner application over the measured time of
one CSR SpMV of the same problem on the same machine); peak memory (Python-heap peak
under ``tracemalloc``, which sees numpy arrays but not Taichi fields); the iteration at
which the true relative residual first crosses 1e-4, 1e-6, 1e-8 and the time at that
point (setup plus that many median iterations); failures as failures. Every method
stops on the true relative residual ``||b - A x|| / ||b||`` computed in float64.

Writes ``<name>.md`` (tables), ``<name>.json`` (everything, including residual
histories, so later methods can be compared on identical problems) and one
residual-history plot per problem, ``<name>_<problem>.png``.
"""

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as spla

from simkit.benchmark import machine_line, median_seconds, utc_date, write_results
from solvers import gallery
from solvers.krylov import cg
from solvers.multigrid import GeometricMG
from solvers.preconditioners import AMG, SSOR, IncompleteCholesky, Jacobi

__all__ = ["Method", "METHODS", "run", "main"]

THRESHOLDS = (1e-4, 1e-6, 1e-8)


@dataclass(frozen=True)
class Method:
    """A Krylov solver and an optional preconditioner factory ``problem -> Preconditioner``."""

    label: str
    solve: Callable
    preconditioner: Callable | None = None
    grid_only: bool = False
    takes_preconditioner: bool = False  # ``solve`` gets the object, not a LinearOperator


def _pyamg_solve(A, b, *, rtol, maxiter, M, callback):
    """pyamg's own PCG loop (``ml.solve(accel='cg')``) on the hierarchy of ``M``, as
    pyamg users run it; pyamg decides its own stop, the table reports the true residual."""
    x = M.hierarchy.solve(b, tol=rtol, maxiter=maxiter, accel="cg", callback=callback)
    return x, 0 if np.linalg.norm(b - A @ x) <= rtol * np.linalg.norm(b) else maxiter


METHODS = {
    "cg": Method("CG", cg),
    "jacobi": Method("Jacobi-PCG", cg, lambda p: Jacobi(p.matrix())),
    "ssor": Method("SSOR(1.5)-PCG", cg, lambda p: SSOR(p.matrix(), 1.5)),
    "ic0": Method("IC(0)-PCG", cg, lambda p: IncompleteCholesky(p.matrix())),
    "mic0": Method("MIC(0)-PCG (tau 0.97)", cg, lambda p: IncompleteCholesky(p.matrix(), 0.97)),
    "gmg": Method("GMG-PCG", cg, lambda p: GeometricMG(p.A), grid_only=True),
    "amg_sa": Method("AMG-SA-PCG (pyamg)", cg, lambda p: AMG(p.matrix(), "sa")),
    "amg_rs": Method("AMG-RS-PCG (pyamg)", cg, lambda p: AMG(p.matrix(), "rs")),
    # baselines: the same mathematics in scipy's and pyamg's own loops
    "scipy_cg": Method("scipy cg", spla.cg),
    "scipy_ic0": Method("scipy cg + our IC(0)", spla.cg, lambda p: IncompleteCholesky(p.matrix())),
    "pyamg_sa": Method("pyamg SA solve(accel=cg)", _pyamg_solve,
                       lambda p: AMG(p.matrix(), "sa"), takes_preconditioner=True),
}


def _one_run(problem, method: Method, rtol: float, maxiter: int, history: bool) -> dict:
    """Set up and solve once; with ``history`` the true residual is recorded each
    iteration (an extra SpMV, so that run is not timed)."""
    A, b = problem.matrix(), problem.b
    bnorm = np.linalg.norm(b)
    hist: list[float] = [1.0]
    its = [0]

    def callback(xk):
        its[0] += 1
        if history:
            hist.append(float(np.linalg.norm(b - A @ xk) / bnorm))

    t0 = time.perf_counter()
    P = method.preconditioner(problem) if method.preconditioner else None
    t1 = time.perf_counter()
    M = P if method.takes_preconditioner or P is None else P.aspreconditioner()
    x, info = method.solve(A, b, rtol=rtol, maxiter=maxiter, M=M, callback=callback)
    t2 = time.perf_counter()
    return {"setup": t1 - t0, "solve": t2 - t1, "iterations": its[0], "info": int(info),
            "residual": float(np.linalg.norm(b - A @ x) / bnorm), "history": hist,
            "P": P if history else None}


def run_method(problem, name: str, *, rtol: float, maxiter: int, repeat: int,
               spmv_time: float) -> dict:
    """Everything the tables report for one method on one problem."""
    method = METHODS[name]
    out = {"method": name, "label": method.label}
    if method.grid_only and problem.grid is None:
        return {**out, "status": "n/a (needs a grid operator)"}
    try:
        tracemalloc.start()
        traced = _one_run(problem, method, rtol, maxiter, history=True)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # what the tables say about the preconditioner, measured before the timed runs:
        # a GeometricMG owns its hierarchy while it lives, so dropping this one lets
        # the timed setups reuse it (as the next frame of a simulation would)
        P = traced.pop("P")
        apply_time = 0.0
        if P is not None:
            r = np.random.default_rng(0).standard_normal(problem.n)
            apply_time = median_seconds(lambda P=P: P.apply(r), repeats=5, warmup=0)
        dilu = isinstance(P, IncompleteCholesky) and not P.is_exact()
        described = repr(P) if P is not None else ""
        del P
        runs = [_one_run(problem, method, rtol, maxiter, history=False) for _ in range(repeat)]
    except Exception as err:  # a failure is a result, reported as one
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        return {**out, "status": f"error: {type(err).__name__}: {err}"}
    setup = statistics.median(r["setup"] for r in runs)
    solve = statistics.median(r["solve"] for r in runs)
    its = runs[0]["iterations"]
    converged = runs[0]["info"] == 0 and runs[0]["residual"] <= rtol
    per_it = solve / max(its, 1)
    hist = traced["history"]
    crossings = {}
    for t in THRESHOLDS:
        k = next((k for k, h in enumerate(hist) if h <= t), None)
        crossings[f"{t:g}"] = None if k is None else {"iteration": k,
                                                      "time": setup + k * per_it}
    status = "ok" if converged else \
        f"no convergence (info {runs[0]['info']}, residual {runs[0]['residual']:.2e})"
    if dilu:
        status += " (D-ILU: the pattern has triangles, so not full IC(0))"
    return {**out, "status": status,
            "iterations": its, "setup_s": setup, "first_setup_s": traced["setup"],
            "solve_s": solve, "total_s": setup + solve,
            "per_iteration_s": per_it, "apply_s": apply_time,
            "spmv_equivalents_per_iteration": 1 + apply_time / spmv_time,
            "peak_mib": peak / 2**20, "residual": runs[0]["residual"],
            "crossings": crossings, "repr": described,
            "history": hist}


def run(problems: list[str], methods: list[str], *, rtol: float = 1e-8,
        maxiter: int = 10000, repeat: int = 3, log=print) -> dict:
    """Run every method on every problem; returns the JSON record.

    Methods that run Taichi kernels (GMG, IC) need :func:`simkit.init` first (``main``
    calls it with ``--arch``); without it they are reported as errors.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    record = {"machine": machine_line(gpu=False), "date": utc_date(),
              "rtol": rtol, "maxiter": maxiter, "repeat": repeat, "problems": []}
    for spec in problems:
        problem = gallery.make(spec)
        A = problem.matrix()
        x = np.random.default_rng(0).standard_normal(problem.n)
        spmv = median_seconds(lambda A=A, x=x: A @ x, repeats=10, warmup=0)
        entry = {"spec": spec, "name": problem.name, "n": problem.n, "nnz": int(A.nnz),
                 "spmv_s": spmv, "info": {k: str(v) for k, v in problem.info.items()},
                 "results": []}
        for name in methods:
            res = run_method(problem, name, rtol=rtol, maxiter=maxiter, repeat=repeat,
                             spmv_time=spmv)
            log(f"{problem.name:28s} {res['label']:28s} {res['status'][:40]:40s} its "
                f"{res.get('iterations', '-')!s:>6} total {res.get('total_s', float('nan')):.3g} s")
            entry["results"].append(res)
        record["problems"].append(entry)
    return record


def _fmt(v, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def markdown(record: dict) -> str:
    lines = ["# Solver benchmark\n",
             f"Machine: {record['machine']}. Run {record['date']}. Stop: true relative "
             f"residual <= {record['rtol']:g} (float64). Times are medians of "
             f"{record['repeat']} runs; setup and solve timed separately. SpMV-eq/it = 1 + "
             "(one preconditioner application) / (one CSR SpMV), both measured here. Peak "
             "memory: Python-heap peak (numpy; Taichi fields not counted). it@tol: first "
             "iteration with true residual <= tol (time = setup + its x median s/it). 1st "
             "setup: the first setup in the process, which includes Taichi's kernel "
             "compilation (JIT or its disk cache) for GMG and IC; later setups reuse the "
             "kernels.\n"]
    for p in record["problems"]:
        lines.append(f"\n## {p['name']} (n = {p['n']}, nnz = {p['nnz']}, SpMV "
                     f"{p['spmv_s'] * 1e3:.2f} ms)\n")
        lines.append("| method | its | setup s | solve s | total s | ms/it | SpMV-eq/it | "
                     "peak MiB | it@1e-4 | it@1e-6 | it@1e-8 | 1st setup s | status |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in p["results"]:
            if "iterations" not in r:
                lines.append(f"| {r['label']} | - | - | - | - | - | - | - | - | - | - | - | "
                             f"{r['status']} |")
                continue
            cross = [r["crossings"][f"{t:g}"] for t in THRESHOLDS]
            lines.append(
                f"| {r['label']} | {r['iterations']} | {r['setup_s']:.3g} | "
                f"{r['solve_s']:.3g} | {r['total_s']:.3g} | {r['per_iteration_s'] * 1e3:.3g} | "
                f"{r['spmv_equivalents_per_iteration']:.2f} | {r['peak_mib']:.0f} | "
                + " | ".join("-" if c is None else f"{c['iteration']} ({c['time']:.2g} s)"
                             for c in cross)
                + f" | {r['first_setup_s']:.3g} | {r['status']} |")
    return "\n".join(lines) + "\n"


def plot(record: dict, out: Path, name: str) -> list[Path]:
    """One figure per problem: true relative residual against iteration and time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for p in record["problems"]:
        fig, (ax_it, ax_t) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for r in p["results"]:
            if "history" not in r:
                continue
            h = np.array(r["history"])
            k = np.arange(len(h))
            ax_it.semilogy(k, h, label=r["label"])
            ax_t.semilogy(r["setup_s"] + k * r["per_iteration_s"], h, label=r["label"])
        ax_it.set_xlabel("iteration")
        ax_t.set_xlabel("time incl. setup (s)")
        ax_it.set_ylabel("true relative residual")
        for ax in (ax_it, ax_t):
            ax.axhline(record["rtol"], color="k", lw=0.5, ls=":")
            ax.grid(True, which="major", alpha=0.3)
        ax_t.legend(fontsize=7)
        fig.suptitle(f"{p['name']} (n = {p['n']})")
        fig.tight_layout()
        path = out / f"{name}_{p['name']}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write(record: dict, out: Path, name: str) -> list[Path]:
    """Write ``name.json`` and ``name.md`` atomically (:func:`simkit.benchmark.write_results`)
    and the plots into ``out``; returns the paths in that order."""
    return write_results(out, name, record, markdown(record)) + plot(record, out, name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m solvers.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", default="poisson:32,obstacles:32",
                        help="comma-separated specs: kind:n (3D), kind:n2d, pyamg:name; "
                             f"kinds {sorted(gallery.PROBLEMS)}")
    parser.add_argument("--methods", default="cg,ic0,mic0,gmg,amg_sa,amg_rs",
                        help=f"comma-separated, from {sorted(METHODS)}")
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--maxiter", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("experiments/results"))
    parser.add_argument("--name", default="solvers_bench")
    parser.add_argument("--arch", default="cpu", choices=["cpu", "cuda", "vulkan", "auto"],
                        help="Taichi arch for GMG and IC (simkit.init(arch, 'f64'); IC's "
                             "diagonal is a serial loop, fastest on the CPU)")
    args = parser.parse_args(argv)
    import simkit

    simkit.init(args.arch, "f64")
    record = run(args.problems.split(","), args.methods.split(","), rtol=args.rtol,
                 maxiter=args.maxiter, repeat=args.repeat)
    for path in write(record, args.out, args.name):
        print("wrote", path)


if __name__ == "__main__":
    main()
