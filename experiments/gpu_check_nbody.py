"""GPU check of the N-body issue: direct-summation interactions per second on CUDA.

The Taichi kernel of :mod:`simkit.simulators.nbody.gravity` (one thread per receiving
body) at N up to 2^19, f32 and f64; medians of ``--repeats`` after a warm-up, the
host-device copies of positions and results included. Writes
``<out>/gpu_check_nbody.json`` and ``.md``.
"""

import argparse
from pathlib import Path

import numpy as np

import simkit
from simkit.benchmark import machine_line, median_seconds, utc_date, write_results
from simkit.simulators.nbody.gravity import accelerations


def rate(n: int, dtype, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    x, m = rng.normal(size=(n, 3)), np.full(n, 1.0 / n)
    # numpy out: each call ends synchronised
    t = median_seconds(lambda: accelerations(x, m, 1.0, 0.01, dtype=dtype), repeats=repeats)
    return {"n": n, "dtype": np.dtype(dtype).name, "seconds": t, "interactions_per_s": n * n / t}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arch", default="cuda")
    args = ap.parse_args(argv)
    simkit.init(args.arch, "f32", seed=0)
    rows = [rate(n, np.float32, args.repeats) for n in (2**16, 2**18, 2**19)]
    rows += [rate(n, np.float64, args.repeats) for n in (2**16, 2**18)]
    result = {"machine": machine_line(), "arch": args.arch, "date": utc_date(), "rows": rows}
    lines = ["# Direct-summation gravity on a GPU", "",
             f"Machine: {result['machine']}. Run {result['date']}; medians of {args.repeats}. "
             "Produced by `python -m experiments.gpu_check_nbody`.", "",
             "| N | precision | seconds per evaluation | interactions/s |", "|---|---|---|---|"]
    lines += [f"| {r['n']} | {r['dtype']} | {r['seconds']:.4f} | {r['interactions_per_s']:.3g} |"
              for r in rows]
    lines += ["", "Goal (issue 5): 1e12 interactions/s at N = 2^19 on an H100."]
    write_results(args.out, "gpu_check_nbody", result, "\n".join(lines), echo=True)


if __name__ == "__main__":
    main()
