"""Fourth-order Hermite predictor-corrector (Makino & Aarseth 1992) with shared steps,
and the step-size controllers it (or a learned policy) can use.

A controller maps the state after a step to the next step size; classical ones are
:class:`FixedStep` and :class:`AarsethStep` (``dt = eta sqrt((|a||a2| + |j|^2) /
(|j||a3| + |a2|^2))``, minimum over bodies). Few-body sums in numpy.
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simkit.simulators.nbody.gravity import _pairwise

__all__ = ["acc_jerk", "hermite_step", "StepState", "StepController", "FixedStep",
           "AarsethStep"]


def acc_jerk(x: np.ndarray, v: np.ndarray, m: np.ndarray, G: float,
             eps2: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Accelerations and jerks ``(N, 3)`` by direct summation."""
    dx, r2 = _pairwise(x, eps2)
    dv = v[None, :, :] - v[:, None, :]
    inv3 = m[None, :] / (r2 * np.sqrt(r2))
    rv = np.einsum("ijk,ijk->ij", dx, dv) / r2
    a = G * np.einsum("ij,ijk->ik", inv3, dx)
    j = G * np.einsum("ij,ijk->ik", inv3, dv - 3 * rv[:, :, None] * dx)
    return a, j


@dataclass
class StepState:
    """What a controller sees after a step: time, last step, and per-body derivatives
    ``(N, 3)`` at the new time (acceleration, jerk, snap ``a2``, crackle ``a3``)."""

    time: float
    dt: float
    a: np.ndarray
    j: np.ndarray
    a2: np.ndarray
    a3: np.ndarray


class StepController(Protocol):
    """Chooses the next shared step size from the state after a step."""

    def first_dt(self, a: np.ndarray, j: np.ndarray) -> float: ...

    def next_dt(self, state: StepState) -> float: ...


@dataclass
class FixedStep:
    dt: float

    def first_dt(self, a, j) -> float:
        return self.dt

    def next_dt(self, state: StepState) -> float:
        return self.dt


@dataclass
class AarsethStep:
    """Aarseth's criterion with accuracy parameter ``eta`` (0.01-0.03 usual)."""

    eta: float = 0.02
    eta_start: float = 0.01

    def first_dt(self, a, j) -> float:
        """``eta_start * min_i |a_i| / |j_i|`` over the bodies whose acceleration is not
        negligible (a body at a point of symmetry, like the figure-eight's middle one, has
        ``a = 0`` and would give a zero step)."""
        na, nj = np.linalg.norm(a, axis=1), np.linalg.norm(j, axis=1)
        ok = (na > 1e-6 * na.max()) & (nj > 0)
        if not ok.any():
            raise ValueError("Aarseth's first step needs bodies with non-zero acceleration "
                             "and jerk; give a FixedStep controller for free bodies")
        return float(self.eta_start * np.min(na[ok] / nj[ok]))

    def next_dt(self, state: StepState) -> float:
        n = [np.linalg.norm(q, axis=1) for q in (state.a, state.j, state.a2, state.a3)]
        num = n[0] * n[2] + n[1] ** 2
        den = np.maximum(n[1] * n[3] + n[2] ** 2, 1e-300)
        return float(np.min(np.sqrt(self.eta * self.eta * num / den)))


def hermite_step(x, v, m, G, eps2, a0, j0, dt):
    """One Hermite step: new ``x, v, a, j`` and the snap and crackle at the new time."""
    xp = x + dt * (v + dt * (a0 / 2 + dt * j0 / 6))
    vp = v + dt * (a0 + dt * j0 / 2)
    a1, j1 = acc_jerk(xp, vp, m, G, eps2)
    v1 = v + dt / 2 * (a0 + a1) + dt * dt / 12 * (j0 - j1)
    x1 = x + dt / 2 * (v + v1) + dt * dt / 12 * (a0 - a1)
    a2 = (-6 * (a0 - a1) - dt * (4 * j0 + 2 * j1)) / dt**2
    a3 = (12 * (a0 - a1) + 6 * dt * (j0 + j1)) / dt**3
    return x1, v1, a1, j1, a2 + dt * a3, a3
