"""GridOperator: every pair of its forms agrees (cell types + weights, CSR, stencil form,
numpy matvec, Taichi matvec, and the MGPCG fields with their own stencil kernel)."""

import numpy as np
import pytest
import scipy.sparse as sp

import simkit
from simkit.io.linear_systems import stencil_to_csr
from simkit.numerics import DIRICHLET, FLUID, SOLID, GridOperator, poisson_offsets
from simkit.numerics.mgpcg import MGPCG


@pytest.fixture(scope="module", autouse=True)
def runtime():
    simkit.init("cpu", "f64")


def face_shape(shape, d):
    return tuple(s + (k == d) for k, s in enumerate(shape))


def random_cell_operator(shape, seed=0):
    """Random cell types, weights in [0.25, 2] (closed towards solids, some open walls and
    some faces towards Dirichlet cells) and a shift on a third of the cells. Weights are
    float32-representable, so the MGPCG fields hold them exactly."""
    rng = np.random.default_rng(seed)
    dim = len(shape)
    ctype = rng.choice([FLUID, FLUID, FLUID, FLUID, SOLID, DIRICHLET], size=shape).astype(np.int8)
    weights = []
    for d in range(dim):
        w = rng.uniform(0.25, 2.0, face_shape(shape, d)).astype(np.float32).astype(np.float64)
        lo = np.concatenate([np.full_like(np.take(ctype, [0], axis=d), DIRICHLET), ctype], d)
        hi = np.concatenate([ctype, np.full_like(np.take(ctype, [0], axis=d), DIRICHLET)], d)
        w[(lo == SOLID) | (hi == SOLID)] = 0.0
        w[rng.random(w.shape) < 0.2] = 0.0  # some closed faces (walls, closed interior)
        weights.append(w)
    shift = np.where(rng.random(shape) < 0.3, rng.uniform(0, 1, shape), 0.0)
    shift = shift.astype(np.float32).astype(np.float64)
    return GridOperator.from_cell_types(ctype, weights, shift)


def reference_matrix(op: GridOperator) -> np.ndarray:
    """The matrix straight from the formula, loop by loop over cells and faces."""
    number = -np.ones(op.grid_shape, int)
    number[op.mask] = np.arange(op.shape[0])
    A = np.zeros(op.shape)
    for i in map(tuple, np.argwhere(op.mask)):
        A[number[i], number[i]] += op.shift[i]
        for d in range(op.dim):
            for side in (0, 1):  # face below (index i_d) and above (i_d + 1)
                f = list(i)
                f[d] += side
                w = op.weights[d][tuple(f)]
                A[number[i], number[i]] += w
                j = list(i)
                j[d] += 1 if side else -1
                if 0 <= j[d] < op.grid_shape[d] and op.mask[tuple(j)]:
                    A[number[i], number[tuple(j)]] -= w
    return A


SHAPES = [(7, 5), (5, 4, 6), (8, 8)]


@pytest.mark.parametrize("shape", SHAPES)
def test_cell_types_and_weights_give_the_formula_as_csr(shape):
    op = random_cell_operator(shape)
    A = op.tocsr()
    assert A.shape == (int((op.cell_types == FLUID).sum()),) * 2
    assert np.array_equal(A.toarray(), reference_matrix(op))
    assert abs(A - A.T).max() == 0
    assert np.array_equal(op.diagonal(), A.diagonal())
    assert np.array_equal(op.cells, np.flatnonzero(op.cell_types == FLUID))


@pytest.mark.parametrize("shape", SHAPES)
def test_stencil_form_round_trips(shape):
    op = random_cell_operator(shape, seed=1)
    st, offsets, mask = op.to_stencil()
    assert st.shape == (2 * len(shape) + 1, *shape)
    assert np.array_equal(offsets, poisson_offsets(len(shape)))
    # stencil -> CSR (the linear_systems converter) is op's CSR, entry for entry
    B, cells = stencil_to_csr(st, offsets, mask)
    assert np.array_equal(cells, op.cells) and abs(B - op.tocsr()).max() == 0
    # stencil -> GridOperator -> stencil: the same matrix; Dirichlet faces come back as
    # a shift, so the representation differs but the stencil does not
    back = GridOperator.from_stencil(st, offsets, mask)
    st2, _, mask2 = back.to_stencil()
    assert np.array_equal(mask2, mask)
    np.testing.assert_allclose(st2, st, rtol=0, atol=1e-14)
    assert back.singular == op.singular
    # offsets in another order (the simulator writes them in its dims' order)
    perm = np.random.default_rng(0).permutation(len(offsets))
    again = GridOperator.from_stencil(st[perm], offsets[perm], mask)
    assert abs(again.tocsr() - op.tocsr()).max() < 1e-14


