"""Neighbour lists for particle graphs: a radius graph with a fixed capacity per particle.

:func:`radius_graph` joins every pair of particles at most ``radius`` apart (distance
``<= radius``), in both directions, without self loops, on an open domain or in a
periodic box. On the CPU it asks scipy's :class:`~scipy.spatial.cKDTree` (measured
fastest here), for CUDA tensors vesin-torch (imported only then); neither builds an
``O(N^2)`` distance matrix. A particle with more than ``max_neighbours`` neighbours
raises :class:`NeighbourOverflow`: the list is never truncated.

:func:`displacements` turns an edge list into differentiable sender-minus-receiver
vectors, by the minimum image in a periodic box.
"""

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np
import torch
from scipy.spatial import cKDTree

__all__ = ["NeighbourOverflow", "radius_graph", "displacements"]


class NeighbourOverflow(ValueError):
    """More neighbours than the capacity: ``count`` particles exceed it, the largest
    degree is ``max_degree``."""

    def __init__(self, message: str, *, count: int, max_degree: int):
        super().__init__(message)
        self.count = count
        self.max_degree = max_degree


def _check_positions(positions) -> tuple[int, int]:
    if not isinstance(positions, (np.ndarray, torch.Tensor)):
        raise ValueError(f"positions must be a numpy array or torch tensor, got "
                         f"{type(positions).__name__}")
    if positions.ndim != 2 or positions.shape[1] not in (2, 3):
        raise ValueError(f"positions must have shape (N, 2) or (N, 3), got "
                         f"{tuple(positions.shape)}")
    finite = (torch.isfinite(positions).all().item() if isinstance(positions, torch.Tensor)
              else np.isfinite(positions).all())
    if not finite:
        raise ValueError("positions must be finite; got NaN or Inf")
    return positions.shape[0], positions.shape[1]


def _check_boxsize(boxsize, dim: int) -> np.ndarray | None:
    """``boxsize`` as a float64 ``(dim,)`` array of positive finite periods, or None."""
    if boxsize is None:
        return None
    try:
        box = np.asarray(boxsize, dtype=np.float64)
    except (TypeError, ValueError):
        box = None
    if box is not None and box.ndim == 0:
        box = np.full(dim, box)
    if box is None or box.shape != (dim,) or not (np.isfinite(box).all() and (box > 0).all()):
        raise ValueError(f"boxsize must be None, a positive finite period or one per axis "
                         f"({dim} values), got {boxsize!r}")
    return box


