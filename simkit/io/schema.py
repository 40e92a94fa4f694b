"""What a dataset holds: the kinds, their variables, dimensions and units.

A :class:`Schema` is declared by a simulator and stored in the manifest. It names
every variable a trajectory carries, with the dimensions of *one frame* (or of the
whole trajectory for static variables); the dataset format adds the ``trajectory``
and ``time`` axes itself.

Shapes handed to and returned by the I/O layer are always frames-first:

* time-dependent variable: ``(n_frames, *frame_shape)``
* static variable: ``frame_shape``

where ``frame_shape`` follows ``Variable.dims``. A *ragged* dimension (``particle``
for the particles kind, ``entry`` for CSR linear systems) has its own length per
trajectory and must come first in ``dims``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "COMPONENT_DIMS",
    "Variable",
    "Schema",
    "Trajectory",
]

KINDS = ("grid", "particles", "nbody", "linear_systems")
#: Dimensions that index the components of a vector or tensor; statistics keep them apart.
COMPONENT_DIMS = ("component", "row", "col")
#: Dimensions the format adds itself.
FORMAT_DIMS = ("trajectory", "time")
#: Variable names the format writes itself.
FORMAT_VARIABLES = ("trajectory", "time", "seed", "dt", "substeps")

_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Variable:
    """One stored quantity.

    Parameters
    ----------
    name : str
        Variable name in the shards (letters, digits, ``_``).
    dims : tuple of str
        Dimensions of one frame (static: of the whole trajectory), e.g.
        ``("component", "y", "x")`` for a 2D velocity on a grid.
    units : str
        SI units, e.g. ``"m/s"``; ``"1"`` for dimensionless numbers and codes.
    dtype : str
        Storage dtype, one of float32, float64, int8, int16, int32, int64, uint8.
    static : bool
        True for quantities fixed over a trajectory (obstacle masks, particle type).
    long_name : str
        Human-readable description.
    flag_meanings : tuple of str
        For integer code variables: meaning of value 0, 1, ... (CF ``flag_meanings``).
    """

    name: str
    dims: tuple[str, ...]
    units: str
    dtype: str = "float32"
    static: bool = False
    long_name: str = ""
    flag_meanings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(self.dims))
        object.__setattr__(self, "flag_meanings", tuple(self.flag_meanings))
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"variable name must match {_NAME.pattern} (letters, digits, '_'), "
                f"got {self.name!r}"
            )
        if self.dtype not in _DTYPES:
            raise ValueError(
                f"variable {self.name!r}: dtype must be one of {list(_DTYPES)}, got {self.dtype!r}"
            )
        for d in self.dims:
            if d in FORMAT_DIMS:
                raise ValueError(
                    f"variable {self.name!r}: dims must not contain {d!r}; "
                    "the format adds 'trajectory' and 'time' itself"
                )
        if not isinstance(self.units, str) or not self.units:
            raise ValueError(f"variable {self.name!r}: units must be a non-empty string")

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith("float")

    @property
    def component_dims(self) -> tuple[str, ...]:
        return tuple(d for d in self.dims if d in COMPONENT_DIMS)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["dims"] = list(self.dims)
        out["flag_meanings"] = list(self.flag_meanings)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Variable:
        return cls(**data)


@dataclass(frozen=True)
class Schema:
    """The layout of a dataset, declared by the simulator that writes it.

    Parameters
    ----------
    kind : {"grid", "particles", "nbody", "linear_systems"}
    variables : tuple of Variable
    sizes : mapping of str to int
        Length of every fixed dimension (``x``, ``component``, ``body``, ...).
    ragged_dim : str, optional
        The dimension whose length varies per trajectory (``"particle"``, ``"entry"``).
    space_dims : tuple of str
        Grid dimensions in storage order, e.g. ``("y", "x")`` or ``("z", "y", "x")``.
    coords : mapping of str to sequence of float
        1D coordinate values of fixed dimensions (cell centres of a grid), in
        ``coord_units``.
    coord_units : mapping of str to str
    tables : mapping of str to mapping of str to sequence
        Named lookup tables, e.g. ``{"material": {"name": [...], "density": [...]}}``;
        a table adds a dimension of its own name.
    periodic : tuple of str, or None
        The space dims whose domain wraps around (a torus along that axis, e.g. both
        axes of a spectral solver); every space dim not named is *bounded* (walls,
        inflow, outflow). Surrogates use it: circular padding and FFT derivatives only
        along periodic axes. ``None`` means *not recorded*: the schema of a dataset
        written before the field existed (its JSON has no ``periodic`` key, and keeps
        none, so such datasets still validate); :attr:`boundaries_known` is then False
        and :meth:`is_periodic` refuses to guess.
    """

    kind: str
    variables: tuple[Variable, ...]
    sizes: Mapping[str, int] = field(default_factory=dict)
    ragged_dim: str | None = None
    space_dims: tuple[str, ...] = ()
    coords: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    coord_units: Mapping[str, str] = field(default_factory=dict)
    tables: Mapping[str, Mapping[str, tuple]] = field(default_factory=dict)
    periodic: tuple[str, ...] | None = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", tuple(self.variables))
        object.__setattr__(self, "space_dims", tuple(self.space_dims))
        if isinstance(self.periodic, str):
            raise TypeError(f"schema: periodic must be a sequence of space dim names, got the "
                            f"string {self.periodic!r}")
        if self.periodic is not None:
            object.__setattr__(self, "periodic", tuple(self.periodic))
        object.__setattr__(self, "sizes", {k: int(v) for k, v in self.sizes.items()})
        object.__setattr__(
            self, "coords", {k: tuple(float(x) for x in v) for k, v in self.coords.items()}
        )
        object.__setattr__(
            self,
            "tables",
            {t: {c: tuple(v) for c, v in cols.items()} for t, cols in self.tables.items()},
        )
        self._check()

    # ------------------------------------------------------------------ queries
    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"no variable {name!r}; this dataset has {self.names}")

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def dynamic(self) -> list[Variable]:
        return [v for v in self.variables if not v.static]

    @property
    def static(self) -> list[Variable]:
        return [v for v in self.variables if v.static]

    def is_ragged(self, var: Variable) -> bool:
        return self.ragged_dim is not None and bool(var.dims) and var.dims[0] == self.ragged_dim

    def all_sizes(self) -> dict[str, int]:
        """Fixed dimension sizes including the table dimensions."""
        out = dict(self.sizes)
        for t, cols in self.tables.items():
            out[t] = len(next(iter(cols.values()))) if cols else 0
        return out

    @property
    def boundaries_known(self) -> bool:
        """Whether the schema records which space dims are periodic (datasets written
        before the field was introduced do not)."""
        return self.periodic is not None

    def is_periodic(self, dim: str) -> bool:
        """Whether the space dim ``dim`` wraps around (``False``: bounded).

        Raises
        ------
        ValueError
            ``dim`` is not one of :attr:`space_dims`, or the schema does not record its
            boundaries (:attr:`boundaries_known` is False).
        """
        if dim not in self.space_dims:
            raise ValueError(f"dim must be one of the space dims {list(self.space_dims)}, "
                             f"got {dim!r}")
        if self.periodic is None:
            raise ValueError("this schema does not record which axes are periodic (a dataset "
                             "written before the field existed): regenerate it to know")
        return dim in self.periodic

    def frame_shape(self, var: Variable, n_ragged: int | None = None) -> tuple[int, ...]:
        sizes = self.all_sizes()
        shape = []
        for d in var.dims:
            if d == self.ragged_dim:
                if n_ragged is None:
                    raise ValueError(
                        f"variable {var.name!r} is ragged along {d!r}: give its length"
                    )
                shape.append(int(n_ragged))
            else:
                shape.append(sizes[d])
        return tuple(shape)

    # ------------------------------------------------------------------ json
    def to_json(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "variables": [v.to_json() for v in self.variables],
            "sizes": dict(self.sizes),
            "ragged_dim": self.ragged_dim,
            "space_dims": list(self.space_dims),
            "coords": {k: list(v) for k, v in self.coords.items()},
            "coord_units": dict(self.coord_units),
            "tables": {t: {c: list(v) for c, v in cols.items()} for t, cols in self.tables.items()},
        }
        if self.periodic is not None:  # None (not recorded) keeps an old schema's JSON as it was
            out["periodic"] = list(self.periodic)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schema:
        data = dict(data)
        data["variables"] = tuple(Variable.from_json(v) for v in data["variables"])
        data.setdefault("periodic", None)  # written before the field: not recorded
        return cls(**data)

    # ------------------------------------------------------------------ checks
    def _check(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown dataset kind {self.kind!r}; expected one of {list(KINDS)}")
        names = self.names
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"schema: duplicate variable names {dupes}")
        reserved = self._reserved_names() & set(names)
        if reserved:
            raise ValueError(
                f"schema: variable names {sorted(reserved)} are written by the format itself"
            )
        for d, n in self.sizes.items():
            if n < 1:
                raise ValueError(f"schema: dimension {d!r} must have size >= 1, got {n}")
        for t, cols in self.tables.items():
            if not cols:
                raise ValueError(f"schema: table {t!r} has no columns")
            lengths = {c: len(v) for c, v in cols.items()}
            if len(set(lengths.values())) != 1:
                raise ValueError(f"schema: columns of table {t!r} differ in length: {lengths}")
        known = set(self.all_sizes()) | ({self.ragged_dim} if self.ragged_dim else set())
        for v in self.variables:
            for d in v.dims:
                if d not in known:
                    raise ValueError(
                        f"variable {v.name!r}: dimension {d!r} has no size; "
                        f"known dimensions are {sorted(known)}"
                    )
            if self.ragged_dim in v.dims[1:]:
                raise ValueError(
                    f"variable {v.name!r}: the ragged dimension {self.ragged_dim!r} must come first"
                )
        periodic = self.periodic or ()
        stray = [d for d in periodic if d not in self.space_dims]
        if stray or len(set(periodic)) != len(periodic):
            raise ValueError(f"schema: periodic must name distinct space dims "
                             f"{list(self.space_dims)}, got {list(self.periodic)}")
        for d, values in self.coords.items():
            if d not in self.sizes or len(values) != self.sizes[d]:
                raise ValueError(
                    f"schema: coordinate {d!r} has {len(values)} values for a dimension of "
                    f"size {self.sizes.get(d)}"
                )
        if not self.dynamic:
            raise ValueError("schema: at least one time-dependent variable is needed")
        getattr(self, f"_check_{self.kind}")()

    def _reserved_names(self) -> set[str]:
        out = set(FORMAT_VARIABLES) | set(self.space_dims) | set(self.coords)
        if self.ragged_dim:
            out.add(f"{self.ragged_dim}_count")
        for t, cols in self.tables.items():
            out |= {f"{t}_{c}" for c in cols}
        return out

    def _require(self, name: str, *, dims: tuple[str, ...], static: bool, float_: bool | None,
                 dtype: str | None = None) -> None:
        try:
            v = self.variable(name)
        except KeyError:
            raise ValueError(
                f"a {self.kind} schema needs a variable {name!r} with dims {dims}"
            ) from None
        if v.dims != dims or v.static != static:
            raise ValueError(
                f"{self.kind} schema: variable {name!r} must have dims {dims} and "
                f"static={static}, got dims {v.dims} and static={v.static}"
            )
        if float_ is not None and v.is_float != float_:
            raise ValueError(f"{self.kind} schema: variable {name!r} must be "
                             f"{'a float' if float_ else 'an integer'} type, got {v.dtype}")
        if dtype is not None and v.dtype != dtype:
            raise ValueError(
                f"{self.kind} schema: variable {name!r} must be {dtype}, got {v.dtype}"
            )

    def _check_grid(self) -> None:
        if self.ragged_dim is not None:
            raise ValueError("grid schema: no ragged dimension allowed")
        if len(self.space_dims) not in (2, 3):
            raise ValueError(f"grid schema: space_dims must name 2 or 3 dimensions, "
                             f"got {self.space_dims}")
        space = self.space_dims
        for v in self.variables:
            if v.is_float and v.dims[-len(space):] != space:
                raise ValueError(
                    f"grid schema: field {v.name!r} must end with the space dims {space}, "
                    f"got {v.dims}"
                )
            if v.is_float and any(d not in COMPONENT_DIMS for d in v.dims[: -len(space)]):
                raise ValueError(
                    f"grid schema: field {v.name!r} may only have component dims "
                    f"{list(COMPONENT_DIMS)} before the space dims, got {v.dims}"
                )

    def _check_particles(self) -> None:
        if self.ragged_dim != "particle":
            raise ValueError("particles schema: ragged_dim must be 'particle'")
        self._require("position", dims=("particle", "component"), static=False, float_=True)
        self._require("particle_type", dims=("particle",), static=True, float_=False)
        if "material" not in self.tables or "name" not in self.tables["material"]:
            raise ValueError("particles schema: a 'material' table with a 'name' column is needed")

    def _check_nbody(self) -> None:
        if self.ragged_dim is not None:
            raise ValueError("nbody schema: no ragged dimension allowed")
        if self.sizes.get("component") != 3:
            raise ValueError("nbody schema: 'component' must have size 3 (positions are 3D)")
        for name in ("position", "velocity"):
            self._require(name, dims=("body", "component"), static=False, float_=True,
                          dtype="float64")
        self._require("mass", dims=("body",), static=True, float_=True, dtype="float64")
        self._require("energy", dims=(), static=False, float_=True, dtype="float64")
        for name in ("momentum", "angular_momentum"):
            self._require(name, dims=("component",), static=False, float_=True, dtype="float64")

    def _check_linear_systems(self) -> None:
        if self.ragged_dim is None:
            space = self.space_dims
            if len(space) not in (2, 3):
                raise ValueError("linear_systems schema (stencil form): space_dims must name "
                                 "2 or 3 dimensions")
            self._require("stencil", dims=("offset", *space), static=False, float_=True)
            if "offset" not in self.tables or set(self.tables["offset"]) != set(space):
                raise ValueError("linear_systems schema (stencil form): an 'offset' table with "
                                 f"one integer column per space dim {list(space)} is needed")
            self._require("rhs", dims=space, static=False, float_=True)
            optional = {"solution": True, "mask": False}
            for name, is_float in optional.items():
                if name in self.names:
                    self._require(name, dims=space, static=self.variable(name).static,
                                  float_=is_float)
        elif self.ragged_dim == "entry":
            self._require("csr_data", dims=("entry",), static=False, float_=True)
            self._require("csr_indices", dims=("entry",), static=False, float_=False)
            self._require("csr_indptr", dims=("row_ptr",), static=False, float_=False)
            self._require("rhs", dims=("row",), static=False, float_=True)
            if self.sizes.get("row_ptr") != self.sizes.get("row", -1) + 1:
                raise ValueError("linear_systems schema (CSR form): 'row_ptr' must have size "
                                 "'row' + 1")
            if "solution" in self.names:
                self._require("solution", dims=("row",), static=False, float_=True)
        else:
            raise ValueError("linear_systems schema: ragged_dim must be None (stencil form) "
                             "or 'entry' (CSR form)")


@dataclass
class Trajectory:
    """One trajectory as handed to a writer or returned by a reader.

    Parameters
    ----------
    id : str
        Unique within the dataset, e.g. ``"train-000003"``.
    frames : dict of str to ndarray
        Time-dependent variables, each ``(n_frames, *frame_shape)``.
    static : dict of str to ndarray
        Static variables, each ``frame_shape``.
    params : dict of str to scalar
        Parameters as the simulator actually used them.
    seed : int
        Seed the simulator was run with.
    dt : float
        Simulator time step in seconds (``nan`` if not applicable).
    substeps : int
        Simulator steps per output frame (0 if not applicable).
    """

    id: str
    frames: dict[str, np.ndarray]
    static: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    dt: float = float("nan")
    substeps: int = 0

    def as_stored(self, schema: Schema) -> Trajectory:
        """A copy whose arrays have the schema's storage dtypes (what a reader gets back)."""
        def cast(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {k: np.asarray(v).astype(schema.variable(k).dtype, copy=False)
                    for k, v in arrays.items()}

        return Trajectory(self.id, cast(self.frames), cast(self.static), dict(self.params),
                          self.seed, self.dt, self.substeps)

    def n_ragged(self, schema: Schema) -> int | None:
        """Length of the ragged dimension for this trajectory (``None`` if not ragged)."""
        for v in schema.variables:
            if schema.is_ragged(v):
                arr = self.static.get(v.name) if v.static else self.frames.get(v.name)
                if arr is not None:
                    return int(arr.shape[0] if v.static else arr.shape[1])
        return None

    def check(self, schema: Schema, n_frames: int) -> None:
        """Raise ``ValueError`` naming the variable if shapes, names or values are wrong.

        Non-finite values are refused: a trajectory holding them must be recorded as
        failed, never stored.
        """
        expected_dyn = {v.name for v in schema.dynamic}
        expected_static = {v.name for v in schema.static}
        for got, want, what in (
            (set(self.frames), expected_dyn, "frames"),
            (set(self.static), expected_static, "static"),
        ):
            if got != want:
                raise ValueError(
                    f"trajectory {self.id!r}: {what} must hold exactly {sorted(want)}; "
                    f"missing {sorted(want - got)}, unexpected {sorted(got - want)}"
                )
        n_rag = self.n_ragged(schema)
        for v in schema.variables:
            arr = np.asarray(self.static[v.name] if v.static else self.frames[v.name])
            shape = schema.frame_shape(v, n_rag)
            want = shape if v.static else (n_frames, *shape)
            if arr.shape != want:
                raise ValueError(
                    f"trajectory {self.id!r}: variable {v.name!r} must have shape {want} "
                    f"({'' if v.static else 'n_frames, '}{', '.join(v.dims)}), got {arr.shape}"
                )
            if v.is_float:
                bad = ~np.isfinite(arr)
                if bad.any():
                    idx = tuple(int(i) for i in np.argwhere(bad)[0])
                    raise ValueError(
                        f"trajectory {self.id!r}: variable {v.name!r} holds non-finite values, "
                        f"first at index {idx}"
                    )
            elif not np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
                raise ValueError(
                    f"trajectory {self.id!r}: variable {v.name!r} must be integer "
                    f"({v.dtype}), got {arr.dtype}"
                )