@pytest.mark.parametrize("shape", SHAPES)
def test_numpy_and_taichi_matvec_equal_the_csr_product(shape):
    op = random_cell_operator(shape, seed=2)
    A = op.tocsr()
    X = np.random.default_rng(3).standard_normal((4, op.shape[0]))
    for x in X:
        np.testing.assert_allclose(op @ x, A @ x, rtol=1e-14, atol=1e-14)
        tai = GridOperator(op.weights, op.mask, op.shift, backend="taichi")
        np.testing.assert_allclose(tai @ x, A @ x, rtol=1e-14, atol=1e-14)
    # on the grid: values off the mask are ignored, the result is zero there
    G = np.random.default_rng(4).standard_normal(shape)
    for backend in ("numpy", "taichi"):
        y = op.apply_grid(G, backend=backend)
        assert np.all(y[~op.mask] == 0)
        np.testing.assert_allclose(op.from_grid(y), A @ op.from_grid(G), rtol=1e-13,
                                   atol=1e-13)
    # a scipy LinearOperator: matmat and the adjoint work as for any other
    np.testing.assert_allclose(op.matmat(X.T), A @ X.T, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(op.H @ X[0], A.T @ X[0], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("shape", [(8, 6), (4, 6, 4)])
def test_mgpcg_fields_hold_the_same_operator(shape):
    op = random_cell_operator(shape, seed=5)
    mg = MGPCG(shape)
    mg.set_operator(op)
    back = mg.operator()
    assert np.array_equal(back.cell_types, op.cell_types)
    for w, v in zip(back.weights, op.weights, strict=True):
        assert np.array_equal(w, v)
    assert np.array_equal(back.shift, op.shift)
    assert mg.singular == op.singular is False
    A, cells = mg.matrix()
    assert np.array_equal(cells, op.cells) and abs(A - op.tocsr()).max() == 0
    # the solver's own float64 stencil kernel (the one CG runs) is the same matvec
    G = np.random.default_rng(6).standard_normal(shape)
    y = mg.apply(G)
    np.testing.assert_allclose(y, op.apply_grid(G), rtol=1e-13, atol=1e-13)


def test_singular_is_pure_neumann_only():
    w = [np.ones((5, 4)), np.ones((4, 5))]
    assert not GridOperator(w).singular  # walls with positive weight: Dirichlet
    closed = [x.copy() for x in w]
    closed[0][[0, -1]] = 0
    closed[1][:, [0, -1]] = 0
    assert GridOperator(closed).singular
    np.testing.assert_allclose(GridOperator(closed) @ np.ones(16), 0, atol=1e-15)
    assert not GridOperator(closed, shift=np.eye(4)).singular
    mask = np.ones((4, 4), bool)
    mask[2, 2] = False  # a hole with open faces: Dirichlet cell
    op = GridOperator(closed, mask)
    assert not op.singular and op.cell_types[2, 2] == DIRICHLET
    mg = MGPCG((4, 4))
    mg.set_operator(GridOperator(closed))
    assert mg.singular


def test_hand_example():
    # 1 x 3 cells, the last not an unknown: faces (x) at 0..3, weights 1, 2, 3, 4
    w = [np.zeros((2, 3)), np.zeros((1, 4))]
    w[1][0] = [1.0, 2.0, 3.0, 4.0]
    op = GridOperator(w, mask=np.array([[True, True, False]]), shift=np.full((1, 3), 0.5))
    # row 0: (1 + 2 + 0.5) x0 - 2 x1; row 1: (2 + 3 + 0.5) x1 - 2 x0 (x2 = 0: Dirichlet)
    assert np.array_equal(op.tocsr().toarray(), [[3.5, -2.0], [-2.0, 5.5]])
    assert op.cell_types.tolist() == [[FLUID, FLUID, DIRICHLET]]
    assert op.shift.tolist() == [[0.5, 0.5, 0.0]]  # kept on the unknowns only


def test_bad_input_is_named():
    good = [np.ones((5, 4)), np.ones((4, 5))]
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(4, 6\)"):
        GridOperator([np.ones((5, 5)), np.ones((4, 5))])
    with pytest.raises(ValueError, match="weights must hold 2 or 3"):
        GridOperator([np.ones(3)])
    with pytest.raises(ValueError, match=r"weights\[0\] must be finite and >= 0"):
        GridOperator([-np.ones((5, 4)), np.ones((4, 5))])
    with pytest.raises(ValueError, match=r"mask must have shape \(4, 4\), got \(4, 5\)"):
        GridOperator(good, np.ones((4, 5)))
    with pytest.raises(ValueError, match="shift must be a finite array >= 0"):
        GridOperator(good, shift=-np.ones((4, 4)))
    with pytest.raises(ValueError, match="backend must be one of"):
        GridOperator(good, backend="cuda")
    with pytest.raises(ValueError, match=r"cell_types must have shape \(4, 4\)"):
        GridOperator.from_cell_types(np.ones((4, 5)), good)
    with pytest.raises(ValueError, match=r"got 7 at \(0, 1\)"):
        GridOperator.from_cell_types(np.array([[1, 7, 1, 1]] * 4), good)
    ctype = np.full((4, 4), FLUID)
    ctype[1, 2] = SOLID  # its faces are open
    with pytest.raises(ValueError, match=r"SOLID cell \(1, 2\) has an open face"):
        GridOperator.from_cell_types(ctype, good)
    st, off, mask = random_cell_operator((4, 4)).to_stencil()
    i, j = next((i, j) for i in range(1, 4) for j in range(4) if mask[i, j] and mask[i - 1, j]
                and st[1, i, j] != 0)
    bad = st.copy()
    bad[1, i, j] -= 0.5  # the coefficient of x[i - 1, j] in row (i, j) only
    with pytest.raises(ValueError, match="stencil must be symmetric"):
        GridOperator.from_stencil(bad, off, mask)
    with pytest.raises(ValueError, match="offsets must be the centre and the 4 neighbours"):
        GridOperator.from_stencil(st, off * 2, mask)
    mg = MGPCG((4, 4))
    with pytest.raises(TypeError, match="op must be a GridOperator, got csr_matrix"):
        mg.set_operator(sp.csr_matrix(np.eye(16)))
    with pytest.raises(ValueError, match=r"op must be on the grid \(4, 4\), got \(4, 5\)"):
        mg.set_operator(GridOperator([np.ones((5, 5)), np.ones((4, 6))]))
