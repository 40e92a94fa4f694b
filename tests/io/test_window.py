"""WindowDataset: index from the manifest, exact windows, lazy per-worker h5py handles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kinds import grid_case, particles_case
from torch.utils.data import DataLoader

from simkit.io import DatasetWriter, WindowDataset, open_dataset

N_FRAMES = 7


@pytest.fixture
def grid_ds(tmp_path):
    schema, trajs = grid_case(np.random.default_rng(9), ndim=2, n_traj=5, n_frames=N_FRAMES, res=6)
    with DatasetWriter(tmp_path / "ds", schema, n_frames=N_FRAMES, write_interval=0.1,
                       simulator={"name": "t", "version": "0"}, trajectories_per_shard=2) as w:
        for i, t in enumerate(trajs):
            w.add("train" if i < 4 else "valid", t)
    return tmp_path / "ds", trajs


@pytest.mark.parametrize(("n_in", "n_out", "stride", "per_traj"),
                         [(1, 1, 1, 6), (2, 3, 1, 3), (1, 1, 2, 3), (3, 4, 5, 1)])
def test_window_count_and_content(grid_ds, n_in, n_out, stride, per_traj):
    root, trajs = grid_ds
    wd = WindowDataset(root, "train", n_in, n_out, stride=stride)
    assert wd.windows_per_trajectory == per_traj
    assert len(wd) == 4 * per_traj
    for i in range(len(wd)):
        item = wd[i]
        t = trajs[i // per_traj]
        s = (i % per_traj) * stride
        assert item["trajectory"] == t.id and item["start"] == s
        assert item["t0"] == pytest.approx(0.1 * s)
        for name in ("density", "velocity", "stress"):
            np.testing.assert_array_equal(item["input"][name], t.frames[name][s : s + n_in])
            np.testing.assert_array_equal(item["target"][name],
                                          t.frames[name][s + n_in : s + n_in + n_out])
        np.testing.assert_array_equal(item["static"]["obstacle"], t.static["obstacle"])
    with pytest.raises(IndexError):
        wd[len(wd)]
    assert wd[-1]["start"] == wd[len(wd) - 1]["start"]


def test_index_from_manifest_alone_and_no_handle_before_workers(grid_ds):
    root, _ = grid_ds
    wd = WindowDataset(root, "train", 2, 1)
    assert wd._readers == {}  # nothing opened at construction
    loader = DataLoader(wd, batch_size=4, num_workers=2, shuffle=False)
    batches = list(loader)
    assert wd._readers == {}  # the parent process never opened a shard
    dens = torch.cat([b["input"]["density"] for b in batches])
    assert dens.shape == (len(wd), 2, 6, 7)
    serial = np.stack([wd[i]["input"]["density"] for i in range(len(wd))])
    np.testing.assert_array_equal(dens.numpy(), serial)


def test_particle_windows(tmp_path):
    schema, trajs = particles_case(np.random.default_rng(4), counts=[12, 40, 3], n_frames=5)
    with DatasetWriter(tmp_path / "p", schema, n_frames=5, write_interval=0.2,
                       simulator={"name": "t", "version": "0"}, trajectories_per_shard=2) as w:
        for t in trajs:
            w.add("train", t)
    wd = WindowDataset(open_dataset(tmp_path / "p"), "train", 2, 2, variables=["position"])
    item = wd[wd.windows_per_trajectory * 1 + 1]  # trajectory 1, start 1
    assert item["input"]["position"].shape == (2, 40, 2)
    np.testing.assert_array_equal(item["target"]["position"], trajs[1].frames["position"][3:5])
    np.testing.assert_array_equal(item["static"]["particle_type"],
                                  trajs[1].static["particle_type"])
    assert set(item["input"]) == {"position"}


def test_bad_arguments_name_themselves(grid_ds):
    root, _ = grid_ds
    with pytest.raises(ValueError, match="n_input must be a positive int"):
        WindowDataset(root, "train", 0, 1)
    with pytest.raises(ValueError, match=r"n_input \+ n_output = 8 exceeds the 7 frames"):
        WindowDataset(root, "train", 4, 4)
    with pytest.raises(ValueError, match="unknown split 'test'"):
        WindowDataset(root, "test", 1, 1)
    with pytest.raises(ValueError, match=r"unknown time-dependent variables \['pressure'\]"):
        WindowDataset(root, "train", 1, 1, variables=["pressure"])
