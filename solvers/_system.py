"""Argument checks shared by every method: one place that names what was expected.

Explicit matrices (numpy arrays and scipy sparse matrices) are checked for NaN and
infinity, and where a method needs ``A`` symmetric, for symmetry:
``max |A - A^T| <= SYMMETRY_RTOL max |A|`` entry-wise, one transpose and one
comparison (O(nnz)). Matrix-free operators (a ``LinearOperator``, a callable) cannot
be checked: their entries are never formed. A ``StencilOperator`` is finite and
symmetric by construction.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

__all__ = ["System", "operator", "vector", "as_csr", "check_finite_matrix",
           "check_symmetric", "SYMMETRY_RTOL"]

#: Relative tolerance of the symmetry check: the largest ``|A_ij - A_ji|`` may be this
#: fraction of the largest ``|A_ij|`` (rounding in float32 assembly stays below it; a
#: convection term or a one-sided boundary row does not).
SYMMETRY_RTOL = 1e-6


def vector(name: str, v, n: int) -> np.ndarray:
    """``v`` as a finite float64 vector of shape ``(n,)`` (``(n, 1)`` accepted)."""
    v = np.asarray(v, dtype=np.float64)
    if v.shape not in ((n,), (n, 1)):
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    v = v.reshape(n)
    bad = ~np.isfinite(v)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(f"{name} must be finite; it has {int(bad.sum())} non-finite "
                         f"entries, the first {v[first]} at index {first}")
    return v


def _explicit(A) -> bool:
    return sp.issparse(A) or isinstance(A, np.ndarray)


def check_finite_matrix(A, name: str = "A") -> None:
    """Raise a ``ValueError`` naming ``name`` and the first ``(row, column)`` holding a
    NaN or an infinity, if ``A`` is an explicit matrix (dense or sparse) that has one;
    matrix-free operators pass unchecked."""
    if isinstance(A, np.ndarray):
        bad = ~np.isfinite(A)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} must be finite; it holds {A[where]} at {where} "
                             f"({int(bad.sum())} non-finite entries)")
    elif sp.issparse(A):
        data = getattr(A, "data", None)
        if not (isinstance(data, np.ndarray) and data.dtype != object):
            A = A.tocoo()  # lil, dok: no flat data array
            data = A.data
        bad = ~np.isfinite(data)
        if bad.any():
            C = sp.coo_matrix(A)  # the entries' coordinates (only on failure)
            k = int(np.argmax(~np.isfinite(C.data)))
            raise ValueError(f"{name} must be finite; it holds {C.data[k]} at "
                             f"({int(C.row[k])}, {int(C.col[k])}) ({int(bad.sum())} "
                             "non-finite entries)")


def check_symmetric(A, who: str, rtol: float = SYMMETRY_RTOL) -> None:
    """Raise a ``ValueError`` if the explicit (dense or sparse, square, finite) matrix
    ``A`` is not symmetric: ``max |A_ij - A_ji| > rtol max |A_ij|``. ``who`` names the
    method that needs it in the message, which names the worst pair. Matrix-free
    operators pass unchecked. Cost: one transpose and one comparison, O(nnz)."""
    if not _explicit(A) or A.shape[0] == 0:
        return
    if sp.issparse(A):
        C = sp.csr_matrix(A)
        if not C.has_canonical_format:  # sorted, no duplicates; never in the caller's A
            C = C.copy()
            C.sum_duplicates()
        T = C.T.tocsr()  # one pass over the entries; sorted
        if np.array_equal(C.indptr, T.indptr) and np.array_equal(C.indices, T.indices):
            if np.array_equal(C.data, T.data):  # same pattern, same values
                return
            gap = C.data - T.data
            np.abs(gap, out=gap)
            k = int(np.argmax(gap))
            i, j = int(np.searchsorted(C.indptr, k, side="right")) - 1, int(C.indices[k])
            worst = float(gap[k])
        else:
            D = sp.coo_matrix(C - T)  # exact zeros dropped: empty when A is symmetric
            if D.nnz == 0:
                return
            k = int(np.argmax(np.abs(D.data)))
            i, j, worst = int(D.row[k]), int(D.col[k]), float(abs(D.data[k]))
        scale = float(max(C.data.max(), -C.data.min()))
        a_ij, a_ji = C[i, j], C[j, i]
    else:
        D = np.abs(A - A.T)
        i, j = (int(v) for v in np.unravel_index(np.argmax(D), D.shape))
        worst, scale = float(D[i, j]), float(np.abs(A).max())
        a_ij, a_ji = A[i, j], A[j, i]
    if worst > rtol * scale:
        raise ValueError(f"{who}: A must be symmetric; |A - A^T| is {worst:.3g} at "
                         f"({i}, {j}) (A[{i}, {j}] = {a_ij:.6g}, A[{j}, {i}] = "
                         f"{a_ji:.6g}), above {rtol:g} max|A| = {rtol * scale:.3g}. "
                         "Use gmres or bicgstab for a non-symmetric A, or pass "
                         "aslinearoperator(A) to skip the check")


def operator(name: str, A, n: int | None = None) -> LinearOperator:
    """``A`` as a square ``LinearOperator`` (of size ``n`` when given); an explicit
    matrix is checked finite (:func:`check_finite_matrix`)."""
    try:
        op = aslinearoperator(A)
    except TypeError as err:
        raise ValueError(f"{name} must be a matrix, sparse matrix or LinearOperator, got "
                         f"{type(A).__name__}") from err
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"{name} must be square, got shape {op.shape}")
    if n is not None and op.shape != (n, n):
        raise ValueError(f"{name} must have shape {(n, n)}, got {op.shape}")
    check_finite_matrix(A, name)
    return op


def as_csr(A, who: str, *, symmetric: bool = False) -> sp.csr_matrix:
    """``A`` (sparse, dense, or anything with ``.tocsr()`` such as a StencilOperator) as a
    square, finite float64 CSR matrix with sorted indices; ``who`` names the caller in
    errors. ``symmetric=True`` also refuses a non-symmetric ``A``
    (:func:`check_symmetric`)."""
    if not (sp.issparse(A) or isinstance(A, np.ndarray) or hasattr(A, "tocsr")):
        raise ValueError(f"{who}: A must be a sparse or dense matrix, or have .tocsr() (a "
                         f"StencilOperator), got {type(A).__name__}")
    A = sp.csr_matrix(A.tocsr() if hasattr(A, "tocsr") else A, dtype=np.float64)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{who}: A must be square, got shape {A.shape}")
    A.sum_duplicates()
    A.sort_indices()
    check_finite_matrix(A, f"{who}: A")
    if symmetric:
        check_symmetric(A, who)
    return A


class System:
    """A checked problem: ``A``, ``b``, start ``x``, ``M`` (or None), the absolute
    tolerance ``tol = max(rtol ||b||, atol)`` and ``maxiter`` (default ``10 n``).
    ``symmetric_for`` (a method's name) refuses an explicit non-symmetric ``A``."""

    def __init__(self, A, b, x0, rtol: float, atol: float, maxiter: int | None, M, *,
                 symmetric_for: str | None = None) -> None:
        self.A = operator("A", A)
        if symmetric_for is not None:
            check_symmetric(A, symmetric_for)
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
