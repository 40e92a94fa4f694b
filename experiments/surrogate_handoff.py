"""Hand a running spectral solver's state to a trained surrogate, and compare.

The solver (``spectral_ns``) runs from a fresh random vorticity for the surrogate's
``n_input`` stored frames; the surrogate then rolls out ``--steps`` frames from that
state while the solver goes on to make the truth. Both are timed. The solver is built
with the scene and parameters the checkpoint records for its training data (viscosity,
resolutions, time step, scheme, forcing), so the truth is the same equation solved the
same way; a fresh seed (one no training trajectory used) gives a held-out state.
Writes ``<out>/handoff.png`` (solver, surrogate, difference) and returns the numbers.

``python -m experiments.surrogate_handoff CHECKPOINT --steps 5 --seed 1234``
"""

import argparse
import time
from pathlib import Path

import numpy as np

from experiments.plot_rollout import plot_truth_prediction_error, relative_l2_per_step
from simkit.simulators.spectral_ns import SpectralNSSimulator
from surrogates import load


def solver_settings(info: dict) -> tuple[str, dict]:
    """The scene and parameters of the ``spectral_ns`` runs a surrogate was trained on,
    from its checkpoint's ``"simulator"`` block (the parameters every train trajectory
    shared)."""
    sim = info.get("simulator")
    if not sim or sim.get("name") != "spectral_ns":
        name = None if not sim else sim.get("name")
        raise ValueError(f"the hand-off needs a surrogate trained on spectral_ns data; this "
                         f"checkpoint records simulator {name!r}")
    if sim.get("varying"):
        raise ValueError(f"the training data varied {sim['varying']}: which values the "
                         "solver should use is not recorded")
    return sim["scene"], dict(sim["params"])


def handoff(checkpoint: Path, out: Path, *, steps: int = 5, seed: int = 1234,
            plot: bool = True) -> dict:
    """Run the hand-off from the random initial vorticity of ``seed``.

    Returns
    -------
    dict
        ``rel_l2`` and ``persistence_rel_l2``: ``(steps,)`` lists, the relative L2 error
        ``||pred_k - truth_k|| / ||truth_k||`` of the surrogate's frame ``k`` and of the
        last handed-over frame held; ``extrapolation_rel_l2``, the same for the last two
        handed-over frames extrapolated linearly (``None`` for one frame in); ``times``
        (s) of those frames; ``solver_s`` and ``surrogate_s``, the wall time of each for
        the ``steps`` frames; ``figure`` (``None`` without ``plot``).
    """
    surrogate = load(checkpoint)
    scene, params = solver_settings(surrogate.info)
    sim = SpectralNSSimulator.from_scene(scene, params, seed=seed)
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
    extrapolation = None
    if len(frames) >= 2:  # the last two frames' change, continued
        ahead = np.arange(1, steps + 1).reshape(-1, *(1,) * frames[-1].ndim)
        extrapolation = relative_l2_per_step(frames[-1] + ahead * (frames[-1] - frames[-2]),
                                             truth).tolist()
    times = [(surrogate.n_input + k) * frame_dt for k in range(steps)]

    figure = None
    if plot:
        shown = sorted({0, steps // 2, steps - 1})
        figure = out / "handoff.png"
        plot_truth_prediction_error(
            truth[shown], pred[shown], [times[k] for k in shown], "vorticity [1/s]",
            f"solver state at t = {(surrogate.n_input - 1) * frame_dt:g} s handed to the "
            f"surrogate ({'x'.join(map(str, surrogate.grid))})", figure, truth_name="solver")
    return {"rel_l2": rel.tolist(), "persistence_rel_l2": persistence.tolist(),
            "extrapolation_rel_l2": extrapolation, "times": times, "solver_s": solver_s,
            "surrogate_s": surrogate_s, "figure": None if figure is None else str(figure)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/handoff"))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    res = handoff(args.checkpoint, args.out, steps=args.steps, seed=args.seed)
    print(f"relative L2 per step: {np.round(res['rel_l2'], 3).tolist()} (persistence "
          f"{np.round(res['persistence_rel_l2'], 3).tolist()}); solver {res['solver_s']:.2f} s, "
          f"surrogate {res['surrogate_s']:.3f} s; {res['figure']}")


if __name__ == "__main__":
    main()
