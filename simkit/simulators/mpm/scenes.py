"""Scenes of the MPM simulator: named builders from scalar parameters.

Every scene takes the common parameters (``COMMON``: dimension, grid, seeding, time
stepping, walls, extra outputs, boundary particles) and its own. Single-material
scenes also accept the parameters of their material's model (``friction_angle`` for
sand, ``bulk_modulus`` for water, ...) and ``density``. Lengths in m, speeds in m/s,
SI throughout, except the ``mpm99`` scene, which reproduces Taichi's mpm99 example in
its own units (and refuses a grid, step, gravity or wall setting other than the
example's).

The parameters and their defaults are declared in :mod:`simkit.simulators.catalog`
(readable without Taichi, so recipes are checked before anything is built) and filled
in by :func:`simkit.registry.resolve_params`.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from simkit.registry import resolve_params
from simkit.simulators.catalog import MPM_COMMON, MPM_SCENES
from simkit.simulators.mpm.colliders import Collider
from simkit.simulators.mpm.engine import MPMConfig, Particles
from simkit.simulators.mpm.materials import PRESETS, material
from simkit.simulators.mpm.seeding import Box, Cylinder, ParticleBuilder, Sphere

__all__ = ["COMMON", "SCENES", "Scene", "BuiltScene", "build_scene"]

#: Parameters every scene takes (see :data:`simkit.simulators.catalog.MPM_COMMON`).
COMMON = MappingProxyType(MPM_COMMON)  # read-only: the catalog declares them


@dataclass(frozen=True)
class BuiltScene:
    config: MPMConfig
    particles: Particles
    colliders: tuple[Collider, ...]
    params: dict[str, Any]


@dataclass(frozen=True)
class Scene:
    name: str
    build: Callable[[dict[str, Any], np.random.Generator, MPMConfig, ParticleBuilder],
                    tuple[Collider, ...]]
    material_param: str | None  # the parameter naming the scene's single material
    description: str
    prepare: Callable[[dict[str, Any]], None] | None  # checks parameters before the config


SCENES: dict[str, Scene] = {}


def _scene(name: str, *, material_param: str | None = None,
           prepare: Callable[[dict[str, Any]], None] | None = None):
    """Register the builder of scene ``name`` (declared in the catalog)."""
    declared = MPM_SCENES[name]  # a scene without a declaration fails at import
    if (material_param is not None) != bool(declared.optional):
        raise ValueError(f"mpm scene {name!r}: material overrides are declared only for "
                         "single-material scenes")

    def register(fn):
        SCENES[name] = Scene(name, fn, material_param, (fn.__doc__ or "").strip(), prepare)
        return fn
    return register


def _vec(dim: int, x: float, y: float, z: float | None = None) -> tuple[float, ...]:
    return (x, y) if dim == 2 else (x, y, 0.5 if z is None else z)


def _box(dim: int, x0: float, x1: float, y0: float, y1: float, depth: float = 0.3,
         zc: float = 0.5) -> Box:
    if dim == 2:
        return Box((x0, y0), (x1, y1))
    return Box((x0, y0, zc - depth / 2), (x1, y1, zc + depth / 2))


def _resolve(scene: Scene, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``params`` into scene parameters (defaults filled) and material overrides."""
    p = resolve_params("mpm", scene.name, params)
    overrides = {k: p.pop(k) for k in MPM_SCENES[scene.name].optional if k in p}
    if p["dim"] not in (2, 3):
        raise ValueError(f"mpm scene {scene.name!r}: dim must be 2 or 3, got {p['dim']!r}")
    if p["ppc"] == 0:
        p["ppc"] = 4.0 if p["dim"] == 2 else 8.0
    if p["floor_friction"] < 0:
        p["floor_friction"] = p["wall_friction"]
    if not (math.isfinite(p["boundary_spacing"]) and p["boundary_spacing"] >= 0):
        raise ValueError(f"mpm scene {scene.name!r}: boundary_spacing must be >= 0 grid cells "
                         f"(0: 0.5 in 2D, 1 in 3D), got {p['boundary_spacing']!r}")
    if p["boundary_spacing"] == 0:
        p["boundary_spacing"] = 0.5 if p["dim"] == 2 else 1.0
    return p, overrides


def _config(p: dict[str, Any]) -> MPMConfig:
    gravity = (0.0, -float(p["gravity"])) + (0.0,) * (p["dim"] - 2)
    return MPMConfig(dim=p["dim"], n_grid=int(p["n_grid"]), domain=float(p["domain"]),
                     gravity=gravity, cfl=float(p["cfl"]), dt_max=float(p["dt_max"]),
                     dt=float(p["fixed_dt"]) or None,
                     wall_mode=p["wall_mode"], wall_friction=float(p["wall_friction"]),
                     floor_friction=float(p["floor_friction"]))


