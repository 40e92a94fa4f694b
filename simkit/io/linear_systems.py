"""Helpers for the ``linear_systems`` kind: schemas, CSR frames, stencil assembly.

Two forms, one system ``A x = b`` per frame:

* **stencil** (matrix-free grids): ``stencil(offset, *space)`` holds the coefficient
  of neighbour ``i + offsets[o]`` in the row of cell ``i``; neighbours outside the
  grid or outside ``mask`` do not exist (their coefficient must be zero). ``rhs`` and
  optional ``solution`` live on the grid; optional ``mask`` (1 = unknown) selects
  the cells that are unknowns.
* **CSR** (any sparse matrix with ``n`` rows): ``csr_data``/``csr_indices`` along the
  ragged ``entry`` dimension (padded per trajectory to its largest nnz; the padding
  lies beyond ``csr_indptr[-1]``), ``csr_indptr(row_ptr)``, ``rhs(row)``,
  optional ``solution(row)``.

A 5/7-point stencil frame converts to and from the one grid-operator type,
:class:`simkit.numerics.grid_operator.GridOperator` (``from_stencil`` / ``to_stencil``;
its ``tocsr`` assembles through :func:`stencil_to_csr` here, so the row order of both is
the C order of the unknown cells).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from simkit.io.schema import Schema, Variable

__all__ = ["csr_schema", "stencil_schema", "encode_csr", "decode_csr", "stencil_to_csr"]


def stencil_schema(space: dict[str, int], offsets: Sequence[Sequence[int]], *,
                   solution: bool = True, mask: bool = True, dtype: str = "float64") -> Schema:
    """Schema of stencil systems on a grid ``space`` (storage order, e.g. ``{"y": 8, "x": 8}``).

    ``offsets[o]`` is the neighbour offset of stencil entry ``o``, one integer per
    space dim in the same order.
    """
    dims = tuple(space)
    offsets = [tuple(int(v) for v in o) for o in offsets]
    if any(len(o) != len(dims) for o in offsets):
        raise ValueError(f"every offset needs {len(dims)} integers (one per {dims}), "
                         f"got {offsets}")
    variables = [Variable("stencil", ("offset", *dims), "1", dtype=dtype,
                          long_name="coefficient of neighbour i + offset in row i"),
                 Variable("rhs", dims, "1", dtype=dtype, long_name="right-hand side b")]
    if solution:
        variables.append(Variable("solution", dims, "1", dtype=dtype, long_name="solution x"))
    if mask:
        variables.append(Variable("mask", dims, "1", dtype="int8", flag_meanings=("not_unknown",
                                                                                  "unknown")))
    return Schema(kind="linear_systems", variables=tuple(variables), sizes=dict(space),
                  space_dims=dims,
                  tables={"offset": {d: tuple(o[i] for o in offsets) for i, d in enumerate(dims)}})


def csr_schema(n_rows: int, *, solution: bool = True, dtype: str = "float64") -> Schema:
    """Schema of CSR systems with ``n_rows`` rows."""
    variables = [Variable("csr_data", ("entry",), "1", dtype=dtype),
                 Variable("csr_indices", ("entry",), "1", dtype="int64"),
                 Variable("csr_indptr", ("row_ptr",), "1", dtype="int64"),
                 Variable("rhs", ("row",), "1", dtype=dtype)]
    if solution:
        variables.append(Variable("solution", ("row",), "1", dtype=dtype))
    return Schema(kind="linear_systems", variables=tuple(variables),
                  sizes={"row": n_rows, "row_ptr": n_rows + 1}, ragged_dim="entry")


def encode_csr(matrices: Sequence[sp.spmatrix]) -> dict[str, np.ndarray]:
    """Frames arrays ``csr_data``, ``csr_indices`` ``(frames, max_nnz)`` and
    ``csr_indptr`` ``(frames, n + 1)`` for one trajectory's matrices."""
    mats = [sp.csr_matrix(m) for m in matrices]
    n = {m.shape for m in mats}
    if len(n) != 1 or next(iter(n))[0] != next(iter(n))[1]:
        raise ValueError(f"matrices must be square and of one shape, got {sorted(n)}")
    nnz = max(max(m.nnz for m in mats), 1)
    data = np.zeros((len(mats), nnz))
    indices = np.zeros((len(mats), nnz), dtype=np.int64)
    indptr = np.stack([m.indptr.astype(np.int64) for m in mats])
    for k, m in enumerate(mats):
        data[k, : m.nnz] = m.data
        indices[k, : m.nnz] = m.indices
    return {"csr_data": data, "csr_indices": indices, "csr_indptr": indptr}


def decode_csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> sp.csr_matrix:
    """The matrix of one frame from its (padded) CSR arrays."""
    nnz = int(indptr[-1])
    n = len(indptr) - 1
    return sp.csr_matrix((data[:nnz], indices[:nnz], indptr), shape=(n, n))


def stencil_to_csr(stencil: np.ndarray, offsets: np.ndarray,
                   mask: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
    """Assemble a stencil frame into a CSR matrix over the unknown cells.

    Parameters
    ----------
    stencil : ndarray, shape (n_offsets, *space)
    offsets : ndarray of int, shape (n_offsets, ndim)
    mask : ndarray, shape space, optional
        Nonzero where a cell is an unknown (default: every cell).

    Returns
    -------
    A : csr_matrix, shape (n_unknowns, n_unknowns)
    cells : ndarray of int, shape (n_unknowns,)
        Flat (C-order) grid index of each unknown.
    """
    space = stencil.shape[1:]
    mask = np.ones(space, dtype=bool) if mask is None else np.asarray(mask) != 0
    number = np.full(space, -1, dtype=np.int64)
    cells = np.flatnonzero(mask)
    number.flat[cells] = np.arange(len(cells))
    rows, cols, vals = [], [], []
    coords = np.array(np.unravel_index(cells, space))  # (ndim, n_unknowns)
    for o, off in enumerate(np.asarray(offsets, dtype=np.int64)):
        nb = coords + off[:, None]
        inside = np.all((nb >= 0) & (nb < np.array(space)[:, None]), axis=0)
        coef = stencil[o].flat[cells]
        col = np.full(len(cells), -1, dtype=np.int64)
        col[inside] = number[tuple(nb[:, inside])]
        dropped = (col < 0) & (coef != 0)
        if dropped.any():
            raise ValueError(f"stencil entry {o} (offset {tuple(off)}) has a nonzero "
                             "coefficient towards a cell outside the grid or mask")
        keep = col >= 0
        rows.append(np.arange(len(cells))[keep])
        cols.append(col[keep])
        vals.append(coef[keep])
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(len(cells), len(cells)))
    A.eliminate_zeros()
    return A, cells
