"""Stationary iterations: weighted Jacobi, SOR and symmetric SOR.

Same signature as the Krylov methods (``f(A, b, x0=None, *, rtol, atol, maxiter,
M=None, callback) -> (x, info)``) plus the relaxation factor ``omega``. ``A`` must be
an explicit sparse or dense matrix, or have ``.tocsr()`` (the sweeps read its rows);
``M`` must be None, since the splitting is the preconditioner. The sweeps are pyamg's
compiled relaxation kernels; each iteration ends with the true residual, which decides
the stop.
"""

import numpy as np
import pyamg.amg_core as amg_core

from solvers._system import System, as_csr

__all__ = ["jacobi", "sor", "ssor"]


def _iterate(method: str, sweep, A, b, x0, rtol, atol, maxiter, M, callback, omega):
    if M is not None:
        raise ValueError(f"{method}: M must be None (the splitting is the preconditioner; use "
                         "cg with M=SSOR(...) for a preconditioned method)")
    if not (np.isfinite(omega) and 0 < omega < 2):
        raise ValueError(f"omega must lie in (0, 2), got {omega!r}")
    A = as_csr(A, method)
    if np.any(A.diagonal() == 0):
        raise ValueError(f"{method}: A has {int(np.sum(A.diagonal() == 0))} zero diagonal "
                         "entries; the sweeps divide by them")
    s = System(A, b, x0, rtol, atol, maxiter, None)
    x = s.x
    for _ in range(s.maxiter):
        if np.linalg.norm(s.b - A @ x) <= s.tol:
            return x, 0
        sweep(A, x, s.b)
        if callback is not None:
            callback(x)
    return (x, 0) if np.linalg.norm(s.b - A @ x) <= s.tol else (x, s.maxiter)


def jacobi(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0,
           maxiter: int | None = None, M=None, callback=None,
           omega: float = 1.0) -> tuple[np.ndarray, int]:
    """Weighted Jacobi ``x += omega D^-1 (b - A x)``."""
    def sweep(A, x, b):
        amg_core.jacobi(A.indptr, A.indices, A.data, x, b, x.copy(), 0, A.shape[0], 1,
                        np.array([omega]))

    return _iterate("jacobi", sweep, A, b, x0, rtol, atol, maxiter, M, callback, omega)


def sor(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0,
        maxiter: int | None = None, M=None, callback=None,
        omega: float = 1.0) -> tuple[np.ndarray, int]:
    """Successive over-relaxation (forward sweeps; ``omega = 1`` is Gauss-Seidel)."""
    def sweep(A, x, b):
        amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, x, b, 0, A.shape[0], 1, omega)

    return _iterate("sor", sweep, A, b, x0, rtol, atol, maxiter, M, callback, omega)


def ssor(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0,
         maxiter: int | None = None, M=None, callback=None,
         omega: float = 1.0) -> tuple[np.ndarray, int]:
    """Symmetric SOR: a forward then a backward sweep per iteration."""
    def sweep(A, x, b):
        n = A.shape[0]
        amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, x, b, 0, n, 1, omega)
        amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, x, b, n - 1, -1, -1, omega)

    return _iterate("ssor", sweep, A, b, x0, rtol, atol, maxiter, M, callback, omega)
