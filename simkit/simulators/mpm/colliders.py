"""Colliders of the MPM grid: half-planes, spheres, boxes (static or moving) and SDFs.

The box walls of :class:`~simkit.simulators.mpm.engine.MPMConfig` use the same
velocity projection on an axis-aligned fast path.

A collider is a solid described by a signed distance ``phi`` (negative inside): in
closed form for planes, spheres and boxes, or any user function sampled once on the
grid nodes (``shape="sdf"``; normals by central differences). Each
substep, every grid node inside a solid (``phi < 0``) has its velocity relative to
the solid projected: ``sticky`` sets it to zero, ``slip`` removes its normal part,
``separate`` removes only an approaching normal part and applies Coulomb friction
to the tangential part, ``|v_t| <- max(0, |v_t| + mu_f v_n)`` (``v_n < 0``).
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import taichi as ti

__all__ = ["Collider", "MODES", "SHAPES", "project_velocity", "box_walls", "signed_distance",
           "sample_sdf"]

MODES = ("sticky", "slip", "separate")
SHAPES = ("plane", "sphere", "box", "sdf")
STICKY, SLIP, SEPARATE = range(3)
PLANE, SPHERE, BOX, SDF = range(4)


@dataclass(frozen=True)
class Collider:
    """A rigid solid the material cannot enter.

    Parameters
    ----------
    shape : {"plane", "sphere", "box", "sdf"}
        ``plane``: the half-space behind ``normal`` through ``center``; ``sphere``:
        a ball of ``radius``; ``box``: an axis-aligned box of ``half_extent``;
        ``sdf``: the region where ``sdf(x - center) < 0`` (static).
    center : tuple of float
        A point of the plane, or the centre at ``t = 0`` (m); for ``sdf`` the origin
        of the function's coordinates.
    normal : tuple of float, optional
        Plane normal, pointing out of the solid (normalised here).
    radius : float
        Sphere radius (m).
    half_extent : tuple of float, optional
        Box half sizes (m).
    velocity : tuple of float, optional
        Constant velocity (m/s): the solid is at ``center + velocity * t``.
    mode : {"sticky", "slip", "separate"}
    friction : float
        Coulomb coefficient for ``separate``.
    sdf : callable, optional
        For ``shape="sdf"``: ``(m, d)`` points (m) to ``(m,)`` signed distances (m),
        negative inside; vectorised numpy.
    """

    shape: str
    center: tuple[float, ...]
    normal: tuple[float, ...] | None = None
    radius: float = 0.0
    half_extent: tuple[float, ...] | None = None
    velocity: tuple[float, ...] | None = None
    mode: str = "separate"
    friction: float = 0.0
    sdf: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        d = len(self.center)
        if self.shape not in SHAPES:
            raise ValueError(f"collider shape {self.shape!r} unknown; expected one of "
                             f"{list(SHAPES)}")
        if self.mode not in MODES:
            raise ValueError(f"collider mode {self.mode!r} unknown; expected one of {list(MODES)}")
        if d not in (2, 3):
            raise ValueError(f"collider center must have 2 or 3 components, got {self.center}")
        if not (math.isfinite(self.friction) and self.friction >= 0):
            raise ValueError(f"collider friction must be >= 0, got {self.friction}")
        if self.shape == "plane":
            if self.normal is None or len(self.normal) != d:
                raise ValueError(f"a plane collider needs a normal with {d} components")
            norm = math.sqrt(sum(c * c for c in self.normal))
            if norm == 0:
                raise ValueError("plane collider: normal must be non-zero")
            object.__setattr__(self, "normal", tuple(c / norm for c in self.normal))
        if self.shape == "sphere" and not self.radius > 0:
            raise ValueError(f"sphere collider: radius must be > 0, got {self.radius}")
        if self.shape == "box" and (self.half_extent is None or len(self.half_extent) != d
                                    or min(self.half_extent) <= 0):
            raise ValueError(f"box collider: half_extent must be {d} positive sizes, "
                             f"got {self.half_extent}")
        if self.velocity is not None and len(self.velocity) != d:
            raise ValueError(f"collider velocity must have {d} components, got {self.velocity}")
        if self.shape == "sdf":
            if not callable(self.sdf):
                raise ValueError("an sdf collider needs sdf=<function of (m, d) points>")
            if self.velocity is not None and any(self.velocity):
                raise ValueError("sdf colliders are static: give no velocity")
        elif self.sdf is not None:
            raise ValueError(f"sdf= is for shape='sdf', not {self.shape!r}")

    @property
    def dim(self) -> int:
        return len(self.center)

    def vectors(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        """``(center, normal or half_extent, velocity)``, zero-filled."""
        zero = (0.0,) * self.dim
        b = self.normal if self.shape == "plane" else (self.half_extent or zero)
        return tuple(self.center), tuple(b), tuple(self.velocity or zero)


def sample_sdf(colliders: Sequence[Collider], dim: int, n_grid: int, dx: float
               ) -> np.ndarray | None:
    """The union of the ``sdf`` colliders sampled on the grid nodes.

    Returns ``(n_grid,) * dim + (dim + 2,)``: per node the distance (m), the outward
    unit normal and the index in ``colliders`` of the nearest one; ``None`` if there
    is no ``sdf`` collider.

    Raises
    ------
    ValueError
        A function returned the wrong shape or non-finite values.
    """
    which = [i for i, c in enumerate(colliders) if c.shape == "sdf"]
    if not which:
        return None
    axes = [np.arange(n_grid) * dx] * dim
    nodes = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)
    phis = []
    for i in which:
        phi = np.asarray(colliders[i].sdf(nodes - np.asarray(colliders[i].center)), float)
        if phi.shape != (len(nodes),) or not np.all(np.isfinite(phi)):
            raise ValueError(f"collider {i}: sdf must return {len(nodes)} finite distances for "
                             f"points of shape {nodes.shape}, got shape {phi.shape}")
        phis.append(phi.reshape((n_grid,) * dim))
    phis = np.stack(phis)
    nearest = np.argmin(phis, axis=0)
    phi = np.take_along_axis(phis, nearest[None], axis=0)[0]
    grad = np.stack(np.gradient(phi, dx), axis=-1)
    normal = grad / np.maximum(np.linalg.norm(grad, axis=-1, keepdims=True), 1e-12)
    index = np.asarray(which)[nearest]
    return np.concatenate([phi[..., None], normal, index[..., None]], axis=-1)


@ti.func
def signed_distance(shape, pos, center, b, radius):
    """``(phi, n)``: signed distance (m, negative inside) and outward normal at ``pos``."""
    d = ti.static(pos.n)
    phi = 0.0
    n = ti.Vector.zero(float, d)
    if shape == PLANE:
        n = b
        phi = (pos - center).dot(b)
    elif shape == SPHERE:
        diff = pos - center
        r = diff.norm()
        phi = r - radius
        n = diff / ti.max(r, 1e-12)
    else:  # box: distance outside, largest face distance inside
        diff = pos - center
        q = ti.abs(diff) - b
        outside = ti.max(q, 0.0)
        phi = outside.norm() + ti.min(q.max(), 0.0)
        k = 0
        for i in ti.static(range(1, d)):
            if q[i] > q[k]:
                k = i
        for i in ti.static(range(d)):
            if i == k:
                n[i] = 1.0 if diff[i] >= 0 else -1.0
    return phi, n


@ti.func
def project_velocity(v, v_solid, n, mode, friction):
    """Velocity of a grid node inside a solid moving at ``v_solid`` with normal ``n``."""
    rel = v - v_solid
    vn = rel.dot(n)
    if mode == STICKY:
        rel = ti.Vector.zero(float, v.n)
    elif mode == SLIP:
        rel -= vn * n
    elif vn < 0:
        rel -= vn * n  # the tangential part
        if friction > 0:  # no norm without friction: reverse mode would take its 0/0 at rest
            vt_norm = rel.norm()
            scale = 0.0
            if vt_norm > 1e-12:
                scale = ti.max(0.0, 1.0 + friction * vn / vt_norm)
            rel *= scale
    return rel + v_solid


@ti.func
def box_walls(v, pos, lo, hi, modes, frictions):
    """Velocity ``(d,)`` of a grid node at ``pos`` (m) after the static box walls.

    Walls fill ``pos[i] < lo`` and ``pos[i] > hi`` (m) on every axis ``i``;
    ``modes (2 d,)`` (codes of :data:`MODES`) and ``frictions (2 d,)`` are given per
    wall in the order axis 0 low, axis 0 high, axis 1 low, ... Axis-aligned, so no
    distance function: the normal is the axis.
    """
    d = ti.static(v.n)
    for i in ti.static(range(d)):
        n = ti.Vector.unit(d, i, float)
        if pos[i] < lo:
            v = project_velocity(v, ti.Vector.zero(float, d), n, modes[2 * i], frictions[2 * i])
        if pos[i] > hi:
            v = project_velocity(v, ti.Vector.zero(float, d), -n, modes[2 * i + 1],
                                 frictions[2 * i + 1])
    return v
