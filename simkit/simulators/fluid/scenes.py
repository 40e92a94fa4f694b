"""Named fluid scenes: a config, obstacles, sources and an initial velocity from params.

Every scene validates its parameters (unknown names and bad values raise
``ValueError`` naming them; the names and defaults are declared in
:mod:`simkit.simulators.catalog`) and draws its randomness (obstacle placement, initial
perturbations) from the trajectory seed only.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from simkit.registry import resolve_params
from simkit.simulators.catalog import FLUID_COMMON, FLUID_SCENES
from simkit.simulators.fluid.engine import FluidConfig, Side

__all__ = ["SCENES", "SceneSetup", "build_scene", "describe", "cell_centres"]


@dataclass
class SceneSetup:
    """What a scene hands to the engine.

    Attributes
    ----------
    config : FluidConfig
    params : dict
        Parameters as used (defaults filled in).
    solid : ndarray of bool, shape ``config.shape``
    source : ndarray of bool or None
        Cells whose (smoke, temperature) are held at ``source_values``.
    source_values : tuple of float
    velocity : list of ndarray or None
        Initial face velocities (projected before the first step).
    """

    config: FluidConfig
    params: dict[str, Any]
    solid: np.ndarray
    source: np.ndarray | None = None
    source_values: tuple[float, float] = (1.0, 1.0)
    velocity: list[np.ndarray] | None = None


def cell_centres(shape: tuple[int, ...], h: float) -> list[np.ndarray]:
    """Open meshgrid (``ij`` indexing) of cell-centre coordinates (m)."""
    axes = [(np.arange(n) + 0.5) * h for n in shape]
    return np.meshgrid(*axes, indexing="ij", sparse=True)


def sphere_sdf(x: list[np.ndarray], centre, radius: float) -> np.ndarray:
    """Signed distance (m) to a sphere (a disc in 2D); negative inside."""
    return np.sqrt(sum((xi - ci) ** 2 for xi, ci in zip(x, centre, strict=False))) - radius


def box_sdf(x: list[np.ndarray], centre, half: tuple[float, ...]) -> np.ndarray:
    """Signed distance (m) to an axis-aligned box; negative inside."""
    q = [np.abs(xi - ci) - hi for xi, ci, hi in zip(x, centre, half, strict=False)]
    outside = np.sqrt(sum(np.maximum(qi, 0.0) ** 2 for qi in q))
    inside = np.minimum(np.maximum.reduce(np.broadcast_arrays(*q)), 0.0)
    return outside + inside


def _check(params: dict[str, Any], scene: str) -> dict[str, Any]:
    """The parameters of ``scene`` with defaults filled in; numbers must be finite, >= 0."""
    p = resolve_params("fluid", scene, params)
    for key, default in FLUID_SCENES[scene].defaults.items():
        if isinstance(default, bool):
            continue
        if isinstance(default, int | float) and not (
                isinstance(p[key], int | float) and math.isfinite(p[key]) and p[key] >= 0):
            raise ValueError(f"fluid scene {scene!r}: {key} must be a number >= 0, got {p[key]!r}")
    return p


#: Parameters every scene takes (see :data:`simkit.simulators.catalog.FLUID_COMMON`).
COMMON = MappingProxyType(FLUID_COMMON)  # read-only: the catalog declares them


def _common(p: dict[str, Any]) -> dict[str, Any]:
    if p["export"] not in ("fields", "pressure_systems"):
        raise ValueError(f"export must be 'fields' or 'pressure_systems', got {p['export']!r}")
    return {"advection": p["advection"], "cfl": float(p["cfl"]), "rtol": float(p["rtol"])}


def lid_cavity(params: dict[str, Any], rng: np.random.Generator) -> SceneSetup:
    """Unit square, lid ``y = 1`` moving at ``lid_velocity`` along ``x``; fluid at rest;
    ``viscosity = lid_velocity / reynolds`` (the Ghia, Ghia & Shin 1982 benchmark)."""
    p = _check(params, "lid_cavity")
    n, U = int(p["resolution"]), float(p["lid_velocity"])
    cfg = FluidConfig(shape=(n, n), h=1.0 / n, viscosity=U / float(p["reynolds"]),
                      sides={"y+": Side("noslip", (U, 0.0))}, dt_max=0.5 / n, **_common(p))
    return SceneSetup(cfg, p, np.zeros((n, n), bool))


def karman(params: dict[str, Any], rng: np.random.Generator) -> SceneSetup:
    """Flow past a cylinder of diameter 1 m: uniform inflow ``U`` at ``x = 0``, open
    outflow at ``x = length``, free-slip ``y`` walls ``height`` apart, cylinder centred
    at ``(centre_x, height / 2)``; ``viscosity = U / reynolds``. A small random
    transverse velocity starts the shedding."""
    p = _check(params, "karman")
    h = 1.0 / int(p["cells_per_diameter"])
    shape = (round(p["length"] / h), round(p["height"] / h))
    U = float(p["inflow_velocity"])
    cfg = FluidConfig(shape=shape, h=h, viscosity=U / float(p["reynolds"]),
                      sides={"x-": Side("inflow", (U, 0.0)), "x+": Side("outflow"),
                             "y-": Side("freeslip"), "y+": Side("freeslip")},
                      dt_max=1.0, **_common(p))
    x = cell_centres(shape, h)
    solid = sphere_sdf(x, (p["centre_x"], p["height"] / 2), 0.5) < 0
    ux = np.full((shape[0] + 1, shape[1]), U)
    uy = 0.05 * U * rng.standard_normal((shape[0], shape[1] + 1))
    return SceneSetup(cfg, p, solid, velocity=[ux, uy])


def smoke_plume(params: dict[str, Any], rng: np.random.Generator) -> SceneSetup:
    """Hot smoke rising from a disc (ball) source at the bottom centre of a box of
    height 1 m open at the top, around ``n_obstacles`` random spheres and boxes;
    ``f_y = -alpha * smoke + beta * temperature``; free-slip side and bottom walls."""
    p = _check(params, "smoke_plume")
    dim, n = int(p["dim"]), int(p["resolution"])
    if dim not in (2, 3):
        raise ValueError(f"fluid scene 'smoke_plume': dim must be 2 or 3, got {p['dim']!r}")
    shape, h = (n,) * dim, 1.0 / n
    sides = {f"{a}{s}": Side("freeslip") for a in "xyz"[:dim] for s in "-+"}
    sides["y+"] = Side("outflow")
    cfg = FluidConfig(shape=shape, h=h, viscosity=float(p["viscosity"]),
                      buoyancy=(float(p["alpha"]), float(p["beta"])), sides=sides,
                      dt_max=2.0 / n, **_common(p))
    x = cell_centres(shape, h)
    centre = [0.5] * dim
    centre[1] = 0.1
    source = sphere_sdf(x, centre, float(p["source_radius"])) < 0
    sdf = np.full(shape, np.inf)
    for _ in range(int(p["n_obstacles"])):
        c = rng.uniform(0.2, 0.8, dim)
        c[1] = rng.uniform(0.35, 0.8)
        size = rng.uniform(0.05, 0.12)
        if rng.random() < 0.5:
            sdf = np.minimum(sdf, sphere_sdf(x, c, size))
        else:
            sdf = np.minimum(sdf, box_sdf(x, c, tuple(rng.uniform(0.5, 1.0, dim) * size)))
    return SceneSetup(cfg, p, (sdf < 0) & ~source, source=source, source_values=(1.0, 1.0))


def taylor_green(params: dict[str, Any], rng: np.random.Generator) -> SceneSetup:
    """``u = (sin x cos y, -cos x sin y) e^{-2 nu t}`` on ``[0, pi]^2`` with free-slip
    walls: an exact Navier-Stokes solution (kinetic energy decays as ``e^{-4 nu t}``)."""
    p = _check(params, "taylor_green")
    n = int(p["resolution"])
    h = math.pi / n
    cfg = FluidConfig(shape=(n, n), h=h, viscosity=float(p["viscosity"]),
                      sides={f"{a}{s}": Side("freeslip") for a in "xy" for s in "-+"},
                      dt_max=0.5 * h, **_common(p))
    xf, xc = np.arange(n + 1) * h, (np.arange(n) + 0.5) * h
    ux = np.sin(xf)[:, None] * np.cos(xc)[None, :]
    uy = -np.cos(xc)[:, None] * np.sin(xf)[None, :]
    return SceneSetup(cfg, p, np.zeros((n, n), bool), velocity=[ux, uy])


SCENES: dict[str, Callable[[dict[str, Any], np.random.Generator], SceneSetup]] = {
    "lid_cavity": lid_cavity, "karman": karman, "smoke_plume": smoke_plume,
    "taylor_green": taylor_green,
}


def build_scene(scene: str, params: dict[str, Any], *, seed: int) -> SceneSetup:
    """The setup of ``scene``; ``ValueError`` for unknown scenes or parameters."""
    if scene not in SCENES:
        raise ValueError(f"unknown fluid scene {scene!r}; expected one of {sorted(SCENES)}")
    return SCENES[scene](dict(params), np.random.default_rng(seed))


def describe() -> str:
    """Markdown list of the scenes and their docstrings, for the dataset card."""
    return "\n".join(f"- `{name}`: {' '.join(fn.__doc__.split())}" for name, fn in SCENES.items())
