"""Training windows: ``n_input`` consecutive frames in, the next ``n_output`` frames out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simkit.io.dataset import Dataset
from simkit.io.manifest import Manifest
from simkit.io.shard import ShardReader

__all__ = ["WindowDataset"]


class WindowDataset:
    """A map-style dataset of windows, usable with ``torch.utils.data.DataLoader``.

    Window ``i`` of a trajectory starts at frame ``s = i * stride`` and returns frames
    ``s .. s + n_input - 1`` as input and ``s + n_input .. s + n_input + n_output - 1``
    as target. The index comes from the manifest alone; shard files are opened with
    h5py on first use in each process, so DataLoader workers never share a handle.

    Parameters
    ----------
    dataset : Dataset or path
        An opened dataset, or its folder (then only the manifest is read here).
    split : str
    n_input, n_output : int
        Frames per input and per target (>= 1).
    stride : int
        Frames between consecutive window starts.
    variables : sequence of str, optional
        Time-dependent variables to return (default: all float ones).
    include_static : bool or sequence of str
        Also return the static variables (masks, particle types): all of them, or
        those named.

    Returns (per item)
    ------------------
    dict with ``"input"`` and ``"target"``: ``{name: (n_input | n_output, *frame_shape)}``
    arrays (particles: ``(frames, n_particles, component)``), ``"static"``:
    ``{name: frame_shape}``, ``"trajectory"`` (id), ``"start"`` (frame index) and
    ``"t0"`` (time of the first input frame, s).
    """

    def __init__(
        self,
        dataset: Dataset | str | os.PathLike,
        split: str,
        n_input: int,
        n_output: int,
        *,
        stride: int = 1,
        variables: Sequence[str] | None = None,
        include_static: bool | Sequence[str] = True,
    ) -> None:
        if isinstance(dataset, Dataset):
            root, manifest = dataset.root, dataset.manifest
        else:
            root = Path(dataset)
            manifest = Manifest.read(root)
        for name, value in (("n_input", n_input), ("n_output", n_output), ("stride", stride)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if split not in manifest.splits:
            raise ValueError(f"unknown split {split!r}; this dataset has {list(manifest.splits)}")
        span = n_input + n_output
        if span > manifest.n_frames:
            raise ValueError(f"n_input + n_output = {span} exceeds the {manifest.n_frames} "
                             "frames per trajectory")
        schema = manifest.schema
        dynamic = [v.name for v in schema.dynamic if v.is_float]
        if variables is None:
            variables = dynamic
        unknown = sorted(set(variables) - {v.name for v in schema.dynamic})
        if unknown:
            raise ValueError(f"unknown time-dependent variables {unknown}; expected some of "
                             f"{[v.name for v in schema.dynamic]}")
        self.root = root
        self.schema = schema
        self.split = split
        self.n_input, self.n_output, self.stride = n_input, n_output, stride
        self.variables = list(variables)
        statics = [v.name for v in schema.static]
        if isinstance(include_static, bool):
            self.static_names = statics if include_static else []
        else:
            self.static_names = list(include_static)
            unknown = sorted(set(self.static_names) - set(statics))
            if unknown:
                raise ValueError(f"unknown static variables {unknown}; expected some of "
                                 f"{statics}")
        self.write_interval = manifest.write_interval
        records = manifest.ok_records(split)
        self._ids = [r["id"] for r in records]
        self._shards = [r["shard"] for r in records]
        self._rows = np.array([r["row"] for r in records], dtype=np.int64)
        self.windows_per_trajectory = (manifest.n_frames - span) // stride + 1
        self._readers: dict[str, ShardReader] = {}

    def __len__(self) -> int:
        return len(self._ids) * self.windows_per_trajectory

    def _locate(self, index: int) -> tuple[int, int]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"window index {index} out of range for {n} windows")
        traj, w = divmod(index % n, self.windows_per_trajectory)
        return traj, w * self.stride

    def locate(self, index: int) -> tuple[str, int]:
        """``(trajectory id, start frame)`` of window ``index``."""
        traj, start = self._locate(index)
        return self._ids[traj], start

    def _reader(self, relpath: str) -> ShardReader:
        reader = self._readers.get(relpath)
        if reader is None:
            reader = self._readers[relpath] = ShardReader(self.root / relpath, self.schema)
        return reader

    def __getitem__(self, index: int) -> dict[str, Any]:
        traj, start = self._locate(index)
        reader = self._reader(self._shards[traj])
        row = int(self._rows[traj])
        stop = start + self.n_input + self.n_output
        inputs, targets = {}, {}
        for name in self.variables:
            block = reader.read(name, row, start, stop)
            inputs[name], targets[name] = block[: self.n_input], block[self.n_input :]
        return {
            "input": inputs,
            "target": targets,
            "static": {name: reader.read(name, row) for name in self.static_names},
            "trajectory": self._ids[traj],
            "start": start,
            "t0": start * self.write_interval,
        }

    def close(self) -> None:
        for r in self._readers.values():
            r.close()
        self._readers.clear()
