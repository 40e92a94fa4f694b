"""The problem gallery: the operators are what they claim, and datasets read back."""

import numpy as np
import pytest

from simkit.io import DatasetWriter
from simkit.io.linear_systems import stencil_schema
from simkit.io.schema import Trajectory
from solvers import cg, gallery


@pytest.mark.parametrize("spec", ["poisson:6", "poisson_aniso:6", "obstacles:8", "two_phase:6",
                                  "lognormal:6", "poisson:82d", "obstacles:82d"])
def test_grid_problems_are_symmetric_positive_definite(spec):
    p = gallery.make(spec)
    A = p.matrix().toarray()
    assert np.array_equal(A, A.T)
    assert np.linalg.eigvalsh(A).min() > 1e-8
    x = np.random.default_rng(0).standard_normal(p.n)
    assert np.allclose(p.A @ x, A @ x)


def test_pure_neumann_is_singular_with_a_consistent_right_hand_side():
    p = gallery.make("poisson_neumann:6")
    A = p.matrix()
    assert np.abs(A @ np.ones(p.n)).max() < 1e-12
    assert abs(p.b.sum()) < 1e-10
    x, info = cg(A, p.b, rtol=1e-10)
    assert info == 0


def test_coefficients_have_the_stated_contrast_and_spread():
    tp = gallery.make("two_phase:16", ratio=1000.0)
    inner = np.concatenate([w[1:-1].ravel() for w in tp.A.weights[:1]])
    assert inner.max() / inner[inner > 0].min() == pytest.approx(1000.0, rel=1e-9)
    ln = gallery.make("lognormal:32", sigma=2.0)
    w = ln.A.weights[0][1:-1]
    assert 1.5 < np.log(w).std() < 2.5  # harmonic means of exp(2 g) shrink the spread a little
    an = gallery.make("poisson_aniso:8")
    assert an.A.weights[0][3, 3, 3] == pytest.approx(an.A.weights[1][3, 3, 3] / 16)


def test_obstacle_cells_are_not_unknowns_and_their_faces_are_closed():
    p = gallery.make("obstacles:16")
    solid = ~p.A.mask
    assert 0.02 < solid.mean() < 0.3 and p.n == (~solid).sum()
    w = p.A.weights[0]
    assert np.all(w[1:][solid] == 0) and np.all(w[:-1][solid] == 0)


def test_pressure_systems_read_back_from_a_dataset(tmp_path):
    p = gallery.make("obstacles:82d")
    st, offsets, mask = p.A.to_stencil()
    schema = stencil_schema({"y": 8, "x": 8}, offsets.tolist())
    frames = {"stencil": st[None], "rhs": p.A.to_grid(p.b)[None],
              "solution": np.zeros((1, 8, 8)), "mask": mask[None]}
    with DatasetWriter(tmp_path / "ds", schema, n_frames=1, write_interval=1.0,
                       simulator={"name": "test", "version": "0"}) as w:
        w.add("test", Trajectory("test-000000", frames=frames))
    q = gallery.make(f"pressure:{tmp_path / 'ds'}")
    assert abs(q.matrix() - p.matrix()).max() < 1e-12 and np.allclose(q.b, p.b)
    with pytest.raises(ValueError, match=r"trajectory must be in \[0, 1\)"):
        gallery.pressure_system(tmp_path / "ds", trajectory=3)


def test_pyamg_examples_and_spec_errors():
    p = gallery.make("pyamg:airfoil")
    assert p.n == 260 and abs(p.matrix() - p.matrix().T).max() == 0 and p.grid is None
    with pytest.raises(ValueError, match="unknown pyamg example"):
        gallery.make("pyamg:nope")
    with pytest.raises(ValueError, match="problem spec must be"):
        gallery.make("helmholtz:8")
