"""The registered ``nbody`` simulator: scenes, dataset schema, state."""

import math
from typing import Any

import numpy as np

from simkit.io.schema import Schema, Variable
from simkit.registry import get_simulator, register_simulator, resolve_params
from simkit.simulator import StateReadouts
from simkit.simulators.nbody import ics
from simkit.simulators.nbody.simulation import INTEGRATORS, NBody

__all__ = ["NBodySimulator", "SCENES"]

#: Scene names; their parameters and defaults are declared in simkit.simulators.catalog.
SCENES = get_simulator("nbody").scenes


@register_simulator("nbody")
class NBodySimulator(StateReadouts):
    """One trajectory of an N-body scene (N-body units, G = 1) for ``simkit generate``.

    Scenes: ``kepler`` (two bodies; ``semi_major_axis``, ``eccentricity``,
    ``mass_ratio``), ``figure_eight`` (Chenciner-Montgomery), ``threebody_random``
    (equal masses from rest-ish in a disc), ``plummer`` and ``cold_collapse`` (``n``
    bodies), ``periodic_box`` (``lattice^3`` bodies in the unit periodic cube with a plane
    density wave of ``amplitude`` and ``mode``, plus ``noise``; particle-mesh gravity on
    a ``mesh^3`` grid; its energy includes the mesh self-energy of the bodies, which
    varies with their place in the cells). ``gravity``: ``direct`` or ``tree``
    (Barnes-Hut, opening angle ``theta``) for the other scenes. ``exit_min_distance`` /
    ``exit_max_distance`` (0: off) end a trajectory with ``Encounter`` / ``Escape``.
    Frames carry positions, velocities, and energy, momentum and angular momentum
    diagnostics.
    """

    version = "1"
    description = (
        "Newtonian gravity with Plummer softening by direct summation (numpy for few "
        "bodies, a Taichi kernel for many); leapfrog (KDK), Yoshida 4th order or adaptive "
        "Dormand-Prince 8(5,3) with error control. N-body units: G = 1; Plummer and cold "
        "collapse in Henon units (total mass 1)."
    )

    def __init__(self, scene: str, params: dict[str, Any], seed: int) -> None:
        p = resolve_params("nbody", scene, params)  # periodic_box fixes gravity = "pm"
        if scene != "periodic_box" and p["gravity"] not in ("direct", "tree"):
            raise ValueError(f"nbody: gravity must be 'direct' or 'tree' (particle-mesh needs a "
                             f"periodic scene), got {p['gravity']!r}")
        if p["integrator"] not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {list(INTEGRATORS)}, "
                             f"got {p['integrator']!r}")
        rng = np.random.default_rng(seed)
        n = int(p["n"])
        m, x, v = {
            "kepler": lambda: ics.kepler(p["semi_major_axis"], p["eccentricity"],
                                         m=p["mass_ratio"]),
            "figure_eight": ics.figure_eight,
            "threebody_random": lambda: ics.random_threebody(rng),
            "plummer": lambda: ics.plummer(n, rng),
            "cold_collapse": lambda: ics.cold_collapse(n, rng),
            "periodic_box": lambda: ics.perturbed_lattice(
                int(p["lattice"]), float(p["amplitude"]), mode=int(p["mode"]), rng=rng,
                noise=float(p["noise"])),
        }[scene]()
        self.scene, self.params = scene, p
        self.sim = NBody(G=1.0, softening=float(p["softening"]), integrator=p["integrator"],
                         dt=float(p["dt"]), rtol=float(p["rtol"]), precision=p["precision"],
                         gravity=p["gravity"], theta=float(p["theta"]), box=1.0,
                         mesh=int(p["mesh"]),
                         exit_min_distance=float(p["exit_min_distance"]) or None,
                         exit_max_distance=float(p["exit_max_distance"]) or None)
        self.sim.add_arrays(m, x, v)

    @classmethod
    def from_scene(cls, scene: str, params: dict[str, Any], *, seed: int) -> "NBodySimulator":
        return cls(scene, params, seed)

    @property
    def time(self) -> float:
        return self.sim.time

    @property
    def dt(self) -> float:
        return self.sim.dt if self.sim.integrator != "dop853" else math.nan

    @property
    def step_count(self) -> int:
        return self.sim.step_count

    def schema(self) -> Schema:
        unit, f64 = "1", "float64"  # N-body units (G = 1)
        return Schema(kind="nbody", variables=(
            Variable("position", ("body", "component"), unit, dtype=f64),
            Variable("velocity", ("body", "component"), unit, dtype=f64),
            Variable("mass", ("body",), unit, dtype=f64, static=True),
            Variable("energy", (), unit, dtype=f64, long_name="kinetic + potential"),
            Variable("momentum", ("component",), unit, dtype=f64),
            Variable("angular_momentum", ("component",), unit, dtype=f64),
        ), sizes={"body": self.sim.n, "component": 3})

    def used_params(self) -> dict[str, Any]:
        return dict(self.params)

    def static(self) -> dict[str, np.ndarray]:
        return {"mass": self.sim.masses}

    def state(self) -> dict[str, np.ndarray]:
        """The schema's variables plus :meth:`NBody.state` (what a restart needs)."""
        s = self.sim
        return {**s.state(), "energy": np.float64(s.energy()), "momentum": s.momentum(),
                "angular_momentum": s.angular_momentum()}

    def load_state(self, state) -> None:
        """Continue from ``state``, a :meth:`state` of a simulator of the same scene."""
        self.sim.load_state(state)

    def step(self, dt: float | None = None) -> None:
        """One step of ``dt``, by default the integrator's own (:meth:`NBody.step`)."""
        self.sim.step(dt)

    def advance(self, t_end: float) -> None:
        """Integrate to ``t_end`` by the landing rule (:meth:`NBody.advance`)."""
        self.sim.advance(t_end)
