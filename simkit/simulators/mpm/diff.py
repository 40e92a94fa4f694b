"""Differentiable MLS-MPM (the ChainQueen / DiffTaichi line) with checkpointing.

Gradients of a loss on the final particle state with respect to the initial
velocities and the material's Young's modulus and Poisson ratio, by reverse-mode
automatic differentiation of the substep kernels (Taichi's ``kernel.grad``).

Memory: the forward pass keeps only a checkpoint of the particle state every
``checkpoint_every`` substeps (host memory) and one segment of ``checkpoint_every``
states in Taichi fields. The backward pass walks the segments in reverse, recomputes
each segment's states from its checkpoint, then back-propagates through it,
recomputing each substep's grid (as diffmpm does). Memory grows as
``n_steps / K + K`` states instead of ``n_steps``; with ``K ~ sqrt(n_steps)`` that is
``2 sqrt(n_steps)``; the price is one extra forward pass.

Material: Neo-Hookean (smooth, no SVD to differentiate through), one material for
all particles; box walls with ``sticky``, ``slip`` or ``separate`` (frictionless)
modes; gravity. The forward engine :class:`~simkit.simulators.mpm.engine.MPM`
covers the rest of the material library, without gradients.

The physics is the engine's: the same ``@ti.func`` transfers
(:func:`~simkit.simulators.mpm.engine.particle_to_grid`,
:func:`~simkit.simulators.mpm.engine.grid_to_particle`), grid update
(:func:`~simkit.simulators.mpm.engine.node_velocity`,
:func:`~simkit.simulators.mpm.colliders.box_walls`) and stress
(:func:`~simkit.simulators.mpm.materials.neo_hookean_stress`), with the Lame
parameters from :func:`~simkit.simulators.mpm.materials.lame`; only the storage
differs (a slot per substep of the segment, and separate grid fields before and
after the grid update, as reverse mode needs). In float64 its forward pass equals
the engine's to rounding (tests/mpm/test_mpm_diff.py). The engine alone skips and
reports particles that leave the grid (its guard); here a non-finite final state
raises ``FloatingPointError``.
"""

import math

import numpy as np
import taichi as ti

from simkit.simulators.mpm.colliders import box_walls
from simkit.simulators.mpm.engine import (
    MPMConfig,
    Particles,
    grid_to_particle,
    node_velocity,
    particle_to_grid,
)
from simkit.simulators.mpm.materials import lame, neo_hookean_stress

__all__ = ["DiffMPM"]


