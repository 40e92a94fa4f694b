"""Krylov methods with scipy's calling convention and a stop on the true residual.

Every method is ``f(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None,
callback=None) -> (x, info)``: ``info = 0`` converged, ``info > 0`` the iterations done
without converging, ``info < 0`` a breakdown (:data:`NEGATIVE_CURVATURE`: ``p.Ap <= 0``,
so ``A`` is not symmetric positive definite; :data:`INDEFINITE_PRECONDITIONER`:
``r.z <= 0``, so ``M`` is not; scipy's own negative codes pass through for the wrapped
methods). Converged always means ``||b - A x|| <= max(rtol ||b||, atol)`` computed in
float64 at exit: a method's internal recurrence only decides when to look, and when it
has drifted the method restarts from the true residual. ``callback(xk)`` runs once per
iteration (one application of ``A``), so counting its calls counts iterations.

``cg``/``pcg`` and ``gmres`` are written here: scipy stops ``cg`` on the recurrence
and names no breakdown, and counts ``gmres`` iterations in restart cycles. ``minres``
and ``bicgstab`` wrap scipy's and verify the true residual. ``chebyshev`` has no
scipy counterpart.

Input is checked before the first iteration: ``b``, ``x0`` and an explicit (dense or
sparse) ``A`` or ``M`` must be finite, and the methods for symmetric ``A`` (``cg``,
``pcg``, ``minres``, ``chebyshev``) refuse an explicit ``A`` with ``max |A - A^T| >
1e-6 max |A|`` (:data:`solvers._system.SYMMETRY_RTOL`; one transpose, O(nnz)). Both are
a ``ValueError`` naming the argument and the first offending entry. A matrix-free ``A``
(a ``LinearOperator``, a callable) cannot be checked: its entries are never formed.
"""

import numpy as np
import scipy.sparse.linalg as spla

from solvers._system import System

__all__ = ["cg", "pcg", "minres", "gmres", "bicgstab", "chebyshev", "NEGATIVE_CURVATURE",
           "INDEFINITE_PRECONDITIONER"]

