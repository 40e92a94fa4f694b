"""Matrix-free multigrid-preconditioned CG (MGPCG) for cell-centred grid operators.

The system is a :class:`~simkit.numerics.grid_operator.GridOperator` on a grid of
cells ``shape`` (2D or 3D), one row per ``FLUID`` cell::

    (A p)_i = sum over the faces f of cell i of  w_f (p_i - p_j(f))  +  c_i p_i

with ``w_f >= 0`` the face weight (1 open, 0 closed, fractions allowed) and
``p_j = 0`` when the neighbour ``j`` is a ``DIRICHLET`` cell or lies outside the grid
(a boundary face with ``w_f > 0`` is an open boundary at pressure 0; ``w_f = 0`` a
wall). ``SOLID`` cells are not unknowns; faces towards them must have ``w_f = 0``.
``c_i >= 0`` is an optional shift of the diagonal (zero for pressure projection; a
Dirichlet condition folded into the row, or the ``c I`` of an implicit time step).
With no Dirichlet condition and no shift anywhere the system is singular (pure Neumann): the
right-hand side is projected onto the range (mean over fluid cells removed) and so
is every preconditioned residual. The operator lives in Taichi fields (level 0 of the
hierarchy) so that a simulator can write it from a kernel; :meth:`MGPCG.set_operator`
loads a ``GridOperator`` and :meth:`MGPCG.operator` reads it back as one.

The preconditioner is one symmetric multigrid V-cycle (McAdams, Sifakis & Teran
2010): cell types coarsen as "any Dirichlet child -> Dirichlet, else any fluid child
-> fluid", coarse face weights are the mean of the fine faces they cover (so the
coarse operator is the rediscretised one for constant weights), coarse shifts are
``2^(2-d)`` times the sum of the fine ones (the Galerkin product), residuals restrict
by summation (scaled by ``2^(2-d)``), corrections prolong piecewise constant, and
red-black Gauss-Seidel smooths (red then black going down, black then red going up,
so the V-cycle is a symmetric operator, as CG needs). CG vectors are float64; the
V-cycle runs in ``real`` (float32 by default). The solve stops on the true relative
residual ``||b - A x|| / ||b||`` computed in float64.

Written by hand because no maintained library offers a matrix-free geometric
multigrid on Taichi fields with cell masks (pyamg is algebraic and CPU-only).
"""


# ruff: noqa: E741  (``I`` is Taichi's idiom for a grouped, multi-dimensional cell index)
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import taichi as ti

from simkit.numerics.grid_operator import DIRICHLET, FLUID, SOLID, GridOperator

__all__ = ["MGPCG", "SolveInfo"]


@dataclass(frozen=True)
class SolveInfo:
    """What one :meth:`MGPCG.solve` did.

    Attributes
    ----------
    iterations : int
        CG iterations (one V-cycle each).
    residual : float
        True relative residual ``||b - A x|| / ||b||`` in float64 at exit (``nan`` when
        ``b`` or the iterates are not finite: the solve stops there).
    converged : bool
    """

    iterations: int
    residual: float
    converged: bool


@ti.data_oriented
class _Level:
    """Fields of one multigrid level: cell types, face weights, correction, rhs."""

    def __init__(self, shape: tuple[int, ...], real) -> None:
        self.shape = shape
        self.ctype = ti.field(ti.i8, shape)
        self.w = [ti.field(ti.f32, tuple(s + (k == d) for k, s in enumerate(shape)))
                  for d in range(len(shape))]
        self.x = ti.field(real, shape)
        self.r = ti.field(real, shape)
        self.c = ti.field(ti.f32, shape)


