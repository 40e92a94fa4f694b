"""Normalisation statistics, from the train split only, in float64.

Per float variable and per component: count, mean, std (population), rms, min and
max of the values, of the first frame differences ``x[t+1] - x[t]`` (per frame, and
per second = per frame / write_interval) and of the second frame differences
``x[t+2] - 2 x[t+1] + x[t]`` (per frame^2, and per second^2 = per frame^2 /
write_interval^2; for positions the acceleration a graph network predicts). For the
particles kind the same again per particle type. Partial results are merged with
Chan et al.'s parallel update, so shards and trajectories may be visited in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simkit.io.schema import COMPONENT_DIMS, Schema, Variable

__all__ = [
    "Moments", "component_labels", "merge_accumulators", "stats_json", "trajectory_moments",
]


@dataclass
class Moments:
    """Running count, mean, M2 (sum of squared deviations), min and max per component."""

    n: int
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def empty(cls, k: int) -> Moments:
        return cls(0, np.zeros(k), np.zeros(k), np.full(k, np.inf), np.full(k, -np.inf))

    @classmethod
    def of(cls, x: np.ndarray) -> Moments:
        """Moments of samples ``x`` of shape ``(n, k)``, in float64."""
        x = np.asarray(x, dtype=np.float64)
        mean = x.mean(axis=0)
        return cls(x.shape[0], mean, ((x - mean) ** 2).sum(axis=0), x.min(axis=0), x.max(axis=0))

    def update(self, x: np.ndarray) -> None:
        """Add samples ``x`` of shape ``(n, k)``."""
        if len(x):
            self.merge(Moments.of(x))

    def merge(self, other: Moments) -> None:
        """Chan, Golub & LeVeque's pairwise update."""
        if other.n == 0:
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.n / n)
        self.m2 = self.m2 + other.m2 + delta**2 * (self.n * other.n / n)
        self.min = np.minimum(self.min, other.min)
        self.max = np.maximum(self.max, other.max)
        self.n = n

    def summary(self, units: str, scale: float = 1.0) -> dict[str, Any]:
        """Per-component lists; ``scale`` multiplies every value (e.g. 1/dt)."""
        var = self.m2 / max(self.n, 1)
        return {
            "units": units,
            "count": int(self.n),
            "mean": (self.mean * scale).tolist(),
            "std": (np.sqrt(var) * abs(scale)).tolist(),
            "rms": (np.sqrt(var + self.mean**2) * abs(scale)).tolist(),
            "min": (np.minimum(self.min * scale, self.max * scale)).tolist(),
            "max": (np.maximum(self.min * scale, self.max * scale)).tolist(),
        }


def component_labels(schema: Schema, var: Variable) -> list[str]:
    """Labels of the components: ``["u"]`` (scalar), ``["u[0]", "u[1]"]`` (vector),
    ``["s[0,0]", "s[0,1]", ...]`` (tensor)."""
    sizes = schema.all_sizes()
    comp = var.component_dims
    if not comp:
        return [var.name]
    idx = np.ndindex(*(sizes[d] for d in comp))
    return [f"{var.name}[{','.join(str(i) for i in ix)}]" for ix in idx]


def _as_rows(var: Variable, arr: np.ndarray, lead: int) -> np.ndarray:
    """``(..., k)`` rows: components last, everything else flattened."""
    comp_axes = [lead + i for i, d in enumerate(var.dims) if d in COMPONENT_DIMS]
    k = int(np.prod([arr.shape[a] for a in comp_axes])) if comp_axes else 1
    moved = np.moveaxis(arr, comp_axes, list(range(arr.ndim - len(comp_axes), arr.ndim)))
    return moved.reshape(-1, k)


@dataclass
class DiffMoments:
    """Moments of the first (``d1``) and second (``d2``) frame differences."""

    d1: Moments
    d2: Moments

    @classmethod
    def empty(cls, k: int) -> DiffMoments:
        return cls(Moments.empty(k), Moments.empty(k))

    def merge(self, other: DiffMoments) -> None:
        self.d1.merge(other.d1)
        self.d2.merge(other.d2)


