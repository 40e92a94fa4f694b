"""Argument checks shared by every method: one place that names what was expected."""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

__all__ = ["System", "operator", "vector", "as_csr"]


def vector(name: str, v, n: int) -> np.ndarray:
    """``v`` as a finite float64 vector of shape ``(n,)`` (``(n, 1)`` accepted)."""
    v = np.asarray(v, dtype=np.float64)
    if v.shape not in ((n,), (n, 1)):
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    v = v.reshape(n)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite; it has {int((~np.isfinite(v)).sum())} "
                         "non-finite entries")
    return v


def operator(name: str, A, n: int | None = None) -> LinearOperator:
    """``A`` as a square ``LinearOperator`` (of size ``n`` when given)."""
    try:
        op = aslinearoperator(A)
    except TypeError as err:
        raise ValueError(f"{name} must be a matrix, sparse matrix or LinearOperator, got "
                         f"{type(A).__name__}") from err
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"{name} must be square, got shape {op.shape}")
    if n is not None and op.shape != (n, n):
        raise ValueError(f"{name} must have shape {(n, n)}, got {op.shape}")
    return op


def as_csr(A, who: str) -> sp.csr_matrix:
    """``A`` (sparse, dense, or anything with ``.tocsr()`` such as a StencilOperator) as a
    square, finite float64 CSR matrix with sorted indices; ``who`` names the caller in
    errors."""
    if not (sp.issparse(A) or isinstance(A, np.ndarray) or hasattr(A, "tocsr")):
        raise ValueError(f"{who}: A must be a sparse or dense matrix, or have .tocsr() (a "
                         f"StencilOperator), got {type(A).__name__}")
    A = sp.csr_matrix(A.tocsr() if hasattr(A, "tocsr") else A, dtype=np.float64)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{who}: A must be square, got shape {A.shape}")
    A.sum_duplicates()
    A.sort_indices()
    if not np.all(np.isfinite(A.data)):
        raise ValueError(f"{who}: A must be finite")
    return A


class System:
    """A checked problem: ``A``, ``b``, start ``x``, ``M`` (or None), the absolute
    tolerance ``tol = max(rtol ||b||, atol)`` and ``maxiter`` (default ``10 n``)."""

    def __init__(self, A, b, x0, rtol: float, atol: float, maxiter: int | None, M) -> None:
        self.A = operator("A", A)
        n = self.n = self.A.shape[0]
        self.b = vector("b", b, n)
        self.x = np.zeros(n) if x0 is None else vector("x0", x0, n).copy()
        self.M = None if M is None else operator("M", M, n)
        if not (np.isfinite(rtol) and np.isfinite(atol) and rtol >= 0 and atol >= 0):
            raise ValueError(f"rtol and atol must be finite and >= 0, got {rtol!r} and {atol!r}")
        self.maxiter = 10 * n if maxiter is None else int(maxiter)
        if self.maxiter < 0:
            raise ValueError(f"maxiter must be >= 0, got {maxiter!r}")
        self.bnorm = float(np.linalg.norm(self.b))
        self.tol = max(rtol * self.bnorm, atol)

    def residual(self, x: np.ndarray) -> np.ndarray:
        return self.b - self.A.matvec(x)

    def converged(self, x: np.ndarray) -> bool:
        """The stop test every method ends on: ``||b - A x|| <= tol`` in float64."""
        return float(np.linalg.norm(self.residual(x))) <= self.tol

    def precondition(self, r: np.ndarray) -> np.ndarray:
        return r if self.M is None else self.M.matvec(r)
