"""Simulators register by name, with their scenes and the parameters each scene takes.

Two tables meet here. :data:`CATALOG` names the module that declares the built-in
simulators (names, scenes, parameter defaults, fixed parameters) without importing
Taichi, so that a recipe is checked in a fraction of a second; a simulator class is
imported only when :attr:`SimulatorEntry.cls` is first used. Other simulators register
with :func:`register_simulator` and declare their scenes there.

Every simulator fills in its parameters with :func:`resolve_params`, and recipes call
the same function when they are parsed, so a misspelled parameter fails before
anything is simulated or written.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["SceneParams", "SimulatorEntry", "declare_simulator", "register_simulator",
           "get_simulator", "available_simulators", "resolve_params"]

#: Module declaring the built-in simulators (no Taichi import); imported on first lookup,
#: never at ``import simkit``.
CATALOG = "simkit.simulators.catalog"


@dataclass(frozen=True)
class SceneParams:
    """The scalar parameters one scene takes.

    Attributes
    ----------
    defaults : mapping of str to value
        Every parameter of the scene with its default.
    fixed : mapping of str to value or callable
        Parameters the scene sets itself (a subset of ``defaults``): the value, or a
        function of the other resolved parameters returning it. A user value must equal it.
    optional : tuple of str
        Parameters taken without a default: passed on only when given (e.g. overrides
        of a material preset).
    """

    defaults: Mapping[str, Any]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    optional: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        stray = sorted(set(self.fixed) - set(self.defaults))
        if stray:
            raise ValueError(f"fixed parameters {stray} have no default; every fixed "
                             "parameter must also be in defaults")
        both = sorted(set(self.optional) & set(self.defaults))
        if both:
            raise ValueError(f"optional parameters {both} also have a default")

    @property
    def names(self) -> list[str]:
        """Every parameter name the scene accepts, sorted."""
        return sorted({*self.defaults, *self.optional})


@dataclass(frozen=True)
class SimulatorEntry:
    """A registered simulator.

    Attributes
    ----------
    name : str
    params : mapping of str to SceneParams
        Scene name -> the parameters it takes.
    uses_taichi : bool
        Whether generation must call :func:`simkit.init` before building it.
    module : str or None
        The module whose import registers the class (built-ins), else ``None``.
    """

    name: str
    params: Mapping[str, SceneParams]
    uses_taichi: bool
    module: str | None = None
    _cls: type | None = None

    @property
    def scenes(self) -> tuple[str, ...]:
        """Scene names, in declaration order."""
        return tuple(self.params)

    @property
    def cls(self) -> type:
        """The simulator class (follows :class:`simkit.simulator.Simulator`); imports
        its module on first use."""
        if self._cls is not None:
            return self._cls
        if self.module is not None:
            importlib.import_module(self.module)
        cls = _REGISTRY[self.name]._cls
        if cls is None:
            raise ValueError(f"simulator {self.name!r} is declared but {self.module} "
                             "registers no class for it")
        return cls

    def check_scene(self, scene: str) -> SceneParams:
        """The parameters of ``scene``; ``ValueError`` listing the valid scenes otherwise."""
        try:
            return self.params[scene]
        except KeyError:
            raise ValueError(
                f"unknown scene {scene!r} for simulator {self.name!r}; "
                f"expected one of {list(self.scenes)}"
            ) from None


_REGISTRY: dict[str, SimulatorEntry] = {}
_catalog_loaded = False


def _check_scenes(name: str, scenes: Mapping[str, SceneParams]) -> dict[str, SceneParams]:
    if not isinstance(scenes, Mapping) or not scenes:
        raise ValueError(f"simulator {name!r}: scenes must map at least one scene name to "
                         f"its SceneParams, got {scenes!r}")
    for scene, spec in scenes.items():
        if not isinstance(spec, SceneParams):
            raise TypeError(f"simulator {name!r} scene {scene!r}: expected SceneParams, "
                            f"got {type(spec).__name__}")
    return dict(scenes)


def declare_simulator(name: str, *, module: str, scenes: Mapping[str, SceneParams],
                      uses_taichi: bool) -> None:
    """Declare a simulator whose class ``module`` registers when imported.

    Parameters
    ----------
    name : str
    module : str
        Imported the first time the class is needed; it must apply
        :func:`register_simulator` with ``name``.
    scenes : mapping of str to SceneParams
    uses_taichi : bool
    """
    if name in _REGISTRY:
        raise ValueError(f"simulator {name!r} is already registered")
    _REGISTRY[name] = SimulatorEntry(name, _check_scenes(name, scenes), uses_taichi, module)


def register_simulator(
    name: str, *, scenes: Mapping[str, SceneParams] | tuple[str, ...] | list[str] | None = None,
    uses_taichi: bool | None = None,
) -> Callable[[type], type]:
    """Class decorator registering a simulator under ``name``.

    Parameters
    ----------
    name : str
    scenes : mapping of str to SceneParams, or sequence of str
        A new simulator maps each scene to its :class:`SceneParams`. A simulator
        declared with :func:`declare_simulator` may omit them or name them (checked
        against the declaration).
    uses_taichi : bool, optional
        Default ``True`` for a new simulator; checked against a declaration.

    Examples
    --------
    >>> @register_simulator("mine", scenes={"box": SceneParams({"size": 1.0})},
    ...                     uses_taichi=False)  # doctest: +SKIP
    ... class Mine: ...
    """

    def decorate(cls: type) -> type:
        _catalog()
        old = _REGISTRY.get(name)
        if old is not None and old._cls is not None:
            if old._cls is cls:
                return cls
            raise ValueError(f"simulator {name!r} is already registered by "
                             f"{old._cls.__module__}.{old._cls.__name__}")
        if old is not None:  # declared: attach the class
            if scenes is not None and sorted(scenes) != sorted(old.scenes):
                raise ValueError(f"simulator {name!r} registers scenes {sorted(scenes)} but "
                                 f"declares {sorted(old.scenes)}")
            if uses_taichi is not None and uses_taichi != old.uses_taichi:
                raise ValueError(f"simulator {name!r} registers uses_taichi={uses_taichi} but "
                                 f"declares {old.uses_taichi}")
            _REGISTRY[name] = replace(old, _cls=cls)
            return cls
        if not isinstance(scenes, Mapping):
            raise ValueError(f"simulator {name!r}: scenes must map scene names to "
                             f"SceneParams, got {scenes!r}")
        _REGISTRY[name] = SimulatorEntry(name, _check_scenes(name, scenes),
                                         True if uses_taichi is None else uses_taichi, None, cls)
        return cls

    return decorate


def _catalog() -> None:
    global _catalog_loaded
    if not _catalog_loaded:
        importlib.import_module(CATALOG)
        _catalog_loaded = True


def available_simulators() -> dict[str, tuple[str, ...]]:
    """Registered simulator names and their scenes."""
    _catalog()
    return {name: e.scenes for name, e in sorted(_REGISTRY.items())}


def get_simulator(name: str) -> SimulatorEntry:
    """The entry of simulator ``name``; ``ValueError`` listing the valid names otherwise."""
    _catalog()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown simulator {name!r}; expected one of {sorted(_REGISTRY)}"
        ) from None


def _check_type(where: str, key: str, value: Any, default: Any) -> None:
    """A value must be of its default's kind: a bool for a bool, an int for an int, a
    number for a float, a string for a string (no default: anything)."""
    if default is None:
        return
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "a bool"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an int"
    elif isinstance(default, float):
        ok, kind = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise ValueError(f"{where}: parameter {key!r} must be {kind} (default {default!r}), "
                         f"got {value!r}")


def resolve_params(simulator: str, scene: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a scene as the simulator uses them: defaults filled in.

    Parameters
    ----------
    simulator, scene : str
    params : mapping of str to value
        The values given (by a recipe or a caller).

    Returns
    -------
    dict
        Every default, overridden by ``params``, with the scene's fixed parameters set;
        optional parameters only where given.

    Raises
    ------
    ValueError
        Unknown simulator or scene; an unknown parameter (the valid keys are listed); a
        value not of its default's kind (a bool, an int, a number, a string); a value for
        a fixed parameter that differs from the one the scene sets.

    Examples
    --------
    >>> resolve_params("heat", "modes2d", {"resolution": 16})["resolution"]
    16
    """
    spec = get_simulator(simulator).check_scene(scene)
    where = f"{simulator} scene {scene!r}"
    if not isinstance(params, Mapping):
        raise TypeError(f"{where}: params must be a mapping, got {type(params).__name__}")
    unknown = sorted(set(params) - set(spec.names))
    if unknown:
        guesses = {k: close[0] for k in unknown
                   if (close := difflib.get_close_matches(k, spec.names, n=1))}
        if len(unknown) == 1:
            hint = f" (did you mean {guesses[unknown[0]]!r}?)" if guesses else ""
        else:
            hint = (" (did you mean " + ", ".join(f"{v!r} for {k!r}" for k, v in guesses.items())
                    + "?)" if guesses else "")
        extra = f" and optional parameters {sorted(spec.optional)}" if spec.optional else ""
        raise ValueError(f"{where}: unknown parameters {unknown}{hint}; valid keys: "
                         f"{sorted(spec.defaults)}{extra}")
    for key, value in params.items():
        _check_type(where, key, value, spec.defaults.get(key))
    out = {**spec.defaults, **params}
    fixed = {}
    for key, value in spec.fixed.items():
        if callable(value):
            try:
                value = value(out)
            except (TypeError, ValueError, ZeroDivisionError) as exc:
                raise ValueError(f"{where}: cannot derive the fixed parameter {key!r} from "
                                 f"the others ({exc})") from None
        if key in params and params[key] != value:
            raise ValueError(f"{where} fixes {key} = {value!r}; got {params[key]!r} "
                             "(leave it out or give that value)")
        fixed[key] = value
    out.update(fixed)
    return out
