"""Spectral Navier-Stokes throughput (``make bench``): steps per second against the FFTs alone.

One step of :class:`simkit.simulators.spectral_ns.SpectralNS2D` (forward-Euler
advection) needs 4 inverse and 1 forward real 2D FFT of the batch; the baseline,
timed in the same run, is exactly those 5 transforms (``scipy.fft``, same shapes and
workers) with nothing else. The ratio says how close the solver is to FFT-bound.
Results: ``<out>/spectral_bench.md`` and ``.json``; medians over ``--repeats``.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from simkit.benchmark import machine_line, utc_date, write_results
from simkit.simulators.spectral_ns import SpectralNS2D, gaussian_random_field


def time_it(fn, n_iter: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n_iter):
        fn()
    return (time.perf_counter() - t0) / n_iter


def run(n: int, batch: int, steps: int, repeats: int) -> dict:
    workers = os.cpu_count() or 1
    w0 = gaussian_random_field(np.random.default_rng(0), n, batch=batch)
    solver = SpectralNS2D(w0, nu=1e-3, dt=1e-4, workers=workers)
    spec = solver.w_hat.copy()
    field = w0.copy()

    def ffts():
        for _ in range(4):
            sfft.irfft2(spec, s=(n, n), axes=(-2, -1), workers=workers)
        sfft.rfft2(field, axes=(-2, -1), workers=workers)

    step_s, fft_s = [], []
    for _ in range(repeats):
        step_s.append(time_it(solver.step, steps))
        fft_s.append(time_it(ffts, steps))
    step, fft = statistics.median(step_s), statistics.median(fft_s)
    return {"machine": machine_line(gpu=False), "n": n, "batch": batch, "workers": workers,
            "date": utc_date(), "repeats": repeats,
            "step_s": step, "fft_s": fft, "steps_per_s": 1 / step, "fft_bound_steps_per_s": 1 / fft,
            "ratio": fft / step}


def render(r: dict) -> str:
    return "\n".join([
        "# Spectral Navier-Stokes throughput", "",
        f"Machine: {r['machine']}. Run {r['date']}; medians of {r['repeats']} repeats; "
        f"{r['n']}^2 grid, batch {r['batch']}, scipy.fft with {r['workers']} workers. "
        "Produced by `python -m experiments.bench_spectral`.", "",
        "| | time per step | steps per second |", "|---|---:|---:|",
        f"| solver step (Euler advection, CN viscosity) | {r['step_s'] * 1e3:.1f} ms | "
        f"{r['steps_per_s']:.1f} |",
        f"| its 5 FFTs alone (baseline) | {r['fft_s'] * 1e3:.1f} ms | "
        f"{r['fft_bound_steps_per_s']:.1f} |", "",
        f"Solver rate / FFT-bound rate: **{r['ratio']:.2f}** (goal: at least 0.7).", ""])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    res = run(args.n, args.batch, args.steps, args.repeats)
    write_results(args.out, "spectral_bench", res, render(res), echo=True)


if __name__ == "__main__":
    main()
