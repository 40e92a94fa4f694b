"""Classical preconditioners with a setup/apply split.

Each is built from ``A`` (setup, timed into ``setup_time``), applies ``z = M^-1 r``
with :meth:`Preconditioner.apply`, and hands out a scipy ``LinearOperator`` with
:meth:`Preconditioner.aspreconditioner`, so ``scipy.sparse.linalg.cg(A, b,
M=P.aspreconditioner())`` works unchanged. ``repr`` reports the setup time and the
size of what was built (nnz or operator complexity, levels).

Triangular solves (SSOR, IC) run in pyamg's compiled Gauss-Seidel kernel: one sweep
over a triangular matrix from a zero start is exactly a forward (or backward)
substitution. The IC diagonal is computed by a serial Taichi kernel: Taichi must be
initialised by the caller (:func:`simkit.init`; ``IncompleteCholesky`` raises a
``RuntimeError`` saying so otherwise), and since the loop is serial it runs at CPU speed
under ``simkit.init("cpu", ...)`` and on one GPU thread under a GPU runtime.
"""

import time

import numpy as np
import pyamg
import pyamg.amg_core as amg_core
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from simkit.numerics.grid_operator import require_runtime
from simkit.runtime import per_program_cache
from solvers._system import as_csr

__all__ = ["Preconditioner", "Jacobi", "SSOR", "IncompleteCholesky", "AMG"]


def _positive_diagonal(d: np.ndarray, who: str) -> np.ndarray:
    """``d`` (the diagonal of ``A``), checked finite and positive."""
    if np.any(d <= 0) or not np.all(np.isfinite(d)):
        raise ValueError(f"{who}: the diagonal of A must be positive and finite (A SPD)")
    return d


