"""Figures of particle rollouts: the truth and the surrogate side by side, and the
error over time. matplotlib is imported inside (``Agg`` backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_particle_rollout"]


def plot_particle_rollout(truth: np.ndarray, pred: np.ndarray, particle_type: np.ndarray,
                          kinematic_types: Sequence[int], times: Sequence[float],
                          errors: Mapping[str, Sequence[float]], path: str | Path, *,
                          title: str = "", truth_name: str = "MPM",
                          pred_name: str = "GNS") -> Path:
    """Rows truth / prediction at the first, middle and last frame (2D: x-y; 3D: x-y
    projection), particles coloured by type and kinematic ones grey, and a panel of
    ``errors`` (name -> per-frame position MSE, m^2) against ``times`` (s).

    ``truth``, ``pred``: ``(T, N, d)`` positions (m), ``T = len(times)``. Returns
    ``path`` (a PNG; its folder is created).
    """
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.ndim != 3 or pred.shape != truth.shape or len(times) != len(truth):
        raise ValueError(f"truth and pred must be (T, N, d) of one shape with T = len(times) "
                         f"= {len(times)}, got {truth.shape} and {pred.shape}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinematic = np.isin(particle_type, list(kinematic_types))
    shown = sorted({0, len(times) // 2, len(times) - 1})
    fig = plt.figure(figsize=(3.2 * len(shown) + 4.5, 6.4), constrained_layout=True)
    grid = fig.add_gridspec(2, len(shown) + 1, width_ratios=[1] * len(shown) + [1.4])
    lo = truth[:, :, :2].reshape(-1, 2).min(0)
    hi = truth[:, :, :2].reshape(-1, 2).max(0)
    lo, hi = lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo)  # the wall particles show
    for row, (name, frames) in enumerate(((truth_name, truth), (pred_name, pred))):
        for col, k in enumerate(shown):
            ax = fig.add_subplot(grid[row, col])
            x = frames[k]
            ax.scatter(*x[kinematic, :2].T, s=2, c="0.5", linewidths=0)
            ax.scatter(*x[~kinematic, :2].T, s=1.5, c=particle_type[~kinematic],
                       cmap="tab10", vmin=0, vmax=9, linewidths=0)
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(lo[1], hi[1])
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, t = {times[k]:.3g} s", fontsize=9)
    ax = fig.add_subplot(grid[:, -1])
    for name, err in errors.items():
        ax.semilogy(times, np.maximum(np.asarray(err, dtype=float), 1e-12), label=name)
    ax.set_xlabel("t [s]")
    ax.set_ylabel("position MSE [m$^2$]")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