@ti.data_oriented
class MGPCG:
    """MGPCG on a fixed grid ``shape``; set the operator, then :meth:`solve`.

    Parameters
    ----------
    shape : tuple of int
        Cells per axis (2 or 3 axes).
    real : Taichi float type
        Precision of the V-cycle (CG itself is float64).
    smoothing : int
        Red-black Gauss-Seidel sweeps before and after each coarse correction.
    coarse_sweeps : int
        Sweeps on the coarsest level (each way).

    Notes
    -----
    The operator lives in ``levels[0].ctype`` (``SOLID``/``FLUID``/``DIRICHLET``,
    shape ``shape``), ``levels[0].w[d]`` (face ``i`` along ``d`` separates cells
    ``i - e_d`` and ``i``; shape ``shape + e_d``) and ``levels[0].c`` (the shift), all
    float32; :meth:`set_operator` fills them from a
    :class:`~simkit.numerics.grid_operator.GridOperator`, or a kernel writes them and
    then calls :meth:`build`. ``b`` and ``x`` are float64 fields of shape ``shape``.
    Every instance owns its fields; Taichi compiles the kernels once per instance.
    """

    def __init__(self, shape: tuple[int, ...], *, real=ti.f32, smoothing: int = 2,
                 coarse_sweeps: int = 24) -> None:
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (2, 3) or min(shape) < 2:
            raise ValueError(f"shape must have 2 or 3 axes of at least 2 cells, got {shape}")
        self.dim, self.shape = len(shape), shape
        self.smoothing, self.coarse_sweeps = int(smoothing), int(coarse_sweeps)
        shapes = [shape]
        while all(s % 2 == 0 and s >= 4 for s in shapes[-1]):
            shapes.append(tuple(s // 2 for s in shapes[-1]))
        self.levels = [_Level(s, real) for s in shapes]
        self._real_np = np.float32 if real == ti.f32 else np.float64
        self.top = self.levels[0]
        f64 = ti.f64
        self.b, self.x = ti.field(f64, shape), ti.field(f64, shape)
        self.res, self.p, self.Ap = ti.field(f64, shape), ti.field(f64, shape), ti.field(f64, shape)
        self.singular = False
        self.n_fluid = 0

    # ---- operator set-up ------------------------------------------------------------

    def set_operator(self, op: GridOperator) -> None:
        """Load ``op`` (its cell types, face weights and shift, as float32) and build.

        Raises
        ------
        TypeError
            ``op`` is not a :class:`~simkit.numerics.grid_operator.GridOperator`.
        ValueError
            ``op`` lives on another grid than ``shape``.
        """
        if not isinstance(op, GridOperator):
            raise TypeError(f"op must be a GridOperator, got {type(op).__name__}")
        if op.grid_shape != self.shape:
            raise ValueError(f"op must be on the grid {self.shape}, got {op.grid_shape}")
        top = self.levels[0]
        top.ctype.from_numpy(op.cell_types)
        for d, w in enumerate(op.weights):
            top.w[d].from_numpy(w.astype(np.float32))
        top.c.from_numpy(op.shift.astype(np.float32))
        self.build()

    def operator(self) -> GridOperator:
        """The level-0 operator (as float32 values widened to float64)."""
        top = self.levels[0]
        return GridOperator.from_cell_types(
            top.ctype.to_numpy(), [w.to_numpy().astype(np.float64) for w in top.w],
            top.c.to_numpy().astype(np.float64))

    def build(self) -> None:
        """Coarsen the operator of level 0 to every level; detect a singular system."""
        for fine, coarse in zip(self.levels, self.levels[1:], strict=False):
            self._coarsen(fine, coarse)
        n_fluid, n_open = self._census(self.levels[0])
        self.n_fluid = int(n_fluid)
        self.singular = n_open == 0
        self._fluid = self.levels[0].ctype.to_numpy() == FLUID

    @ti.kernel
    def _coarsen(self, fine: ti.template(), coarse: ti.template()):
        for I in ti.grouped(coarse.ctype):
            t = SOLID
            for o in ti.static(ti.grouped(ti.ndrange(*([2] * self.dim)))):
                c = fine.ctype[I * 2 + o]
                if c == DIRICHLET:
                    t = DIRICHLET
                elif c == FLUID and t == SOLID:
                    t = FLUID
            coarse.ctype[I] = ti.cast(t, ti.i8)
            shift = 0.0
            for o in ti.static(ti.grouped(ti.ndrange(*([2] * self.dim)))):
                if fine.ctype[I * 2 + o] == FLUID:
                    shift += fine.c[I * 2 + o]
            coarse.c[I] = ti.cast(shift * 2.0 ** (2 - self.dim), ti.f32)
        for d in ti.static(range(self.dim)):
            for I in ti.grouped(coarse.w[d]):
                s = 0.0
                for o in ti.static(ti.grouped(ti.ndrange(*([2] * self.dim)))):
                    if ti.static(o[d] == 0):
                        J = I * 2 + o
                        s += fine.w[d][J]
                coarse.w[d][I] = ti.cast(s / 2 ** (self.dim - 1), ti.f32)

    @ti.kernel
    def _census(self, lvl: ti.template()) -> ti.types.vector(2, ti.i32):
        """(number of fluid cells, number of open Dirichlet faces and shifted rows of
        fluid cells)."""
        out = ti.Vector([0, 0])
        for I in ti.grouped(lvl.ctype):
            if lvl.ctype[I] == FLUID:
                out[0] += 1
                if lvl.c[I] > 0:
                    out[1] += 1
                for d in ti.static(range(self.dim)):
                    e = ti.Vector.unit(self.dim, d, ti.i32)
                    if lvl.w[d][I] > 0:
                        if I[d] == 0:
                            out[1] += 1
                        elif lvl.ctype[I - e] == DIRICHLET:
                            out[1] += 1
                    if lvl.w[d][I + e] > 0:
                        if I[d] == lvl.ctype.shape[d] - 1:
                            out[1] += 1
                        elif lvl.ctype[I + e] == DIRICHLET:
                            out[1] += 1
        return out

    # ---- stencil --------------------------------------------------------------------

    @ti.func
    def _stencil(self, lvl: ti.template(), x: ti.template(), I):
        """(diagonal, sum of w_f x_j over fluid neighbours) of row ``I``."""
        diag = ti.cast(lvl.c[I], x.dtype)
        off = ti.cast(0.0, x.dtype)
        for d in ti.static(range(self.dim)):
            e = ti.Vector.unit(self.dim, d, ti.i32)
            wl = ti.cast(lvl.w[d][I], x.dtype)  # sums in x's precision (float64 in CG)
            wr = ti.cast(lvl.w[d][I + e], x.dtype)
            diag += wl + wr
            if I[d] > 0:
                if lvl.ctype[I - e] == FLUID:
                    off += wl * x[I - e]
            if I[d] < lvl.ctype.shape[d] - 1:
                if lvl.ctype[I + e] == FLUID:
                    off += wr * x[I + e]
        return diag, off

    # ---- V-cycle --------------------------------------------------------------------

    @ti.func
    def _relax(self, lvl: ti.template(), color: ti.template()):
        """One Gauss-Seidel half-sweep over the cells of one colour."""
        for I in ti.grouped(lvl.x):
            if (I.sum() & 1) == color and lvl.ctype[I] == FLUID:
                diag, off = self._stencil(lvl, lvl.x, I)
                if diag > 0:
                    lvl.x[I] = ti.cast((lvl.r[I] + off) / diag, lvl.x.dtype)

    @ti.kernel
    def _smooth(self, lvl: ti.template(), sweeps: ti.template(), down: ti.template()):
        """``sweeps`` red-black sweeps (black-red when going up); each loop is one
        parallel pass, passes run in order."""
        for _ in ti.static(range(sweeps)):
            self._relax(lvl, 0 if ti.static(down) else 1)
            self._relax(lvl, 1 if ti.static(down) else 0)

    @ti.kernel
    def _coarse_solve(self, lvl: ti.template(), sweeps: ti.i32):
        """Symmetric red-black Gauss-Seidel on the (tiny) coarsest level, run serially:
        ``sweeps`` red-black sweeps, then ``sweeps`` black-red ones."""
        ti.loop_config(serialize=True)
        for k in range(2 * sweeps):
            first = 0 if k < sweeps else 1
            for c in range(2):
                color = first ^ c
                for I in ti.grouped(ti.ndrange(*lvl.shape)):
                    if (I.sum() & 1) == color and lvl.ctype[I] == FLUID:
                        diag, off = self._stencil(lvl, lvl.x, I)
                        if diag > 0:
                            lvl.x[I] = ti.cast((lvl.r[I] + off) / diag, lvl.x.dtype)

    @ti.kernel
    def _restrict(self, fine: ti.template(), coarse: ti.template()):
        scale = 2.0 ** (2 - self.dim)
        for I in ti.grouped(coarse.r):
            s = 0.0
            for o in ti.static(ti.grouped(ti.ndrange(*([2] * self.dim)))):
                J = I * 2 + o
                if fine.ctype[J] == FLUID:
                    diag, off = self._stencil(fine, fine.x, J)
                    s += fine.r[J] - (diag * fine.x[J] - off)
            coarse.r[I] = ti.cast(s * scale if coarse.ctype[I] == FLUID else 0.0, coarse.r.dtype)
            coarse.x[I] = ti.cast(0.0, coarse.x.dtype)

    @ti.kernel
    def _prolong(self, coarse: ti.template(), fine: ti.template()):
        for I in ti.grouped(fine.x):
            if fine.ctype[I] == FLUID:
                fine.x[I] += coarse.x[I // 2]

    def _vcycle(self) -> None:
        """``levels[0].x = M^-1 levels[0].r`` (``levels[0].x`` zeroed beforehand)."""
        lv = self.levels
        for fine, coarse in zip(lv, lv[1:], strict=False):
            self._smooth(fine, self.smoothing, True)
            self._restrict(fine, coarse)
        self._coarse_solve(lv[-1], self.coarse_sweeps)
        for fine, coarse in zip(lv[-2::-1], lv[:0:-1], strict=False):
            self._prolong(coarse, fine)
            self._smooth(fine, self.smoothing, False)

    # ---- CG kernels (float64) --------------------------------------------------------

    @ti.kernel
    def _fluid_mean(self, v: ti.template()) -> ti.f64:
        s = ti.f64(0.0)
        n = 0
        for I in ti.grouped(v):
            if self.top.ctype[I] == FLUID:
                s += v[I]
                n += 1
        return s / ti.max(n, 1)

    @ti.kernel
    def _start(self, mean: ti.f64) -> ti.types.vector(2, ti.f64):
        """``b -= mean`` on fluid cells, zero elsewhere; ``res = b - A x``; (|b|^2, |res|^2)."""
        for I in ti.grouped(self.b):
            if self.top.ctype[I] == FLUID:
                self.b[I] -= mean
            else:
                self.b[I] = 0.0
                self.x[I] = 0.0
        out = ti.Vector([0.0, 0.0], ti.f64)
        for I in ti.grouped(self.b):
            r = ti.f64(0.0)
            if self.top.ctype[I] == FLUID:
                diag, off = self._stencil(self.top, self.x, I)
                r = self.b[I] - (diag * self.x[I] - off)
            self.res[I] = r
            self.top.r[I] = ti.cast(r, self.top.r.dtype)
            self.top.x[I] = ti.cast(0.0, self.top.x.dtype)
            out += ti.Vector([self.b[I] ** 2, r * r])
        return out

    @ti.kernel
    def _precond_dot(self, mean: ti.f64) -> ti.f64:
        """``z = M^-1 res - mean`` (left in ``levels[0].x``); returns ``res . z``."""
        s = ti.f64(0.0)
        for I in ti.grouped(self.top.x):
            if self.top.ctype[I] == FLUID:
                z = ti.cast(self.top.x[I], ti.f64) - mean
                self.top.x[I] = ti.cast(z, self.top.x.dtype)
                s += self.res[I] * z
        return s

    @ti.kernel
    def _direction(self, beta: ti.f64):
        for I in ti.grouped(self.p):
            self.p[I] = ti.cast(self.top.x[I], ti.f64) + beta * self.p[I]

    @ti.kernel
    def _apply_dot(self) -> ti.f64:
        """``Ap = A p``; returns ``p . Ap``."""
        s = ti.f64(0.0)
        for I in ti.grouped(self.p):
            v = ti.f64(0.0)
            if self.top.ctype[I] == FLUID:
                diag, off = self._stencil(self.top, self.p, I)
                v = diag * self.p[I] - off
            self.Ap[I] = v
            s += self.p[I] * v
        return s

    @ti.kernel
    def _update(self, alpha: ti.f64) -> ti.f64:
        """``x += alpha p``, ``res -= alpha Ap``, V-cycle input from ``res``; ``|res|^2``."""
        s = ti.f64(0.0)
        for I in ti.grouped(self.x):
            self.x[I] += alpha * self.p[I]
            r = self.res[I] - alpha * self.Ap[I]
            self.res[I] = r
            self.top.r[I] = ti.cast(r, self.top.r.dtype)
            self.top.x[I] = ti.cast(0.0, self.top.x.dtype)
            s += r * r
        return s

    # ---- solve ----------------------------------------------------------------------

    def run(self, rtol: float = 1e-6, maxiter: int = 200, *, zero_guess: bool = True,
            callback=None) -> SolveInfo:
        """Solve ``A x = b`` on the fields ``b`` -> ``x`` (``b`` is projected when singular).

        Stops when the true relative residual is at most ``rtol``; the recurrence
        residual only decides when to check it. A non-finite ``b`` or residual stops it
        at once (``converged`` False, ``residual`` nan); :meth:`worst_cell` then says where.
        """
        if zero_guess:
            self.x.fill(0.0)
        mean = self._fluid_mean(self.b) if self.singular else 0.0
        if not math.isfinite(mean):  # b itself: keep it, so that worst_cell can find it
            return SolveInfo(0, math.nan, False)
        bb, rr = self._start(mean)
        bnorm = math.sqrt(bb)
        if bnorm == 0.0:
            self.x.fill(0.0)
            return SolveInfo(0, 0.0, True)
        it = 0
        while True:
            rel = math.sqrt(rr) / bnorm
            if rel <= rtol or it >= maxiter or not math.isfinite(rel):
                return SolveInfo(it, rel if math.isfinite(rel) else math.nan, rel <= rtol)
            self._vcycle()
            rz = self._precond_dot(self._z_mean())
            self._direction(0.0)
            while True:
                pAp = self._apply_dot()
                if not pAp > 0:  # breakdown: A is not positive definite on this subspace
                    break
                rr = self._update(rz / pAp)
                it += 1
                if callback is not None:
                    callback(it, math.sqrt(rr) / bnorm)
                if math.sqrt(rr) / bnorm <= rtol or it >= maxiter:
                    break
                self._vcycle()
                rz_new = self._precond_dot(self._z_mean())
                self._direction(rz_new / rz)
                rz = rz_new
            # the recurrence may drift from the true residual: check it, restart from it
            _, rr = self._start(0.0)
            if not pAp > 0:
                rel = math.sqrt(rr) / bnorm
                return SolveInfo(it, rel, rel <= rtol)

    def worst_cell(self) -> tuple[int, ...]:
        """After :meth:`run`: the first cell (grid order) where ``b`` or the residual is
        not finite, else the cell of the largest ``|b - A x|``."""
        b, r = self.b.to_numpy(), self.res.to_numpy()
        bad = ~(np.isfinite(b) & np.isfinite(r))
        flat = int(np.argmax(bad)) if bad.any() else int(np.argmax(np.abs(r)))
        return tuple(int(i) for i in np.unravel_index(flat, self.shape))

    def _z_mean(self) -> float:
        return self._fluid_mean(self.levels[0].x) if self.singular else 0.0

    def solve(self, b: np.ndarray, x0: np.ndarray | None = None, *, rtol: float = 1e-6,
              maxiter: int = 200) -> tuple[np.ndarray, SolveInfo]:
        """Numpy convenience: ``x`` (shape ``shape``, zero off fluid cells) and info."""
        b = np.asarray(b, dtype=np.float64)
        if b.shape != self.shape or not np.all(np.isfinite(b)):
            raise ValueError(f"b must be a finite array of shape {self.shape}, got {b.shape}")
        self.b.from_numpy(b)
        if x0 is not None:
            self.x.from_numpy(np.asarray(x0, dtype=np.float64))
        info = self.run(rtol, maxiter, zero_guess=x0 is None)
        return self.x.to_numpy(), info

    def precondition(self, r: np.ndarray) -> np.ndarray:
        """One V-cycle ``z = M^-1 r`` on numpy arrays of shape ``shape`` (``r`` zero off
        fluid cells; ``z`` mean-free on them when the system is singular)."""
        top = self.levels[0]
        top.r.from_numpy(np.asarray(r, dtype=self._real_np))
        top.x.fill(0.0)
        self._vcycle()
        z = top.x.to_numpy().astype(np.float64)
        if self.singular:
            z[self._fluid] -= z[self._fluid].mean()
        return z

    # ---- the operator as arrays -------------------------------------------------------

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``A x`` with the solver's own float64 stencil kernel, on grid arrays of shape
        ``shape`` (``x`` off fluid cells is ignored; the result is zero there)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self.shape:
            raise ValueError(f"x must have shape {self.shape}, got {x.shape}")
        self.p.from_numpy(np.where(self._fluid, x, 0.0))
        self._apply_dot()
        return self.Ap.to_numpy()

    def stencil(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The level-0 operator in the ``linear_systems`` stencil form (see
        :meth:`GridOperator.to_stencil`)."""
        return self.operator().to_stencil()

    def matrix(self) -> tuple[sp.csr_matrix, np.ndarray]:
        """The operator as CSR over the fluid cells and their flat grid indices."""
        op = self.operator()
        return op.tocsr(), op.cells
