"""The protocol a simulator follows so that ``simkit generate`` can drive it."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from simkit.io.schema import Schema

__all__ = ["Simulator"]


@runtime_checkable
class Simulator(Protocol):
    """What a registered simulator provides.

    Taichi simulators are ``@ti.data_oriented`` classes built from a frozen config
    dataclass (shared/DESIGN.md); the members below are what dataset generation uses.

    Attributes
    ----------
    version : str
        Bumped whenever the numbers it produces change.
    description : str
        Equations, boundary conditions and units, for the dataset card (markdown).
    time : float
        Current simulated time in seconds.
    dt : float
        Time step in seconds (``nan`` for closed-form simulators).
    step_count : int
        Steps taken so far.
    """

    version: ClassVar[str]
    description: ClassVar[str]
    time: float
    dt: float
    step_count: int

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

    def state(self) -> dict[str, np.ndarray]:
        """Time-dependent variables of the schema at ``time``."""
        ...

    def advance(self, t_end: float) -> None:
        """Step until ``time == t_end`` (the last step shortened to land on it)."""
        ...