@ti.data_oriented
class DiffMPM:
    """A differentiable MPM run of ``n_steps`` substeps of ``dt``.

    Parameters
    ----------
    config : MPMConfig
        Grid, gravity and walls (``wall_friction`` must be 0).
    particles : Particles
        One ``neo_hookean`` material.
    n_steps : int
        Substeps per run.
    dt : float
        Substep (s).
    checkpoint_every : int, optional
        Substeps per checkpoint segment; ``ceil(sqrt(n_steps))`` by default.

    Examples
    --------
    >>> sim = DiffMPM(config, particles, n_steps=200, dt=5e-4)  # doctest: +SKIP
    >>> x, v = sim.forward(v0=np.array([1.0, 2.0]))              # doctest: +SKIP
    >>> grads = sim.backward(dL_dx=2 * (x.mean(0) - target) / len(x) * np.ones_like(x))
    """

    def __init__(self, config: MPMConfig, particles: Particles, *, n_steps: int, dt: float,
                 checkpoint_every: int | None = None) -> None:
        if len(particles.materials) != 1 or particles.materials[0].model != "neo_hookean":
            raise ValueError("DiffMPM supports one neo_hookean material, got "
                             f"{[m.model for m in particles.materials]}")
        if config.wall_friction or config.floor_friction:
            raise ValueError("DiffMPM walls are frictionless: set wall_friction and "
                             "floor_friction to 0")
        if not (isinstance(n_steps, int) and n_steps >= 1):
            raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"dt must be a positive number, got {dt!r}")
        k = checkpoint_every or math.ceil(math.sqrt(n_steps))
        if not (isinstance(k, int) and 1 <= k <= n_steps):
            raise ValueError(f"checkpoint_every must be an int in [1, n_steps], got {k!r}")
        self.config, self.dim, self.n = config, config.dim, particles.n
        self.n_steps, self.dt, self.segment = n_steps, float(dt), k
        self.dx = config.dx
        self.gravity = tuple(float(g) for g in config.gravity)
        self.wall_lo, self.wall_hi, self.wall_modes, self.wall_frictions = config.walls()
        self.x0 = particles.position.copy()
        self.v_init = particles.velocity.copy()
        self.vol = float(particles.volume[0])
        if not np.allclose(particles.volume, self.vol):
            raise ValueError("DiffMPM needs equal particle volumes")
        mat = particles.materials[0]
        self.rho = mat.density
        self.params0 = (mat.params["youngs_modulus"], mat.params["poisson_ratio"])
        d, n = self.dim, self.n
        grid = (config.n_grid,) * d
        self.x = ti.Vector.field(d, float, (k + 1, n), needs_grad=True)
        self.v = ti.Vector.field(d, float, (k + 1, n), needs_grad=True)
        self.C = ti.Matrix.field(d, d, float, (k + 1, n), needs_grad=True)
        self.F = ti.Matrix.field(d, d, float, (k + 1, n), needs_grad=True)
        self.v0 = ti.Vector.field(d, float, n, needs_grad=True)
        self.grid_v_in = ti.Vector.field(d, float, grid, needs_grad=True)
        self.grid_m = ti.field(float, grid, needs_grad=True)
        self.grid_v_out = ti.Vector.field(d, float, grid, needs_grad=True)
        self.mu = ti.field(float, (), needs_grad=True)  # Lame parameters (Pa)
        self.lam = ti.field(float, (), needs_grad=True)
        self._params = self.params0
        self._checkpoints: list[tuple[np.ndarray, ...]] = []

    # ------------------------------------------------------------------ kernels
    @ti.kernel
    def _clear_grid(self):
        for node in ti.grouped(self.grid_m):
            self.grid_v_in[node] = ti.Vector.zero(float, self.dim)
            self.grid_m[node] = 0.0
            self.grid_v_out[node] = ti.Vector.zero(float, self.dim)
            self.grid_v_in.grad[node] = ti.Vector.zero(float, self.dim)
            self.grid_m.grad[node] = 0.0
            self.grid_v_out.grad[node] = ti.Vector.zero(float, self.dim)

    @ti.kernel
    def _set_initial(self):
        d = ti.static(self.dim)
        for p in range(self.n):
            self.v[0, p] = self.v0[p]
            self.C[0, p] = ti.Matrix.zero(float, d, d)
            self.F[0, p] = ti.Matrix.identity(float, d)

    @ti.kernel
    def _p2g(self, s: ti.i32):
        d = ti.static(self.dim)
        dt, dx, inv_dx = ti.static(self.dt, self.dx, 1.0 / self.dx)
        vol, mass = ti.static(self.vol, self.vol * self.rho)
        for p in range(self.n):  # autodiff wants every statement inside the loop
            ident = ti.Matrix.identity(float, d)
            Cp = self.C[s, p]
            F = (ident + dt * Cp) @ self.F[s, p]
            self.F[s + 1, p] = F
            tau = neo_hookean_stress(F, self.mu[None], self.lam[None])
            particle_to_grid(self.grid_v_in, self.grid_m, self.x[s, p], self.v[s, p], Cp, tau,
                             vol, mass, dt, dx, inv_dx)

    @ti.kernel
    def _grid_op(self):
        dt, dx = ti.static(self.dt, self.dx)
        lo, hi = ti.static(self.wall_lo, self.wall_hi)
        for node in ti.grouped(self.grid_m):
            g = ti.Vector(self.gravity)
            modes = ti.Vector(ti.static(self.wall_modes), ti.i32)
            frictions = ti.Vector(ti.static(self.wall_frictions), float)
            m = self.grid_m[node]
            if m > 0:
                v = node_velocity(self.grid_v_in[node], m, dt, g)
                self.grid_v_out[node] = box_walls(v, node * dx, lo, hi, modes, frictions)

    @ti.kernel
    def _g2p(self, s: ti.i32):
        dt, inv_dx = ti.static(self.dt, 1.0 / self.dx)
        for p in range(self.n):
            new_v, new_C, new_x = grid_to_particle(self.grid_v_out, self.x[s, p], dt, inv_dx)
            self.v[s + 1, p] = new_v
            self.C[s + 1, p] = new_C
            self.x[s + 1, p] = new_x

    @ti.kernel
    def _carry_grads(self, src: ti.i32, dst: ti.i32):
        """Move the gradient at slot ``src`` to slot ``dst``; zero every other slot."""
        d = ti.static(self.dim)
        for p in range(self.n):
            gx, gv = self.x.grad[src, p], self.v.grad[src, p]
            gC, gF = self.C.grad[src, p], self.F.grad[src, p]
            for s in range(self.segment + 1):
                self.x.grad[s, p] = ti.Vector.zero(float, d)
                self.v.grad[s, p] = ti.Vector.zero(float, d)
                self.C.grad[s, p] = ti.Matrix.zero(float, d, d)
                self.F.grad[s, p] = ti.Matrix.zero(float, d, d)
            self.x.grad[dst, p] = gx
            self.v.grad[dst, p] = gv
            self.C.grad[dst, p] = gC
            self.F.grad[dst, p] = gF

    # ------------------------------------------------------------------ passes
    def _segments(self) -> list[int]:
        full, rest = divmod(self.n_steps, self.segment)
        return [self.segment] * full + ([rest] if rest else [])

    def _step(self, s: int) -> None:
        self._clear_grid()
        self._p2g(s)
        self._grid_op()
        self._g2p(s)

    @ti.kernel
    def _copy_slot(self, slot: ti.i32, x: ti.types.ndarray(), v: ti.types.ndarray(),
                   C: ti.types.ndarray(), F: ti.types.ndarray(), save: ti.template()):
        """Copy one slot of the state to (``save``) or from host arrays ``(n, d[, d])``."""
        d = ti.static(self.dim)
        for p in range(self.n):
            for i in ti.static(range(d)):
                if ti.static(save):
                    x[p, i], v[p, i] = self.x[slot, p][i], self.v[slot, p][i]
                else:
                    self.x[slot, p][i], self.v[slot, p][i] = x[p, i], v[p, i]
                for j in ti.static(range(d)):
                    if ti.static(save):
                        C[p, i, j], F[p, i, j] = self.C[slot, p][i, j], self.F[slot, p][i, j]
                    else:
                        self.C[slot, p][i, j], self.F[slot, p][i, j] = C[p, i, j], F[p, i, j]

    def _state(self, slot: int) -> tuple[np.ndarray, ...]:
        """The particle state at ``slot`` as host arrays (a checkpoint)."""
        d, n = self.dim, self.n
        state = (np.zeros((n, d)), np.zeros((n, d)), np.zeros((n, d, d)), np.zeros((n, d, d)))
        self._copy_slot(slot, *state, True)
        return state

    def _restore(self, state: tuple[np.ndarray, ...]) -> None:
        """Put a checkpoint into slot 0."""
        self._copy_slot(0, *state, False)

    def forward(self, v0: np.ndarray | None = None, *, youngs_modulus: float | None = None,
                poisson_ratio: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Run ``n_steps`` substeps from the initial positions.

        Parameters
        ----------
        v0 : (n, d) or (d,), optional
            Initial velocity (m/s); the particles' own by default.
        youngs_modulus, poisson_ratio : float, optional
            The material's by default.

        Returns
        -------
        positions (n, d) in m and velocities (n, d) in m/s after ``n_steps * dt``.
        """
        d, n = self.dim, self.n
        v0 = self.v_init if v0 is None else np.broadcast_to(np.asarray(v0, float), (n, d))
        self._params = (self.params0[0] if youngs_modulus is None else float(youngs_modulus),
                        self.params0[1] if poisson_ratio is None else float(poisson_ratio))
        self.mu[None], self.lam[None] = lame(*self._params)
        self.v0.from_numpy(np.ascontiguousarray(v0))
        x = np.zeros((self.segment + 1, n, d))
        x[0] = self.x0
        self.x.from_numpy(x)
        self._set_initial()
        self._checkpoints = []
        last: tuple[np.ndarray, ...] | None = None
        for length in self._segments():
            if last is not None:
                self._restore(last)
            self._checkpoints.append(self._state(0))
            for s in range(length):
                self._step(s)
            last = self._state(length)
        self._final_slot = length
        x_final, v_final = last[0], last[1]
        if not (np.all(np.isfinite(x_final)) and np.all(np.isfinite(v_final))):
            raise FloatingPointError("DiffMPM: the forward pass produced non-finite values; "
                                     "reduce dt")
        return x_final.astype(np.float64), v_final.astype(np.float64)

    def backward(self, dL_dx: np.ndarray, dL_dv: np.ndarray | None = None) -> dict[str, object]:
        """Gradients of a loss ``L(x_final, v_final)`` given its partial derivatives.

        Call after :meth:`forward` with the same parameters.

        Parameters
        ----------
        dL_dx, dL_dv : (n, d)
            ``dL/dx_final`` and ``dL/dv_final`` (``dL_dv`` zero by default).

        Returns
        -------
        dict with ``"v0"`` (n, d), ``"youngs_modulus"`` and ``"poisson_ratio"`` (floats).
        """
        if not self._checkpoints:
            raise RuntimeError("call forward() before backward()")
        d, n, k = self.dim, self.n, self.segment
        dL_dv = np.zeros((n, d)) if dL_dv is None else dL_dv
        for name, g in (("dL_dx", dL_dx), ("dL_dv", dL_dv)):
            if np.shape(g) != (n, d):
                raise ValueError(f"{name} must have shape {(n, d)}, got {np.shape(g)}")
        for f in (self.x, self.v, self.C, self.F):
            f.grad.fill(0)
        self.v0.grad.fill(0)
        self.mu.grad[None] = 0.0
        self.lam.grad[None] = 0.0
        gx = np.zeros((k + 1, n, d))
        gv = np.zeros((k + 1, n, d))
        gx[self._final_slot] = dL_dx
        gv[self._final_slot] = dL_dv
        self.x.grad.from_numpy(gx)
        self.v.grad.from_numpy(gv)
        segments = self._segments()
        for i in reversed(range(len(segments))):
            length = segments[i]
            self._restore(self._checkpoints[i])
            for s in range(length):  # recompute the segment's states
                self._step(s)
            for s in reversed(range(length)):
                self._clear_grid()  # recompute this substep's grid, zero its gradient
                self._p2g(s)
                self._grid_op()
                self._g2p.grad(s)
                self._grid_op.grad()
                self._p2g.grad(s)
            if i > 0:
                self._carry_grads(0, segments[i - 1])
        self._set_initial.grad()
        # chain rule through lame(E, nu): mu = E / (2 (1 + nu)), lam = E nu / ((1 + nu)(1 - 2 nu))
        E, nu = self._params
        g_mu, g_lam = float(self.mu.grad[None]), float(self.lam.grad[None])
        a, b = 1 + nu, 1 - 2 * nu
        return {"v0": self.v0.grad.to_numpy().astype(np.float64),
                "youngs_modulus": g_mu / (2 * a) + g_lam * nu / (a * b),
                "poisson_ratio": -g_mu * E / (2 * a * a) + g_lam * E * (1 + 2 * nu * nu)
                / (a * b) ** 2}
