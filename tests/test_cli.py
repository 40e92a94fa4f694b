"""The simkit command line: exit codes and one clear line on failure."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from simkit.cli import main
from simkit.io import open_dataset

RECIPE = {"simulator": "oscillator", "scene": "cloud2d",
          "sampled": {"n_particles": {"randint": [3, 9]}}, "frames": 3, "write_interval": 0.1,
          "splits": {"train": 3, "test": 1}, "seed": 5}


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return path


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simkit: error: ")
    return err[0]


def test_generate_info_validate_stats(tmp_path, recipe_file, capsys):
    out = tmp_path / "ds"
    assert main(["generate", str(recipe_file), "--out", str(out), "--no-progress"]) == 0
    assert "4 trajectories stored, 0 dropped" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"] == {"train": 3, "test": 1} and info["kind"] == "particles"
    assert main(["validate", str(out)]) == 0
    assert "valid (2 shards, 4 trajectories" in capsys.readouterr().out
    before = json.loads((out / "stats.json").read_text())
    (out / "stats.json").unlink()
    assert main(["stats", str(out)]) == 0
    assert json.loads((out / "stats.json").read_text()) == before


def test_unknown_recipe_key_fails_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, "frams": 3}))
    assert main(["generate", str(path), "--out", str(tmp_path / "o")]) == 1
    line = _one_error_line(capsys)
    assert "bad.yaml: unknown key ['frams'] in recipe; valid keys:" in line


def test_validate_names_corrupt_shard(tmp_path, recipe_file, capsys):
    out = tmp_path / "ds"
    main(["generate", str(recipe_file), "--out", str(out), "--no-progress"])
    capsys.readouterr()
    shard = out / "data/train/shard-00000.h5"
    shard.write_bytes(shard.read_bytes()[:1000])
    assert main(["validate", str(out)]) == 1
    err = capsys.readouterr().err
    assert "shard-00000.h5" in err and err.strip().splitlines()[-1].startswith("simkit: error:")
    assert main(["info", str(out)]) == 1
    assert "shard-00000.h5" in _one_error_line(capsys)


def test_workers_and_scheduler_are_exclusive(recipe_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", str(recipe_file), "--out", str(tmp_path / "o"), "--workers", "2",
              "--scheduler", "tcp://127.0.0.1:1"])
    assert exc.value.code == 2


def test_simulators_listed(capsys):
    assert main(["simulators"]) == 0
    out = capsys.readouterr().out
    assert "heat: modes2d, modes3d" in out and "oscillator: cloud2d, cloud3d" in out


def test_misspelled_parameter_fails_before_the_output_folder_exists(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, "fixed": {"omgea": 3.0}}))
    out = tmp_path / "never"
    assert main(["generate", str(path), "--out", str(out), "--no-progress"]) == 1
    line = _one_error_line(capsys)
    assert line == ("simkit: error: " + str(path) + ": oscillator scene 'cloud2d': unknown "
                    "parameters ['omgea'] (did you mean 'omega'?); valid keys: ['box', "
                    "'n_particles', 'omega', 'speed', 'stiff_fraction']")
    assert not out.exists()
    path.write_text(yaml.safe_dump(RECIPE))  # corrected: runs into the same --out
    assert main(["generate", str(path), "--out", str(out), "--no-progress"]) == 0


def test_resume_of_a_complete_dataset_reports_it_and_exits_0(tmp_path, recipe_file, capsys):
    out = tmp_path / "ds"
    assert main(["generate", str(recipe_file), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert main(["generate", str(recipe_file), "--out", str(out), "--resume"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == (f"{out}: already complete (4 trajectories stored, 0 dropped, "
                            "2 shards); nothing written\n")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_missing_gpu_arch_is_one_line_before_the_output_folder(tmp_path, capsys):
    from simkit.runtime import ArchUnavailable, check_arch

    try:
        check_arch("cuda")
    except ArchUnavailable:
        pass
    else:
        pytest.skip("this machine has CUDA")
    path = tmp_path / "kepler.yaml"
    path.write_text(yaml.safe_dump({"simulator": "nbody", "scene": "kepler", "frames": 2,
                                    "write_interval": 0.01, "splits": {"train": 1}, "seed": 0}))
    out = tmp_path / "never"
    assert main(["generate", str(path), "--out", str(out), "--arch", "cuda"]) == 1
    assert _one_error_line(capsys) == (
        "simkit: error: arch='cuda' was requested but Taichi finds no cuda device here; "
        "use arch='auto' to fall back to the CPU")
    assert not out.exists()
    # raised in a Dask worker (a remote scheduler), it crosses to the driver intact
    shipped = copy.deepcopy(ArchUnavailable("vulkan"))
    assert (type(shipped), shipped.arch) == (ArchUnavailable, "vulkan")
    assert str(shipped).startswith("arch='vulkan' was requested but Taichi finds no vulkan")


def test_ctrl_c_with_two_workers_is_one_line_and_resume_completes(tmp_path):
    # 16 one-trajectory shards of about 0.8 s each: seconds of work left after the first
    # shard appears, also when the machine is loaded and this process is slow to notice
    recipe = {"simulator": "heat", "scene": "modes3d", "fixed": {"resolution": 32, "n_modes": 16},
              "frames": 12, "write_interval": 2e-3, "splits": {"train": 16}, "seed": 1,
              "trajectories_per_shard": 1}
    path = tmp_path / "heat.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "simkit.cli", "generate", str(path), "--out", str(out),
           "--workers", "2", "--no-progress"]
    # a terminal's Ctrl-C signals the whole process group: the driver and its workers
    # preexec_fn: the child starts with Ctrl-C at its default, as from a shell. A child
    # inherits an *ignored* SIGINT, and this test process sometimes has one after Taichi
    # tests ran in it (seen: SigIgn 0x1001006 in /proc/self/status while Python's own
    # handler still showed the default), which made the run ignore the signal and finish.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    shards = out / "data" / "train"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(shards.glob("shard-*.h5")):
        time.sleep(0.02)
    assert list(shards.glob("shard-*.h5")), "no shard within 60 s: the run never got going"
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.splitlines() == [
        "simkit: interrupted; `simkit generate ... --resume` completes a dataset"]
    n_done = len(list(shards.glob("shard-*.h5")))
    assert 1 <= n_done < 16 and not (out / "manifest.json").exists()
    assert main(["generate", str(path), "--out", str(out), "--resume", "--no-progress"]) == 0
    assert len(open_dataset(out).ids("train")) == 16
