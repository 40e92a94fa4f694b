"""Round trip of every kind: what a writer gets is what a reader returns, bit for bit."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kinds import (
    assert_trajectories_equal,
    grid_case,
    linear_csr_case,
    linear_stencil_case,
    nbody_case,
    particles_case,
)

from simkit.io import DatasetWriter, open_dataset
from simkit.io.linear_systems import decode_csr, stencil_to_csr

SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def _written(schema, trajs, n_frames, per_shard=2, splits=("train", "test")):
    """Write ``trajs`` to a fresh dataset, yield it opened, then delete it."""
    root = Path(tempfile.mkdtemp(prefix="simkit-rt-")) / "ds"
    try:
        with DatasetWriter(root, schema, n_frames=n_frames, write_interval=0.25,
                           simulator={"name": "test", "version": "0"},
                           trajectories_per_shard=per_shard) as w:
            for i, t in enumerate(trajs):
                w.add(splits[i % len(splits)], t)
        yield open_dataset(root)
    finally:
        shutil.rmtree(root.parent)


def _roundtrip(schema, trajs, n_frames, per_shard, splits=("train", "test")):
    with _written(schema, trajs, n_frames, per_shard, splits) as ds:
        for t in trajs:
            assert_trajectories_equal(t, ds.trajectory(t.id))
        assert ds.validate().ok


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), ndim=st.sampled_from([2, 3]),
       n_traj=st.integers(1, 5), n_frames=st.integers(1, 6), res=st.integers(2, 7),
       per_shard=st.integers(1, 3))
def test_grid_roundtrip(seed, ndim, n_traj, n_frames, res, per_shard):
    schema, trajs = grid_case(np.random.default_rng(seed), ndim=ndim, n_traj=n_traj,
                              n_frames=n_frames, res=res)
    _roundtrip(schema, trajs, n_frames, per_shard)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1),
       counts=st.lists(st.integers(1, 300), min_size=1, max_size=6),
       n_frames=st.integers(1, 5), ndim=st.sampled_from([2, 3]), per_shard=st.integers(1, 4))
def test_particles_roundtrip_ragged(seed, counts, n_frames, ndim, per_shard):
    schema, trajs = particles_case(np.random.default_rng(seed), counts=counts,
                                   n_frames=n_frames, ndim=ndim)
    _roundtrip(schema, trajs, n_frames, per_shard)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_traj=st.integers(1, 4), n_frames=st.integers(1, 6),
       bodies=st.integers(2, 20))
def test_nbody_roundtrip_float64(seed, n_traj, n_frames, bodies):
    schema, trajs = nbody_case(np.random.default_rng(seed), n_traj=n_traj, n_frames=n_frames,
                               bodies=bodies)
    _roundtrip(schema, trajs, n_frames, 2)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_traj=st.integers(1, 3), n_frames=st.integers(1, 4),
       n=st.integers(3, 30))
def test_linear_systems_csr_roundtrip(seed, n_traj, n_frames, n):
    schema, trajs = linear_csr_case(np.random.default_rng(seed), n_traj=n_traj,
                                    n_frames=n_frames, n=n)
    with _written(schema, trajs, n_frames) as ds:
        for t in trajs:
            back = ds.trajectory(t.id)
            assert_trajectories_equal(t, back)
            for k in range(n_frames):
                A = decode_csr(back.frames["csr_data"][k], back.frames["csr_indices"][k],
                               back.frames["csr_indptr"][k])
                np.testing.assert_allclose(A @ back.frames["solution"][k], back.frames["rhs"][k],
                                           rtol=1e-12, atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_traj=st.integers(1, 3), n_frames=st.integers(1, 3),
       res=st.integers(2, 9))
def test_linear_systems_stencil_roundtrip(seed, n_traj, n_frames, res):
    schema, trajs = linear_stencil_case(np.random.default_rng(seed), n_traj=n_traj,
                                        n_frames=n_frames, res=res)
    with _written(schema, trajs, n_frames) as ds:
        offsets = np.stack([ds.schema.tables["offset"][d] for d in ds.schema.space_dims], axis=1)
        for t in trajs:
            back = ds.trajectory(t.id)
            assert_trajectories_equal(t, back)
            for k in range(n_frames):
                A, cells = stencil_to_csr(back.frames["stencil"][k], offsets,
                                          back.frames["mask"][k])
                x = back.frames["solution"][k].flat[cells]
                np.testing.assert_allclose(A @ x, back.frames["rhs"][k].flat[cells],
                                           rtol=1e-12, atol=1e-12)
                # the 5-point Laplacian restricted to the mask stays symmetric
                assert (A != A.T).nnz == 0


def test_particles_zero_particle_trajectory_roundtrips():
    """A trajectory with no particles is legal in a CF ragged array and comes back empty."""
    schema, trajs = particles_case(np.random.default_rng(0), counts=[5, 0, 3], n_frames=2)
    _roundtrip(schema, trajs, 2, 3, splits=("train",))


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_writer_refuses_non_finite(tmp_path, bad):
    schema, trajs = grid_case(np.random.default_rng(1), ndim=2, n_traj=1, n_frames=2, res=3)
    trajs[0].frames["density"][1, 2, 1] = float(bad)
    with pytest.raises(ValueError, match=r"'density' holds non-finite values, first at index "
                                         r"\(1, 2, 1\)"):
        with DatasetWriter(tmp_path / "ds", schema, n_frames=2, write_interval=1.0,
                           simulator={"name": "t", "version": "0"}) as w:
            w.add("train", trajs[0])
