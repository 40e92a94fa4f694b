"""stats.json equals a float64 numpy reference computed over the train split only."""

from __future__ import annotations

import numpy as np
import pytest
from kinds import grid_case, particles_case

from simkit.io import DatasetWriter, open_dataset
from simkit.io.stats import Moments

DT = 0.25


def _write(tmp_path, schema, trajs):
    with DatasetWriter(tmp_path / "ds", schema, n_frames=4, write_interval=DT,
                       simulator={"name": "t", "version": "0"}, trajectories_per_shard=2) as w:
        for i, t in enumerate(trajs):
            w.add("train" if i < len(trajs) - 2 else "test", t)
    return open_dataset(tmp_path / "ds")


def _reference(values: np.ndarray) -> dict[str, np.ndarray]:
    v = values.astype(np.float64)
    return {"mean": v.mean(0), "std": v.std(0), "rms": np.sqrt((v**2).mean(0)),
            "min": v.min(0), "max": v.max(0)}


def _check(block, ref, scale=1.0):
    for key in ("mean", "std", "rms", "min", "max"):
        np.testing.assert_allclose(block[key], ref[key] * scale, rtol=1e-10, atol=1e-12,
                                   err_msg=key)


def test_grid_stats_match_numpy_train_only(tmp_path):
    schema, trajs = grid_case(np.random.default_rng(11), ndim=2, n_traj=7, n_frames=4, res=5)
    # make test trajectories wildly different: a leak would show at once
    for t in trajs[-2:]:
        t.frames["density"] += 1e6
    ds = _write(tmp_path, schema, trajs)
    stats = ds.stats
    train = trajs[:-2]
    assert stats["n_trajectories"] == len(train) and stats["split"] == "train"

    dens = np.stack([t.frames["density"] for t in train])  # (traj, time, y, x)
    _check(stats["variables"]["density"]["value"], _reference(dens.reshape(-1, 1)))
    diff = np.diff(dens.astype(np.float64), axis=1)
    _check(stats["variables"]["density"]["diff_per_frame"], _reference(diff.reshape(-1, 1)))
    _check(stats["variables"]["density"]["diff_per_second"], _reference(diff.reshape(-1, 1)),
           scale=1 / DT)
    assert stats["variables"]["density"]["diff_per_second"]["units"] == "kg/m^3/s"

    vel = np.stack([t.frames["velocity"] for t in train])  # (traj, time, comp, y, x)
    rows = np.moveaxis(vel, 2, -1).reshape(-1, 2)
    _check(stats["variables"]["velocity"]["value"], _reference(rows))
    assert stats["variables"]["velocity"]["components"] == ["velocity[0]", "velocity[1]"]

    stress = np.stack([t.frames["stress"] for t in train])  # (traj, time, r, c, y, x)
    rows = np.moveaxis(stress, (2, 3), (-2, -1)).reshape(-1, 4)
    _check(stats["variables"]["stress"]["value"], _reference(rows))
    assert stats["variables"]["stress"]["components"][1] == "stress[0,1]"

    cond = np.stack([t.static["conductivity"] for t in train]).reshape(-1, 1)
    _check(stats["variables"]["conductivity"]["value"], _reference(cond))
    assert "diff_per_frame" not in stats["variables"]["conductivity"]
    assert "obstacle" not in stats["variables"]  # integer codes get no statistics


def test_particle_stats_per_type(tmp_path):
    schema, trajs = particles_case(np.random.default_rng(2), counts=[30, 5, 50, 8, 9], n_frames=4)
    ds = _write(tmp_path, schema, trajs)
    stats = ds.stats["variables"]["velocity"]
    train = trajs[:-2]
    for ptype in (0, 1, 2):
        vals = np.concatenate([t.frames["velocity"][:, t.static["particle_type"] == ptype]
                               .reshape(-1, 2) for t in train])
        diffs = np.concatenate([np.diff(t.frames["velocity"].astype(np.float64), axis=0)
                                [:, t.static["particle_type"] == ptype].reshape(-1, 2)
                                for t in train])
        block = stats["by_particle_type"][str(ptype)]
        _check(block["value"], _reference(vals))
        _check(block["diff_per_second"], _reference(diffs), scale=1 / DT)
    allv = np.concatenate([t.frames["velocity"].reshape(-1, 2) for t in train])
    _check(stats["value"], _reference(allv))


@pytest.mark.parametrize("splits", [[1], [2, 3], [1, 1, 1, 5], [7, 1, 13]])
def test_chan_merge_equals_one_pass(splits):
    rng = np.random.default_rng(len(splits))
    x = rng.normal(1e4, 1e-2, size=(sum(splits), 3))  # large mean, tiny spread
    m = Moments.empty(3)
    for part in np.split(x, np.cumsum(splits)[:-1]):
        m.update(part)
    np.testing.assert_allclose(m.mean, x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(np.sqrt(m.m2 / m.n), x.std(0), rtol=1e-9)
