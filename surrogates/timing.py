"""How long a surrogate takes, timed the way a user's code calls it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from simkit.benchmark import median_seconds
from surrogates.inference import Surrogate

__all__ = ["rollout_seconds"]


def rollout_seconds(surrogate: Surrogate, state: np.ndarray | Mapping[str, np.ndarray],
                    frames: int, *, repeats: int) -> float:
    """Median wall time of ``surrogate.rollout(state, frames)``, after one warm-up rollout.

    numpy in and numpy out, so the host-device transfers and the normalisation are
    inside the time; on a CUDA device the clock starts and stops synchronised.

    Parameters
    ----------
    surrogate : Surrogate
        From :func:`surrogates.load`.
    state : ndarray or mapping of ndarray
        What :meth:`Surrogate.rollout` takes: ``([batch,] n_input, *frame_shape)``, or
        one such array per variable (and the static inputs).
    frames : int
        Rollout length.
    repeats : int
        Timed rollouts.

    Returns
    -------
    float
        Seconds for the whole rollout of ``frames`` frames (all of the batch).
    """
    device = torch.device(surrogate.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
    return median_seconds(lambda: surrogate.rollout(state, frames), repeats=repeats, warmup=1,
                          sync=sync)
