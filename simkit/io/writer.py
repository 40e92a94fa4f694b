"""Writing a dataset: the :class:`DatasetWriter` context manager and the final step
(statistics, dataset card, manifest) shared with ``simkit generate``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from simkit.io._atomic import atomic_write_text
from simkit.io.card import render_card
from simkit.io.dataset import Dataset
from simkit.io.manifest import CARD, STATS, Manifest, shard_relpath
from simkit.io.schema import Schema, Trajectory
from simkit.io.shard import DEFAULT_COMPRESSION, Compression, ShardInfo, write_shard
from simkit.io.stats import merge_accumulators, stats_json, trajectory_moments
from simkit.provenance import code_provenance, utc_now

__all__ = [
    "DatasetWriter", "compute_stats", "finalize", "shard_moments", "trajectory_qc",
]


def trajectory_qc(schema: Schema, traj: Trajectory) -> dict[str, Any]:
    """Per-trajectory QC numbers kept in the manifest: max |value| per float variable."""
    out = {}
    for var in schema.variables:
        if var.is_float:
            arr = traj.static[var.name] if var.static else traj.frames[var.name]
            out[f"max_abs_{var.name}"] = float(np.max(np.abs(arr))) if arr.size else 0.0
    return out


def shard_moments(schema: Schema, trajectories: Iterable[Trajectory]) -> dict[str, Any]:
    """Running moments of one shard's trajectories (merged across shards in shard order,
    so every route to ``stats.json`` performs the same float64 operations)."""
    acc: dict[str, Any] = {}
    for traj in trajectories:
        trajectory_moments(schema, traj.frames, traj.static, acc)
    return acc


def compute_stats(dataset: Dataset, split: str = "train") -> dict[str, Any]:
    """Statistics of ``split`` (train by default), read back from the shards."""
    by_shard: dict[str, list[str]] = {}
    for rec in dataset.manifest.ok_records(split):
        by_shard.setdefault(rec["shard"], []).append(rec["id"])
    acc: dict[str, Any] = {}
    for ids in by_shard.values():
        merge_accumulators(acc, shard_moments(dataset.schema,
                                              (dataset.trajectory(t) for t in ids)))
    return stats_json(dataset.schema, acc, write_interval=dataset.write_interval, split=split,
                      n_trajectories=sum(len(v) for v in by_shard.values()))


def finalize(root: str | os.PathLike, manifest: Manifest, *, description: str = "",
             train_moments: dict[str, Any] | None = None) -> None:
    """Write ``stats.json`` (from train), the ``README.md`` card, then ``manifest.json``.

    ``train_moments``: the train split's merged moments, if the caller already has
    them; otherwise they are read back from the shards. The manifest goes last: a
    folder without one is an unfinished dataset.
    """
    root = Path(root)
    if "train" in manifest.splits:
        if train_moments is None:
            stats = compute_stats(Dataset(root, manifest), "train")
        else:
            stats = stats_json(manifest.schema, train_moments,
                               write_interval=manifest.write_interval, split="train",
                               n_trajectories=len(manifest.ok_records("train")))
        atomic_write_text(root / STATS, json.dumps(stats, indent=1) + "\n")
    atomic_write_text(root / CARD, render_card(manifest, description=description))
    manifest.write(root)


class DatasetWriter:
    """Write trajectories into a new dataset folder.

    Parameters
    ----------
    path : path
        The dataset folder; must not exist or be empty.
    schema : Schema
    n_frames : int
        Frames per trajectory.
    write_interval : float
        Simulated seconds between frames.
    simulator : mapping
        ``{"name": ..., "version": ..., "scene": ...}`` of what produced the data.
    trajectories_per_shard : int
        Trajectories collected before a shard is written.
    compression : Compression
    attrs : mapping, optional
        Extra provenance attributes for every shard.
    description : str
        Equations, boundary conditions and units for the dataset card.

    Examples
    --------
    >>> with DatasetWriter("out", schema, n_frames=10, write_interval=0.1,
    ...                    simulator={"name": "mine", "version": "1"}) as w:  # doctest: +SKIP
    ...     w.add("train", Trajectory("train-000000", frames={"u": u}))
    """

    def __init__(
        self,
        path: str | os.PathLike,
        schema: Schema,
        *,
        n_frames: int,
        write_interval: float,
        simulator: Mapping[str, Any],
        trajectories_per_shard: int = 8,
        compression: Compression = DEFAULT_COMPRESSION,
        attrs: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> None:
        self.root = Path(path)
        if self.root.exists() and any(self.root.iterdir()):
            raise FileExistsError(f"{self.root}: folder exists and is not empty")
        if not isinstance(n_frames, int) or n_frames < 1:
            raise ValueError(f"n_frames must be a positive int, got {n_frames!r}")
        if not write_interval > 0:
            raise ValueError(f"write_interval must be > 0 seconds, got {write_interval!r}")
        if trajectories_per_shard < 1:
            raise ValueError(f"trajectories_per_shard must be >= 1, got {trajectories_per_shard}")
        self.schema = schema
        self.n_frames = n_frames
        self.write_interval = float(write_interval)
        self.per_shard = trajectories_per_shard
        self.compression = compression
        self.description = description
        self.attrs = {**code_provenance(), **(attrs or {})}
        self.manifest = Manifest(schema=schema, n_frames=n_frames,
                                 write_interval=self.write_interval,
                                 simulator=dict(simulator), provenance=dict(self.attrs))
        self._pending: dict[str, list[Trajectory]] = {}
        self._closed = False

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()

    def add(self, split: str, trajectory: Trajectory) -> None:
        """Queue one trajectory for ``split``; checked at once, written per shard."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        if not isinstance(split, str) or not split.isidentifier():
            raise ValueError(f"split must be an identifier such as 'train', got {split!r}")
        trajectory.check(self.schema, self.n_frames)
        if any(r["id"] == trajectory.id for r in self.manifest.trajectories) or any(
            t.id == trajectory.id for ts in self._pending.values() for t in ts
        ):
            raise ValueError(f"duplicate trajectory id {trajectory.id!r}")
        pending = self._pending.setdefault(split, [])
        pending.append(trajectory)
        if len(pending) >= self.per_shard:
            self._flush(split)

    def _flush(self, split: str) -> None:
        trajs = self._pending.pop(split, [])
        if not trajs:
            return
        shards = self.manifest.splits.setdefault(split, {"shards": []})["shards"]
        rel = shard_relpath(split, len(shards))
        info = write_shard(self.root / rel, self.schema, trajs, n_frames=self.n_frames,
                           write_interval=self.write_interval,
                           attrs={**self.attrs, **_sim_attrs(self.manifest.simulator),
                                  "created": utc_now()},
                           compression=self.compression)
        shards.append(shard_entry(self.root, info))
        for row, t in enumerate(trajs):
            self.manifest.trajectories.append(
                {"id": t.id, "split": split, "status": "ok", "seed": int(t.seed),
                 "params": dict(t.params), "attempts": [], "shard": rel, "row": row,
                 "qc": trajectory_qc(self.schema, t)})

    def close(self) -> None:
        """Write what is pending, then statistics, card and manifest."""
        if self._closed:
            return
        for split in list(self._pending):
            self._flush(split)
        self.manifest.provenance["created"] = utc_now()
        finalize(self.root, self.manifest, description=self.description)
        self._closed = True


def _sim_attrs(sim: Mapping[str, Any]) -> dict[str, Any]:
    return {"simulator": str(sim.get("name", "unknown")),
            "simulator_version": str(sim.get("version", "unknown")),
            "scene": str(sim.get("scene", ""))}


def shard_entry(root: Path, info: ShardInfo) -> dict[str, Any]:
    """The manifest's entry for one written shard."""
    return {"path": info.path.relative_to(root).as_posix(), "sha256": info.sha256,
            "bytes": info.bytes, "trajectories": list(info.trajectories)}
