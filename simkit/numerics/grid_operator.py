"""One type for cell-centred grid operators: :class:`GridOperator`.

On a grid of cells ``grid_shape`` (2D or 3D), one unknown per ``FLUID`` cell::

    (A x)_i = sum over the faces f of cell i of  w_f (x_i - x_j(f))  +  c_i x_i

* ``weights[d]`` (shape ``grid_shape + e_d``) holds the face weights ``w_f >= 0``
  along axis ``d``: face ``k`` separates cells ``k - e_d`` and ``k`` (face ``0`` and
  face ``grid_shape[d]`` lie on the walls). For a finite-volume Laplacian a weight is
  face area / centre distance times the face conductivity, in the units of ``A``
  (the fluid's pressure system uses 1 for an open face, 0 for a closed one).
* ``x_j = 0`` when the neighbour ``j`` is outside the grid or not an unknown: a face
  with ``w_f > 0`` there is a Dirichlet condition (value 0), ``w_f = 0`` a Neumann wall.
* ``shift`` ``c_i >= 0`` (shape ``grid_shape``) is added to the diagonal: a Dirichlet
  condition folded into the row, or the ``c I`` of an implicit time step.
* ``cell_types`` (shape ``grid_shape``, int8): ``FLUID`` cells are the unknowns;
  ``DIRICHLET`` cells are non-unknowns at value 0 that positive faces may touch;
  ``SOLID`` cells are non-unknowns behind closed faces (every face between a ``SOLID``
  and a ``FLUID`` cell has ``w_f = 0``). The matrix only needs the ``FLUID`` mask;
  geometric multigrid (:class:`simkit.numerics.mgpcg.MGPCG`) also coarsens the other
  two types.

The same operator has three other forms, and the type converts between all of them:
a scipy ``LinearOperator`` over the unknowns (``matvec`` in numpy or in a Taichi
kernel), a CSR matrix (:meth:`GridOperator.tocsr`), and the ``linear_systems`` stencil
form (:meth:`GridOperator.to_stencil` / :meth:`GridOperator.from_stencil`, see
:mod:`simkit.io.linear_systems`). Vectors over the unknowns hold them in C order of
their cells (the order of :func:`simkit.io.linear_systems.stencil_to_csr`), so the
matrix-free operator, its CSR matrix and every preconditioner act on the same vectors.

Nothing here imports Taichi at import time; the Taichi ``matvec`` needs a runtime
set up by :func:`simkit.init` (a ``RuntimeError`` naming it otherwise).
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from simkit.io.linear_systems import stencil_to_csr
from simkit.runtime import per_program_cache

__all__ = ["SOLID", "FLUID", "DIRICHLET", "GridOperator", "poisson_offsets", "require_runtime"]

SOLID, FLUID, DIRICHLET = 0, 1, 2
_BACKENDS = ("numpy", "taichi")


def require_runtime(who: str) -> None:
    """Raise unless :func:`simkit.init` has set up a Taichi runtime in this process.

    Parameters
    ----------
    who : str
        What needs Taichi, for the message.

    Raises
    ------
    RuntimeError
        No runtime: the message says to call ``simkit.init`` (nothing here picks an
        arch on the caller's behalf, so no live simulation is ever reset from here).
    """
    from simkit.runtime import current_runtime

    if current_runtime() is None:
        raise RuntimeError(f"{who} runs Taichi kernels and needs a Taichi runtime: call "
                           "simkit.init(arch, precision) first, e.g. simkit.init('cpu', 'f64')")


def poisson_offsets(dim: int) -> np.ndarray:
    """Stencil offsets of a 5-point (2D) / 7-point (3D) operator.

    Parameters
    ----------
    dim : int
        2 or 3.

    Returns
    -------
    ndarray of int64, shape ``(2 dim + 1, dim)``
        The centre, then ``-e_d, +e_d`` for each axis ``d``.
    """
    out = [np.zeros(dim, dtype=np.int64)]
    for d in range(dim):
        for s in (-1, 1):
            e = np.zeros(dim, dtype=np.int64)
            e[d] = s
            out.append(e)
    return np.array(out)


def _along(dim: int, d: int, sl: slice) -> tuple[slice, ...]:
    """``sl`` along axis ``d``, everything along the others."""
    return tuple(sl if k == d else slice(None) for k in range(dim))


def _face_shape(shape: tuple[int, ...], d: int) -> tuple[int, ...]:
    return tuple(s + (k == d) for k, s in enumerate(shape))


class GridOperator(LinearOperator):
    """A cell-centred 5-point (2D) / 7-point (3D) operator with face weights, a mask of
    unknowns and a diagonal shift (the formula is in :mod:`simkit.numerics.grid_operator`).

    Parameters
    ----------
    weights : sequence of ``dim`` arrays
        ``weights[d]`` of shape ``grid_shape + e_d``: face weights ``>= 0`` along axis
        ``d`` (units of ``A``). ``dim`` (2 or 3) and ``grid_shape`` come from them.
    mask : bool array, shape ``grid_shape``, optional
        Cells that are unknowns (default: all). Non-unknowns that a positive face joins
        to an unknown become ``DIRICHLET``, the others ``SOLID``
        (:meth:`from_cell_types` keeps types given explicitly).
    shift : array, shape ``grid_shape``, optional
        Diagonal shift ``c_i >= 0`` (default 0); kept on the unknowns only.
    backend : {"numpy", "taichi"}
        Where :meth:`matvec` runs; ``"taichi"`` needs :func:`simkit.init` first.

    Attributes
    ----------
    grid_shape : tuple of int
    dim : int
    shape : (n, n)
        ``n`` the number of unknowns (``FLUID`` cells).
    weights : list of float64 arrays, ``weights[d]`` of shape ``grid_shape + e_d``
    mask : bool array, shape ``grid_shape``
    shift : float64 array, shape ``grid_shape`` (zero off the mask)
    cell_types : int8 array, shape ``grid_shape`` (``SOLID``, ``FLUID``, ``DIRICHLET``)
    cells : int64 array, shape ``(n,)``
        Flat C-order grid index of each unknown.
    diag : float64 array, shape ``grid_shape``
        The diagonal of ``A`` on the grid (zero off the mask).
    singular : bool
        No unknown has a Dirichlet face or a positive shift (pure Neumann): constants
        are in the null space, and a solve needs a right-hand side of zero mean.

    Shapes
    ------
    With ``G = grid_shape`` (``(nx, ny)`` or ``(nx, ny, nz)``) and ``n`` unknowns:
    ``weights[d]``: ``G + e_d``; ``mask``, ``shift``, ``cell_types``, ``diag``, the
    arguments and results of :meth:`apply_grid` / :meth:`to_grid`: ``G``; ``matvec``
    vectors, :meth:`diagonal`, ``cells``: ``(n,)``; :meth:`tocsr`: ``(n, n)``;
    :meth:`to_stencil`: ``(2 dim + 1, *G)``.

    Raises
    ------
    ValueError
        A weight array of the wrong shape, a negative or non-finite weight or shift,
        a mask of the wrong shape, or an unknown backend.
    RuntimeError
        ``backend="taichi"`` without a runtime (:func:`simkit.init`).

    Examples
    --------
    >>> import numpy as np
    >>> w = [np.ones((5, 4)), np.ones((4, 5))]        # 4 x 4 cells, Dirichlet walls
    >>> A = GridOperator(w)
    >>> A.shape, A.tocsr().diagonal()[:2].tolist()
    ((16, 16), [4.0, 4.0])
    """

    def __init__(self, weights, mask=None, shift=None, *, backend: str = "numpy") -> None:
        weights = [np.asarray(w, dtype=np.float64) for w in weights]
        dim = len(weights)
        if dim not in (2, 3):
            raise ValueError(f"weights must hold 2 or 3 face arrays, got {dim}")
        if weights[0].ndim != dim or weights[0].shape[0] < 2:
            raise ValueError(f"weights[0] must have {dim} axes, the first of at least 2 "
                             f"faces, got shape {weights[0].shape}")
        shape = tuple(s - 1 if d == 0 else s for d, s in enumerate(weights[0].shape))
        for d, w in enumerate(weights):
            if w.shape != _face_shape(shape, d):
                raise ValueError(f"weights[{d}] must have shape {_face_shape(shape, d)}, "
                                 f"got {w.shape}")
            if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
                raise ValueError(f"weights[{d}] must be finite and >= 0")
        mask = np.ones(shape, bool) if mask is None else np.asarray(mask) != 0
        if mask.shape != shape:
            raise ValueError(f"mask must have shape {shape}, got {mask.shape}")
        shift = np.zeros(shape) if shift is None else np.asarray(shift, dtype=np.float64)
        if shift.shape != shape or not (np.all(np.isfinite(shift)) and np.all(shift >= 0)):
            raise ValueError(f"shift must be a finite array >= 0 of shape {shape}, got "
                             f"shape {shift.shape}")
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {list(_BACKENDS)}, got {backend!r}")
        if backend == "taichi":
            require_runtime("GridOperator(backend='taichi')")
        self.grid_shape, self.dim, self.backend = shape, dim, backend
        self.weights, self.mask, self.shift = weights, mask, shift * mask
        self.full = bool(mask.all())
        self.cells = np.flatnonzero(mask)
        n = len(self.cells)
        super().__init__(np.float64, (n, n))
        # the diagonal on the grid; face weights kept only between two unknowns
        self.diag = self.shift.copy()
        self._coupling = []
        touched = np.zeros(shape, bool)  # non-unknowns that a positive face joins
        dirichlet = np.zeros(shape, bool)  # cells with a positive face to no unknown
        for d, w in enumerate(weights):
            first, rest = _along(dim, d, slice(0, -1)), _along(dim, d, slice(1, None))
            self.diag += w[first] + w[rest]  # the faces below and above each cell
            inside = _along(dim, d, slice(1, -1))
            inner = np.zeros_like(w)
            inner[inside] = w[inside] * (mask[first] & mask[rest])
            self._coupling.append(inner)
            open_face = w[inside] > 0  # face k between cells k - e_d and k
            touched[first] |= open_face & mask[rest]
            touched[rest] |= open_face & mask[first]
            lo_gone = np.ones(shape, bool)  # the neighbour below is a wall or no unknown
            lo_gone[rest] = ~mask[first]
            hi_gone = np.ones(shape, bool)  # the neighbour above
            hi_gone[first] = ~mask[rest]
            dirichlet |= ((w[first] > 0) & lo_gone) | ((w[rest] > 0) & hi_gone)
        self.diag *= mask
        self.singular = not bool(np.any(mask & (dirichlet | (self.shift > 0))))
        self.cell_types = np.where(mask, FLUID, np.where(touched, DIRICHLET, SOLID)) \
            .astype(np.int8)

    # ---- constructors -----------------------------------------------------------------

    @classmethod
    def from_cell_types(cls, cell_types, weights, shift=None, *,
                        backend: str = "numpy") -> "GridOperator":
        """The operator of the MGPCG form: cell types, face weights, shift.

        Parameters
        ----------
        cell_types : int array, shape ``grid_shape``
            ``SOLID`` (0), ``FLUID`` (1) or ``DIRICHLET`` (2) per cell; kept as given.
        weights : sequence of ``dim`` arrays, ``weights[d]`` of shape ``grid_shape + e_d``
        shift : array, shape ``grid_shape``, optional
        backend : {"numpy", "taichi"}

        Raises
        ------
        ValueError
            A cell type outside {0, 1, 2}, ``cell_types`` of another shape than the
            cells of ``weights``, or a positive face between a ``FLUID`` and a
            ``SOLID`` cell (faces towards solids are closed), besides the checks of
            the constructor.
        """
        cell_types = np.asarray(cell_types)
        cells = tuple(s - (d == 0) for d, s in enumerate(np.shape(weights[0]))) \
            if len(weights) else ()
        if cell_types.shape != cells:
            raise ValueError(f"cell_types must have shape {cells} (the cells of weights[0]), "
                             f"got {cell_types.shape}")
        bad = ~np.isin(cell_types, (SOLID, FLUID, DIRICHLET))
        if bad.any():
            i = tuple(int(v) for v in np.argwhere(bad)[0])
            raise ValueError(f"cell_types must hold SOLID (0), FLUID (1) or DIRICHLET (2), "
                             f"got {cell_types[i].item()!r} at {i}")
        op = cls(weights, cell_types == FLUID, shift, backend=backend)
        wrong = (op.cell_types == DIRICHLET) & (cell_types == SOLID)
        if wrong.any():
            i = tuple(int(v) for v in np.argwhere(wrong)[0])
            raise ValueError(f"cell_types: SOLID cell {i} has an open face (weight > 0) "
                             "towards a FLUID cell; close the face or make the cell DIRICHLET")
        op.cell_types = cell_types.astype(np.int8)
        return op

    @classmethod
    def from_stencil(cls, stencil, offsets, mask=None, *,
                     backend: str = "numpy") -> "GridOperator":
        """From the ``linear_systems`` stencil form of a symmetric 5/7-point operator.

        Interior faces between two unknowns get minus the neighbour coefficient;
        whatever the diagonal holds beyond them becomes the shift (so a Dirichlet face
        comes back as a shift: the same matrix, another representation).

        Parameters
        ----------
        stencil : array, shape ``(2 dim + 1, *grid_shape)``
            ``stencil[o][i]``: coefficient of ``x[i + offsets[o]]`` in row ``i``.
        offsets : int array, shape ``(2 dim + 1, dim)``
            The centre and the ``2 dim`` neighbours, in any order.
        mask : array, shape ``grid_shape``, optional
            Nonzero on unknowns (default: all).
        backend : {"numpy", "taichi"}

        Raises
        ------
        ValueError
            Offsets other than the centre and its neighbours, a non-symmetric stencil,
            a positive off-diagonal, or a diagonal below the sum of its off-diagonals.
        """
        stencil = np.asarray(stencil, dtype=np.float64)
        offsets = np.asarray(offsets, dtype=np.int64)
        shape = stencil.shape[1:]
        dim = len(shape)
        mask = np.ones(shape, bool) if mask is None else np.asarray(mask) != 0
        index = {tuple(int(v) for v in o): k for k, o in enumerate(offsets)}
        want = {tuple(int(v) for v in o) for o in poisson_offsets(dim)}
        if len(offsets) != 2 * dim + 1 or set(index) != want:
            raise ValueError(f"offsets must be the centre and the {2 * dim} neighbours of a "
                             f"{dim}D grid, got {offsets.tolist()}")
        centre = stencil[index[(0,) * dim]]
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
            w = np.zeros(_face_shape(shape, d))
            w[_along(dim, d, slice(1, -1))] = np.maximum(up[first], 0.0) * both
            weights.append(w)
            offdiag += w[first] + w[rest]
        shift = np.where(mask, centre - offdiag, 0.0)
        if np.any(shift < -1e-10 * scale):
            raise ValueError("stencil diagonal must be >= the sum of |off-diagonals| "
                             "(diagonally dominant)")
        return cls(weights, mask, np.maximum(shift, 0.0), backend=backend)

    # ---- vectors ----------------------------------------------------------------------

    def to_grid(self, x: np.ndarray) -> np.ndarray:
        """Unknowns ``(n,)`` -> grid ``grid_shape`` (zero off the mask)."""
        if self.full:
            return np.asarray(x, dtype=np.float64).reshape(self.grid_shape)
        g = np.zeros(self.grid_shape)
        g[self.mask] = np.ravel(x)
        return g

    def from_grid(self, g: np.ndarray) -> np.ndarray:
        """Grid ``grid_shape`` -> unknowns ``(n,)``."""
        return g.reshape(-1) if self.full else g[self.mask]

    # ---- the operator -----------------------------------------------------------------

    def apply_grid(self, X: np.ndarray, *, backend: str | None = None) -> np.ndarray:
        """``A X`` on the grid: ``X`` and the result have shape ``grid_shape``; values of
        ``X`` off the mask are ignored and the result is zero there.

        ``backend`` overrides the operator's (``"numpy"`` or ``"taichi"``).
        """
        backend = self.backend if backend is None else backend
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {list(_BACKENDS)}, got {backend!r}")
        X = np.ascontiguousarray(X, dtype=np.float64) * self.mask
        if backend == "taichi":
            require_runtime("GridOperator.apply_grid(backend='taichi')")
            y = np.zeros(self.grid_shape)
            _taichi_kernels()[self.dim](X, self.diag, *self._coupling, y)
            return y
        y = self.diag * X
        for d, w in enumerate(self._coupling):
            first, rest = _along(self.dim, d, slice(0, -1)), _along(self.dim, d, slice(1, None))
            wi = w[_along(self.dim, d, slice(1, -1))]
            y[rest] -= wi * X[first]
            y[first] -= wi * X[rest]
        return y

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self.from_grid(self.apply_grid(self.to_grid(x))).reshape(np.shape(x))

    def _adjoint(self) -> "GridOperator":
        return self

    def diagonal(self) -> np.ndarray:
        """The diagonal of ``A``, shape ``(n,)``."""
        return self.from_grid(self.diag).copy()

    def to_stencil(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``linear_systems`` stencil form.

        Returns
        -------
        stencil : float64 array, shape ``(2 dim + 1, *grid_shape)``
            ``stencil[o][i]`` is the coefficient of ``x[i + offsets[o]]`` in row ``i``
            (zero in rows off the mask and towards non-unknowns).
        offsets : int64 array, shape ``(2 dim + 1, dim)``
            :func:`poisson_offsets`.
        mask : int8 array, shape ``grid_shape``
            1 on unknowns.
        """
        offsets = poisson_offsets(self.dim)
        st = np.zeros((len(offsets), *self.grid_shape))
        st[0] = self.diag
        for d, w in enumerate(self._coupling):
            st[1 + 2 * d] = -w[_along(self.dim, d, slice(0, -1))]
            st[2 + 2 * d] = -w[_along(self.dim, d, slice(1, None))]
        return st * self.mask, offsets, self.mask.astype(np.int8)

    def tocsr(self) -> sp.csr_matrix:
        """The same operator as a CSR matrix ``(n, n)`` over the unknowns (sorted
        indices; row ``k`` is the cell ``cells[k]``)."""
        A, _ = stencil_to_csr(*self.to_stencil())
        A.sort_indices()
        return A



_KERNELS = per_program_cache()  # the apply kernels of the current Taichi program


def _taichi_kernels() -> dict:
    """The apply kernels ``{2: apply2, 3: apply3}``, made on first use (importing this
    module must not import Taichi); on ndarrays, so they compile once per dimension,
    not per operator."""
    return _KERNELS.get("apply", _make_apply_kernels)


def _make_apply_kernels() -> dict:
    import taichi as ti

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

    return {2: apply2, 3: apply3}
