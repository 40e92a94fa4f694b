"""A REBOUND-like gravitational N-body simulation.

>>> sim = NBody(G=1.0, integrator="leapfrog", dt=1e-3)   # doctest: +SKIP
>>> sim.add(m=1.0); sim.add(m=1e-3, x=1.0, vy=1.0)       # doctest: +SKIP
>>> sim.move_to_com(); sim.integrate(2 * math.pi)        # doctest: +SKIP

Integrators: ``leapfrog`` (kick-drift-kick, second order, symplectic), ``yoshida4``
(Yoshida's fourth-order composition of three leapfrogs), ``hermite4`` (fourth-order
Hermite predictor-corrector with shared steps from a pluggable controller, Aarseth's
criterion by default; few-body, numpy), and ``dop853`` (adaptive
8th-order embedded Runge-Kutta of Dormand & Prince with error control, from scipy;
for few-body problems at high accuracy). Positions and velocities are float64; the
direct-summation kernel for many bodies runs in ``precision`` (f32 or f64).
"""

import math

import numpy as np

from simkit.errors import Encounter, Escape, SimulationDiverged
from simkit.simulator import check_t_end, clock_state, landing_steps, load_clock, require_keys
from simkit.simulators.nbody.gravity import accelerations, potential_energy
from simkit.simulators.nbody.hermite import (
    AarsethStep,
    StepController,
    StepState,
    acc_jerk,
    hermite_step,
)
from simkit.simulators.nbody.pm import pm_accelerations, pm_potential_energy
from simkit.simulators.nbody.tree import tree_accelerations

__all__ = ["NBody", "Encounter", "Escape", "INTEGRATORS", "G_AU_DAY_MSUN"]

INTEGRATORS = ("leapfrog", "yoshida4", "hermite4", "dop853")
#: Gaussian gravitational constant squared: G in AU^3 / (Msun day^2).
G_AU_DAY_MSUN = 0.01720209895**2

_CBRT2 = 2.0 ** (1.0 / 3.0)
_YOSHIDA = (1.0 / (2.0 - _CBRT2), -_CBRT2 / (2.0 - _CBRT2), 1.0 / (2.0 - _CBRT2))


