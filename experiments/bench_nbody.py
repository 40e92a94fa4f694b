"""N-body gravity throughput (``make bench``): direct summation against REBOUND, and the
Barnes-Hut tree against direct summation.

Ours: one evaluation of all accelerations (the Taichi kernel, f32 and f64) at N
bodies. Baseline in the same run: REBOUND's leapfrog with its basic O(N^2) gravity,
one step at the same N (one force evaluation per step). An interaction is one ordered
pair (i, j), N^2 per evaluation. The tree (theta = 0.5, float64, build included) is
timed against the f64 direct sum at the same N, with its median relative force error
against it. Medians of ``--repeats``; results in
``<out>/nbody_bench.md`` and ``.json``.
"""

import argparse
from pathlib import Path

import numpy as np

import simkit
from simkit.benchmark import machine_line, median_seconds, utc_date, write_results
from simkit.simulators.nbody import ics
from simkit.simulators.nbody.gravity import accelerations
from simkit.simulators.nbody.tree import tree_accelerations


def time_ours(n: int, dtype, repeats: int) -> float:
    m, x, _ = ics.plummer(n, np.random.default_rng(0))
    # the warm-up call compiles
    return median_seconds(lambda: accelerations(x, m, 1.0, 0.01, dtype=dtype), repeats=repeats)


def time_rebound(n: int, repeats: int) -> float:
    import rebound

    m, x, v = ics.plummer(n, np.random.default_rng(0))
    sim = rebound.Simulation()
    sim.integrator = "leapfrog"
    sim.gravity = "basic"
    sim.softening = 0.01
    sim.dt = 1e-3
    for mi, xi, vi in zip(m, x, v, strict=True):
        sim.add(m=mi, x=xi[0], y=xi[1], z=xi[2], vx=vi[0], vy=vi[1], vz=vi[2])
    return median_seconds(lambda: sim.steps(1), repeats=repeats)


def time_tree(n: int, repeats: int) -> dict:
    m, x, _ = ics.plummer(n, np.random.default_rng(0))
    ref = accelerations(x, m, 1.0, 0.01)
    # the warm-up call compiles
    seconds = median_seconds(lambda: tree_accelerations(x, m, 1.0, 0.01, theta=0.5),
                             repeats=repeats)
    acc = tree_accelerations(x, m, 1.0, 0.01, theta=0.5)
    err = np.linalg.norm(acc - ref, axis=1) / np.linalg.norm(ref, axis=1)
    return {"n": n, "tree_s": seconds, "direct_f64_s": time_ours(
        n, np.float64, repeats), "median_error": float(np.median(err))}


def run(sizes: list[int], repeats: int) -> dict:
    rows = []
    for n in sizes:
        reb = time_rebound(n, repeats)
        row = {"n": n, "rebound_s": reb, "rebound_rate": n * n / reb}
        for name, dtype in (("f64", np.float64), ("f32", np.float32)):
            t = time_ours(n, dtype, repeats)
            row[f"{name}_s"], row[f"{name}_rate"] = t, n * n / t
        rows.append(row)
    tree = [time_tree(n, repeats) for n in (1024, 4096, 16384, 65536)]
    return {"machine": machine_line(), "date": utc_date(),
            "repeats": repeats, "rows": rows, "tree": tree}


def render(r: dict) -> str:
    lines = ["# Direct-summation gravity: interactions per second", "",
             f"Machine: {r['machine']}. Run {r['date']}; medians of {r['repeats']} repeats. "
             "Produced by `python -m experiments.bench_nbody`.", "",
             "| N | REBOUND leapfrog, basic gravity (1 core) | ours f64 (Taichi) | ours f32 "
             "(Taichi) | f64 / REBOUND | f32 / REBOUND |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['n']} | {row['rebound_rate']:.3g} | {row['f64_rate']:.3g} | "
                     f"{row['f32_rate']:.3g} | {row['f64_rate'] / row['rebound_rate']:.2f} | "
                     f"{row['f32_rate'] / row['rebound_rate']:.2f} |")
    lines += ["", "Goals (issue 5): f64 at least 3x REBOUND; f32 at least 4e9 interactions/s "
              "on 2 cores.", "", "## Barnes-Hut (theta = 0.5, quadrupoles) against direct f64",
              "", "| N | tree s | direct f64 s | tree / direct | median force error |",
              "|---|---|---|---|---|"]
    for t in r["tree"]:
        lines.append(f"| {t['n']} | {t['tree_s']:.4f} | {t['direct_f64_s']:.4f} | "
                     f"{t['tree_s'] / t['direct_f64_s']:.2f} | {t['median_error']:.1e} |")
    faster = [t["n"] for t in r["tree"] if t["tree_s"] < t["direct_f64_s"]]
    lines += ["", f"The tree is faster from N = {faster[0]} on (of the sizes timed)."
              if faster else "The tree is not faster at any size timed."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    simkit.init("cpu", "f64", seed=0)
    result = run(args.sizes, args.repeats)
    write_results(args.out, "nbody_bench", result, render(result), echo=True)


if __name__ == "__main__":
    main()
