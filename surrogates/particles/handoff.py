"""Hand a running MPM simulation's state to a trained graph network simulator, run both
on, and compare them.

The MPM is built with the scene and parameters the checkpoint records for its training
data, the parameters that varied between training trajectories given by the caller
(or, by default, those of the first trajectory of the training dataset's test split:
a held-out scene). It runs ``frames_before`` stored frames; the GNS takes the last
``n_velocities + 1`` of them and rolls out while the MPM makes the truth. Both are
timed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from surrogates.inference import load
from surrogates.particles import metrics

__all__ = ["handoff", "scene_settings"]


def scene_settings(info: dict, params: dict | None = None) -> tuple[str, dict[str, Any]]:
    """The MPM scene and parameters of a particle surrogate's training data.

    Parameters
    ----------
    info : dict
        A :class:`~surrogates.particles.GraphSimulator`'s ``info``.
    params : dict, optional
        Values of the parameters that varied between training trajectories (and any
        override); without them, those of the first test trajectory of the training
        dataset (read from its manifest).

    Raises
    ------
    ValueError
        The surrogate was not trained on MPM data, or a varied parameter has no value.
    """
    sim = info.get("simulator") or {}
    if sim.get("name") != "mpm":
        raise ValueError(f"the hand-off needs a surrogate trained on mpm data; this checkpoint "
                         f"records simulator {sim.get('name')!r}")
    chosen = dict(params or {})
    missing = [k for k in sim.get("varying", []) if k not in chosen]
    if missing:
        from simkit.io import open_dataset

        with open_dataset(info["dataset"], verify="none") as ds:
            split = "test" if "test" in ds.splits else ds.splits[-1]
            recorded = ds.record(ds.ids(split)[0])["params"]
        chosen = {**{k: recorded[k] for k in missing}, **chosen}
    return sim["scene"], {**sim["params"], **chosen}


def handoff(checkpoint: str | Path, out: str | Path | None = None, *, steps: int = 50,
            frames_before: int | None = None, params: dict | None = None, seed: int = 1234,
            plot: bool = True) -> dict[str, Any]:
    """Run the hand-off.

    Parameters
    ----------
    checkpoint : path
        A GNS trained on MPM data.
    out : path, optional
        Folder of the figure ``gns_handoff.png`` (needed with ``plot``).
    steps : int
        Frames the GNS rolls out (and the MPM makes as truth).
    frames_before : int, optional
        Frames the MPM makes before the hand-off (default: ``n_velocities + 1``).
    params, seed
        The scene (see :func:`scene_settings`) and its seed.
    plot : bool
        Draw MPM and GNS side by side at three frames, with the error over time.

    Returns
    -------
    dict
        ``mse`` ``(steps,)``: position MSE of the GNS per frame (m^2, non-kinematic
        particles), ``cv_mse`` the same of constant-velocity extrapolation; ``times``
        (s); ``mpm_s`` and ``gns_s``, the wall time of each for the ``steps`` frames;
        ``n_particles``; ``figure`` (``None`` without ``plot``).
    """
    from simkit.simulators.mpm import MPMSimulator
    from surrogates.particles.inference import particle_state

    surrogate = load(checkpoint)
    scene, p = scene_settings(surrogate.info, params)
    sim = MPMSimulator.from_scene(scene, p, seed=seed)
    dt = surrogate.dt
    n_in = surrogate.features.n_velocities + 1
    before = n_in if frames_before is None else frames_before
    if before < n_in:
        raise ValueError(f"frames_before must be >= {n_in} (the GNS's frames in), got {before}")
    frames = [sim.frame()]
    for k in range(1, before):
        sim.advance(k * dt)
        frames.append(sim.frame())
    static = sim.static()
    t0 = time.perf_counter()
    truth = []
    for k in range(steps):
        sim.advance((before + k) * dt)
        truth.append(sim.frame()["position"])
    mpm_s = time.perf_counter() - t0
    truth = np.stack(truth)
    state = particle_state(frames[-n_in:], static)
    t0 = time.perf_counter()
    pred = surrogate.rollout(state, steps)
    gns_s = time.perf_counter() - t0
    learned = ~np.isin(static["particle_type"], surrogate.info["kinematic_types"])
    mse = metrics.position_mse(pred, truth, mask=learned).numpy()
    cv = metrics.constant_velocity_rollout(state["position"], steps)
    cv_mse = metrics.position_mse(cv, truth, mask=learned).numpy()
    times = [(before + k) * dt for k in range(steps)]
    figure = None
    if plot:
        if out is None:
            raise ValueError("out: a folder for the figure is needed with plot=True")
        from surrogates.particles.plotting import plot_particle_rollout

        figure = plot_particle_rollout(truth, pred, static["particle_type"],
                                       surrogate.info["kinematic_types"], times,
                                       {"GNS": mse, "constant velocity": cv_mse},
                                       Path(out) / "gns_handoff.png",
                                       title=f"MPM state at t = {(before - 1) * dt:g} s "
                                             f"handed to the GNS ({scene})")
    return {"mse": mse.tolist(), "cv_mse": cv_mse.tolist(), "times": times, "mpm_s": mpm_s,
            "gns_s": gns_s, "n_particles": int(len(learned)),
            "figure": None if figure is None else str(figure)}
