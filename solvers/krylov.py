"""Krylov methods with scipy's calling convention and a stop on the true residual.

``cg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None)``
returns ``(x, info)``: ``info = 0`` converged, ``info > 0`` the iterations done
without converging, ``info < 0`` a breakdown (:data:`NEGATIVE_CURVATURE`: ``p.Ap <= 0``,
so ``A`` is not symmetric positive definite; :data:`INDEFINITE_PRECONDITIONER`:
``r.z <= 0``, so ``M`` is not). The recurrence residual decides when to look; the
stop is decided on ``||b - A x||`` computed in float64, and a drifted recurrence is
restarted from it. Written here rather than wrapping scipy's ``cg`` because scipy
stops on the recurrence residual and reports neither breakdown nor its kind.
"""

import numpy as np
from scipy.sparse.linalg import aslinearoperator

__all__ = ["cg", "NEGATIVE_CURVATURE", "INDEFINITE_PRECONDITIONER"]

NEGATIVE_CURVATURE = -1
INDEFINITE_PRECONDITIONER = -2


def _vector(name: str, v, n: int) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.shape not in ((n,), (n, 1)):
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    v = v.reshape(n)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite; it has {int((~np.isfinite(v)).sum())} "
                         "non-finite entries")
    return v


def cg(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0, maxiter: int | None = None,
       M=None, callback=None) -> tuple[np.ndarray, int]:
    """Conjugate gradients, preconditioned by ``M`` (an approximation of ``A^-1``) if given.

    Parameters
    ----------
    A, M : anything :func:`scipy.sparse.linalg.aslinearoperator` takes, shape (n, n)
    b, x0 : (n,)
    rtol, atol : float
        Stop when ``||b - A x|| <= max(rtol ||b||, atol)``.
    maxiter : int, optional
        Default ``10 n`` (as scipy).
    callback : callable, optional
        ``callback(xk)`` after every iteration.
    """
    A = aslinearoperator(A)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square, got shape {A.shape}")
    n = A.shape[0]
    b = _vector("b", b, n)
    x = np.zeros(n) if x0 is None else _vector("x0", x0, n).copy()
    if M is not None:
        M = aslinearoperator(M)
        if M.shape != (n, n):
            raise ValueError(f"M must have shape {(n, n)}, got {M.shape}")
    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"rtol and atol must be >= 0, got {rtol!r} and {atol!r}")
    maxiter = 10 * n if maxiter is None else int(maxiter)
    tol = max(rtol * float(np.linalg.norm(b)), atol)
    if np.linalg.norm(b) == 0 and atol == 0:
        return np.zeros(n), 0
    r = b - A.matvec(x) if x0 is not None else b.copy()
    it = 0
    while True:
        if np.linalg.norm(r) <= tol:  # the recurrence says done: decide on the true one
            r = b - A.matvec(x)
            if np.linalg.norm(r) <= tol:
                return x, 0
        if it >= maxiter:
            return x, it
        rho_prev = p = None
        while it < maxiter:
            z = r if M is None else M.matvec(r)
            rho = float(r @ z)
            if rho <= 0:
                return x, INDEFINITE_PRECONDITIONER
            p = z.copy() if p is None else z + (rho / rho_prev) * p
            q = A.matvec(p)
            curvature = float(p @ q)
            if curvature <= 0:
                return x, NEGATIVE_CURVATURE
            alpha = rho / curvature
            x += alpha * p
            r -= alpha * q
            rho_prev = rho
            it += 1
            if callback is not None:
                callback(x)
            if np.linalg.norm(r) <= tol:
                break
