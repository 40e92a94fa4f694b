"""Exceptions shared by the simulators, the dataset format and the CLI."""

from __future__ import annotations

__all__ = ["SimulationDiverged", "DatasetError", "RecipeError"]


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


class DatasetError(RuntimeError):
    """A dataset on disk is missing, corrupt, or does not match its manifest.

    The message always names the offending file.
    """


class RecipeError(ValueError):
    """A recipe is malformed: an unknown key, a bad value, an unknown simulator or scene."""
