"""MGPCG: agrees with a sparse direct solve, stops on the true residual, and its
iteration count does not grow with the grid (obstacles and mixed boundaries)."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import simkit
from simkit.io.linear_systems import stencil_to_csr
from simkit.numerics import DIRICHLET, FLUID, SOLID, GridOperator
from simkit.numerics.mgpcg import MGPCG


@pytest.fixture(scope="module", autouse=True)
def f32():
    simkit.init("cpu", "f32", seed=0)


def obstacle_problem(shape, *, open_top=True, seed=0):
    """The operator of random ball obstacles, walls, pressure 0 above the top (``y``
    high side) and one interior Dirichlet cell when ``open_top``."""
    rng = np.random.default_rng(seed)
    d = len(shape)
    x = np.meshgrid(*[(np.arange(s) + 0.5) / s for s in shape], indexing="ij", sparse=True)
    ctype = np.full(shape, FLUID, np.int8)
    for _ in range(4):
        c, r = rng.uniform(0.2, 0.8, d), rng.uniform(0.05, 0.15)
        ctype[sum((xi - ci) ** 2 for xi, ci in zip(x, c, strict=False)) < r * r] = SOLID
    if open_top:
        ctype[(slice(None),) * d][tuple(s // 2 for s in shape)] = DIRICHLET
    weights = []
    for k in range(d):
        w = np.zeros(tuple(s + (j == k) for j, s in enumerate(shape)), np.float32)
        lo = [slice(None)] * d
        hi = [slice(None)] * d
        inner = [slice(None)] * d
        lo[k], hi[k], inner[k] = slice(None, -1), slice(1, None), slice(1, -1)
        w[tuple(inner)] = (ctype[tuple(lo)] != SOLID) & (ctype[tuple(hi)] != SOLID)
        if open_top and k == 1:
            top = [slice(None)] * d
            top[k] = -1
            w[tuple(top)] = np.take(ctype, -1, axis=k) != SOLID
        weights.append(w)
    return GridOperator.from_cell_types(ctype, weights)


@pytest.mark.parametrize("shape", [(48, 32), (16, 16, 16)])
@pytest.mark.parametrize("open_top", [True, False])
def test_solution_matches_a_direct_solve(shape, open_top):
    op = obstacle_problem(shape, open_top=open_top)
    ctype = op.cell_types
    mg = MGPCG(shape)
    mg.set_operator(op)
    assert mg.singular is not open_top and op.singular is not open_top
    b = np.random.default_rng(1).standard_normal(shape)
    x, info = mg.solve(b, rtol=1e-8)
    A, cells = mg.matrix()
    assert abs(A - A.T).max() == 0
    rhs = b.ravel()[cells]
    if mg.singular:  # pure Neumann: the solver projects b onto the range
        rhs = rhs - rhs.mean()
    assert info.converged and info.residual <= 1e-8
    # the reported residual is the true one
    true = np.linalg.norm(rhs - A @ x.ravel()[cells]) / np.linalg.norm(rhs)
    assert true == pytest.approx(info.residual, rel=1e-6)
    if not mg.singular:
        ref = spla.spsolve(A.tocsc(), rhs)
        np.testing.assert_allclose(x.ravel()[cells], ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    assert np.all(x[ctype != FLUID] == 0)


def test_stencil_export_assembles_to_the_same_matrix():
    mg = MGPCG((24, 20))
    mg.set_operator(obstacle_problem((24, 20)))
    stencil, offsets, mask = mg.stencil()
    A, cells = stencil_to_csr(stencil, offsets, mask)
    B, cells_b = mg.matrix()
    assert (cells == cells_b).all() and abs(A - B).max() == 0
    # row sums: zero for rows away from Dirichlet neighbours, positive next to them
    assert np.all(A.sum(axis=1) >= -1e-12)


@pytest.mark.parametrize("shapes", [[(64, 64), (128, 128), (256, 256)], [(16,) * 3, (32,) * 3]])
def test_iterations_do_not_grow_with_the_grid(shapes):
    its = []
    for shape in shapes:
        mg = MGPCG(shape)
        mg.set_operator(obstacle_problem(shape))
        b = np.random.default_rng(2).standard_normal(shape)
        _, info = mg.solve(b, rtol=1e-6)
        assert info.converged
        its.append(info.iterations)
    assert max(its) <= 12, its
    assert its[-1] <= its[0] + 2, its


@pytest.mark.slow
@pytest.mark.parametrize("shapes", [[(128, 128), (512, 512), (1024, 1024)],
                                    [(64,) * 3, (128,) * 3]])
def test_iterations_stay_at_most_15_up_to_1024_squared_and_128_cubed(shapes):
    for shape in shapes:
        mg = MGPCG(shape)
        mg.set_operator(obstacle_problem(shape))
        _, info = mg.solve(np.random.default_rng(2).standard_normal(shape), rtol=1e-6)
        assert info.converged and info.iterations <= 15, (shape, info)


def test_bad_input_is_named():
    mg = MGPCG((8, 8))
    with pytest.raises(ValueError, match=r"op must be on the grid \(8, 8\), got \(8, 9\)"):
        mg.set_operator(GridOperator([np.ones((9, 9)), np.ones((8, 10))]))
    with pytest.raises(ValueError, match="b must be a finite array"):
        mg.solve(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="shape must have 2 or 3 axes"):
        MGPCG((8,))
