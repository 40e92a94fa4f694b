"""The simkit command line: exit codes and one clear line on failure."""

from __future__ import annotations

import json

import pytest
import yaml

from simkit.cli import main

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
