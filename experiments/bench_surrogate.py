"""Surrogate rollout against the spectral solver making the same stored frames.

The FNO paper's setting: the solver runs at 256^2 with dt = 1e-4 and stores one 64^2
frame per time unit (10^4 steps per frame); at nu = 1e-3 a 64^2 solve with Heun steps of
4e-3 gives the same stored frames, so both set-ups are timed. The surrogate (the paper's FNO-2D: 12
modes, width 32, 4 layers) predicts the next 64^2 frame from the last ``n_input``. Both
are timed per stored frame and batch, on the same device, in the same run; the
surrogate's time includes normalisation and the numpy <-> torch transfers of
``surrogates.Surrogate.rollout``, its warm-up call excluded. Its weights are untrained:
speed does not depend on them. Results: ``<out>/<name>.md`` and ``.json``.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from simkit.benchmark import machine_line, utc_date, write_results
from simkit.simulators.spectral_ns import SpectralNS2D, downsample, gaussian_random_field
from surrogates.inference import Surrogate, surrogate_info
from surrogates.models import build_autoregressive
from surrogates.timing import rollout_seconds


def paper_fno(n_input: int, stored: int, device: str) -> Surrogate:
    config = {"n_modes": [12, 12], "hidden_channels": 32, "n_layers": 4}
    net, _ = build_autoregressive("fno", config, channels=1, n_input=n_input)
    schema = {"variables": ["vorticity"], "frame_shapes": {"vorticity": [stored, stored]},
              "grid": [stored, stored], "write_interval": 1.0}
    info = surrogate_info("fno", config, n_input, 1, {"mean": [0.0], "std": [1.0]}, schema)
    return Surrogate(info, net.state_dict(), device)


def sync(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize(device)


def solver_seconds_per_frame(batch: int, solve: int, dt: float, scheme: str, stored: int,
                             device: str) -> float:
    """One stored frame (1 s of flow) of the spectral solver, downsampled on the host."""
    w0 = gaussian_random_field(np.random.default_rng(0), solve, batch=batch)
    # on a GPU the solver's transforms are torch.fft there; on the CPU scipy.fft
    solver = SpectralNS2D(w0, nu=1e-3, dt=dt, scheme=scheme, workers=os.cpu_count() or 1,
                          device=None if device == "cpu" else device)
    for _ in range(10):  # warm-up: FFT plans, first kernel launches
        solver.step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(round(1.0 / dt)):
        solver.step()
    downsample(solver.vorticity(), stored)
    return time.perf_counter() - t0  # timed once: it is long


def surrogate_seconds_per_frame(batch: int, stored: int, frames: int, repeats: int,
                                device: str) -> float:
    state = np.random.default_rng(1).standard_normal((batch, 10, stored, stored))
    return rollout_seconds(paper_fno(10, stored, device), state, frames,
                           repeats=repeats) / frames


def parse_solvers(spec: str) -> list[dict]:
    """``"256:1e-4:euler,64:4e-3:heun"`` -> solver set-ups (grid, dt, scheme)."""
    out = []
    for item in spec.split(","):
        n, dt, scheme = item.split(":")
        out.append({"solve": int(n), "dt": float(dt), "scheme": scheme})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--name", default="surrogate_bench", help="output file stem")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--solvers", default="256:1e-4:euler,64:4e-3:heun",
                    help="grid:dt:scheme,... solver set-ups to time")
    ap.add_argument("--stored", type=int, default=64)
    ap.add_argument("--frames", type=int, default=40, help="surrogate rollout length")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    rows = []
    for b in (int(b) for b in args.batches.split(",")):
        surrogate = surrogate_seconds_per_frame(b, args.stored, args.frames, args.repeats,
                                                args.device)
        for setup in parse_solvers(args.solvers):
            solver = solver_seconds_per_frame(b, setup["solve"], setup["dt"], setup["scheme"],
                                              args.stored, args.device)
            rows.append({"batch": b, **setup, "solver_s_per_frame": solver,
                         "surrogate_s_per_frame": surrogate, "speedup": solver / surrogate})
    record = {"machine": machine_line(), "device": args.device, "date": utc_date(),
              "torch_threads": torch.get_num_threads(), **vars(args), "out": str(args.out),
              "rows": rows}
    fft = "scipy.fft" if args.device == "cpu" else "torch.fft, float64"
    lines = ["# Surrogate rollout against the spectral solver", "",
             f"Machine: {record['machine']}; device {args.device} (torch threads "
             f"{record['torch_threads']}). Run {record['date']}. Solver ({fft}): one stored "
             f"{args.stored}^2 frame (1 s of flow) per set-up and batch, timed once. "
             f"Surrogate: FNO-2D (12 modes, width 32, 4 layers) on {args.stored}^2, 10 "
             f"frames in, rollout of {args.frames} frames through `Surrogate.rollout` "
             f"(normalisation and transfers included, warm-up excluded), median of "
             f"{args.repeats}. Produced by `python -m experiments.bench_surrogate`.", "",
             "| batch | solver grid | solver dt | scheme | solver s / frame | "
             "surrogate s / frame | speed-up |", "|---:|---:|---:|---|---:|---:|---:|"]
    lines += [f"| {r['batch']} | {r['solve']}^2 | {r['dt']:g} | {r['scheme']} | "
              f"{r['solver_s_per_frame']:.3g} | {r['surrogate_s_per_frame']:.3g} | "
              f"{r['speedup']:.0f}x |" for r in rows]
    lines += ["", "256^2 at dt 1e-4 (forward Euler advection) is the FNO paper's data "
              "generator. 64^2 at dt 4e-3 (Heun) gives the same stored 64^2 frames at "
              "nu = 1e-3 (experiments/results/ns_solver_check.md: the cheapest set-up we "
              "verified), the honest baseline at this viscosity.", "",
              "Goal (issue 7): at least 100x on a GPU.", ""]
    write_results(args.out, args.name, record, "\n".join(lines), echo=True)


if __name__ == "__main__":
    main()
