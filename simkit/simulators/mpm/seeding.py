"""Seeding particles into shapes at a chosen number of particles per cell.

Particles sit on a lattice of spacing about ``s = dx / ppc^(1/d)`` over the shape's
bounding box (stretched per axis so that a whole number of cells fits it), optionally
jittered by up to ``jitter * s / 2`` per axis; each carries the volume of its lattice
cell, so a box's particles add up to its volume exactly and other shapes' to within
the lattice resolution.
"""

import math
from dataclasses import dataclass

import numpy as np

from simkit.simulators.mpm.engine import Particles
from simkit.simulators.mpm.materials import Material

__all__ = ["Box", "Sphere", "Cylinder", "ParticleBuilder", "lattice"]


@dataclass(frozen=True)
class Box:
    """Axis-aligned box ``[lo, hi]`` (m)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.lo, float), np.asarray(self.hi, float)

    def contains(self, x: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds()
        return np.all((x >= lo) & (x <= hi), axis=1)


@dataclass(frozen=True)
class Sphere:
    """Ball (disc in 2D) of ``radius`` about ``center`` (m)."""

    center: tuple[float, ...]
    radius: float

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(self.center, float)
        return c - self.radius, c + self.radius

    def contains(self, x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x - np.asarray(self.center), axis=1) <= self.radius


@dataclass(frozen=True)
class Cylinder:
    """3D cylinder with its axis along ``axis`` (0 = x, 1 = y, 2 = z) through ``center``."""

    center: tuple[float, float, float]
    radius: float
    height: float
    axis: int = 1

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(self.center, float)
        half = np.full(3, self.radius)
        half[self.axis] = self.height / 2
        return c - half, c + half

    def contains(self, x: np.ndarray) -> np.ndarray:
        rel = x - np.asarray(self.center)
        radial = np.delete(rel, self.axis, axis=1)
        return (np.linalg.norm(radial, axis=1) <= self.radius) & \
            (np.abs(rel[:, self.axis]) <= self.height / 2)


Shape = Box | Sphere | Cylinder


def lattice(lo: np.ndarray, hi: np.ndarray, spacing: float) -> tuple[np.ndarray, float]:
    """Cell centres of a lattice of about ``spacing`` covering ``[lo, hi]``.

    Returns the points ``(n, d)`` and the volume of one lattice cell.
    """
    axes, volume = [], 1.0
    for a, b in zip(lo, hi, strict=True):
        n = max(1, int(round((b - a) / spacing)))
        axes.append(a + (np.arange(n) + 0.5) * (b - a) / n)
        volume *= (b - a) / n
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1), volume


class ParticleBuilder:
    """Collects bodies (shape or point cloud, material, velocity) into :class:`Particles`.

    Parameters
    ----------
    dim : {2, 3}
    dx : float
        Grid spacing (m), which sets the lattice spacing with ``ppc``.
    rng : numpy Generator, optional
        For jitter.
    """

    def __init__(self, dim: int, dx: float, rng: np.random.Generator | None = None) -> None:
        self.dim, self.dx = dim, dx
        self.rng = rng or np.random.default_rng(0)
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
        self.materials: list[Material] = []

    def _row(self, mat: Material) -> int:
        for i, m in enumerate(self.materials):
            if m == mat:
                return i
        self.materials.append(mat)
        return len(self.materials) - 1

    def add(self, shape: Shape, mat: Material, *, velocity: tuple[float, ...] | None = None,
            ppc: float = 4.0, jitter: float = 0.0) -> int:
        """Fill ``shape`` with particles of ``mat``; returns the body index.

        ``ppc`` particles per grid cell (> 0); ``jitter`` in [0, 1) of the spacing.
        """
        if not (ppc > 0 and math.isfinite(ppc)):
            raise ValueError(f"ppc must be a positive number, got {ppc!r}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter!r}")
        lo, hi = shape.bounds()
        if len(lo) != self.dim:
            raise ValueError(f"shape {shape} is {len(lo)}D, the scene is {self.dim}D")
        spacing = self.dx / ppc ** (1 / self.dim)
        pts, volume = lattice(lo, hi, spacing)
        if jitter:
            pts = pts + self.rng.uniform(-0.5, 0.5, pts.shape) * jitter * spacing
        pts = pts[shape.contains(pts)]
        if len(pts) == 0:
            raise ValueError(f"shape {shape} holds no particle at ppc={ppc}")
        return self.add_points(pts, volume, mat, velocity=velocity)

    def add_points(self, points: np.ndarray, volume: float | np.ndarray, mat: Material, *,
                   velocity: tuple[float, ...] | None = None) -> int:
        """A point cloud ``(n, d)`` with per-particle ``volume`` (m^d); returns the body index."""
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {points.shape}")
        vel = np.zeros(self.dim) if velocity is None else np.asarray(velocity, float)
        if vel.shape != (self.dim,):
            raise ValueError(f"velocity must have {self.dim} components, got {velocity}")
        body = len(self._parts)
        self._parts.append((points, np.broadcast_to(vel, points.shape),
                            np.broadcast_to(np.asarray(volume, float), (len(points),)),
                            self._row(mat)))
        return body

    def build(self) -> Particles:
        if not self._parts:
            raise ValueError("no bodies were added")
        return Particles(
            position=np.concatenate([p[0] for p in self._parts]),
            velocity=np.concatenate([p[1] for p in self._parts]),
            volume=np.concatenate([p[2] for p in self._parts]),
            material_row=np.concatenate([np.full(len(p[0]), p[3]) for p in self._parts]),
            body=np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(self._parts)]),
            materials=list(self.materials),
        )