def build_scene(name: str, params: dict[str, Any], *, seed: int) -> BuiltScene:
    """Build scene ``name`` with ``params`` (see :data:`COMMON` and the scene's defaults)."""
    try:
        scene = SCENES[name]
    except KeyError:
        raise ValueError(f"unknown mpm scene {name!r}; expected one of {sorted(SCENES)}") from None
    p, overrides = _resolve(scene, params)
    rng = np.random.default_rng(seed)
    if scene.material_param is not None:
        mat_name = p[scene.material_param]
        mat = material(mat_name, **overrides)
        p.update(mat.params)
        p["density"] = mat.density
        p["_material"] = mat
    if scene.prepare is not None:
        scene.prepare(p)
    config = _config(p)
    builder = ParticleBuilder(p["dim"], config.dx, rng)
    colliders = scene.build(p, rng, config, builder)
    p.pop("_material", None)
    return BuiltScene(config, builder.build(), tuple(colliders), p)


def _floor(config: MPMConfig) -> float:
    return config.wall_cells * config.dx


@_scene("dam_break", material_param="material")
def _dam_break(p, rng, config, b):
    """A water column of ``width`` x ``height`` against the left wall collapses
    (Martin & Moyce 1952); in 3D the column is ``depth`` deep."""
    lo = _floor(config)
    b.add(_box(p["dim"], lo, lo + p["width"], lo, lo + p["height"], p["depth"]), p["_material"],
          ppc=p["ppc"], jitter=p["jitter"])
    return ()


@_scene("column_collapse", material_param="material")
def _column_collapse(p, rng, config, b):
    """A granular column of ``width`` and height ``aspect * width`` against the left wall
    collapses and runs out along the floor (Lube et al. 2005)."""
    lo = _floor(config)
    b.add(_box(p["dim"], lo, lo + p["width"], lo, lo + p["aspect"] * p["width"], p["depth"]),
          p["_material"], ppc=p["ppc"], jitter=p["jitter"])
    return ()


@_scene("cube_drop", material_param="material")
def _cube_drop(p, rng, config, b):
    """An elastic cube of ``size`` falls from ``drop_height`` above the floor with downward
    ``speed``; with ``second_cube`` a second one is thrown at it from the right at
    ``throw_speed``."""
    lo, s, d = _floor(config), p["size"], p["dim"]
    y0 = lo + p["drop_height"]
    b.add(_box(d, 0.4 - s / 2, 0.4 + s / 2, y0, y0 + s, s), p["_material"],
          velocity=_vec(d, 0.0, -p["speed"], 0.0), ppc=p["ppc"], jitter=p["jitter"])
    if p["second_cube"]:
        x0 = config.domain - lo - 0.05 - s
        b.add(_box(d, x0, x0 + s, y0 + 0.5 * s, y0 + 1.5 * s, s), p["_material"],
              velocity=_vec(d, -p["throw_speed"], 0.0, 0.0), ppc=p["ppc"], jitter=p["jitter"])
    return ()


@_scene("multimaterial")
def _multimaterial(p, rng, config, b):
    """Three blocks of ``size`` (water, jelly, snow by default, any presets) stacked
    diagonally fall and interact, as in Taichi's mpm99 but in SI units."""
    lo, s, d = _floor(config), p["size"], p["dim"]
    for k, key in enumerate(("water", "jelly", "snow")):
        x0, y0 = 0.25 + 0.12 * k, lo + 0.02 + 0.27 * k
        b.add(_box(d, x0, x0 + s, y0, y0 + s, s), material(p[key]), ppc=p["ppc"],
              jitter=p["jitter"])
    return ()


@_scene("sand_pour", material_param="material")
def _sand_pour(p, rng, config, b):
    """A block of sand falls onto a fixed sphere (a disc in 2D) of ``obstacle_radius`` with
    Coulomb friction ``obstacle_friction``."""
    d, lo = p["dim"], _floor(config)
    c = _vec(d, 0.5, lo + 0.3)
    top = config.domain - lo - 0.05
    b.add(_box(d, 0.5 - p["width"] / 2, 0.5 + p["width"] / 2, top - p["height"], top,
               p["width"]), p["_material"], ppc=p["ppc"], jitter=p["jitter"])
    return (Collider("sphere", c, radius=p["obstacle_radius"], mode="separate",
                     friction=p["obstacle_friction"]),)


