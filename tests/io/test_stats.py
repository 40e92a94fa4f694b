"""stats.json equals a float64 numpy reference computed over the train split only."""

from __future__ import annotations

import numpy as np
import pytest
from kinds import grid_case, particles_case

from simkit.io import DatasetWriter, open_dataset
from simkit.io.schema import Schema, Variable
from simkit.io.stats import Moments, merge_accumulators, stats_json, trajectory_moments

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
    diff2 = np.diff(dens.astype(np.float64), n=2, axis=1)
    _check(stats["variables"]["density"]["diff2_per_frame"], _reference(diff2.reshape(-1, 1)))
    _check(stats["variables"]["density"]["diff2_per_second2"], _reference(diff2.reshape(-1, 1)),
           scale=1 / DT**2)
    assert stats["variables"]["density"]["diff2_per_frame"]["units"] == "kg/m^3 per frame^2"
    assert stats["variables"]["density"]["diff2_per_second2"]["units"] == "kg/m^3/s^2"

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
    assert not {"diff_per_frame", "diff2_per_frame"} & set(stats["variables"]["conductivity"])
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
        diffs2 = np.concatenate([np.diff(t.frames["velocity"].astype(np.float64), n=2, axis=0)
                                 [:, t.static["particle_type"] == ptype].reshape(-1, 2)
                                 for t in train])
        block = stats["by_particle_type"][str(ptype)]
        _check(block["value"], _reference(vals))
        _check(block["diff_per_second"], _reference(diffs), scale=1 / DT)
        _check(block["diff2_per_frame"], _reference(diffs2))
        _check(block["diff2_per_second2"], _reference(diffs2), scale=1 / DT**2)
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


def _positions_schema() -> Schema:
    return Schema(kind="particles",
                  variables=(Variable("position", ("particle", "component"), "m",
                                      dtype="float64"),
                             Variable("particle_type", ("particle",), "1", dtype="int32",
                                      static=True)),
                  sizes={"component": 2}, ragged_dim="particle",
                  tables={"material": {"name": ("water", "wall")}})


def test_quadratic_motion_gives_exact_acceleration_per_type():
    # x = x0 + v t + a t^2 / 2 at t = k DT: second difference a DT^2, the same every frame
    n_frames, dt = 9, DT
    accel = {0: np.array([0.0, -9.75]), 1: np.array([1.5, 0.25])}
    types = np.array([0, 1, 0, 0, 1], dtype=np.int32)
    rng = np.random.default_rng(5)
    x0, v = rng.integers(-4, 4, (5, 2)).astype(float), rng.integers(-2, 3, (5, 2)) / 2
    t = np.arange(n_frames)[:, None, None] * dt
    a = np.stack([accel[int(k)] for k in types])
    x = x0 + v * t + a * t**2 / 2  # (frame, particle, component)
    schema = _positions_schema()
    acc = trajectory_moments(schema, {"position": x}, {"particle_type": types})
    out = stats_json(schema, acc, write_interval=dt, split="train", n_trajectories=1)
    pos = out["variables"]["position"]
    for ptype, a_t in accel.items():
        block = pos["by_particle_type"][str(ptype)]
        n_type = int((types == ptype).sum())
        assert block["diff2_per_second2"]["count"] == (n_frames - 2) * n_type
        np.testing.assert_allclose(block["diff2_per_second2"]["mean"], a_t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(block["diff2_per_frame"]["mean"], a_t * dt**2, rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(block["diff2_per_second2"]["std"], 0.0, atol=1e-12)
        np.testing.assert_allclose(block["diff2_per_second2"]["min"], a_t, rtol=1e-12, atol=1e-12)
    # overall: the particle-weighted mean of the two accelerations, spread between them
    mean_all = (3 * accel[0] + 2 * accel[1]) / 5
    std_all = np.sqrt(3 * 2) / 5 * np.abs(accel[0] - accel[1])
    np.testing.assert_allclose(pos["diff2_per_second2"]["mean"], mean_all, rtol=1e-12)
    np.testing.assert_allclose(pos["diff2_per_second2"]["std"], std_all, rtol=1e-12)
    assert pos["diff2_per_second2"]["units"] == "m/s^2"
    assert pos["diff2_per_frame"]["units"] == "m per frame^2"


def _summaries(out: dict) -> dict:
    return {(name, t, key): entry[key]
            for name, var in out["variables"].items()
            for t, entry in [(None, var), *var.get("by_particle_type", {}).items()]
            for key in ("value", "diff_per_frame", "diff2_per_frame", "diff2_per_second2")
            if key in entry}


def test_merging_halves_equals_one_pass_with_a_type_missing_from_some():
    schema, trajs = particles_case(np.random.default_rng(8), counts=[20, 7, 31, 12, 9, 16],
                                   n_frames=6)
    for t in trajs[:3]:  # type 2 only in the second half
        t.static["particle_type"][t.static["particle_type"] == 2] = 1
    whole, first, second = {}, {}, {}
    for i, t in enumerate(trajs):
        trajectory_moments(schema, t.frames, t.static, whole)
        trajectory_moments(schema, t.frames, t.static, first if i < 3 else second)
    merged = merge_accumulators(first, second)
    kw = {"write_interval": DT, "split": "train", "n_trajectories": len(trajs)}
    a, b = _summaries(stats_json(schema, whole, **kw)), _summaries(stats_json(schema, merged, **kw))
    assert a.keys() == b.keys() and ("velocity", "2", "diff2_per_frame") in a
    for key in a:
        for field_ in ("mean", "std", "rms", "min", "max"):
            np.testing.assert_allclose(b[key][field_], a[key][field_], rtol=1e-12, atol=1e-14,
                                       err_msg=str(key))
        assert b[key]["count"] == a[key]["count"]
    # type 2: the numpy reference over the trajectories that have it
    d2 = np.concatenate([np.diff(t.frames["velocity"].astype(np.float64), n=2, axis=0)
                         [:, t.static["particle_type"] == 2].reshape(-1, 2) for t in trajs[3:]])
    _check(a[("velocity", "2", "diff2_per_frame")], _reference(d2))
