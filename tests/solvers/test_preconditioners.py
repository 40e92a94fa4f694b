"""Preconditioners: exact factors, scipy interoperability, multigrid convergence rates."""

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import AMG, SSOR, GeometricMG, IncompleteCholesky, Jacobi, cg, gallery


def count(solver, *args, **kwargs):
    its = []
    x, info = solver(*args, callback=lambda xk: its.append(1), **kwargs)
    return x, info, len(its)


def dense_ic0(A: np.ndarray) -> np.ndarray:
    """Textbook IC(0): Cholesky with every update outside the pattern of A dropped."""
    n = len(A)
    L = np.tril(A).astype(float)
    pattern = A != 0
    for k in range(n):
        L[k, k] = np.sqrt(L[k, k])
        L[k + 1:, k] /= L[k, k]
        for j in range(k + 1, n):
            for i in range(j, n):
                if pattern[i, j]:
                    L[i, j] -= L[i, k] * L[j, k]
    return L


def assembled(P, n: int) -> np.ndarray:
    """The matrix of ``M^-1`` column by column."""
    return np.column_stack([P.apply(e) for e in np.eye(n)])


@pytest.mark.parametrize("spec", ["poisson:72d", "lognormal:52d", "obstacles:6"])
def test_ic0_equals_textbook_ic0_on_grid_stencils(spec):
    A = gallery.make(spec).matrix()
    L = dense_ic0(A.toarray())
    ours = np.linalg.inv(assembled(IncompleteCholesky(A), A.shape[0]))
    assert np.allclose(ours, L @ L.T, rtol=1e-10, atol=1e-10)


def test_mic0_preserves_row_sums():
    A = gallery.make("two_phase:82d", ratio=100.0).matrix()
    P = IncompleteCholesky(A, tau=1.0)
    assert P.pivots_reset == 0
    M = np.linalg.inv(assembled(P, A.shape[0]))
    assert np.allclose(M @ np.ones(A.shape[0]), A @ np.ones(A.shape[0]), rtol=1e-9, atol=1e-9)
    ic0 = np.linalg.inv(assembled(IncompleteCholesky(A), A.shape[0]))
    assert not np.allclose(ic0 @ np.ones(A.shape[0]), A @ np.ones(A.shape[0]), atol=1e-3)


def test_ssor_is_the_textbook_formula():
    A = gallery.make("lognormal:62d").matrix().toarray()
    w = 1.4
    D, L = np.diag(np.diag(A)), np.tril(A, -1)
    M = (D + w * L) @ np.linalg.inv(D) @ (D + w * L.T) / (w * (2 - w))
    assert np.allclose(np.linalg.inv(assembled(SSOR(A, w), len(A))), M, rtol=1e-10)


@pytest.fixture(scope="module")
def obstacle_problem():
    return gallery.make("obstacles:322d")


def make_preconditioner(name, p):
    A = p.matrix()
    return {"jacobi": lambda: Jacobi(A), "ssor": lambda: SSOR(A, 1.5),
            "ic0": lambda: IncompleteCholesky(A), "mic0": lambda: IncompleteCholesky(A, 0.97),
            "amg_sa": lambda: AMG(A, "sa"), "amg_rs": lambda: AMG(A, "rs"),
            "gmg": lambda: GeometricMG(p.A)}[name]()


@pytest.mark.parametrize("name", ["jacobi", "ssor", "ic0", "mic0", "amg_sa", "amg_rs", "gmg"])
def test_each_linear_operator_works_unchanged_in_scipy_cg(obstacle_problem, name):
    p = obstacle_problem
    A = p.matrix()
    P = make_preconditioner(name, p)
    M = P.aspreconditioner()
    x, info, theirs = count(spla.cg, A, p.b, rtol=1e-8, M=M)
    assert info == 0 and np.linalg.norm(p.b - A @ x) <= 1e-6 * np.linalg.norm(p.b)
    x, info, ours = count(cg, A, p.b, rtol=1e-8, M=M)
    assert info == 0 and abs(ours - theirs) <= 1
    _, _, plain = count(cg, A, p.b, rtol=1e-8)
    assert ours < plain
    assert f"setup {P.setup_time:.3g} s" in repr(P)


