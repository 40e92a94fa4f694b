"""Recipes: what to simulate, which parameters to sample, how to split, and the seed.

A recipe is YAML::

    simulator: heat            # a registered simulator
    scene: modes2d             # one of its scenes
    fixed: {resolution: 64}    # parameters every trajectory shares
    sampled:                   # parameters drawn per trajectory
      diffusivity: {loguniform: [1.0e-3, 1.0e-1]}
      n_modes: {choice: [2, 4, 8]}
    frames: 20                 # stored frames per trajectory (the first at t = 0)
    write_interval: 0.05       # seconds between stored frames
    splits:
      train: 64
      valid: 8
      test_ood: {count: 8, sampled: {diffusivity: {loguniform: [0.1, 1.0]}}}
    seed: 1234                 # master seed
    trajectories_per_shard: 8  # optional
    on_failure: {action: retry, max_attempts: 3}   # or {action: drop}
    precision: f32             # Taichi simulators only
    storage: {compression: gzip, level: 4, shuffle: true, fletcher32: true}

Every trajectory's parameters and seed derive from ``(seed, split, index, attempt)``
alone, so any worker can build any trajectory and a resumed run matches an
uninterrupted one.

Parameters are checked against the scene's declaration
(:func:`simkit.registry.resolve_params`) when the recipe is parsed, without importing
the simulator: a misspelled or conflicting parameter fails before anything is written.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simkit.errors import RecipeError
from simkit.io.shard import DEFAULT_COMPRESSION, Compression
from simkit.registry import get_simulator, resolve_params

__all__ = ["Recipe", "Distribution", "WorkUnit", "load_recipe"]

_TOP_KEYS = {
    "simulator": "registered simulator name",
    "scene": "scene of that simulator",
    "fixed": "parameters shared by every trajectory",
    "sampled": "parameters drawn per trajectory",
    "frames": "stored frames per trajectory",
    "write_interval": "seconds between stored frames",
    "splits": "split name -> trajectory count or {count, sampled}",
    "seed": "master seed",
    "trajectories_per_shard": "trajectories per shard file",
    "on_failure": "{action: retry|drop, max_attempts}",
    "precision": "f32 | f64 (Taichi simulators)",
    "storage": "{compression: gzip|lzf|none, level, shuffle, fletcher32}",
    "description": "free text for the dataset card",
}
_REQUIRED = ("simulator", "scene", "frames", "write_interval", "splits", "seed")
_DISTRIBUTIONS = ("uniform", "loguniform", "choice", "randint")


def _check_keys(where: str, data: Mapping[str, Any], valid: list[str] | Mapping) -> None:
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise RecipeError(f"unknown key{'s' if len(unknown) > 1 else ''} {unknown} in {where}; "
                          f"valid keys: {sorted(valid)}")


@dataclass(frozen=True)
class Distribution:
    """A sampled parameter: ``uniform``/``loguniform`` over ``[lo, hi]`` (floats),
    ``randint`` over ``[lo, hi]`` inclusive (ints), or ``choice`` among values."""

    kind: str
    args: tuple

    @classmethod
    def parse(cls, name: str, spec: Any) -> Distribution:
        where = f"sampled parameter {name!r}"
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise RecipeError(f"{where}: expected one of {{uniform|loguniform|randint: [lo, hi]}} "
                              f"or {{choice: [values]}}, got {spec!r}")
        _check_keys(where, spec, list(_DISTRIBUTIONS))
        kind, args = next(iter(spec.items()))
        if not isinstance(args, list | tuple) or not args:
            raise RecipeError(f"{where}: {kind} needs a non-empty list, got {args!r}")
        args = tuple(args)
        if kind == "choice":
            for v in args:
                if not isinstance(v, int | float | str | bool):
                    raise RecipeError(f"{where}: choices must be numbers, bools or strings, "
                                      f"got {v!r}")
            return cls(kind, args)
        if len(args) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                     for v in args):
            raise RecipeError(f"{where}: {kind} needs [lo, hi] numbers, got {list(args)}")
        lo, hi = args
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise RecipeError(f"{where}: {kind} needs finite lo <= hi, got [{lo}, {hi}]")
        if kind == "loguniform" and lo <= 0:
            raise RecipeError(f"{where}: loguniform needs lo > 0, got {lo}")
        if kind == "randint" and not (isinstance(lo, int) and isinstance(hi, int)):
            raise RecipeError(f"{where}: randint needs integer bounds, got [{lo}, {hi}]")
        return cls(kind, (lo, hi))

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "choice":
            v = self.args[int(rng.integers(len(self.args)))]
            return v
        lo, hi = self.args
        if self.kind == "uniform":
            return float(rng.uniform(lo, hi))
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return int(rng.integers(lo, hi + 1))

    def to_json(self) -> dict[str, list]:
        return {self.kind: list(self.args)}


@dataclass(frozen=True)
class WorkUnit:
    """One shard's worth of trajectories: ``split``, shard ``index`` and the trajectory
    indices (within the split) it holds."""

    split: str
    index: int
    members: tuple[int, ...]


@dataclass(frozen=True)
class Recipe:
    """A parsed, validated recipe. Build with :func:`load_recipe` or :meth:`from_dict`."""

    simulator: str
    scene: str
    frames: int
    write_interval: float
    splits: dict[str, int]
    seed: int
    fixed: dict[str, Any] = field(default_factory=dict)
    sampled: dict[str, Distribution] = field(default_factory=dict)
    split_sampled: dict[str, dict[str, Distribution]] = field(default_factory=dict)
    trajectories_per_shard: int = 4
    on_failure: str = "retry"
    max_attempts: int = 3
    precision: str = "f32"
    compression: Compression = DEFAULT_COMPRESSION
    description: str = ""

    # -------------------------------------------------------------- parsing
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        if not isinstance(data, Mapping):
            raise RecipeError(f"a recipe must be a mapping, got {type(data).__name__}")
        _check_keys("recipe", data, _TOP_KEYS)
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise RecipeError(f"recipe is missing required keys {missing}")
        try:
            scene = get_simulator(str(data["simulator"])).check_scene(str(data["scene"]))
        except ValueError as exc:
            raise RecipeError(str(exc)) from None
        frames, wi, seed = data["frames"], data["write_interval"], data["seed"]
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
            raise RecipeError(f"'frames' must be a positive int, got {frames!r}")
        if not isinstance(wi, int | float) or isinstance(wi, bool) or not wi > 0:
            raise RecipeError(f"'write_interval' must be a positive number of seconds, got {wi!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise RecipeError(f"'seed' must be a non-negative int, got {seed!r}")
        fixed = dict(data.get("fixed") or {})
        for k, v in fixed.items():
            if not isinstance(v, int | float | str | bool):
                raise RecipeError(f"fixed parameter {k!r} must be a number, bool or string, "
                                  f"got {v!r}")
        sampled = {k: Distribution.parse(k, v) for k, v in (data.get("sampled") or {}).items()}
        both = sorted(set(fixed) & set(sampled))
        if both:
            raise RecipeError(f"parameters {both} are both fixed and sampled")

        raw_splits = data["splits"]
        if not isinstance(raw_splits, Mapping) or not raw_splits:
            raise RecipeError("'splits' must map split names to trajectory counts, "
                              "e.g. {train: 64, test: 8}")
        splits, split_sampled = {}, {}
        for name, spec in raw_splits.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise RecipeError(f"split name must be an identifier, got {name!r}")
            if isinstance(spec, Mapping):
                _check_keys(f"split {name!r}", spec, ["count", "sampled"])
                count = spec.get("count")
                over = {k: Distribution.parse(k, v) for k, v in (spec.get("sampled") or {}).items()}
                clash = sorted(set(over) & set(fixed))
                if clash:
                    raise RecipeError(f"split {name!r} samples {clash}, which are fixed")
                if over:
                    split_sampled[name] = over
            else:
                count = spec
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise RecipeError(f"split {name!r}: count must be a positive int, got {count!r}")
            splits[name] = count

        drawn = sorted({*sampled, *(k for over in split_sampled.values() for k in over)})
        by_scene = [k for k in drawn if k in scene.fixed]
        if by_scene:
            raise RecipeError(f"parameters {by_scene} are fixed by the scene "
                              f"{data['scene']!r}; they cannot be sampled")

        per_shard = data.get("trajectories_per_shard", 4)
        if not isinstance(per_shard, int) or per_shard < 1:
            raise RecipeError(f"'trajectories_per_shard' must be a positive int, got {per_shard!r}")
        fail = dict(data.get("on_failure") or {})
        _check_keys("on_failure", fail, ["action", "max_attempts"])
        action = fail.get("action", "retry")
        if action not in ("retry", "drop"):
            raise RecipeError(f"on_failure.action must be 'retry' or 'drop', got {action!r}")
        attempts = fail.get("max_attempts", 3 if action == "retry" else 1)
        if not isinstance(attempts, int) or attempts < 1:
            raise RecipeError(f"on_failure.max_attempts must be a positive int, got {attempts!r}")
        precision = data.get("precision", "f32")
        if precision not in ("f32", "f64"):
            raise RecipeError(f"'precision' must be 'f32' or 'f64', got {precision!r}")
        storage = dict(data.get("storage") or {})
        _check_keys("storage", storage, ["compression", "level", "shuffle", "fletcher32"])
        codec = storage.get("compression", "gzip")
        try:
            compression = Compression(None if codec in (None, "none") else codec,
                                      level=storage.get("level", 4),
                                      shuffle=bool(storage.get("shuffle", True)),
                                      fletcher32=bool(storage.get("fletcher32", True)))
        except ValueError as exc:
            raise RecipeError(f"storage: {exc}") from None
        recipe = cls(simulator=str(data["simulator"]), scene=str(data["scene"]), frames=frames,
                     write_interval=float(wi), splits=splits, seed=seed, fixed=fixed,
                     sampled=sampled, split_sampled=split_sampled,
                     trajectories_per_shard=per_shard, on_failure=action,
                     max_attempts=attempts if action == "retry" else 1, precision=precision,
                     compression=compression, description=str(data.get("description", "")))
        recipe._check_params()
        return recipe

    def _check_params(self) -> None:
        """Resolve the first trajectory of every split as its simulator will (the keys
        are the same for every trajectory of a split)."""
        for split in sorted(self.splits, key=lambda s: s in self.split_sampled):  # shared first
            try:
                resolve_params(self.simulator, self.scene, self.params(split, 0))
            except ValueError as exc:
                where = f"split {split!r}: " if split in self.split_sampled else ""
                raise RecipeError(f"{where}{exc}") from None

    def to_json(self) -> dict[str, Any]:
        """The fully resolved recipe (defaults filled in), as stored with the data."""
        splits: dict[str, Any] = {}
        for name, count in self.splits.items():
            if name in self.split_sampled:
                splits[name] = {"count": count, "sampled": {
                    k: d.to_json() for k, d in self.split_sampled[name].items()}}
            else:
                splits[name] = count
        return {
            "simulator": self.simulator,
            "scene": self.scene,
            "fixed": dict(self.fixed),
            "sampled": {k: d.to_json() for k, d in self.sampled.items()},
            "frames": self.frames,
            "write_interval": self.write_interval,
            "splits": splits,
            "seed": self.seed,
            "trajectories_per_shard": self.trajectories_per_shard,
            "on_failure": {"action": self.on_failure, "max_attempts": self.max_attempts},
            "precision": self.precision,
            "storage": {"compression": self.compression.codec or "none",
                        "level": self.compression.level, "shuffle": self.compression.shuffle,
                        "fletcher32": self.compression.fletcher32},
            "description": self.description,
        }

    # -------------------------------------------------------------- work units
    def trajectory_id(self, split: str, index: int) -> str:
        return f"{split}-{index:06d}"

    def _seed_sequence(self, split: str, index: int, *stream: int) -> np.random.SeedSequence:
        # crc32 of the split name, not its position: adding a split changes no other one.
        return np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(split.encode()), index,
                                                            *stream))

    def params(self, split: str, index: int) -> dict[str, Any]:
        """Parameters of trajectory ``index`` of ``split`` (fixed, then sampled)."""
        dists = {**self.sampled, **self.split_sampled.get(split, {})}
        rng = np.random.default_rng(self._seed_sequence(split, index, 0))
        return {**self.fixed, **{k: dists[k].sample(rng) for k in sorted(dists)}}

    def simulation_seed(self, split: str, index: int, attempt: int) -> int:
        """Seed of the simulator for the given attempt (a retry gets a fresh one)."""
        return int(self._seed_sequence(split, index, 1, attempt).generate_state(1)[0])

    def work_units(self) -> list[WorkUnit]:
        """Shards to write, in split order."""
        out = []
        per = self.trajectories_per_shard
        for split, count in self.splits.items():
            for s, lo in enumerate(range(0, count, per)):
                out.append(WorkUnit(split, s, tuple(range(lo, min(lo + per, count)))))
        return out


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` as a string; recipes mean the number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and validate a recipe YAML file."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe)
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Recipe.from_dict(data)
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
