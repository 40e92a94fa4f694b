"""Geometric multigrid V-cycle as a preconditioner, matrix-free on a grid.

It runs the V-cycle of :class:`simkit.numerics.mgpcg.MGPCG` (Taichi; red-black
Gauss-Seidel, masks, variable face weights, diagonal shift) on a
:class:`~simkit.numerics.grid_operator.GridOperator` (``solvers.StencilOperator``),
with the operator's own cell types: unknowns are ``FLUID``; a non-unknown that a face
of positive weight joins to an unknown is ``DIRICHLET``, any other ``SOLID``. One
application is one V-cycle (symmetric, so it suits CG). Coarsening halves every axis
while all are even and at least 4, so grid sizes with many factors of two give the
most levels.

Every ``GeometricMG`` owns its hierarchy (Taichi fields) for as long as it lives, so
several preconditioners of one grid coexist and each gives the results it gives
alone; nothing is reloaded inside a solve. Taichi compiles the V-cycle's kernels per
hierarchy (seconds in 2D, tens of seconds in 3D), so a hierarchy whose
preconditioner has been garbage-collected goes back to a per-process pool keyed by
(grid shape, precision, smoothing), and the next ``GeometricMG`` of that key (the
next frame of a simulation) takes it and sets up in milliseconds.

Taichi must be initialised by the caller (:func:`simkit.init`, e.g.
``simkit.init("cpu", "f64")``); without a runtime the constructor raises a
``RuntimeError`` that says so. The V-cycle runs on whatever arch that runtime uses.
"""

import weakref

from simkit.numerics.grid_operator import GridOperator, require_runtime
from simkit.runtime import per_program_cache
from solvers.preconditioners import Preconditioner

__all__ = ["GeometricMG"]

#: (grid shape, precision, smoothing) -> MGPCG hierarchies no live GeometricMG owns, for
#: the current Taichi program (the pool of an earlier program is dropped with it)
_FREE_HIERARCHIES = per_program_cache()


class GeometricMG(Preconditioner):
    """Parameters
    ----------
    A : StencilOperator (GridOperator)
        ``n`` unknowns on a grid of 2 or 3 axes.
    smoothing : int
        Red-black Gauss-Seidel sweeps before and after each coarse correction.
    precision : {"f32", "f64"}
        Arithmetic of the V-cycle (the Krylov method around it stays float64).

    Raises
    ------
    ValueError
        ``A`` is not a grid operator, or ``precision`` is neither "f32" nor "f64".
    RuntimeError
        No Taichi runtime: call :func:`simkit.init` first.
    """

    name = "GMG"

    def __init__(self, A: GridOperator, *, smoothing: int = 2,
                 precision: str = "f32") -> None:
        if not isinstance(A, GridOperator):
            raise ValueError("GeometricMG needs a StencilOperator (a grid operator), got "
                             f"{type(A).__name__}; use AMG for an assembled matrix")
        if precision not in ("f32", "f64"):
            raise ValueError(f"precision must be 'f32' or 'f64', got {precision!r}")
        require_runtime("GeometricMG")
        self.smoothing, self.precision = int(smoothing), precision
        super().__init__(A)

    def _setup(self, A: GridOperator) -> None:
        import taichi as ti

        from simkit.numerics.mgpcg import MGPCG

        self.op, self.shape = A, A.shape
        key = (A.grid_shape, self.precision, self.smoothing)
        free = _FREE_HIERARCHIES.get(key, list)
        if free:
            self.mg = free.pop()
        else:
            real = ti.f32 if self.precision == "f32" else ti.f64
            self.mg = MGPCG(A.grid_shape, real=real, smoothing=self.smoothing)
        weakref.finalize(self, free.append, self.mg)  # back to the pool when collected
        self.mg.set_operator(A)

    def apply(self, r):
        return self.op.from_grid(self.mg.precondition(self.op.to_grid(r))).copy()

    def _details(self) -> str:
        return f"{len(self.mg.levels)} levels, coarsest {self.mg.levels[-1].shape}"