NEGATIVE_CURVATURE = -1
INDEFINITE_PRECONDITIONER = -2


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b`` of two float64 vectors in this thread (numpy's einsum loop, not BLAS):
    OpenBLAS splits a dot of more than a few thousand entries over threads, and when
    the cores are shared with other processes each such call can wait a scheduler
    tick for its helper threads (measured: 16 ms per CG iteration instead of 0.2 ms on
    30k unknowns), while the dot itself costs a few microseconds."""
    return float(np.einsum("i,i->", a, b))


def _conjugate_gradients(s: System, callback, flexible: bool) -> tuple[np.ndarray, int]:
    x, it = s.x, 0
    if s.bnorm == 0 and s.tol == 0:
        return np.zeros(s.n), 0
    r = s.residual(x)
    while True:
        if np.linalg.norm(r) <= s.tol:  # the recurrence says done: decide on the true one
            r = s.residual(x)
            if np.linalg.norm(r) <= s.tol:
                return x, 0
        if it >= s.maxiter:
            return x, it
        rho_prev = p = r_prev = None
        rr = _dot(r, r)
        while it < s.maxiter:
            z = s.precondition(r)
            rho = rr if s.M is None else _dot(r, z)  # unpreconditioned: r.z = |r|^2
            if rho <= 0:
                return x, INDEFINITE_PRECONDITIONER
            if p is None:
                p = z.copy()
            else:  # Fletcher-Reeves, or Polak-Ribiere for a changing preconditioner
                p *= (rho - _dot(r_prev, z)) / rho_prev if flexible else rho / rho_prev
                p += z
            q = s.A.matvec(p)
            curvature = _dot(p, q)
            if curvature <= 0:
                return x, NEGATIVE_CURVATURE
            alpha = rho / curvature
            x += alpha * p
            if flexible:
                r_prev = r.copy()
            r -= alpha * q
            rr = _dot(r, r)
            rho_prev = rho
            it += 1
            if callback is not None:
                callback(x)
            if rr <= s.tol * s.tol:
                break


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

    Returns
    -------
    x : (n,)
    info : int
        0 converged, > 0 iterations done without converging, :data:`NEGATIVE_CURVATURE`
        or :data:`INDEFINITE_PRECONDITIONER` after a breakdown.

    Raises
    ------
    ValueError
        Shapes that disagree; a NaN or infinity in ``b``, ``x0`` or an explicit ``A`` or
        ``M``; an explicit ``A`` that is not symmetric (``max |A - A^T| > 1e-6 max |A|``;
        wrap it in ``aslinearoperator`` to skip the check). A matrix-free ``A`` is not
        checked.
    """
    return _conjugate_gradients(System(A, b, x0, rtol, atol, maxiter, M, symmetric_for="cg"),
                                callback, False)


def pcg(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0, maxiter: int | None = None,
        M=None, callback=None, flexible: bool = False) -> tuple[np.ndarray, int]:
    """Preconditioned CG; ``flexible=True`` uses the Polak-Ribiere ``beta`` (Notay's
    flexible CG), which stays convergent when ``M`` changes between iterations (a
    learned or inner-iteration preconditioner) or is slightly non-symmetric. ``A`` is
    checked as by :func:`cg` (an explicit ``A`` must be symmetric; ``M`` need not be)."""
    return _conjugate_gradients(System(A, b, x0, rtol, atol, maxiter, M, symmetric_for="pcg"),
                                callback, flexible)


def _verified(method, s: System, callback, relative_only: bool = False,
              **kwargs) -> tuple[np.ndarray, int]:
    """Run a scipy method until the true residual meets ``s.tol``, restarting it from
    its last iterate with a halved inner tolerance when its recurrence stopped early."""
    x, used, inner = s.x, 0, s.tol
    count = [0]

    def counted(xk):
        count[0] += 1
        if callback is not None:
            callback(xk)

    while True:
        if s.converged(x):
            return x, 0
        if used >= s.maxiter:
            return x, used
        count[0] = 0
        tol = ({"rtol": inner / s.bnorm} if relative_only
               else {"rtol": 0.0, "atol": inner})
        x, info = method(s.A, s.b, x0=x, maxiter=s.maxiter - used, M=s.M, callback=counted,
                         **tol, **kwargs)
        used += count[0]
        if info < 0:
            return x, info
        if count[0] == 0:  # no progress possible at this tolerance
            return x, max(used, 1) if not s.converged(x) else 0
        inner *= 0.5


def minres(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0,
           maxiter: int | None = None, M=None, callback=None) -> tuple[np.ndarray, int]:
    """MINRES for symmetric (possibly indefinite) ``A`` with a symmetric positive
    definite ``M`` (scipy's, with the true-residual stop). An explicit ``A`` must be
    symmetric, as for :func:`cg`."""
    s = System(A, b, x0, rtol, atol, maxiter, M, symmetric_for="minres")
    if s.bnorm == 0:
        return np.zeros(s.n), 0
    return _verified(spla.minres, s, callback, relative_only=True)


def bicgstab(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0,
             maxiter: int | None = None, M=None, callback=None) -> tuple[np.ndarray, int]:
    """BiCGSTAB for non-symmetric ``A`` (scipy's, with the true-residual stop; an
    iteration applies ``A`` twice)."""
    return _verified(spla.bicgstab, System(A, b, x0, rtol, atol, maxiter, M), callback)


def gmres(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0,
          maxiter: int | None = None, M=None, callback=None,
          restart: int = 20) -> tuple[np.ndarray, int]:
    """Restarted GMRES(``restart``), right-preconditioned so that its least-squares
    residual is the residual of ``A x = b`` itself; ``maxiter`` counts inner
    iterations (Arnoldi steps), not restart cycles as scipy does."""
    s = System(A, b, x0, rtol, atol, maxiter, M)
    if not (isinstance(restart, int) and restart >= 1):
        raise ValueError(f"restart must be a positive int, got {restart!r}")
    x, it = s.x, 0
    if s.bnorm == 0 and s.tol == 0:
        return np.zeros(s.n), 0
    while True:
        r = s.residual(x)
        beta = float(np.linalg.norm(r))
        if beta <= s.tol:
            return x, 0
        if it >= s.maxiter:
            return x, it
        m = min(restart, s.maxiter - it)
        V = np.zeros((m + 1, s.n))
        Z = np.zeros((m, s.n))
        H = np.zeros((m + 1, m))
        cs, sn = np.zeros(m), np.zeros(m)
        g = np.zeros(m + 1)
        g[0] = beta
        V[0] = r / beta
        k = 0
        while k < m:
            Z[k] = s.precondition(V[k])
            w = s.A.matvec(Z[k])
            for i in range(k + 1):  # modified Gram-Schmidt
                H[i, k] = w @ V[i]
                w -= H[i, k] * V[i]
            H[k + 1, k] = np.linalg.norm(w)
            if H[k + 1, k] > 0:
                V[k + 1] = w / H[k + 1, k]
            for i in range(k):  # the previous Givens rotations
                H[i, k], H[i + 1, k] = (cs[i] * H[i, k] + sn[i] * H[i + 1, k],
                                        -sn[i] * H[i, k] + cs[i] * H[i + 1, k])
            den = np.hypot(H[k, k], H[k + 1, k])
            cs[k], sn[k] = (1.0, 0.0) if den == 0 else (H[k, k] / den, H[k + 1, k] / den)
            H[k, k], H[k + 1, k] = den, 0.0
            g[k + 1], g[k] = -sn[k] * g[k], cs[k] * g[k]
            k += 1
            it += 1
            stop = abs(g[k]) <= s.tol or den == 0
            if callback is not None or stop or k == m:
                y = np.linalg.lstsq(np.triu(H[:k, :k]), g[:k], rcond=None)[0]
                xk = x + y @ Z[:k]
                if callback is not None:
                    callback(xk)
            if stop:
                break
        x = xk


def _lanczos_bounds(s: System, steps: int) -> tuple[float, float]:
    """Extreme Ritz values of ``M^-1 A`` from ``steps`` PCG iterations on ``b``."""
    alphas, betas = [], []
    r = s.b.copy() if s.bnorm > 0 else np.random.default_rng(0).standard_normal(s.n)
    z = s.precondition(r)
    rho = float(r @ z)
    p = z.copy()
    for _ in range(min(steps, s.n)):
        q = s.A.matvec(p)
        pq = float(p @ q)
        if pq <= 0 or rho <= 0:
            break
        alpha = rho / pq
        r = r - alpha * q
        z = s.precondition(r)
        rho_new = float(r @ z)
        alphas.append(alpha)
        betas.append(rho_new / rho)
        if rho_new <= 1e-30 * rho:
            break
        p = z + (rho_new / rho) * p
        rho = rho_new
    k = len(alphas)
    if k == 0:
        raise ValueError("chebyshev: could not estimate the spectrum (A or M is not SPD); "
                         "pass bounds=(lambda_min, lambda_max)")
    diag = [1 / alphas[0]] + [1 / alphas[j] + betas[j - 1] / alphas[j - 1] for j in range(1, k)]
    off = [np.sqrt(betas[j]) / alphas[j] for j in range(k - 1)]
    ev = np.linalg.eigvalsh(np.diag(diag) + np.diag(off, 1) + np.diag(off, -1))
    return float(ev[0]), float(ev[-1])


def chebyshev(A, b, x0=None, *, rtol: float = 1e-5, atol: float = 0.0,
              maxiter: int | None = None, M=None, callback=None,
              bounds: tuple[float, float] | None = None,
              lanczos_steps: int = 20) -> tuple[np.ndarray, int]:
    """Chebyshev iteration for SPD ``A`` and ``M`` (no inner products: suits
    communication-bound machines).

    ``bounds`` encloses the spectrum of ``M^-1 A``; by default it is estimated from
    ``lanczos_steps`` PCG iterations (not counted by ``callback``), the upper Ritz value
    raised by 5% because an eigenvalue above the interval makes the iteration diverge.
    An explicit ``A`` must be symmetric, as for :func:`cg`.
    """
    s = System(A, b, x0, rtol, atol, maxiter, M, symmetric_for="chebyshev")
    if s.bnorm == 0 and s.tol == 0:
        return np.zeros(s.n), 0
    if bounds is None:
        lo, hi = _lanczos_bounds(s, lanczos_steps)
        bounds = (lo, 1.05 * hi)
    lo, hi = (float(v) for v in bounds)
    if not (0 < lo < hi and np.isfinite(hi)):
        raise ValueError(f"bounds must satisfy 0 < lambda_min < lambda_max, got {bounds!r}")
    theta, delta = (hi + lo) / 2, (hi - lo) / 2
    sigma = theta / delta
    x, it = s.x, 0
    r = s.residual(x)
    while True:
        if np.linalg.norm(r) <= s.tol:
            r = s.residual(x)
            if np.linalg.norm(r) <= s.tol:
                return x, 0
        if it >= s.maxiter:
            return x, it
        rho = 1 / sigma
        d = s.precondition(r) / theta
        while it < s.maxiter:
            x += d
            r -= s.A.matvec(d)
            it += 1
            if callback is not None:
                callback(x)
            if np.linalg.norm(r) <= s.tol:
                break
            rho_new = 1 / (2 * sigma - rho)
            d = rho_new * rho * d + (2 * rho_new / delta) * s.precondition(r)
            rho = rho_new
