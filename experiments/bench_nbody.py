"""Direct-summation throughput (``make bench``): interactions per second against REBOUND.

Ours: one evaluation of all accelerations (the Taichi kernel, f32 and f64) at N
bodies. Baseline in the same run: REBOUND's leapfrog with its basic O(N^2) gravity,
one step at the same N (one force evaluation per step). An interaction is one ordered
pair (i, j), N^2 per evaluation. Medians of ``--repeats``; results in
``<out>/nbody_bench.md`` and ``.json``.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

import simkit
from experiments.bench_io import machine
from simkit.simulators.nbody import ics
from simkit.simulators.nbody.gravity import accelerations


def time_ours(n: int, dtype, repeats: int) -> float:
    m, x, _ = ics.plummer(n, np.random.default_rng(0))
    accelerations(x, m, 1.0, 0.01, dtype=dtype)  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        accelerations(x, m, 1.0, 0.01, dtype=dtype)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
    sim.steps(1)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sim.steps(1)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(sizes: list[int], repeats: int) -> dict:
    rows = []
    for n in sizes:
        reb = time_rebound(n, repeats)
        row = {"n": n, "rebound_s": reb, "rebound_rate": n * n / reb}
        for name, dtype in (("f64", np.float64), ("f32", np.float32)):
            t = time_ours(n, dtype, repeats)
            row[f"{name}_s"], row[f"{name}_rate"] = t, n * n / t
        rows.append(row)
    return {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "repeats": repeats, "rows": rows}


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
              "on 2 cores."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    simkit.init("cpu", "f64", seed=0)
    result = run(args.sizes, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nbody_bench.json").write_text(json.dumps(result, indent=2))
    (args.out / "nbody_bench.md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
