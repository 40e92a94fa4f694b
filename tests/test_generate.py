"""simkit generate: exact data, determinism across workers, resume after a kill, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from simkit.errors import DatasetError, RecipeError
from simkit.generate import generate
from simkit.io import compute_stats, open_dataset
from simkit.recipe import Recipe
from simkit.registry import get_simulator, register_simulator
from simkit.simulators.analytic import HeatModes

HEAT = {"simulator": "heat", "scene": "modes2d",
        "fixed": {"resolution": 24, "mean_temperature": 10.0},
        "sampled": {"diffusivity": {"loguniform": [1e-3, 1e-2]}, "n_modes": {"randint": [1, 6]}},
        "frames": 5, "write_interval": 2e-3, "splits": {"train": 5, "test": 2},
        "seed": 42, "trajectories_per_shard": 2}


def _same_data(a, b):
    assert a.splits == b.splits
    for split in a.splits:
        assert a.ids(split) == b.ids(split)
        for tid in a.ids(split):
            ta, tb = a.trajectory(tid), b.trajectory(tid)
            for k in ta.frames:
                np.testing.assert_array_equal(ta.frames[k], tb.frames[k], err_msg=f"{tid} {k}")
            assert ta.params == tb.params and ta.seed == tb.seed


def test_stored_heat_data_solves_the_heat_equation_and_reproduces_from_seed(tmp_path):
    res = generate(Recipe.from_dict(HEAT), tmp_path / "ds", progress=False)
    assert (res.stored, res.dropped, res.shards_written) == (7, 0, 4)
    ds = open_dataset(tmp_path / "ds")
    assert ds.validate().ok
    h = ds.write_interval
    for tid in ds.ids("train"):
        t = ds.trajectory(tid)
        temp = t.frames["temperature"].astype(np.float64)
        hess = t.frames["temperature_hessian"].astype(np.float64)
        dTdt = (temp[2:] - temp[:-2]) / (2 * h)
        lap = hess[1:-1, 0, 0] + hess[1:-1, 1, 1]
        kappa = t.params["diffusivity"]
        scale = np.abs(kappa * lap).max()
        np.testing.assert_allclose(dTdt, kappa * lap, atol=2e-3 * scale)
        # the stored seed and parameters rebuild the same trajectory
        sim = HeatModes.from_scene("modes2d", t.params, seed=t.seed)
        sim.advance(4 * h)
        np.testing.assert_allclose(sim.state()["temperature"], temp[4], rtol=0, atol=1e-6)


def test_oscillator_data_obeys_its_equation_of_motion(tmp_path):
    recipe = {"simulator": "oscillator", "scene": "cloud3d",
              "sampled": {"n_particles": {"randint": [5, 50]}}, "fixed": {"omega": 3.0},
              "frames": 6, "write_interval": 1e-2, "splits": {"train": 3}, "seed": 3,
              "storage": {"compression": "lzf"}}
    generate(Recipe.from_dict(recipe), tmp_path / "p", progress=False)
    ds = open_dataset(tmp_path / "p")
    h = ds.write_interval
    factors = np.asarray(ds.schema.tables["material"]["omega_factor"])
    counts = set()
    for tid in ds.ids("train"):
        t = ds.trajectory(tid)
        v = t.frames["velocity"].astype(np.float64)
        x = t.frames["position"].astype(np.float64)
        w = 3.0 * factors[t.static["particle_type"]][None, :, None]
        acc = (v[2:] - 2 * v[1:-1] + v[:-2]) / h**2  # v'' = -w^2 v
        np.testing.assert_allclose(acc, -(w**2) * v[1:-1], atol=5e-3 * np.abs(w**2 * v).max())
        np.testing.assert_allclose((x[2:] - x[:-2]) / (2 * h), v[1:-1], atol=2e-3)
        counts.add(x.shape[1])
    assert len(counts) == 3  # ragged: particle counts differ


def test_two_dask_workers_write_the_same_dataset_as_one_process(tmp_path):
    r = Recipe.from_dict(HEAT)
    generate(r, tmp_path / "serial", progress=False)
    res = generate(r, tmp_path / "dask", workers=2, progress=False)
    assert res.stored == 7
    a, b = open_dataset(tmp_path / "serial"), open_dataset(tmp_path / "dask")
    _same_data(a, b)
    assert b.validate().ok
    assert a.manifest.trajectories == b.manifest.trajectories
    # statistics merged from the workers equal the ones read back from the shards
    assert a.stats == b.stats == compute_stats(b, "train")


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    recipe = dict(HEAT, scene="modes3d", fixed={"resolution": 24, "n_modes": 16},
                  sampled={"diffusivity": {"uniform": [1e-3, 1e-2]}}, frames=8,
                  splits={"train": 8, "valid": 2}, trajectories_per_shard=1)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "simkit.cli", "generate", str(path), "--out", str(out),
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = out / "data" / "train"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(shards.glob("shard-*.h5"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list(shards.glob("shard-*.h5")))
    assert 3 <= n_done < 8, "the kill must land in mid-generation"
    assert not (out / "manifest.json").exists()
    with pytest.raises(DatasetError, match="no manifest"):
        open_dataset(out)
    # a half-written temporary shard, as a kill during a write leaves it
    (shards / f".shard-00007.h5.tmp-{proc.pid}").write_bytes(b"\x89HDF partial")
    with pytest.raises(FileExistsError, match="pass --resume"):
        generate(path, out, progress=False)

    res = generate(path, out, resume=True, progress=False)
    assert res.shards_reused == n_done and res.shards_written == 10 - n_done
    generate(path, tmp_path / "clean", progress=False)
    resumed, clean = open_dataset(out), open_dataset(tmp_path / "clean")
    _same_data(resumed, clean)
    assert resumed.stats == clean.stats
    assert resumed.validate().ok  # no temporary files left, checksums fine


def test_resume_of_a_finished_dataset_writes_nothing_and_refuses_another_recipe(tmp_path):
    generate(Recipe.from_dict(HEAT), tmp_path / "ds", progress=False)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "ds").rglob("*")}
    res = generate(Recipe.from_dict(HEAT), tmp_path / "ds", resume=True, progress=False)
    assert res.already_complete
    assert (res.stored, res.dropped, res.shards_written, res.shards_reused) == (7, 0, 0, 4)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "ds").rglob("*")} == before
    with pytest.raises(RecipeError, match="different recipe"):
        generate(Recipe.from_dict(dict(HEAT, seed=43)), tmp_path / "ds", resume=True,
                 progress=False)
    with pytest.raises(FileExistsError, match="holds a complete dataset"):
        generate(Recipe.from_dict(HEAT), tmp_path / "ds", progress=False)
    (tmp_path / "ds" / "manifest.json").unlink()
    with pytest.raises(RecipeError, match="different recipe"):
        generate(Recipe.from_dict(dict(HEAT, seed=43)), tmp_path / "ds", resume=True,
                 progress=False)


@register_simulator("flaky_heat", scenes={"modes2d": get_simulator("heat").params["modes2d"]},
                    uses_taichi=False)
class FlakyHeat(HeatModes):
    """Heat modes that blow up (NaN at frame 2) for every seed divisible by 3."""

    def __init__(self, ndim, params, seed):
        super().__init__(ndim, params, seed)
        self.seed = seed

    @classmethod
    def from_scene(cls, scene, params, *, seed):
        return cls(2, params, seed)

    def state(self):
        out = super().state()
        if self.seed % 3 == 0 and self.time > 1.5 * 2e-3:
            out["temperature"][3, 4] = np.nan
        return out


def _flaky_recipe(action, attempts):
    return Recipe.from_dict(dict(HEAT, simulator="flaky_heat", splits={"train": 12},
                                 on_failure={"action": action, "max_attempts": attempts}))


def test_diverging_trajectories_are_retried_with_fresh_seeds(tmp_path):
    r = _flaky_recipe("retry", 6)
    bad_first = [i for i in range(12) if r.simulation_seed("train", i, 0) % 3 == 0]
    assert bad_first, "the test needs at least one failing first attempt"
    res = generate(r, tmp_path / "ds", progress=False)
    assert res.stored == 12
    ds = open_dataset(tmp_path / "ds")
    for i in bad_first:
        rec = ds.record(r.trajectory_id("train", i))
        assert rec["status"] == "ok" and rec["attempts"]
        assert "non-finite value at output frame 2 in 'temperature' at index (3, 4)" in \
            rec["attempts"][0]["error"]
        assert rec["seed"] != rec["attempts"][0]["seed"] and rec["seed"] % 3 != 0
    assert ds.validate().ok


def test_diverging_trajectories_are_dropped_and_recorded(tmp_path):
    r = _flaky_recipe("drop", 1)
    bad = {r.trajectory_id("train", i) for i in range(12)
           if r.simulation_seed("train", i, 0) % 3 == 0}
    res = generate(r, tmp_path / "ds", progress=False)
    assert res.dropped == len(bad) and res.stored == 12 - len(bad)
    ds = open_dataset(tmp_path / "ds")
    assert bad.isdisjoint(ds.ids("train"))
    for tid in bad:
        assert ds.record(tid)["status"] == "dropped"
        with pytest.raises(DatasetError, match="was dropped during generation"):
            ds.trajectory(tid)
    assert ds.stats["n_trajectories"] == 12 - len(bad)
    assert ds.validate().ok


def test_provenance_on_every_shard(tmp_path):
    import xarray as xr

    generate(Recipe.from_dict(HEAT), tmp_path / "ds", progress=False)
    ds = open_dataset(tmp_path / "ds")
    for path in ds.shard_paths("train"):
        attrs = xr.open_dataset(path, engine="h5netcdf").attrs
        for key in ("simulator", "simulator_version", "taichi_version", "taichi_arch",
                    "precision", "git_commit", "git_dirty", "config_json", "config_sha256",
                    "master_seed", "write_interval", "units_json", "created"):
            assert key in attrs, key
        assert json.loads(attrs["config_json"]) == ds.manifest.recipe
        x = xr.open_dataset(path, engine="h5netcdf")
        assert {"seed", "dt", "substeps", "param_diffusivity", "param_n_modes"} <= set(x)
        ids = [str(i) for i in x["trajectory"].values]
        for tid, kappa in zip(ids, x["param_diffusivity"].values, strict=True):
            assert ds.record(tid)["params"]["diffusivity"] == kappa


def test_registry_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown simulator 'mpn'; expected one of \["):
        get_simulator("mpn")
    with pytest.raises(ValueError, match="unknown parameters \\['diffusivty'\\]"):
        HeatModes.from_scene("modes2d", {"diffusivty": 1.0}, seed=0)


@register_simulator("walled_heat", scenes={"modes2d": get_simulator("heat").params["modes2d"]},
                    uses_taichi=False)
class WalledHeat(HeatModes):
    """Heat modes whose stored frame differs from the restart state (offset by 100) and
    whose trajectories add their own record entry."""

    @classmethod
    def from_scene(cls, scene, params, *, seed):
        return cls(2, params, seed)

    def frame(self):
        out = super().frame()
        out["temperature"] = out["temperature"] + 100.0
        return out

    def trajectory_record(self):
        return {"boundary": {"walls": {"time_built": self.time}}}


def test_generation_stores_frame_and_the_simulators_record(tmp_path):
    spec = dict(HEAT, splits={"train": 2})
    generate(Recipe.from_dict(dict(spec, simulator="walled_heat")), tmp_path / "w",
             progress=False)
    generate(Recipe.from_dict(spec), tmp_path / "h", progress=False)
    walled, heat = open_dataset(tmp_path / "w"), open_dataset(tmp_path / "h")
    for tid in heat.ids("train"):
        np.testing.assert_allclose(walled.trajectory(tid).frames["temperature"],
                                   heat.trajectory(tid).frames["temperature"] + 100.0,
                                   rtol=1e-6)
        # written after the run: the time of the last frame
        assert walled.record(tid)["boundary"] == {"walls": {"time_built": 4 * 2e-3}}
        assert "boundary" not in heat.record(tid)
