"""Iterative solvers with scipy's calling convention, classical preconditioners,
matrix-free grid operators, a problem gallery and a benchmark harness.

Methods: :func:`cg`, :func:`pcg`, :func:`minres`, :func:`gmres`, :func:`bicgstab`,
:func:`chebyshev` (Krylov, ``solvers.krylov``), :func:`jacobi`, :func:`sor`,
:func:`ssor` (stationary, ``solvers.stationary``). Preconditioners: :class:`Jacobi`,
:class:`SSOR`, :class:`IncompleteCholesky`, :class:`AMG` (``solvers.preconditioners``)
and :class:`GeometricMG` (``solvers.multigrid``). Grid operators: :class:`StencilOperator`,
which is :class:`simkit.numerics.GridOperator`.

Importing ``solvers`` imports neither Taichi nor torch and initialises nothing. What runs
Taichi kernels (``GeometricMG``, ``IncompleteCholesky``, ``StencilOperator(...,
backend="taichi")``) needs the caller's :func:`simkit.init` and raises a
``RuntimeError`` naming it otherwise; ``solvers`` never picks an arch itself.
"""

from solvers.krylov import (
    INDEFINITE_PRECONDITIONER,
    NEGATIVE_CURVATURE,
    bicgstab,
    cg,
    chebyshev,
    gmres,
    minres,
    pcg,
)
from solvers.multigrid import GeometricMG
from solvers.preconditioners import AMG, SSOR, IncompleteCholesky, Jacobi, Preconditioner
from solvers.stationary import jacobi, sor, ssor
from solvers.stencil import GridOperator, StencilOperator

__all__ = ["cg", "pcg", "minres", "gmres", "bicgstab", "chebyshev", "jacobi", "sor", "ssor",
           "NEGATIVE_CURVATURE", "INDEFINITE_PRECONDITIONER", "Preconditioner", "Jacobi",
           "SSOR", "IncompleteCholesky", "AMG", "GeometricMG", "StencilOperator",
           "GridOperator"]
