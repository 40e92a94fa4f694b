"""The ``simkit-train`` console script: exit status 0 after a run, one error line and
status 1 (a refused value) or 2 (a mistyped key) otherwise, the traceback with --debug."""

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

from simkit.io import DatasetWriter
from simkit.io.schema import Schema, Trajectory, Variable
from surrogates.cli import main

N, FRAMES = 8, 6


@pytest.fixture(scope="module")
def drift_dataset(tmp_path_factory):
    """``u`` drifts one cell in x per frame; 4 train, 2 valid, 2 test trajectories."""
    root = tmp_path_factory.mktemp("drift") / "ds"
    coords = tuple(np.arange(N) / N)
    schema = Schema(kind="grid", variables=(Variable("u", ("y", "x"), "1"),),
                    sizes={"y": N, "x": N}, space_dims=("y", "x"),
                    coords={"y": coords, "x": coords}, coord_units={"y": "m", "x": "m"})
    rng = np.random.default_rng(0)
    with DatasetWriter(root, schema, n_frames=FRAMES, write_interval=0.1,
                       simulator={"name": "test", "version": "0"},
                       trajectories_per_shard=4) as writer:
        for i, split in enumerate(["train"] * 4 + ["valid"] * 2 + ["test"] * 2):
            u = rng.standard_normal((N, N))
            frames = np.stack([np.roll(u, k, axis=1) for k in range(FRAMES)])
            writer.add(split, Trajectory(f"{split}-{i}", {"u": frames.astype(np.float32)}, {}))
    return root


def _config(tmp_path: Path, dataset: Path, **data) -> Path:
    config = {"seed_everything": 0,
              "trainer": {"max_epochs": 1, "accelerator": "cpu", "enable_progress_bar": False,
                          "enable_model_summary": False, "logger": False,
                          "default_root_dir": str(tmp_path)},
              "model": {"model": "fno",
                        "model_config": {"n_modes": [2, 2], "hidden_channels": 4,
                                         "n_layers": 1}},
              "data": {"path": str(dataset), "n_input": 2, "rollout_steps": 3,
                       "batch_size": 4, **data}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("simkit-train: error:")]


def test_the_console_script_is_main():
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts["simkit-train"] == "surrogates.cli:main"


def test_fit_then_test_exit_with_status_zero(drift_dataset, tmp_path, capsys):
    config = _config(tmp_path, drift_dataset)
    assert main(["fit", "--config", str(config)]) == 0
    best = sorted((tmp_path / "checkpoints").glob("best-*.ckpt"))
    assert [p.name for p in best] == ["best-epoch=0.ckpt"]
    assert main(["test", "--config", str(config), "--ckpt_path", str(best[0])]) == 0
    out, err = capsys.readouterr()
    assert "SurrogateCLI object" not in out + err and _error_lines(err) == []
    assert "test/rollout_rel_l2" in out  # the test loop ran and reported its metric


def test_a_value_out_of_range_is_one_line_naming_key_range_and_dataset(drift_dataset,
                                                                       tmp_path, capsys):
    config = _config(tmp_path, drift_dataset, rollout_steps=40)
    assert main(["fit", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert _error_lines(err) == [
        "simkit-train: error: rollout_steps must be in [1, 4] (this dataset's trajectories "
        "hold 6 frames, n_input is 2), got 40 (--debug for the traceback)"]
    assert "Traceback" not in err
    with pytest.raises(ValueError, match=r"rollout_steps must be in \[1, 4\]"):
        main(["fit", "--config", str(config), "--debug"])


def test_an_error_inside_the_training_loop_keeps_its_traceback(drift_dataset, tmp_path):
    """A ValueError raised by the model's training_step is a bug, not a refused value: the
    console script shows the traceback down to it, and no one-line summary."""
    script = textwrap.dedent("""
        import sys
        from surrogates.cli import main
        from surrogates.module import GridSurrogate

        def training_step(self, batch, batch_idx):
            raise ValueError("a bug in training_step")

        GridSurrogate.training_step = training_step
        sys.exit(main(["fit", "--config", sys.argv[1]]))
    """)
    config = _config(tmp_path, drift_dataset)
    out = subprocess.run([sys.executable, "-c", script, str(config)], capture_output=True,
                         text=True, cwd=Path(__file__).parents[2], timeout=300)
    assert out.returncode == 1
    assert "Traceback (most recent call last):" in out.stderr
    # the last frame is the model's training_step (the script's own, hence <string>)
    assert out.stderr.endswith(", in training_step\nValueError: a bug in training_step\n")
    assert _error_lines(out.stderr) == []


@pytest.mark.parametrize(("extra", "data", "expected"), [
    (["--data.n_inptu", "2"], {}, "unrecognized arguments: --data.n_inptu 2"),
    ([], {"n_inptu": 2}, "Subcommand 'fit' does not accept option 'data.n_inptu'"),
    ([], {"n_input": "two"}, "Parser key \"data.n_input\": Expected a <class 'int'>. "
                             "Got value: two"),
])
def test_a_mistyped_key_is_one_line_and_a_pointer_to_help(drift_dataset, tmp_path, capsys,
                                                          extra, data, expected):
    config = _config(tmp_path, drift_dataset, **data)
    assert main(["fit", "--config", str(config), *extra]) == 2
    err = capsys.readouterr().err
    assert _error_lines(err) == [
        f"simkit-train: error: {expected} (options: simkit-train fit --help)"]
    assert "usage:" not in err and len(err.splitlines()) <= 3  # not 65 lines of usage


def test_a_missing_dataset_and_an_unknown_variable_are_one_line(drift_dataset, tmp_path,
                                                                capsys):
    config = _config(tmp_path, tmp_path / "nowhere")
    assert main(["fit", "--config", str(config)]) == 1
    assert _error_lines(capsys.readouterr().err) == [
        f"simkit-train: error: {tmp_path / 'nowhere'}: no such dataset folder "
        "(--debug for the traceback)"]
    config = _config(tmp_path, drift_dataset, variables=["vorticity"])
    assert main(["fit", "--config", str(config)]) == 1
    assert _error_lines(capsys.readouterr().err) == [
        "simkit-train: error: variables: unknown or non-float ['vorticity']; this dataset's "
        "float variables are ['u'] (--debug for the traceback)"]
