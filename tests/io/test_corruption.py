"""A damaged dataset fails loudly and names the file; nothing is zero-filled."""

from __future__ import annotations

import json

import numpy as np
import pytest
from kinds import grid_case

from simkit.errors import DatasetError
from simkit.io import DatasetWriter, open_dataset


@pytest.fixture
def root(tmp_path):
    schema, trajs = grid_case(np.random.default_rng(5), ndim=2, n_traj=4, n_frames=4, res=16)
    with DatasetWriter(tmp_path / "ds", schema, n_frames=4, write_interval=1.0,
                       simulator={"name": "t", "version": "0"}, trajectories_per_shard=2) as w:
        for t in trajs:
            w.add("train", t)
    return tmp_path / "ds"


def _flip_bit_in_data(path):
    """Flip one bit inside the largest dataset's stored chunks (not the header)."""
    import h5py

    with h5py.File(path, "r") as f:
        dset = f["stress"]
        offset = dset.id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 100] ^= 0x10
    path.write_bytes(bytes(raw))


def test_truncated_shard_named_by_open_and_validate(root):
    shard = root / "data/train/shard-00001.h5"
    shard.write_bytes(shard.read_bytes()[:-5000])
    with pytest.raises(DatasetError, match="shard-00001.h5.*truncated"):
        open_dataset(root)
    report = open_dataset(root, verify="none").validate()
    assert not report.ok and any("shard-00001.h5" in p for p in report.problems)


def test_bit_flip_named_by_checksum_and_by_chunk_read(root):
    shard = root / "data/train/shard-00000.h5"
    _flip_bit_in_data(shard)
    with pytest.raises(DatasetError, match="shard-00000.h5: sha256 differs"):
        open_dataset(root)
    # Even without the checksum pass, the Fletcher-32 chunk checksum stops the read.
    ds = open_dataset(root, verify="none")
    with pytest.raises(DatasetError, match="shard-00000.h5"):
        ds.trajectory("g-0").frames["stress"].sum()
    assert not ds.validate().ok


def test_missing_shard_is_an_error_not_zeros(root):
    (root / "data/train/shard-00001.h5").unlink()
    with pytest.raises(DatasetError, match="shard-00001.h5.*missing"):
        open_dataset(root, verify="size")
    ds = open_dataset(root, verify="none")
    with pytest.raises(DatasetError, match="shard-00001.h5"):
        ds.trajectory("g-2")
    assert ds.trajectory("g-0").frames["density"].shape == (4, 16, 17)


def test_manifest_pointing_at_wrong_row_is_detected(root):
    m = json.loads((root / "manifest.json").read_text())
    for rec in m["trajectories"]:
        if rec["id"] == "g-1":
            rec["row"] = 0
    (root / "manifest.json").write_text(json.dumps(m))
    ds = open_dataset(root)
    with pytest.raises(DatasetError, match="not at row 0"):
        ds.trajectory("g-1")
    assert any("g-1" in p for p in ds.validate().problems)


def test_unknown_trajectory_and_split_raise(root):
    ds = open_dataset(root)
    with pytest.raises(KeyError, match="no trajectory 'nope'"):
        ds.trajectory("nope")
    with pytest.raises(ValueError, match=r"unknown split 'valid'; this dataset has \['train'\]"):
        ds.ids("valid")


def test_no_manifest_means_unfinished(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(DatasetError, match="no manifest"):
        open_dataset(tmp_path / "half")


def test_stray_and_temporary_files_reported(root):
    (root / "data/train/.shard-00002.h5.tmp-123").write_bytes(b"partial")
    (root / "data/train/shard-00009.h5").write_bytes(b"stray")
    problems = open_dataset(root).validate().problems
    assert any("left-over temporary file" in p for p in problems)
    assert any("shard-00009.h5: file not listed" in p for p in problems)


def test_non_finite_value_in_stored_data_reported_by_validate(root):
    import h5py

    # rewrite a value in place (checksums updated) to simulate a writer bug
    shard = root / "data/train/shard-00000.h5"
    with h5py.File(shard, "r+") as f:
        f["density"][0, 0, 0, 0] = np.nan
    m = json.loads((root / "manifest.json").read_text())
    from simkit.io.shard import sha256_file

    for s in m["splits"]["train"]["shards"]:
        if s["path"].endswith("shard-00000.h5"):
            s["sha256"], s["bytes"] = sha256_file(shard), shard.stat().st_size
    (root / "manifest.json").write_text(json.dumps(m))
    problems = open_dataset(root).validate().problems
    assert any("'density' holds non-finite values" in p for p in problems)
