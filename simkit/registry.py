"""Simulators register by name, with their scenes, so that a recipe can name them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SimulatorEntry", "register_simulator", "get_simulator", "available_simulators"]

#: Modules whose import registers the built-in simulators (imported on first lookup,
#: never at ``import simkit``).
BUILTIN_MODULES = ("simkit.simulators.analytic", "simkit.simulators.mpm",
                   "simkit.simulators.spectral_ns", "simkit.simulators.fluid",
                   "simkit.simulators.nbody")


@dataclass(frozen=True)
class SimulatorEntry:
    """A registered simulator.

    Attributes
    ----------
    name : str
    cls : type
        Follows :class:`simkit.simulator.Simulator`.
    scenes : tuple of str
    uses_taichi : bool
        Whether generation must call :func:`simkit.init` before building it.
    """

    name: str
    cls: type
    scenes: tuple[str, ...]
    uses_taichi: bool

    def check_scene(self, scene: str) -> None:
        if scene not in self.scenes:
            raise ValueError(
                f"unknown scene {scene!r} for simulator {self.name!r}; "
                f"expected one of {list(self.scenes)}"
            )


_REGISTRY: dict[str, SimulatorEntry] = {}
_builtins_loaded = False


def register_simulator(
    name: str, *, scenes: tuple[str, ...] | list[str], uses_taichi: bool = True
) -> Callable[[type], type]:
    """Class decorator registering a simulator under ``name``.

    Examples
    --------
    >>> @register_simulator("mine", scenes=("box",), uses_taichi=False)  # doctest: +SKIP
    ... class Mine: ...
    """

    def decorate(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"simulator {name!r} is already registered by "
                             f"{_REGISTRY[name].cls.__module__}.{_REGISTRY[name].cls.__name__}")
        if not scenes:
            raise ValueError(f"simulator {name!r}: give at least one scene")
        _REGISTRY[name] = SimulatorEntry(name, cls, tuple(scenes), uses_taichi)
        return cls

    return decorate


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for mod in BUILTIN_MODULES:
            importlib.import_module(mod)
        _builtins_loaded = True


def available_simulators() -> dict[str, tuple[str, ...]]:
    """Registered simulator names and their scenes."""
    _load_builtins()
    return {name: e.scenes for name, e in sorted(_REGISTRY.items())}


def get_simulator(name: str) -> SimulatorEntry:
    """The entry of simulator ``name``; ``ValueError`` listing the valid names otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown simulator {name!r}; expected one of {sorted(_REGISTRY)}"
        ) from None
