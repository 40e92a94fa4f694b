"""The built-in simulators, their scenes and the parameters each scene takes.

Read by :mod:`simkit.registry` without importing any simulator (nor Taichi), so that a
recipe is checked before anything is built; each simulator fills its parameters in
through :func:`simkit.registry.resolve_params` from these declarations. Units are SI
unless a scene says otherwise; the simulators' docstrings describe the parameters.
"""

from __future__ import annotations

import math
from typing import Any

from simkit.registry import SceneParams, declare_simulator

__all__ = ["HEAT", "OSCILLATOR", "SPECTRAL_NS", "MPM_COMMON", "MPM_MATERIAL_PARAMS",
           "MPM_SCENES", "FLUID_COMMON", "FLUID_SCENES", "NBODY"]

# ---------------------------------------------------------------- closed form
HEAT: dict[str, Any] = {"resolution": 32, "length": 1.0, "diffusivity": 1e-2, "n_modes": 4,
                        "max_wavenumber": 4, "amplitude": 1.0, "mean_temperature": 300.0}
OSCILLATOR: dict[str, Any] = {"n_particles": 64, "omega": 2 * math.pi, "stiff_fraction": 0.5,
                              "box": 1.0, "speed": 0.1}

declare_simulator("heat", module="simkit.simulators.analytic", uses_taichi=False,
                  scenes={s: SceneParams(HEAT) for s in ("modes2d", "modes3d")})
declare_simulator("oscillator", module="simkit.simulators.analytic", uses_taichi=False,
                  scenes={s: SceneParams(OSCILLATOR) for s in ("cloud2d", "cloud3d")})

# ---------------------------------------------------------------- spectral Navier-Stokes
SPECTRAL_NS: dict[str, Any] = {"resolution": 64, "stored_resolution": 64, "viscosity": 1e-3,
                               "dt": 1e-3, "alpha": 2.5, "tau": 7.0, "forcing_amplitude": 0.1,
                               "forcing_wavenumber": 4, "drag": 0.0, "scheme": "euler"}

declare_simulator("spectral_ns", module="simkit.simulators.spectral_ns", uses_taichi=False,
                  scenes={s: SceneParams(SPECTRAL_NS) for s in ("fno", "kolmogorov")})

# ---------------------------------------------------------------- MPM
#: Parameters every MPM scene takes. ``ppc = 0`` means 4 particles per cell in 2D and 8
#: in 3D; ``fixed_dt = 0`` the CFL rule (else a fixed step in s); ``floor_friction < 0``
#: the wall friction; ``gravity`` is the acceleration along ``-y`` (m/s^2).
#: ``boundary_particles`` appends the walls and colliders to every frame as kinematic
#: particles ``boundary_spacing`` grid cells apart (``0`` means 0.5 cells in 2D and 1 cell
#: in 3D; simkit.simulators.mpm.boundary).
MPM_COMMON: dict[str, Any] = {
    "dim": 2, "n_grid": 64, "domain": 1.0, "gravity": 9.81, "ppc": 0.0, "jitter": 0.0, "cfl": 0.4,
    "dt_max": 1e-3, "fixed_dt": 0.0, "wall_mode": "separate", "wall_friction": 0.0,
    "floor_friction": -1.0, "store_F": False, "store_C": False, "store_plastic": False,
    "store_stress": False, "boundary_particles": True, "boundary_spacing": 0.0,
}
#: Overrides of a single-material scene's preset: ``density`` and the parameters of
#: every material model (simkit.simulators.mpm.materials.MODELS; a test keeps them equal).
MPM_MATERIAL_PARAMS: tuple[str, ...] = (
    "bulk_modulus", "cohesion", "critical_compression", "critical_stretch", "density",
    "flow_index", "friction_angle", "gamma", "hardening", "hardening_modulus",
    "poisson_ratio", "viscosity", "volume_correction", "yield_stress", "youngs_modulus")

