"""Reading a dataset: ``open_dataset(path)`` and the :class:`Dataset` it returns."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from simkit.errors import DatasetError
from simkit.io._atomic import TMP_MARK
from simkit.io.manifest import CARD, MANIFEST, STATS, Manifest
from simkit.io.schema import Schema, Trajectory
from simkit.io.shard import ShardReader, sha256_file

__all__ = ["Dataset", "ValidationReport", "open_dataset"]

Verify = Literal["checksum", "size", "none"]


@dataclass
class ValidationReport:
    """What :meth:`Dataset.validate` checked and what it found wrong."""

    root: Path
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_failed(self) -> None:
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise DatasetError(f"{self.problems[0]}{more}")


class Dataset:
    """A simkit dataset opened for reading.

    Use :func:`open_dataset` to make one. Attributes: ``root``, ``manifest``,
    ``schema``, ``kind``, ``n_frames``, ``write_interval`` (seconds between frames),
    ``splits``.
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self._readers: dict[str, ShardReader] = {}
        self._by_id = {r["id"]: r for r in manifest.trajectories}

    # -------------------------------------------------------------- properties
    @property
    def schema(self) -> Schema:
        return self.manifest.schema

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def n_frames(self) -> int:
        return self.manifest.n_frames

    @property
    def write_interval(self) -> float:
        return self.manifest.write_interval

    @property
    def splits(self) -> list[str]:
        return list(self.manifest.splits)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={len(self.ids(s))}" for s in self.splits)
        return (f"<simkit Dataset {self.root} kind={self.kind} "
                f"simulator={self.manifest.simulator.get('name')} frames={self.n_frames} "
                f"trajectories: {counts}>")

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for r in self._readers.values():
            r.close()
        self._readers.clear()

    # -------------------------------------------------------------- lookups
    def _check_split(self, split: str) -> None:
        if split not in self.manifest.splits:
            raise ValueError(f"unknown split {split!r}; this dataset has {self.splits}")

    def ids(self, split: str) -> list[str]:
        """Ids of the stored (status ``ok``) trajectories of ``split``, in order."""
        self._check_split(split)
        return [r["id"] for r in self.manifest.ok_records(split)]

    def record(self, trajectory_id: str) -> dict[str, Any]:
        """The manifest record of a trajectory (stored or dropped)."""
        try:
            return self._by_id[trajectory_id]
        except KeyError:
            raise KeyError(f"no trajectory {trajectory_id!r} in {self.root}") from None

    def shard_paths(self, split: str) -> list[Path]:
        self._check_split(split)
        return [self.root / s["path"] for s in self.manifest.splits[split]["shards"]]

    def reader(self, relpath: str) -> ShardReader:
        if relpath not in self._readers:
            self._readers[relpath] = ShardReader(self.root / relpath, self.schema)
        return self._readers[relpath]

    # -------------------------------------------------------------- data
    def trajectory(self, trajectory_id: str) -> Trajectory:
        """One trajectory as numpy arrays (frames first).

        Raises
        ------
        KeyError
            Unknown id.
        DatasetError
            The trajectory was dropped during generation, or its shard is missing,
            corrupt, or holds another trajectory at the recorded row.
        """
        rec = self.record(trajectory_id)
        if rec["status"] != "ok":
            raise DatasetError(
                f"trajectory {trajectory_id!r} was {rec['status']} during generation "
                f"({rec.get('error', 'no reason recorded')}); it is not stored"
            )
        reader = self.reader(rec["shard"])
        stored = reader.ids
        if rec["row"] >= len(stored) or stored[rec["row"]] != trajectory_id:
            raise DatasetError(f"{reader.path}: trajectory {trajectory_id!r} is not at row "
                               f"{rec['row']} as the manifest says; the dataset is inconsistent")
        return reader.read_trajectory(rec["row"])

    def trajectory_xarray(self, trajectory_id: str):
        """One trajectory as an ``xarray.Dataset`` (lazy, from its shard)."""
        import xarray as xr

        rec = self.record(trajectory_id)
        if rec["status"] != "ok":
            raise DatasetError(f"trajectory {trajectory_id!r} was {rec['status']}; not stored")
        ds = xr.open_dataset(self.root / rec["shard"], engine="h5netcdf")
        sel: dict[str, Any] = {"trajectory": rec["row"]}
        rd = self.schema.ragged_dim
        if rd:
            off = self.reader(rec["shard"]).offsets
            sel[rd] = slice(int(off[rec["row"]]), int(off[rec["row"] + 1]))
        return ds.isel(sel)

    def split_xarray(self, split: str):
        """A whole split as one lazy ``xarray.Dataset`` (``xarray.open_mfdataset``).

        Stacked variables are concatenated along ``trajectory``; for ragged kinds the
        ragged variables are concatenated along their ragged dimension, so
        ``<ragged>_count`` still delimits each trajectory's elements.
        """
        import xarray as xr

        paths = [p for p, s in zip(self.shard_paths(split), self.manifest.splits[split]["shards"],
                                   strict=True) if s["trajectories"]]
        if not paths:
            raise DatasetError(f"{self.root}: split {split!r} holds no stored trajectory")
        common = dict(engine="h5netcdf", combine="nested", data_vars="minimal",
                      coords="minimal", compat="override", join="override")
        rd = self.schema.ragged_dim
        if rd is None:
            return xr.open_mfdataset(paths, concat_dim="trajectory", **common)
        ragged = [v.name for v in self.schema.variables if self.schema.is_ragged(v)]
        along_ragged = xr.open_mfdataset(paths, concat_dim=rd,
                                         preprocess=lambda d: d[ragged], **common)
        along_traj = xr.open_mfdataset(paths, concat_dim="trajectory",
                                       preprocess=lambda d: d.drop_vars(ragged), **common)
        return xr.merge([along_traj, along_ragged], compat="override", join="override")

    @property
    def stats(self) -> dict[str, Any]:
        """The content of ``stats.json`` (train split only)."""
        path = self.root / STATS
        if not path.exists():
            raise DatasetError(f"{path}: no statistics; run `simkit stats {self.root}`")
        return json.loads(path.read_text(encoding="utf-8"))

    def iter_trajectories(self, split: str) -> Iterator[Trajectory]:
        for tid in self.ids(split):
            yield self.trajectory(tid)

    # -------------------------------------------------------------- checks
    def verify_shards(self, mode: Verify = "checksum") -> list[str]:
        """Problems with shard files: missing, wrong size, wrong sha256."""
        return list(self._shard_problems(mode).values())

    def _shard_problems(self, mode: Verify) -> dict[Path, str]:
        problems: dict[Path, str] = {}
        if mode == "none":
            return problems
        for split, info in self.manifest.splits.items():
            for s in info["shards"]:
                path = self.root / s["path"]
                if not path.exists():
                    problems[path] = f"{path}: shard of split {split!r} is missing"
                    continue
                size = path.stat().st_size
                if size != s["bytes"]:
                    problems[path] = (f"{path}: {size} bytes, the manifest says {s['bytes']} "
                                      "(truncated or overwritten)")
                elif mode == "checksum" and sha256_file(path) != s["sha256"]:
                    problems[path] = f"{path}: sha256 differs from the manifest (corrupt)"
        return problems

    def validate(self, *, checksums: bool = True, data: bool = True) -> ValidationReport:
        """Check the whole dataset against its manifest.

        Schema of every shard, checksums, every stored trajectory at its recorded
        row, finiteness of every float value (``data=True``), per-split counts, the
        statistics file and left-over temporary files.
        """
        report = ValidationReport(self.root)
        p = report.problems
        bad = self._shard_problems("checksum" if checksums else "size")
        p += bad.values()
        want_schema = self.schema.to_json()
        n_traj = n_shards = 0
        for split, info in self.manifest.splits.items():
            for s in info["shards"]:
                path = self.root / s["path"]
                if path in bad:
                    continue
                n_shards += 1
                reader = self.reader(s["path"])
                try:
                    attrs = reader.attrs()
                    if attrs.get("schema") != want_schema:
                        p.append(f"{path}: schema differs from the manifest's")
                    if attrs.get("n_frames") != self.n_frames:
                        p.append(f"{path}: {attrs.get('n_frames')} frames, the manifest says "
                                 f"{self.n_frames}")
                    if reader.ids != list(s["trajectories"]):
                        p.append(f"{path}: holds trajectories {reader.ids}, the manifest says "
                                 f"{s['trajectories']}")
                        continue
                    for row, tid in enumerate(s["trajectories"]):
                        rec = self._by_id.get(tid)
                        if rec is None or rec["status"] != "ok" or rec["shard"] != s["path"] \
                                or rec["row"] != row or rec["split"] != split:
                            p.append(f"{path}: trajectory {tid!r} at row {row} has no matching "
                                     "manifest record")
                            continue
                        n_traj += 1
                        if data:
                            traj = reader.read_trajectory(row)
                            p += _qc_problems(path, traj, self.schema)
                except DatasetError as exc:
                    p.append(str(exc))
        for split in self.splits:
            recs = self.manifest.ok_records(split)
            listed = {t for s in self.manifest.splits[split]["shards"] for t in s["trajectories"]}
            missing = [r["id"] for r in recs if r["id"] not in listed]
            if missing:
                p.append(f"{self.root / MANIFEST}: split {split!r}: trajectories {missing[:5]} "
                         "are recorded as stored but no shard lists them")
        known = {self.root / s["path"] for info in self.manifest.splits.values()
                 for s in info["shards"]}
        data_dir = self.root / "data"
        if data_dir.exists():
            for f in sorted(data_dir.rglob("*")):
                if f.is_file() and TMP_MARK in f.name:
                    p.append(f"{f}: left-over temporary file of an interrupted run")
                elif f.is_file() and f not in known:
                    p.append(f"{f}: file not listed in the manifest")
        if "train" in self.manifest.splits:
            try:
                st = self.stats
                if st.get("n_trajectories") != len(self.ids("train")):
                    p.append(f"{self.root / STATS}: computed from {st.get('n_trajectories')} "
                             f"train trajectories, the split has {len(self.ids('train'))}")
            except DatasetError as exc:
                p.append(str(exc))
        if not (self.root / CARD).exists():
            p.append(f"{self.root / CARD}: dataset card missing")
        report.checked = {"shards": n_shards, "trajectories": n_traj}
        return report