@_scene("bar_bend", material_param="material")
def _bar_bend(p, rng, config, b):
    """A bar clamped at its left end (a sticky box) is pushed down near its right end by a
    box moving at ``press_speed``."""
    d, lo = p["dim"], _floor(config)
    y0, t, L = 0.5, p["thickness"], p["length"]
    b.add(_box(d, lo, lo + L, y0, y0 + t, t), p["_material"], ppc=p["ppc"], jitter=p["jitter"])
    clamp = Collider("box", _vec(d, lo + 0.05, y0 + t / 2), half_extent=(0.08, t) + (
        (t,) if d == 3 else ()), mode="sticky")
    press = Collider("box", _vec(d, lo + L - 0.04, y0 + t + 0.04 + 0.01),
                     half_extent=(0.04, 0.04) + ((t,) if d == 3 else ()),
                     velocity=_vec(d, 0.0, -p["press_speed"], 0.0), mode="slip")
    return (clamp, press)


@_scene("random")
def _random(p, rng, config, b):
    """1 to ``max_bodies`` boxes and spheres of random size in [``min_size``,
    ``max_size``], without overlap, with materials drawn from the comma-separated
    presets ``materials`` and random velocities up to ``max_speed``."""
    d, lo = p["dim"], _floor(config)
    names = [m.strip() for m in str(p["materials"]).split(",") if m.strip()]
    unknown = [m for m in names if m not in PRESETS]
    if not names or unknown:
        raise ValueError(f"mpm scene 'random': materials must be comma-separated presets from "
                         f"{sorted(PRESETS)}, got {p['materials']!r}")
    if not 0 < p["min_size"] <= p["max_size"] < config.domain - 2 * lo:
        raise ValueError("mpm scene 'random': need 0 < min_size <= max_size < free domain")
    n_bodies = int(rng.integers(1, int(p["max_bodies"]) + 1))
    placed: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(n_bodies):
        for _attempt in range(100):
            size = rng.uniform(p["min_size"], p["max_size"])
            corner = rng.uniform(lo + 0.01, config.domain - lo - 0.01 - size, d)
            box_lo, box_hi = corner, corner + size
            if all(np.any(box_lo > h) or np.any(box_hi < low) for low, h in placed):
                break
        else:
            continue  # no room left for this body
        placed.append((box_lo, box_hi))
        mat = material(names[int(rng.integers(len(names)))])
        direction = rng.normal(size=d)
        vel = tuple(direction / np.linalg.norm(direction) * rng.uniform(0, p["max_speed"]))
        if rng.random() < 0.5:
            shape: Box | Sphere = Box(tuple(box_lo), tuple(box_hi))
        else:
            shape = Sphere(tuple((box_lo + box_hi) / 2), size / 2)
        b.add(shape, mat, velocity=vel, ppc=p["ppc"], jitter=p["jitter"])
    return ()


@_scene("cylinder_drop", material_param="material")
def _cylinder_drop(p, rng, config, b):
    """A 3D upright cylinder (a disc in 2D) of ``radius`` and ``height`` dropped from
    ``drop_height``."""
    d, lo = p["dim"], _floor(config)
    y = lo + p["drop_height"] + p["height"] / 2
    shape = Cylinder((0.5, y, 0.5), p["radius"], p["height"]) if d == 3 else \
        Sphere((0.5, y), p["radius"])
    b.add(shape, p["_material"], ppc=p["ppc"], jitter=p["jitter"])
    return ()


def _mpm99_quality(p):
    # the grid (128 quality), step (1e-4 / quality), gravity and walls are fixed in the catalog
    q = p["quality"]
    if not isinstance(q, int) or isinstance(q, bool) or q < 1:
        raise ValueError(f"mpm scene 'mpm99': quality must be an int >= 1, got {q!r}")


@_scene("mpm99", prepare=_mpm99_quality)
def _mpm99(p, rng, config, b):
    """Taichi's mpm99 example, in its own units (unit box, rho = 1, E = 1e3, gravity 50):
    9000 quality^2 particles in three blocks (fluid, jelly, snow) on a 128 quality grid
    with dt = 1e-4 / quality. Used by the benchmark against the original."""
    q, dx = int(p["quality"]), config.dx
    E, nu = 1e3, 0.2
    lam0 = E * nu / ((1 + nu) * (1 - 2 * nu))
    mats = [material("fluid", density=1.0, bulk_modulus=lam0, viscosity=0.0, gamma=0.0),
            material("fixed_corotated", density=1.0, youngs_modulus=0.3 * E, poisson_ratio=nu),
            material("snow", density=1.0, youngs_modulus=E, poisson_ratio=nu,
                     critical_compression=2.5e-2, critical_stretch=4.5e-3, hardening=10.0)]
    group = 3000 * q * q
    for k, mat in enumerate(mats):
        pts = rng.random((group, 2)) * 0.2 + np.array([0.3 + 0.1 * k, 0.05 + 0.32 * k])
        b.add_points(pts, (dx * 0.5) ** 2, mat)
    return ()


def describe() -> str:
    """Markdown list of the scenes, for the dataset card."""
    return "\n".join(f"- `{s.name}`: {' '.join(s.description.split())}"
                     for s in SCENES.values())

