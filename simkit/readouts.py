"""Physical read-outs of particle clouds that experiments report (surge front, run-out).

Here, not with the MPM, so that surrogates measure them without importing Taichi."""

import numpy as np

__all__ = ["front"]


def front(x: np.ndarray, wall: float, *, rank: int = 5) -> float:
    """Leading edge of a cloud along one axis, measured from a back wall.

    The ``rank``-th largest coordinate rather than the largest, so that a single stray
    particle ahead of the flow does not move the front.

    Parameters
    ----------
    x : (N,) array, m
        Particle coordinates along the flow direction.
    wall : float, m
        Coordinate of the back wall.
    rank : int
        Which particle from the front (1: the foremost).

    Returns
    -------
    float
        ``sort(x)[-rank] - wall``, m.

    Raises
    ------
    ValueError
        If ``x`` is not 1-D or holds fewer than ``rank`` particles, or ``rank < 1``.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x: expected a 1-D array of coordinates, got shape {x.shape}")
    if rank < 1 or rank > x.size:
        raise ValueError(f"rank: expected 1 <= rank <= {x.size} (len(x)), got {rank}")
    return float(np.partition(x, x.size - rank)[x.size - rank] - wall)
