"""The manifest: the dataset's table of contents, written last and atomically.

``manifest.json`` holds the schema, the splits with their shards (path, sha256,
bytes), and one record per trajectory: its id, split, seed, parameters, status
(``ok``, ``dropped``), the attempts that failed before it, its shard and row, and
QC numbers. A reader needs nothing else to index a dataset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simkit.errors import DatasetError
from simkit.io._atomic import atomic_write_text
from simkit.io.schema import Schema
from simkit.io.shard import FORMAT_NAME, FORMAT_VERSION

__all__ = ["Manifest", "MANIFEST", "STATS", "CARD", "shard_relpath"]

MANIFEST = "manifest.json"
STATS = "stats.json"
CARD = "README.md"


def shard_relpath(split: str, index: int) -> str:
    """Relative path of shard ``index`` of ``split``: ``data/<split>/shard-NNNNN.h5``."""
    return f"data/{split}/shard-{index:05d}.h5"


@dataclass
class Manifest:
    """In-memory manifest.

    Attributes
    ----------
    schema : Schema
    n_frames : int
    write_interval : float
        Seconds between stored frames.
    simulator : dict
        ``{"name", "version", "scene"}``.
    splits : dict
        ``split -> {"shards": [{"path", "sha256", "bytes", "trajectories"}]}``.
    trajectories : list of dict
        One record per trajectory: ``id, split, status, seed, params, attempts,
        shard, row, qc``.
    recipe : dict
        The fully resolved recipe (empty when written through the Python API).
    provenance : dict
        Versions, arch, precision, git commit, creation time.
    """

    schema: Schema
    n_frames: int
    write_interval: float
    simulator: dict[str, Any]
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    trajectories: list[dict[str, Any]] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.schema.kind

    def ok_records(self, split: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.trajectories
            if r["status"] == "ok" and (split is None or r["split"] == split)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "schema": self.schema.to_json(),
            "n_frames": self.n_frames,
            "write_interval": self.write_interval,
            "time_units": "s",
            "simulator": self.simulator,
            "splits": self.splits,
            "trajectories": self.trajectories,
            "recipe": self.recipe,
            "provenance": self.provenance,
        }

    def write(self, root: str | os.PathLike) -> None:
        atomic_write_text(Path(root) / MANIFEST, json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "manifest") -> Manifest:
        if data.get("format") != FORMAT_NAME:
            raise DatasetError(f"{source}: not a {FORMAT_NAME} manifest "
                               f"(format={data.get('format')!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise DatasetError(f"{source}: format version {data.get('format_version')!r} is not "
                               f"supported (this simkit reads version {FORMAT_VERSION})")
        try:
            return cls(
                schema=Schema.from_json(data["schema"]),
                n_frames=int(data["n_frames"]),
                write_interval=float(data["write_interval"]),
                simulator=dict(data["simulator"]),
                splits=dict(data["splits"]),
                trajectories=list(data["trajectories"]),
                recipe=dict(data.get("recipe", {})),
                provenance=dict(data.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{source}: malformed manifest: {exc!r}") from exc

    @classmethod
    def read(cls, root: str | os.PathLike) -> Manifest:
        path = Path(root) / MANIFEST
        if not path.exists():
            raise DatasetError(
                f"{path}: no manifest; not a simkit dataset, or its generation did not "
                "finish (rerun `simkit generate ... --resume`)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{path}: unreadable manifest: {exc}") from exc
        return cls.from_json(data, source=str(path))
