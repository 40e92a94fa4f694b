"""Static inputs (obstacle masks): the data module serves them, the CLI wires their
count into the model, and the served surrogate needs and uses them."""

import numpy as np
import pytest
import torch
import yaml

from simkit.io import DatasetWriter
from simkit.io.schema import Schema, Trajectory, Variable
from surrogates import load
from surrogates.cli import run
from surrogates.data import GridDataModule
from surrogates.module import GridSurrogate

N, FRAMES = 8, 6


@pytest.fixture(scope="module")
def masked_dataset(tmp_path_factory):
    """``u`` drifts one cell in x per frame and is held at 1 in each trajectory's
    obstacle cells (``solid``)."""
    root = tmp_path_factory.mktemp("masked") / "ds"
    coords = tuple(np.arange(N) / N)
    schema = Schema(kind="grid", variables=(
        Variable("u", ("y", "x"), "1"),
        Variable("solid", ("y", "x"), "1", dtype="int8", static=True)),
        sizes={"y": N, "x": N}, space_dims=("y", "x"), coords={"y": coords, "x": coords},
        coord_units={"y": "m", "x": "m"})
    rng = np.random.default_rng(0)
    with DatasetWriter(root, schema, n_frames=FRAMES, write_interval=0.1,
                       simulator={"name": "test", "version": "0"},
                       trajectories_per_shard=4) as writer:
        for i, split in enumerate(["train"] * 6 + ["valid"] * 2 + ["test"] * 2):
            solid = (rng.random((N, N)) < 0.2).astype(np.int8)
            u = [rng.standard_normal((N, N))]
            for _ in range(FRAMES - 1):
                u.append(np.where(solid == 1, 1.0, np.roll(u[-1], 1, axis=1)))
            writer.add(split, Trajectory(f"{split}-{i}", {"u": np.stack(u).astype(np.float32)},
                                         {"solid": solid}))
    return root


def test_data_module_serves_the_mask_with_every_window(masked_dataset):
    dm = GridDataModule(str(masked_dataset), n_input=2, n_output=1, batch_size=3,
                        static=["solid"])
    batch = next(iter(dm.train_dataloader()))
    assert batch["static"].shape == (3, 1, N, N) and batch["static"].dtype == torch.float32
    # obstacle cells hold u = 1 in every frame after the first
    solid = batch["static"][:, 0].bool()
    assert torch.all(batch["target"][:, 0, 0][solid] == 1.0)
    assert dm.dataset_schema["static"] == ["solid"]
    with pytest.raises(ValueError, match=r"static must name static variables .* \['solid'\]"):
        GridDataModule(str(masked_dataset), static=["u"])


def test_cli_wires_the_mask_in_and_the_surrogate_needs_it(masked_dataset, tmp_path):
    config = {
        "seed_everything": 0,  # LightningCLI would draw a random seed
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "enable_progress_bar": False,
                    "default_root_dir": str(tmp_path), "logger": False},
        "model": {"model": "fno", "model_config": {"n_modes": [4, 4], "hidden_channels": 8}},
        "data": {"path": str(masked_dataset), "n_input": 2, "rollout_steps": 3,
                 "batch_size": 4, "static": ["solid"]}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cli = run(["fit", "--config", str(path)])
    assert cli.model.hparams.dataset_schema["static"] == ["solid"]
    with pytest.raises(ValueError, match="static_channels=0, but the dataset schema names 1"):
        GridSurrogate("fno", {"n_modes": [4, 4]}, static_channels=0,
                      dataset_schema=cli.model.hparams.dataset_schema)
    surrogate = load(cli.trainer.checkpoint_callback.best_model_path)
    assert surrogate.static == ["solid"]
    rng = np.random.default_rng(1)
    u = rng.standard_normal((3, 2, N, N)).astype(np.float32)
    solid = (rng.random((N, N)) < 0.2).astype(np.int8)
    with pytest.raises(ValueError, match=r"state lacks variables \['solid'\]"):
        surrogate.step({"u": u})
    with pytest.raises(ValueError, match="must be a dict of"):
        surrogate.step(u)
    with pytest.raises(ValueError, match=r"state\['solid'\] \(static\) must have shape"):
        surrogate.step({"u": u, "solid": solid[:4]})
    # one mask for the batch, or one per sample: the same numbers
    shared = surrogate.rollout({"u": u, "solid": solid}, 3)
    per_sample = surrogate.rollout({"u": u, "solid": np.stack([solid] * 3)}, 3)
    assert shared.shape == (3, 3, N, N)
    np.testing.assert_allclose(shared, per_sample, rtol=1e-6)
    # and the model reads it
    other = surrogate.step({"u": u, "solid": 1 - solid})
    assert np.abs(other - surrogate.step({"u": u, "solid": solid})).max() > 1e-4