def _wrap(x: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``x`` wrapped into ``[0, L)`` (``np.mod`` may round a tiny negative up to L)."""
    x = np.mod(x, box)
    return np.where(x >= box, 0.0, x)


def _pairs_kdtree(x: np.ndarray, radius: float, box: np.ndarray | None) -> np.ndarray:
    """``(P, 2)`` index pairs ``i < j`` at most ``radius`` apart, each once."""
    if box is not None:
        x = _wrap(x, box)
    return cKDTree(x, boxsize=box).query_pairs(radius, output_type="ndarray")


def _edges_vesin(x: torch.Tensor, radius: float,
                 box: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Senders and receivers of every ordered pair at most ``radius`` apart, by
    vesin-torch on ``x``'s device (vesin's cutoff is strict, so it is nudged up and the
    pairs at ``radius`` kept)."""
    import vesin_torch

    n, dim = x.shape
    points = torch.zeros(n, 3, dtype=torch.float64, device=x.device)
    points[:, :dim] = x.detach()
    cell = torch.zeros(3, 3, dtype=torch.float64, device=x.device)
    periodic = torch.zeros(3, dtype=torch.bool, device=x.device)
    if box is not None:
        period = torch.as_tensor(box, dtype=torch.float64, device=x.device)
        points[:, :dim] = torch.remainder(points[:, :dim], period)
        cell[range(dim), range(dim)] = period
        periodic[:dim] = True
    cutoff = math.nextafter(radius, math.inf)
    nl = vesin_torch.NeighborList(cutoff=cutoff, full_list=True)
    i, j, d = nl.compute(points, cell, periodic, quantities="ijd")
    keep = d <= radius
    return j[keep], i[keep]


def radius_graph(positions, radius: float, *, max_neighbours: int,
                 boxsize: float | Sequence[float] | None = None) -> torch.Tensor:
    """Every ordered pair of particles at most ``radius`` apart (``distance <= radius``).

    Parameters
    ----------
    positions : numpy.ndarray or torch.Tensor, shape (N, d), d in {2, 3}
        Particle positions (m), finite. A CUDA tensor is searched on its device.
    radius : float
        Connectivity radius (m), positive and finite; in a periodic box below half of
        every period, so a pair has a single nearest image.
    max_neighbours : int
        Capacity: the most neighbours one particle may have.
    boxsize : float or sequence of float, optional
        Periods (m), one per axis or one for all, of a periodic box; positions are
        wrapped into ``[0, L)``. None: an open (walled) domain.

    Returns
    -------
    edge_index : torch.LongTensor, shape (2, E)
        Row 0 senders ``j``, row 1 receivers ``i``; both directions of every pair, no
        self loops, sorted by receiver then sender. On the positions' device (a numpy
        array gives a CPU tensor).

    Raises
    ------
    NeighbourOverflow
        Some particle has more than ``max_neighbours`` neighbours.
    ValueError
        A malformed argument (named in the message).

    Examples
    --------
    >>> radius_graph(np.array([[0.0, 0.0], [0.5, 0.0], [2.0, 0.0]]), 0.5, max_neighbours=4)
    tensor([[1, 0],
            [0, 1]])
    """
    n, dim = _check_positions(positions)
    if isinstance(radius, bool) or not isinstance(radius, Real) \
            or not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive finite number, got {radius!r}")
    if isinstance(max_neighbours, bool) or not isinstance(max_neighbours, int) \
            or max_neighbours < 1:
        raise ValueError(f"max_neighbours must be a positive int, got {max_neighbours!r}")
    box = _check_boxsize(boxsize, dim)
    if box is not None and radius >= box.min() / 2:
        raise ValueError(f"radius ({radius}) must be below half the smallest period in "
                         f"boxsize ({box.tolist()})")
    radius = float(radius)
    device = positions.device if isinstance(positions, torch.Tensor) else torch.device("cpu")
    if device.type == "cuda":
        senders, receivers = _edges_vesin(positions, radius, box)
    else:
        x = (positions.detach().cpu().numpy() if isinstance(positions, torch.Tensor)
             else positions).astype(np.float64, copy=False)
        pairs = torch.from_numpy(_pairs_kdtree(x, radius, box).astype(np.int64, copy=False))
        senders = torch.cat([pairs[:, 0], pairs[:, 1]])
        receivers = torch.cat([pairs[:, 1], pairs[:, 0]])
    key = torch.sort(receivers * n + senders).values
    edge_index = torch.empty(2, key.numel(), dtype=torch.int64, device=key.device)
    torch.remainder(key, n, out=edge_index[0])
    torch.div(key, n, rounding_mode="floor", out=edge_index[1])
    _check_capacity(edge_index[1], n, radius, max_neighbours)
    return edge_index


def _check_capacity(receivers: torch.Tensor, n: int, radius: float,
                    max_neighbours: int) -> None:
    degree = torch.bincount(receivers, minlength=n)
    over = int((degree > max_neighbours).sum())
    if over:
        top = int(degree.max())
        raise NeighbourOverflow(
            f"{over} of {n} particles have more than max_neighbours={max_neighbours} "
            f"neighbours within radius={radius} (largest degree {top}); raise "
            f"max_neighbours to at least {top} or lower the radius",
            count=over, max_degree=top)


def displacements(positions: torch.Tensor, edge_index: torch.Tensor,
                  boxsize: float | Sequence[float] | None = None) -> torch.Tensor:
    """Sender minus receiver position of every edge, differentiable.

    Parameters
    ----------
    positions : torch.Tensor, shape (N, d)
        Positions (m).
    edge_index : torch.LongTensor, shape (2, E)
        Senders (row 0) and receivers (row 1), as :func:`radius_graph` returns.
    boxsize : float or sequence of float, optional
        Periods (m) of a periodic box: each displacement is its minimum image.

    Returns
    -------
    torch.Tensor, shape (E, d)
        ``positions[senders] - positions[receivers]`` (m).
    """
    if not isinstance(positions, torch.Tensor) or positions.ndim != 2:
        raise ValueError(f"positions must be a torch tensor of shape (N, d), got "
                         f"{getattr(positions, 'shape', type(positions).__name__)}")
    _check_edge_index(edge_index, positions.shape[0])
    # index_select, not positions[index]: the latter's parallel path was 80x slower on
    # a loaded 2-core machine (8 ms against 0.04 ms for 10k edges)
    d = positions.index_select(0, edge_index[0]) - positions.index_select(0, edge_index[1])
    box = _check_boxsize(boxsize, positions.shape[1])
    if box is not None:
        period = torch.as_tensor(box, dtype=d.dtype, device=d.device)
        d = d - period * torch.round(d / period)
    return d


def _check_edge_index(edge_index: torch.Tensor, n: int) -> None:
    """``edge_index`` a ``(2, E)`` int64 tensor of node indices below ``n``."""
    if not isinstance(edge_index, torch.Tensor) or edge_index.dtype != torch.int64 \
            or edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be an int64 tensor of shape (2, E), got "
                         f"{getattr(edge_index, 'dtype', type(edge_index).__name__)} "
                         f"{tuple(getattr(edge_index, 'shape', ()))}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise ValueError(f"edge_index must index the {n} nodes (0..{n - 1}), got values "
                         f"in [{int(edge_index.min())}, {int(edge_index.max())}]")
