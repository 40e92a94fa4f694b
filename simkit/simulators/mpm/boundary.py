"""Kinematic boundary particles: the box walls and the colliders sampled as particles.

A particle graph network (GNS, Sanchez-Gonzalez et al. 2020) sees solids only as
particles. :func:`sample_boundary` puts one layer of them, at a spacing ``h`` (m), on

* the inner faces of the box walls, the surface of the free domain ``[lo, hi]^d``: a
  lattice of ``n = round((hi - lo) / h)`` intervals per edge, ``4 n`` particles in 2D
  and ``6 n^2 + 2`` in 3D;
* every ``box`` collider's surface (the same lattice, ``round(2 half_extent_i / h)``
  intervals on axis ``i``), every ``sphere`` (``ceil(2 pi r / h)`` equally spaced points
  on the circle in 2D, ``ceil(4 pi r^2 / h^2)`` Fibonacci points in 3D) and every
  ``plane`` (a lattice of spacing ``h`` on the plane, anchored at the projection of
  the domain's lowest corner);

keeping the collider points inside the free domain at ``t = 0`` (the parts of a solid
inside a wall are not sampled). ``sdf`` colliders are skipped (no closed-form surface;
their record says ``"sampled": false``). A particle of a moving collider is at
``x0 + velocity * t``; every other one is at rest.

:func:`describe_boundary` is the JSON description of the same walls and colliders that
each MPM trajectory's manifest record carries under ``"boundary"``.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import null_space

from simkit.simulators.mpm.colliders import Collider
from simkit.simulators.mpm.engine import MPMConfig
from simkit.simulators.mpm.materials import MODEL_NAMES

__all__ = ["KINEMATIC_TYPE", "PARTICLE_TYPES", "BoundaryParticles", "sample_boundary",
           "describe_boundary", "box_surface"]

#: ``particle_type`` of kinematic (boundary) particles: the code after the material models.
KINEMATIC_TYPE = len(MODEL_NAMES)
#: Meaning of every ``particle_type`` code: the material models, then ``"kinematic"``.
PARTICLE_TYPES = (*MODEL_NAMES, "kinematic")

_INSIDE = 1e-9  # relative tolerance (of the domain) on "inside the free domain"


@dataclass(frozen=True)
class BoundaryParticles:
    """Kinematic particles: where they start and how they move.

    Attributes
    ----------
    position : (k, d) m, at ``t = 0``
    velocity : (k, d) m/s, constant
    parts : list of (start, stop)
        Rows of the walls, then of each collider in scene order (empty for ``sdf``).
    """

    position: np.ndarray
    velocity: np.ndarray
    parts: tuple[tuple[int, int], ...]

    @property
    def n(self) -> int:
        return len(self.position)

    def positions(self, t: float) -> np.ndarray:
        """``(k, d)`` positions at time ``t`` (s), m."""
        return self.position + self.velocity * float(t)


def box_surface(lo: Sequence[float], hi: Sequence[float], h: float) -> np.ndarray:
    """Lattice points on the surface of the box ``[lo, hi]`` (m), each once.

    Axis ``i`` has ``n_i = max(1, round((hi_i - lo_i) / h))`` intervals; the points are
    those of the ``prod(n_i + 1)`` lattice with an extreme index on some axis:
    ``2 (n_0 + n_1)`` in 2D. Returns ``(m, d)`` m.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    d = len(lo)
    axes = [np.linspace(lo[i], hi[i], max(1, round((hi[i] - lo[i]) / h)) + 1) for i in range(d)]
    faces = []
    for i in range(d):  # the two faces normal to axis i; edges shared with a lower axis skipped
        for side in (axes[i][:1], axes[i][-1:]):
            ranges = [axes[j][1:-1] if j < i else side if j == i else axes[j] for j in range(d)]
            faces.append(np.stack(np.meshgrid(*ranges, indexing="ij"), -1).reshape(-1, d))
    return np.concatenate(faces)


def _sphere_surface(center: np.ndarray, radius: float, h: float) -> np.ndarray:
    d = len(center)
    if d == 2:
        n = max(3, math.ceil(2 * math.pi * radius / h))
        a = 2 * math.pi * np.arange(n) / n
        unit = np.stack([np.cos(a), np.sin(a)], -1)
    else:  # Fibonacci sphere: near-uniform, area 4 pi r^2 / n per point
        n = max(4, math.ceil(4 * math.pi * radius**2 / h**2))
        z = 1 - (2 * np.arange(n) + 1) / n
        phi = math.pi * (3 - math.sqrt(5)) * np.arange(n)
        r = np.sqrt(1 - z * z)
        unit = np.stack([r * np.cos(phi), r * np.sin(phi), z], -1)
    return center + radius * unit


