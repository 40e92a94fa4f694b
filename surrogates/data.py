"""Lightning data module over a simkit grid dataset: ``n_input`` frames in, the next
``n_output`` out, channels stacked, normalisers from the train split's statistics.

A batch is ``{"input": (B, n_input, C, *grid), "target": (B, n_output, C, *grid)}`` in
the dataset's units, ``C`` the channels of ``variables`` in order (a vector variable
``("component", *space)`` gives one channel per component), plus ``"static": (B, S,
*grid)`` when ``static`` names fixed per-trajectory fields (an obstacle mask), as they
are stored (a mask is 0 / 1). Normalisation happens in
the model wrapper, with :attr:`GridDataModule.normaliser` (train-only mean and std per
channel, from ``stats.json``), so checkpoints carry it.
"""

import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from simkit.io import WindowDataset, open_dataset

__all__ = ["GridDataModule", "channel_names", "stack_channels"]


def stack_channels(frames: dict[str, np.ndarray], variables: list[str], grid_dims: int):
    """``{name: (T, [components,] *grid)}`` -> ``(T, C, *grid)`` float32."""
    parts = []
    for name in variables:
        a = np.asarray(frames[name], dtype=np.float32)
        parts.append(a.reshape(a.shape[0], -1, *a.shape[a.ndim - grid_dims:]))
    return np.concatenate(parts, axis=1)


def channel_names(variables: list[str], stats: dict) -> list[str]:
    """Channel labels from ``stats.json``'s component labels, e.g.
    ``["velocity[0]", "velocity[1]", "pressure"]``."""
    return [label for name in variables for label in stats["variables"][name]["components"]]


def _simulator_block(simulator: dict, params: list[dict]) -> dict:
    """The manifest's simulator entry plus the parameters all ``params`` share
    (``"params"``) and the names of the others (``"varying"``)."""
    names = sorted({k for p in params for k in p})
    shared = {k: params[0][k] for k in names
              if all(k in p and p[k] == params[0][k] for p in params)}
    return {**simulator, "params": shared, "varying": [k for k in names if k not in shared]}


class _Windows(torch.utils.data.Dataset):
    def __init__(self, root: Path, split: str, n_input: int, n_output: int, stride: int,
                 variables: list[str], grid_dims: int, static: list[str]) -> None:
        self.windows = WindowDataset(root, split, n_input, n_output, stride=stride,
                                     variables=variables, include_static=static)
        self.variables, self.grid_dims, self.static = variables, grid_dims, static

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        w = self.windows[i]
        item = {k: torch.from_numpy(stack_channels(w[k], self.variables, self.grid_dims))
                for k in ("input", "target")}
        if self.static:
            item["static"] = torch.from_numpy(np.stack(
                [np.asarray(w["static"][name], dtype=np.float32) for name in self.static]))
        return item


