"""One shard: an HDF5 file in netCDF-4 layout holding several trajectories.

Written with h5netcdf, so dimension scales are attached and every shard opens with
``xarray.open_dataset(path, engine="h5netcdf")``; read back with h5py directly for
speed. Layout of a variable with per-frame dims ``dims``:

=========================  ===============================================
stacked, time-dependent    ``(trajectory, time, *dims)``
stacked, static            ``(trajectory, *dims)``
ragged, time-dependent     ``(ragged, time, *dims[1:])``, trajectories
                           concatenated along ``ragged``, lengths in
                           ``<ragged>_count(trajectory)`` (CF contiguous
                           ragged array, ``sample_dimension`` attribute)
ragged, static             ``(ragged, *dims[1:])``
=========================  ===============================================
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from simkit.errors import DatasetError
from simkit.io._atomic import atomic_path
from simkit.io.schema import Schema, Trajectory, Variable

__all__ = [
    "Compression", "ShardInfo", "ShardReader", "sha256_file", "shard_attrs", "write_shard",
]

FORMAT_NAME = "simkit-dataset"
FORMAT_VERSION = 1

_MiB = 1 << 20
CHUNK_TARGET = _MiB // 2
CHUNK_MAX = 8 * _MiB


@dataclass(frozen=True)
class Compression:
    """Shard storage filters.

    ``codec``: ``"gzip"`` (default), ``"lzf"`` or ``None``; ``shuffle``: the HDF5 byte
    shuffle before compressing (smaller files, slower reads); ``fletcher32``: a
    checksum per chunk, so a flipped bit fails the read that meets it even when the
    shard's sha256 was not verified (costs read speed; see experiments/results).
    """

    codec: str | None = "gzip"
    level: int = 4
    shuffle: bool = True
    fletcher32: bool = True

    def __post_init__(self) -> None:
        if self.codec not in ("gzip", "lzf", None):
            raise ValueError(f"compression codec must be 'gzip', 'lzf' or None, got {self.codec!r}")
        if self.codec == "gzip" and not 0 <= self.level <= 9:
            raise ValueError(f"gzip level must be in 0..9, got {self.level}")

    def h5_kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fletcher32": self.fletcher32}
        if self.codec is not None:
            out["compression"] = self.codec
            if self.codec == "gzip":
                out["compression_opts"] = self.level
            out["shuffle"] = self.shuffle
        return out


#: gzip level 4 with shuffle (and Fletcher-32 chunk checksums).
DEFAULT_COMPRESSION = Compression()


@dataclass(frozen=True)
class ShardInfo:
    path: Path
    sha256: str
    bytes: int
    trajectories: tuple[str, ...]


def sha256_file(path: str | os.PathLike, bufsize: int = 4 * _MiB) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def chunk_shape(block: Sequence[int], itemsize: int, *, has_time: bool) -> tuple[int, ...]:
    """Chunks that follow the training access pattern.

    ``block`` is the extent of one trajectory: ``(n_lead, [n_frames], *rest)`` with
    ``n_lead`` 1 (stacked) or the trajectory's element count (ragged). The time axis
    is windowed so a chunk holds about 0.5 MiB; a chunk still above 8 MiB (one huge
    frame) has its largest other axis halved until it fits.
    """
    chunk = [max(1, int(s)) for s in block]
    if has_time:
        frame_bytes = itemsize * math.prod(chunk) // chunk[1]
        chunk[1] = max(1, min(chunk[1], CHUNK_TARGET // max(frame_bytes, 1)))
    while itemsize * math.prod(chunk) > CHUNK_MAX:
        axes = [i for i in range(len(chunk)) if not (has_time and i == 1) and chunk[i] > 1]
        if not axes:
            break
        i = max(axes, key=lambda ax: chunk[ax])
        chunk[i] = (chunk[i] + 1) // 2
    return tuple(chunk)


def _param_arrays(trajs: Sequence[Trajectory]) -> dict[str, np.ndarray]:
    keys = list(trajs[0].params) if trajs else []
    for t in trajs:
        if list(t.params) != keys:
            raise ValueError(
                f"trajectory {t.id!r}: parameters {sorted(t.params)} differ from "
                f"{sorted(keys)} of the other trajectories in the shard"
            )
    out = {}
    for k in keys:
        values = [t.params[k] for t in trajs]
        if all(isinstance(v, str) for v in values):
            out[k] = np.array(values, dtype=object)
        elif all(isinstance(v, bool | np.bool_) for v in values):
            out[k] = np.array(values, dtype=np.int8)
        elif all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
            out[k] = np.array(values, dtype=np.int64)
        elif all(isinstance(v, int | float | np.integer | np.floating) for v in values):
            out[k] = np.array(values, dtype=np.float64)
        else:
            raise ValueError(
                f"parameter {k!r} must be a number, bool or string in every trajectory, "
                f"got {[type(v).__name__ for v in values]}"
            )
    return out


def write_shard(
    path: str | os.PathLike,
    schema: Schema,
    trajectories: Sequence[Trajectory],
    *,
    n_frames: int,
    write_interval: float,
    attrs: dict[str, Any],
    records: Sequence[dict[str, Any]] = (),
    compression: Compression = DEFAULT_COMPRESSION,
) -> ShardInfo:
    """Write ``trajectories`` into one shard at ``path``, atomically.

    Parameters
    ----------
    path : path
        Final file name; a temporary sibling is written and renamed when complete.
    schema : Schema
    trajectories : sequence of Trajectory
        Each is checked against ``schema`` (shapes, names, finiteness) first.
    n_frames : int
        Frames per trajectory.
    write_interval : float
        Simulated seconds between frames; the ``time`` coordinate is ``k * write_interval``.
    attrs : dict
        Global provenance attributes (str, numbers, or JSON-serialisable values,
        which are stored as JSON strings with a ``_json`` suffix).
    records : sequence of dict
        The manifest records of every trajectory this shard's work unit handled
        (including dropped ones), kept in the shard so an interrupted run can resume.
    compression : Compression

    Returns
    -------
    ShardInfo
    """
    import h5netcdf  # deferred: only writers need it

    path = Path(path)
    for t in trajectories:
        t.check(schema, n_frames)
    ids = [t.id for t in trajectories]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate trajectory ids in one shard: {ids}")
    n = len(trajectories)
    h5kw = compression.h5_kwargs() if n else {}
    counts = np.array([t.n_ragged(schema) or 0 for t in trajectories], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])

    with atomic_path(path) as tmp, h5netcdf.File(tmp, "w") as f:
        dims: dict[str, int] = {"trajectory": n, "time": n_frames, **schema.all_sizes()}
        if schema.ragged_dim:
            dims[schema.ragged_dim] = int(offsets[-1])
        f.dimensions = dims

        tid = f.create_variable("trajectory", ("trajectory",), dtype=h5py.string_dtype())
        if n:
            tid[:] = np.array(ids, dtype=object)
        tv = f.create_variable("time", ("time",), dtype="f8",
                               data=np.arange(n_frames) * float(write_interval))
        tv.attrs.update(units="s", long_name="time since the start of the trajectory")
        for name, values in schema.coords.items():
            cv = f.create_variable(name, (name,), dtype="f8", data=np.asarray(values))
            cv.attrs["units"] = schema.coord_units.get(name, "m")
        for tname, cols in schema.tables.items():
            for col, values in cols.items():
                arr = np.asarray(values)
                dtype = h5py.string_dtype() if arr.dtype.kind in "US" else arr.dtype
                v = f.create_variable(f"{tname}_{col}", (tname,), dtype=dtype)
                v[:] = arr.astype(object) if arr.dtype.kind in "US" else arr
                v.attrs["long_name"] = f"column {col!r} of table {tname!r}"

        per_traj = {
            "seed": (np.array([t.seed for t in trajectories], dtype=np.int64), "1"),
            "dt": (np.array([t.dt for t in trajectories], dtype=np.float64), "s"),
            "substeps": (np.array([t.substeps for t in trajectories], dtype=np.int64), "1"),
        }
        for name, (arr, units) in per_traj.items():
            f.create_variable(name, ("trajectory",), data=arr).attrs["units"] = units
        for k, arr in _param_arrays(trajectories).items():
            dtype = h5py.string_dtype() if arr.dtype == object else arr.dtype
            v = f.create_variable(f"param_{k}", ("trajectory",), dtype=dtype)
            if n:
                v[:] = arr
            v.attrs["long_name"] = f"parameter {k!r} as the simulator used it"
            if arr.dtype == np.int8:  # HDF5 has no bool: the flag says how to read it back
                v.attrs["param_type"] = "bool"
        if schema.ragged_dim:
            cnt = f.create_variable(f"{schema.ragged_dim}_count", ("trajectory",), data=counts)
            cnt.attrs.update(sample_dimension=schema.ragged_dim, units="1",
                             long_name=f"number of {schema.ragged_dim} elements per trajectory")

        for var in schema.variables:
            _write_variable(f, schema, var, trajectories, offsets, n_frames, h5kw)

        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["kind"] = schema.kind
        f.attrs["schema_json"] = json.dumps(schema.to_json(), sort_keys=True)
        f.attrs["trajectory_records_json"] = json.dumps(list(records), sort_keys=True)
        f.attrs["write_interval"] = float(write_interval)
        f.attrs["n_frames"] = int(n_frames)
        for key, value in attrs.items():
            if isinstance(value, str | int | float | np.integer | np.floating) and not isinstance(
                value, bool
            ):
                f.attrs[key] = value
            else:
                f.attrs[f"{key}_json"] = json.dumps(value, sort_keys=True)
    return ShardInfo(path=path, sha256=sha256_file(path), bytes=path.stat().st_size,
                     trajectories=tuple(ids))


def _write_variable(f, schema: Schema, var: Variable, trajs: Sequence[Trajectory],
                    offsets: np.ndarray, n_frames: int, h5kw: dict) -> None:
    ragged = schema.is_ragged(var)
    dtype = np.dtype(var.dtype)
    if ragged:
        dims = (var.dims[0],) + (() if var.static else ("time",)) + var.dims[1:]
        inner = schema.frame_shape(var, 1)[1:]
        total = int(offsets[-1])
        shape = (total,) + (() if var.static else (n_frames,)) + inner
        per_traj_len = int(max(offsets[1:] - offsets[:-1], default=1))
        chunks = chunk_shape((per_traj_len, *shape[1:]), dtype.itemsize, has_time=not var.static)
    else:
        dims = ("trajectory",) + (() if var.static else ("time",)) + var.dims
        frame = schema.frame_shape(var)
        shape = (len(trajs),) + (() if var.static else (n_frames,)) + frame
        chunks = chunk_shape((1, *shape[1:]), dtype.itemsize, has_time=not var.static)
    kw = dict(h5kw, chunks=chunks) if h5kw and math.prod(shape) else {}
    v = f.create_variable(var.name, dims, dtype=dtype, **kw)
    for i, t in enumerate(trajs):
        arr = np.asarray(t.static[var.name] if var.static else t.frames[var.name])
        arr = arr.astype(dtype, copy=False)
        if ragged:
            if not var.static:
                arr = np.swapaxes(arr, 0, 1)  # (frames, n, ...) -> (n, frames, ...)
            v[int(offsets[i]) : int(offsets[i + 1])] = arr
        else:
            v[i] = arr
    v.attrs["units"] = var.units
    if var.long_name:
        v.attrs["long_name"] = var.long_name
    if var.flag_meanings:
        v.attrs["flag_values"] = np.arange(len(var.flag_meanings), dtype=dtype)
        v.attrs["flag_meanings"] = " ".join(var.flag_meanings)


def _decode_attrs(attrs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        v = v.decode() if isinstance(v, bytes) else v
        if k.endswith("_json"):
            out[k[: -len("_json")]] = json.loads(v)
        else:
            out[k] = v.item() if isinstance(v, np.generic) else v
    return out


def shard_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """A shard's global attributes (provenance, schema, trajectory records), JSON-decoded."""
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT_NAME:
                raise DatasetError(f"{path}: not a {FORMAT_NAME} shard")
            return _decode_attrs(f.attrs)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read shard attributes: {exc}") from exc