def _plane_in_box(center: np.ndarray, normal: np.ndarray, lo: float, hi: float,
                  h: float) -> np.ndarray:
    d = len(center)
    tangents = null_space(normal[None])  # (d, d - 1), orthonormal
    corners = np.stack(np.meshgrid(*[[lo, hi]] * d, indexing="ij"), -1).reshape(-1, d)
    s = (corners - center) @ tangents  # the domain's extent in plane coordinates
    first = np.ceil(s.min(axis=0) / h) * h
    axes = [np.arange(first[k], s[:, k].max() + h * 1e-9, h) for k in range(d - 1)]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d - 1)
    return center + coords @ tangents.T


def sample_boundary(config: MPMConfig, colliders: Sequence[Collider], spacing: float
                    ) -> BoundaryParticles:
    """The walls and ``colliders`` as kinematic particles ``spacing`` m apart (module doc).

    Raises
    ------
    ValueError
        ``spacing`` is not a positive number.
    """
    if not (isinstance(spacing, int | float) and math.isfinite(spacing) and spacing > 0):
        raise ValueError(f"boundary spacing must be a positive number of m, got {spacing!r}")
    d, h = config.dim, float(spacing)
    lo, hi, _, _ = config.walls()
    tol = _INSIDE * config.domain
    walls = box_surface([lo] * d, [hi] * d, h)
    pos, vel, parts = [walls], [np.zeros_like(walls)], [(0, len(walls))]
    for c in colliders:
        center = np.asarray(c.center, float)
        if c.shape == "sphere":
            x = _sphere_surface(center, c.radius, h)
        elif c.shape == "box":
            half = np.asarray(c.half_extent, float)
            x = box_surface(center - half, center + half, h)
        elif c.shape == "plane":
            x = _plane_in_box(center, np.asarray(c.normal, float), lo, hi, h)
        else:  # sdf: no closed-form surface
            x = np.zeros((0, d))
        x = x[np.all((x >= lo - tol) & (x <= hi + tol), axis=1)]
        start = parts[-1][1]
        parts.append((start, start + len(x)))
        pos.append(x)
        vel.append(np.broadcast_to(np.asarray(c.velocity or (0.0,) * d, float), x.shape))
    return BoundaryParticles(np.concatenate(pos), np.concatenate(vel), tuple(parts))


def describe_boundary(config: MPMConfig, colliders: Sequence[Collider],
                      particles: BoundaryParticles | None = None, first: int = 0
                      ) -> dict[str, Any]:
    """JSON description of the walls and colliders (a trajectory's ``"boundary"``).

    ``{"walls": {"lo": [d], "hi": [d], "mode", "friction": [2 d]}, "colliders": [...]}``:
    ``lo``, ``hi`` bound the free domain inside the walls (m); ``friction`` is per wall
    in the order axis 0 low, axis 0 high, axis 1 low (the floor), ... Each collider
    has ``shape``, ``center`` (m, at ``t = 0``), ``velocity`` (m/s, zeros when static),
    ``mode``, ``friction``, and by shape ``radius`` (sphere, m), ``half_extent`` (box,
    m) or ``normal`` (plane); fields a shape does not use are omitted. With
    ``particles``, the walls and each collider also carry ``particles``: their
    ``[start, stop)`` rows in the particle arrays, where the kinematic particles start at
    row ``first`` (after the material particles), and an ``sdf`` collider
    ``"sampled": false``.
    """
    lo, hi, _, friction = config.walls()
    d = config.dim
    walls: dict[str, Any] = {"lo": [lo] * d, "hi": [hi] * d, "mode": config.wall_mode,
                             "friction": list(friction)}
    out = []
    for c in colliders:
        rec: dict[str, Any] = {"shape": c.shape, "center": list(c.center),
                               "velocity": list(c.velocity or (0.0,) * d), "mode": c.mode,
                               "friction": c.friction}
        if c.shape == "sphere":
            rec["radius"] = c.radius
        elif c.shape == "box":
            rec["half_extent"] = list(c.half_extent)
        elif c.shape == "plane":
            rec["normal"] = list(c.normal)
        out.append(rec)
    if particles is not None:
        walls["particles"] = [first + i for i in particles.parts[0]]
        for rec, part in zip(out, particles.parts[1:], strict=True):
            rec["particles"] = [first + i for i in part]
            if rec["shape"] == "sdf":
                rec["sampled"] = False
    return {"walls": walls, "colliders": out}
