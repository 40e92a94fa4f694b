"""solvers.StencilOperator is simkit's GridOperator: numpy, Taichi and CSR agree; the
fluid's systems convert. (The round trips of every form: tests/numerics.)"""

import numpy as np
import pytest

from simkit.numerics import DIRICHLET, FLUID, SOLID, GridOperator
from simkit.numerics.mgpcg import MGPCG
from solvers import StencilOperator


def random_operator(shape, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    dim = len(shape)
    weights = [rng.uniform(0.1, 2.0, tuple(s + (k == d) for k, s in enumerate(shape)))
               for d in range(dim)]
    return StencilOperator(weights, rng.random(shape) > 0.25, rng.uniform(0, 1, shape),
                           **kwargs)


@pytest.mark.parametrize("shape", [(7, 5), (5, 4, 6)])
def test_numpy_taichi_and_csr_agree(shape):
    op = random_operator(shape)
    A = op.tocsr()
    x = np.random.default_rng(1).standard_normal(op.shape[0])
    assert abs(A - A.T).max() == 0
    assert np.allclose(op @ x, A @ x, rtol=1e-13, atol=1e-13)
    assert np.allclose(random_operator(shape, backend="taichi") @ x, A @ x, rtol=1e-13,
                       atol=1e-13)
    assert np.allclose(op.diagonal(), A.diagonal())
    # a Dirichlet face (positive weight towards a non-unknown) is on the diagonal only
    again = StencilOperator.from_stencil(*op.to_stencil())
    assert abs(again.tocsr() - A).max() < 1e-13


def test_it_is_the_one_grid_operator_type():
    assert StencilOperator is GridOperator


def test_operator_definition_on_a_hand_example():
    # 1 x 3 cells, the last not an unknown: faces (x) at 0..3, weights 1, 2, 3, 4
    w = [np.zeros((2, 3)), np.zeros((1, 4))]
    w[1][0] = [1.0, 2.0, 3.0, 4.0]
    op = StencilOperator(w, mask=np.array([[True, True, False]]), shift=np.full((1, 3), 0.5))
    # row 0: (1 + 2 + 0.5) x0 - 2 x1; row 1: (2 + 3 + 0.5) x1 - 2 x0 (x2 = 0: Dirichlet)
    assert np.allclose(op.tocsr().toarray(), [[3.5, -2.0], [-2.0, 5.5]])


def test_the_fluid_pressure_operator_converts_exactly():
    shape = (8, 8)
    ctype = np.full(shape, FLUID, np.int8)
    ctype[3:5, 3:5] = SOLID
    ctype[:, -1] = DIRICHLET  # an open side
    weights = [np.ones((9, 8)), np.ones((8, 9))]
    weights[0][[0, -1], :] = 0.0  # walls
    weights[1][:, 0] = 0.0
    for d, w in enumerate(weights):  # close the faces of the obstacle
        for i in range(3, 5):
            for j in range(3, 5):
                idx = [i, j]
                w[tuple(idx)] = 0.0
                idx[d] += 1
                w[tuple(idx)] = 0.0
    mg = MGPCG(shape)
    mg.set_operator(GridOperator.from_cell_types(ctype, weights))
    A_fluid, _ = mg.matrix()
    op = StencilOperator.from_stencil(*mg.stencil())
    assert abs(op.tocsr() - A_fluid).max() < 1e-12
    assert op.shift.max() > 0  # the Dirichlet side became a diagonal shift


def test_bad_input():
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(4, 6\)"):
        StencilOperator([np.ones((5, 5)), np.ones((4, 5))])
    with pytest.raises(ValueError, match="weights must hold 2 or 3"):
        StencilOperator([np.ones(3)])
    with pytest.raises(ValueError, match=r"weights\[0\] must be finite and >= 0"):
        StencilOperator([-np.ones((5, 4)), np.ones((4, 5))])
    with pytest.raises(ValueError, match="backend must be one of"):
        StencilOperator([np.ones((5, 4)), np.ones((4, 5))], backend="cuda")
    st, off, mask = random_operator((4, 4)).to_stencil()
    i, j = next((i, j) for i in range(1, 4) for j in range(4) if mask[i, j] and mask[i - 1, j])
    st[1, i, j] -= 0.5  # the coefficient of x[i - 1, j] in row (i, j) only
    with pytest.raises(ValueError, match="stencil must be symmetric"):
        StencilOperator.from_stencil(st, off, mask)
