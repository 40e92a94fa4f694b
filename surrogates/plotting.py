"""Figures of surrogate rollouts: truth, prediction and their difference.

matplotlib is imported inside the functions (with the ``Agg`` backend), so that
``import surrogates`` stays light.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from surrogates.inference import load
from surrogates.metrics import relative_l2_per_step

__all__ = ["plot_truth_prediction_error", "plot_rollout"]


def plot_truth_prediction_error(truth: np.ndarray, pred: np.ndarray, times: Sequence[float],
                                label: str, title: str, path: str | Path, *,
                                mask: np.ndarray | None = None,
                                truth_name: str = "truth") -> Path:
    """Draw rows truth / surrogate / surrogate - truth, one column per frame, into ``path``.

    Parameters
    ----------
    truth, pred : ndarray
        ``(K, y, x)`` frames.
    times : sequence of float
        ``K`` times (s), one per frame, for the column titles.
    label : str
        Colour-bar label (the variable and its unit).
    title : str
        Figure title.
    path : path
        PNG file to write; its folder is created.
    mask : ndarray, optional
        ``(y, x)`` booleans; true cells (solids) are left blank.
    truth_name : str
        What the truth row is called (``"solver"`` in a hand-off).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        ``truth`` and ``pred`` are not ``(K, y, x)`` of one shape with ``K = len(times)``.
    """
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.ndim != 3 or pred.shape != truth.shape or len(times) != len(truth):
        raise ValueError(f"truth and pred must be (K, y, x) of one shape with K = len(times) "
                         f"= {len(times)}, got {truth.shape} and {pred.shape}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(times)
    fig, axes = plt.subplots(3, k, figsize=(3 * k, 8.5), constrained_layout=True,
                             squeeze=False)
    lim = float(np.nanmax(np.abs(truth)))
    signed = bool((truth < 0).any())
    for col in range(k):
        for row, (img, name) in enumerate(((truth[col], truth_name), (pred[col], "surrogate"),
                                           (pred[col] - truth[col], f"surrogate - {truth_name}"))):
            img = img if mask is None else np.where(mask, np.nan, img)
            diff = row == 2
            im = axes[row, col].imshow(img, origin="lower",
                                       cmap="RdBu_r" if signed or diff else "viridis",
                                       vmin=-lim if signed or diff else 0.0, vmax=lim)
            axes[row, col].set(title=f"{name}, t = {times[col]:g} s", xticks=[], yticks=[])
            if col == k - 1:
                fig.colorbar(im, ax=axes[row, :], label=label, shrink=0.8)
    fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_rollout(checkpoint: str | Path, dataset: str | Path, out: str | Path, *,
                 trajectory: str | None = None, variable: str | None = None,
                 component: int | None = None, steps: int | None = None,
                 start: int = 0) -> dict[str, Any]:
    """Roll a surrogate out on a test trajectory; write ``<out>.png`` and ``<out>.json``.

    The surrogate (:func:`surrogates.load`) gets frames ``start .. start + n_input - 1``
    and rolls out ``steps`` more. The figure shows one variable (a vector variable's
    magnitude, or its ``component``) at three steps, solid cells blanked where the
    dataset has a ``solid`` mask.

    Parameters
    ----------
    checkpoint : path
        A surrogate checkpoint.
    dataset : path
        A simkit dataset with a ``test`` split.
    out : path
        Output path without suffix.
    trajectory : str, optional
        Test trajectory id; the first by default.
    variable : str, optional
        The variable drawn; the surrogate's first by default.
    component : int, optional
        Of a vector variable; its magnitude by default.
    steps : int, optional
        Rollout length; all frames after the inputs by default.
    start : int
        First input frame.

    Returns
    -------
    dict
        The JSON record: ``rel_l2_per_step`` maps each variable to ``{"surrogate":
        (steps,) list, "persistence": (steps,) list}``, the relative L2 error per step
        (:func:`surrogates.metrics.relative_l2_per_step`) of the rollout and of holding
        the last input frame; also ``checkpoint``, ``dataset``, ``trajectory``,
        ``start``, ``steps``, ``dt`` (s between frames) and ``figure``.

    Raises
    ------
    ValueError
        ``steps`` outside ``[1, frames left]``, a ``variable`` the surrogate does not
        predict, a grid that is not 2D, or a ``component`` of a scalar variable.
    """
    from simkit.io import open_dataset

    checkpoint, dataset, out = Path(checkpoint), Path(dataset), Path(out)
    surrogate = load(checkpoint)
    with open_dataset(dataset, verify="none") as ds:
        tid = trajectory or ds.ids("test")[0]
        traj = ds.trajectory(tid)
        dt = ds.write_interval
    n_in = surrogate.n_input
    available = len(next(iter(traj.frames.values()))) - start - n_in
    steps = available if steps is None else steps
    if not 1 <= steps <= available:
        raise ValueError(f"steps must be in [1, {available}] for trajectory {tid!r} from "
                         f"frame {start}, got {steps}")
    variable = variable or surrogate.variables[0]
    if variable not in surrogate.variables:
        raise ValueError(f"variable must be one of {surrogate.variables}, got {variable!r}")
    if len(surrogate.grid) != 2:
        raise ValueError(f"plot_rollout draws 2D grids; this surrogate's is {surrogate.grid}")
    if component is not None and len(surrogate.frame_shapes[variable]) == 2:
        raise ValueError(f"component is for vector variables; {variable!r} is a scalar")
    state = {v: traj.frames[v][start:start + n_in] for v in surrogate.variables}
    pred = surrogate.rollout({**state, **{s: traj.static[s] for s in surrogate.static}}, steps)
    pred = pred if isinstance(pred, dict) else {surrogate.variables[0]: pred}
    truth = {v: traj.frames[v][start + n_in:start + n_in + steps] for v in surrogate.variables}
    held = {v: np.broadcast_to(state[v][-1:], truth[v].shape) for v in surrogate.variables}
    errors = {v: {"surrogate": relative_l2_per_step(pred[v], truth[v]).tolist(),
                  "persistence": relative_l2_per_step(held[v], truth[v]).tolist()}
              for v in surrogate.variables}

    def shown(a: np.ndarray) -> np.ndarray:  # (K, [components,] y, x) -> (K, y, x)
        if a.ndim == 3:
            return a
        return a[:, component] if component is not None else np.linalg.norm(a, axis=1)

    picks = sorted({0, steps // 2, steps - 1})
    times = [(start + n_in + k) * dt for k in picks]
    name = variable if truth[variable].ndim == 3 else (
        f"{variable}[{component}]" if component is not None else f"|{variable}|")
    mask = traj.static.get("solid")
    figure = plot_truth_prediction_error(
        shown(truth[variable])[picks], shown(pred[variable])[picks], times, name,
        f"{surrogate.info['model']} on {dataset.name} {tid}: {n_in} frames in, rollout of "
        f"{steps}", out.with_suffix(".png"), mask=None if mask is None else np.asarray(mask, bool))
    record = {"checkpoint": str(checkpoint), "dataset": str(dataset), "trajectory": tid,
              "start": start, "steps": steps, "dt": dt, "rel_l2_per_step": errors,
              "figure": str(figure)}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    return record
