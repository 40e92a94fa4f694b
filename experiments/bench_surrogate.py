"""Surrogate rollout against the spectral solver making the same stored frames.

The FNO paper's setting: the solver runs at 256^2 with dt = 1e-4 and stores one 64^2
frame per time unit (10^4 steps per frame); the surrogate (the paper's FNO-2D: 12
modes, width 32, 4 layers) predicts the next 64^2 frame from the last ``n_input``. Both
are timed per stored frame and batch, on the same device, in the same run; the
surrogate's time includes normalisation and the numpy <-> torch transfers of
``surrogates.Surrogate.rollout``, its warm-up call excluded. Its weights are untrained:
speed does not depend on them. Results: ``<out>/surrogate_bench.md`` and ``.json``.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from simkit.provenance import machine
from simkit.simulators.spectral_ns import SpectralNS2D, gaussian_random_field
from surrogates.inference import FORMAT, Surrogate
from surrogates.models import build


def paper_fno(n_input: int, stored: int, device: str) -> Surrogate:
    config = {"n_modes": [12, 12], "hidden_channels": 32, "n_layers": 4}
    net = build("fno", n_input, 1, **config)
    info = {"format": FORMAT, "model": "fno", "model_config": config, "n_input": n_input,
            "frames_per_call": 1, "normaliser": {"mean": [0.0], "std": [1.0]},
            "variables": ["vorticity"], "frame_shapes": {"vorticity": [stored, stored]},
            "grid": [stored, stored], "write_interval": 1.0}
    return Surrogate(info, net.state_dict(), device)


def run(batch: int, solve: int, stored: int, steps_per_frame: int, frames: int,
        repeats: int, device: str) -> dict:
    workers = os.cpu_count() or 1
    w0 = gaussian_random_field(np.random.default_rng(0), solve, batch=batch)
    solver = SpectralNS2D(w0, nu=1e-3, dt=1e-4, workers=workers)
    t0 = time.perf_counter()
    for _ in range(steps_per_frame):
        solver.step()
    solver_frame = time.perf_counter() - t0  # one stored frame, timed once (it is long)

    surrogate = paper_fno(10, stored, device)
    state = np.random.default_rng(1).standard_normal((batch, 10, stored, stored))
    surrogate.rollout(state, 1)  # warm-up
    times = []
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        surrogate.rollout(state, frames)
        times.append((time.perf_counter() - t0) / frames)
    surrogate_frame = statistics.median(times)
    return {"batch": batch, "solver_s_per_frame": solver_frame,
            "surrogate_s_per_frame": surrogate_frame, "speedup": solver_frame / surrogate_frame}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--solve", type=int, default=256)
    ap.add_argument("--stored", type=int, default=64)
    ap.add_argument("--steps-per-frame", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=40, help="surrogate rollout length")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    rows = [run(int(b), args.solve, args.stored, args.steps_per_frame, args.frames,
                args.repeats, args.device) for b in args.batches.split(",")]
    record = {"machine": machine(), "device": args.device,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "torch_threads": torch.get_num_threads(), **vars(args), "out": str(args.out),
              "rows": rows}
    lines = ["# Surrogate rollout against the spectral solver", "",
             f"Machine: {record['machine']}; device {args.device} (torch threads "
             f"{record['torch_threads']}). Run {record['date']}. Solver: {args.solve}^2, "
             f"dt 1e-4, {args.steps_per_frame} steps per stored frame (scipy.fft), timed "
             f"once per batch. Surrogate: FNO-2D (12 modes, width 32, 4 layers) on "
             f"{args.stored}^2, 10 frames in, rollout of {args.frames} frames through "
             f"`Surrogate.rollout` (normalisation and transfers included, warm-up "
             f"excluded), median of {args.repeats}. Produced by "
             "`python -m experiments.bench_surrogate`.", "",
             "| batch | solver s / frame | surrogate s / frame | speed-up |",
             "|---:|---:|---:|---:|"]
    lines += [f"| {r['batch']} | {r['solver_s_per_frame']:.3g} | "
              f"{r['surrogate_s_per_frame']:.3g} | {r['speedup']:.0f}x |" for r in rows]
    lines += ["", "Goal (issue 7): at least 100x on a GPU; this table is the CPU ratio "
              "unless the device says otherwise.", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "surrogate_bench.json").write_text(json.dumps(record, indent=1) + "\n")
    (args.out / "surrogate_bench.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