@dataclass
class VariableMoments:
    """Running moments of one variable: values, frame differences (``None`` for static
    variables) and the same per particle type."""

    values: Moments
    diffs: DiffMoments | None
    by_type: dict[int, tuple[Moments, DiffMoments | None]] = field(default_factory=dict)


def trajectory_moments(
    schema: Schema, frames: dict[str, np.ndarray], static: dict[str, np.ndarray],
    acc: dict[str, VariableMoments] | None = None,
) -> dict[str, VariableMoments]:
    """Add one trajectory (frames-first arrays) to the running moments ``acc``."""
    acc = {} if acc is None else acc
    types = static.get("particle_type") if schema.kind == "particles" else None
    for var in schema.variables:
        if not var.is_float:
            continue
        k = len(component_labels(schema, var))
        arr = static[var.name] if var.static else frames[var.name]
        lead = 0 if var.static else 1
        diffs = None if var.static else DiffMoments.empty(k)
        vm = acc.setdefault(var.name, VariableMoments(Moments.empty(k), diffs))
        vm.values.update(_as_rows(var, arr, lead))
        if not var.static:
            d1 = np.diff(np.asarray(arr, dtype=np.float64), axis=0)
            d2 = np.diff(d1, axis=0)
            vm.diffs.d1.update(_as_rows(var, d1, 1))
            vm.diffs.d2.update(_as_rows(var, d2, 1))
        if types is not None and schema.is_ragged(var):
            for t in np.unique(types):
                sel = types == t
                m_v, m_d = vm.by_type.setdefault(
                    int(t), (Moments.empty(k), None if var.static else DiffMoments.empty(k))
                )
                m_v.update(_as_rows(var, arr[sel] if var.static else arr[:, sel], lead))
                if not var.static:
                    m_d.d1.update(_as_rows(var, d1[:, sel], 1))
                    m_d.d2.update(_as_rows(var, d2[:, sel], 1))
    return acc


def merge_accumulators(into: dict[str, VariableMoments],
                       other: dict[str, VariableMoments]) -> dict[str, VariableMoments]:
    """Merge the running moments ``other`` (e.g. one shard's) into ``into``; returns ``into``."""
    for name, vm in other.items():
        dst = into.get(name)
        if dst is None:
            into[name] = vm
            continue
        dst.values.merge(vm.values)
        if vm.diffs is not None:
            dst.diffs.merge(vm.diffs)
        for t, (m_v, m_d) in vm.by_type.items():
            if t not in dst.by_type:
                dst.by_type[t] = (m_v, m_d)
                continue
            dst.by_type[t][0].merge(m_v)
            if m_d is not None:
                dst.by_type[t][1].merge(m_d)
    return into


def stats_json(schema: Schema, acc: dict[str, VariableMoments], *, write_interval: float,
               split: str, n_trajectories: int) -> dict[str, Any]:
    """The content of ``stats.json``."""

    def block(values: Moments, diffs: DiffMoments | None, units: str) -> dict[str, Any]:
        out = {"value": values.summary(units)}
        if diffs is not None:
            out["diff_per_frame"] = diffs.d1.summary(f"{units} per frame")
            out["diff_per_second"] = diffs.d1.summary(f"{units}/s", scale=1.0 / write_interval)
            out["diff2_per_frame"] = diffs.d2.summary(f"{units} per frame^2")
            out["diff2_per_second2"] = diffs.d2.summary(f"{units}/s^2",
                                                        scale=1.0 / write_interval**2)
        return out

    variables = {}
    for name, vm in acc.items():
        var = schema.variable(name)
        entry = {"components": component_labels(schema, var), **block(vm.values, vm.diffs,
                                                                        var.units)}
        if vm.by_type:
            entry["by_particle_type"] = {
                str(t): block(mv, md, var.units) for t, (mv, md) in sorted(vm.by_type.items())
            }
        variables[name] = entry
    return {
        "split": split,
        "n_trajectories": n_trajectories,
        "write_interval": write_interval,
        "dtype": "float64",
        "std": "population (ddof=0)",
        "variables": variables,
    }
