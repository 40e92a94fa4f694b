"""The one protocol every simulator follows, and the landing rule of ``advance``.

Two levels: a :class:`Stepper` is anything that moves a state through time (the
engines :class:`~simkit.simulators.mpm.MPM`, :class:`~simkit.simulators.fluid.Fluid`,
:class:`~simkit.simulators.spectral_ns.SpectralNS2D`,
:class:`~simkit.simulators.nbody.NBody`); a :class:`Simulator` is a registered stepper
that also describes its dataset (``simkit generate`` drives it).

The landing rule
----------------
``advance(t_end)`` takes steps of the simulator's own ``dt`` (a CFL-limited one
computes it from its state) and lands exactly on ``t_end``; :func:`landing_step` says
how long the next step is, given the time left ``r = t_end - time`` and the own
step ``h``:

* ``r <= ROUNDOFF h``: no step; ``time`` is set to ``t_end`` (round-off of ``k *
  write_interval``, never physics);
* ``r <= (1 + ROUNDOFF) h``: one step of ``r``, the last (shortened, or stretched by
  round-off at most), after which ``time == t_end`` exactly;
* ``r < (1 + SLIVER) h``: a step of ``r / 2``, so that the last two steps share the
  span instead of leaving a sliver shorter than ``SLIVER h`` (a sliver costs a whole
  step and loses digits in schemes that difference over the step, such as Hermite's);
* otherwise a full step of ``h``.

No step is ever longer than ``(1 + ROUNDOFF) h``, and a span that is a whole number
of steps (``write_interval = k dt``) takes exactly ``k`` of them. ``t_end < time``
raises ``ValueError``. Adaptive integrators that choose their own steps inside one
call (``NBody``'s ``dop853``) integrate to ``t_end`` and land on it; closed-form
simulators (``dt = nan``) just set the time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from simkit.io.schema import Schema

__all__ = ["Stepper", "Simulator", "StateReadouts", "landing_step", "landing_steps",
           "check_t_end", "require_keys", "clock_state", "load_clock", "state_frame",
           "ROUNDOFF", "SLIVER", "RESTART_KEYS"]

#: Relative round-off below which a remainder is not a step of its own (see the module doc).
ROUNDOFF = 1e-9
#: A last step shorter than this fraction of ``dt`` is avoided by halving the last span.
SLIVER = 0.25
#: Keys every ``state()`` carries besides its variables: the clock ``load_state`` restores.
RESTART_KEYS = ("time", "step_count")


def check_t_end(t_end: float, time: float) -> float:
    """``t_end`` as a float; ``ValueError`` naming both times when it is before ``time``.

    Parameters
    ----------
    t_end : float
        Target time of ``advance`` (s).
    time : float
        The simulator's current time (s).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``t_end`` is not a finite number, or ``t_end < time``.
    """
    if isinstance(t_end, bool) or not isinstance(t_end, int | float | np.floating | np.integer):
        raise ValueError(f"t_end must be a number, got {type(t_end).__name__} {t_end!r}")
    t_end = float(t_end)
    if not math.isfinite(t_end):
        raise ValueError(f"t_end must be finite, got {t_end!r}")
    if t_end < time:
        raise ValueError(f"t_end={t_end!r} is before the current time {time!r}; a simulator "
                         "only advances (load_state an earlier state to go back)")
    return t_end


def landing_step(remaining: float, dt: float) -> float:
    """Length of the next step of ``advance`` (the landing rule of the module doc).

    Parameters
    ----------
    remaining : float
        ``t_end - time`` (s), ``>= 0``.
    dt : float
        The simulator's own step now (s), ``> 0``.

    Returns
    -------
    float
        ``0.0`` (no step: set ``time = t_end``), ``remaining`` (the last step),
        ``remaining / 2`` or ``dt``.

    Raises
    ------
    ValueError
        ``dt`` is not a positive finite number, or ``remaining < 0``.

    Examples
    --------
    >>> landing_step(1.0, 0.3), landing_step(0.35, 0.3), landing_step(0.2, 0.3)
    (0.3, 0.175, 0.2)
    """
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"the time step must be a positive number, got dt={dt!r}")
    if not remaining >= 0:
        raise ValueError(f"remaining must be >= 0, got {remaining!r}")
    if remaining <= ROUNDOFF * dt:
        return 0.0
    if remaining <= (1 + ROUNDOFF) * dt:
        return remaining
    if remaining < (1 + SLIVER) * dt:
        return 0.5 * remaining
    return dt


def landing_steps(stepper: Any, t_end: float, own_dt: Callable[[], float]) -> Iterator[float]:
    """The steps of ``stepper.advance(t_end)``, one at a time, by :func:`landing_step`.

    ``t_end`` is checked first (:func:`check_t_end`). Before each step ``own_dt()``
    gives the own step and ``stepper.time`` the time left; the caller takes the
    yielded step (advancing ``stepper.time``). When the steps are done, and only then,
    ``stepper.time`` is set to exactly ``t_end``; an exception in a step leaves the
    clock where that step put it.

    Parameters
    ----------
    stepper : Stepper
    t_end : float
        Target time (s).
    own_dt : callable
        ``own_dt() -> float``, the simulator's own step now (s).

    Yields
    ------
    float
        The length of the next step (s).

    Examples
    --------
    >>> def advance(self, t_end):                    # doctest: +SKIP
    ...     for h in landing_steps(self, t_end, lambda: self.dt):
    ...         self.step(h)
    """
    t_end = check_t_end(t_end, stepper.time)
    while True:
        remaining = t_end - stepper.time
        h = landing_step(max(remaining, 0.0), own_dt())
        if h == 0.0:
            break
        yield h
        if h == remaining:  # the last step: land exactly, whatever its round-off
            break
    stepper.time = t_end


def clock_state(stepper: Any) -> dict[str, np.ndarray]:
    """The clock every ``state()`` carries (:data:`RESTART_KEYS`): ``time`` (s) and
    ``step_count``, as 0-d arrays."""
    return {"time": np.float64(stepper.time), "step_count": np.int64(stepper.step_count)}


def load_clock(stepper: Any, state: Mapping[str, Any]) -> None:
    """Set ``stepper``'s ``time`` and ``step_count`` from a :func:`clock_state`."""
    stepper.time, stepper.step_count = float(state["time"]), int(state["step_count"])


