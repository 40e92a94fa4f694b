"""Numerics shared by the simulators and by ``solvers``: cell-centred grid operators.

:class:`GridOperator` (``simkit.numerics.grid_operator``) is the one type of a
cell-centred 5/7-point operator (cell types, face weights, diagonal shift) with numpy
and Taichi ``matvec``, CSR and the ``linear_systems`` stencil form.
:class:`~simkit.numerics.mgpcg.MGPCG` (``simkit.numerics.mgpcg``, imports Taichi) is
the matrix-free multigrid-preconditioned CG on it, used by the fluid simulator's
pressure projection and by :class:`solvers.GeometricMG`.

Importing this package does not import Taichi.
"""

from simkit.numerics.grid_operator import (
    DIRICHLET,
    FLUID,
    SOLID,
    GridOperator,
    poisson_offsets,
    require_runtime,
)

__all__ = ["SOLID", "FLUID", "DIRICHLET", "GridOperator", "poisson_offsets", "require_runtime"]
