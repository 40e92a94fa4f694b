"""A step-by-step environment for learning a time-step controller (gym-style API).

One episode integrates an N-body system with ``hermite4`` from ``t = 0`` to ``t_end``;
at every step the agent chooses the step size. Observation (float64, shape (5,)):
``[log10 dt_aarseth, log10 min_i |a_i|/|j_i|, t / t_end, log10 max(|dE/E0|, 1e-16),
log10 dt_previous]`` where ``dt_aarseth`` is Aarseth's step at ``eta = 1`` (so a
classical controller is the action ``eta * obs[0]`` in linear units). Reward per step:
``-(|dE/E0|_new - |dE/E0|_old) / energy_tol - cost_weight`` (one force evaluation per
step). ``info`` carries ``energy_error``, ``cost`` (force evaluations so far), ``dt``.
"""

from collections.abc import Callable

import numpy as np

from simkit.simulators.nbody.hermite import AarsethStep, FixedStep
from simkit.simulators.nbody.simulation import NBody

__all__ = ["TimeStepEnv"]


class TimeStepEnv:
    """Parameters
    ----------
    make_system : callable
        ``rng -> (masses (n,), positions (n, 3), velocities (n, 3))``, e.g.
        :func:`~simkit.simulators.nbody.ics.random_threebody`.
    t_end : float
    G, softening : float
    energy_tol : float
        Energy error that costs as much as ``1 / cost_weight`` steps.
    cost_weight : float
    """

    def __init__(self, make_system: Callable, t_end: float, *, G: float = 1.0,
                 softening: float = 0.0, energy_tol: float = 1e-8,
                 cost_weight: float = 1e-3) -> None:
        self.make_system, self.t_end = make_system, float(t_end)
        self.G, self.softening = G, softening
        self.energy_tol, self.cost_weight = energy_tol, cost_weight
        self._probe = AarsethStep(eta=1.0)

    def reset(self, seed: int | None = None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        self.sim = NBody(G=self.G, softening=self.softening, integrator="hermite4",
                         controller=FixedStep(1.0))
        self.sim.add_arrays(*self.make_system(rng))
        self.e0 = self.sim.energy()
        self.error, self.cost, self.dt_prev = 0.0, 0, float("nan")
        return self._observe(self._probe.first_dt(*self.sim.acc_jerk()))

    def _observe(self, dt_aarseth: float) -> np.ndarray:
        a, j = self.sim.acc_jerk()
        ratio = np.min(np.linalg.norm(a, axis=1) / np.maximum(np.linalg.norm(j, axis=1), 1e-300))
        return np.array([np.log10(dt_aarseth), np.log10(ratio), self.sim.time / self.t_end,
                         np.log10(max(self.error, 1e-16)),
                         np.log10(self.dt_prev) if self.dt_prev == self.dt_prev else 0.0])

    def step(self, dt: float) -> tuple[np.ndarray, float, bool, dict]:
        """Advance by ``dt`` (clipped to land on ``t_end``)."""
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive number, got {dt!r}")
        h = min(float(dt), self.t_end - self.sim.time)
        self.sim.step(h)
        self.cost += 1
        error = abs(self.sim.energy() / self.e0 - 1)
        reward = -(error - self.error) / self.energy_tol - self.cost_weight
        self.error, self.dt_prev = error, h
        done = self.sim.time >= self.t_end * (1 - 1e-12)
        obs = self._observe(self._probe.next_dt(self.sim.last_state))
        return obs, reward, done, {"energy_error": error, "cost": self.cost, "dt": h}
