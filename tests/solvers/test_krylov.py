"""CG: scipy's iteration counts, the true residual, breakdown statuses, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import (
    INDEFINITE_PRECONDITIONER,
    NEGATIVE_CURVATURE,
    bicgstab,
    cg,
    chebyshev,
    gmres,
    minres,
    pcg,
)


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


SPD_METHODS = {"cg": cg, "pcg": pcg, "minres": minres, "chebyshev": chebyshev}


def nonsymmetric(n: int = 4) -> sp.csr_matrix:
    """The 2D Poisson matrix with one coupling made one-sided: A[5, 6] = -1.5."""
    A = poisson2d(n).tolil()
    A[5, 6] = -1.5
    return A.tocsr()


@pytest.mark.parametrize("fmt", ["csr", "coo", "lil", "dense"])
@pytest.mark.parametrize("name", sorted({**SPD_METHODS, "gmres": gmres, "bicgstab": bicgstab}))
def test_a_non_finite_matrix_is_refused_before_the_first_iteration(name, fmt):
    A = poisson2d(4).tolil()
    A[3, 9] = np.nan  # a structural non-zero where there was none: also found
    A = A.toarray() if fmt == "dense" else A.asformat(fmt)
    method = {**SPD_METHODS, "gmres": gmres, "bicgstab": bicgstab}[name]
    calls = []
    with pytest.raises(ValueError, match=r"A must be finite; it holds nan at \(3, 9\)"):
        method(A, np.ones(16), callback=calls.append)
    assert calls == []
    with pytest.raises(ValueError, match=r"M must be finite; it holds inf at \(2, 2\)"):
        method(poisson2d(4), np.ones(16), M=sp.diags(np.r_[1.0, 1.0, np.inf, np.ones(13)]))
    with pytest.raises(ValueError, match="x0 must be finite; it has 2 non-finite entries, "
                                         "the first -inf at index 4"):
        method(poisson2d(4), np.ones(16), x0=np.r_[np.zeros(4), -np.inf, np.zeros(10), np.inf])


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("name", sorted(SPD_METHODS))
def test_spd_methods_refuse_an_explicit_non_symmetric_matrix(name, dense):
    A = nonsymmetric()
    message = (rf"{name}: A must be symmetric; \|A - A\^T\| is 0.5 at \(5, 6\) "
               r"\(A\[5, 6\] = -1.5, A\[6, 5\] = -1\), above 1e-06 max\|A\| = 4e-06")
    with pytest.raises(ValueError, match=message):
        SPD_METHODS[name](A.toarray() if dense else A, np.ones(16))


def test_symmetry_is_up_to_a_relative_tolerance_and_matrix_free_is_not_checked():
    A = poisson2d(4).tolil()
    A[5, 6] *= 1 + 1e-9  # rounding, not asymmetry: accepted
    x, info = cg(A.tocsr(), np.ones(16), rtol=1e-10)
    assert info == 0 and np.linalg.norm(np.ones(16) - A @ x) <= 1e-10 * 4
    A[5, 6] = -1.0 - 1e-5  # above 1e-6 max|A| = 4e-6
    with pytest.raises(ValueError, match=r"\|A - A\^T\| is 1e-05 at \(5, 6\)"):
        cg(A.tocsr(), np.ones(16))
    # a pattern that differs from its transpose (an explicit zero at (6, 5)) is compared
    # entry by entry too: symmetric values pass
    B = sp.csr_matrix((np.r_[2.0, 0.0, 2.0], (np.r_[0, 1, 1], np.r_[0, 0, 1])), shape=(2, 2))
    assert cg(B, np.ones(2))[1] == 0
    # the non-symmetric methods take it; a LinearOperator cannot be looked into
    b = np.ones(16)
    for method in (gmres, bicgstab):
        x, info = method(nonsymmetric(), b, rtol=1e-10)
        assert info == 0 and np.linalg.norm(b - nonsymmetric() @ x) <= 1e-10 * 4
    skew = np.array([[0.0, 1.0], [-1.0, 0.0]])  # p.Ap = 0 for every p
    with pytest.raises(ValueError, match="cg: A must be symmetric"):
        cg(skew, np.ones(2))
    # unchecked behind a LinearOperator: only the breakdown status tells
    assert cg(spla.aslinearoperator(skew), np.ones(2))[1] == NEGATIVE_CURVATURE
