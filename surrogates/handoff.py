"""Hand a running spectral solver's state to a trained surrogate, and compare.

The solver (``spectral_ns``) runs from a fresh random vorticity for the surrogate's
``n_input`` stored frames; the surrogate then rolls out from that state while the
solver goes on to make the truth. The solver is built with the scene and parameters
the checkpoint records for its training data (viscosity, resolutions, time step,
scheme, forcing), so the truth is the same equation solved the same way; a seed no
training trajectory used gives a held-out state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from surrogates.inference import load
from surrogates.metrics import relative_l2_per_step

__all__ = ["solver_settings", "handoff"]


def solver_settings(info: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The scene and parameters of the ``spectral_ns`` runs a surrogate was trained on.

    Parameters
    ----------
    info : dict
        A checkpoint's ``Surrogate.info``; its ``"simulator"`` block records the scene
        and the parameters every train trajectory shared.

    Returns
    -------
    (str, dict)
        The scene and a copy of the parameters.

    Raises
    ------
    ValueError
        The surrogate was not trained on ``spectral_ns`` data, or its training data
        varied parameters (which values the solver should use is not recorded).
    """
    sim = info.get("simulator")
    if not sim or sim.get("name") != "spectral_ns":
        name = None if not sim else sim.get("name")
        raise ValueError(f"the hand-off needs a surrogate trained on spectral_ns data; this "
                         f"checkpoint records simulator {name!r}")
    if sim.get("varying"):
        raise ValueError(f"the training data varied {sim['varying']}: which values the "
                         "solver should use is not recorded")
    return sim["scene"], dict(sim["params"])


def handoff(checkpoint: str | Path, out: str | Path, *, steps: int = 5, seed: int = 1234,
            plot: bool = True) -> dict[str, Any]:
    """Run the hand-off from the random initial vorticity of ``seed``.

    Parameters
    ----------
    checkpoint : path
        A surrogate trained on ``spectral_ns`` data with fixed parameters.
    out : path
        Folder of the figure ``handoff.png``.
    steps : int
        Frames the surrogate rolls out (and the solver makes as truth).
    seed : int
        Seed of the solver's initial vorticity.
    plot : bool
        Draw solver, surrogate and difference at three of the frames.

    Returns
    -------
    dict
        ``rel_l2`` and ``persistence_rel_l2``: ``(steps,)`` lists, the relative L2 error
        ``||pred_k - truth_k|| / ||truth_k||`` of the surrogate's frame ``k`` and of the
        last handed-over frame held; ``extrapolation_rel_l2``, the same for the last two
        handed-over frames extrapolated linearly (``None`` for one frame in); ``times``
        (s) of those frames; ``solver_s`` and ``surrogate_s``, the wall time of each for
        the ``steps`` frames; ``figure`` (``None`` without ``plot``).

    Raises
    ------
    ValueError
        See :func:`solver_settings`.
    """
    from simkit.simulators.spectral_ns import SpectralNSSimulator

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
        from surrogates.plotting import plot_truth_prediction_error

        shown = sorted({0, steps // 2, steps - 1})
        figure = plot_truth_prediction_error(
            truth[shown], pred[shown], [times[k] for k in shown], "vorticity [1/s]",
            f"solver state at t = {(surrogate.n_input - 1) * frame_dt:g} s handed to the "
            f"surrogate ({'x'.join(map(str, surrogate.grid))})", Path(out) / "handoff.png",
            truth_name="solver")
    return {"rel_l2": rel.tolist(), "persistence_rel_l2": persistence.tolist(),
            "extrapolation_rel_l2": extrapolation, "times": times, "solver_s": solver_s,
            "surrogate_s": surrogate_s, "figure": None if figure is None else str(figure)}
