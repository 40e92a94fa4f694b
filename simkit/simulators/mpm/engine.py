"""The MLS-MPM engine: particles, grid, one fused substep kernel, guards.

MLS-MPM (Hu et al. 2018) with quadratic B-splines and APIC transfers, one
dimension-generic code path for 2D and 3D; the float type is the one chosen by
:func:`simkit.init` (``precision="f32"`` or ``"f64"``). Every substep runs one kernel
of four parallel loops, as Taichi's mpm88/mpm99: clear the grid; particle-to-grid
(elastic predictor ``F <- (I + dt C) F``, the particle's material model, momentum and
stress scatter); grid update (momentum to velocity, gravity, colliders); grid-to-
particle (velocity, affine matrix, advection, guard).

The substep kernel takes the particle state as ``ti.ndarray`` arguments rather than
reading per-instance fields: Taichi then compiles it once per grid it is bound to,
whatever the particle count. The grid, scratch space rebuilt every substep, is a dense
field (dense fields clear and gather 2-3x faster than ndarrays on a CPU) that the
kernel closes over. Each simulation leases a grid of its size, with its compiled
kernel, from a per-process pool for as long as it lives (no two live simulations
share one, so each advances as it would alone), and gives it back when closed or
garbage-collected: dataset generation, one simulation per trajectory, compiles once
(3-5 s on a CPU) and reuses the kernel for every later trajectory of that grid. The
physics of a simulation (grid spacing, walls, gravity) is a named struct
(:func:`_physics_type`) that it writes into its grid's 0-d struct field when it takes
the lease; materials and colliders are tables with named columns
(:class:`~simkit.simulators.mpm.materials.Column`).

The transfers (:func:`particle_to_grid`, :func:`grid_to_particle`), the grid update
(:func:`node_velocity`, :func:`~simkit.simulators.mpm.colliders.box_walls`) and the
constitutive models are ``@ti.func`` shared with the differentiable mode
(:mod:`simkit.simulators.mpm.diff`).
"""

import logging
import math
import os
import weakref
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import taichi as ti

from simkit.errors import SimulationDiverged
from simkit.runtime import on_reset, per_program_cache
from simkit.simulator import (
    RESTART_KEYS,
    check_t_end,
    clock_state,
    landing_steps,
    load_clock,
    require_keys,
)
from simkit.simulators.mpm.colliders import (
    MODES,
    SDF,
    SHAPES,
    Collider,
    box_walls,
    project_velocity,
    sample_sdf,
    signed_distance,
)
from simkit.simulators.mpm.materials import MODELS, Column, Material, row_constitutive

__all__ = ["MPMConfig", "Particles", "MPM", "memory_estimate"]

log = logging.getLogger("simkit.mpm")
_NO_BAD = 2**63 - 1