@pytest.mark.parametrize("name", ["jacobi", "ssor", "ic0", "amg_rs", "gmg"])
def test_setup_time_is_the_time_spent_in_setup(monkeypatch, fake_clock, name):
    """Under a fake clock the real setup takes no time, and a ``_setup`` that spends
    0.375 s (once, as ``clock.now`` shows) gives ``setup_time == 0.375`` exactly: a
    wrong clock, a timing around the wrong call, or a setup run twice would not."""
    import solvers.preconditioners as preconditioners

    monkeypatch.setattr(preconditioners, "time", SimpleNamespace(perf_counter=fake_clock))
    p = gallery.make("poisson:82d")
    P = make_preconditioner(name, p)  # untouched: the real setup, at no clock time
    assert P.setup_time == 0.0
    setup = type(P)._setup

    def spending_setup(self, A):
        setup(self, A)
        fake_clock.advance(0.375)

    monkeypatch.setattr(type(P), "_setup", spending_setup)
    P = make_preconditioner(name, p)
    assert P.setup_time == 0.375 and fake_clock.now == 1000.375
    assert "setup 0.375 s" in repr(P)


def residual_history(A, b, M, rtol=1e-10):
    hist = [1.0]
    cg(A, b, rtol=rtol, M=M,
       callback=lambda xk: hist.append(np.linalg.norm(b - A @ xk) / np.linalg.norm(b)))
    return np.array(hist)


@pytest.mark.parametrize("spec", [
    "poisson:322d", "poisson:642d", "poisson:1282d", "obstacles:1282d", "two_phase:1282d",
    "poisson:16", pytest.param("poisson:2562d", marks=pytest.mark.slow),
    pytest.param("poisson:32", marks=pytest.mark.slow),
    pytest.param("obstacles:64", marks=pytest.mark.slow)])
def test_gmg_pcg_gains_10x_every_two_iterations(spec):
    p = gallery.make(spec)
    hist = residual_history(p.A, p.b, GeometricMG(p.A).aspreconditioner(), rtol=1e-8)
    assert hist[-1] <= 1e-8
    assert np.all(hist[2:] <= 0.1 * hist[:-2]), hist


def test_multigrid_iterations_do_not_grow_with_size():
    its = {"gmg": [], "amg": []}
    for n in (32, 64, 128):
        p = gallery.make(f"poisson:{n}2d")
        its["gmg"].append(count(cg, p.A, p.b, rtol=1e-8,
                                M=GeometricMG(p.A).aspreconditioner())[2])
        its["amg"].append(count(cg, p.matrix(), p.b, rtol=1e-8,
                                M=AMG(p.matrix()).aspreconditioner())[2])
    for name, seq in its.items():  # 16x more unknowns, at most 2 more iterations
        assert max(seq) <= seq[0] + 2, (name, seq)


def test_two_geometric_mgs_of_one_grid_keep_their_own_operators(monkeypatch):
    import solvers.multigrid as multigrid
    from simkit.numerics.mgpcg import MGPCG

    a, b = gallery.make("poisson:322d"), gallery.make("two_phase:322d")
    r = np.random.default_rng(0).standard_normal(a.n)
    alone = {}
    first = GeometricMG(a.A)  # each on its own, then dropped
    alone["a"], kept = first.apply(r), first.mg
    del first  # its hierarchy goes back to the pool, and the next of this grid takes it
    assert kept in multigrid._FREE_HIERARCHIES.get(((32, 32), "f32", 2), list)
    second = GeometricMG(b.A)
    assert second.mg is kept
    alone["b"] = second.apply(r)
    del second
    assert not np.allclose(alone["a"], alone["b"])
    Pa, Pb = GeometricMG(a.A), GeometricMG(b.A)
    assert Pa.mg is not Pb.mg
    builds = []
    monkeypatch.setattr(MGPCG, "build", lambda self: builds.append(self))
    # interleaved, each gives what it gives alone, and nothing is rebuilt in between
    for _ in range(2):
        assert np.array_equal(Pa.apply(r), alone["a"])
        assert np.array_equal(Pb.apply(r), alone["b"])
    for P, p in ((Pa, a), (Pb, b)):  # also inside a solve
        _, info, its = count(cg, p.A, p.b, rtol=1e-8, M=P.aspreconditioner())
        assert info == 0 and its <= 12
    assert builds == []