class Preconditioner:
    """Base class: subclasses set ``shape`` and define ``_setup(A)`` and ``apply(r)``."""

    name = "preconditioner"

    def __init__(self, A) -> None:
        start = time.perf_counter()
        self._setup(A)
        self.setup_time = time.perf_counter() - start

    def _setup(self, A) -> None:
        raise NotImplementedError

    def apply(self, r: np.ndarray) -> np.ndarray:
        """``z = M^-1 r`` for ``r`` of shape ``(n,)``."""
        raise NotImplementedError

    def aspreconditioner(self) -> LinearOperator:
        return LinearOperator(self.shape, matvec=lambda r: self.apply(np.ravel(r)),
                              rmatvec=lambda r: self.apply(np.ravel(r)), dtype=np.float64)

    def _details(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._details()
        return (f"{self.name}(n={self.shape[0]}, setup {self.setup_time:.3g} s"
                f"{', ' + extra if extra else ''})")


class Jacobi(Preconditioner):
    """``M = diag(A)`` (``A`` may be any operator with ``.diagonal()``)."""

    name = "Jacobi"

    def _setup(self, A) -> None:
        d = np.asarray(A.diagonal() if hasattr(A, "diagonal") else as_csr(A, "Jacobi")
                       .diagonal(), dtype=np.float64)
        self.inverse = 1.0 / _positive_diagonal(d, "Jacobi")
        self.shape = (len(d), len(d))

    def apply(self, r):
        return self.inverse * r


class _Factored(Preconditioner):
    """``M^-1 r = scale * upper^-1 (middle * lower^-1 r)`` with triangular CSR factors."""

    def _factors(self, lower: sp.csr_matrix, middle: np.ndarray, upper: sp.csr_matrix,
                 scale: float = 1.0) -> None:
        self.lower, self.middle, self.upper, self.scale = lower, middle, upper, scale
        self.shape = lower.shape

    def apply(self, r):
        n = self.shape[0]
        r = np.ascontiguousarray(r, dtype=np.float64)
        y = np.zeros(n)
        lo, up = self.lower, self.upper
        amg_core.gauss_seidel(lo.indptr, lo.indices, lo.data, y, r, 0, n, 1)
        t = self.middle * y
        z = np.zeros(n)
        amg_core.gauss_seidel(up.indptr, up.indices, up.data, z, t, n - 1, -1, -1)
        return self.scale * z if self.scale != 1.0 else z

    def _details(self) -> str:
        return f"nnz {self.lower.nnz + self.upper.nnz - self.shape[0]}"


class SSOR(_Factored):
    """``M = (D + omega L) D^-1 (D + omega U) / (omega (2 - omega))`` for SPD ``A``.

    ``A`` must be symmetric (``U = L^T``, so ``M`` is SPD and suits CG): a ``ValueError``
    names the worst pair when ``max |A - A^T| > 1e-6 max |A|``
    (:func:`solvers._system.check_symmetric`, O(nnz)).
    """

    name = "SSOR"

    def __init__(self, A, omega: float = 1.0) -> None:
        if not (np.isfinite(omega) and 0 < omega < 2):
            raise ValueError(f"omega must lie in (0, 2), got {omega!r}")
        self.omega = float(omega)
        super().__init__(A)

    def _setup(self, A) -> None:
        A = as_csr(A, "SSOR", symmetric=True)
        d = _positive_diagonal(A.diagonal(), "SSOR")
        D = sp.diags(d)
        w = self.omega
        self._factors((D + w * sp.tril(A, -1)).tocsr(), d, (D + w * sp.triu(A, 1)).tocsr(),
                      w * (2 - w))
        for m in (self.lower, self.upper):
            m.sort_indices()

    def _details(self) -> str:
        return f"omega {self.omega:g}"


_KERNELS = per_program_cache()  # the IC diagonal kernel of the current Taichi program


def _ic_diagonal_kernel():
    """The serial IC diagonal kernel, made on first use (importing ``solvers`` must not
    import Taichi)."""
    return _KERNELS.get("ic_diagonal", _make_ic_diagonal_kernel)


def _make_ic_diagonal_kernel():
    import taichi as ti

    @ti.kernel
    def ic_diagonal(indptr: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    indices: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    data: ti.types.ndarray(dtype=ti.f64, ndim=1),
                    diag: ti.types.ndarray(dtype=ti.f64, ndim=1),
                    upper_sum: ti.types.ndarray(dtype=ti.f64, ndim=1),
                    tau: ti.f64, d: ti.types.ndarray(dtype=ti.f64, ndim=1)) -> ti.i64:
        """``d_i = a_ii - sum_k a_ik (a_ik + tau (U_k - a_ik)) / d_k`` over the strictly
        lower entries ``a_ik`` of row ``i`` (CSR ``indptr, indices, data``), ``U_k`` the
        strictly upper row sum of row ``k``; a pivot below ``1e-3 a_ii`` is reset to
        ``a_ii`` (Bridson's safeguard). Returns how many pivots were reset."""
        reset = ti.i64(0)
        ti.loop_config(serialize=True)
        for i in range(diag.shape[0]):
            e = diag[i]
            for p in range(indptr[i], indptr[i + 1]):
                k = indices[p]
                a = data[p]
                e -= a * (a + tau * (upper_sum[k] - a)) / d[k]
            if e < 1e-3 * diag[i]:
                e = diag[i]
                reset += 1
            d[i] = e
        return reset

    return ic_diagonal


class IncompleteCholesky(_Factored):
    """IC(0) (``tau = 0``) and modified IC(0) (``tau = 1``; 0.97 is Bridson's relaxed
    choice) in the form ``M = (D + L) D^-1 (D + U)`` with ``L``, ``U`` the strict
    triangles of ``A``.

    For 5-point and 7-point grid stencils in natural order this is exactly IC(0) (the
    dropped fill never lands on the pattern) and MIC(0) (the dropped fill is moved to
    the diagonal, so ``M`` and ``A`` have equal row sums). For other sparsity patterns
    it is the diagonal incomplete factorisation (D-ILU), which keeps the off-diagonals
    of ``A``; say so when comparing with a full-pattern IC(0).

    ``A`` must be symmetric: a ``ValueError`` names the worst pair when
    ``max |A - A^T| > 1e-6 max |A|`` (:func:`solvers._system.check_symmetric`, O(nnz)).
    The diagonal is a serial Taichi kernel: without a runtime (:func:`simkit.init`, e.g.
    ``simkit.init("cpu", "f64")``) the constructor raises a ``RuntimeError`` that says so.
    """

    def __init__(self, A, tau: float = 0.0) -> None:
        if not (np.isfinite(tau) and 0 <= tau <= 1):
            raise ValueError(f"tau must lie in [0, 1], got {tau!r}")
        self.tau = float(tau)
        self.name = "IC(0)" if tau == 0 else "MIC(0)"
        super().__init__(A)

    def _setup(self, A) -> None:
        require_runtime("IncompleteCholesky")
        A = as_csr(A, "IncompleteCholesky", symmetric=True)
        diag = _positive_diagonal(A.diagonal(), "IncompleteCholesky")
        strict_lower = sp.tril(A, -1).tocsr()
        strict_upper = sp.triu(A, 1).tocsr()
        strict_lower.sort_indices()
        d = np.zeros(len(diag))
        if strict_lower.nnz >= 2**31:
            raise ValueError("IncompleteCholesky: A has too many entries for 32-bit indices")
        ic_diagonal = _ic_diagonal_kernel()
        self.pivots_reset = int(ic_diagonal(strict_lower.indptr.astype(np.int32),
                                            strict_lower.indices.astype(np.int32),
                                            strict_lower.data, diag,
                                            np.asarray(strict_upper.sum(axis=1)).ravel(),
                                            self.tau, d))
        D = sp.diags(d)
        self._factors((strict_lower + D).tocsr(), d, (strict_upper + D).tocsr())
        for m in (self.lower, self.upper):
            m.sort_indices()

    def is_exact(self) -> bool:
        """Whether this is the full-pattern IC(0)/MIC(0): true when no two neighbours
        ``j < i`` of a row share a lower neighbour ``k < j`` (no triangle in the matrix
        graph, as on 5/7-point grids). Costs about half a setup; not part of it."""
        S = self.lower.copy()
        S.setdiag(0)
        S.eliminate_zeros()
        S.data[:] = 1.0
        return (S @ S.T).multiply(S).nnz == 0

    def _details(self) -> str:
        reset = f", {self.pivots_reset} pivots reset" if self.pivots_reset else ""
        return f"tau {self.tau:g}, {super()._details()}{reset}"


class AMG(Preconditioner):
    """Algebraic multigrid V-cycle from pyamg: ``kind="sa"`` (smoothed aggregation) or
    ``"rs"`` (Ruge-Stuben); ``options`` go to pyamg's solver constructor.

    ``A`` must be symmetric (the V-cycle then is, and suits CG): a ``ValueError`` names
    the worst pair when ``max |A - A^T| > 1e-6 max |A|``
    (:func:`solvers._system.check_symmetric`, O(nnz)), unless
    ``symmetry="nonsymmetric"`` is among the options (smoothed aggregation for a
    non-symmetric ``A``, e.g. to precondition GMRES). ``symmetry`` is an option of
    ``kind="sa"`` only: with ``"rs"`` (pyamg's Ruge-Stuben solver has no such option)
    it raises a ``ValueError``.
    """

    def __init__(self, A, kind: str = "sa", **options) -> None:
        if kind not in ("sa", "rs"):
            raise ValueError(f"kind must be 'sa' or 'rs', got {kind!r}")
        if kind == "rs" and "symmetry" in options:
            raise ValueError("symmetry is an option of kind 'sa' only (pyamg's Ruge-Stuben "
                             "solver has none, and kind 'rs' needs a symmetric A), got "
                             f"symmetry={options['symmetry']!r} with kind 'rs'")
        self.kind, self.options = kind, options
        self.name = f"AMG-{kind.upper()}"
        super().__init__(A)

    def _setup(self, A) -> None:
        A = as_csr(A, "AMG", symmetric=self.options.get("symmetry") != "nonsymmetric")
        build = (pyamg.smoothed_aggregation_solver if self.kind == "sa"
                 else pyamg.ruge_stuben_solver)
        self.hierarchy = build(A, **self.options)
        self._operator = self.hierarchy.aspreconditioner(cycle="V")
        self.shape = A.shape

    def apply(self, r):
        return self._operator.matvec(np.ravel(r))

    def _details(self) -> str:
        h = self.hierarchy
        return (f"{len(h.levels)} levels, operator complexity "
                f"{h.operator_complexity():.2f}")