@dataclass(frozen=True)
class MPMConfig:
    """Grid, time stepping and walls of an MPM simulation.

    Parameters
    ----------
    dim : {2, 3}
    n_grid : int
        Cells per side; the domain is the cube ``[0, domain]^dim`` with
        ``dx = domain / n_grid``.
    domain : float
        Side length (m).
    gravity : tuple of float
        Acceleration (m/s^2); default ``9.81`` m/s^2 along ``-y``.
    cfl : float
        ``dt = cfl dx / (c_max + |v|_max)`` with ``c_max`` the largest p-wave speed
        of the materials present, recomputed at each output frame; never above the
        explicit-viscosity bound ``rho dx^2 / (2 d eta)`` of a viscous fluid.
    dt_max : float
        Cap on the time step (s).
    dt : float, optional
        A fixed time step (s) instead of the CFL rule.
    wall_cells : int
        Thickness of the box walls in cells (at least 2: the B-spline stencil).
    wall_mode : {"sticky", "slip", "separate"}
    wall_friction : float
        Coulomb friction of the walls in ``separate`` mode.
    floor_friction : float, optional
        Friction of the floor (the wall at low ``y``); ``wall_friction`` by default.
    check_every : int
        The guard flags bad particles every substep inside the kernel; Python reads
        the flag every ``check_every`` substeps and at every output frame.
    max_memory_bytes : int, optional
        Refuse larger allocations; by default 80% of physical memory.
    """

    dim: int = 2
    n_grid: int = 64
    domain: float = 1.0
    gravity: tuple[float, ...] | None = None
    cfl: float = 0.4
    dt_max: float = 1e-3
    dt: float | None = None
    wall_cells: int = 3
    wall_mode: str = "separate"
    wall_friction: float = 0.0
    floor_friction: float | None = None
    check_every: int = 8
    max_memory_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {self.dim!r}")
        if not (isinstance(self.n_grid, int) and self.n_grid >= 8):
            raise ValueError(f"n_grid must be an int >= 8, got {self.n_grid!r}")
        for name in ("domain", "cfl", "dt_max"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if self.dt is not None and not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt must be a positive number or None, got {self.dt!r}")
        if self.gravity is None:
            object.__setattr__(self, "gravity", (0.0, -9.81) + (0.0,) * (self.dim - 2))
        if len(self.gravity) != self.dim:
            raise ValueError(f"gravity must have {self.dim} components, got {self.gravity}")
        if not (isinstance(self.wall_cells, int) and 2 <= self.wall_cells < self.n_grid // 2):
            raise ValueError(f"wall_cells must be an int in [2, n_grid/2), got {self.wall_cells!r}")
        if self.wall_mode not in MODES:
            raise ValueError(f"wall_mode {self.wall_mode!r} unknown; expected one of {list(MODES)}")
        if not (isinstance(self.check_every, int) and self.check_every >= 1):
            raise ValueError(f"check_every must be an int >= 1, got {self.check_every!r}")

    @property
    def dx(self) -> float:
        return self.domain / self.n_grid

    def walls(self) -> tuple[float, float, tuple[int, ...], tuple[float, ...]]:
        """``(lo, hi, modes, frictions)``: the box walls, as :func:`.colliders.box_walls` wants.

        The walls fill ``x_i < lo`` and ``x_i > hi`` (m); ``modes`` (indices in
        ``MODES``) and ``frictions`` have ``2 dim`` entries, one per wall in the order
        axis 0 low, axis 0 high, axis 1 low (the floor), ...
        """
        thick = self.wall_cells * self.dx
        friction = [float(self.wall_friction)] * (2 * self.dim)
        if self.floor_friction is not None:
            friction[2] = float(self.floor_friction)
        return (thick, self.domain - thick, (MODES.index(self.wall_mode),) * (2 * self.dim),
                tuple(friction))


@dataclass
class Particles:
    """Particles to simulate, and the material table their ``material_row`` points into.

    Attributes
    ----------
    position : (n, d) m
    velocity : (n, d) m/s
    volume : (n,) initial volume of each particle (m^d)
    material_row : (n,) int, row of ``materials``
    body : (n,) int, index of the seeded body each particle came from
    materials : list of Material
    """

    position: np.ndarray
    velocity: np.ndarray
    volume: np.ndarray
    material_row: np.ndarray
    body: np.ndarray
    materials: list[Material] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.position = np.asarray(self.position, dtype=np.float64)
        n = len(self.position)
        if self.position.ndim != 2 or self.position.shape[1] not in (2, 3) or n == 0:
            raise ValueError(f"position must have shape (n > 0, 2 or 3), got "
                             f"{self.position.shape}")
        d = self.position.shape[1]
        self.velocity = np.broadcast_to(np.asarray(self.velocity, dtype=np.float64),
                                        (n, d)).copy()
        self.volume = np.broadcast_to(np.asarray(self.volume, dtype=np.float64), (n,)).copy()
        self.material_row = np.broadcast_to(np.asarray(self.material_row, dtype=np.int32),
                                            (n,)).copy()
        self.body = np.broadcast_to(np.asarray(self.body, dtype=np.int32), (n,)).copy()
        if not (np.all(np.isfinite(self.position)) and np.all(np.isfinite(self.velocity))):
            raise ValueError("particle positions and velocities must be finite")
        if not np.all(self.volume > 0):
            raise ValueError("particle volumes must be > 0")
        if not self.materials:
            raise ValueError("particles need at least one material")
        if self.material_row.min() < 0 or self.material_row.max() >= len(self.materials):
            raise ValueError(f"material_row must index the {len(self.materials)} materials")

    @property
    def n(self) -> int:
        return len(self.position)

    @property
    def dim(self) -> int:
        return self.position.shape[1]

    @property
    def mass(self) -> np.ndarray:
        """(n,) kg (per unit length in 2D)."""
        rho = np.array([m.density for m in self.materials])
        return self.volume * rho[self.material_row]


def memory_estimate(dim: int, n_grid: int, n_particles: int, fp_bytes: int) -> int:
    """Bytes of Taichi arrays an MPM run allocates (particle arrays + grid fields)."""
    per_particle = (2 * dim + 2 * dim * dim + 2) * fp_bytes + 2 * 4
    per_node = (dim + 1) * fp_bytes
    return n_particles * per_particle + n_grid**dim * per_node


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _fp_bytes() -> int:
    from simkit.runtime import current_runtime

    rt = current_runtime()
    if rt is None:
        raise RuntimeError("call simkit.init(arch=..., precision=...) before building an MPM "
                           "simulation")
    return 8 if rt.precision == "f64" else 4



# ------------------------------------------------------------------------- kernels
# guard:  [(step * n + particle) * 2 + reason] of the first bad particle, reason 0 non-finite,
#         1 left the grid; the minimum picks the earliest step, then the lowest index
# mat:    the material table, one row per material, columns named by materials.Column


class _ColliderInt(IntEnum):
    """Columns of the integer collider table (one row per collider)."""

    SHAPE = 0  # index in SHAPES
    MODE = 1  # index in MODES


class _ColliderFloat(IntEnum):
    """Columns of the float collider table; ``CENTER``, ``B``, ``VELOCITY`` start d-vectors."""

    FRICTION = 0
    RADIUS = 1
    CENTER = 2  # then B (normal or half extent) at CENTER + d, VELOCITY at CENTER + 2 d


class _Sdf(IntEnum):
    """Layout of a sampled sdf node (:func:`sample_sdf`): distance, normal (d), collider."""

    PHI = 0
    NORMAL = 1  # the collider index follows the d normal components


def _physics_type(d: int):
    """The struct of the substep's physics for dimension ``d`` (in the current float type).

    ``dx``, ``inv_dx``: grid spacing (m) and its inverse; ``usable_lo``, ``usable_hi``:
    the region (m, every axis) where a particle's 3^d stencil fits the grid;
    ``wall_lo``, ``wall_hi``: the box walls fill ``x_i < wall_lo`` and ``x_i > wall_hi``
    (m); ``wall_mode``, ``wall_friction``: per wall (axis 0 low, axis 0 high, axis 1
    low, ...) the index in ``MODES`` and the Coulomb coefficient; ``gravity`` (m/s^2).
    """
    return ti.types.struct(dx=float, inv_dx=float, usable_lo=float, usable_hi=float,
                           wall_lo=float, wall_hi=float, wall_mode=ti.types.vector(2 * d, ti.i32),
                           wall_friction=ti.types.vector(2 * d, float),
                           gravity=ti.types.vector(d, float))


@ti.func
def weights(pos, inv_dx):
    Xp = pos * inv_dx
    base = ti.cast(Xp - 0.5, ti.i32)
    fx = Xp - base
    w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
    return base, fx, w


@ti.func
def particle_to_grid(grid_v: ti.template(), grid_m: ti.template(), x, v, C, tau, vol, mass,
                     dt, dx, inv_dx):
    """MLS-MPM particle-to-grid transfer of one particle (Hu et al. 2018).

    Scatters, with quadratic B-spline weights, the mass ``mass`` (kg) and the momentum
    ``mass v + A (x_i - x)`` with ``A = -dt vol 4/dx^2 tau + mass C`` (the stress
    ``tau (d, d)`` in Pa of a particle of volume ``vol``, its APIC matrix ``C``) onto
    the 3^d nodes around ``x (d,)`` (m). Both the engine and the differentiable mode
    use it.
    """
    d = ti.static(x.n)
    base, fx, w = weights(x, inv_dx)
    affine = (-dt * vol * 4 * inv_dx * inv_dx) * tau + mass * C
    momentum = mass * v
    for offset in ti.static(ti.grouped(ti.ndrange(*((3,) * d)))):
        weight = 1.0
        for i in ti.static(range(d)):
            weight *= w[offset[i]][i]
        grid_v[base + offset] += weight * (momentum + affine @ ((offset - fx) * dx))
        grid_m[base + offset] += weight * mass


@ti.func
def grid_to_particle(grid_v: ti.template(), x, dt, inv_dx):
    """APIC grid-to-particle transfer and advection of a particle at ``x (d,)`` (m).

    Returns the new velocity ``(d,)`` (m/s), affine matrix ``C (d, d)`` (1/s) and
    position ``x + dt v`` (m).
    """
    d = ti.static(x.n)
    base, fx, w = weights(x, inv_dx)
    new_v = ti.Vector.zero(float, d)
    new_C = ti.Matrix.zero(float, d, d)
    for offset in ti.static(ti.grouped(ti.ndrange(*((3,) * d)))):
        weight = 1.0
        for i in ti.static(range(d)):
            weight *= w[offset[i]][i]
        g_v = grid_v[base + offset]
        new_v += weight * g_v
        new_C += (4 * inv_dx * weight) * g_v.outer_product(offset - fx)
    return new_v, new_C, x + dt * new_v


@ti.func
def node_velocity(momentum, mass, dt, gravity):
    """Velocity (m/s) of a grid node of ``mass`` (kg) and ``momentum``, after gravity."""
    return momentum / mass + dt * gravity


@ti.func
def _usable(pos, lo, hi):
    """Finite and inside the region where the 3^d stencil fits the grid."""
    ok = True
    for i in ti.static(range(pos.n)):
        if not (pos[i] >= lo and pos[i] <= hi):  # False for NaN
            ok = False
    return ok


@ti.func
def _vec_at(arr: ti.template(), r, start: ti.template(), d: ti.template()):
    out = ti.Vector.zero(float, d)
    for i in ti.static(range(d)):
        out[i] = arr[r, start + i]
    return out


class _GridKernels:
    """A grid of one size and the substep kernel bound to it, for one Taichi program.

    The kernel closes over the grid fields and the 0-d struct field ``physics``
    (:func:`_physics_type`), so it compiles once per grid object; a grid is leased to
    one live simulation at a time (:func:`_lease_grid`), which writes its physics
    there when it takes the lease (a struct kernel argument would cost about 60 us of
    Python per launch, 4% of a 9k-particle substep).
    """

    def __init__(self, d: int, n_grid: int) -> None:
        self.grid_v = grid_v = ti.Vector.field(d, float, (n_grid,) * d)
        self.grid_m = grid_m = ti.field(float, (n_grid,) * d)
        self.physics_type = _physics_type(d)
        self.physics = physics = self.physics_type.field(shape=())
        c_vel = _ColliderFloat.CENTER + 2 * d
        c_b = _ColliderFloat.CENTER + d

        @ti.kernel
        def substep(x: ti.types.ndarray(), v: ti.types.ndarray(), C: ti.types.ndarray(),
                    F: ti.types.ndarray(), plastic: ti.types.ndarray(),
                    vol: ti.types.ndarray(), row: ti.types.ndarray(),
                    mat_code: ti.types.ndarray(), mat: ti.types.ndarray(),
                    col_i: ti.types.ndarray(), col_f: ti.types.ndarray(), n_col: ti.i32,
                    sdf: ti.types.ndarray(), has_sdf: ti.i32, guard: ti.types.ndarray(),
                    dt: float, t: float, step: ti.i64):
            phys = physics[None]
            for node in ti.grouped(grid_m):
                grid_v[node] = ti.Vector.zero(float, d)
                grid_m[node] = 0.0
            ident = ti.Matrix.identity(float, d)
            for p in range(x.shape[0]):
                if _usable(x[p], phys.usable_lo, phys.usable_hi):
                    r = row[p]
                    Cp = C[p]
                    Fn, pn, tau = row_constitutive(mat_code[r], mat, r, (ident + dt * Cp) @ F[p],
                                                   plastic[p], Cp, dt)
                    F[p] = Fn
                    plastic[p] = pn
                    particle_to_grid(grid_v, grid_m, x[p], v[p], Cp, tau, vol[p],
                                     vol[p] * mat[r, Column.DENSITY], dt, phys.dx, phys.inv_dx)
            for node in ti.grouped(grid_m):
                m = grid_m[node]
                if m > 0:
                    vel = node_velocity(grid_v[node], m, dt, phys.gravity)
                    pos = node * phys.dx
                    vel = box_walls(vel, pos, phys.wall_lo, phys.wall_hi, phys.wall_mode,
                                    phys.wall_friction)
                    for c in range(n_col):
                        shape = col_i[c, _ColliderInt.SHAPE]
                        if shape != SDF:
                            vc = _vec_at(col_f, c, c_vel, d)
                            center = _vec_at(col_f, c, _ColliderFloat.CENTER, d) + (t + dt) * vc
                            phi, n = signed_distance(shape, pos, center, _vec_at(col_f, c, c_b, d),
                                                     col_f[c, _ColliderFloat.RADIUS])
                            if phi < 0:
                                vel = project_velocity(vel, vc, n, col_i[c, _ColliderInt.MODE],
                                                       col_f[c, _ColliderFloat.FRICTION])
                    if has_sdf:
                        rec = sdf[node]  # sampled at setup
                        if rec[_Sdf.PHI] < 0:
                            n = ti.Vector.zero(float, d)
                            for i in ti.static(range(d)):
                                n[i] = rec[_Sdf.NORMAL + i]
                            c = ti.cast(rec[_Sdf.NORMAL + d], ti.i32)
                            vel = project_velocity(vel, ti.Vector.zero(float, d), n,
                                                   col_i[c, _ColliderInt.MODE],
                                                   col_f[c, _ColliderFloat.FRICTION])
                    grid_v[node] = vel
            for p in range(x.shape[0]):
                x_new = x[p]
                if _usable(x_new, phys.usable_lo, phys.usable_hi):
                    new_v, new_C, x_new = grid_to_particle(grid_v, x_new, dt, phys.inv_dx)
                    v[p] = new_v
                    C[p] = new_C
                    x[p] = x_new
                # also catches particles made bad outside the kernel
                if not _usable(x_new, phys.usable_lo, phys.usable_hi):
                    reason = 1
                    for i in ti.static(range(d)):
                        if not (ti.abs(x_new[i]) < 1e30):
                            reason = 0
                    key = (ti.cast(step, ti.i64) * x.shape[0] + p) * 2 + reason
                    ti.atomic_min(guard[0], key)

        @ti.kernel
        def grid_mass() -> float:
            out = 0.0
            for node in ti.grouped(grid_m):
                out += grid_m[node]
            return out

        self.substep, self.grid_mass = substep, grid_mass


_LIVE: weakref.WeakSet = weakref.WeakSet()  # simulations holding Taichi arrays
_PARKED: list[object] = []  # arrays of a program someone else already replaced


def _release_arrays(program_gone: bool) -> None:
    """Close every live simulation before :func:`simkit.init` replaces the program."""
    for sim in list(_LIVE):
        sim.close(_park=program_gone)


on_reset(_release_arrays)
#: (dim, n_grid) -> grids not leased to a live simulation, for the current program
_FREE_GRIDS = per_program_cache()


def _lease_grid(dim: int, n_grid: int) -> tuple[_GridKernels, list[_GridKernels]]:
    """A grid of this size that no live simulation uses (a new one, compiled on its
    first substep, when all are taken), and the pool to give it back to."""
    free = _FREE_GRIDS.get((dim, n_grid), list)
    return (free.pop() if free else _GridKernels(dim, n_grid)), free


@ti.kernel
def _max_speed(v: ti.types.ndarray()) -> float:
    out = 0.0
    for p in range(v.shape[0]):
        ti.atomic_max(out, v[p].norm())
    return out


@ti.kernel
def _stress(F: ti.types.ndarray(), C: ti.types.ndarray(), plastic: ti.types.ndarray(),
            row: ti.types.ndarray(), mat_code: ti.types.ndarray(), mat: ti.types.ndarray(),
            out: ti.types.ndarray(), d: ti.template()):
    for p in range(F.shape[0]):
        r = row[p]
        Fp = F[p]
        _, _, tau = row_constitutive(mat_code[r], mat, r, Fp, plastic[p], C[p], 1.0)
        sigma = tau / Fp.determinant()
        for i, j in ti.static(ti.ndrange(d, d)):
            out[p, i, j] = sigma[i, j]


@ti.data_oriented
class MPM:
    """An MLS-MPM simulation of ``particles`` in the box of ``config``.

    Parameters
    ----------
    config : MPMConfig
    particles : Particles
    colliders : sequence of Collider
        Solids in addition to the box walls of ``config``.

    Follows :class:`simkit.simulator.Stepper`: :meth:`step`, :meth:`advance` (the
    landing rule), :meth:`state` and :meth:`load_state`.

    Attributes
    ----------
    time : float
        Simulated time (s).
    dt : float
        The own time step (s): ``config.dt``, or the CFL step computed from the
        particle speeds at the start of the last :meth:`advance` or :meth:`step`.
    step_count : int
    x, v, C, F, plastic : ti.ndarray
        Particle state: positions ``(n,)`` of ``d``-vectors (m), velocities (m/s),
        APIC affine matrices ``(n,)`` of ``d x d`` (1/s), deformation gradients,
        plastic state.

    Raises
    ------
    ValueError
        Particles outside the walls, dimensions that disagree, or a memory need above
        ``config.max_memory_bytes``.
    """

    def __init__(self, config: MPMConfig, particles: Particles,
                 colliders: tuple[Collider, ...] | list[Collider] = ()) -> None:
        d, n_grid = config.dim, config.n_grid
        if particles.dim != d:
            raise ValueError(f"particles are {particles.dim}D but config.dim is {d}")
        dx = config.dx
        lo, hi = config.wall_cells * dx, config.domain - config.wall_cells * dx
        outside = np.any((particles.position < lo) | (particles.position > hi), axis=1)
        if outside.any():
            i = int(np.argmax(outside))
            raise ValueError(f"particle {i} at {particles.position[i].tolist()} is outside the "
                             f"free domain [{lo:g}, {hi:g}]^{d} (inside the walls)")
        self.colliders = tuple(colliders)
        for c in self.colliders:
            if c.dim != d:
                raise ValueError(f"collider {c} is {c.dim}D but config.dim is {d}")
        fp = _fp_bytes()
        self._np_float = np.float64 if fp == 8 else np.float32
        need = memory_estimate(d, n_grid, particles.n, fp)
        limit = config.max_memory_bytes or int(0.8 * _physical_memory())
        log.info("MPM %dD: %d particles, %d^%d grid, about %.1f MiB of arrays", d, particles.n,
                 n_grid, d, need / 2**20)
        if need > limit:
            raise ValueError(f"MPM needs about {need / 2**30:.2f} GiB for {particles.n} particles "
                             f"and a {n_grid}^{d} grid, above the limit of {limit / 2**30:.2f} "
                             "GiB (config.max_memory_bytes)")
        self.config, self.dim, self.n_particles = config, d, particles.n
        self.materials = list(particles.materials)
        self.dx = dx
        self.c_max = max(m.wave_speed for m in self.materials)
        # explicit Newtonian viscosity is stable for nu dt / dx^2 <= 1 / (2 d)
        self.dt_viscous = min((m.density * dx**2 / (2 * d * m.params["viscosity"])
                               for m in self.materials
                               if m.model == "fluid" and m.params["viscosity"] > 0),
                              default=math.inf)
        self.time, self.step_count = 0.0, 0
        self.dt = float(config.dt) if config.dt else self._cfl_dt(
            float(np.linalg.norm(particles.velocity, axis=1).max()))
        self._ends: dict[int, float] = {}  # end times of the steps since the last guard read
        self._allocate(particles)

    # ------------------------------------------------------------------ setup
    def _allocate(self, particles: Particles) -> None:
        d, n, f = self.dim, particles.n, self._np_float
        # Fields before ndarrays: with Taichi 1.7.4, fields first materialised after
        # ndarrays in a program that follows a second ti.init corrupt those ndarrays
        # (wrong results, then a segmentation fault); see test_reinitialised_taichi.
        self._kernels, free = _lease_grid(d, self.config.n_grid)
        # the grid goes back to the pool when this simulation is closed or collected
        self._give_back = weakref.finalize(self, free.append, self._kernels)
        _LIVE.add(self)

        def array(values, dtype=f, shape=()):
            values = np.ascontiguousarray(values, dtype=dtype)
            n_lead = values.ndim - len(shape)
            arr = (ti.ndarray(ti.i32 if dtype == np.int32 else float, values.shape) if not shape
                   else ti.Vector.ndarray(shape[0], float, values.shape[:n_lead])
                   if len(shape) == 1 else
                   ti.Matrix.ndarray(shape[0], shape[1], float, values.shape[:n_lead]))
            arr.from_numpy(values)
            return arr

        self.x = array(particles.position, shape=(d,))
        self.v = array(particles.velocity, shape=(d,))
        self.F = array(np.broadcast_to(np.eye(d), (n, d, d)), shape=(d, d))
        self.C = array(np.zeros((n, d, d)), shape=(d, d))
        self.plastic = array(np.array([MODELS[m.model].initial_plastic_state
                                       for m in self.materials])[particles.material_row])
        self.vol = array(particles.volume)
        self.row = array(particles.material_row, np.int32)
        self.mat_code = array([m.code for m in self.materials], np.int32)
        self.mat = array([m.table_row() for m in self.materials])
        # one zero row when there is no collider: Taichi arrays cannot be empty
        cols = self.colliders or (Collider("sphere", (0.0,) * d, radius=1.0),)
        col_i = np.zeros((len(cols), len(_ColliderInt)), np.int32)
        col_f = np.zeros((len(cols), _ColliderFloat.CENTER + 3 * d))
        for k, c in enumerate(cols):
            col_i[k, _ColliderInt.SHAPE] = SHAPES.index(c.shape)
            col_i[k, _ColliderInt.MODE] = MODES.index(c.mode)
            col_f[k, _ColliderFloat.FRICTION] = c.friction
            col_f[k, _ColliderFloat.RADIUS] = c.radius
            col_f[k, _ColliderFloat.CENTER:] = np.concatenate(c.vectors())  # center, b, velocity
        self.col_i, self.col_f = array(col_i, np.int32), array(col_f)
        sdf = sample_sdf(self.colliders, d, self.config.n_grid, self.dx)
        self._has_sdf = int(sdf is not None)
        # a one-node dummy when there is no sdf collider: the kernel never reads it
        self.sdf = array(np.zeros((1,) * d + (d + 2,)) if sdf is None else sdf, shape=(d + 2,))
        self.guard = ti.ndarray(ti.i64, 1)
        wall_lo, wall_hi, modes, frictions = self.config.walls()
        self._kernels.physics[None] = self._kernels.physics_type(
            dx=self.dx, inv_dx=1.0 / self.dx, usable_lo=self.dx,
            usable_hi=self.config.domain - 2.0 * self.dx, wall_lo=wall_lo, wall_hi=wall_hi,
            wall_mode=ti.Vector(modes, ti.i32), wall_friction=ti.Vector(frictions),
            gravity=ti.Vector(self.config.gravity))
        self._reset_guard()

    _ARRAYS = ("x", "v", "F", "C", "plastic", "vol", "row", "mat_code", "mat", "col_i", "col_f",
               "sdf", "guard", "_kernels")

    def __getattr__(self, name: str):
        if name in MPM._ARRAYS:  # only reached once close() removed them
            raise RuntimeError("this MPM simulation was closed (simkit.init re-initialised "
                               "Taichi, or close() was called); build it again")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def close(self, *, _park: bool = False) -> None:
        """Free the Taichi arrays; the simulation is unusable afterwards.

        :func:`simkit.init` closes every live simulation before it re-initialises
        Taichi (a simulation does not survive a change of runtime).
        """
        if _park:
            self._give_back.detach()  # its program is gone: the pool went with it
        else:
            self._give_back()
        for name in MPM._ARRAYS:
            arr = self.__dict__.pop(name, None)
            if _park and arr is not None:
                _PARKED.append(arr)  # its program is gone: freeing it would hit the new one
        _LIVE.discard(self)

    def _reset_guard(self) -> None:
        self.guard.from_numpy(np.array([_NO_BAD], dtype=np.int64))

    # ------------------------------------------------------------------ stepping
    def _cfl_dt(self, v_max: float) -> float:
        return min(self.config.dt_max, self.config.cfl * self.dx / (self.c_max + v_max),
                   self.dt_viscous)

    def _check(self) -> None:
        key = int(self.guard.to_numpy()[0])
        ends, self._ends = self._ends, {}
        if key == _NO_BAD:
            return
        step, bad = divmod(key // 2, self.n_particles)
        what = "non-finite position" if key % 2 == 0 else "left the grid"
        t = ends.get(step, self.time)  # the end of the step that moved it
        raise SimulationDiverged(
            f"MPM: particle {bad} {what} at step {step} (t = {t:.6g} s); reduce dt or cfl, or "
            "check material stiffness and velocities", step=step, time=t, index=(bad,),
            field="position")

    def _own_dt(self) -> float:
        """``config.dt``, or the CFL step of the current particle speeds (sets ``dt``)."""
        self.dt = float(self.config.dt) if self.config.dt else self._cfl_dt(_max_speed(self.v))
        return self.dt

    def substep(self, dt: float | None = None) -> None:
        """One substep of ``dt`` (default: the current ``self.dt``) without a guard read.

        The unchecked inner loop for benchmarks; :meth:`step` and :meth:`advance` read
        the guard.
        """
        self._launch(self.dt if dt is None else float(dt))
        self._ends.clear()  # no guard read follows: no step needs its time

    def _launch(self, dt: float) -> None:
        self._kernels.substep(self.x, self.v, self.C, self.F, self.plastic, self.vol,
                              self.row, self.mat_code, self.mat, self.col_i, self.col_f,
                              len(self.colliders), self.sdf, self._has_sdf, self.guard, dt,
                              self.time, self.step_count)
        self.time += dt
        self._ends[self.step_count] = self.time
        self.step_count += 1

    def step(self, dt: float | None = None) -> None:
        """One substep of ``dt`` (s), by default the own step (:attr:`dt`), then the guard.

        Raises
        ------
        SimulationDiverged
            A particle became non-finite or left the grid (step, time, particle named).
        """
        self._launch(self._own_dt() if dt is None else float(dt))
        self._check()

    def advance(self, t_end: float) -> None:
        """Step to ``t_end`` (s) by the landing rule of :mod:`simkit.simulator`.

        The own step (:attr:`dt`) is computed once, from the particle speeds at the
        start; the guard is read every ``config.check_every`` substeps and at the end.

        Raises
        ------
        SimulationDiverged
            A particle became non-finite or left the grid (step, time, particle named).
        ValueError
            ``t_end`` is before :attr:`time`.
        """
        t_end = check_t_end(t_end, self.time)
        dt = self._own_dt()
        for k, h in enumerate(landing_steps(self, t_end, lambda: dt), 1):
            self._launch(h)
            if k % self.config.check_every == 0:
                self._check()
        self._check()

    # ------------------------------------------------------------------ restart
    _STATE = ("position", "velocity", "deformation_gradient", "affine_velocity",
              "plastic_state")

    def state(self) -> dict[str, np.ndarray]:
        """The complete particle state (float64 copies of the Taichi arrays).

        Returns
        -------
        dict
            ``position`` ``(n, d)`` m, ``velocity`` ``(n, d)`` m/s,
            ``deformation_gradient`` ``(n, d, d)``, ``affine_velocity`` ``(n, d, d)``
            1/s, ``plastic_state`` ``(n,)``, and the clock: ``time`` (s),
            ``step_count``, ``dt`` (s), 0-d.
        """
        arrays = (self.x, self.v, self.F, self.C, self.plastic)
        out = {k: a.to_numpy().astype(np.float64) for k, a in zip(self._STATE, arrays,
                                                                 strict=True)}
        out.update(clock_state(self), dt=np.float64(self.dt))
        return out

    def load_state(self, state) -> None:
        """Continue from ``state``, a :meth:`state` of a simulation of the same particles.

        Raises
        ------
        ValueError
            A key of :meth:`state` is missing or an array has the wrong shape.
        """
        require_keys(state, (*self._STATE, *RESTART_KEYS, "dt"), type(self).__name__)
        arrays = (self.x, self.v, self.F, self.C, self.plastic)
        n, d = self.n_particles, self.dim
        values = []
        for key, want in zip(self._STATE, ((n, d), (n, d), (n, d, d), (n, d, d), (n,)),
                             strict=True):
            value = np.asarray(state[key])
            if value.shape != want:
                raise ValueError(f"{type(self).__name__}.load_state: {key!r} must have shape "
                                 f"{want}, got {value.shape}")
            values.append(np.ascontiguousarray(value, dtype=self._np_float))
        for arr, value in zip(arrays, values, strict=True):
            arr.from_numpy(value)
        load_clock(self, state)
        self.dt = float(state["dt"])
        self._ends.clear()
        self._reset_guard()

    # ------------------------------------------------------------------ state
    def positions(self) -> np.ndarray:
        """(n, d) float64, m."""
        return self.x.to_numpy().astype(np.float64)

    def velocities(self) -> np.ndarray:
        """(n, d) float64, m/s."""
        return self.v.to_numpy().astype(np.float64)

    def masses(self) -> np.ndarray:
        """(n,) kg (per unit depth in 2D)."""
        rho = np.array([m.density for m in self.materials])
        return self.vol.to_numpy().astype(np.float64) * rho[self.row.to_numpy()]

    def cauchy_stress(self) -> np.ndarray:
        """(n, d, d) Cauchy stress ``tau / J`` in Pa (with the current plastic state)."""
        out = np.zeros((self.n_particles, self.dim, self.dim), dtype=self._np_float)
        _stress(self.F, self.C, self.plastic, self.row, self.mat_code, self.mat, out, self.dim)
        return out.astype(np.float64)

    def grid_mass(self) -> float:
        """Total mass on the grid after this simulation's last particle-to-grid transfer (kg)."""
        return float(self._kernels.grid_mass())

    def momentum(self) -> np.ndarray:
        """(d,) total linear momentum of the particles, kg m/s."""
        return (self.masses()[:, None] * self.velocities()).sum(axis=0)

    def angular_momentum(self) -> np.ndarray:
        """Total angular momentum about the origin, APIC spin included.

        ``sum_p m_p (x_p x v_p + skew part of B_p)`` with ``B_p = C_p D_p`` and
        ``D_p = dx^2 / 4 I`` for quadratic B-splines (Jiang et al. 2015); a scalar in
        2D, ``(3,)`` in 3D.
        """
        m = self.masses()
        x, v = self.positions(), self.velocities()
        B = self.C.to_numpy().astype(np.float64) * (self.dx**2 / 4)
        if self.dim == 2:
            orbital = x[:, 0] * v[:, 1] - x[:, 1] * v[:, 0]
            spin = B[:, 1, 0] - B[:, 0, 1]
            return np.asarray((m * (orbital + spin)).sum())
        orbital = np.cross(x, v)
        spin = np.stack([B[:, 2, 1] - B[:, 1, 2], B[:, 0, 2] - B[:, 2, 0],
                         B[:, 1, 0] - B[:, 0, 1]], axis=1)
        return (m[:, None] * (orbital + spin)).sum(axis=0)