class NBody:
    """Bodies under mutual (softened) gravity.

    Parameters
    ----------
    G : float
        Gravitational constant in the units of the simulation (1 for N-body units,
        :data:`G_AU_DAY_MSUN` for AU, days and solar masses).
    softening : float
        Plummer softening length ``eps``.
    integrator : {"leapfrog", "yoshida4", "hermite4", "dop853"}
    dt : float
        Step of the fixed-step integrators (the initial step hint of ``dop853``).
    controller : StepController, optional
        Step-size controller of ``hermite4`` (default ``AarsethStep(eta=0.02)``).
    rtol, atol : float
        Error control of ``dop853``.
    precision : {"f64", "f32"}
        Precision of the many-body Taichi kernel.
    exit_min_distance : float, optional
        Raise :class:`~simkit.errors.Encounter` when two bodies come closer than this
        (REBOUND's ``exit_min_distance``; periodic distances with ``gravity="pm"``).
    exit_max_distance : float, optional
        Raise :class:`~simkit.errors.Escape` when a body is farther than this from the
        centre of mass (REBOUND's ``exit_max_distance``; not with ``gravity="pm"``).
        Both are checked after every step of the fixed-step integrators and
        ``hermite4``, and located to the crossing time as terminal events by ``dop853``.
    gravity : {"direct", "tree", "pm"}
        Direct summation; Barnes-Hut with opening angle ``theta`` (float64); or
        particle-mesh in the periodic cube ``[0, box)^3`` on a ``mesh^3`` grid
        (positions wrap around; softening is the mesh's).

    Notes
    -----
    Follows :class:`simkit.simulator.Stepper`: :meth:`step`, :meth:`advance` (the
    landing rule; :meth:`integrate` is its REBOUND-style name), :meth:`state` and
    :meth:`load_state`.
    """

    def __init__(self, *, G: float = 1.0, softening: float = 0.0, integrator: str = "leapfrog",
                 dt: float = 1e-3, rtol: float = 1e-12, atol: float = 1e-14,
                 precision: str = "f64", exit_min_distance: float | None = None,
                 exit_max_distance: float | None = None, gravity: str = "direct",
                 box: float = 1.0, mesh: int = 64, theta: float = 0.5,
                 controller: StepController | None = None) -> None:
        if integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {list(INTEGRATORS)}, got {integrator!r}")
        for name, v in (("G", G), ("dt", dt), ("rtol", rtol), ("atol", atol)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if not (math.isfinite(softening) and softening >= 0):
            raise ValueError(f"softening must be >= 0, got {softening!r}")
        if gravity not in ("direct", "tree", "pm"):
            raise ValueError(f"gravity must be 'direct', 'tree' or 'pm', got {gravity!r}")
        for name, v in (("exit_min_distance", exit_min_distance),
                        ("exit_max_distance", exit_max_distance)):
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number or None, got {v!r}")
        if gravity == "pm" and exit_max_distance is not None:
            raise ValueError("exit_max_distance must be None with gravity='pm': nothing "
                             "escapes a periodic box")
        self.gravity, self.box, self.mesh, self.theta = gravity, float(box), int(mesh), theta
        if precision not in ("f64", "f32"):
            raise ValueError(f"precision must be 'f64' or 'f32', got {precision!r}")
        self.G, self.softening, self.integrator, self.dt = G, softening, integrator, dt
        self.rtol, self.atol = rtol, atol
        self.dtype = np.float64 if precision == "f64" else np.float32
        self.exit_min_distance, self.exit_max_distance = exit_min_distance, exit_max_distance
        self.x = np.zeros((0, 3))
        self.v = np.zeros((0, 3))
        self.m = np.zeros(0)
        self.time, self.step_count = 0.0, 0
        self._acc: np.ndarray | None = None
        self.controller = controller if controller is not None else AarsethStep()
        self._aj: tuple[np.ndarray, np.ndarray] | None = None
        self.next_dt = dt
        self.last_state: StepState | None = None

    # ---- bodies -----------------------------------------------------------------------

    def add(self, m: float, x: float = 0.0, y: float = 0.0, z: float = 0.0, vx: float = 0.0,
            vy: float = 0.0, vz: float = 0.0) -> None:
        """Add one body of mass ``m`` at ``(x, y, z)`` with velocity ``(vx, vy, vz)``."""
        self.add_arrays([m], [[x, y, z]], [[vx, vy, vz]])

    def add_arrays(self, m, pos, vel) -> None:
        """Add bodies: masses ``(n,)``, positions and velocities ``(n, 3)``."""
        m = np.atleast_1d(np.asarray(m, dtype=np.float64))
        pos = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
        vel = np.asarray(vel, dtype=np.float64).reshape(-1, 3)
        if not (len(m) == len(pos) == len(vel)):
            raise ValueError(f"m, pos and vel must describe the same bodies, got {len(m)}, "
                             f"{len(pos)} and {len(vel)}")
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel)) and np.all(m >= 0)):
            raise ValueError("positions and velocities must be finite and masses >= 0")
        self.x = np.concatenate([self.x, pos])
        self.v = np.concatenate([self.v, vel])
        self.m = np.concatenate([self.m, m])
        self._acc = self._aj = None

    @property
    def n(self) -> int:
        return len(self.m)

    @property
    def positions(self) -> np.ndarray:
        return self.x.copy()

    @property
    def velocities(self) -> np.ndarray:
        return self.v.copy()

    @property
    def masses(self) -> np.ndarray:
        return self.m.copy()

    def move_to_com(self) -> None:
        """Shift to the centre-of-mass frame (position and velocity)."""
        M = self.m.sum()
        self.x -= (self.m @ self.x) / M
        self.v -= (self.m @ self.v) / M
        self._acc = self._aj = None

    # ---- diagnostics ------------------------------------------------------------------

    def accelerations(self, x: np.ndarray | None = None) -> np.ndarray:
        x = self.x if x is None else x
        if self.gravity == "pm":
            return pm_accelerations(x, self.m, self.box, self.mesh, self.G)
        if self.gravity == "tree":
            return tree_accelerations(x, self.m, self.G, self.softening, self.theta)
        return accelerations(x, self.m, self.G, self.softening, dtype=self.dtype)

    def kinetic_energy(self) -> float:
        return float(0.5 * np.sum(self.m * np.sum(self.v**2, axis=1)))

    def potential_energy(self) -> float:
        if self.gravity == "pm":
            return pm_potential_energy(self.x, self.m, self.box, self.mesh, self.G)
        return potential_energy(self.x, self.m, self.G, self.softening)

    def energy(self) -> float:
        return self.kinetic_energy() + self.potential_energy()

    def momentum(self) -> np.ndarray:
        return self.m @ self.v

    def angular_momentum(self) -> np.ndarray:
        return np.sum(self.m[:, None] * np.cross(self.x, self.v), axis=0)

    def virial_ratio(self) -> float:
        """``2 K / |W|`` (1 in virial equilibrium)."""
        return 2 * self.kinetic_energy() / abs(self.potential_energy())

    # ---- time stepping ----------------------------------------------------------------

    def _kdk(self, h: float) -> None:
        if self._acc is None:
            self._acc = self.accelerations()
        self.v += 0.5 * h * self._acc
        self.x += h * self.v
        if self.gravity == "pm":
            np.mod(self.x, self.box, out=self.x)
        self._acc = self.accelerations()
        self.v += 0.5 * h * self._acc

    def acc_jerk(self) -> tuple[np.ndarray, np.ndarray]:
        """Accelerations and jerks ``(n, 3)`` of direct softened gravity at the current state
        (``hermite4`` returns those of its last step, evaluated at the predicted state as
        the PEC scheme does; they differ from a fresh evaluation by O(dt^4))."""
        if self.integrator != "hermite4":
            return acc_jerk(self.x, self.v, self.m, self.G, self.softening**2)
        self._hermite_prepare()
        return self._aj

    def _hermite_prepare(self) -> None:
        if self._aj is None:
            self._aj = acc_jerk(self.x, self.v, self.m, self.G, self.softening**2)
            self.next_dt = self.controller.first_dt(*self._aj)

    def _hermite(self, h: float) -> None:
        x, v, a, j, a2, a3 = hermite_step(self.x, self.v, self.m, self.G, self.softening**2,
                                          *self._aj, h)
        self.x, self.v, self._aj = x, v, (a, j)
        self.last_state = StepState(self.time + h, h, a, j, a2, a3)
        self.next_dt = self.controller.next_dt(self.last_state)
        if not (math.isfinite(self.next_dt) and self.next_dt > 0):
            raise ValueError(f"the step controller returned dt={self.next_dt!r}; expected a "
                             "positive number")

    def step(self, dt: float | None = None) -> None:
        """One step: ``dt`` by default, or the controller's next step for ``hermite4``
        (raises as :meth:`integrate` does)."""
        if self.integrator == "dop853":
            self._dop853(self.time + (self.dt if dt is None else dt))
            return
        if self.integrator == "hermite4":
            self._hermite_prepare()
            h = self.next_dt if dt is None else dt
            self._hermite(h)
        else:
            h = self.dt if dt is None else dt
            for w in (1.0,) if self.integrator == "leapfrog" else _YOSHIDA:
                self._kdk(w * h)
        self.time += h
        self.step_count += 1
        self._check_state()

    def _rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        x = y[: 3 * self.n].reshape(-1, 3)
        return np.concatenate([y[3 * self.n:], self.accelerations(x).ravel()])

    def _events(self) -> list:
        """Terminal ``solve_ivp`` events of the exit conditions: (kind, function) pairs."""
        n = self.n
        events = []
        if self.exit_min_distance is not None and n > 1:
            def close(t: float, y: np.ndarray) -> float:
                return self._closest_pair(y[: 3 * n].reshape(-1, 3))[1] - self.exit_min_distance

            events.append(("encounter", close))
        if self.exit_max_distance is not None:
            def far(t: float, y: np.ndarray) -> float:
                return self.exit_max_distance - self._com_distances(y[: 3 * n].reshape(-1, 3)).max()

            events.append(("escape", far))
        for _, f in events:
            f.terminal, f.direction = True, -1
        return events

    def _dop853(self, t_end: float) -> None:
        from scipy.integrate import solve_ivp

        # events see crossings only: a state already beyond a limit is caught here
        self._check_state()
        events = self._events()
        y0 = np.concatenate([self.x.ravel(), self.v.ravel()])
        sol = solve_ivp(self._rhs, (self.time, t_end), y0, method="DOP853", rtol=self.rtol,
                        atol=self.atol, first_step=min(self.dt, t_end - self.time),
                        events=[f for _, f in events] or None)
        # on a failure or an event, the last column is the last accepted or the event state
        self.x = sol.y[: 3 * self.n, -1].reshape(-1, 3).copy()
        self.v = sol.y[3 * self.n:, -1].reshape(-1, 3).copy()
        self.step_count += len(sol.t) - 1
        self.time = t_end if sol.status == 0 else float(sol.t[-1])
        self._acc = None
        if sol.status == 1:
            self._raise_exit(next(kind for (kind, _), te in zip(events, sol.t_events, strict=True)
                                  if len(te)))
        if sol.status == -1:
            self._check_finite()
            pair, d = self._closest_pair(self.x)
            # the step collapses only where the forces vary on a scale below the float64
            # spacing of the time: two point masses all but colliding
            raise Encounter(f"near-collision: dop853 cannot continue ({sol.message})",
                            step=self.step_count, time=self.time, bodies=pair, distance=d)
        self._check_state()

    def _own_dt(self) -> float:
        """``dt``, or the controller's next step for ``hermite4``."""
        if self.integrator == "hermite4":
            self._hermite_prepare()
            return self.next_dt
        return self.dt

    def advance(self, t_end: float) -> None:
        """Advance to ``t_end`` by the landing rule of :mod:`simkit.simulator`: steps of
        ``dt`` (``hermite4``: of the controller's step), the last shortened to land on
        ``t_end``, the last two halving the span rather than leave a sliver; ``dop853``
        chooses its own steps and lands on ``t_end``.

        Raises
        ------
        ValueError
            ``t_end`` is before :attr:`time`.
        Encounter
            Two bodies came closer than ``exit_min_distance``, or ``dop853`` could not
            shrink its step further (a near-collision). The state is left at that moment.
        Escape
            A body went farther than ``exit_max_distance`` from the centre of mass.
        SimulationDiverged
            A position or velocity became non-finite.
        """
        if self.integrator == "dop853":
            t_end = check_t_end(t_end, self.time)
            if t_end > self.time:
                self._dop853(t_end)
            return
        for h in landing_steps(self, t_end, self._own_dt):
            self.step(h)

    def integrate(self, t_end: float) -> None:
        """REBOUND's name of :meth:`advance`: integrate to ``t_end``."""
        self.advance(t_end)

    # ---- restart ----------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """The complete state (copies).

        Returns
        -------
        dict
            ``position``, ``velocity`` ``(n, 3)`` float64; with ``hermite4`` also the
            ``acceleration`` and ``jerk`` ``(n, 3)`` of the last step and ``next_dt``;
            the clock ``time``, ``step_count`` (0-d).
        """
        out = {"position": self.x.copy(), "velocity": self.v.copy(), **clock_state(self)}
        if self.integrator == "hermite4":
            self._hermite_prepare()
            out.update(acceleration=self._aj[0].copy(), jerk=self._aj[1].copy(),
                       next_dt=np.float64(self.next_dt))
        return out

    def load_state(self, state) -> None:
        """Continue from ``state``, a :meth:`state` of a simulation of the same bodies
        and integrator.

        Raises
        ------
        ValueError
            A key is missing or an array has the wrong shape.
        """
        keys = ["position", "velocity", "time", "step_count"]
        if self.integrator == "hermite4":
            keys += ["acceleration", "jerk", "next_dt"]
        require_keys(state, keys, "NBody")
        arrays = {k: np.array(state[k], dtype=np.float64) for k in keys
                  if k in ("position", "velocity", "acceleration", "jerk")}
        for key, value in arrays.items():
            if value.shape != (self.n, 3):
                raise ValueError(f"NBody.load_state: {key!r} must have shape {(self.n, 3)}, "
                                 f"got {value.shape}")
        self.x, self.v = arrays["position"], arrays["velocity"]
        self._acc = None
        self._aj = None
        if self.integrator == "hermite4":
            self._aj = (arrays["acceleration"], arrays["jerk"])
            self.next_dt = float(state["next_dt"])
        load_clock(self, state)

    # ---- terminations -----------------------------------------------------------------

    def _com_distances(self, x: np.ndarray) -> np.ndarray:
        """Distances ``(n,)`` of the bodies from their centre of mass."""
        return np.linalg.norm(x - (self.m @ x) / self.m.sum(), axis=1)

    def _closest_pair(self, x: np.ndarray) -> tuple[tuple[int, int], float]:
        """The closest pair ``(i, j)``, ``i < j``, of positions ``(n, 3)`` and its distance
        (a k-d tree, O(n log n); the periodic distance with ``gravity="pm"``)."""
        from scipy.spatial import cKDTree

        box = None
        if self.gravity == "pm":
            box = self.box
            x = np.mod(x, box)
            x[x >= box] = 0.0
        d, nb = cKDTree(x, boxsize=box).query(x, k=2)
        i = int(np.argmin(d[:, 1]))
        j = int(nb[i, 1] if nb[i, 1] != i else nb[i, 0])  # coincident bodies: either order
        return (min(i, j), max(i, j)), float(d[i, 1])

    def _check_finite(self) -> None:
        bad = ~(np.isfinite(self.x).all(axis=1) & np.isfinite(self.v).all(axis=1))
        if bad.any():
            raise SimulationDiverged("non-finite body state", step=self.step_count,
                                     time=self.time, index=(int(np.argmax(bad)),),
                                     field="position")

    def _raise_exit(self, kind: str) -> None:
        """Raise the :class:`Encounter` or :class:`Escape` of the current state."""
        if kind == "encounter":
            pair, d = self._closest_pair(self.x)
            raise Encounter(f"close encounter (exit_min_distance {self.exit_min_distance:g})",
                            step=self.step_count, time=self.time, bodies=pair, distance=d)
        r = self._com_distances(self.x)
        raise Escape(f"escape (exit_max_distance {self.exit_max_distance:g})",
                     step=self.step_count, time=self.time, body=int(np.argmax(r)),
                     distance=float(r.max()))

    def _check_state(self) -> None:
        """Non-finite values, then the exit conditions, on the current state."""
        self._check_finite()
        if (self.exit_max_distance is not None
                and self._com_distances(self.x).max() > self.exit_max_distance):
            self._raise_exit("escape")
        if (self.exit_min_distance is not None and self.n > 1
                and self._closest_pair(self.x)[1] < self.exit_min_distance):
            self._raise_exit("encounter")
