"""Iterative solvers with scipy's calling convention (see ``solvers.krylov``)."""

from solvers.krylov import INDEFINITE_PRECONDITIONER, NEGATIVE_CURVATURE, cg

__all__ = ["cg", "NEGATIVE_CURVATURE", "INDEFINITE_PRECONDITIONER"]
