"""Geometric multigrid V-cycle as a preconditioner, matrix-free on a grid.

It runs the V-cycle of the fluid simulator's MGPCG (Taichi; red-black Gauss-Seidel,
masks, variable face weights, diagonal shift; see
:mod:`simkit.simulators.fluid.mgpcg`) on a :class:`solvers.stencil.StencilOperator`:
unknown cells are ``FLUID``; a cell outside the mask that a face of positive weight
joins to an unknown is ``DIRICHLET``, any other is ``SOLID``. One application is one
V-cycle (symmetric, so it suits CG). Coarsening halves every axis while all are even
and at least 4, so grid sizes with many factors of two give the most levels.

Taichi compiles the V-cycle's kernels per hierarchy, seconds in 2D and tens of
seconds in 3D, so one hierarchy per (grid shape, precision, smoothing) is kept per
process and reloaded with the operator of whichever preconditioner applies it: a new
``GeometricMG`` on a grid seen before (the next frame of a simulation) sets up in
milliseconds.
"""

import numpy as np

from simkit.runtime import on_reset
from solvers.preconditioners import Preconditioner
from solvers.stencil import StencilOperator, _along, ensure_taichi

__all__ = ["GeometricMG"]

_HIERARCHIES: dict[tuple, object] = {}  # key -> MGPCG
_LOADED: dict[tuple, object] = {}  # key -> the GeometricMG whose operator is loaded
on_reset(lambda program_gone: (_HIERARCHIES.clear(), _LOADED.clear()))


class GeometricMG(Preconditioner):
    """Parameters
    ----------
    A : StencilOperator
    smoothing : int
        Red-black Gauss-Seidel sweeps before and after each coarse correction.
    precision : {"f32", "f64"}
        Arithmetic of the V-cycle (the Krylov method around it stays float64).
    """

    name = "GMG"

    def __init__(self, A: StencilOperator, *, smoothing: int = 2,
                 precision: str = "f32") -> None:
        if not isinstance(A, StencilOperator):
            raise ValueError("GeometricMG needs a StencilOperator (a grid operator), got "
                             f"{type(A).__name__}; use AMG for an assembled matrix")
        if precision not in ("f32", "f64"):
            raise ValueError(f"precision must be 'f32' or 'f64', got {precision!r}")
        self.smoothing, self.precision = int(smoothing), precision
        super().__init__(A)

    def _setup(self, A: StencilOperator) -> None:
        import taichi as ti

        from simkit.simulators.fluid.mgpcg import DIRICHLET, FLUID, MGPCG, SOLID

        ensure_taichi()
        self.op, self.shape = A, A.shape
        ctype = np.where(A.mask, FLUID, SOLID).astype(np.int8)
        touched = np.zeros(A.grid_shape, bool)  # non-unknowns a positive face joins
        for d, w in enumerate(A.weights):
            first, rest = _along(A.dim, d, slice(0, -1)), _along(A.dim, d, slice(1, None))
            inner = w[_along(A.dim, d, slice(1, -1))] > 0  # face between cells k-1 and k
            touched[first] |= inner & A.mask[rest]
            touched[rest] |= inner & A.mask[first]
        ctype[touched & ~A.mask] = DIRICHLET
        self._operator = (ctype, A.weights, A.shift * A.mask)
        self._key = (A.grid_shape, self.precision, self.smoothing)
        if self._key not in _HIERARCHIES:
            real = ti.f32 if self.precision == "f32" else ti.f64
            _HIERARCHIES[self._key] = MGPCG(A.grid_shape, real=real, smoothing=self.smoothing)
        self.mg = _HIERARCHIES[self._key]
        self._load()

    def _load(self) -> None:
        self.mg.set_operator(*self._operator)
        _LOADED[self._key] = self

    def apply(self, r):
        if _LOADED.get(self._key) is not self:
            self._load()
        return self.op.from_grid(self.mg.precondition(self.op.to_grid(r))).copy()

    def _details(self) -> str:
        return f"{len(self.mg.levels)} levels, coarsest {self.mg.levels[-1].shape}"
