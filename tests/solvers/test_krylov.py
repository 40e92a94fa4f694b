"""CG: scipy's iteration counts, the true residual, breakdown statuses, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import INDEFINITE_PRECONDITIONER, NEGATIVE_CURVATURE, cg


def poisson2d(n: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(sp.eye(n), t) + sp.kron(t, sp.eye(n))).tocsr()


def count(solver, *args, **kwargs):
    its = []
    x, info = solver(*args, callback=lambda xk: its.append(1), **kwargs)
    return x, info, len(its)


@pytest.mark.parametrize("rtol", [1e-5, 1e-8])
@pytest.mark.parametrize("precondition", [False, True])
def test_same_iterations_as_scipy_and_the_true_residual_is_reached(rtol, precondition):
    A = poisson2d(40)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    M = sp.diags(1.0 / A.diagonal()) if precondition else None
    x, info, ours = count(cg, A, b, rtol=rtol, M=M)
    _, ref_info, theirs = count(spla.cg, A, b, rtol=rtol, M=M)
    assert info == 0 and ref_info == 0
    assert abs(ours - theirs) <= 1, (ours, theirs)
    assert np.linalg.norm(b - A @ x) <= rtol * np.linalg.norm(b)


def test_x0_atol_and_maxiter():
    A = poisson2d(20)
    b = np.ones(A.shape[0])
    x_exact = spla.spsolve(A.tocsc(), b)
    x, info = cg(A, b, x0=x_exact, rtol=1e-10)
    assert info == 0 and np.allclose(x, x_exact)
    x, info = cg(A, b, atol=1e-3, rtol=0.0)
    assert info == 0 and np.linalg.norm(b - A @ x) <= 1e-3
    _, info = cg(A, b, rtol=1e-12, maxiter=3)
    assert info == 3


def test_breakdowns_are_named_statuses():
    A = sp.diags([1.0, -1.0, 2.0])
    _, info = cg(A, np.ones(3))
    assert info == NEGATIVE_CURVATURE
    _, info = cg(poisson2d(4), np.ones(16), M=-sp.eye(16))
    assert info == INDEFINITE_PRECONDITIONER


def test_bad_input_is_named():
    A = poisson2d(4)
    with pytest.raises(ValueError, match=r"b must have shape \(16,\)"):
        cg(A, np.ones(15))
    with pytest.raises(ValueError, match="b must be finite; it has 1 non-finite"):
        cg(A, np.r_[np.ones(15), np.nan])
    with pytest.raises(ValueError, match="A must be square"):
        cg(sp.random(4, 5), np.ones(4))
    with pytest.raises(ValueError, match=r"M must have shape \(16, 16\)"):
        cg(A, np.ones(16), M=sp.eye(15))