#: Scene -> (its own defaults, whether it has one material whose preset may be overridden).
_MPM_OWN: dict[str, tuple[dict[str, Any], bool]] = {
    "dam_break": ({"material": "water", "width": 0.25, "height": 0.5, "depth": 0.3}, True),
    "column_collapse": ({"material": "sand", "width": 0.15, "aspect": 1.0, "depth": 0.3}, True),
    "cube_drop": ({"material": "jelly", "size": 0.2, "drop_height": 0.3, "speed": 0.0,
                   "throw_speed": 2.0, "second_cube": True}, True),
    "multimaterial": ({"size": 0.2, "water": "water", "jelly": "jelly", "snow": "snow"}, False),
    "sand_pour": ({"material": "sand", "width": 0.3, "height": 0.2, "obstacle_radius": 0.12,
                   "obstacle_friction": 0.3}, True),
    "bar_bend": ({"material": "metal", "length": 0.6, "thickness": 0.08, "press_speed": 0.3},
                 True),
    "random": ({"max_bodies": 3, "materials": "water,sand,jelly,snow,plasticine",
                "min_size": 0.1, "max_size": 0.25, "max_speed": 1.0}, False),
    "cylinder_drop": ({"material": "rubber", "radius": 0.1, "height": 0.3,
                       "drop_height": 0.2}, True),
    "mpm99": ({"quality": 1}, False),
}
#: Taichi's mpm99 example in its own units: the grid, step, gravity and walls follow
#: from ``quality``.
_MPM99_FIXED: dict[str, Any] = {
    "dim": 2, "n_grid": lambda p: 128 * p["quality"], "fixed_dt": lambda p: 1e-4 / p["quality"],
    "gravity": 50.0, "wall_mode": "separate", "wall_friction": 0.0, "floor_friction": 0.0,
    "domain": 1.0,
}
MPM_SCENES: dict[str, SceneParams] = {
    name: SceneParams({**MPM_COMMON, **own},
                      fixed=_MPM99_FIXED if name == "mpm99" else {},
                      optional=MPM_MATERIAL_PARAMS if single else ())
    for name, (own, single) in _MPM_OWN.items()
}

declare_simulator("mpm", module="simkit.simulators.mpm", uses_taichi=True, scenes=MPM_SCENES)

# ---------------------------------------------------------------- fluid
FLUID_COMMON: dict[str, Any] = {"advection": "maccormack", "cfl": 0.5, "rtol": 1e-6,
                                "export": "fields"}
_FLUID_OWN: dict[str, dict[str, Any]] = {
    "lid_cavity": {"resolution": 64, "reynolds": 100.0, "lid_velocity": 1.0},
    "karman": {"reynolds": 100.0, "cells_per_diameter": 16, "length": 24.0, "height": 12.0,
               "centre_x": 6.0, "inflow_velocity": 1.0},
    "smoke_plume": {"dim": 2, "resolution": 64, "n_obstacles": 2, "source_radius": 0.08,
                    "alpha": 0.0, "beta": 1.0, "viscosity": 0.0},
    "taylor_green": {"resolution": 64, "viscosity": 0.01},
}
FLUID_SCENES: dict[str, SceneParams] = {name: SceneParams({**own, **FLUID_COMMON})
                                        for name, own in _FLUID_OWN.items()}

declare_simulator("fluid", module="simkit.simulators.fluid", uses_taichi=True,
                  scenes=FLUID_SCENES)

# ---------------------------------------------------------------- N-body
NBODY: dict[str, Any] = {"integrator": "leapfrog", "dt": 1e-3, "softening": 0.0, "n": 1024,
                         "semi_major_axis": 1.0, "eccentricity": 0.0, "mass_ratio": 1e-3,
                         "precision": "f64", "rtol": 1e-12, "gravity": "direct",
                         "theta": 0.5, "lattice": 16, "mesh": 32, "amplitude": 1e-3,
                         "mode": 1, "noise": 0.0,
                         # REBOUND's exit conditions (Encounter, Escape); 0 = off
                         "exit_min_distance": 0.0, "exit_max_distance": 0.0}

declare_simulator("nbody", module="simkit.simulators.nbody", uses_taichi=True, scenes={
    "kepler": SceneParams(NBODY),
    "figure_eight": SceneParams(NBODY),
    "threebody_random": SceneParams(NBODY),
    "plummer": SceneParams(NBODY),
    "cold_collapse": SceneParams(NBODY),
    # the periodic box is what particle-mesh gravity is for, and it needs one
    "periodic_box": SceneParams(NBODY, fixed={"gravity": "pm"}),
})
