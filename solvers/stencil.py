"""Matrix-free 5-point (2D) / 7-point (3D) operators with variable coefficients and masks.

On a grid of cells ``shape``, one unknown per cell of ``mask``::

    (A x)_i = sum over the faces f of cell i of  w_f (x_i - x_j(f))  +  c_i x_i

``w_f >= 0`` is the face weight (``weights[d]`` has shape ``shape + e_d``: face ``k``
along axis ``d`` separates cells ``k - e_d`` and ``k``), ``x_j = 0`` when the
neighbour ``j`` is outside the grid or not an unknown (a face with ``w_f > 0`` there is
a Dirichlet condition, ``w_f = 0`` a Neumann wall), and ``c_i >= 0`` a diagonal shift.
This is the operator of :class:`simkit.simulators.fluid.mgpcg.MGPCG`, so geometric
multigrid (:class:`solvers.multigrid.GeometricMG`) runs on it unchanged.

Vectors hold the unknowns only, in C order of their cells (the order of
:func:`simkit.io.linear_systems.stencil_to_csr`), so the matrix-free operator, its CSR
matrix and every preconditioner act on the same vectors.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from simkit.io.linear_systems import stencil_to_csr
from simkit.runtime import on_reset, taichi_program

__all__ = ["StencilOperator", "ensure_taichi"]


def ensure_taichi() -> None:
    """Initialise Taichi through :func:`simkit.init` unless the caller already did."""
    import simkit

    if simkit.current_runtime() is None:
        simkit.init("auto", "f64")


def _along(dim: int, d: int, sl: slice) -> tuple[slice, ...]:
    """``sl`` along axis ``d``, everything along the others."""
    return tuple(sl if k == d else slice(None) for k in range(dim))


class StencilOperator(LinearOperator):
    """Parameters
    ----------
    weights : list of ``dim`` arrays, ``weights[d]`` of shape ``shape + e_d``
    mask : bool array ``shape``, optional
        Cells that are unknowns (default: all).
    shift : array ``shape``, optional
        ``c_i >= 0`` (default 0).
    backend : {"numpy", "taichi"}
        Where :meth:`matvec` runs.
    """

    def __init__(self, weights, mask=None, shift=None, *, backend: str = "numpy") -> None:
        weights = [np.asarray(w, dtype=np.float64) for w in weights]
        dim = len(weights)
        if dim not in (2, 3):
            raise ValueError(f"weights must hold 2 or 3 face arrays, got {dim}")
        shape = tuple(s - 1 if d == 0 else s for d, s in enumerate(weights[0].shape))
        for d, w in enumerate(weights):
            want = tuple(s + (k == d) for k, s in enumerate(shape))
            if w.shape != want:
                raise ValueError(f"weights[{d}] must have shape {want}, got {w.shape}")
            if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
                raise ValueError(f"weights[{d}] must be finite and >= 0")
        mask = np.ones(shape, bool) if mask is None else np.asarray(mask) != 0
        if mask.shape != shape:
            raise ValueError(f"mask must have shape {shape}, got {mask.shape}")
        shift = np.zeros(shape) if shift is None else np.asarray(shift, dtype=np.float64)
        if shift.shape != shape or not (np.all(np.isfinite(shift)) and np.all(shift >= 0)):
            raise ValueError(f"shift must be a finite array >= 0 of shape {shape}")
        if backend not in ("numpy", "taichi"):
            raise ValueError(f"backend must be 'numpy' or 'taichi', got {backend!r}")
        self.grid_shape, self.dim, self.backend = shape, dim, backend
        self.weights, self.mask, self.shift = weights, mask, shift
        self.full = bool(mask.all())
        n = int(mask.sum())
        super().__init__(np.float64, (n, n))
        # diagonal on the grid, and face weights kept only between two unknowns
        self.diag = shift.copy()
        self.coupling = []
        for d, w in enumerate(weights):
            first, rest = _along(dim, d, slice(0, -1)), _along(dim, d, slice(1, None))
            self.diag += w[first] + w[rest]  # the faces below and above each cell
            inner = np.zeros_like(w)
            inside = _along(dim, d, slice(1, -1))
            inner[inside] = w[inside] * (mask[first] & mask[rest])
            self.coupling.append(inner)
        self.diag *= mask
        if backend == "taichi":
            ensure_taichi()
            self._y = np.zeros(shape)

    # ---- constructors -----------------------------------------------------------------

    @classmethod
    def from_stencil(cls, stencil, offsets, mask=None, **kwargs) -> "StencilOperator":
        """From the ``linear_systems`` stencil form of a symmetric 5/7-point operator with
        non-positive off-diagonals: interior faces get ``-stencil`` of the neighbour
        entry, whatever the diagonal holds beyond them becomes the shift."""
        stencil = np.asarray(stencil, dtype=np.float64)
        offsets = np.asarray(offsets, dtype=np.int64)
        shape = stencil.shape[1:]
        dim = len(shape)
        mask = np.ones(shape, bool) if mask is None else np.asarray(mask) != 0
        index = {tuple(o): k for k, o in enumerate(offsets)}
        if len(offsets) != 2 * dim + 1 or tuple([0] * dim) not in index:
            raise ValueError(f"offsets must be the centre and the {2 * dim} neighbours of a "
                             f"{dim}D grid, got {offsets.tolist()}")
        centre = stencil[index[tuple([0] * dim)]]
        scale = np.abs(centre).max()
        weights, offdiag = [], np.zeros(shape)
        for d in range(dim):
            e = tuple(int(k == d) for k in range(dim))
            up = -stencil[index[e]]  # minus the coefficient of x_{i + e_d} in row i
            down = -stencil[index[tuple(-v for v in e)]]
            first, rest = _along(dim, d, slice(0, -1)), _along(dim, d, slice(1, None))
            both = mask[first] & mask[rest]
            if not np.allclose(up[first] * both, down[rest] * both, atol=1e-12 * scale):
                raise ValueError("stencil must be symmetric: the coefficient of x_{i+e} in "
                                 "row i must equal that of x_i in row i+e")
            if np.any(up[first] * both < -1e-12 * scale):
                raise ValueError("stencil off-diagonals must be <= 0 (face weights >= 0)")
            w = np.zeros(tuple(s + (k == d) for k, s in enumerate(shape)))
            w[_along(dim, d, slice(1, -1))] = np.maximum(up[first], 0.0) * both
            weights.append(w)
            offdiag += w[first] + w[rest]
        shift = np.where(mask, centre - offdiag, 0.0)
        if np.any(shift < -1e-10 * scale):
            raise ValueError("stencil diagonal must be >= the sum of |off-diagonals| "
                             "(diagonally dominant)")
        return cls(weights, mask, np.maximum(shift, 0.0), **kwargs)

    # ---- vectors ----------------------------------------------------------------------

    def to_grid(self, x: np.ndarray) -> np.ndarray:
        """Unknowns ``(n,)`` -> grid ``shape`` (zero off the mask)."""
        if self.full:
            return np.asarray(x, dtype=np.float64).reshape(self.grid_shape)
        g = np.zeros(self.grid_shape)
        g[self.mask] = np.ravel(x)
        return g

    def from_grid(self, g: np.ndarray) -> np.ndarray:
        """Grid ``shape`` -> unknowns ``(n,)``."""
        return g.reshape(-1) if self.full else g[self.mask]

    # ---- the operator -----------------------------------------------------------------

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        X = self.to_grid(x)
        if self.backend == "taichi":
            y = self._y
            taichi_kernels()[self.dim](X, self.diag, *self.coupling, y)
            return self.from_grid(y).copy()
        y = self.diag * X
        for d, w in enumerate(self.coupling):
            first, rest = _along(self.dim, d, slice(0, -1)), _along(self.dim, d, slice(1, None))
            wi = w[_along(self.dim, d, slice(1, -1))]
            y[rest] -= wi * X[first]
            y[first] -= wi * X[rest]
        return self.from_grid(y).reshape(np.shape(x))

    def _adjoint(self) -> "StencilOperator":
        return self

    def diagonal(self) -> np.ndarray:
        return self.from_grid(self.diag).copy()

    def stencil(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``linear_systems`` stencil form ``(stencil (2d+1, *shape), offsets, mask)``."""
        from simkit.simulators.fluid.mgpcg import poisson_offsets

        offsets = poisson_offsets(self.dim)
        st = np.zeros((len(offsets), *self.grid_shape))
        st[0] = self.diag
        for d, w in enumerate(self.coupling):
            st[1 + 2 * d] = -w[_along(self.dim, d, slice(0, -1))]
            st[2 + 2 * d] = -w[_along(self.dim, d, slice(1, None))]
        return st * self.mask, offsets, self.mask.astype(np.int8)

    def tocsr(self) -> sp.csr_matrix:
        """The same operator as a CSR matrix over the unknowns."""
        A, _ = stencil_to_csr(*self.stencil())
        A.sort_indices()
        return A


