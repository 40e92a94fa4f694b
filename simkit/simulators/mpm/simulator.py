"""The registered ``mpm`` simulator: scenes, dataset schema and state."""

from typing import Any

import numpy as np
import taichi as ti

from simkit.io.schema import Schema, Variable
from simkit.registry import register_simulator
from simkit.simulators.mpm.engine import MPM
from simkit.simulators.mpm.materials import MODEL_NAMES
from simkit.simulators.mpm.scenes import SCENES, build_scene, describe

__all__ = ["MPMSimulator"]


@register_simulator("mpm", scenes=tuple(SCENES))
@ti.data_oriented
class MPMSimulator(MPM):
    """An :class:`MPM` built from a named scene, writing ``particles`` datasets.

    Per frame: ``position`` (m), ``velocity`` (m/s), and with ``store_F``,
    ``store_C``, ``store_plastic``, ``store_stress``: ``deformation_gradient``,
    ``affine_velocity`` (1/s), ``plastic_state`` and the Cauchy ``stress`` (Pa).
    Static per particle: ``particle_type`` (material model code, see the ``material``
    table), ``body``, ``density`` (kg/m^3), ``shear_modulus`` and ``bulk_modulus``
    (Pa). :meth:`state` always carries ``F``, ``C`` and the plastic state (a restart
    needs them); the dataset stores those its schema names.
    """

    version = "1"
    description = (
        "MLS-MPM (Hu et al. 2018) with quadratic B-splines and APIC transfer; "
        "Kirchhoff stress from per-particle material models (fixed-corotated, "
        "Neo-Hookean, StVK-Hencky, weakly compressible fluid with J-based or Tait "
        "equation of state, snow, von Mises, Drucker-Prager sand, Herschel-Bulkley). "
        "Time step from a CFL bound on the p-wave speed plus the largest particle speed. "
        "Box walls (sticky, slip or separate with Coulomb friction) plus the scene's "
        "colliders. Units: SI (m, s, kg, Pa); 2D quantities are per unit depth.\n\n"
        "Scenes:\n"
    )

    def __init__(self, scene: str, params: dict[str, Any], seed: int) -> None:
        built = build_scene(scene, params, seed=seed)
        super().__init__(built.config, built.particles, built.colliders)
        self.scene, self.params = scene, built.params
        self._particles = built.particles

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
                         long_name="material model code", flag_meanings=MODEL_NAMES),
                Variable("body", ("particle",), "1", dtype="int32", static=True,
                         long_name="index of the seeded body"),
                Variable("density", ("particle",), "kg/m^3", static=True),
                Variable("shear_modulus", ("particle",), "Pa", static=True),
                Variable("bulk_modulus", ("particle",), "Pa", static=True),
            ),
            sizes={"component": d, "row": d, "col": d},
            ragged_dim="particle",
            tables={"material": {"name": MODEL_NAMES}},
        )

    def used_params(self) -> dict[str, Any]:
        return dict(self.params)

    def static(self) -> dict[str, np.ndarray]:
        mats, rows = self._particles.materials, self._particles.material_row
        return {
            "particle_type": np.array([m.code for m in mats], dtype=np.int32)[rows],
            "body": self._particles.body.astype(np.int32),
            "density": np.array([m.density for m in mats])[rows],
            "shear_modulus": np.array([m.shear_modulus for m in mats])[rows],
            "bulk_modulus": np.array([m.bulk_modulus for m in mats])[rows],
        }

    def state(self) -> dict[str, np.ndarray]:
        """:meth:`MPM.state` (every particle array, whichever the schema stores) and,
        with ``store_stress``, the Cauchy ``stress`` ``(n, d, d)`` (Pa)."""
        out = super().state()
        if self.params["store_stress"]:
            out["stress"] = self.cauchy_stress()
        return out


MPMSimulator.description += describe()