class ShardReader:
    """Read trajectories and windows from one shard with h5py.

    The file is opened on first use and reopened after a fork (each DataLoader
    worker gets its own handle); pickling drops the handle.
    """

    def __init__(self, path: str | os.PathLike, schema: Schema) -> None:
        self.path = Path(path)
        self.schema = schema
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._offsets: np.ndarray | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def _fail(self, what: str, exc: BaseException) -> DatasetError:
        return DatasetError(f"{self.path}: {what}: {exc}")

    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except (OSError, ValueError) as exc:
                raise self._fail("cannot open shard (missing, truncated or corrupt?)", exc) from exc
            self._pid = os.getpid()
            fmt = self._file.attrs.get("format")
            if fmt != FORMAT_NAME:
                raise DatasetError(f"{self.path}: not a {FORMAT_NAME} shard (format={fmt!r})")
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def _read(self, name: str, sel: tuple | slice = ()) -> np.ndarray:
        try:
            return self.file[name][sel]
        except (OSError, KeyError, ValueError) as exc:
            raise self._fail(f"cannot read {name!r}", exc) from exc

    @property
    def ids(self) -> list[str]:
        return [s.decode() if isinstance(s, bytes) else str(s) for s in self._read("trajectory")]

    @property
    def offsets(self) -> np.ndarray:
        if self._offsets is None:
            rd = self.schema.ragged_dim
            counts = self._read(f"{rd}_count") if rd else np.zeros(len(self.ids), dtype=np.int64)
            self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return self._offsets

    def attrs(self) -> dict[str, Any]:
        """Global attributes, JSON-decoded where stored as JSON."""
        return _decode_attrs(self.file.attrs)

    def read(self, name: str, row: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start:stop`` of variable ``name`` of trajectory ``row`` (frames first).

        Static variables ignore ``start``/``stop``.
        """
        var = self.schema.variable(name)
        if self.schema.is_ragged(var):
            lo, hi = int(self.offsets[row]), int(self.offsets[row + 1])
            if var.static:
                return self._read(name, np.s_[lo:hi])
            return np.swapaxes(self._read(name, np.s_[lo:hi, start:stop]), 0, 1)
        if var.static:
            return self._read(name, np.s_[row])
        return self._read(name, np.s_[row, start:stop])

    def read_trajectory(self, row: int) -> Trajectory:
        """Trajectory ``row`` in full, as a :class:`Trajectory`."""
        f = self.file
        params = {}
        for k in f:
            if k.startswith("param_"):
                v = self._read(k, np.s_[row])
                v = v.decode() if isinstance(v, bytes) else v
                v = v.item() if isinstance(v, np.generic) else v
                if f[k].attrs.get("param_type") == "bool":
                    v = bool(v)
                params[k[len("param_"):]] = v
        return Trajectory(
            id=self.ids[row],
            frames={v.name: self.read(v.name, row) for v in self.schema.dynamic},
            static={v.name: self.read(v.name, row) for v in self.schema.static},
            params=params,
            seed=int(self._read("seed", np.s_[row])),
            dt=float(self._read("dt", np.s_[row])),
            substeps=int(self._read("substeps", np.s_[row])),
        )
