"""Matrix-free 5-point (2D) / 7-point (3D) grid operators for the solvers.

:class:`StencilOperator` is :class:`simkit.numerics.grid_operator.GridOperator` (one
type, defined once in ``simkit.numerics`` because the fluid simulator uses it too):
face weights, a mask of unknowns and a diagonal shift; ``matvec`` in numpy or Taichi,
``tocsr()``, ``to_stencil()`` / ``from_stencil()`` for the ``linear_systems`` stencil
form, and the cell types that geometric multigrid (:class:`solvers.GeometricMG`)
coarsens. See that module for the formula, shapes and units.
"""

from simkit.numerics.grid_operator import GridOperator

__all__ = ["StencilOperator", "GridOperator"]

StencilOperator = GridOperator
