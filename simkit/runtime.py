"""Taichi runtime set-up: ``simkit.init`` is the only place that calls ``ti.init``."""

from __future__ import annotations

import gc
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

__all__ = ["ArchUnavailable", "RuntimeInfo", "ProgramCache", "check_arch", "init",
           "current_runtime", "per_program_cache"]

T = TypeVar("T")

Arch = Literal["auto", "cpu", "cuda", "vulkan"]
Precision = Literal["f32", "f64"]

_ARCHES = ("auto", "cpu", "cuda", "vulkan")
_PRECISIONS = ("f32", "f64")


class ArchUnavailable(RuntimeError):
    """An explicitly requested Taichi arch (``"cuda"``, ``"vulkan"``) has no device here."""

    def __init__(self, arch: str) -> None:
        super().__init__(f"arch={arch!r} was requested but Taichi finds no {arch} device here; "
                         "use arch='auto' to fall back to the CPU")
        self.arch = arch

    def __reduce__(self) -> tuple[type, tuple[str]]:  # rebuilt from the arch (Dask ships it)
        return ArchUnavailable, (self.arch,)


@dataclass(frozen=True)
class RuntimeInfo:
    """What ``init`` set up.

    Attributes
    ----------
    arch : str
        The backend Taichi actually runs on (``"cpu"``, ``"cuda"``, ``"vulkan"``, ``"metal"``).
    requested_arch : str
        What the caller asked for (``"auto"`` resolves to ``arch``).
    precision : str
        ``"f32"`` or ``"f64"``: Taichi's default float type.
    seed : int | None
        Taichi's random seed.
    cpu_threads : int | None
        Cap on Taichi's CPU threads (``None``: all cores).
    debug : bool
        Whether Taichi's debug mode (bounds checks) is on.
    taichi_version : str
    """

    arch: str
    requested_arch: str
    precision: str
    seed: int | None
    cpu_threads: int | None
    debug: bool
    taichi_version: str


_current: RuntimeInfo | None = None
_program: object | None = None  # Taichi's program object of _current
_reset_hooks: list[Callable[[bool], None]] = []


def on_reset(hook: Callable[[bool], None]) -> None:
    """Call ``hook(program_gone)`` before :func:`init` replaces the Taichi program.

    Taichi 1.7 frees a ``ti.ndarray`` through whatever program is current when the
    Python object dies, so arrays of an old program must be released while it is
    still current (``program_gone=False``), or kept alive for good when someone else
    already re-initialised Taichi (``program_gone=True``).
    """
    _reset_hooks.append(hook)


def taichi_program() -> object | None:
    """Taichi's current program object; a new one after every ``ti.init``/``ti.reset``."""
    import taichi as ti

    return ti.lang.impl.get_runtime().prog


class ProgramCache:
    """Objects built for the current Taichi program, keyed by what they depend on.

    Compiled kernels (and whatever a kernel is bound to: a scratch field, a solver
    hierarchy) belong to one Taichi program; ``ti.init``/``ti.reset`` starts a new one.
    A cache forgets its entries when that happens: before :func:`init` replaces the
    program (so arrays die under their own program), and on the next :meth:`get` when
    someone else re-initialised Taichi behind ``simkit``'s back. Build one per module
    with :func:`per_program_cache`; simulation state never goes in it (shared/DESIGN.md:
    only compiled kernels are cached per process).
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, Any] = {}
        self._program: object | None = None

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The entry of ``key`` for the current program, built by ``build()`` on a miss.

        Parameters
        ----------
        key : hashable
            What the entry depends on besides the program (dimension, dtype, grid size).
        build : callable
            ``build() -> value``, called at most once per key and program.

        Returns
        -------
        The cached value.
        """
        program = taichi_program()
        if program is not self._program:  # re-initialised: entries of the old program are gone
            self._entries.clear()
            self._program = program
        if key not in self._entries:
            self._entries[key] = build()
        return self._entries[key]

    def clear(self, program_gone: bool = False) -> None:
        """Forget every entry (the :func:`on_reset` hook of the cache)."""
        self._entries.clear()
        self._program = None

    def __len__(self) -> int:
        return len(self._entries)


def per_program_cache() -> ProgramCache:
    """A new :class:`ProgramCache`, emptied whenever :func:`init` replaces the program.

    Returns
    -------
    ProgramCache

    Examples
    --------
    >>> _KERNELS = per_program_cache()  # at module level              # doctest: +SKIP
    >>> kernel = _KERNELS.get(("f32", 3), lambda: make_kernel(ti.f32, 3))  # doctest: +SKIP
    """
    cache = ProgramCache()
    on_reset(cache.clear)
    return cache


# Taichi's internal names for the backends users know by other names.
_ARCH_NAMES = {"x64": "cpu", "arm64": "cpu", "cuda": "cuda", "vulkan": "vulkan", "metal": "metal"}


def _check_arguments(arch: str, precision: str) -> None:
    if arch not in _ARCHES:
        raise ValueError(f"arch must be one of {list(_ARCHES)}, got {arch!r}")
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {list(_PRECISIONS)}, got {precision!r}")


_LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "critical")


def _logging_level(ti) -> str:
    """Taichi's current logging level (it has a setter, no getter): the most verbose
    level that is effective, or ``"off"``."""
    return next((level for level in _LOG_LEVELS if ti.is_logging_effective(level)), "off")


def check_arch(arch: Arch) -> None:
    """Fail early, without initialising Taichi, where ``arch`` cannot work here.

    Catches a Taichi build or a machine without the arch's driver (a CPU-only machine
    asked for ``"cuda"``); :func:`init` still checks the device itself.

    Parameters
    ----------
    arch : {"auto", "cpu", "cuda", "vulkan"}

    Raises
    ------
    ArchUnavailable
        ``arch`` is ``"cuda"`` or ``"vulkan"`` and Taichi finds no driver for it.
    ValueError
        ``arch`` is not one of the names above.
    """
    _check_arguments(arch, "f32")
    if arch not in ("cuda", "vulkan"):
        return
    import taichi as ti
    from taichi.lang.misc import is_arch_supported

    previous = _logging_level(ti)
    ti.set_logging_level(ti.ERROR)  # the probe warns about every missing driver library
    try:
        supported = is_arch_supported(getattr(ti, arch))
    finally:
        ti.set_logging_level(previous)  # the caller's level, whatever it was
    if not supported:
        raise ArchUnavailable(arch)


def current_runtime() -> RuntimeInfo | None:
    """The runtime set up by the last :func:`init` in this process, or ``None``."""
    return _current


def init(
    arch: Arch = "auto",
    precision: Precision = "f32",
    seed: int | None = None,
    *,
    cpu_threads: int | None = None,
    debug: bool = False,
) -> RuntimeInfo:
    """Initialise Taichi for the simulators.

    Calling it again with the same settings is a no-op; with different settings it
    resets Taichi (every field allocated before is gone) and initialises anew.

    Parameters
    ----------
    arch : {"auto", "cpu", "cuda", "vulkan"}
        ``"auto"`` tries CUDA, then Vulkan/Metal, then falls back to the CPU.
        An explicit GPU arch that is unavailable raises :class:`ArchUnavailable`.
    precision : {"f32", "f64"}
        Default floating-point type of Taichi fields and kernels.
    seed : int, optional
        Seed of Taichi's ``ti.random``.
    cpu_threads : int, optional
        Maximum CPU threads Taichi uses (useful when several workers share a machine).
    debug : bool
        Taichi debug mode (bounds checks); slow.

    Returns
    -------
    RuntimeInfo

    Raises
    ------
    ArchUnavailable
        ``arch`` is ``"cuda"`` or ``"vulkan"`` and Taichi finds no such device.
    ValueError
        An argument outside the choices above.

    Examples
    --------
    >>> import simkit
    >>> info = simkit.init(arch="cpu", precision="f64", seed=0)  # doctest: +SKIP
    >>> info.arch  # doctest: +SKIP
    'cpu'
    """
    global _current, _program
    _check_arguments(arch, precision)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    if cpu_threads is not None and (not isinstance(cpu_threads, int) or cpu_threads < 1):
        raise ValueError(f"cpu_threads must be a positive int or None, got {cpu_threads!r}")

    wanted = (arch, precision, seed, cpu_threads, debug)
    if _current is not None and (
        _current.requested_arch,
        _current.precision,
        _current.seed,
        _current.cpu_threads,
        _current.debug,
    ) == wanted and taichi_program() is _program:  # not re-initialised behind our back
        return _current

    import taichi as ti  # imported here so that `import simkit` stays light

    if _current is not None:
        gone = taichi_program() is not _program
        for hook in _reset_hooks:
            hook(gone)
        gc.collect()  # unreachable arrays die now, under their own program
        ti.reset()
    kwargs: dict = {
        "default_fp": ti.f64 if precision == "f64" else ti.f32,
        "debug": debug,
        "offline_cache": True,
        "log_level": ti.WARN,
    }
    if seed is not None:
        kwargs["random_seed"] = seed
    if cpu_threads is not None:
        kwargs["cpu_max_num_threads"] = cpu_threads

    targets = {
        "auto": [ti.cuda, ti.vulkan, ti.metal, ti.cpu],
        "cpu": [ti.cpu],
        "cuda": [ti.cuda],
        "vulkan": [ti.vulkan],
    }[arch]
    # Taichi itself picks the first supported arch of a list and falls back to the CPU.
    ti.init(arch=targets, **kwargs)
    actual = ti.lang.impl.current_cfg().arch
    if arch in ("cuda", "vulkan") and actual not in targets:
        ti.reset()
        _current = None
        raise ArchUnavailable(arch)
    _current = RuntimeInfo(
        arch=_ARCH_NAMES.get(actual.name, actual.name),
        requested_arch=arch,
        precision=precision,
        seed=seed,
        cpu_threads=cpu_threads,
        debug=debug,
        taichi_version=".".join(str(v) for v in ti.__version__),
    )
    _program = taichi_program()
    return _current