def require_keys(state: Mapping[str, Any], keys: tuple[str, ...] | list[str],
                 who: str) -> None:
    """``ValueError`` naming the keys of ``keys`` missing from ``state`` (``load_state``)."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{who}.load_state: state lacks {missing}; expected the keys of "
                         f"{who}.state(), got {sorted(state)}")


def state_frame(sim: Any) -> dict[str, np.ndarray]:
    """The schema's time-dependent variables of ``sim.state()``, as a dataset frame.

    The default :meth:`Simulator.frame` of a simulator whose ``state()`` holds what
    its dataset stores (the variables in the schema's layout).
    """
    state = sim.state()
    return {v.name: np.asarray(state[v.name]) for v in sim.schema().variables if not v.static}


class StateReadouts:
    """Default read-outs of :class:`Simulator` for a simulator to inherit:
    :meth:`frame` from ``state()`` (:func:`state_frame`), :meth:`trajectory_record`
    empty."""

    def frame(self) -> dict[str, np.ndarray]:
        """The schema's time-dependent variables at ``time`` (:func:`state_frame`)."""
        return state_frame(self)

    def trajectory_record(self) -> dict[str, Any]:
        """No entries of its own in the manifest's trajectory record."""
        return {}


@runtime_checkable
class Stepper(Protocol):
    """Anything that moves a state through time: every engine and every simulator.

    Attributes
    ----------
    time : float
        Current simulated time in seconds.
    dt : float
        The simulator's own time step in seconds: the fixed step, or the CFL step
        chosen for the last step or ``advance`` (before the landing rule shortened
        anything); ``nan`` for closed-form simulators.
    step_count : int
        Steps taken so far.
    """

    time: float
    dt: float
    step_count: int

    def step(self, dt: float | None = None) -> None:
        """One step of the simulator's own ``dt``, or of ``dt`` (s) when given.

        Physical guards run as in :meth:`advance`. Closed-form simulators have no own
        step and need ``dt``.
        """
        ...

    def advance(self, t_end: float) -> None:
        """Step until ``time == t_end`` (s) by the landing rule (module doc).

        Raises ``ValueError`` when ``t_end < time``, and the simulator's
        :class:`~simkit.errors.SimulationDiverged` subclass on a physical blow-up.
        """
        ...

    def state(self) -> dict[str, np.ndarray]:
        """The complete state at ``time``: what :meth:`load_state` needs to continue
        exactly as this simulator would (bit-for-bit on a CPU).

        Keys are the variables (for a :class:`Simulator`, every time-dependent
        variable of :meth:`Simulator.schema`, with the schema's dims in its order,
        plus restart-only arrays such as staggered velocities), and
        :data:`RESTART_KEYS` (``time``, ``step_count``) as 0-d arrays.
        """
        ...

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Continue from ``state``, a :meth:`state` of a simulator built the same way
        (same scene, parameters and grid); the clock comes back too.

        Raises ``ValueError`` naming missing keys or wrong shapes.
        """
        ...


@runtime_checkable
class Simulator(Stepper, Protocol):
    """A registered simulator: a :class:`Stepper` that describes its dataset.

    Taichi simulators are ``@ti.data_oriented`` classes built from a frozen config
    dataclass (shared/DESIGN.md); state belongs to the instance, so several of one
    grid live in one process and advance independently.

    Attributes
    ----------
    version : str
        Bumped whenever the numbers it produces change.
    description : str
        Equations, boundary conditions and units, for the dataset card (markdown).
    """

    version: ClassVar[str]
    description: ClassVar[str]

    @classmethod
    def from_scene(cls, scene: str, params: dict[str, Any], *, seed: int) -> Simulator:
        """Build the scene with ``params``; unknown or invalid params raise ``ValueError``."""
        ...

    def schema(self) -> Schema:
        """The variables this simulator writes (same for every trajectory of a recipe)."""
        ...

    def used_params(self) -> dict[str, Any]:
        """Scalar parameters as actually used (after defaults and clamping)."""
        ...

    def static(self) -> dict[str, np.ndarray]:
        """Static variables of the schema."""
        ...

    def frame(self) -> dict[str, np.ndarray]:
        """The frame a dataset stores at ``time``: every time-dependent variable of
        :meth:`schema`, in its layout, and nothing else.

        Often :meth:`state` restricted to those variables (:class:`StateReadouts`);
        it may hold more than :meth:`state` does (the MPM's kinematic boundary
        particles after the material ones), and it agrees with :meth:`static` in the
        length of a ragged dimension. Restarts use :meth:`state`, never this.
        """
        ...

    def trajectory_record(self) -> dict[str, Any]:
        """JSON entries this trajectory adds to its manifest record (written after the
        run), e.g. the MPM's ``"boundary"``; ``{}`` for most simulators."""
        ...
