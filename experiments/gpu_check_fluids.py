"""GPU checks of the fluids issue, run as one script on a CUDA machine.

* MGPCG (Taichi, ``arch=cuda``): iterations and solve time to a true relative residual
  of 1e-6 on 3D smoke pressure systems with obstacles and on the Taichi example's box,
  at 128^3 and 256^3; the Taichi example's own MGPCG on its box (128^3) in the same run.
* One MAC fluid step (3D smoke with obstacles) at 128^3.
* The spectral solver with ``torch.fft`` on the GPU: steps per second at 256^2, batch
  20, against the same transforms alone (the FFT-bound rate), both in the same run.

Writes ``<out>/gpu_check_fluids.json`` and ``.md``. Medians of ``--repeats``, after a
warm-up (JIT excluded; first calls reported separately).
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import taichi as ti
import torch

import simkit
from simkit.benchmark import machine_line, utc_date, write_results
from simkit.simulators.fluid.benchmarks import (
    smoke_pressure_system,
    taichi_example_box,
    time_mgpcg,
    time_taichi_example,
)
from simkit.simulators.fluid.simulator import FluidSimulator
from simkit.simulators.spectral_ns import SpectralNS2D, gaussian_random_field


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    ti.sync()


def cuda_timed(fn, n_iter: int) -> float:
    """Seconds per call of ``fn`` with the GPU synchronised around the loop."""
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(n_iter):
        fn()
    sync()
    return (time.perf_counter() - t0) / n_iter


def spectral(n: int, batch: int, steps: int, repeats: int, device: str) -> dict:
    w0 = gaussian_random_field(np.random.default_rng(0), n, batch=batch)
    solver = SpectralNS2D(w0, nu=1e-3, dt=1e-4, device=device)
    spec4 = torch.stack([solver.w_hat] * 4)
    field = torch.fft.irfft2(solver.w_hat)

    def ffts():  # the transforms of one step: 4 inverse (one call) and 1 forward
        torch.fft.irfft2(spec4, s=(n, n))
        torch.fft.rfft2(field)

    step_s, fft_s = [], []
    for _ in range(repeats):
        step_s.append(cuda_timed(solver.step, steps))
        fft_s.append(cuda_timed(ffts, steps))
    step, fft = statistics.median(step_s), statistics.median(fft_s)
    return {"n": n, "batch": batch, "step_s": step, "fft_s": fft,
            "steps_per_s": 1 / step, "ratio_to_fft_bound": fft / step}


def fluid_step(n: int, repeats: int) -> dict:
    sim = FluidSimulator.from_scene("smoke_plume", {"dim": 3, "resolution": n,
                                                   "n_obstacles": 3}, seed=7)
    t0 = time.perf_counter()
    sim.engine.step()
    ti.sync()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sim.engine.step()
        ti.sync()
        times.append(time.perf_counter() - t0)
    return {"n": n, "step_s": statistics.median(times), "first_step_s": first,
            "pressure_iterations": sim.engine.last_solve.iterations}


def render(r: dict) -> str:
    sp = r["spectral"]
    lines = ["# Fluids on a GPU: MGPCG, the MAC fluid step, the spectral solver", "",
             f"Machine: {r['machine']}. Run {r['date']}; medians of {r['repeats']} repeats "
             "after a warm-up. Produced by `python -m experiments.gpu_check_fluids`.", "",
             "## MGPCG (Taichi, arch=cuda), to a true relative residual of 1e-6", "",
             "| problem | n^3 | iterations | setup s | solve s | first call s (JIT) |",
             "|---|---|---|---|---|---|"]
    for row in r["mgpcg"]:
        lines.append(f"| {row['problem']} | {row['n']} | {row['iterations']} | "
                     f"{row['setup_s']:.3f} | {row['solve_s']:.3f} | {row['first_call_s']:.1f} |")
    if "taichi_example_128" in r:
        ex = r["taichi_example_128"]
        lines.append(f"| taichi example box, the example's own MGPCG | 128 | {ex['iterations']} "
                     f"| (in solve) | {ex['solve_s']:.3f} | {ex['first_call_s']:.1f} |")
    fs = r["fluid_step"]
    lines += ["", f"One MAC fluid step (3D smoke, obstacles, {fs['n']}^3): {fs['step_s']:.3f} s "
              f"({fs['pressure_iterations']} MGPCG iterations).", "",
              "## Spectral Navier-Stokes with torch.fft", "",
              f"{sp['n']}^2, batch {sp['batch']}: {sp['steps_per_s']:.0f} steps/s; the same "
              f"transforms alone {1 / sp['fft_s']:.0f}/s; ratio {sp['ratio_to_fft_bound']:.2f} "
              "(goal 0.7)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda", help="'cpu' for a dry run")
    args = ap.parse_args(argv)
    simkit.init(args.device, "f32", seed=0)
    result = {"machine": machine_line(), "date": utc_date(),
              "repeats": args.repeats, "mgpcg": []}

    def save(markdown=None):
        write_results(args.out, "gpu_check_fluids", result, markdown, echo=True)

    result["spectral"] = spectral(256, 20, 50, args.repeats, args.device)
    save()
    print(result["spectral"], flush=True)
    for n in args.sizes:
        result["mgpcg"].append({"problem": "smoke + obstacles", "n": n,
                                **time_mgpcg(*smoke_pressure_system(n), args.repeats)})
        result["mgpcg"].append({"problem": "taichi example box", "n": n,
                                **time_mgpcg(*taichi_example_box(n), args.repeats)})
        save()
        print(result["mgpcg"][-2:], flush=True)
    if 128 in args.sizes:
        result["taichi_example_128"] = time_taichi_example(args.repeats)
        save()
    result["fluid_step"] = fluid_step(min(args.sizes), args.repeats)
    save(render(result))


if __name__ == "__main__":
    main()
