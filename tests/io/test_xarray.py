"""Every kind opens in xarray with no converter; a split opens with open_mfdataset."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from kinds import grid_case, linear_csr_case, linear_stencil_case, nbody_case, particles_case

from simkit.io import DatasetWriter, open_dataset

CASES = {
    "grid2d": lambda r: grid_case(r, ndim=2, n_traj=5, n_frames=3, res=4),
    "grid3d": lambda r: grid_case(r, ndim=3, n_traj=3, n_frames=2, res=3),
    "particles": lambda r: particles_case(r, counts=[7, 3, 11, 5, 1], n_frames=3),
    "nbody": lambda r: nbody_case(r, n_traj=4, n_frames=3, bodies=5),
    "linear_csr": lambda r: linear_csr_case(r, n_traj=3, n_frames=2, n=6),
    "linear_stencil": lambda r: linear_stencil_case(r, n_traj=3, n_frames=2, res=4),
}


@pytest.fixture(params=sorted(CASES))
def dataset(request, tmp_path):
    schema, trajs = CASES[request.param](np.random.default_rng(3))
    with DatasetWriter(tmp_path / "ds", schema, n_frames=len(next(iter(
            trajs[0].frames.values()))), write_interval=0.5,
            simulator={"name": "t", "version": "0"}, trajectories_per_shard=2) as w:
        for t in trajs:
            w.add("train", t)
    return open_dataset(tmp_path / "ds"), trajs


def test_each_shard_opens_in_xarray_with_units(dataset):
    ds, _ = dataset
    for path in ds.shard_paths("train"):
        x = xr.open_dataset(path, engine="h5netcdf")
        for v in ds.schema.variables:
            assert x[v.name].attrs["units"] == v.units
            assert x[v.name].dtype == np.dtype(v.dtype), (v.name, x[v.name].dtype, v.dtype)
        assert x["time"].attrs["units"] == "s"
        np.testing.assert_allclose(x["time"].values, 0.5 * np.arange(ds.n_frames))
        if ds.schema.ragged_dim:
            count = x[f"{ds.schema.ragged_dim}_count"]
            assert count.attrs["sample_dimension"] == ds.schema.ragged_dim
            assert int(count.sum()) == x.sizes[ds.schema.ragged_dim]
        x.close()


def test_split_opens_with_open_mfdataset_and_matches_numpy(dataset):
    ds, trajs = dataset
    x = ds.split_xarray("train")
    assert list(x["trajectory"].values) == [t.id for t in trajs]
    rd = ds.schema.ragged_dim
    offsets = np.concatenate([[0], np.cumsum(x[f"{rd}_count"].values)]) if rd else None
    for i, t in enumerate(trajs):
        for v in ds.schema.variables:
            arr = x[v.name]
            if ds.schema.is_ragged(v):
                got = arr.isel({rd: slice(offsets[i], offsets[i + 1])}).values
                if not v.static:
                    got = np.swapaxes(got, 0, 1)
            else:
                got = arr.isel(trajectory=i).values
            want = t.static[v.name] if v.static else t.frames[v.name]
            np.testing.assert_array_equal(got, want, err_msg=v.name)
            assert got.dtype == want.dtype, (v.name, got.dtype, want.dtype)
    x.close()


def test_trajectory_xarray_selects_one_trajectory(dataset):
    ds, trajs = dataset
    t = trajs[-1]
    x = ds.trajectory_xarray(t.id)
    name = ds.schema.dynamic[0].name
    got = x[name].values
    if ds.schema.is_ragged(ds.schema.variable(name)):
        got = np.swapaxes(got, 0, 1)
    np.testing.assert_array_equal(got, t.frames[name])
