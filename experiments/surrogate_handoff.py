"""Hand a running spectral solver's state to a trained surrogate, and compare.

The solver (``spectral_ns``, scene ``fno``) runs from a fresh random vorticity for the
surrogate's ``n_input`` stored frames; the surrogate then rolls out ``--steps`` frames
from that state while the solver goes on to make the truth. Both are timed. Writes
``<out>/handoff.png`` (solver, surrogate, difference) and returns the numbers.

``python -m experiments.surrogate_handoff CHECKPOINT --resolution 64 --stored 32 --dt 1e-3``
(the solver settings must be those of the training data).
"""

import argparse
import time
from pathlib import Path

import numpy as np

from experiments.plot_rollout import plot_truth_prediction_error, relative_l2_per_step
from simkit.simulators.spectral_ns import SpectralNSSimulator
from surrogates import load


def handoff(checkpoint: Path, out: Path, *, resolution: int, stored: int, dt: float,
            viscosity: float = 1e-3, steps: int = 5, seed: int = 1234) -> dict:
    """Run the hand-off; returns per-step relative L2 errors of the surrogate and of
    holding the last solver frame, and the timings."""
    surrogate = load(checkpoint)
    if tuple(surrogate.grid) != (stored, stored):
        raise ValueError(f"the surrogate works on {surrogate.grid}, not {stored}^2: pass the "
                         "training data's --stored")
    sim = SpectralNSSimulator.from_scene("fno", {"resolution": resolution,
                                                 "stored_resolution": stored,
                                                 "viscosity": viscosity, "dt": dt}, seed=seed)
    frame_dt = surrogate.dt
    frames = [sim.state()["vorticity"]]
    for k in range(1, surrogate.n_input):
        sim.advance(k * frame_dt)
        frames.append(sim.state()["vorticity"])
    t0 = time.perf_counter()
    truth = []
    for k in range(steps):
        sim.advance((surrogate.n_input + k) * frame_dt)
        truth.append(sim.state()["vorticity"])
    solver_s = time.perf_counter() - t0
    truth = np.stack(truth)
    surrogate.rollout(np.stack(frames), 1)  # warm-up
    t0 = time.perf_counter()
    pred = surrogate.rollout(np.stack(frames), steps)
    surrogate_s = time.perf_counter() - t0
    rel = relative_l2_per_step(pred, truth)
    persistence = relative_l2_per_step(np.broadcast_to(frames[-1], truth.shape), truth)

    shown = sorted({0, steps // 2, steps - 1})
    plot_truth_prediction_error(
        truth[shown], pred[shown], [(surrogate.n_input + k) * frame_dt for k in shown],
        "vorticity [1/s]", f"solver state at t = {(surrogate.n_input - 1) * frame_dt:g} s "
        f"handed to the surrogate ({stored}^2)", out / "handoff.png", truth_name="solver")
    return {"rel_l2": rel.tolist(), "persistence_rel_l2": persistence.tolist(),
            "solver_s": solver_s, "surrogate_s": surrogate_s,
            "figure": str(out / "handoff.png")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/handoff"))
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--stored", type=int, default=32)
    ap.add_argument("--dt", type=float, default=1e-3)
    ap.add_argument("--viscosity", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    res = handoff(args.checkpoint, args.out, resolution=args.resolution, stored=args.stored,
                  dt=args.dt, viscosity=args.viscosity, steps=args.steps, seed=args.seed)
    print(f"relative L2 per step: {np.round(res['rel_l2'], 3).tolist()}; solver "
          f"{res['solver_s']:.2f} s, surrogate {res['surrogate_s']:.3f} s; {res['figure']}")


if __name__ == "__main__":
    main()
