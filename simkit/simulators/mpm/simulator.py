"""The registered ``mpm`` simulator: scenes, dataset schema and state."""

from typing import Any

import numpy as np
import taichi as ti

from simkit.io.schema import Schema, Variable
from simkit.registry import register_simulator
from simkit.simulators.mpm.boundary import (
    KINEMATIC_TYPE,
    PARTICLE_TYPES,
    describe_boundary,
    sample_boundary,
)
from simkit.simulators.mpm.engine import MPM
from simkit.simulators.mpm.scenes import SCENES, build_scene, describe

__all__ = ["MPMSimulator"]


@register_simulator("mpm", scenes=tuple(SCENES))
@ti.data_oriented
class MPMSimulator(MPM):
    """An :class:`MPM` built from a named scene, writing ``particles`` datasets.

    The dataset's particles are the material particles (:attr:`n_particles`, in the
    engine's order) and then, with ``boundary_particles``, the kinematic ones
    (:attr:`boundary`, :mod:`~simkit.simulators.mpm.boundary`): the walls and the
    colliders, ``boundary_spacing`` cells apart, moving with their solid.

    Per frame (:meth:`frame`): ``position`` (m), ``velocity`` (m/s), and with
    ``store_F``, ``store_C``, ``store_plastic``, ``store_stress``:
    ``deformation_gradient``, ``affine_velocity`` (1/s), ``plastic_state`` and the
    Cauchy ``stress`` (Pa); kinematic particles have ``F = I`` and zero ``C``, plastic
    state and stress. Static per particle (:meth:`static`): ``particle_type``
    (material model code, :data:`KINEMATIC_TYPE` for kinematic particles, see the
    ``material`` table), ``body`` (-1 for kinematic), ``density`` (kg/m^3),
    ``shear_modulus``, ``bulk_modulus`` (Pa) and ``mass`` (kg, per unit depth in 2D),
    all 0 for kinematic particles. :meth:`state` (material particles only) always
    carries ``F``, ``C`` and the plastic state (a restart needs them). Each trajectory
    record carries the walls and colliders as ``"boundary"``
    (:meth:`trajectory_record`).
    """

    version = "2"  # 2: kinematic boundary particles and per-particle mass
    description = (
        "MLS-MPM (Hu et al. 2018) with quadratic B-splines and APIC transfer; "
        "Kirchhoff stress from per-particle material models (fixed-corotated, "
        "Neo-Hookean, StVK-Hencky, weakly compressible fluid with J-based or Tait "
        "equation of state, snow, von Mises, Drucker-Prager sand, Herschel-Bulkley). "
        "Time step from a CFL bound on the p-wave speed plus the largest particle speed. "
        "Box walls (sticky, slip or separate with Coulomb friction) plus the scene's "
        "colliders. The dataset's particles are the material particles, then (with "
        "`boundary_particles`) one layer of kinematic particles (particle type `kinematic`) "
        "sampled on the inner faces of the walls and on the colliders' surfaces, "
        "`boundary_spacing` cells apart, moving with their solid; each trajectory record "
        "describes the walls and colliders under `boundary`. "
        "Units: SI (m, s, kg, Pa); 2D quantities are per unit depth.\n\n"
        "Scenes:\n"
    )

    def __init__(self, scene: str, params: dict[str, Any], seed: int) -> None:
        built = build_scene(scene, params, seed=seed)
        super().__init__(built.config, built.particles, built.colliders)
        self.scene, self.params = scene, built.params
        self._particles = built.particles
        self.boundary = (sample_boundary(built.config, built.colliders,
                                         self.params["boundary_spacing"] * built.config.dx)
                         if self.params["boundary_particles"] else None)

    @classmethod
    def from_scene(cls, scene: str, params: dict[str, Any], *, seed: int) -> "MPMSimulator":
        return cls(scene, params, seed)

    def schema(self) -> Schema:
        tensor = ("particle", "row", "col")
        optional = {
            "store_F": Variable("deformation_gradient", tensor, "1",
                                long_name="elastic deformation gradient F"),
            "store_C": Variable("affine_velocity", tensor, "1/s",
                                long_name="APIC affine matrix C (velocity gradient)"),
            "store_plastic": Variable("plastic_state", ("particle",), "1",
                                      long_name="Jp (snow), equivalent plastic strain "
                                                "(von_mises, herschel_bulkley), log volume "
                                                "correction (drucker_prager)"),
            "store_stress": Variable("stress", tensor, "Pa", long_name="Cauchy stress"),
        }
        d = self.dim
        return Schema(
            kind="particles",
            variables=(
                Variable("position", ("particle", "component"), "m"),
                Variable("velocity", ("particle", "component"), "m/s"),
                *(v for key, v in optional.items() if self.params[key]),
                Variable("particle_type", ("particle",), "1", dtype="int32", static=True,
                         long_name="material model code, or kinematic (boundary)",
                         flag_meanings=PARTICLE_TYPES),
                Variable("body", ("particle",), "1", dtype="int32", static=True,
                         long_name="index of the seeded body (-1: kinematic)"),
                Variable("density", ("particle",), "kg/m^3", static=True),
                Variable("shear_modulus", ("particle",), "Pa", static=True),
                Variable("bulk_modulus", ("particle",), "Pa", static=True),
                Variable("mass", ("particle",), "kg", static=True,
                         long_name="particle mass (per unit depth in 2D; 0: kinematic)"),
            ),
            sizes={"component": d, "row": d, "col": d},
            ragged_dim="particle",
            tables={"material": {"name": PARTICLE_TYPES}},
        )

    def used_params(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def n_boundary(self) -> int:
        """Kinematic particles after the material ones (0 without ``boundary_particles``)."""
        return 0 if self.boundary is None else self.boundary.n

    def static(self) -> dict[str, np.ndarray]:
        """Static variables ``(n_particles + n_boundary,)``: material, then kinematic."""
        mats, rows = self._particles.materials, self._particles.material_row
        out = {
            "particle_type": np.array([m.code for m in mats], dtype=np.int32)[rows],
            "body": self._particles.body.astype(np.int32),
            "density": np.array([m.density for m in mats])[rows],
            "shear_modulus": np.array([m.shear_modulus for m in mats])[rows],
            "bulk_modulus": np.array([m.bulk_modulus for m in mats])[rows],
            "mass": self.masses(),
        }
        k = self.n_boundary
        kinematic = {"particle_type": KINEMATIC_TYPE, "body": -1}
        return {name: np.concatenate([a, np.full(k, kinematic.get(name, 0), a.dtype)])
                for name, a in out.items()}

    def frame(self) -> dict[str, np.ndarray]:
        """The stored frame at :attr:`time`: the schema's time-dependent variables of
        :meth:`state`, ``(n_particles + n_boundary, ...)``, the kinematic particles at
        ``x0 + velocity * time`` with ``F = I`` and zero ``C``, plastic state and
        stress."""
        state = self.state()
        names = [v.name for v in self.schema().variables if not v.static]
        if self.boundary is None:
            return {name: state[name] for name in names}
        k, d = self.n_boundary, self.dim
        kinematic = {"position": self.boundary.positions(self.time),
                     "velocity": self.boundary.velocity,
                     "deformation_gradient": np.broadcast_to(np.eye(d), (k, d, d))}
        return {name: np.concatenate([state[name], kinematic.get(
            name, np.zeros((k, *state[name].shape[1:])))]) for name in names}

    def trajectory_record(self) -> dict[str, Any]:
        """``{"boundary": ...}``: the walls and colliders
        (:func:`~simkit.simulators.mpm.boundary.describe_boundary`, with the rows of
        their kinematic particles when there are any)."""
        return {"boundary": describe_boundary(self.config, self.colliders, self.boundary,
                                              first=self.n_particles)}

    def state(self) -> dict[str, np.ndarray]:
        """:meth:`MPM.state` (every particle array, whichever the schema stores) and,
        with ``store_stress``, the Cauchy ``stress`` ``(n, d, d)`` (Pa)."""
        out = super().state()
        if self.params["store_stress"]:
            out["stress"] = self.cauchy_stress()
        return out


MPMSimulator.description += describe()
