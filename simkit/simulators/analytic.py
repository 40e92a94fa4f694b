"""Closed-form reference simulators.

Their states are exact solutions, so every number they write can be checked. They
exercise the dataset pipeline (generation, distribution, resume, statistics,
windows) on a grid and a particle kind without Taichi, and are the demo's data
until the Taichi simulators arrive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simkit.io.schema import Schema, Variable
from simkit.registry import register_simulator, resolve_params
from simkit.simulator import (
    RESTART_KEYS,
    StateReadouts,
    check_t_end,
    clock_state,
    load_clock,
    require_keys,
)

__all__ = ["HeatModes", "HarmonicParticles"]


def _positive(name: str, **values: float) -> None:
    for key, v in values.items():
        if not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
            raise ValueError(f"{name}: parameter {key!r} must be a positive number, got {v!r}")


class _ClosedForm(StateReadouts):
    """Shared clock of the closed-form simulators (:class:`simkit.simulator.Simulator`
    without a time step: ``dt`` is ``nan``, ``advance`` only moves ``time``)."""

    version = "1"
    dt = float("nan")
    step_count = 0
    time = 0.0

    def step(self, dt: float | None = None) -> None:
        """Move the clock by ``dt`` (s): a closed form has no own step, so ``dt`` is needed.

        Raises
        ------
        ValueError
            ``dt`` is not given or not a positive number.
        """
        if dt is None or not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"{type(self).__name__} is closed-form and has no time step of its "
                             f"own: step(dt) needs a positive dt, got {dt!r}")
        self.time += float(dt)
        self.step_count += 1

    def advance(self, t_end: float) -> None:
        """Set the clock to ``t_end`` (s), the state being exact at any time.

        Raises
        ------
        ValueError
            ``t_end`` is before :attr:`time`.
        """
        self.time = check_t_end(t_end, self.time)

    def _clock(self) -> dict[str, np.ndarray]:
        return clock_state(self)

    def load_state(self, state) -> None:
        """Continue from ``state`` (a :meth:`state`): only the clock is state."""
        require_keys(state, RESTART_KEYS, type(self).__name__)
        load_clock(self, state)


@register_simulator("heat")
class HeatModes(_ClosedForm):
    """Periodic heat equation, exact solution from random Fourier modes.

    ``T(x, t) = T0 + sum_m a_m exp(-kappa |k_m|^2 t) cos(k_m . x + phi_m)`` on the box
    ``[0, L)^d`` with ``k_m = 2 pi n_m / L`` for integer vectors ``n_m``.

    Stored on cell centres (``(z,) y, x`` storage order; vector component 0 is x):
    ``temperature`` (K), ``temperature_gradient`` (K/m), ``temperature_hessian``
    (K/m^2), and the static ``boundary_code`` per face (all periodic).
    """

    description = (
        "Heat equation dT/dt = kappa laplacian(T) on a periodic box [0, L)^d, solved "
        "exactly: T = T0 + sum_m a_m exp(-kappa |k_m|^2 t) cos(k_m . x + phi_m) with "
        "k_m = 2 pi n_m / L, n_m random integer vectors with |n_i| <= max_wavenumber, "
        "a_m ~ amplitude * U(-1, 1), phi_m ~ U(0, 2 pi). Values at cell centres. "
        "Boundaries: periodic on every face. Units: SI (K, m, s)."
    )
    FACES = {2: ("x_lo", "x_hi", "y_lo", "y_hi"),
             3: ("x_lo", "x_hi", "y_lo", "y_hi", "z_lo", "z_hi")}
    BOUNDARY_CODES = ("periodic", "dirichlet", "neumann")

    def __init__(self, ndim: int, params: dict[str, Any], seed: int) -> None:
        p = resolve_params("heat", f"modes{ndim}d", params)
        _positive("heat", length=p["length"], diffusivity=p["diffusivity"],
                  amplitude=p["amplitude"], mean_temperature=p["mean_temperature"])
        for key in ("resolution", "n_modes", "max_wavenumber"):
            if not isinstance(p[key], int) or p[key] < 1:
                raise ValueError(f"heat: parameter {key!r} must be a positive int, got {p[key]!r}")
        self.ndim = ndim
        self.params = p
        self.time = 0.0
        rng = np.random.default_rng(seed)
        kmax = p["max_wavenumber"]
        n = rng.integers(-kmax, kmax + 1, size=(p["n_modes"], ndim))
        n[np.all(n == 0, axis=1), 0] = 1  # no constant mode: T0 carries the mean
        self.k = 2 * np.pi / p["length"] * n  # (modes, d), component 0 = x
        self.a = p["amplitude"] * rng.uniform(-1, 1, size=p["n_modes"])
        self.phi = rng.uniform(0, 2 * np.pi, size=p["n_modes"])
        res, h = p["resolution"], p["length"] / p["resolution"]
        self.centres = (np.arange(res) + 0.5) * h
        # storage order (z,) y, x; coordinate component i is axis ndim-1-i
        grids = np.meshgrid(*([self.centres] * ndim), indexing="ij")
        self._x = np.stack(grids[::-1], axis=0)  # (d, *space), component 0 = x

    @classmethod
    def from_scene(cls, scene: str, params: dict[str, Any], *, seed: int) -> HeatModes:
        return cls(2 if scene == "modes2d" else 3, params, seed)

    def schema(self) -> Schema:
        space = ("y", "x") if self.ndim == 2 else ("z", "y", "x")
        res = self.params["resolution"]
        sizes = {d: res for d in space} | {"component": self.ndim, "row": self.ndim,
                                           "col": self.ndim, "face": 2 * self.ndim}
        return Schema(
            kind="grid",
            variables=(
                Variable("temperature", space, "K", long_name="temperature"),
                Variable("temperature_gradient", ("component", *space), "K/m",
                         long_name="grad T, component 0 = x"),
                Variable("temperature_hessian", ("row", "col", *space), "K/m^2",
                         long_name="d2T/dx_i dx_j"),
                Variable("boundary_code", ("face",), "1", dtype="int8", static=True,
                         long_name="boundary condition per face: "
                                   + ", ".join(self.FACES[self.ndim]),
                         flag_meanings=self.BOUNDARY_CODES),
            ),
            sizes=sizes,
            space_dims=space,
            coords={d: tuple(self.centres) for d in space},
            coord_units={d: "m" for d in space},
            periodic=space,  # boundary_code 0 on every face
        )

    def used_params(self) -> dict[str, Any]:
        return dict(self.params)

    def static(self) -> dict[str, np.ndarray]:
        return {"boundary_code": np.zeros(2 * self.ndim, dtype=np.int8)}

    def state(self) -> dict[str, np.ndarray]:
        kappa = self.params["diffusivity"]
        d = self.ndim
        space = self._x.shape[1:]
        temp = np.full(space, float(self.params["mean_temperature"]))
        grad = np.zeros((d, *space))
        hess = np.zeros((d, d, *space))
        for k, a, phi in zip(self.k, self.a, self.phi, strict=True):
            amp = a * math.exp(-kappa * float(k @ k) * self.time)
            phase = np.tensordot(k, self._x, axes=1) + phi
            c, s = np.cos(phase), np.sin(phase)
            temp += amp * c
            grad -= amp * k.reshape(d, *([1] * d)) * s
            hess -= amp * np.multiply.outer(np.outer(k, k), c)
        return {"temperature": temp, "temperature_gradient": grad, "temperature_hessian": hess,
                **self._clock()}


@register_simulator("oscillator")
class HarmonicParticles(_ClosedForm):
    """A cloud of independent isotropic harmonic oscillators, solved exactly.

    Particle ``i`` with anchor ``c_i``, initial offset ``A_i`` and velocity ``V_i``:
    ``x(t) = c + A cos(w t) + V / w sin(w t)``, ``v(t) = -A w sin(w t) + V cos(w t)``
    with ``w = omega * omega_factor[type]``. Types: ``soft`` (factor 1) and
    ``stiff`` (factor 2). The particle count is a parameter, so it can vary
    between trajectories.
    """

    description = (
        "Independent isotropic harmonic oscillators x'' = -w^2 (x - c), solved exactly: "
        "x = c + A cos(w t) + V/w sin(w t), w = omega * omega_factor[type]. Anchors c "
        "uniform in [0, box)^d, offsets A uniform in [-0.05 box, 0.05 box]^d, velocities "
        "V uniform in [-speed, speed]^d; particle types drawn with P(stiff) = "
        "stiff_fraction. No boundaries. Units: SI (m, s)."
    )
    MATERIALS = {"name": ("soft", "stiff"), "omega_factor": (1.0, 2.0)}

    def __init__(self, ndim: int, params: dict[str, Any], seed: int) -> None:
        p = resolve_params("oscillator", f"cloud{ndim}d", params)
        _positive("oscillator", omega=p["omega"], box=p["box"], speed=p["speed"])
        if not isinstance(p["n_particles"], int) or p["n_particles"] < 1:
            raise ValueError(f"oscillator: 'n_particles' must be a positive int, got "
                             f"{p['n_particles']!r}")
        if not 0 <= p["stiff_fraction"] <= 1:
            raise ValueError(f"oscillator: 'stiff_fraction' must be in [0, 1], got "
                             f"{p['stiff_fraction']!r}")
        self.ndim, self.params, self.time = ndim, p, 0.0
        rng = np.random.default_rng(seed)
        n = p["n_particles"]
        self.types = (rng.random(n) < p["stiff_fraction"]).astype(np.int32)
        self.w = p["omega"] * np.asarray(self.MATERIALS["omega_factor"])[self.types][:, None]
        self.c = rng.uniform(0, p["box"], size=(n, ndim))
        self.A = rng.uniform(-0.05 * p["box"], 0.05 * p["box"], size=(n, ndim))
        self.V = rng.uniform(-p["speed"], p["speed"], size=(n, ndim))

    @classmethod
    def from_scene(cls, scene: str, params: dict[str, Any], *, seed: int) -> HarmonicParticles:
        return cls(2 if scene == "cloud2d" else 3, params, seed)

    def schema(self) -> Schema:
        return Schema(
            kind="particles",
            variables=(
                Variable("position", ("particle", "component"), "m"),
                Variable("velocity", ("particle", "component"), "m/s"),
                Variable("particle_type", ("particle",), "1", dtype="int32", static=True,
                         flag_meanings=self.MATERIALS["name"]),
                Variable("material_id", ("particle",), "1", dtype="int32", static=True,
                         long_name="row of the material table"),
            ),
            sizes={"component": self.ndim},
            ragged_dim="particle",
            tables={"material": self.MATERIALS},
        )

    def used_params(self) -> dict[str, Any]:
        return dict(self.params)

    def static(self) -> dict[str, np.ndarray]:
        return {"particle_type": self.types, "material_id": self.types.copy()}

    def state(self) -> dict[str, np.ndarray]:
        wt = self.w * self.time
        pos = self.c + self.A * np.cos(wt) + self.V / self.w * np.sin(wt)
        vel = -self.A * self.w * np.sin(wt) + self.V * np.cos(wt)
        return {"position": pos, "velocity": vel, **self._clock()}