_KERNELS: dict = {}
on_reset(lambda program_gone: _KERNELS.clear())


def taichi_kernels() -> dict:
    """The apply kernels, made on first use (importing ``solvers`` must not import
    Taichi); on ndarrays, so they compile once per dimension, not per operator."""
    import taichi as ti

    key = id(taichi_program())
    if key in _KERNELS:
        return _KERNELS[key]
    f64 = ti.f64

    @ti.kernel
    def apply2(x: ti.types.ndarray(dtype=f64, ndim=2), diag: ti.types.ndarray(dtype=f64, ndim=2),
               w0: ti.types.ndarray(dtype=f64, ndim=2), w1: ti.types.ndarray(dtype=f64, ndim=2),
               y: ti.types.ndarray(dtype=f64, ndim=2)):
        for i, j in x:
            v = diag[i, j] * x[i, j]
            if i > 0:
                v -= w0[i, j] * x[i - 1, j]
            if i < x.shape[0] - 1:
                v -= w0[i + 1, j] * x[i + 1, j]
            if j > 0:
                v -= w1[i, j] * x[i, j - 1]
            if j < x.shape[1] - 1:
                v -= w1[i, j + 1] * x[i, j + 1]
            y[i, j] = v

    @ti.kernel
    def apply3(x: ti.types.ndarray(dtype=f64, ndim=3), diag: ti.types.ndarray(dtype=f64, ndim=3),
               w0: ti.types.ndarray(dtype=f64, ndim=3), w1: ti.types.ndarray(dtype=f64, ndim=3),
               w2: ti.types.ndarray(dtype=f64, ndim=3), y: ti.types.ndarray(dtype=f64, ndim=3)):
        for i, j, k in x:
            v = diag[i, j, k] * x[i, j, k]
            if i > 0:
                v -= w0[i, j, k] * x[i - 1, j, k]
            if i < x.shape[0] - 1:
                v -= w0[i + 1, j, k] * x[i + 1, j, k]
            if j > 0:
                v -= w1[i, j, k] * x[i, j - 1, k]
            if j < x.shape[1] - 1:
                v -= w1[i, j + 1, k] * x[i, j + 1, k]
            if k > 0:
                v -= w2[i, j, k] * x[i, j, k - 1]
            if k < x.shape[2] - 1:
                v -= w2[i, j, k + 1] * x[i, j, k + 1]
            y[i, j, k] = v

    _KERNELS[key] = {2: apply2, 3: apply3}
    return _KERNELS[key]
