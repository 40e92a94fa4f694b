"""The registered ``fluid`` simulator: scenes, dataset schema, state.

Two exports: ``export: fields`` (default) writes ``grid`` datasets (cell-centred
velocity, pressure, and smoke and temperature where the scene has them);
``export: pressure_systems`` writes each frame's pressure-Poisson system (the one the
last projection solved) as a ``linear_systems`` dataset in stencil form.

Engines are reused: a Taichi kernel is compiled for the fields it touches, so the
simulators of one grid structure share a per-process pool of :class:`Fluid` engines.
A simulator leases an engine for as long as it lives (no two live simulators share
one, so each advances as it would alone) and gives it back when it is garbage-
collected; the next simulator of that structure re-configures it instead of compiling
anew (seconds per kernel on a CPU).
"""

import weakref
from typing import Any

import numpy as np

from simkit.io.linear_systems import stencil_schema
from simkit.io.schema import Schema, Variable
from simkit.numerics.grid_operator import poisson_offsets
from simkit.registry import register_simulator
from simkit.runtime import per_program_cache
from simkit.simulator import StateReadouts
from simkit.simulators.fluid.engine import Fluid
from simkit.simulators.fluid.scenes import SCENES, build_scene, describe

__all__ = ["FluidSimulator", "engine_for"]

_AXES = "xyz"
#: Fluid.structure(config) -> engines no live simulator holds, for the current program
_FREE_ENGINES = per_program_cache()


def engine_for(setup, owner: object | None) -> Fluid:
    """A :class:`Fluid` configured for ``setup`` (a :class:`~.scenes.SceneSetup`): an
    engine of the same structure that no one holds, else a new one.

    Parameters
    ----------
    setup : SceneSetup
    owner : object or None
        The engine goes back to the pool when ``owner`` is garbage-collected (never,
        for ``None``).

    Returns
    -------
    Fluid
    """
    free = _FREE_ENGINES.get(Fluid.structure(setup.config), list)
    if free:
        engine = free.pop()
        engine.configure(setup.config, setup.solid)
    else:
        engine = Fluid(setup.config, setup.solid)
    if owner is not None:
        weakref.finalize(owner, free.append, engine)
    if setup.source is not None:
        engine.set_source(setup.source, *setup.source_values)
    if setup.velocity is not None:
        engine.set_velocity(setup.velocity)
        engine.project()
    return engine


@register_simulator("fluid", scenes=tuple(SCENES))
class FluidSimulator(StateReadouts):
    """One trajectory of a fluid scene for ``simkit generate``.

    ``grid`` export, storage order ``([z,] y, x)``: ``velocity`` (component, ...) in
    m/s averaged to cell centres, ``pressure`` (Pa), ``smoke`` and ``temperature``
    when the scene has scalars, static ``solid`` (1 in obstacles).
    ``pressure_systems`` export: ``stencil`` (offset, ...), ``rhs``, ``solution`` and
    ``mask`` of ``A phi = -h^2 div u`` (dimensionless face weights; ``phi = p dt/rho``).
    """

    version = "1"
    description = (
        "Incompressible Navier-Stokes on a staggered MAC grid (Taichi): semi-Lagrangian "
        "advection with RK2 backtrace and MacCormack correction, explicit viscosity, "
        "buoyancy of smoke and temperature, pressure projection by multigrid-"
        "preconditioned CG (McAdams et al. 2010) to a true relative residual. Walls "
        "(no-slip, free-slip, moving lid), inflow, open outflow; obstacles voxelised "
        "from signed-distance functions. CFL time step. Units: SI.\n\nScenes:\n"
    )

    def __init__(self, scene: str, params: dict[str, Any], seed: int) -> None:
        setup = build_scene(scene, params, seed=seed)
        self.scene, self.params, self.setup = scene, setup.params, setup
        self.engine = engine_for(setup, self)
        self.export = setup.params["export"]
        n = setup.config.shape
        self.space = {a: n[i] for i, a in reversed(list(enumerate(_AXES[: len(n)])))}

    @classmethod
    def from_scene(cls, scene: str, params: dict[str, Any], *, seed: int) -> "FluidSimulator":
        return cls(scene, params, seed)

    @property
    def time(self) -> float:
        return self.engine.time

    @property
    def dt(self) -> float:
        return self.engine.dt

    @property
    def step_count(self) -> int:
        return self.engine.step_count

    def schema(self) -> Schema:
        dims = tuple(self.space)
        h = self.setup.config.h
        coords = {a: tuple((np.arange(s) + 0.5) * h) for a, s in self.space.items()}
        if self.export == "pressure_systems":
            offsets = poisson_offsets(len(dims))[:, ::-1]  # component order of ``dims``
            return stencil_schema(self.space, offsets.tolist())
        variables = [Variable("velocity", ("component", *dims), "m/s",
                              long_name="velocity averaged to cell centres"),
                     Variable("pressure", dims, "Pa")]
        if self.engine.has_scalars:
            variables += [Variable("smoke", dims, "1", long_name="smoke density"),
                          Variable("temperature", dims, "1",
                                   long_name="temperature above ambient")]
        variables.append(Variable("solid", dims, "1", dtype="int8", static=True,
                                  flag_meanings=("fluid", "obstacle")))
        # every side is a wall, an inflow or an outflow (the engine has no periodic
        # side; taylor_green too is bounded, by free-slip walls): no axis wraps around
        return Schema(kind="grid", variables=tuple(variables),
                      sizes={"component": len(dims), **self.space}, space_dims=dims,
                      coords=coords, coord_units={a: "m" for a in dims}, periodic=())

    def used_params(self) -> dict[str, Any]:
        return dict(self.params)

    def static(self) -> dict[str, np.ndarray]:
        if self.export == "pressure_systems":
            return {}
        return {"solid": _storage(self.setup.solid.astype(np.int8))}

    def state(self) -> dict[str, np.ndarray]:
        """The schema's variables in storage order, plus :meth:`Fluid.state` (the raw
        staggered fields a restart needs, keys ``u_x``, ``s_smoke``, ``phi``, ...)."""
        eng = self.engine
        out = eng.state()
        if self.export == "pressure_systems":
            stencil, _, mask = eng.mg.stencil()
            out.update(stencil=np.stack([_storage(s) for s in stencil]),
                       rhs=_storage(out["phi_rhs"] * mask), solution=_storage(out["phi"] * mask),
                       mask=_storage(mask))
            return out
        vel = eng.cell_velocity()
        out.update(velocity=np.stack([_storage(vel[..., a]) for a in range(eng.dim)]),
                   pressure=_storage(eng.pressure()))
        if eng.has_scalars:
            out["smoke"] = _storage(eng.scalar(0))
            out["temperature"] = _storage(eng.scalar(1))
        return out

    def load_state(self, state) -> None:
        """Continue from ``state``, a :meth:`state` of a simulator of the same scene."""
        self.engine.load_state(state)

    def step(self, dt: float | None = None) -> None:
        """One step of ``dt`` (s), by default the CFL step (:meth:`Fluid.step`)."""
        self.engine.step(dt)

    def advance(self, t_end: float) -> None:
        """Step to ``t_end`` (s) by the landing rule (:meth:`Fluid.advance`)."""
        self.engine.advance(t_end)


def _storage(a: np.ndarray) -> np.ndarray:
    """Taichi's ``(x, y[, z])`` index order to storage order ``([z,] y, x)``."""
    return np.ascontiguousarray(np.transpose(a))


FluidSimulator.description += describe()