class GridDataModule(pl.LightningDataModule):
    """Parameters
    ----------
    path : str
        A simkit dataset of kind ``grid`` with ``train`` and ``valid`` (and for
        ``test``, ``test``) splits and ``stats.json``.
    variables : list of str, optional
        Time-dependent float variables to learn (default: all).
    n_input, n_output : int
        Frames in per window, frames out per training target (the unroll length of
        pushforward training is ``n_output``).
    rollout_steps : int
        Frames predicted autoregressively in validation and test (``None``: as many as
        the trajectories allow after ``n_input``).
    batch_size, num_workers, stride : int
    train_trajectories : int, optional
        Train on the first this many train trajectories only (learning curves); the
        normaliser still comes from the whole train split's statistics.
    static : list of str, optional
        Static variables on the grid (one value per cell, e.g. ``solid``) given to the
        model with every call: where the obstacles are.
    """

    def __init__(self, path: str, variables: list[str] | None = None, n_input: int = 1,
                 n_output: int = 1, rollout_steps: int | None = None, batch_size: int = 16,
                 num_workers: int = 0, stride: int = 1,
                 train_trajectories: int | None = None,
                 static: list[str] | None = None) -> None:
        super().__init__()
        self.root = Path(path)
        with open_dataset(self.root, verify="none") as ds:
            schema, self.stats, n_frames = ds.schema, ds.stats, ds.n_frames
            self.write_interval = ds.write_interval
            self.splits = ds.splits
            train_ids = ds.ids("train") if "train" in ds.splits else []
            n_train = len(train_ids)
            self.simulator = _simulator_block(ds.manifest.simulator,
                                              [ds.record(i)["params"] for i in train_ids])
        if schema.kind != "grid":
            raise ValueError(f"{path}: a grid dataset is needed, this one is {schema.kind!r}")
        floats = [v.name for v in schema.dynamic if v.is_float]
        self.variables = list(variables) if variables else floats
        unknown = sorted(set(self.variables) - set(floats))
        if unknown:
            raise ValueError(f"variables: unknown or non-float {unknown}; this dataset's "
                             f"float variables are {floats}")
        self.grid_dims = len(schema.space_dims)
        self.grid_shape = tuple(schema.sizes[d] for d in schema.space_dims)
        on_grid = [v.name for v in schema.static if tuple(v.dims) == tuple(schema.space_dims)]
        self.static = list(static or [])
        bad = sorted(set(self.static) - set(on_grid))
        if bad:
            raise ValueError(f"static must name static variables with one value per grid "
                             f"cell; {bad} are not, this dataset has {on_grid}")
        self.channels = channel_names(self.variables, self.stats)
        self.n_input, self.n_output = n_input, n_output
        self.rollout_steps = n_frames - n_input if rollout_steps is None else rollout_steps
        if self.rollout_steps < 1 or n_input + self.rollout_steps > n_frames:
            raise ValueError(f"rollout_steps must be in [1, {n_frames - n_input}] (this "
                             f"dataset's trajectories hold {n_frames} frames, n_input is "
                             f"{n_input}), got {rollout_steps}")
        self.batch_size, self.num_workers, self.stride = batch_size, num_workers, stride
        if train_trajectories is not None and not (
                isinstance(train_trajectories, int) and 1 <= train_trajectories <= n_train):
            raise ValueError(f"train_trajectories must be an int in [1, {n_train}] (the "
                             f"train split's size), got {train_trajectories!r}")
        self.train_trajectories = train_trajectories
        self.schema = schema
        if schema.kind == "grid" and not schema.boundaries_known:
            warnings.warn(f"{path}: the dataset does not record which grid axes are periodic "
                          "(written before the field existed); the model treats every axis "
                          "as periodic, as models did then. Regenerate the dataset to record "
                          "its boundaries.", UserWarning, stacklevel=2)

    @property
    def dataset_schema(self) -> dict:
        """What a checkpoint must know of the data: variables, per-frame shapes, the
        static inputs, grid, which grid axes are periodic (one bool per axis), seconds
        per frame, the dataset's path, and the simulator that made it (``{"name",
        "scene", "version", "params", "varying"}``: the parameters shared by every train
        trajectory, and the names of those that differ)."""
        shapes = {v: [self.schema.sizes[d] for d in self.schema.variable(v).dims]
                  for v in self.variables}
        return {"variables": self.variables, "frame_shapes": shapes, "static": self.static,
                "grid": list(self.grid_shape),
                "periodic": ([self.schema.is_periodic(d) for d in self.schema.space_dims]
                             if self.schema.boundaries_known else None),
                "channels": self.channels,
                "write_interval": self.write_interval, "dataset": str(self.root),
                "simulator": self.simulator}

    @property
    def normaliser(self) -> dict[str, list[float]]:
        """Train-split mean and std per channel (dataset units)."""
        mean, std = [], []
        for name in self.variables:
            v = self.stats["variables"][name]["value"]
            mean += v["mean"]
            std += [max(s, 1e-12) for s in v["std"]]
        return {"mean": mean, "std": std}

    def _loader(self, split: str, n_output: int, stride: int, shuffle: bool,
                trajectories: int | None = None) -> DataLoader:
        if split not in self.splits:
            raise ValueError(f"{self.root}: no {split!r} split (has {self.splits})")
        data = _Windows(self.root, split, self.n_input, n_output, stride, self.variables,
                        self.grid_dims, self.static)
        if trajectories is not None:  # windows are trajectory-major
            per = data.windows.windows_per_trajectory
            data = torch.utils.data.Subset(data, range(trajectories * per))
        return DataLoader(data, batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.n_output, self.stride, True,
                            self.train_trajectories)

    def _rollouts(self, split: str) -> DataLoader:
        """Non-overlapping rollout windows (inputs plus ``rollout_steps`` targets)."""
        return self._loader(split, self.rollout_steps, self.n_input + self.rollout_steps, False)

    def val_dataloader(self) -> DataLoader:
        return self._rollouts("valid")

    def test_dataloader(self) -> DataLoader:
        return self._rollouts("test")

    def predict_dataloader(self) -> DataLoader:
        return self._rollouts("test")
