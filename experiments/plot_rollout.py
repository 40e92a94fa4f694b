"""Truth, prediction and error of a trained surrogate on a test trajectory of a dataset.

The surrogate (``surrogates.load``) gets the trajectory's first ``n_input`` frames and
rolls out ``--steps`` more; the figure shows one variable (a vector variable's
magnitude, or ``--component``) at a few steps, solid cells blanked when the dataset has
a ``solid`` mask, and the relative L2 error per step of the surrogate and of holding the
last input frame (persistence). Writes ``<out>.png`` and ``<out>.json``.

``python -m experiments.plot_rollout CHECKPOINT DATASET --variable smoke --steps 20``
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from simkit.io import open_dataset  # noqa: E402
from surrogates import load  # noqa: E402


def plot_truth_prediction_error(truth: np.ndarray, pred: np.ndarray, times: list[float],
                                label: str, title: str, path: Path,
                                mask: np.ndarray | None = None,
                                truth_name: str = "truth") -> None:
    """Rows truth / surrogate / surrogate - truth of ``(K, y, x)`` frames at ``times``
    (s, one per frame), columns the frames; ``mask`` (y, x) cells left blank."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def relative_l2_per_step(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per step (first axis) over the rest."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


def plot_rollout(checkpoint: Path, dataset: Path, out: Path, *, trajectory: str | None = None,
                 variable: str | None = None, component: int | None = None,
                 steps: int | None = None, start: int = 0) -> dict:
    """Roll out from frames ``start .. start + n_input - 1`` of a test trajectory; returns
    the per-step errors per variable (surrogate and persistence)."""
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
    plot_truth_prediction_error(shown(truth[variable])[picks], shown(pred[variable])[picks],
                                times, name, f"{surrogate.info['model']} on {dataset.name} "
                                f"{tid}: {n_in} frames in, rollout of {steps}",
                                out.with_suffix(".png"),
                                None if mask is None else np.asarray(mask, bool))
    record = {"checkpoint": str(checkpoint), "dataset": str(dataset), "trajectory": tid,
              "start": start, "steps": steps, "dt": dt, "rel_l2_per_step": errors,
              "figure": str(out.with_suffix(".png"))}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/plot_rollout/rollout"),
                    help="output path without suffix")
    ap.add_argument("--trajectory", default=None, help="test trajectory id (default: the first)")
    ap.add_argument("--variable", default=None)
    ap.add_argument("--component", type=int, default=None,
                    help="of a vector variable (default: its magnitude)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--start", type=int, default=0, help="first input frame")
    args = ap.parse_args()
    rec = plot_rollout(args.checkpoint, args.dataset, args.out, trajectory=args.trajectory,
                       variable=args.variable, component=args.component, steps=args.steps,
                       start=args.start)
    for v, e in rec["rel_l2_per_step"].items():
        print(f"{v}: relative L2 per step {np.round(e['surrogate'], 3).tolist()} "
              f"(persistence {np.round(e['persistence'], 3).tolist()})")
    print(rec["figure"])


if __name__ == "__main__":
    main()
