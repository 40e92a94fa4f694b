"""MAC-grid incompressible Navier-Stokes in Taichi (2D and 3D), MGPCG projection.

Staggered velocities (component ``d`` on the faces normal to axis ``d``), cell-centred
pressure and passive scalars (smoke density, temperature). One step of size ``dt``:

1. advect velocity and scalars semi-Lagrangian (RK2 or RK3 backtrace, multilinear
   interpolation), optionally with the MacCormack correction and its extrema clamp
   (Selle et al. 2008);
2. buoyancy ``f_y = -alpha s + beta T`` on the ``y`` faces;
3. explicit viscosity ``u += dt nu lap(u)`` (the time step respects ``dt <= h^2/(2 d nu)``);
4. boundary velocities (walls, lid, inflow, zero-gradient outflow, obstacle faces);
5. projection: solve ``A phi = -h^2 div u`` (see :mod:`simkit.numerics.mgpcg`) and set
   ``u -= grad phi`` on open faces; the pressure is ``p = rho phi / dt``.

Boundaries of the box are given per side (``"x-"``, ``"x+"``, ``"y-"``, ...): no-slip
or free-slip walls with a prescribed wall velocity (a moving lid), inflow with a
prescribed velocity and scalar values, or open outflow (pressure 0, zero-gradient
velocity). Obstacles are cells marked solid (a voxelised signed-distance function);
their faces are closed and carry zero velocity. Tangential values beyond the box are
ghost cells set from the side's condition (no-slip: ``2 u_wall - u``; free-slip and
outflow: ``u``), which both the interpolation and the viscous stencil read.

Units: SI. ``h`` is the cell size (m); velocities m/s; pressure Pa for density
``rho`` (kg/m^3); scalars are whatever the scene says.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import taichi as ti

from simkit.errors import ProjectionFailed, SimulationDiverged
from simkit.numerics.grid_operator import FLUID, SOLID
from simkit.numerics.mgpcg import MGPCG, SolveInfo
from simkit.simulator import RESTART_KEYS, clock_state, landing_steps, load_clock, require_keys

__all__ = ["Side", "FluidConfig", "Fluid", "SIDE_KINDS"]

SIDE_KINDS = ("noslip", "freeslip", "inflow", "outflow")
_AXES = "xyz"


@dataclass(frozen=True)
class Side:
    """Condition on one side of the box.

    Parameters
    ----------
    kind : {"noslip", "freeslip", "inflow", "outflow"}
    velocity : tuple of float
        Wall velocity (m/s; its tangential part drives a lid, its normal part must be
        zero for a wall) or the inflow velocity.
    scalars : tuple of float
        Scalar values carried in by an inflow (density, temperature).
    """

    kind: str = "noslip"
    velocity: tuple[float, ...] = ()
    scalars: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.kind not in SIDE_KINDS:
            raise ValueError(f"side kind {self.kind!r} unknown; expected one of {list(SIDE_KINDS)}")


@dataclass(frozen=True)
class FluidConfig:
    """Grid, physics and numerics of a :class:`Fluid`.

    Parameters
    ----------
    shape : tuple of int
        Cells along ``x, y[, z]``; the box is ``[0, shape[d] h]``.
    h : float
        Cell size (m).
    viscosity : float
        Kinematic viscosity (m^2/s).
    density : float
        Fluid density (kg/m^3); only scales the reported pressure.
    buoyancy : tuple of float
        ``(alpha, beta)``: ``f_y = -alpha * smoke + beta * temperature`` (m/s^2).
    sides : dict
        ``{"x-": Side, ...}``; sides not given are no-slip walls at rest.
    advection : {"maccormack", "semi_lagrangian"}
    backtrace : {2, 3}
        Runge-Kutta order of the backtrace.
    cfl : float
        ``dt = cfl h / max|u|`` (also capped by ``dt_max`` and the viscous bound).
    dt_max : float
        Largest time step (s).
    rtol : float
        Relative residual of the pressure solve.
    maxiter : int
        Pressure-solve iteration cap; a solve that does not converge (or goes
        non-finite) raises :class:`~simkit.errors.ProjectionFailed`.
    """

    shape: tuple[int, ...] = (64, 64)
    h: float = 1.0 / 64
    viscosity: float = 0.0
    density: float = 1.0
    buoyancy: tuple[float, float] = (0.0, 0.0)
    sides: dict[str, Side] = field(default_factory=dict)
    advection: str = "maccormack"
    backtrace: int = 2
    cfl: float = 0.5
    dt_max: float = 0.05
    rtol: float = 1e-6
    maxiter: int = 100

    def __post_init__(self) -> None:
        shape = tuple(self.shape)
        if len(shape) not in (2, 3) or not all(isinstance(s, int) and s >= 4 for s in shape):
            raise ValueError(f"shape must be 2 or 3 ints >= 4, got {self.shape!r}")
        object.__setattr__(self, "shape", shape)
        for name in ("h", "cfl", "dt_max", "rtol", "density"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if not (math.isfinite(self.viscosity) and self.viscosity >= 0):
            raise ValueError(f"viscosity must be >= 0, got {self.viscosity!r}")
        if self.advection not in ("maccormack", "semi_lagrangian"):
            raise ValueError(f"advection must be 'maccormack' or 'semi_lagrangian', "
                             f"got {self.advection!r}")
        if self.backtrace not in (2, 3):
            raise ValueError(f"backtrace must be 2 or 3, got {self.backtrace!r}")
        valid = [f"{a}{s}" for a in _AXES[: len(shape)] for s in "-+"]
        bad = sorted(set(self.sides) - set(valid))
        if bad:
            raise ValueError(f"unknown sides {bad}; expected some of {valid}")
        sides = {}
        for key in valid:
            side = self.sides.get(key, Side())
            vel = tuple(float(v) for v in side.velocity) or (0.0,) * len(shape)
            if len(vel) != len(shape):
                raise ValueError(f"sides[{key!r}].velocity needs {len(shape)} components")
            axis = _AXES.index(key[0])
            if side.kind in ("noslip", "freeslip") and vel[axis] != 0.0:
                raise ValueError(f"sides[{key!r}]: a wall cannot move along its normal")
            sides[key] = Side(side.kind, vel, tuple(side.scalars))
        object.__setattr__(self, "sides", sides)

    @property
    def dim(self) -> int:
        return len(self.shape)


@ti.data_oriented
class Fluid:
    """A MAC-grid fluid in a box, with optional solid obstacles.

    Parameters
    ----------
    config : FluidConfig
    solid : ndarray of bool, shape ``config.shape``, optional
        Obstacle cells.
    pressure_solver : callable, optional
        ``solver(A, b, x0, rtol=...) -> (x, info)`` (the solver protocol of
        shared/DESIGN.md, e.g. ``scipy.sparse.linalg.cg``) used instead of the
        built-in MGPCG; ``A`` is the CSR matrix over fluid cells.

    Follows :class:`simkit.simulator.Stepper`: :meth:`step`, :meth:`advance` (the
    landing rule), :meth:`state` and :meth:`load_state`. Kernels compile for the
    fields of each instance: reuse an engine through :meth:`configure` rather than
    build another of the same grid (``FluidSimulator`` keeps a pool of them).

    Attributes
    ----------
    time : float
        Simulated time (s).
    dt : float
        The own step now (s): :meth:`stable_dt` of the current velocity.
    step_count : int
    last_dt : float
        Length of the last step (s), which scales the reported pressure.
    """

    def __init__(self, config: FluidConfig, solid: np.ndarray | None = None,
                 pressure_solver: Callable | None = None) -> None:
        self.config = c = config
        d, n = c.dim, c.shape
        self.dim, self.shape, self.h = d, n, c.h
        f = ti.lang.impl.get_runtime().default_fp
        self._fp = f

        def face_field(axis):
            shape = tuple(n[k] + 1 if k == axis else n[k] + 2 for k in range(d))
            offset = tuple(0 if k == axis else -1 for k in range(d))
            return ti.field(f, shape, offset=offset)

        def cell_field():
            return ti.field(f, tuple(s + 2 for s in n), offset=(-1,) * d)

        self.u = [face_field(a) for a in range(d)]
        self.u_new = [face_field(a) for a in range(d)]
        self.u_tmp = [face_field(a) for a in range(d)]
        self.s = [cell_field() for _ in range(2)]  # smoke density, temperature
        self.s_new = [cell_field() for _ in range(2)]
        self.s_tmp = [cell_field() for _ in range(2)]
        self.solid = ti.field(ti.i8, n)
        self.source = ti.field(ti.i8, n)
        self.source_values = ti.Vector.field(2, f, ())
        self.mg = MGPCG(n)
        self.side_kind = ti.field(ti.i32, (d, 2))  # per (axis, 0 = low / 1 = high side)
        self.side_vel = ti.Vector.field(d, f, (d, 2))
        self.side_scalar = ti.Vector.field(2, f, (d, 2))
        self.configure(config, solid, pressure_solver)

    @staticmethod
    def structure(config: FluidConfig) -> tuple:
        """What the compiled kernels depend on: an engine can be :meth:`configure`-d
        for any config of the same structure."""
        return (config.shape, config.h, config.backtrace)

    def configure(self, config: FluidConfig, solid: np.ndarray | None = None,
                  pressure_solver: Callable | None = None) -> None:
        """Start afresh (fluid at rest, time 0) with ``config``, which must share
        :meth:`structure` with the engine's (kernels are compiled for it)."""
        if self.structure(config) != self.structure(self.config):
            raise ValueError(f"configure() needs shape, h and backtrace "
                             f"{self.structure(self.config)}, got {self.structure(config)}")
        self.config = config
        c = config
        for key, side in c.sides.items():
            a, hi = _AXES.index(key[0]), int(key[1] == "+")
            self.side_kind[a, hi] = SIDE_KINDS.index(side.kind)
            self.side_vel[a, hi] = side.velocity
            self.side_scalar[a, hi] = side.scalars
        for fld in (*self.u, *self.u_new, *self.u_tmp, *self.s, *self.s_new, *self.s_tmp,
                    self.source, self.mg.x):
            fld.fill(0)
        self.has_scalars = any(c.buoyancy) or any(
            s.kind == "inflow" and any(s.scalars) for s in c.sides.values())
        self.pressure_solver = pressure_solver
        self.time, self.step_count, self.last_dt = 0.0, 0, float("nan")
        self.last_solve: SolveInfo | None = None
        self._csr = None
        self.set_solid(np.zeros(self.shape, bool) if solid is None else solid)
        self._boundary_velocity()

    # ---- set-up ---------------------------------------------------------------------

    def set_solid(self, solid: np.ndarray) -> None:
        """Mark obstacle cells (bool array of ``shape``) and rebuild the pressure operator."""
        solid = np.asarray(solid, dtype=bool)
        if solid.shape != self.shape:
            raise ValueError(f"solid must have shape {self.shape}, got {solid.shape}")
        if solid.all():
            raise ValueError("solid covers every cell: nothing left to simulate")
        self.solid.from_numpy(solid.astype(np.int8))
        self._operator()
        self.mg.build()
        self._csr = None

    def set_source(self, mask: np.ndarray, smoke: float, temperature: float) -> None:
        """Cells (bool array of ``shape``) whose scalars are reset to these values each step."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            raise ValueError(f"source mask must have shape {self.shape}, got {mask.shape}")
        self.source.from_numpy(mask.astype(np.int8))
        self.has_scalars = True
        self.source_values[None] = (smoke, temperature)

    def set_velocity(self, components: list[np.ndarray]) -> None:
        """Face velocities ``[u_x (nx+1, ny), u_y (nx, ny+1)[, ...]]`` (m/s), then
        boundary values and ghosts; not projected."""
        for a, comp in enumerate(components):
            want = tuple(self.shape[k] + (k == a) for k in range(self.dim))
            comp = np.asarray(comp, dtype=np.float64)
            if comp.shape != want:
                raise ValueError(f"velocity component {a} must have shape {want}, got {comp.shape}")
            self._load_interior(self.u[a], comp)
        self._boundary_velocity()

    def set_scalar(self, index: int, values: np.ndarray) -> None:
        """Cell values of scalar ``index`` (0 smoke density, 1 temperature)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != self.shape:
            raise ValueError(f"scalar must have shape {self.shape}, got {values.shape}")
        self._load_interior(self.s[index], values)
        self.has_scalars = True

    @ti.kernel
    def _load_interior_kernel(self, dst: ti.template(), src: ti.types.ndarray()):
        for I in ti.grouped(ti.ndrange(*src.shape)):
            dst[I] = src[I]

    def _load_interior(self, dst, src: np.ndarray) -> None:
        self._load_interior_kernel(dst, np.ascontiguousarray(src))

    @ti.kernel
    def _operator(self):
        """Cell types and face weights of the pressure system from ``solid`` and sides."""
        for I in ti.grouped(self.solid):
            self.mg.top.ctype[I] = ti.cast(SOLID if self.solid[I] else FLUID, ti.i8)
        for a in ti.static(range(self.dim)):
            e = ti.Vector.unit(self.dim, a, ti.i32)
            for I in ti.grouped(self.mg.top.w[a]):
                w = 0.0
                if I[a] == 0:
                    if self.side_kind[a, 0] == 3 and not self.solid[I]:
                        w = 1.0
                elif I[a] == self.shape[a]:
                    if self.side_kind[a, 1] == 3 and not self.solid[I - e]:
                        w = 1.0
                elif not self.solid[I] and not self.solid[I - e]:
                    w = 1.0
                self.mg.top.w[a][I] = ti.cast(w, ti.f32)

    # ---- interpolation --------------------------------------------------------------

    @ti.func
    def _locate(self, stagger: ti.template(), x):
        """Lower corner index and fractions of the interpolation cell of ``x`` (m) on the
        grid of face component ``stagger`` (cells if -1); ``x`` is clamped to the box."""
        lo = ti.Vector.zero(ti.i32, self.dim)
        fr = ti.Vector.zero(self._fp, self.dim)
        for k in ti.static(range(self.dim)):
            g = ti.min(ti.max(x[k], 0.0), self.shape[k] * self.h) / self.h
            first = 0
            if ti.static(k != stagger):  # cell-centred along k: ghosts at -1 and shape[k]
                g -= 0.5
                first = -1
            b = ti.min(ti.max(ti.cast(ti.floor(g), ti.i32), first), self.shape[k] - 1)
            lo[k] = b
            fr[k] = g - b
        return lo, fr

    @ti.func
    def _sample(self, q: ti.template(), stagger: ti.template(), x):
        """Multilinear value of ``q`` (face component ``stagger`` or cells if -1) at ``x`` (m)."""
        lo, fr = self._locate(stagger, x)
        val = 0.0
        for o in ti.static(ti.grouped(ti.ndrange(*([2] * self.dim)))):
            wgt = 1.0
            for k in ti.static(range(self.dim)):
                wgt *= fr[k] if o[k] else 1.0 - fr[k]
            val += wgt * q[lo + o]
        return val

    @ti.func
    def _sample_minmax(self, q: ti.template(), stagger: ti.template(), x):
        """Min and max of the ``2^d`` values ``_sample`` interpolates between."""
        lo, _ = self._locate(stagger, x)
        vmin = q[lo]
        vmax = q[lo]
        for o in ti.static(ti.grouped(ti.ndrange(*([2] * self.dim)))):
            vmin = ti.min(vmin, q[lo + o])
            vmax = ti.max(vmax, q[lo + o])
        return vmin, vmax

    @ti.func
    def _velocity(self, x):
        v = ti.Vector.zero(self._fp, self.dim)
        for k in ti.static(range(self.dim)):
            v[k] = self._sample(self.u[k], k, x)
        return v

    @ti.func
    def _position(self, I, stagger: ti.template()):
        x = (I + 0.5) * self.h
        if ti.static(stagger >= 0):
            x[stagger] -= 0.5 * self.h
        return x

    @ti.func
    def _backtrace(self, x, dt):
        k1 = self._velocity(x)
        out = x
        if ti.static(self.config.backtrace == 2):
            out = x - dt * self._velocity(x - 0.5 * dt * k1)
        else:
            k2 = self._velocity(x - 0.5 * dt * k1)
            k3 = self._velocity(x - 0.75 * dt * k2)
            out = x - dt * (2.0 * k1 + 3.0 * k2 + 4.0 * k3) / 9.0
        return out

    # ---- advection ------------------------------------------------------------------

    @ti.kernel
    def _advect(self, src: ti.template(), dst: ti.template(), stagger: ti.template(),
                dt: float):
        """``dst(x) = src(backtrace(x, dt))`` on the interior (``dt < 0`` runs it backward)."""
        for I in ti.grouped(ti.ndrange(*ti.static(self._interior(stagger)))):
            dst[I] = self._sample(src, stagger, self._backtrace(self._position(I, stagger), dt))

    @ti.kernel
    def _maccormack(self, src: ti.template(), fwd: ti.template(), back: ti.template(),
                    stagger: ti.template(), dt: float):
        """``fwd += (src - back) / 2``, reverted to ``fwd`` where it leaves the range of
        the values the forward step interpolated between."""
        for I in ti.grouped(ti.ndrange(*ti.static(self._interior(stagger)))):
            corrected = fwd[I] + 0.5 * (src[I] - back[I])
            lo, hi = self._sample_minmax(src, stagger,
                                         self._backtrace(self._position(I, stagger), dt))
            if lo <= corrected <= hi:
                fwd[I] = corrected

    def _interior(self, stagger: int) -> tuple[int, ...]:
        return tuple(s + 1 if k == stagger else s for k, s in enumerate(self.shape))

    def _advect_quantity(self, q, new, tmp, stagger: int, dt: float) -> None:
        self._advect(q, new, stagger, dt)
        if self.config.advection == "maccormack":
            self._ghosts_like(q, new, stagger)
            self._advect(new, tmp, stagger, -dt)
            self._maccormack(q, new, tmp, stagger, dt)

    @ti.kernel
    def _copy(self, src: ti.template(), dst: ti.template()):
        for I in ti.grouped(src):
            dst[I] = src[I]

    @ti.kernel
    def _ghosts_like(self, src: ti.template(), dst: ti.template(), stagger: ti.template()):
        """Copy the ghost layer (boundary values) of ``src`` to ``dst``."""
        for I in ti.grouped(src):
            inside = True
            for k in ti.static(range(self.dim)):
                if ti.static(k != stagger):
                    if I[k] < 0 or I[k] >= self.shape[k]:
                        inside = False
            if not inside:
                dst[I] = src[I]

    # ---- forces, boundaries ---------------------------------------------------------

    @ti.kernel
    def _buoyancy(self, dt: float, alpha: float, beta: float):
        uy = ti.static(self.u[1])
        for I in ti.grouped(ti.ndrange(*ti.static(self._interior(1)))):
            if 0 < I[1] < self.shape[1]:
                e = ti.Vector.unit(self.dim, 1, ti.i32)
                smoke = 0.5 * (self.s[0][I] + self.s[0][I - e])
                temp = 0.5 * (self.s[1][I] + self.s[1][I - e])
                uy[I] += dt * (-alpha * smoke + beta * temp)

    @ti.kernel
    def _diffuse(self, src: ti.template(), dst: ti.template(), stagger: ti.template(),
                 nu_dt_h2: float):
        for I in ti.grouped(ti.ndrange(*ti.static(self._interior(stagger)))):
            lap = 0.0
            if 0 < I[stagger] < self.shape[stagger]:
                for k in ti.static(range(self.dim)):
                    e = ti.Vector.unit(self.dim, k, ti.i32)
                    lap += src[I + e] + src[I - e] - 2.0 * src[I]
            dst[I] = src[I] + nu_dt_h2 * lap

    def _boundary_velocity(self) -> None:
        """Normal velocity on the box faces and obstacle faces, then tangential ghosts."""
        self._normal_velocity()
        self._tangential_ghosts_all()

    @ti.kernel
    def _normal_velocity(self):
        for a in ti.static(range(self.dim)):
            e = ti.Vector.unit(self.dim, a, ti.i32)
            ua = ti.static(self.u[a])
            for I in ti.grouped(ti.ndrange(*ti.static(self._interior(a)))):
                if I[a] == 0:
                    if self.side_kind[a, 0] == 3:
                        ua[I] = ua[I + e]
                    else:
                        ua[I] = self.side_vel[a, 0][a]
                elif I[a] == self.shape[a]:
                    if self.side_kind[a, 1] == 3:
                        ua[I] = ua[I - e]
                    else:
                        ua[I] = self.side_vel[a, 1][a]
                elif self.solid[I] or self.solid[I - e]:
                    ua[I] = 0.0

    @ti.func
    def _tangential_ghosts(self, q: ti.template(), a: ti.template(), k: ti.template()):
        e = ti.Vector.unit(self.dim, k, ti.i32)
        for I in ti.grouped(q):
            for hi in ti.static(range(2)):
                edge = -1 if ti.static(hi == 0) else self.shape[k]
                if I[k] == edge:
                    inner = I + e if ti.static(hi == 0) else I - e
                    kind = self.side_kind[k, hi]
                    if kind == 0 or kind == 2:  # no-slip wall or inflow: value at the wall
                        q[I] = 2.0 * self.side_vel[k, hi][a] - q[inner]
                    else:
                        q[I] = q[inner]

    @ti.kernel
    def _scalar_boundaries(self):
        sv = ti.static(self.source_values)
        for I in ti.grouped(self.solid):
            for c in ti.static(range(2)):
                if self.solid[I]:
                    self.s[c][I] = 0.0
                if self.source[I]:
                    self.s[c][I] = sv[None][c]
        for c in ti.static(range(2)):
            for k in ti.static(range(self.dim)):
                e = ti.Vector.unit(self.dim, k, ti.i32)
                for I in ti.grouped(self.s[c]):
                    for hi in ti.static(range(2)):
                        edge = -1 if ti.static(hi == 0) else self.shape[k]
                        if I[k] == edge:
                            inner = I + e if ti.static(hi == 0) else I - e
                            if self.side_kind[k, hi] == 2:
                                self.s[c][I] = 2.0 * self.side_scalar[k, hi][c] - self.s[c][inner]
                            else:
                                self.s[c][I] = self.s[c][inner]

    # ---- projection -----------------------------------------------------------------

    @ti.kernel
    def _divergence_rhs(self) -> ti.f64:
        """``b = -h sum_d (u[I + e_d] - u[I])`` on fluid cells; returns ``max |b|``."""
        mx = 0.0
        for I in ti.grouped(self.solid):
            b = 0.0
            if not self.solid[I]:
                for a in ti.static(range(self.dim)):
                    e = ti.Vector.unit(self.dim, a, ti.i32)
                    b -= self.h * (self.u[a][I + e] - self.u[a][I])
            self.mg.b[I] = b
            ti.atomic_max(mx, ti.abs(b))
        return mx

    @ti.kernel
    def _subtract_gradient(self):
        for a in ti.static(range(self.dim)):
            e = ti.Vector.unit(self.dim, a, ti.i32)
            for I in ti.grouped(self.mg.top.w[a]):
                if self.mg.top.w[a][I] > 0:
                    hi = 0.0
                    lo = 0.0
                    if I[a] < self.shape[a]:
                        if self.mg.top.ctype[I] == FLUID:
                            hi = ti.cast(self.mg.x[I], self._fp)
                    if I[a] > 0:
                        if self.mg.top.ctype[I - e] == FLUID:
                            lo = ti.cast(self.mg.x[I - e], self._fp)
                    self.u[a][I] -= (hi - lo) / self.h

    def project(self) -> SolveInfo:
        """Make the velocity discretely divergence-free; returns the solve's info.

        Raises
        ------
        ProjectionFailed
            The pressure solve stopped above ``rtol`` (``maxiter`` reached, or an
            external solver gave up) or went non-finite. ``index`` is the first cell
            (``x, y[, z]``) with a non-finite right-hand side or residual, else the cell
            of the largest residual; ``step`` is the number of completed steps and
            ``time`` the start of the step (the velocity is left unprojected).
        """
        self._divergence_rhs()
        if self.pressure_solver is None:
            info = self.mg.run(self.config.rtol, self.config.maxiter, zero_guess=False)
            cell = None
        else:
            info, cell = self._external_solve()
        self.last_solve = info
        if not info.converged:
            what = ("went non-finite" if math.isnan(info.residual)
                    else "did not reach its tolerance")
            raise ProjectionFailed(f"pressure projection {what}", step=self.step_count,
                                   time=self.time,
                                   index=self.mg.worst_cell() if cell is None else cell,
                                   iterations=info.iterations,
                                   residual=info.residual, rtol=self.config.rtol)
        self._subtract_gradient()
        self._tangential_ghosts_all()
        return info

    def _external_solve(self) -> tuple[SolveInfo, tuple[int, ...]]:
        """Solve with ``pressure_solver``: its info and the worst cell (as
        :meth:`MGPCG.worst_cell` says)."""
        if self._csr is None:
            self._csr = self.mg.matrix()
        A, cells = self._csr
        b = self.mg.b.to_numpy().ravel()[cells]
        if self.mg.singular:
            b = b - b.mean()
        x0 = self.mg.x.to_numpy().ravel()[cells]
        x, _ = self.pressure_solver(A, b, x0, rtol=self.config.rtol)
        full = np.zeros(int(np.prod(self.shape)))
        full[cells] = x
        self.mg.x.from_numpy(full.reshape(self.shape))
        r = b - A @ x
        bad = ~(np.isfinite(b) & np.isfinite(r))
        cell = cells[int(np.argmax(bad)) if bad.any() else int(np.argmax(np.abs(r)))]
        bn = float(np.linalg.norm(b))
        rel = math.nan if bad.any() else float(np.linalg.norm(r)) / bn if bn > 0 else 0.0
        return (SolveInfo(-1, rel, rel <= self.config.rtol * (1 + 1e-6)),
                tuple(int(i) for i in np.unravel_index(int(cell), self.shape)))

    @ti.kernel
    def _tangential_ghosts_all(self):
        """Refresh the tangential ghosts of every velocity component."""
        for a in ti.static(range(self.dim)):
            for k in ti.static(range(self.dim)):
                if ti.static(k != a):
                    self._tangential_ghosts(self.u[a], a, k)

    # ---- stepping -------------------------------------------------------------------

    @ti.kernel
    def _max_speed(self) -> ti.f64:
        """``max |u|`` over the faces; ``inf`` if any value is not finite."""
        m = 0.0
        bad = 0
        for a in ti.static(range(self.dim)):
            for I in ti.grouped(ti.ndrange(*ti.static(self._interior(a)))):
                v = ti.abs(self.u[a][I])
                if v <= 1e30:
                    ti.atomic_max(m, v)
                else:  # inf or nan (every comparison with nan is false)
                    bad += 1
        return m if bad == 0 else ti.math.inf

    def stable_dt(self) -> float:
        """``min(cfl h / max|u|, dt_max, h^2 / (2 d nu) * 0.9)`` (s).

        Raises
        ------
        SimulationDiverged
            A velocity is not finite.
        """
        c = self.config
        vmax = self._max_speed()
        if not math.isfinite(vmax):
            self._raise_nonfinite()
        dt = c.dt_max if vmax == 0 else min(c.dt_max, c.cfl * c.h / vmax)
        if c.viscosity > 0:
            dt = min(dt, 0.9 * c.h**2 / (2 * self.dim * c.viscosity))
        return dt

    @property
    def dt(self) -> float:
        """The own step now (s): :meth:`stable_dt`."""
        return self.stable_dt()

    def _raise_nonfinite(self) -> None:
        for a in range(self.dim):
            arr = self.u[a].to_numpy()
            bad = np.argwhere(~np.isfinite(arr))
            if len(bad):
                idx = tuple(int(i) for i in bad[0])
                raise SimulationDiverged("non-finite velocity", step=self.step_count,
                                         time=self.time, index=idx, field=f"velocity_{_AXES[a]}")
        raise SimulationDiverged("non-finite velocity", step=self.step_count, time=self.time)

    def step(self, dt: float | None = None) -> None:
        """Advance by ``dt`` (s), by default the own step :meth:`stable_dt`.

        Raises
        ------
        SimulationDiverged
            The velocity went non-finite (``dt`` not given).
        ProjectionFailed
            The pressure solve failed (see :meth:`project`).
        """
        c = self.config
        dt = self.stable_dt() if dt is None else float(dt)
        self.last_dt = dt
        d = self.dim
        # kernels bake in the fields they read, so buffers are copied back, never swapped
        for a in range(d):
            self._advect_quantity(self.u[a], self.u_new[a], self.u_tmp[a], a, dt)
        for i in range(2 if self.has_scalars else 0):
            self._advect_quantity(self.s[i], self.s_new[i], self.s_tmp[i], -1, dt)
            self._copy(self.s_new[i], self.s[i])
        for a in range(d):
            self._copy(self.u_new[a], self.u[a])
        if self.has_scalars:
            self._scalar_boundaries()
        alpha, beta = c.buoyancy
        if alpha or beta:
            self._buoyancy(dt, alpha, beta)
        self._boundary_velocity()
        if c.viscosity > 0:
            for a in range(d):
                self._diffuse(self.u[a], self.u_new[a], a, c.viscosity * dt / c.h**2)
            for a in range(d):
                self._copy(self.u_new[a], self.u[a])
            self._boundary_velocity()
        self.project()
        self.time += dt
        self.step_count += 1

    def advance(self, t_end: float) -> None:
        """Step to ``t_end`` (s) by the landing rule of :mod:`simkit.simulator`, the own
        step :meth:`stable_dt` recomputed before every step.

        Raises
        ------
        ValueError
            ``t_end`` is before :attr:`time`.
        SimulationDiverged, ProjectionFailed
            As :meth:`step`.
        """
        for h in landing_steps(self, t_end, self.stable_dt):
            self.step(h)

    # ---- restart --------------------------------------------------------------------

    def _state_fields(self) -> dict:
        fields = {f"u_{_AXES[a]}": self.u[a] for a in range(self.dim)}
        fields.update(s_smoke=self.s[0], s_temperature=self.s[1], phi=self.mg.x,
                      phi_rhs=self.mg.b)
        return fields

    def state(self) -> dict[str, np.ndarray]:
        """The complete flow state, as Taichi stores it (ghost layers included).

        Returns
        -------
        dict
            ``u_x``, ``u_y`` [, ``u_z``]: face velocities (m/s) with their ghost layer,
            index order ``(x, y[, z])``; ``s_smoke``, ``s_temperature``: the scalars
            with ghosts; ``phi`` and ``phi_rhs`` ``shape``: solution (the next solve's
            initial guess) and right-hand side of the last pressure solve; the clock
            ``time`` (s), ``step_count`` and ``last_dt`` (s, the pressure's scale), 0-d.
        """
        out = {k: f.to_numpy() for k, f in self._state_fields().items()}
        out.update(clock_state(self), last_dt=np.float64(self.last_dt))
        return out

    def load_state(self, state) -> None:
        """Continue from ``state``, a :meth:`state` of an engine of the same config.

        Raises
        ------
        ValueError
            A key of :meth:`state` is missing or an array has the wrong shape.
        """
        fields = self._state_fields()
        require_keys(state, (*fields, *RESTART_KEYS, "last_dt"), "Fluid")
        values = {key: np.asarray(state[key]) for key in fields}
        for key, fld in fields.items():
            if values[key].shape != fld.shape:
                raise ValueError(f"Fluid.load_state: {key!r} must have shape {fld.shape}, got "
                                 f"{values[key].shape}")
        for key, fld in fields.items():
            fld.from_numpy(np.ascontiguousarray(values[key]))
        load_clock(self, state)
        self.last_dt = float(state["last_dt"])

    # ---- read-out -------------------------------------------------------------------

    def velocity(self) -> list[np.ndarray]:
        """Face velocities ``[u_x (nx+1, ny[, nz]), u_y (nx, ny+1[, nz]), ...]`` (m/s)."""
        out = []
        for a in range(self.dim):
            arr = self.u[a].to_numpy()
            sl = tuple(slice(None) if k == a else slice(1, -1) for k in range(self.dim))
            out.append(arr[sl].astype(np.float64))
        return out

    def cell_velocity(self) -> np.ndarray:
        """Velocity averaged to cell centres, shape ``(*shape, dim)`` (m/s)."""
        comps = []
        for a, u in enumerate(self.velocity()):
            lo = np.take(u, range(self.shape[a]), axis=a)
            hi = np.take(u, range(1, self.shape[a] + 1), axis=a)
            comps.append(0.5 * (lo + hi))
        return np.stack(comps, axis=-1)

    def scalar(self, index: int) -> np.ndarray:
        """Scalar ``index`` (0 smoke, 1 temperature) on the cells, shape ``shape``."""
        return self.s[index].to_numpy()[(slice(1, -1),) * self.dim].astype(np.float64)

    def pressure(self) -> np.ndarray:
        """Pressure of the last projection (Pa), zero in obstacles, shape ``shape``."""
        dt = self.last_dt if math.isfinite(self.last_dt) else 1.0
        return self.mg.x.to_numpy() * self.config.density / dt

    def divergence(self) -> np.ndarray:
        """Discrete divergence (1/s) of the face velocities on fluid cells, 0 elsewhere."""
        div = np.zeros(self.shape)
        for a, u in enumerate(self.velocity()):
            div += np.diff(u, axis=a) / self.h
        return div * ~self.solid.to_numpy().astype(bool)

    def kinetic_energy(self) -> float:
        """``0.5 sum |u|^2 h^d`` over the faces inside the box (m^{d+2}/s^2, per rho)."""
        e = 0.0
        for a, u in enumerate(self.velocity()):
            inner = np.take(u, range(1, self.shape[a]), axis=a)
            e += 0.5 * float(np.sum(inner**2)) * self.h**self.dim
        return e