def test_taichi_preconditioners_need_the_callers_runtime():
    """In a fresh process: importing solvers prints and initialises nothing, and what
    needs Taichi says to call simkit.init instead of picking an arch itself."""
    script = textwrap.dedent("""
        import sys
        import solvers, simkit
        from solvers import GeometricMG, IncompleteCholesky, StencilOperator, gallery
        print(simkit.current_runtime() is None, "taichi" in sys.modules,
              "torch" in sys.modules)
        p = gallery.make("poisson:82d")
        for make in (lambda: GeometricMG(p.A), lambda: IncompleteCholesky(p.matrix()),
                     lambda: StencilOperator(p.A.weights, backend="taichi")):
            try:
                make()
            except RuntimeError as err:
                print("simkit.init(" in str(err))
        print(simkit.current_runtime() is None)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2], timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n") == ["True False False", "True", "True", "True", "True", ""]
    assert out.stderr == ""


def test_bad_input():
    A = gallery.make("poisson:82d").matrix()
    with pytest.raises(ValueError, match="GeometricMG needs a StencilOperator"):
        GeometricMG(A)
    with pytest.raises(ValueError, match="diagonal of A must be positive"):
        IncompleteCholesky(-A)
    with pytest.raises(ValueError, match="kind must be 'sa' or 'rs'"):
        AMG(A, "ml")
    with pytest.raises(ValueError, match=r"tau must lie in \[0, 1\]"):
        IncompleteCholesky(A, tau=2.0)
    with pytest.raises(ValueError, match="A must be square"):
        SSOR(sp.csr_matrix(np.ones((2, 3))))


def test_incomplete_cholesky_says_when_it_is_the_full_pattern_ic0():
    assert IncompleteCholesky(gallery.make("obstacles:8").matrix()).is_exact()
    bar = gallery.make("pyamg:bar").matrix()  # elasticity: the matrix graph has triangles
    assert not IncompleteCholesky(bar).is_exact()


def convection_diffusion(n: int = 8, peclet: float = 0.4) -> sp.csr_matrix:
    t = sp.diags([-1.0 - peclet, 2.0, -1.0 + peclet], [-1, 0, 1], shape=(n, n))
    return (sp.kron(sp.eye(n), t) + sp.kron(t, sp.eye(n))).tocsr()


@pytest.mark.parametrize(("who", "make"), [
    ("IncompleteCholesky", lambda A: IncompleteCholesky(A)),
    ("IncompleteCholesky", lambda A: IncompleteCholesky(A.toarray(), tau=1.0)),
    ("SSOR", lambda A: SSOR(A, 1.5)), ("SSOR", lambda A: SSOR(A.toarray())),
    ("AMG", lambda A: AMG(A, "sa")), ("AMG", lambda A: AMG(A, "rs"))])
def test_spd_preconditioners_refuse_a_non_symmetric_matrix(who, make):
    A = convection_diffusion()  # A[i, i+1] = -0.6, A[i+1, i] = -1.4
    with pytest.raises(ValueError, match=rf"{who}: A must be symmetric; \|A - A\^T\| is "
                                         r"0.8 at \(\d+, \d+\)"):
        make(A)
    B = gallery.make("poisson:82d").matrix().tolil()
    B[9, 10] = np.nan
    with pytest.raises(ValueError, match=rf"{who}: A must be finite; it holds nan at "
                                         r"\(9, 10\)"):
        make(B.tocsr())


def test_amg_takes_a_non_symmetric_matrix_when_told_and_then_preconditions_gmres():
    from solvers import gmres

    A = convection_diffusion(24)
    b = np.ones(A.shape[0])
    P = AMG(A, "sa", symmetry="nonsymmetric")
    _, info, plain = count(gmres, A, b, rtol=1e-8)
    x, info, its = count(gmres, A, b, rtol=1e-8, M=P.aspreconditioner())
    assert info == 0 and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
    assert its < plain / 3, (its, plain)


@pytest.mark.parametrize("symmetry", ["nonsymmetric", "symmetric"])
def test_amg_refuses_the_symmetry_option_for_ruge_stuben(symmetry):
    A = convection_diffusion(24) if symmetry == "nonsymmetric" else \
        gallery.make("poisson:82d").matrix()
    with pytest.raises(ValueError, match=rf"symmetry is an option of kind 'sa' only .*got "
                                         rf"symmetry='{symmetry}' with kind 'rs'"):
        AMG(A, "rs", symmetry=symmetry)
