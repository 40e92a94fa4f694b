"""What a graph network simulator sees of a particle system, and how its output moves
the particles (Sanchez-Gonzalez et al. 2020, as LagrangeBench benchmarks it).

Positions are node-major, ``history (N, T, d)`` (m): the last ``T = n_velocities + 1``
frames of every particle, so torch-geometric batches concatenate them along the nodes.

- Node features: the last ``n_velocities`` finite-difference velocities (m per frame,
  normalised), the distance to each of the ``2 d`` box walls divided by the radius and
  clipped to [-1, 1], the per-particle material fields (normalised), and the global
  features broadcast to every node: gravity in normalised acceleration units and the
  frame interval over the trained one. The particle type goes to the model apart (it
  learns an embedding).
- Edge features: displacement ``x_j - x_i`` over the radius, and its length over the
  radius, on a radius graph rebuilt from the current positions.
- Output: the normalised acceleration ``a = x_{t+1} - 2 x_t + x_{t-1}`` (m per
  frame^2); semi-implicit Euler ``v_{t+1} = v_t + a``, ``x_{t+1} = x_t + v_{t+1}``.
  Kinematic particles (walls, colliders) follow their known path instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from surrogates.graph import displacements, radius_graph

__all__ = ["ParticleFeatures", "pooled_moments"]


def pooled_moments(blocks: Sequence[dict]) -> tuple[list[float], list[float]]:
    """Mean and population std per component of several groups' statistics blocks
    (``{"count", "mean", "std"}`` as ``stats.json`` writes them), pooled exactly."""
    blocks = [b for b in blocks if b["count"] > 0]
    if not blocks:
        raise ValueError("no statistics to pool: every group is empty")
    n = torch.tensor([float(b["count"]) for b in blocks], dtype=torch.float64)[:, None]
    mean = torch.tensor([b["mean"] for b in blocks], dtype=torch.float64)
    std = torch.tensor([b["std"] for b in blocks], dtype=torch.float64)
    total = (n * mean).sum(0) / n.sum()
    var = (n * (std**2 + (mean - total) ** 2)).sum(0) / n.sum()
    return total.tolist(), var.sqrt().tolist()


class ParticleFeatures(nn.Module):
    """Graph inputs of a GNS from positions, and positions from its output.

    Parameters
    ----------
    dim : int
        2 or 3.
    radius : float
        Connectivity radius (m).
    max_neighbours : int
        Neighbours per particle the graph holds; more is an error
        (:class:`surrogates.graph.NeighbourOverflow`), never a silent truncation.
    n_velocities : int
        Velocities in the node features (positions in: one more).
    normaliser : dict
        ``{"velocity": {"mean", "std"}, "acceleration": {"mean", "std"}}`` (``d``
        values each, m per frame and m per frame^2, from the train split's statistics of
        the non-kinematic particles) and ``"material": {"names", "mean", "std"}`` (one
        value per static field, dataset units).
    gravity : sequence of float
        Gravitational acceleration (m/s^2), ``d`` components.
    write_interval : float
        Seconds per frame of the training data.
    kinematic_types : sequence of int
        Particle types that are not learned: they follow their known path.
    boxsize : sequence of float, optional
        Periods of a periodic box (m); ``None``: a walled box.
    """

    def __init__(self, *, dim: int, radius: float, max_neighbours: int, n_velocities: int,
                 normaliser: dict, gravity: Sequence[float], write_interval: float,
                 kinematic_types: Sequence[int] = (),
                 boxsize: Sequence[float] | None = None) -> None:
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim!r}")
        if len(gravity) != dim:
            raise ValueError(f"gravity must have {dim} components, got {list(gravity)}")
        if not isinstance(n_velocities, int) or n_velocities < 1:
            raise ValueError(f"n_velocities must be a positive int, got {n_velocities!r}")
        if not write_interval > 0:
            raise ValueError(f"write_interval must be > 0 s, got {write_interval!r}")
        self.dim, self.radius, self.max_neighbours = dim, float(radius), int(max_neighbours)
        self.n_velocities, self.write_interval = n_velocities, float(write_interval)
        self.kinematic_types = tuple(int(t) for t in kinematic_types)
        self.boxsize = None if boxsize is None else [float(b) for b in boxsize]
        self.material_names = list(normaliser["material"]["names"])
        for key, width in (("velocity", dim), ("acceleration", dim),
                           ("material", len(self.material_names))):
            for part in ("mean", "std"):
                values = torch.tensor(normaliser[key][part], dtype=torch.float32)
                if values.shape != (width,):
                    raise ValueError(f"normaliser[{key!r}][{part!r}] must hold {width} values, "
                                     f"got {values.tolist()}")
                if part == "std":
                    values = values.clamp_min(1e-12)
                self.register_buffer(f"{key}_{part}", values)
        # gravity over one frame (m per frame^2), in the network's acceleration units
        g = torch.tensor(list(gravity), dtype=torch.float32) * self.write_interval**2
        self.register_buffer("gravity", g / self.acceleration_std)

    @property
    def node_features(self) -> int:
        """Width of the node features."""
        return self.n_velocities * self.dim + 2 * self.dim + len(self.material_names) \
            + self.dim + 1

    edge_features = property(lambda self: self.dim + 1, doc="Width of the edge features.")

    def kinematic(self, particle_type: torch.Tensor) -> torch.Tensor:
        """``(N,)`` bool: the particles that follow a known path."""
        out = torch.zeros_like(particle_type, dtype=torch.bool)
        for t in self.kinematic_types:
            out |= particle_type == t
        return out

    def check(self, history: torch.Tensor, particle_type: torch.Tensor,
              material: torch.Tensor) -> None:
        """ValueErrors naming what does not fit: shapes ``(N, n_velocities + 1, d)``,
        ``(N,)``, ``(N, len(material_names))``."""
        want_t = self.n_velocities + 1
        if history.dim() != 3 or history.shape[1] < want_t or history.shape[2] != self.dim:
            raise ValueError(f"positions must have shape (particles, >= {want_t} frames, "
                             f"{self.dim}), got {tuple(history.shape)}")
        n = history.shape[0]
        if tuple(particle_type.shape) != (n,):
            raise ValueError(f"particle_type must have shape ({n},), one per particle, got "
                             f"{tuple(particle_type.shape)}")
        if tuple(material.shape) != (n, len(self.material_names)):
            raise ValueError(f"material fields {self.material_names} must have shape "
                             f"({n}, {len(self.material_names)}), got {tuple(material.shape)}")

    def graph(self, history: torch.Tensor, particle_type: torch.Tensor, material: torch.Tensor,
              walls: torch.Tensor, batch: torch.Tensor | None = None,
              frame_interval: float | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Node features ``(N, node_features)``, ``edge_index (2, E)`` and edge features
        ``(E, d + 1)``.

        ``history (N, >= n_velocities + 1, d)`` (m; the last frames are used),
        ``material (N, M)``, ``walls (B, 2, d)`` (the free box ``[lo, hi]`` of each
        graph, m) and ``batch (N,)`` the graph of each node (``None``: one graph). Each
        graph gets its own radius graph: no edge joins two graphs.
        """
        self.check(history, particle_type, material)
        history = history[:, -(self.n_velocities + 1):]
        x = history[:, -1]
        if batch is None:
            batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        edge_index = self._edges(x, batch, walls.shape[0])
        vel = (history[:, 1:] - history[:, :-1] - self.velocity_mean) / self.velocity_std
        box = walls.index_select(0, batch)  # (N, 2, d)
        lo, hi = box[:, 0], box[:, 1]
        to_walls = torch.cat([x - lo, hi - x], dim=1).div(self.radius).clamp(-1.0, 1.0)
        mat = (material - self.material_mean) / self.material_std
        dt = self.write_interval if frame_interval is None else float(frame_interval)
        glob = torch.cat([self.gravity * (dt / self.write_interval) ** 2,
                          self.gravity.new_tensor([dt / self.write_interval])])
        nodes = torch.cat([vel.flatten(1), to_walls, mat, glob.expand(x.shape[0], -1)], dim=1)
        disp = displacements(x, edge_index, self.boxsize) / self.radius
        edges = torch.cat([disp, disp.norm(dim=1, keepdim=True)], dim=1)
        return nodes, edge_index, edges

    def _edges(self, x: torch.Tensor, batch: torch.Tensor, n_graphs: int) -> torch.Tensor:
        """One radius graph per graph of the batch, node indices of the whole batch."""
        if n_graphs == 1:
            return radius_graph(x.detach(), self.radius, max_neighbours=self.max_neighbours,
                                boxsize=self.boxsize).to(x.device)
        parts = []
        for g in range(n_graphs):
            nodes = torch.nonzero(batch == g).flatten()
            e = radius_graph(x[nodes].detach(), self.radius, max_neighbours=self.max_neighbours,
                             boxsize=self.boxsize).to(x.device)
            parts.append(nodes[e])
        return torch.cat(parts, dim=1)

    def target(self, history: torch.Tensor, next_position: torch.Tensor) -> torch.Tensor:
        """The normalised acceleration that takes ``history (N, T, d)`` to
        ``next_position (N, d)``."""
        acc = next_position - 2 * history[:, -1] + history[:, -2]
        return (acc - self.acceleration_mean) / self.acceleration_std

    def integrate(self, history: torch.Tensor, acceleration: torch.Tensor,
                  particle_type: torch.Tensor,
                  kinematic_next: torch.Tensor | None = None) -> torch.Tensor:
        """Next positions ``(N, d)`` from the normalised ``acceleration (N, d)``;
        kinematic particles go to ``kinematic_next (N, d)`` (their known path), or move
        on at their last velocity without it."""
        x, v = history[:, -1], history[:, -1] - history[:, -2]
        acc = acceleration * self.acceleration_std + self.acceleration_mean
        nxt = x + v + acc
        known = x + v if kinematic_next is None else kinematic_next
        return torch.where(self.kinematic(particle_type)[:, None], known, nxt)