def _qc_problems(path: Path, traj: Trajectory, schema: Schema) -> list[str]:
    out = []
    for var in schema.variables:
        arr = traj.static[var.name] if var.static else traj.frames[var.name]
        if var.is_float and not np.isfinite(arr).all():
            out.append(f"{path}: trajectory {traj.id!r}: {var.name!r} holds non-finite values")
    return out


def open_dataset(path: str | os.PathLike, *, verify: Verify = "checksum") -> Dataset:
    """Open a simkit dataset folder.

    Parameters
    ----------
    path : path
        The dataset folder (holding ``manifest.json``).
    verify : {"checksum", "size", "none"}
        ``"checksum"`` (default) recomputes every shard's sha256 (about 1 s per GB);
        ``"size"`` only checks that every shard exists with its recorded size;
        ``"none"`` trusts the manifest. Reads are protected by per-chunk Fletcher-32
        checksums in any case.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        No manifest, or a shard is missing, truncated or corrupt (the message names it).

    Examples
    --------
    >>> ds = simkit.io.open_dataset("runs/demo/heat2d")  # doctest: +SKIP
    >>> traj = ds.trajectory(ds.ids("train")[0])  # doctest: +SKIP
    >>> traj.frames["temperature"].shape  # doctest: +SKIP
    (20, 64, 64)
    """
    if verify not in ("checksum", "size", "none"):
        raise ValueError(f"verify must be 'checksum', 'size' or 'none', got {verify!r}")
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    ds = Dataset(root, Manifest.read(root))
    problems = ds.verify_shards(verify)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DatasetError(problems[0] + more)
    return ds
