"""simkit: Taichi simulators and the simkit dataset format.

Nothing here calls ``ti.init``: :func:`simkit.init` does, when a simulator needs it.
"""

from simkit._version import __version__
from simkit.errors import (
    DatasetError,
    Encounter,
    Escape,
    ProjectionFailed,
    RecipeError,
    SimulationDiverged,
    SpectralBlowUp,
)
from simkit.registry import available_simulators, get_simulator, register_simulator
from simkit.runtime import RuntimeInfo, current_runtime, init

__all__ = [
    "__version__",
    "DatasetError",
    "Encounter",
    "Escape",
    "ProjectionFailed",
    "RecipeError",
    "RuntimeInfo",
    "SimulationDiverged",
    "SpectralBlowUp",
    "available_simulators",
    "current_runtime",
    "get_simulator",
    "init",
    "register_simulator",
]
