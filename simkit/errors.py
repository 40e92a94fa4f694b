"""Exceptions shared by the simulators, the dataset format and the CLI."""

from __future__ import annotations

__all__ = [
    "SimulationDiverged",
    "Encounter",
    "Escape",
    "ProjectionFailed",
    "SpectralBlowUp",
    "DatasetError",
    "RecipeError",
]


class SimulationDiverged(RuntimeError):
    """A simulation produced non-finite or out-of-domain values.

    Attributes
    ----------
    step : int
        Step (or output frame, as ``where`` says) at which the problem was seen.
    time : float
        Simulated time in seconds.
    index : tuple[int, ...] | None
        Index of the first offending element (particle, cell, body) in the
        array named by ``field``.
    field : str | None
        Name of the state variable holding the bad value.
    """

    def __init__(
        self,
        message: str,
        *,
        step: int,
        time: float,
        index: tuple[int, ...] | None = None,
        field: str | None = None,
    ) -> None:
        self.step = step
        self.time = time
        self.index = index
        self.field = field
        where = f" in {field!r}" if field is not None else ""
        at = f" at index {index}" if index is not None else ""
        super().__init__(f"{message}{where}{at} (step {step}, t = {time:.6g} s)")

    def __reduce__(self):
        # The keyword-only constructors of this family cannot be re-called from
        # ``self.args`` (the finished message), so pickling (Dask, multiprocessing)
        # rebuilds the exception from its message and attributes instead.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(cls: type, args: tuple, state: dict) -> SimulationDiverged:
    exc = cls.__new__(cls)
    RuntimeError.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc



class Encounter(SimulationDiverged):
    """Two bodies came too close: a near-collision (REBOUND's ``Encounter``).

    Raised when their distance falls below the ``exit_min_distance`` asked for, or
    when an adaptive integrator can no longer shrink its step (the state near a
    collision of point masses needs steps below the float64 spacing of the time).

    Attributes
    ----------
    index : tuple[int, int]
        The pair of bodies ``(i, j)``, ``i < j``: the closest pair of the state.
    bodies : tuple[int, int]
        Same as ``index``.
    distance : float
        Their distance (length units of the simulation).
    step, time, field
        As in :class:`SimulationDiverged` (``field`` is ``"position"``).
    """

    def __init__(self, message: str, *, step: int, time: float, bodies: tuple[int, int],
                 distance: float) -> None:
        self.bodies, self.distance = bodies, distance
        super().__init__(f"{message}: bodies {bodies} at distance {distance:.4g}", step=step,
                         time=time, index=bodies, field="position")


class Escape(SimulationDiverged):
    """A body went farther than ``exit_max_distance`` from the centre of mass
    (REBOUND's ``Escape``).

    Attributes
    ----------
    index : tuple[int]
        ``(body,)``: the farthest body.
    body : int
        Same as ``index[0]``.
    distance : float
        Its distance from the centre of mass (length units of the simulation).
    step, time, field
        As in :class:`SimulationDiverged` (``field`` is ``"position"``).
    """

    def __init__(self, message: str, *, step: int, time: float, body: int,
                 distance: float) -> None:
        self.body, self.distance = body, distance
        super().__init__(f"{message}: body {body} at distance {distance:.4g} from the centre "
                         "of mass", step=step, time=time, index=(body,), field="position")


class ProjectionFailed(SimulationDiverged):
    """A pressure projection stopped above its tolerance or went non-finite.

    Attributes
    ----------
    index : tuple[int, ...]
        Cell (grid order ``x, y[, z]``) of the first non-finite residual, else of the
        largest residual ``|b - A x|``.
    iterations : int
        Iterations the solver took (-1 when an external solver does not say).
    residual : float
        True relative residual ``||b - A x|| / ||b||`` at exit (``nan`` if non-finite).
    rtol : float
        The tolerance it had to reach.
    step, time, field
        As in :class:`SimulationDiverged`: ``step`` steps were complete, the failing
        projection belongs to the step that starts at ``time``; ``field`` is ``"pressure"``.
    """

    def __init__(self, message: str, *, step: int, time: float, index: tuple[int, ...],
                 iterations: int, residual: float, rtol: float) -> None:
        self.iterations, self.residual, self.rtol = iterations, residual, rtol
        super().__init__(f"{message} (rtol {rtol:g}, {iterations} iterations, relative "
                         f"residual {residual:.3g})", step=step, time=time, index=index,
                         field="pressure")


class SpectralBlowUp(SimulationDiverged):
    """A spectral field became non-finite or its time step broke the CFL limit.

    Attributes
    ----------
    index : tuple[int, int, int]
        ``(batch, y, x)``: the first non-finite grid point, else the point of the
        largest local CFL number.
    cfl : float
        CFL number of the state (``nan`` when it is non-finite).
    step, time, field
        As in :class:`SimulationDiverged`: the state after ``step`` steps, at ``time``.
    """

    def __init__(self, message: str, *, step: int, time: float, index: tuple[int, int, int],
                 cfl: float, field: str) -> None:
        self.cfl = cfl
        super().__init__(message, step=step, time=time, index=index, field=field)

class DatasetError(RuntimeError):
    """A dataset on disk is missing, corrupt, or does not match its manifest.

    The message always names the offending file.
    """


class RecipeError(ValueError):
    """A recipe is malformed: an unknown key, a bad value, an unknown simulator or scene."""
